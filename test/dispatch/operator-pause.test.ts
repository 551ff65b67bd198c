import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPERATOR_PAUSE_LOOK_MS, OPERATOR_PAUSE_REMIND_MS, OperatorPauseWatch } from '../../src/dispatch/operator-pause.ts';
import { RelayError } from '../../src/errors.ts';
import { openThreadedStore } from '../../src/store/threaded.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { storeFile } from '../helpers/store.ts';

test("the operator's pause on a real store, looked at on the injected clock: warned at the first look and hourly, resumed at info; a store outage is silent, another read error logged once (with its stack) until it changes", async () => {
  const store = await openThreadedStore({ file: storeFile(), busyTimeoutMs: 1_000 });
  try {
    let now = 1_000_000;
    let fault: unknown;
    const { logger, lines } = captureLog('debug');
    const watch = new OperatorPauseWatch({
      store: { dispatchPausedSince: () => (fault === undefined ? store.dispatchPausedSince() : Promise.reject(fault)) },
      logger,
      clock: () => now,
    });
    /** The lines of one look, `level msg`, after the clock moved on by `ms`. */
    const look = async (ms = OPERATOR_PAUSE_LOOK_MS) => {
      now += ms;
      lines.length = 0;
      await watch.look();
      return lines.map((line) => JSON.parse(line) as { level: string; msg: string; err?: { stack?: string } });
    };
    const said = async (ms?: number) => (await look(ms)).map(({ level, msg }) => `${level} ${msg.replace(/since \S+;/, 'since …;')}`);
    const PAUSED =
      'warn dispatch: paused by the operator (smsrelay queue pause, or the console) since …; no SMS is sent, the queue is kept until `smsrelay queue resume`';

    assert.deepEqual(await said(), [], 'running: nothing');
    await store.setDispatchPaused(true, now);
    assert.deepEqual(await said(), [PAUSED]);
    assert.deepEqual(await said(), [], 'the next look: said already');
    assert.deepEqual(await said(OPERATOR_PAUSE_REMIND_MS - 2 * OPERATOR_PAUSE_LOOK_MS), [], 'within the hour');
    assert.deepEqual(await said(OPERATOR_PAUSE_LOOK_MS), [PAUSED], 'again an hour after the warning');

    fault = new RelayError('STORE_UNAVAILABLE', 'the database does not answer');
    for (let i = 0; i < 3; i++) assert.deepEqual(await said(), [], "a store outage: its health's to log");

    fault = new Error('a bug');
    const first = await look();
    assert.deepEqual(
      first.map(({ level, msg }) => `${level} ${msg}`),
      ["error dispatch: the operator's pause could not be read; tried again later"],
    );
    assert.ok(first[0]?.err?.stack, 'with its stack, once');
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await said(), ["debug dispatch: the operator's pause could not be read; tried again later"], 'the same fault again: at debug');
    }
    fault = new Error('another bug');
    assert.deepEqual(await said(), ["error dispatch: the operator's pause could not be read; tried again later"], 'a new fault: at error');

    fault = undefined;
    await store.setDispatchPaused(false, now);
    assert.deepEqual(await said(), ['info dispatch: resumed by the operator; queued SMS are sent again']);
    assert.deepEqual(await said(), []);
    fault = new Error('another bug');
    assert.deepEqual(await said(), ["error dispatch: the operator's pause could not be read; tried again later"], 'after a look that worked: at error again');

    fault = undefined;
    watch.start();
    await watch.stop();
  } finally {
    await store.close();
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../src/log.ts';
import { RelayError } from '../src/errors.ts';
import { WorkLoop } from '../src/work-loop.ts';
import { captureLog } from './helpers/log-lines.ts';
import { sleep, waitFor } from './helpers/wait.ts';

/** An item of the loop's queue: due at `dueAt` (ms, the loop's clock); its work ends when `finish` is called. */
interface Item {
  readonly id: number;
  readonly dueAt: number;
}

/**
 * The loop over a queue held here (the loop's contract is these functions; the stores behind the
 * dispatcher and the mailer are tested on their own): what it claimed, and how often it looked up
 * when the next item is due.
 */
function queueLoop() {
  const queue: Item[] = [];
  const finishers = new Map<number, () => void>();
  const counted = { lookUps: 0, claimed: [] as number[] };
  const loop = new WorkLoop<Item>({
    name: 'test',
    logger: createLogger('silent'),
    concurrency: 4,
    clock: Date.now,
    claim: async (free) => {
      const due = queue.filter((item) => item.dueAt <= Date.now()).slice(0, free);
      for (const item of due) queue.splice(queue.indexOf(item), 1);
      counted.claimed.push(...due.map((item) => item.id));
      return due;
    },
    process: (item) => new Promise<void>((resolve) => finishers.set(item.id, resolve)),
    nextDueAt: async () => {
      counted.lookUps++;
      return queue.length === 0 ? undefined : Math.min(...queue.map((item) => item.dueAt));
    },
    leaseIds: (item) => [item.id],
    idleWaitMs: 60_000,
  });
  const finish = (id: number) => finishers.get(id)?.();
  return { loop, queue, counted, finish };
}

test('while an item is in flight, the look-up of the next due item runs at most every 100 ms, not after every claim that emptied the queue', async () => {
  const { loop, queue, counted, finish } = queueLoop();
  queue.push({ id: 0, dueAt: 0 });
  loop.start();
  await waitFor('the long item claimed', () => counted.claimed.includes(0) || undefined);
  const before = counted.lookUps;
  const started = performance.now();
  // Twenty items, each kicked in, claimed and finished while the first stays in flight.
  for (let id = 1; id <= 20; id++) {
    queue.push({ id, dueAt: 0 });
    loop.kick();
    await waitFor(`item ${id} claimed`, () => counted.claimed.includes(id) || undefined);
    finish(id);
    await sleep(1);
  }
  // One look-up per 100 ms that passed, and one more at the start; the loop without the bound made two per claim (40).
  const bound = Math.ceil((performance.now() - started) / 100) + 1;
  assert.ok(counted.lookUps - before <= Math.min(bound, 19), `${counted.lookUps - before} look-ups for 20 claims (at most ${bound} allowed)`);
  finish(0);
  await loop.stop();
});

test('an item that becomes due while others are in flight, with no kick (a retry written by an outcome), is claimed about 100 ms after its time at most, not when the others end', async () => {
  const { loop, queue, counted, finish } = queueLoop();
  queue.push({ id: 0, dueAt: 0 });
  loop.start();
  await waitFor('the long item claimed', () => counted.claimed.includes(0) || undefined);
  queue.push({ id: 1, dueAt: 0 });
  loop.kick();
  await waitFor('the second item claimed', () => counted.claimed.includes(1) || undefined);
  // Its outcome schedules a retry 50 ms ahead, then it ends: the loop wakes, finds nothing due and the first still in flight.
  const retryAt = Date.now() + 50;
  queue.push({ id: 2, dueAt: retryAt });
  finish(1);
  await waitFor('the retry claimed', () => counted.claimed.includes(2) || undefined, 2_000);
  // Within the 100 ms bound and a loaded machine's timer slack: without the bound it would wait for the first item or the idle wait (60 s).
  const late = Date.now() - retryAt;
  assert.ok(late >= 0 && late < 1_000, `claimed ${late} ms after it was due`);
  finish(0);
  finish(2);
  await loop.stop();
});

test('a stop during a claim waits for what that claim starts too: nothing is said to be left in flight when nothing is', async () => {
  const { logger, lines } = captureLog('info');
  let claims = 0;
  let openClaim: (() => void) | undefined;
  const ended: number[] = [];
  const loop = new WorkLoop<Item>({
    name: 'test',
    logger,
    concurrency: 4,
    clock: Date.now,
    // The first claim takes item 0; the second is still under way when the stop comes, and takes item 1.
    claim: async () => {
      claims++;
      if (claims === 1) return [{ id: 0, dueAt: 0 }];
      if (claims > 2) return [];
      await new Promise<void>((resolve) => (openClaim = resolve));
      return [{ id: 1, dueAt: 0 }];
    },
    process: async (item) => {
      await sleep(item.id === 0 ? 200 : 600);
      ended.push(item.id);
    },
    nextDueAt: async () => undefined,
    leaseIds: (item) => [item.id],
    idleWaitMs: 60_000,
  });
  loop.start();
  await waitFor('the first item claimed', () => claims === 1);
  loop.kick();
  await waitFor('the second claim under way', () => openClaim);
  const stopped = loop.stop(5_000);
  openClaim?.();
  await stopped;
  assert.deepEqual(ended.sort(), [0, 1], 'the stop waited for both items');
  assert.deepEqual(
    lines.filter((line) => line.includes('stopped with work still in flight')),
    [],
  );
});

test('after the store failed, a pass that succeeds while commits still fail (a claim that wrote nothing) says nothing; "works again" comes once commits do', async () => {
  const { logger, lines } = captureLog('info');
  let commits = false;
  let claims = 0;
  const loop = new WorkLoop<Item>({
    name: 'test',
    logger,
    concurrency: 1,
    clock: Date.now,
    // The first claim meets the failing store; the later ones find nothing due, which writes nothing.
    claim: async () => {
      claims++;
      if (claims === 1) throw new RelayError('DISK_FULL', undefined, { cause: Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }) });
      return [];
    },
    process: async () => undefined,
    nextDueAt: async () => undefined,
    leaseIds: (item) => [item.id],
    idleWaitMs: 60_000,
    storeCommits: () => commits,
  });
  const messages = () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  loop.start();
  await waitFor('the retry after the failure', () => claims === 2, 3_000);
  await sleep(50);
  assert.deepEqual(messages(), ['test: the store fails; nothing is claimed until it works again'], 'a claim that wrote nothing proves nothing');
  commits = true;
  loop.kick();
  await waitFor('the store working again', () => messages().length === 2);
  assert.equal(messages()[1], 'test: the store works again; claiming resumed');
  await loop.stop(1_000);
});

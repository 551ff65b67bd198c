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

test('items handed over (reserve) while a claim is under way share the slots with what it takes: never more than `concurrency` at once, each started, their leases held while they wait', async () => {
  let openClaim: (() => void) | undefined;
  let running = 0;
  let most = 0;
  const finishers = new Map<number, () => void>();
  const loop = new WorkLoop<Item>({
    name: 'test',
    logger: createLogger('silent'),
    concurrency: 3,
    clock: Date.now,
    // The first claim finds nothing; the second, under way while three items are handed over, takes three.
    claim: async () => {
      if (openClaim !== undefined || finishers.size > 0) return [];
      await new Promise<void>((resolve) => (openClaim = resolve));
      return [10, 11, 12].map((id) => ({ id, dueAt: 0 }));
    },
    process: (item) => {
      running++;
      most = Math.max(most, running);
      return new Promise<void>((resolve) =>
        finishers.set(item.id, () => {
          running--;
          resolve();
        }),
      );
    },
    nextDueAt: async () => undefined,
    leaseIds: (item) => [item.id],
    idleWaitMs: 60_000,
  });
  loop.start();
  await waitFor('the claim under way', () => openClaim);
  const handed = [1, 2, 3].map(() => loop.reserve());
  assert.ok(
    handed.every((reservation) => reservation !== undefined),
    'a claim under way does not stop a hand-over',
  );
  assert.equal(loop.reserve(), undefined, 'every slot is promised');
  for (const [index, reservation] of handed.entries()) reservation?.start({ id: index + 1, dueAt: 0 });
  openClaim?.();
  await waitFor('the claimed items waiting for slots', () => loop.held().length === 6 || undefined);
  assert.deepEqual([...finishers.keys()].sort(), [1, 2, 3], 'the items handed over took the slots first');
  for (const id of [1, 2, 3]) finishers.get(id)?.();
  await waitFor('the claimed items started', () => [10, 11, 12].every((id) => finishers.has(id)) || undefined);
  for (const id of [10, 11, 12]) finishers.get(id)?.();
  await loop.stop(5_000);
  assert.equal(most, 3, 'never more than three in their slots');
  assert.deepEqual(loop.held(), []);
});

test('a slot promised to an item whose commit leased nothing (cancel) is free again, and the stop waits for a promise that is kept', async () => {
  const started: number[] = [];
  const loop = new WorkLoop<Item>({
    name: 'test',
    logger: createLogger('silent'),
    concurrency: 1,
    clock: Date.now,
    claim: async () => [],
    process: async (item) => {
      started.push(item.id);
    },
    nextDueAt: async () => undefined,
    leaseIds: (item) => [item.id],
    idleWaitMs: 60_000,
  });
  loop.start();
  const first = loop.reserve();
  assert.ok(first);
  assert.equal(loop.reserve(), undefined);
  first.cancel();
  const second = loop.reserve();
  assert.ok(second, 'the cancelled promise freed its slot');
  let stopped = false;
  const stopping = loop.stop(5_000).then(() => (stopped = true));
  assert.equal(loop.reserve(), undefined, 'nothing is promised once the stop came');
  await sleep(20);
  assert.equal(stopped, false, 'the stop waits for the promised item');
  second.start({ id: 7, dueAt: 0 });
  await stopping;
  assert.deepEqual(started, [7]);
});

test('an item waiting for a slot does not start once the stop gave up waiting: it keeps its lease for the next start', async () => {
  let openClaim: (() => void) | undefined;
  const started: number[] = [];
  const finishers = new Map<number, () => void>();
  const loop = new WorkLoop<Item>({
    name: 'test',
    logger: createLogger('silent'),
    concurrency: 1,
    clock: Date.now,
    // The first claim finds nothing; the second, under way while item 1 is handed over, takes item 2.
    claim: async () => {
      if (openClaim !== undefined) return [];
      await new Promise<void>((resolve) => (openClaim = resolve));
      return [{ id: 2, dueAt: 0 }];
    },
    process: (item) => {
      started.push(item.id);
      return new Promise<void>((resolve) => finishers.set(item.id, resolve));
    },
    nextDueAt: async () => undefined,
    leaseIds: (item) => [item.id],
    idleWaitMs: 60_000,
  });
  loop.start();
  await waitFor('the claim under way', () => openClaim);
  loop.reserve()?.start({ id: 1, dueAt: 0 });
  openClaim?.();
  await waitFor('item 2 waiting', () => loop.held().length === 2 || undefined);
  await loop.stop(30);
  finishers.get(1)?.();
  await sleep(20);
  assert.deepEqual(started, [1], 'item 2 was not started after the stop');
});

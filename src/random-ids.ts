import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/**
 * Random bytes for the ids made per mail come from one buffer filled RANDOM_POOL_BYTES at a time
 * (the same generator): a call into OpenSSL per id, through WebCrypto's checks for uuid's own, was
 * ~1.5% of the main thread's samples under load (#15).
 */
const RANDOM_POOL_BYTES = 4096;
const pool = Buffer.alloc(RANDOM_POOL_BYTES);
let taken = RANDOM_POOL_BYTES;

function randomBytes(count: number): Buffer {
  if (taken + count > RANDOM_POOL_BYTES) {
    randomFillSync(pool);
    taken = 0;
  }
  taken += count;
  return pool.subarray(taken - count, taken);
}

/** 64 random bits. */
export function randomUint64(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

/** The last message id's time and counter: ids made within one millisecond stay in order. */
const last = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };

/**
 * A message id: a UUIDv7 as uuid's `v7()` makes it (the time, then a counter that starts at random
 * bits in each new millisecond and counts up within it, then random bits), with pooled random bytes.
 */
export function newMessageId(): string {
  const random = randomBytes(16);
  const now = Date.now();
  if (now > last.msecs) {
    last.msecs = now;
    last.seq = (((random[6] ?? 0) & 0x7f) << 24) | ((random[7] ?? 0) << 16) | ((random[8] ?? 0) << 8) | (random[9] ?? 0);
  } else {
    last.seq = (last.seq + 1) | 0;
    // The counter ran over: the id moves to the next millisecond, as uuid's does.
    if (last.seq === 0) last.msecs++;
  }
  return v7({ random, msecs: last.msecs, seq: last.seq });
}

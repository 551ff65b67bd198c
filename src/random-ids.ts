import { createHash, randomFillSync } from 'node:crypto';
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

/** 128 bits in base 36 need at most 25 digits; padded so every key has the same length. */
export const MESSAGE_KEY_DIGITS = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MESSAGE_KEY = new RegExp(`^[0-9a-z]{${MESSAGE_KEY_DIGITS}}$`);

/**
 * A message id as a provider's reference field carries it (InteractSMS's notify_id, Vonage's client-ref): a UUID's
 * (the relay's message ids) 128 bits in base 36, which messageIdOfKey reads back, so that a report echoing the
 * reference names the relay's message. Any other id is hashed (SHA-256, first 128 bits, the same form).
 */
export function messageKey(messageId: string): string {
  const hex = UUID.test(messageId) ? messageId.replaceAll('-', '') : createHash('sha256').update(messageId, 'utf8').digest('hex').slice(0, 32);
  return BigInt(`0x${hex}`).toString(36).padStart(MESSAGE_KEY_DIGITS, '0');
}

/**
 * The message id a key stands for (messageKey): its digits read back as 128 bits. A hashed id's key gives a UUID no
 * message has, as does a key another system wrote: looked up, it finds nothing.
 */
export function messageIdOfKey(key: string): string | undefined {
  if (!MESSAGE_KEY.test(key)) return undefined;
  const value = [...key].reduce((sum, digit) => sum * 36n + BigInt(Number.parseInt(digit, 36)), 0n);
  if (value >= 1n << 128n) return undefined;
  const hex = value.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

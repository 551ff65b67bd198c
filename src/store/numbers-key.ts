import { hash } from 'node:crypto';

/** 48 bits: a safe integer in JavaScript, a bigint on PostgreSQL, six bytes in a SQLite record. */
const KEY_HEX_DIGITS = 12;

/**
 * A mail's numbers as one short key (schema 38's `messages.numbers_key`), from its distinct numbers sorted (by code
 * unit: SQLite's BINARY and PostgreSQL's "C" order ASCII the same) and joined by commas: the first 48 bits of their
 * SHA-256. It narrows a Message-ID's mails to those of one set of numbers, so that the resubmission look-up stops at
 * one index entry (Store#acceptMail). Two sets sharing a key under one Message-ID only make their mails one chain: a
 * resend is then compared with the other set's mail, whose fingerprint differs, and texted again; nothing is folded
 * that should not be. Migration 38 computes the same key for the mails stored before it (SQLite through this function,
 * registered as `smsrelay_numbers_key`; PostgreSQL with its own sha256): change it only with a step that recomputes it.
 */
export const keyOfJoined = (joined: string): number => Number.parseInt(hash('sha256', joined, 'hex').slice(0, KEY_HEX_DIGITS), 16);

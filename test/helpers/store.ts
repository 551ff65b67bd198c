import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after } from 'node:test';
import type { HeldLeases, RelayMember } from '../../src/store/cluster-types.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import type { NewInbound, NewMail, Store } from '../../src/store/types.ts';
import { removeDir, tempDir } from './relay.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

/** A store file in a fresh directory, removed after the test file. */
/** A heartbeat's leases when the test's relay holds none. */
export const NONE_HELD: HeldLeases = { sms: [], mail: [] };

export function storeFile(): string {
  const dir = tempDir('smsrelay-store-');
  dirs.push(dir);
  return join(dir, 'data', 'smsrelay.db');
}

let sequence = 0;
/** A mail as intake would build it, to the given numbers. */
export function mail(numbers: readonly string[], overrides: Partial<NewMail> = {}): NewMail {
  sequence += 1;
  return {
    id: `mail-${sequence}`,
    receivedAt: 1_000,
    envelopeFrom: 'alice@example.com',
    client: { address: '127.0.0.1', helo: 'client.example.com' },
    messageIdHeader: `<m${sequence}@example.com>`,
    subject: 'Server down',
    headers: 'From: alice@example.com\r\nSubject: Server down\r\n\r\n',
    sms: { text: `text ${sequence}`, encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: undefined },
    dsn: { ret: undefined, envid: undefined },
    recipients: numbers.map((number) => ({ number, rcpt: `${number.slice(1)}@sms.localhost`, notify: undefined, orcpt: undefined })),
    resubmission: undefined,
    conversation: undefined,
    reportAll: false,
    sendAt: undefined,
    holdUntilSendAt: false,
    gatewayAccount: undefined,
    account: undefined,
    ...overrides,
  };
}

/** A claim of due SMS by the owner 'test' at `now` (the injected clock's ms), leased for a minute. */
export const claim = (store: Store, maxBatches: number, batchSize: number, now = 2_000) =>
  store.claimDueSms({ owner: 'test', now, leaseUntil: now + 60_000, maxBatches, batchSize });

/**
 * The schema-16 migration test of both stores: a part kept before schema 17 (set 1, part 1, inserted by
 * the test in the old schema) reads back without a context, and a new part keeps its own.
 */
export async function assertPartsKeepContextAfterSchema17(store: Pick<Store, 'addPart'>): Promise<void> {
  const added = await store.addPart({
    provider: 'smpp',
    sender: '+447700900501',
    recipient: undefined,
    reference: 5,
    total: 2,
    index: 2,
    providerId: 'p5-2',
    text: 'after',
    sentAt: undefined,
    userContext: 'ctx-5',
    trackingId: 'trk-5',
    receivedAt: 2_000,
  });
  assert.equal(added.kind, 'stored');
  assert.deepEqual(added.kind === 'stored' && added.set.parts.map((part) => [part.text, part.userContext, part.trackingId]), [
    ['before ', undefined, undefined],
    ['after', 'ctx-5', 'trk-5'],
  ]);
}

/** A relay's row as its heartbeat writes it (the relays table), this version's schema, for the store tests of several relays. */
export const relayMember = (name: string, overrides: Partial<RelayMember> = {}): RelayMember => ({
  name,
  instance: `${name}-1`,
  version: '9.9.9',
  schema: MIGRATIONS.length,
  startedAt: 1_000,
  pid: 4242,
  host: 'relay-host',
  mail: 'smarthost',
  settings: '{}',
  ...overrides,
});

/** What the schema-24 migration tests of both stores insert in the old schema: an orphan receipt (vonage, V1, accepted, err-code 0). */
export const ORPHAN_REPORT_OF_SCHEMA_24 =
  "INSERT INTO delivery_reports (provider, provider_id, number, code, state, received_at, sms_id) VALUES ('vonage', 'V1', '+447700900501', 0, 'sent', 1000, NULL)";

/** An older relay's (schema 24) report insert, which must still run on schema 25 (additive): its ON CONFLICT names the key that stayed. */
export const REPORT_INSERT_OF_SCHEMA_24 = `INSERT INTO delivery_reports (provider, provider_id, number, code, state, received_at, sms_id)
  VALUES ('vonage', 'V2', '+447700900502', 0, 'sent', 3000, NULL) ON CONFLICT (provider, provider_id, number, code) DO NOTHING`;

/**
 * The schema-24 migration tests of both stores: the receipt kept before schema 25 (ORPHAN_REPORT_OF_SCHEMA_24) is
 * still there, its repeat one, and the final receipt with the same code is a report of its own.
 */
export async function assertReportsKeptAfterSchema25(store: Pick<Store, 'applyDeliveryReport'>): Promise<void> {
  const receipt = { provider: 'vonage', providerId: 'V1', number: '+447700900501', code: 0, receivedAt: 2_000 };
  assert.equal((await store.applyDeliveryReport({ ...receipt, state: 'sent' })).kind, 'duplicate');
  assert.equal((await store.applyDeliveryReport({ ...receipt, state: 'delivered' })).kind, 'orphan');
  assert.equal((await store.applyDeliveryReport({ ...receipt, state: 'delivered' })).kind, 'duplicate');
}

/** A phone's answer `id` in conversation c1, mailed to alice@example.com: a reply mail queued with it. */
export const replyAnswer = (id: string): NewInbound => ({
  id,
  provider: 'intellisoftware',
  providerId: `G-${id}`,
  number: '+447700900123',
  text: 'yes',
  sentAt: undefined,
  userContext: 'c1',
  receivedAt: 1_000,
  route: {
    mailbox: 'alice@example.com',
    context: 'c1',
    mail: {
      kind: 'reply',
      messageId: id,
      envelopeFrom: '447700900123@sms.localhost',
      recipients: ['alice@example.com'],
      raw: Buffer.from(`From: 447700900123@sms.localhost\r\nTo: alice@example.com\r\nMessage-ID: <${id}@sms.localhost>\r\n\r\nyes\r\n`),
    },
    messageIdHeader: `<${id}@sms.localhost>`,
  },
});

import { join } from 'node:path';
import { after } from 'node:test';
import type { HeldLeases } from '../../src/store/cluster-types.ts';
import type { NewMail, Store } from '../../src/store/types.ts';
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
    ...overrides,
  };
}

/** A claim of due SMS by the owner 'test' at `now` (the injected clock's ms), leased for a minute. */
export const claim = (store: Store, maxBatches: number, batchSize: number, now = 2_000) =>
  store.claimDueSms({ owner: 'test', now, leaseUntil: now + 60_000, maxBatches, batchSize });

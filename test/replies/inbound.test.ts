import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { InboundService } from '../../src/replies/inbound.ts';
import { replyMailOptions } from '../../src/replies/reply-mail.ts';
import { ReplyTracking } from '../../src/replies/tracking.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { InboundSink, ReceivedSms } from '../../src/vocabulary.ts';
import { removeDir, tempDir } from '../helpers/relay.ts';
import { storeFile } from '../helpers/store.ts';

const DAY_MS = 24 * 60 * 60_000;

/** The real renderer, counting its renders: each reply mail renders its subject and its body. */
class CountingTemplates extends Templates {
  rendered = 0;

  override render(name: string, data: object): string {
    this.rendered += 1;
    return super.render(name, data);
  }
}

const sms = (providerId: string, text = 'On it'): ReceivedSms => ({
  providerId,
  number: '+447700900123',
  text,
  sentAt: undefined,
  userContext: undefined,
  trackingId: undefined,
});

/** The inbound service on a real SQLite store, with a DKIM key: what a provider's sink does, without HTTP. */
describe('the inbound service', () => {
  const keys = tempDir('smsrelay-dkim-');
  const privateKeyFile = join(keys, 'dkim.pem');
  writeFileSync(privateKeyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  after(() => removeDir(keys));

  let store: SqliteStore;
  let templates: CountingTemplates;
  let sink: InboundSink;
  let mailsQueued: number;
  beforeEach(() => {
    store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    templates = new CountingTemplates();
    mailsQueued = 0;
    const inbound = new InboundService({
      store,
      tracking: new ReplyTracking({ store, windowMs: 7 * DAY_MS, defaultMailbox: 'ops@example.com' }),
      replyMail: replyMailOptions(
        { sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: { dkim: { selector: 'sms2026', privateKeyFile } } },
        templates,
      ),
      keywords: { stop: ['STOP'], start: ['START'] },
      logger: createLogger('silent'),
      onMailQueued: () => {
        mailsQueued += 1;
      },
      onReportApplied: () => {},
    });
    sink = inbound.sinkFor('puzzel');
  });
  const queuedMail = () => store.claimDueMail({ owner: 'test', now: Date.now() + DAY_MS, leaseUntil: Date.now() + 2 * DAY_MS, limit: 10 });

  test('a repeated MO (the provider retrying) builds and signs no second mail', async () => {
    const [first] = await sink.received([sms('mo-1')]);
    assert.equal(first?.status, 'accepted');
    const rendersOfOneMail = templates.rendered;
    assert.ok(rendersOfOneMail > 0, 'the reply mail is rendered from the templates');

    assert.deepEqual(await sink.received([sms('mo-1')]), [{ status: 'duplicate' }]);
    assert.equal(templates.rendered, rendersOfOneMail, 'a repeat renders no template, so builds and signs no mail');
    assert.equal(mailsQueued, 1);
    const mails = await queuedMail();
    assert.equal(mails.length, 1);
    assert.match(mails[0]?.raw.toString() ?? '', /^DKIM-Signature: .*d=sms\.example\.com/m);
  });

  test('the same SMS twice in one delivery: the store keeps one, the other is answered as a repeat', async () => {
    const outcomes = await sink.received([sms('mo-2'), sms('mo-2')]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), ['accepted', 'duplicate']);
    assert.equal((await queuedMail()).length, 1);
  });

  test('STOP opts the number out and still reaches the mailbox; START opts it back in', async () => {
    await sink.received([sms('mo-3', 'stop please')]);
    assert.equal(await store.isOptedOut('+447700900123'), true);
    await sink.received([sms('mo-4', 'START')]);
    assert.equal(await store.isOptedOut('+447700900123'), false);
    assert.equal(mailsQueued, 2);
  });

  test('a report for an unknown SMS waits for it; what cannot be understood is quarantined', async () => {
    assert.deepEqual(await sink.reported([{ providerId: 'P9', number: '+447700900123', code: 1, state: 'delivered' }]), ['orphan']);
    await sink.quarantine('mo', 'not a form', '{"json":true}');
    assert.equal((await store.queueStats(Date.now())).quarantined, 1);
  });
});

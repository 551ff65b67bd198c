import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { RelayError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { Templates } from '../../src/mailer/templates.ts';
import { InboundService } from '../../src/replies/inbound.ts';
import { replyMailOptions } from '../../src/replies/reply-mail.ts';
import { ReplyTracking } from '../../src/replies/tracking.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/types.ts';
import type { InboundSink, ReceivedSms } from '../../src/vocabulary.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { removeDir, tempDir, waitFor } from '../helpers/relay.ts';
import { claim, mail, storeFile } from '../helpers/store.ts';
import { forEachStore } from '../helpers/stores.ts';

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
  let lines: string[];
  /** The relay has begun to stop (InboundSink.stopping). */
  let stopping: boolean;
  beforeEach(() => {
    stopping = false;
    store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    const log = captureLog('info');
    lines = log.lines;
    templates = new CountingTemplates();
    mailsQueued = 0;
    const inbound = new InboundService({
      store,
      tracking: new ReplyTracking({ store, windowMs: 7 * DAY_MS, defaultMailbox: 'ops@example.com', logger: log.logger }),
      replyMail: replyMailOptions(
        { sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: { dkim: { selector: 'sms2026', privateKeyFile } } },
        templates,
      ),
      keywords: { stop: ['STOP', 'UNSUBSCRIBE'], start: ['START'] },
      logger: log.logger,
      onMailQueued: () => {
        mailsQueued += 1;
      },
      onReportApplied: () => {},
      stopping: () => stopping,
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

  test('an SMS committed once the relay began to stop is not logged as mailed: its mail is queued, the mailer of this relay having stopped', async () => {
    stopping = true;
    assert.equal(sink.stopping(), true, 'a connection-based provider asks, and refuses what arrives');
    assert.equal((await sink.received([sms('mo-stop')]))[0]?.status, 'accepted');
    const messages = lines.map((line) => String((JSON.parse(line) as Record<string, unknown>).msg));
    assert.deepEqual(
      messages.filter((msg) => msg.startsWith('inbound: SMS received')),
      ["inbound: SMS received; its mail is queued (this relay's mailer has stopped)"],
    );
    assert.equal((await queuedMail()).length, 1, 'queued all the same');
  });

  test('the same SMS twice in one delivery: the store keeps one, the other is answered as a repeat', async () => {
    const outcomes = await sink.received([sms('mo-2'), sms('mo-2')]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), ['accepted', 'duplicate']);
    assert.equal((await queuedMail()).length, 1);
  });

  test('STOP opts the number out and still reaches the mailbox; START opts it back in', async () => {
    await sink.received([sms('mo-3', 'Stop.')]);
    assert.equal(await store.isOptedOut('+447700900123'), true);
    await sink.received([sms('mo-4', 'START')]);
    assert.equal(await store.isOptedOut('+447700900123'), false);
    assert.equal(mailsQueued, 2);
    // The STOP's mail does not invite a reply the relay would refuse; the START's does again.
    const [stop, start] = await Promise.all((await queuedMail()).map(async (queued) => (await simpleParser(queued.raw)).text ?? ''));
    assert.match(stop ?? '', /\+44 7700 900123 opted out of SMS from this relay \(it texted STOP\): replies to this mail are not sent\./);
    assert.doesNotMatch(stop ?? '', /Reply to this mail to answer by SMS/);
    await sink.received([sms('mo-4b', ' Unsubscribe\n')]);
    const unsubscribe = await simpleParser((await queuedMail())[0]?.raw ?? Buffer.alloc(0));
    assert.match(unsubscribe.text ?? '', /opted out of SMS from this relay \(it texted UNSUBSCRIBE\)/, 'the keyword it texted');
    assert.match(
      start ?? '',
      /\+44 7700 900123 texted START: SMS from this relay, and replies to this mail, reach it again\.\nReply to this mail to answer by SMS/,
    );
  });

  test('START from a number that never opted out is mailed as any SMS (an answer, such as an on-call "Yes"); an empty SMS is mailed saying it was empty', async () => {
    await sink.received([sms('mo-5', 'START')]);
    const [start] = await queuedMail();
    const text = (await simpleParser(start?.raw ?? Buffer.alloc(0))).text ?? '';
    assert.doesNotMatch(text, /texted START|nothing changed/, 'no line about a change that did not happen');
    assert.match(text, /^START\n\n-- \n/);
    assert.match(text, /Reply to this mail to answer by SMS/);
    for (const [id, text] of [
      ['mo-6', ''],
      ['mo-7', ' \u200b '],
    ]) {
      await sink.received([sms(id ?? '', text ?? '')]);
      const [empty] = await queuedMail();
      assert.match(
        (await simpleParser(empty?.raw ?? Buffer.alloc(0))).text ?? '',
        /^\[the SMS has no text: the phone sent it empty\]\n\n-- \n/,
        JSON.stringify(text),
      );
    }
  });

  test('a report for an unknown SMS waits for it; what cannot be understood is quarantined', async () => {
    assert.deepEqual(await sink.reported([{ providerId: 'P9', number: '+447700900123', code: 1, state: 'delivered' }]), ['orphan']);
    await sink.quarantine('mo', 'not a form', Buffer.from('{"json":true}'));
    assert.equal((await store.queueStats(Date.now())).quarantined, 1);
    const [kept] = await store.listQuarantine(10);
    const logged = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => String(line.msg).startsWith('inbound: request not understood'));
    assert.equal(logged?.quarantineId, kept?.id, 'the line gives the id smsrelay quarantine show takes');
    // A reason quoting what the request held: its numbers masked in the log, kept whole for quarantine show.
    await sink.quarantine('dr', 'unknown MessageStatus +447700900444', Buffer.from('MessageStatus=%2B447700900444'));
    const masked = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => String(line.msg).startsWith('inbound: request not understood'));
    assert.equal(masked.at(-1)?.reason, 'unknown MessageStatus +4477******44');
    assert.equal((await store.listQuarantine(10)).at(-1)?.reason, 'unknown MessageStatus +447700900444');
  });
});

describe('a commit the store failed to confirm', () => {
  test('completed after all (the database ran again after its connection was cut): logged as received once it shows, and its mail woken', async () => {
    const store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    const keys = tempDir('smsrelay-dkim-');
    const privateKeyFile = join(keys, 'dkim.pem');
    writeFileSync(privateKeyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const { logger, lines } = captureLog('info');
    let mailsQueued = 0;
    const inbound = new InboundService({
      // The COMMIT goes through while the relay, its connection cut, answers 503.
      store: {
        knowsInbound: (provider, providerId) => store.knowsInbound(provider, providerId),
        acceptInbound: async (received) => {
          await store.acceptInbound(received);
          throw new RelayError('STORE_UNAVAILABLE', 'Temporary local problem: the message store is unavailable (connection cut)');
        },
        applyDeliveryReport: (report) => store.applyDeliveryReport(report),
        numbersSentUnder: (provider, providerId) => store.numbersSentUnder(provider, providerId),
        numbersOfTracking: (tracking) => store.numbersOfTracking(tracking),
        quarantine: (...args) => store.quarantine(...args),
        recordOptOut: (...args) => store.recordOptOut(...args),
        isOptedOut: (number) => store.isOptedOut(number),
        optOutKeyword: (number) => store.optOutKeyword(number),
        recordSentParts: (sent) => store.recordSentParts(sent),
        applyPartReceipt: (receipt) => store.applyPartReceipt(receipt),
      },
      tracking: new ReplyTracking({ store, windowMs: 7 * DAY_MS, defaultMailbox: 'ops@example.com', logger }),
      replyMail: replyMailOptions(
        { sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: { dkim: { selector: 'sms2026', privateKeyFile } } },
        new Templates(),
      ),
      keywords: { stop: ['STOP'], start: ['START'] },
      logger,
      onMailQueued: () => {
        mailsQueued += 1;
      },
      onReportApplied: () => {},
    });
    try {
      await assert.rejects(inbound.sinkFor('puzzel').received([sms('mo-late')]), (error: unknown) => error instanceof RelayError);
      const received = () => lines.map((line) => JSON.parse(line)).filter((line) => line.msg === 'inbound: SMS received and mailed');
      assert.equal(received().length, 0, 'nothing said while the store said nothing');
      await waitFor('the late line', () => received().length === 1, 5_000);
      assert.equal(received()[0]?.providerId, 'mo-late');
      assert.equal(mailsQueued, 1, 'the mailer is told of its reply mail');
    } finally {
      await store.close();
      removeDir(keys);
    }
  });
});

/**
 * STOP/START keywords through the inbound service on each real store: a keyword sent alone (any case,
 * punctuation or emoji around it) opts the phone out or in; a sentence that starts with one does not.
 */
/** Whether a reply would be refused (replyRefusal) is asked only of an SMS whose reply mail is built. */
describe('the reply refusal is asked only for a mail it goes into', () => {
  test('not for an SMS with no mailbox, nor for a repeat: once for the one mail built', async () => {
    const store = SqliteStore.open({ file: storeFile(), busyTimeoutMs: 100 });
    try {
      const asked: string[] = [];
      const inboundTo = (defaultMailbox: string | undefined) =>
        new InboundService({
          store,
          tracking: new ReplyTracking({ store, windowMs: 7 * DAY_MS, defaultMailbox, logger: createLogger('silent') }),
          replyMail: replyMailOptions({ sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} }, new Templates()),
          keywords: { stop: ['STOP'], start: ['START'] },
          replyRefusal: (number) => {
            asked.push(number);
            return undefined;
          },
          logger: createLogger('silent'),
          onMailQueued: () => {},
          onReportApplied: () => {},
        }).sinkFor('vonage');
      const [undeliverable] = await inboundTo(undefined).received([sms('nowhere-1')]);
      assert.equal(undeliverable?.status, 'undeliverable');
      assert.deepEqual(asked, [], 'no mail, nothing to say in it');
      const sink = inboundTo('ops@example.com');
      assert.equal((await sink.received([sms('mailed-1')]))[0]?.status, 'accepted');
      assert.equal((await sink.received([sms('mailed-1')]))[0]?.status, 'duplicate');
      assert.deepEqual(asked, ['+447700900123']);
    } finally {
      await store.close();
    }
  });
});

describe('opt-out keywords', () =>
  forEachStore((kind) => {
    const PHONE = '+447700900123';

    test('count only as the whole SMS, not as the first word of a sentence', async () => {
      const store = await kind.fresh();
      try {
        const sink = new InboundService({
          store,
          tracking: new ReplyTracking({ store, windowMs: 7 * DAY_MS, defaultMailbox: 'ops@example.com', logger: createLogger('silent') }),
          replyMail: replyMailOptions({ sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} }, new Templates()),
          keywords: { stop: ['STOP', 'CANCEL', 'END', 'QUIT', '?'], start: ['START', 'UNSTOP'] },
          logger: createLogger('silent'),
          onMailQueued: () => {},
          onReportApplied: () => {},
        }).sinkFor('vonage');
        let sent = 0;
        const texts = async (text: string) => {
          const [outcome] = await sink.received([{ ...sms(`kw-${++sent}`, text), number: PHONE }]);
          assert.equal(outcome?.status, 'accepted');
          return store.isOptedOut(PHONE);
        };
        for (const answer of [
          '👍',
          '?',
          'Cancel that, false alarm - all fine',
          'End of shift, handing over to Bob',
          "Quit worrying, it's fixed",
          'stop please',
          'STOP STOP',
        ])
          assert.equal(await texts(answer), false, `"${answer}" is an answer, not an opt-out`);
        assert.equal(await texts('  Stop. '), true, '"Stop." alone opts out');
        assert.equal(await texts('Start the pump'), true, 'a sentence starting with START does not opt back in');
        assert.equal(await texts('unstop!'), false, '"unstop!" alone opts back in');
        for (const keyword of ['STOP!', 'end', 'Cancel 🛑', '¡Quit!', 'ＳＴＯＰ']) {
          assert.equal(await texts(keyword), true, `"${keyword}" opts out`);
          assert.equal(await texts('START'), false);
        }
      } finally {
        await store.close();
      }
    });
  }));

/**
 * A long SMS from parts, through the inbound service on each real store with real reply tracking and an
 * injected clock: complete, or mailed at `inbound.reassemblyTimeout` with what arrived, it goes where its
 * parts say it answers, else where a whole SMS sent with its first part would have gone.
 */
describe('the conversation of a long SMS from parts', () =>
  forEachStore((kind) => {
    const TIMEOUT_MS = 10 * 60_000;
    const PHONE = '+447700900123';

    /** The inbound service on `store` with real reply tracking, reassembly and the injected clock `clock`. */
    const inboundOn = (store: Store, clock: { now: number }, windowMs = 7 * DAY_MS) =>
      new InboundService({
        store,
        tracking: new ReplyTracking({ store, windowMs, defaultMailbox: 'ops@example.com', logger: createLogger('silent') }),
        replyMail: replyMailOptions({ sms: { domains: ['sms.example.com'] }, smtp: { hostname: 'relay.example.com' }, mail: {} }, new Templates()),
        keywords: { stop: ['STOP'], start: ['START'] },
        logger: createLogger('silent'),
        onMailQueued: () => {},
        onReportApplied: () => {},
        clock: () => clock.now,
        reassembly: { store, timeoutMs: TIMEOUT_MS },
      });
    /** A mail from `mailbox` to the phone under `context`: its conversation, used at `receivedAt`. */
    const toPhone = (context: string, mailbox: string, receivedAt: number) =>
      mail([PHONE], {
        receivedAt,
        sms: { text: 'x', encoding: 'gsm7', parts: 1, maxParts: 6, senderId: undefined, userContext: context },
        conversation: { mailbox, continues: false },
      });
    /** Who got the mails queued by `now`: [the long SMS's reference, its recipients], by reference. */
    const mailedBy = async (store: Store, now: number) => {
      const mails = await store.claimDueMail({ owner: 'test', now: now + DAY_MS, leaseUntil: now + 2 * DAY_MS, limit: 10 });
      return mails.map((queued) => [/long (\d+) part/.exec(queued.raw.toString())?.[1], queued.recipients]).sort();
    };

    test("goes to the conversation its parts' user context or tracking id names, not the phone's latest", async () => {
      const store = await kind.fresh();
      try {
        const clock = { now: Date.now() };
        const inbound = inboundOn(store, clock);
        // Alice wrote first (her SMS went under a tracking id too); Bob wrote last: the phone's latest conversation.
        await store.acceptMail(toPhone('alice', 'alice@example.com', clock.now - 2_000));
        const alicesSms = (await claim(store, 1, 10, clock.now))[0]?.sms[0];
        assert.ok(alicesSms);
        await store.recordSmsOutcomes([{ smsId: alicesSms.id, kind: 'sent', providerId: 'P-alice', trackingId: 'session-alice' }]);
        await store.acceptMail(toPhone('bob', 'bob@example.com', clock.now - 1_000));

        const sink = inbound.sinkFor('smpp');
        const part = async (reference: number, index: number, echoed: Pick<ReceivedSms, 'userContext' | 'trackingId'>) => {
          const [outcome] = await sink.received([
            {
              providerId: `r${reference}-${index}`,
              number: PHONE,
              text: `long ${reference} part ${index}. `,
              sentAt: undefined,
              ...echoed,
              part: { reference, total: 3, index },
            },
          ]);
          assert.equal(outcome?.status, 'part');
        };
        const mailedAtTimeout = async () => {
          clock.now += TIMEOUT_MS;
          await inbound.sweepParts();
          return mailedBy(store, clock.now);
        };

        await part(1, 1, { userContext: undefined, trackingId: undefined });
        await part(1, 2, { userContext: undefined, trackingId: undefined });
        assert.deepEqual(await mailedAtTimeout(), [['1', ['bob@example.com']]], 'parts that name no conversation: the latest');

        await part(2, 1, { userContext: 'alice', trackingId: undefined });
        await part(2, 2, { userContext: 'alice', trackingId: undefined });
        await part(3, 2, { userContext: undefined, trackingId: 'session-alice' });
        assert.deepEqual(await mailedAtTimeout(), [
          ['2', ['alice@example.com']],
          ['3', ['alice@example.com']],
        ]);
      } finally {
        await store.close();
      }
    });

    test('that names no conversation goes to the latest as of its first part, complete or at the timeout, not to a later writer', async () => {
      const store = await kind.fresh();
      try {
        const clock = { now: Date.now() };
        const inbound = inboundOn(store, clock);
        const sink = inbound.sinkFor('vonage');
        const part = async (reference: number, index: number, total: number) =>
          (
            await sink.received([
              {
                providerId: `r${reference}-${index}`,
                number: PHONE,
                text: `long ${reference} part ${index}. `,
                sentAt: undefined,
                userContext: undefined,
                trackingId: undefined,
                part: { reference, total, index },
              },
            ])
          )[0]?.status;
        const writes = async (context: string, mailbox: string) => {
          clock.now += 1_000;
          await store.acceptMail(toPhone(context, mailbox, clock.now));
        };

        // Alice's conversation is the latest when each SMS begins; Bob writes before it is whole.
        await writes('alice', 'alice@example.com');
        assert.equal(await part(1, 1, 2), 'part');
        await writes('bob', 'bob@example.com');
        assert.equal(await part(1, 2, 2), 'accepted');
        assert.deepEqual(await mailedBy(store, clock.now), [['1', ['alice@example.com']]], 'complete: as of its first part');

        await writes('alice-again', 'alice@example.com');
        assert.equal(await part(2, 1, 2), 'part');
        await writes('bob-again', 'bob@example.com');
        clock.now += TIMEOUT_MS;
        await inbound.sweepParts();
        assert.equal(await part(2, 2, 2), 'accepted', 'the late part is mailed on its own');
        assert.deepEqual(
          await mailedBy(store, clock.now),
          [
            ['2', ['alice@example.com']],
            ['2', ['alice@example.com']],
          ],
          'at the timeout, and its late part: where the set went',
        );
      } finally {
        await store.close();
      }
    });

    test('begun by a phone with no conversation, it goes to no one who writes to the phone before it is whole', async () => {
      const store = await kind.fresh();
      try {
        const clock = { now: Date.now() };
        const inbound = inboundOn(store, clock);
        const sink = inbound.sinkFor('vonage');
        const part = async (index: number) =>
          (
            await sink.received([
              {
                providerId: `r4-${index}`,
                number: PHONE,
                text: `long 4 part ${index}. `,
                sentAt: undefined,
                userContext: undefined,
                trackingId: undefined,
                part: { reference: 4, total: 2, index },
              },
            ])
          )[0]?.status;
        assert.equal(await part(1), 'part');
        clock.now += 1_000;
        await store.acceptMail(toPhone('bob', 'bob@example.com', clock.now));
        assert.equal(await part(2), 'accepted');
        assert.deepEqual(await mailedBy(store, clock.now), [['4', ['ops@example.com']]], 'the default mailbox, as a whole SMS then');
      } finally {
        await store.close();
      }
    });

    if (kind.name === 'SQLite')
      // The window is the relay's clock on SQLite only (PostgreSQL's is the database's, which the test cannot move).
      test('begun inside inbound.conversationWindow goes to that conversation though mailed after the window', async () => {
        const store = await kind.fresh();
        try {
          const clock = { now: Date.now() };
          const inbound = inboundOn(store, clock, TIMEOUT_MS / 2);
          await store.acceptMail(toPhone('alice', 'alice@example.com', clock.now));
          clock.now += TIMEOUT_MS / 4;
          const [outcome] = await inbound.sinkFor('vonage').received([
            {
              providerId: 'w1',
              number: PHONE,
              text: 'long 3 part 1. ',
              sentAt: undefined,
              userContext: undefined,
              trackingId: undefined,
              part: { reference: 3, total: 2, index: 1 },
            },
          ]);
          assert.equal(outcome?.status, 'part');
          clock.now += TIMEOUT_MS;
          await inbound.sweepParts();
          assert.deepEqual(await mailedBy(store, clock.now), [['3', ['alice@example.com']]]);
        } finally {
          await store.close();
        }
      });
  }));

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { request } from 'undici';
import { killSpawnedRelays, type RelayProcess, relayEnvironment, removeDir, spawnRelay, startTestRelay, tempDir, waitFor } from './helpers/relay.ts';
import { queuedId, SmtpDialog, sendMail } from './helpers/smtp.ts';

const BIN = fileURLToPath(new URL('../bin/smsrelay.js', import.meta.url));

/** Operating the relay: metrics, readiness, the operator's commands next to a running relay. */
describe('operating the relay', () => {
  const dir = tempDir('smsrelay-ops-');
  let env: Record<string, string>;
  let relay: RelayProcess;

  before(async () => {
    env = relayEnvironment(dir, {}, { SMSRELAY_WEBHOOK_TOKEN: 'ops-test-token-0123456789' });
    relay = await spawnRelay(dir, env);
  });
  after(async () => {
    await relay.stop();
    killSpawnedRelays();
    removeDir(dir);
  });

  const run = (args: readonly string[], where = dir, environment = env) =>
    spawnSync(process.execPath, [BIN, ...args], { cwd: where, env: { PATH: process.env.PATH ?? '', ...environment }, encoding: 'utf8', timeout: 30_000 });
  const cli = (...args: string[]) => {
    const result = run(args);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, `smsrelay: data directory ${env.SMSRELAY_DATA_DIR}\n`, 'every command names the data directory it reads');
    return result.stdout;
  };
  /** A retry to send a message now that dispatch resumed: the relay may have sent it already, which the retry says (exit 1). */
  const retryNow = (id: string) => {
    const result = run(['queue', 'retry', id]);
    if (result.status !== 0) assert.match(result.stderr, /retry: nothing to retry: its SMS is no longer queued: 1 (delivered|sent)/);
  };
  const get = async (path: string) => {
    const response = await request(`http://127.0.0.1:${relay.httpPort}${path}`);
    return { status: response.statusCode, text: await response.body.text() };
  };

  test('/readyz and /metrics: accepted mails, outcomes, queue depth, delivery states; the delivery report logged with its message id', async () => {
    assert.equal((await get('/readyz')).status, 200);
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900191@sms.localhost'], body: 'metrics' })).data);
    await waitFor('sent', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id));
    const metrics = await waitFor('the outcome counted', async () => {
      const { text } = await get('/metrics');
      return /smsrelay_sms_outcomes_total\{outcome="sent"\} 1/.test(text) && text;
    });
    assert.match(metrics, /smsrelay_mails_accepted_total 1/);
    assert.match(metrics, /smsrelay_queue_depth\{queue="sms"\} 0/);
    assert.match(metrics, /smsrelay_gateway_request_seconds_count\{result="answered"\} 1/);
    // The simulator reports the SMS delivered: the report's line names the message, the metric counts its state.
    await waitFor('the delivery report applied', () => relay.logs.find((line) => line.msg === 'inbound: delivery report applied' && line.msgId === id));
    await waitFor('the delivered SMS counted', async () => /^smsrelay_sms_delivery_total\{state="delivered"\} 1$/m.test((await get('/metrics')).text));
    // Group commit: the mail and its outcome were committed (the migration's and others' commits too).
    const counter = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(counter('smsrelay_store_commits_total') >= 2, 'commits counted');
    assert.ok(counter('smsrelay_store_committed_writes_total') >= counter('smsrelay_store_commits_total'), 'each commit carries a write or more');
    assert.ok(counter('smsrelay_store_commit_seconds_total') > 0, 'their time counted');
    // The mail was fsynced before its 250; its lease and its sent outcome need no fsync of their own.
    const synced = counter('smsrelay_store_synced_commits_total');
    assert.ok(synced >= 1 && synced < counter('smsrelay_store_commits_total'), `synced commits ${synced} counted apart`);
    assert.match(metrics, /^smsrelay_process_cpu_user_seconds_total /m);
    assert.match(metrics, /^smsrelay_nodejs_eventloop_lag_seconds /m);
    assert.doesNotMatch(metrics, /process_process/);
  });

  test('log of a mail to several numbers names the number of each line of one SMS, as the console timeline does', async () => {
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900194@sms.localhost', '447700900195@sms.localhost'], body: 'two phones' })).data);
    await waitFor('both sent', () => relay.logs.filter((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id).length > 0 || undefined);
    const log = await waitFor('both sent in the history', () => {
      const shown = cli('log', id);
      return (shown.match(/ sent: /g)?.length ?? 0) === 2 && shown;
    });
    for (const number of ['+447700900194', '+447700900195']) {
      assert.match(log, new RegExp(`Z ${number.replace('+', '\\+')}: accepted: `), `${number}'s accepted line`);
      assert.match(log, new RegExp(`Z ${number.replace('+', '\\+')}: sent: `), `${number}'s sent line`);
    }
  });

  test('status, log by message id and by number', async () => {
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900192@sms.localhost'], body: 'history' })).data);
    await waitFor('sent', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id));
    assert.match(cli('status'), new RegExp(`^relay: running \\(pid ${relay.child.pid}\\)\\ndispatch: running\\nsms queued: 0 \\(held: 0\\)`));
    const log = cli('log', id);
    assert.match(log, new RegExp(`^message ${id}\\n  \\+447700900192: sent(, delivery report: delivered)?, 1 attempt, gateway id`));
    assert.match(
      await waitFor('the delivery report in the history', () => {
        const again = cli('log', id);
        return / delivery report: delivered \(provider status 4\)/.test(again) && again;
      }),
      / sent: id /,
    );
    assert.match(log, / accepted: 447700900192@sms\.localhost -> \+447700900192/);
    assert.match(log, / sent: id \d+/);
    assert.match(cli('log', '+447700900192'), new RegExp(`message ${id}`));
    // The number's address, copied from a mail's To or a bounce's Final-Recipient, on any SMS domain, is that number.
    assert.match(cli('log', '447700900192@sms.localhost'), new RegExp(`message ${id}`));
    assert.match(cli('log', '+447700900192@SMS.localhost.'), new RegExp(`message ${id}`));
    // As RCPT reads it: Puzzel's <number>-<serviceId>@ is no number where no Puzzel account sends (this relay's simulator).
    const serviceIdForm = run(['log', '447700900192-5@sms.localhost']);
    assert.equal(serviceIdForm.status, 64, serviceIdForm.stderr);
    assert.match(serviceIdForm.stderr, /smsrelay: log: "447700900192-5" is not a phone number: write the number alone, without "-5"/);
    // An address that is no number's is not said to be one: no "no SMS to or from that number".
    const list = run(['log', 'oncall@sms.localhost']);
    assert.equal(list.status, 1, list.stderr);
    assert.match(list.stderr, /\nsmsrelay: nothing known about oncall@sms\.localhost: no message with that id or Message-ID\n$/);
    // A national number without sms.defaultRegion is no number to look up: said so, with how to write it, not "nothing known".
    const national = run(['log', '07700 900192']);
    assert.equal(national.status, 64, national.stderr);
    assert.match(
      national.stderr,
      /\nsmsrelay: log: "07700 900192" is a national number; the relay has no default region \(set SMSRELAY_DEFAULT_REGION\) — write it in international form: \+, the country code, then the number without its trunk 0\n\nUsage: smsrelay log/,
    );
    // With --limit too: the number's reason, not --limit's (which counts the messages to a number).
    const nationalLimited = run(['log', '07700 900192', '--limit', '5']);
    assert.equal(nationalLimited.status, 64, nationalLimited.stderr);
    assert.match(nationalLimited.stderr, /\nsmsrelay: log: "07700 900192" is a national number; the relay has no default region/);

    const posted = await request(`http://127.0.0.1:${relay.httpPort}/simulator/mo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: '447700900192', text: 'seen' }),
    });
    assert.equal(posted.statusCode, 202);
    await posted.body.dump();
    const withReply = await waitFor("the reply in the number's history", () => {
      const shown = cli('log', '447700900192');
      return /^reply \S+ \S+ \[UserContext: [^\]]+\]: to alice@example\.com, mail sent$/m.test(shown) && shown;
    });
    assert.match(withReply, new RegExp(`message ${id}`), 'the replies first, then the messages to the number');
    // One grep follows the conversation: the mail's line and the reply's name its context; the reply's mail goes by the reply's id.
    const sent = relay.logs.find((line) => line.msg === 'smtp: mail accepted' && line.msgId === id);
    const reply = await waitFor('the reply logged', () => relay.logs.find((line) => line.msg === 'inbound: SMS received and mailed'));
    assert.equal(typeof sent?.context, 'string');
    assert.equal(reply.context, sent?.context);
    await waitFor('the reply mail delivered', () => relay.logs.some((line) => line.msg === 'mailer: mail delivered' && line.msgId === reply.inboundId));
    assert.match((await get('/metrics')).text, /^smsrelay_mails_sent_total\{kind="reply",result="delivered"\} 1$/m, "the relay's own mail counted");
  });

  test('queue pause keeps SMS queued; hold, release and resume send them', async () => {
    cli('queue', 'pause');
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900193@sms.localhost'], body: 'paused' })).data);
    assert.match(cli('status'), /dispatch: paused since .*\nsms queued: 1 \(held: 0\)/);
    assert.match(cli('queue', 'hold', id), /hold: 1 queued SMS changed/);
    assert.match(cli('status'), /\nsms queued: 1 \(held: 1\)/, 'a held SMS is still queued, as the console counts it');
    assert.match(cli('log', id), / held by the operator\n/);
    const [listed] = cli('queue', 'list')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { messageId: string; held: boolean });
    assert.deepEqual([listed?.messageId, listed?.held], [id, true]);
    cli('queue', 'release', 'all');
    cli('queue', 'resume');
    retryNow(id);
    await waitFor('sent after resume', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id), 40_000);
  });

  test("the operator's pause is logged when it comes and goes, and at a start while paused; /metrics counts its seconds; /readyz stays green", async () => {
    const pausedLines = () => relay.logs.filter((line) => String(line.msg).startsWith('dispatch: paused by the operator'));
    const pausedSeconds = async () => /^smsrelay_dispatch_paused_seconds ([0-9.e+-]+)$/m.exec((await get('/metrics')).text)?.[1];
    const before = pausedLines().length;
    cli('queue', 'pause');
    const warned = await waitFor('the pause logged', () => pausedLines()[before], 15_000);
    assert.equal(warned.level, 'warn');
    assert.match(String(warned.msg), /since \d{4}-\d\d-\d\dT[\d:.]+Z; no SMS is sent, the queue is kept until `smsrelay queue resume`$/);
    assert.ok(Number(await pausedSeconds()) >= 0, 'a metric while paused');
    const readyz = await get('/readyz');
    assert.equal(readyz.status, 200, 'mail is still taken');
    assert.match(
      readyz.text,
      /^\{"status":"ready","notes":\{"dispatch":"paused by the operator since \d{4}-\d\d-\d\dT[\d:.]+Z"\}\}$/,
      'and says dispatch is paused',
    );
    // A start while paused says so right after its ready line.
    await relay.stop();
    relay = await spawnRelay(dir, env);
    const ready = relay.logs.findIndex((line) => line.msg === 'relay: ready');
    await waitFor(
      'the pause logged at start',
      () => relay.logs.slice(ready).find((line) => String(line.msg).startsWith('dispatch: paused by the operator')),
      15_000,
    );
    cli('queue', 'resume');
    const resumed = await waitFor(
      'the resume logged',
      () => relay.logs.find((line) => line.msg === 'dispatch: resumed by the operator; queued SMS are sent again'),
      15_000,
    );
    assert.equal(resumed.level, 'info');
    assert.equal(await pausedSeconds(), '0', 'while dispatch runs');
    assert.equal((await get('/readyz')).text, '{"status":"ready"}', 'no note once resumed');
  });

  test('a scheduled SMS (X-SMS-Send-At): retry all and retry by id leave it until its time and say so; status and log show its time; --now sends it', async () => {
    const sendAt = new Date(Date.now() + 86_400_000);
    const at = new Date(Math.floor(sendAt.getTime() / 1000) * 1000).toISOString();
    const headers = { 'X-SMS-Send-At': sendAt.toUTCString() };
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900194@sms.localhost'], headers, body: 'tomorrow' })).data);
    assert.match(cli('status'), new RegExp(`\\nsms queued: 1 \\(held: 0, scheduled: 1, next at ${at}\\), oldest 0 s\\n`), 'its age counts from its time');
    assert.match(cli('log', id), new RegExp(`: queued, scheduled for ${at}, 0 attempts`));
    assert.match(
      cli('queue', 'retry', 'all'),
      new RegExp(`^retry: 0 queued SMS changed; 1 scheduled \\(X-SMS-Send-At\\), left until each one’s time, the first at ${at}\n$`),
    );
    assert.equal(
      cli('queue', 'retry', id).trim(),
      `retry: 0 queued SMS changed; 1 scheduled (X-SMS-Send-At), left until ${at}: to send it now, smsrelay queue retry ${id} --now`,
    );
    assert.match(cli('log', id), /scheduled for/, 'still scheduled');
    assert.equal(cli('queue', 'retry', id, '--now').trim(), 'send now: 1 queued SMS changed');
    await waitFor('sent when told to', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id), 40_000);
    assert.match(cli('log', id), / sent now, before its scheduled time, by the operator\n/);
  });

  test('/metrics: queue depth and the age of its oldest SMS come from one reading, true at the first scrape', async () => {
    const queueGauges = async () => {
      const { text } = await get('/metrics');
      const gauge = (name: string) => Number(new RegExp(`^${name}\\{queue="sms"\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]);
      return { depth: gauge('smsrelay_queue_depth'), oldest: gauge('smsrelay_queue_oldest_age_seconds') };
    };
    assert.deepEqual(await queueGauges(), { depth: 0, oldest: 0 });
    cli('queue', 'pause');
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900198@sms.localhost'], body: 'waiting' })).data);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const waiting = await queueGauges();
    assert.equal(waiting.depth, 1);
    assert.ok(waiting.oldest >= 1, `the first scrape after queueing shows the SMS's age, not the last scrape's: ${waiting.oldest}`);
    cli('queue', 'resume');
    retryNow(id);
    await waitFor('sent after resume', () => relay.logs.find((line) => line.msg === 'dispatch: gateway answered' && line.msgId === id), 40_000);
    // The gateway answers before the relay commits its outcome: the store says when the queue is empty, then one scrape.
    await waitFor('the queue drained', () => /^sms queued: 0\b/m.test(cli('status')), 40_000);
    assert.deepEqual(await queueGauges(), { depth: 0, oldest: 0 }, 'the scrape after draining: no age left over from the one before');
  });

  test('/metrics: a held SMS is in the queue depth as status counts it, and in its own held gauge, beside the oldest age that counts it; every family is in docs/operations.md', async () => {
    const scrape = async () => {
      const { text } = await get('/metrics');
      const gauge = (name: string) => Number(new RegExp(`^${name}\\{queue="sms"\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]);
      return { text, depth: gauge('smsrelay_queue_depth'), held: gauge('smsrelay_queue_held'), oldest: gauge('smsrelay_queue_oldest_age_seconds') };
    };
    cli('queue', 'pause');
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900197@sms.localhost'], body: 'held back' })).data);
    cli('queue', 'hold', id);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.match(cli('status'), /\nsms queued: 1 \(held: 1\), oldest [1-9]\d* s\n/);
    const held = await scrape();
    assert.deepEqual({ depth: held.depth, held: held.held }, { depth: 1, held: 1 }, 'the depth status shows, and the held among it');
    assert.ok(held.oldest >= 1, `the oldest age is of an SMS the depth counts: ${held.oldest}`);
    assert.match(held.text, /^# HELP smsrelay_queue_depth .*held and scheduled ones included/m);
    // The docs' /metrics row names every family the relay exports (prom-client's process and Node.js ones by their prefixes).
    const operations = readFileSync(fileURLToPath(new URL('../docs/operations.md', import.meta.url)), 'utf8');
    const families = [...held.text.matchAll(/^# HELP (smsrelay_\w+) /gm)].map((match) => match[1] ?? '');
    const ours = families.filter((name) => !/^smsrelay_(process|nodejs)_/.test(name));
    assert.ok(ours.includes('smsrelay_queue_held'));
    assert.deepEqual(
      ours.filter((name) => !operations.includes(`\`${name}`)),
      [],
      'each named in docs/operations.md',
    );
    cli('queue', 'delete', id);
    cli('queue', 'resume');
    assert.deepEqual(await scrape().then(({ depth, held: heldNow, oldest }) => ({ depth, held: heldNow, oldest })), { depth: 0, held: 0, oldest: 0 });
  });

  test('queue retry, hold, release and delete of a message whose SMS are all finished say how each ended and why nothing changed, exit 1 as an unknown id does', async () => {
    const control = await request(`http://127.0.0.1:${relay.httpPort}/simulator/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ undeliverableNumbers: ['447700900666'] }),
    });
    assert.equal(control.statusCode, 200);
    await control.body.dump();
    const failed = queuedId((await sendMail(relay.smtpPort, { to: ['447700900666@sms.localhost'], body: 'undeliverable' })).data);
    await waitFor(
      'the failed report applied',
      () => relay.logs.find((line) => line.msg === 'inbound: delivery report applied' && line.msgId === failed),
      40_000,
    );
    const refused = (args: readonly string[], said: string) => {
      const result = run(args);
      assert.equal(result.status, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '', args.join(' '));
      assert.equal(result.stderr, `smsrelay: data directory ${env.SMSRELAY_DATA_DIR}\nsmsrelay: ${said}\n`, args.join(' '));
    };
    // None of its SMS sent: the same mail sent again is texted, not folded into it (docs/delivery.md).
    const resend =
      'a finished SMS is not sent again: to send it again, send the mail again (none of its SMS was sent, so a resend under its Message-ID is texted, not folded into it)';
    for (const [command, advice] of [
      ['retry', resend],
      ['hold', 'only a queued SMS can be held'],
      ['release', 'only a held SMS can be released'],
      ['delete', 'a finished SMS has left the queue already (its history stays)'],
    ] as const) {
      refused(
        ['queue', command, failed],
        `${command}: nothing to ${command}: its SMS is no longer queued: 1 failed for good (delivery report: failed); ${advice}`,
      );
    }
    // Deleted by the operator: told from an SMS that failed.
    cli('queue', 'pause');
    const deleted = queuedId((await sendMail(relay.smtpPort, { to: ['447700900667@sms.localhost'], body: 'deleted' })).data);
    assert.equal(cli('queue', 'delete', deleted).trim(), 'delete: 1 queued SMS changed');
    cli('queue', 'resume');
    refused(['queue', 'retry', deleted], `retry: nothing to retry: its SMS is no longer queued: 1 deleted from the queue; ${resend}`);
    // Delivered: the same mail sent again within the window is folded into it, so the advice is a new Message-ID.
    const delivered = queuedId((await sendMail(relay.smtpPort, { to: ['447700900670@sms.localhost'], body: 'delivered' })).data);
    await waitFor(
      'its delivery report applied',
      () => relay.logs.find((line) => line.msg === 'inbound: delivery report applied' && line.msgId === delivered),
      40_000,
    );
    refused(
      ['queue', 'retry', delivered, '--now'],
      'send now: nothing to send now: its SMS is no longer queued: 1 delivered; a finished SMS is not sent again: to send it again, send the mail again with a new Message-ID (or after delivery.resubmissionWindow)',
    );
  });

  test('log calls an SMS the operator deleted from the queue "deleted", held first or not, never "failed" nor still "held"', async () => {
    cli('queue', 'pause');
    const held = queuedId((await sendMail(relay.smtpPort, { to: ['447700900668@sms.localhost'], body: 'held, then deleted' })).data);
    const plain = queuedId((await sendMail(relay.smtpPort, { to: ['447700900669@sms.localhost'], body: 'deleted' })).data);
    cli('queue', 'hold', held);
    assert.match(cli('log', held), /^ {2}\+447700900668: queued \(held\), 0 attempts$/m);
    cli('queue', 'delete', held);
    cli('queue', 'delete', plain);
    cli('queue', 'resume');
    for (const [id, number] of [
      [held, '+447700900668'],
      [plain, '+447700900669'],
    ] as const) {
      const log = cli('log', id);
      assert.match(log, new RegExp(`^ {2}\\${number}: deleted, 0 attempts$`, 'm'), log);
      assert.match(log, / deleted from the queue by the operator$/m, 'its history says who');
    }
  });

  test('wrong or missing arguments print the reason and the usage, exit 64; empty lists say so', () => {
    for (const [args, reason] of [
      [['queue', 'hold'], 'queue hold needs a message id, or "all"'],
      [['queue', 'frobnicate'], 'unknown queue command "frobnicate"'],
      [['log'], 'log needs a message id or a phone number'],
      [['config'], 'config needs "check"'],
      [['backup'], 'backup needs the file to write the copy to'],
      [['undeliverable', 'list'], 'unknown undeliverable command "list"'],
      [['quarantine', 'show'], 'quarantine show needs a request id'],
      // The mailbox goes into the reply mail's To: and the Maildir's Delivered-To: as it is written.
      [['undeliverable', 'reroute', 'id', '<ops@example.com>'], 'undeliverable reroute: "<ops@example.com>" is not a mail address the relay can mail'],
      [['undeliverable', 'reroute', 'id'], 'undeliverable reroute needs an inbound SMS id and a mail address'],
    ] as const) {
      const result = run(args);
      assert.equal(result.status, 64, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`smsrelay: ${reason.replace(/[()"]/g, '.')}[^\\n]*\\n\\nUsage: smsrelay`), args.join(' '));
    }
    // The listings' stdout holds JSON lines only (a pipe into jq): an empty one says so on stderr, exit 0.
    for (const [args, said] of [
      [['undeliverable'], 'undeliverable: no undeliverable SMS'],
      [['quarantine', 'list'], 'quarantine list: no quarantined requests'],
      [['queue', 'list'], 'queue list: no queued SMS'],
    ] as const) {
      const empty = run(args);
      assert.equal(empty.status, 0, empty.stderr);
      assert.equal(empty.stdout, '', args.join(' '));
      assert.equal(empty.stderr, `smsrelay: data directory ${env.SMSRELAY_DATA_DIR}\nsmsrelay: ${said}\n`, args.join(' '));
    }
  });

  test('an argument a command does not take is refused with the reason and the usage, exit 64, not ignored', () => {
    for (const [args, reason] of [
      [['backup', join(dir, 'b.db'), 'extra'], 'backup: unexpected argument "extra"'],
      [['log', 'a', 'b'], 'log: unexpected argument "b"'],
      [['status', 'now'], 'status: unexpected argument "now"'],
      [['config', 'check', 'twice'], 'config: unexpected argument "twice"'],
      [['queue', 'list', 'extra'], 'queue list: unexpected argument "extra"'],
      [['queue', 'hold', 'id-1', 'id-2'], 'queue hold: unexpected argument "id-2"'],
      [['quarantine', 'show', '1', '2'], 'quarantine show: unexpected argument "2"'],
      [['undeliverable', 'reroute', 'id', 'a@example.com', 'b@example.com'], 'undeliverable reroute: unexpected argument "b@example.com"'],
      [['hash-password', 'mypassword123'], 'hash-password takes no argument: it reads the password on stdin'],
      [['store', 'copy', '--from', join(dir, 'a.db'), '--to', 'postgres://u:p@127.0.0.1:1/x', '--bogus'], 'store copy: unknown option "--bogus"'],
      [['log', '--bogus'], 'log: unknown option "--bogus"'],
      [['backup', '--frce', join(dir, 'b.db')], 'backup: unknown option "--frce"'],
    ] as const) {
      const result = run(args);
      assert.equal(result.status, 64, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`smsrelay: ${reason.replace(/[()"]/g, '.')}[^\\n]*\\n\\nUsage: smsrelay`), args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'b.db')), false, 'the refused backup wrote nothing');
  });

  test('every command takes --help (its usage and exit codes, exit 0, nothing done)', () => {
    for (const command of ['start', 'undeliverable', 'hash-password', 'status', 'log', 'queue', 'quarantine', 'config', 'backup', 'store', 'preview']) {
      const result = run([command, '--help']);
      assert.equal(result.status, 0, `${command}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^Usage: smsrelay ${command}[^\\n]*\\n\\n.+\\n\\nExit codes: 0`, 's'), command);
    }
    assert.equal(existsSync(join(dir, '--help')), false, 'backup --help wrote no copy named --help');
    assert.match(run(['help']).stdout, /^Usage: smsrelay \[command\] \(each command takes --help\)/);
  });

  test('log reads a number as a sender writes it, and an id or number nothing is known about exits 1, as queue does', async () => {
    const id = queuedId((await sendMail(relay.smtpPort, { to: ['447700900193@sms.localhost'], body: 'spaced' })).data);
    assert.match(cli('log', '+44 7700 900193'), new RegExp(`message ${id}`));
    for (const subject of ['no-such-message', '+44 7700 900999']) {
      const result = run(['log', subject]);
      assert.equal(result.status, 1, `${subject}: ${result.stderr}`);
      assert.ok(result.stderr.includes(`smsrelay: nothing known about ${subject}`), result.stderr);
    }
  });

  test('backup names no file twice: an existing file only with --force (else exit 73), a directory gets a dated file', () => {
    const existing = join(dir, 'kept.db');
    writeFileSync(existing, 'an older copy');
    const refused = run(['backup', existing]);
    assert.equal(refused.status, 73, refused.stderr);
    assert.match(refused.stderr, /the file exists; name another file or a directory, or add --force/);
    assert.equal(readFileSync(existing, 'utf8'), 'an older copy');
    assert.match(cli('backup', '--force', existing), /store copied to/);
    const into = join(dir, 'backups');
    mkdirSync(into);
    assert.match(cli('backup', into), /store copied to .*\/backups\/smsrelay-backup-[\dT-]+Z\.db/);
    assert.equal(readdirSync(into).length, 1);
  });

  test('queue hold, release, retry and delete of an id no message has say so and exit non-zero', () => {
    for (const command of ['hold', 'retry', 'delete', 'release']) {
      const result = run(['queue', command, 'no-such-message']);
      assert.equal(result.status, 1, `${command}: ${result.stderr}`);
      assert.match(result.stderr, /smsrelay: no message with id no-such-message \(see smsrelay queue list\)\n$/);
    }
  });

  test('backup refuses to write over the live store, under any spelling of its path', () => {
    const data = env.SMSRELAY_DATA_DIR as string;
    for (const target of [join(data, 'smsrelay.db'), join(data, '.', 'smsrelay.db-wal'), join(data, '..', 'data', 'smsrelay.db')]) {
      const result = run(['backup', target]);
      assert.equal(result.status, 64, `${target}: ${result.stderr}`);
      assert.match(result.stderr, /that is the live store itself; name a file outside it/);
    }
    assert.equal(run(['status']).status, 0, 'the store is intact');
  });

  test('run where there is no relay data, a command says where it looked and creates nothing', () => {
    const elsewhere = tempDir('smsrelay-nodata-');
    try {
      for (const command of [['status'], ['queue', 'list'], ['log', '+447700900192'], ['undeliverable']]) {
        const result = run(command, elsewhere, { SMSRELAY_DATA_DIR: join(elsewhere, 'data') });
        assert.equal(result.status, 66, result.stderr);
        assert.equal(
          result.stderr,
          `smsrelay: no relay data in ${join(elsewhere, 'data')}; set SMSRELAY_DATA_DIR to the relay's data directory (or run smsrelay where its smsrelay.yaml is)\n`,
        );
      }
      assert.equal(existsSync(join(elsewhere, 'data')), false, 'no store, not even the directory, was created');
    } finally {
      removeDir(elsewhere);
    }
  });

  test('config check masks secrets, in URLs too (credentials, query values), shows an unset retention as keep; backup makes a consistent copy', () => {
    const check = cli('config', 'check');
    assert.match(check, /"webhookToken": "\*\*\*"/);
    assert.doesNotMatch(check, /ops-test-token/);
    assert.match(check, /store: journal_mode=wal synchronous=FULL/);
    assert.match(check, /"provider": "simulator"/, 'the provider as configured (its default)');
    assert.doesNotMatch(check, /intellisoftware\.co\.uk/);
    // Durations as a file has them, not milliseconds.
    assert.match(check, /"shutdownTimeout": "20s"/);
    assert.match(check, /"idleTimeout": "5m"/);
    assert.match(check, /"maxAge": "24h"/);
    assert.match(check, /"conversationWindow": "7d"/);
    assert.match(check, /"busyTimeout": "1s"/);
    assert.match(check, /"retention": "keep"/, 'unset, as a file may write it');
    const other = tempDir('smsrelay-ops-check-');
    try {
      const gateway = {
        provider: 'intellisoftware',
        url: 'https://gw.example.com/send?apikey=K3y-in-the-query&from=ops',
        backupUrl: 'https://gw2.example.com/send?apikey=K3y-in-the-query',
        username: 'relay',
        password: 'pw-not-shown',
      };
      // A gateway URL's credentials are refused (src/config/load.ts): the smarthost's show how a URL's are masked.
      const mail = { url: 'smtps://relay:pw-not-shown@mail.example.com:465' };
      const shown = run(['config', 'check'], other, relayEnvironment(other, { gateway, mail }, { SMSRELAY_DATA_DIR: env.SMSRELAY_DATA_DIR ?? '' }));
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /"url": "https:\/\/gw\.example\.com\/send\?apikey=\*\*\*&from=\*\*\*"/);
      assert.match(shown.stdout, /"backupUrl": "https:\/\/gw2\.example\.com\/send\?apikey=\*\*\*"/);
      assert.match(shown.stdout, /"url": "smtps:\/\/\*\*\*@mail\.example\.com:465"/);
      assert.doesNotMatch(shown.stdout, /K3y-in-the-query|pw-not-shown/);
    } finally {
      removeDir(other);
    }
    const copy = join(dir, 'backup.db');
    assert.match(cli('backup', copy), /store copied to/);
    const db = new BetterSqlite3(copy, { readonly: true });
    const count = (db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
    db.close();
    assert.ok(count >= 2);
  });
  test('log of a number shows its newest 20 messages and says so on stderr when there are more, with the --limit that shows them', async () => {
    const number = '447700900600';
    const dialog = await SmtpDialog.open(relay.smtpPort);
    try {
      await dialog.command('EHLO ups.example');
      for (let mail = 0; mail < 21; mail++) {
        assert.equal((await dialog.command('MAIL FROM:<ups@example.com>')).code, 250);
        assert.equal((await dialog.command(`RCPT TO:<${number}@sms.localhost>`)).code, 250);
        assert.equal((await dialog.data(`Subject: alert ${mail}\r\n\r\nalert number ${mail}\r\n`)).code, 250);
      }
    } finally {
      await dialog.close();
    }
    const blocks = (stdout: string) => stdout.match(/^message /gm)?.length ?? 0;
    const cut = run(['log', `+${number}`]);
    assert.equal(cut.status, 0, cut.stderr);
    assert.equal(blocks(cut.stdout), 20);
    assert.match(cut.stderr, new RegExp(`\\nsmsrelay: log: the newest 20 messages to \\+${number} only, of 21; more: smsrelay log \\+${number} --limit 21\\n`));
    const one = run(['log', `+${number}`, '--limit', '1']);
    assert.equal(blocks(one.stdout), 1);
    assert.match(one.stderr, new RegExp(`\\nsmsrelay: log: the newest message to \\+${number} only, of 21; more: smsrelay log \\+${number} --limit 21\\n`));
    const all = run(['log', `+${number}`, '--limit', '1000']);
    assert.equal(all.status, 0, all.stderr);
    assert.equal(blocks(all.stdout), 21);
    assert.equal(all.stderr, `smsrelay: data directory ${env.SMSRELAY_DATA_DIR}\n`, 'nothing left out, nothing said');
    assert.equal(blocks(cli('log', `+${number}`, '--limit', '21')), 21);
    const wrong = run(['log', `+${number}`, '--limit', '0']);
    assert.equal(wrong.status, 64);
    assert.match(wrong.stderr, /log: --limit needs a number from 1 to 1,000/);
    const byId = run(['log', 'some-message-id', '--limit', '5']);
    assert.equal(byId.status, 64);
    assert.match(byId.stderr, /log: --limit counts the messages to a number/);
  });
  test("log finds a mail by its own Message-ID, with or without the angle brackets, as the console's search does", async () => {
    const dialog = await SmtpDialog.open(relay.smtpPort);
    let id = '';
    try {
      await dialog.command('EHLO ops.example');
      assert.equal((await dialog.command('MAIL FROM:<ops@example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<+447700900129@sms.localhost>')).code, 250);
      const accepted = await dialog.data('Subject: mid\r\nMessage-ID: <mid2@example.com>\r\n\r\nmid text\r\n');
      assert.equal(accepted.code, 250);
      id = /queued as ([0-9a-f-]{36})/.exec(accepted.text)?.[1] ?? assert.fail(accepted.text);
    } finally {
      await dialog.close();
    }
    for (const given of ['<mid2@example.com>', 'mid2@example.com', id.toUpperCase()]) {
      const shown = run(['log', given]);
      assert.equal(shown.status, 0, `${given}: ${shown.stderr}`);
      assert.match(shown.stdout, new RegExp(`^message ${id}$`, 'm'), given);
    }
    const unknown = run(['log', '<nobody@example.com>']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /nothing known about <nobody@example\.com>: no message with that id or Message-ID/);
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM: an open session gets 421 for a new mail, then the relay exits cleanly', async () => {
    const dir = tempDir('smsrelay-stop-');
    const relay = await spawnRelay(dir, relayEnvironment(dir, {}));
    try {
      const dialog = await SmtpDialog.open(relay.smtpPort);
      await dialog.command('EHLO client.example.com');
      const exited = relay.stop();
      await waitFor('stopping', () => relay.logs.find((line) => line.msg === 'relay: stopping'));
      const mail = await dialog.command('MAIL FROM:<late@example.com>');
      assert.equal(mail.code, 421);
      assert.match(mail.text, /shutting down/i);
      await dialog.close();
      assert.equal(await exited, 0);
    } finally {
      removeDir(dir);
    }
  });
});

describe('graceful shutdown of a transaction under way', () => {
  test('SIGTERM after MAIL and RCPT were accepted: its DATA is taken and stored within shutdownTimeout, a new MAIL gets 421 4.3.2, then the relay exits', async () => {
    const dir = tempDir('smsrelay-stop-data-');
    const env = relayEnvironment(dir, { shutdownTimeout: '10s' });
    const relay = await spawnRelay(dir, env);
    try {
      const dialog = await SmtpDialog.open(relay.smtpPort);
      await dialog.command('EHLO client.example.com');
      assert.equal((await dialog.command('MAIL FROM:<late@example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<447700900777@sms.localhost>')).code, 250);
      const other = await SmtpDialog.open(relay.smtpPort);
      await other.command('EHLO other.example.com');
      const exited = relay.stop();
      await waitFor('stopping', () => relay.logs.find((line) => line.msg === 'relay: stopping'));
      const refused = await other.command('MAIL FROM:<new@example.com>');
      assert.equal(refused.code, 421);
      assert.match(refused.text, /^4\.3\.2 /);
      const stored = await dialog.data('Subject: x\n\nin flight at stop');
      assert.equal(stored.code, 250, stored.text);
      await dialog.close();
      await other.close();
      assert.equal(await exited, 0);
      const db = new BetterSqlite3(join(env.SMSRELAY_DATA_DIR as string, 'smsrelay.db'), { readonly: true });
      const texts = db.prepare('SELECT COUNT(*) AS n FROM outbound').get() as { n: number };
      db.close();
      assert.equal(texts.n, 1, 'the mail answered 250 is in the store');
    } finally {
      removeDir(dir);
    }
  });
});

describe('a nearly full disk', () => {
  test('store.minFreeMegabytes: 0 turns the check off: the relay is ready and takes mail', async () => {
    const { relay, dir } = await startTestRelay({ store: { minFreeMegabytes: 0 } });
    try {
      const ready = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
      assert.equal(ready.statusCode, 200);
      await ready.body.dump();
      const mail = await sendMail(relay.smtpPort, { to: ['447700900195@sms.localhost'] });
      assert.equal(mail.data?.code, 250, mail.data?.text);
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });

  test('new mail gets 452 4.3.1, webhooks 503 and /readyz 503, rather than failing mid-commit; the start line says so instead of "ready"', async () => {
    const dir = tempDir('smsrelay-disk-');
    const relay = await spawnRelay(dir, relayEnvironment(dir, { store: { minFreeMegabytes: 1_000_000_000 } }));
    try {
      assert.ok(!relay.logs.some((line) => line.msg === 'relay: ready'), 'never "ready" below the watermark');
      assert.ok(
        relay.logs.some((line) => line.level === 'warn' && line.msg === 'relay: listening, disk nearly full (mail 452, webhooks 503) until space is freed'),
      );
      const full = relay.logs.find((line) => String(line.msg).startsWith('relay: disk nearly full'));
      assert.ok(String(full?.msg).includes(join(dir, 'data')), `the line names the directory to free space in: ${full?.msg}`);
      const mail = await sendMail(relay.smtpPort, { to: ['447700900194@sms.localhost'] });
      assert.equal(mail.mail.code, 452);
      assert.match(mail.mail.text, /^4\.3\.1 Insufficient system storage/);
      const webhook = await request(`http://127.0.0.1:${relay.httpPort}/webhooks/intellisoftware/mo`, { method: 'POST', body: 'x' });
      assert.equal(webhook.statusCode, 503);
      await webhook.body.dump();
      const ready = await request(`http://127.0.0.1:${relay.httpPort}/readyz`);
      assert.equal(ready.statusCode, 503);
      assert.deepEqual(await ready.body.json(), { status: 'not ready', reasons: { disk: 'free space below store.minFreeMegabytes (1000000000 MB)' } });
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });
});

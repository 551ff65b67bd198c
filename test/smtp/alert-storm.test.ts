import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { history } from '../../src/admin.ts';
import { webhookPaths } from '../../src/http/webhooks.ts';
import { captureLog } from '../helpers/log-lines.ts';
import { maildirMessages, relayWithSimulator, waitFor } from '../helpers/relay.ts';
import { type MailSpec, queuedId, sendMail } from '../helpers/smtp.ts';

const UPS = '127.0.0.4';

/**
 * `policy.alertStormWindow` over real SMTP (src/acceptance/alert-storm.ts): a number is folded only onto its latest SMS
 * within the window, of the same text from the same sender, once the gateway took it; nothing queued stands for a repeat.
 */
describe('alert-storm control', () => {
  const log = captureLog('info');
  const suite = relayWithSimulator(
    {
      smtp: { trustedNetworks: ['127.0.0.1/32'] },
      sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
      networks: [{ name: 'ups', cidr: [`${UPS}/32`], senders: ['@ups.example.com'], dailyParts: 2 }],
      policy: { alertStormWindow: '10m' },
      delivery: { retryMinDelay: '100ms', retryMaxDelay: '300ms', pauseProbeInterval: '100ms' },
    },
    { simulator: { webhookRetryMs: 100, reportDelayMs: 0, undeliverableNumbers: ['447700900666'] }, logger: log.logger },
  );
  before(() => {
    const base = `http://127.0.0.1:${suite.relay.relay.httpPort}`;
    suite.gateway.simulator.setWebhooks({ moUrl: `${base}${webhookPaths('intellisoftware').mo}`, drUrl: `${base}${webhookPaths('intellisoftware').dr}` });
  });

  const textsTo = (number: string) => suite.gateway.simulator.received.filter((sms) => sms.to === number).map((sms) => sms.text);
  /** Sends `spec`: its 250's text and id. */
  const send = async (spec: MailSpec, localAddress?: string) => {
    const { data } = await sendMail(suite.port, spec, localAddress === undefined ? {} : { localAddress });
    return { text: data?.text ?? `${data?.code}`, code: data?.code, id: data?.code === 250 ? queuedId(data) : '' };
  };
  /** Waits until the gateway took the SMS of mail `id` (status sent). */
  const taken = (id: string) => waitFor(`the SMS of ${id} taken`, async () => (await suite.relay.relay.store.smsOf(id)).every((sms) => sms.status === 'sent'));
  /** The 250's note of one number folded onto mail `earlier` (its whole wording: the first test). */
  const foldedNote = (earlier: string) => new RegExp(`\\(1 of its numbers got this same \\w+ .*as ${earlier}.*: not sent again\\)$`);
  const control = (behaviour: object) =>
    fetch(new URL('/simulator/control', suite.gateway.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(behaviour),
    });

  test('a true repeat of an SMS the gateway took is folded: the 250, the history and the accept log name the earlier mail', async () => {
    const first = await send({ to: ['447700900187@sms.example.com', '447700900188@sms.example.com'], body: 'CPU high on web1' });
    await taken(first.id);
    const again = await send({ to: ['447700900187@sms.example.com'], body: 'CPU high on web1' });
    const accepted = log.lines.map((line) => JSON.parse(line)).find((line) => line.msgId === again.id && line.msg === 'smtp: mail accepted');
    assert.equal(accepted?.numbers, 0, 'the accept log counts the numbers sent');
    assert.equal(accepted?.alertStormRepeats, 1);
    assert.deepEqual(accepted?.foldedInto, [first.id]);
    assert.match(
      again.text,
      new RegExp(`\\(1 of its numbers got this same alert from you as ${first.id}, taken by the SMS network within the alert-storm window: not sent again\\)$`),
    );
    const store = suite.relay.relay.store;
    assert.match(
      await history(store, again.id, Date.now()),
      new RegExp(
        `folded: 447700900187@sms\\.example\\.com -> \\+447700900187: the same alert as ${first.id}, whose SMS the gateway took, within policy\\.alertStormWindow: not sent again`,
      ),
    );
    const third = await send({ to: ['447700900187@sms.example.com'], body: 'CPU high on web1' });
    assert.match(third.text, foldedNote(first.id));
    const repeated = (await history(store, first.id, Date.now())).split('\n').filter((line) => line.includes('repeated:'));
    assert.equal(repeated.length, 1, 'one repeated line on the earlier SMS, however many repeats');
    assert.match(repeated[0] ?? '', new RegExp(`the same alert again in ${again.id}`));
    const other = await send({ to: ['447700900187@sms.example.com'], body: 'CPU normal on web1' });
    assert.match(other.text, /queued as \S+$/);
    await waitFor('two different texts', () => textsTo('447700900187').length === 2);
    assert.deepEqual(textsTo('447700900187'), ['CPU high on web1', 'CPU normal on web1']);
  });

  test('a flapping service is texted each change (PROBLEM, RECOVERY, PROBLEM), never left on its last OK', async () => {
    const problem = { subject: '** PROBLEM Service Alert: web1/HTTP is CRITICAL **', body: '' };
    const recovery = { subject: '** RECOVERY Service Alert: web1/HTTP is OK **', body: '' };
    for (const alert of [problem, recovery, problem, recovery, problem]) {
      const sent = await send({ to: ['447700900150@sms.example.com'], ...alert });
      assert.match(sent.text, /queued as \S+$/, 'no note: another text came between');
      await taken(sent.id);
    }
    assert.equal(textsTo('447700900150').length, 5);
    assert.match(textsTo('447700900150').at(-1) ?? '', /PROBLEM/, "the phone's last SMS is the service's state");
  });

  test('a resend of an alert whose SMS was reported undelivered is sent again', async () => {
    const first = await send({ to: ['447700900666@sms.example.com'], subject: 'Fire alarm zone 3', body: '' });
    await waitFor('the failed delivery report', async () => (await suite.relay.relay.store.smsOf(first.id))[0]?.delivery === 'failed');
    const resend = await send({ to: ['447700900666@sms.example.com'], subject: 'Fire alarm zone 3', body: '' });
    assert.match(resend.text, /queued as \S+$/);
    await waitFor('the resend at the gateway', () => textsTo('447700900666').length === 2);
  });

  test('a repeat of an SMS the gateway has not taken (in retry through an outage, or scheduled) is sent: that SMS may fail yet', async () => {
    await control({ mode: 'http', status: 503, times: 1000 });
    try {
      const first = await send({ to: ['447700900703@sms.example.com'], subject: 'Site B power lost', body: '' });
      await waitFor('a refused attempt', async () => ((await suite.relay.relay.store.smsOf(first.id))[0]?.attempts ?? 0) > 0);
      const repeat = await send({ to: ['447700900703@sms.example.com'], subject: 'Site B power lost', body: '' });
      assert.match(repeat.text, /queued as \S+$/, 'not folded onto an SMS in retry');
    } finally {
      await control({ mode: 'ok' });
    }
    await waitFor('both at the gateway once it is back', () => textsTo('447700900703').length === 2);

    const later = new Date(Date.now() + 20 * 3_600_000).toISOString();
    const scheduled = await send({ to: ['447700900704@sms.example.com'], subject: 'Backup failed on fs1', body: '', headers: { 'X-SMS-Send-At': later } });
    const now = await send({ to: ['447700900704@sms.example.com'], subject: 'Backup failed on fs1', body: '' });
    assert.match(now.text, /queued as \S+$/, 'not folded onto an SMS scheduled hours ahead');
    await waitFor('the alert texted now', () => textsTo('447700900704').length === 1);
    assert.equal((await suite.relay.relay.store.smsOf(scheduled.id))[0]?.status, 'queued');
  });

  test("another sender's SMS, or one whose replies go to another mailbox, stands for no repeat: each is sent", async () => {
    const to = ['447700900702@sms.example.com'];
    const first = await send({ to, from: 'nagios@example.com', subject: 'DB down on db8', body: '' });
    await taken(first.id);
    const other = await send({ to, from: 'zabbix@other.example', subject: 'DB down on db8', body: '' });
    assert.match(other.text, /queued as \S+$/, 'another envelope sender');
    await taken(other.id);
    const elsewhere = await send({ to, from: 'zabbix@other.example', subject: 'DB down on db8', body: '', headers: { 'Reply-To': 'dba@example.com' } });
    assert.match(elsewhere.text, /queued as \S+$/, "the phone's replies would go to another mailbox");
    await taken(elsewhere.id);
    const same = await send({ to, from: 'zabbix@other.example', subject: 'DB down on db8', body: '', headers: { 'Reply-To': 'dba@example.com' } });
    assert.match(same.text, foldedNote(elsewhere.id));
    assert.equal(textsTo('447700900702').length, 3);
  });

  test("folded numbers take nothing of the sender's dailyParts: a storm of repeats leaves the next alert its budget", async () => {
    const to = ['447700900705@sms.example.com'];
    const first = await send({ to, from: 'ups@ups.example.com', subject: 'UPS on battery', body: '' }, UPS);
    await taken(first.id);
    for (let repeat = 0; repeat < 3; repeat++) {
      const again = await send({ to, from: 'ups@ups.example.com', subject: 'UPS on battery', body: '' }, UPS);
      assert.match(again.text, foldedNote(first.id));
    }
    const low = await send({ to, from: 'ups@ups.example.com', subject: 'UPS battery low, shutting down', body: '' }, UPS);
    assert.match(low.text, /queued as \S+$/, 'one part sent before it, of a budget of 2');
    const over = await send({ to, from: 'ups@ups.example.com', subject: 'UPS off', body: '' }, UPS);
    assert.equal(over.code, 451, 'the budget still counts what is sent');
  });

  test('a folded number that asked NOTIFY=SUCCESS gets its report at once: relayed, naming the earlier mail', async () => {
    const to = ['447700900189@sms.example.com'];
    const first = await send({ to, subject: 'Disk full on db1', body: '', rcptParams: 'NOTIFY=SUCCESS,FAILURE' });
    await taken(first.id);
    const again = await send({ to, subject: 'Disk full on db1', body: '', rcptParams: 'NOTIFY=SUCCESS,FAILURE' });
    assert.match(again.text, foldedNote(first.id));
    const report = await waitFor('the report of the folded mail', () =>
      maildirMessages(suite.relay.maildir).find((mail) => mail.includes(`X-SMSRelay-Message-Id: ${again.id}`)),
    );
    const unfolded = report.replace(/=\r?\n/g, '').replace(/\r?\n /g, ' ');
    assert.match(unfolded, /Action: relayed\r?\nStatus: 2\.0\.0\r?\nDiagnostic-Code: X-SMS; not sent again/);
    assert.match(unfolded, new RegExp(`mail ${first.id}, was taken by the SMS network for this number`));
    assert.match(unfolded, /was not sent again as SMS to/);
  });
});

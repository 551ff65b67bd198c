import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeOnPostgres, freshDatabase } from '../helpers/postgres.ts';
import { gatewayYaml, removeDir, type Simulator, startSimulator, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { type MailSpec, queuedId, sendMail } from '../helpers/smtp.ts';

/** A network with a budget of SMS parts a day, and one that may send one mail a minute (each its own loopback address). */
const BUDGETED = '127.0.0.5';
const DAILY_PARTS = 4;
const ONE_A_MINUTE = '127.0.0.6';

/**
 * A resend of an accepted mail (its 250 lost) within delivery.resubmissionWindow sends nothing (Store#acceptMail folds
 * it): it neither counts against its sender's limits nor is refused by them. Refused, the client's retry came hours
 * later, past the window, and texted the phone again. The counts are in the store: both stores.
 */
function resendsOutsideTheBudget(env: () => Promise<Record<string, string>>): void {
  let gateway: Simulator | undefined;
  let relay: TestRelay | undefined;
  before(async () => {
    gateway = await startSimulator({ reportDelayMs: 0 });
    relay = await startTestRelay(
      {
        ...gatewayYaml(gateway.url),
        smtp: { trustedNetworks: ['127.0.0.1/32'] },
        sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
        networks: [
          { name: 'budgeted', cidr: [`${BUDGETED}/32`], dailyParts: DAILY_PARTS },
          { name: 'minutely', cidr: [`${ONE_A_MINUTE}/32`], perMinute: 1 },
        ],
      },
      await env(),
    );
  });
  after(async () => {
    await relay?.stop();
    await gateway?.close();
    if (relay) removeDir(relay.dir);
  });
  /** `spec` sent from `client`: the reply's code and text. */
  const send = async (spec: MailSpec, client: string) => {
    const { data } = await sendMail(relay?.relay.smtpPort ?? 0, spec, { localAddress: client });
    return { code: data?.code, text: data?.text ?? '', id: data?.code === 250 ? queuedId(data) : '' };
  };
  /** One mail as its client sends it again byte for byte: its Message-ID and Date fixed. */
  const mail = (name: string, to: readonly string[]): MailSpec => ({
    to: to.map((number) => `${number}@sms.example.com`),
    subject: name,
    body: `${name} on web1`,
    headers: { 'Message-ID': `<${name}@example.com>`, Date: 'Mon, 7 Dec 2026 21:00:00 +0000' },
  });
  const textsTo = (number: string) => gateway?.simulator.received.filter((sms) => sms.to === number).length ?? 0;

  test(`dailyParts: a resend takes no part of the budget, and is taken when the budget is full`, async () => {
    const first = await send(mail('disk-full', ['447700900801']), BUDGETED);
    assert.equal(first.code, 250);
    const again = await send(mail('disk-full', ['447700900801']), BUDGETED);
    assert.match(again.text, new RegExp(`the same mail as ${first.id}: sent once`));
    // 1 part used: the next mail of 3 fills the budget of 4 exactly (the resend charged, it was over: 451).
    const filling = await send(mail('load-high', ['447700900802', '447700900803', '447700900804']), BUDGETED);
    assert.equal(filling.code, 250, filling.text);
    // Its 250 lost: its resend is taken as the resubmission it is, not refused by the budget it filled.
    const resent = await send(mail('load-high', ['447700900802', '447700900803', '447700900804']), BUDGETED);
    assert.equal(resent.code, 250, resent.text);
    assert.match(resent.text, new RegExp(`the same mail as ${filling.id}: sent once`));
    // The budget is what was sent: 4 of 4 parts, the resends none of it.
    const next = await send(mail('swap-full', ['447700900805']), BUDGETED);
    assert.equal(next.code, 451);
    assert.match(next.text, new RegExp(`^4\\.7\\.1 Sending limit reached: budgeted has a budget of ${DAILY_PARTS} SMS parts a day \\(4 used\\)`));
    await waitFor('every SMS sent', () => ['447700900801', '447700900802', '447700900803', '447700900804'].every((number) => textsTo(number) > 0));
    await sleep(300);
    for (const number of ['447700900801', '447700900802', '447700900803', '447700900804']) assert.equal(textsTo(number), 1, `${number} texted once`);
  });

  test('perMinute: a resend within the minute is taken as the resubmission it is; a new mail is still refused', async () => {
    const first = await send(mail('ups-on-battery', ['447700900811']), ONE_A_MINUTE);
    assert.equal(first.code, 250);
    const again = await send(mail('ups-on-battery', ['447700900811']), ONE_A_MINUTE);
    assert.equal(again.code, 250, again.text);
    assert.match(again.text, new RegExp(`the same mail as ${first.id}: sent once`));
    // Not a resend: the same Message-ID with another text is a new mail, held to the limit.
    const other = await send({ ...mail('ups-on-battery', ['447700900811']), body: 'ups restored' }, ONE_A_MINUTE);
    assert.equal(other.code, 451);
    assert.match(other.text, /^4\.7\.1 Sending limit reached: minutely may send 1 mails a minute/);
    const fresh = await send(mail('ups-low', ['447700900812']), ONE_A_MINUTE);
    assert.equal(fresh.code, 451);
    await waitFor('the SMS sent', () => textsTo('447700900811') > 0);
    await sleep(300);
    assert.equal(textsTo('447700900811'), 1);
    assert.equal(textsTo('447700900812'), 0);
  });
}

describe('a resend and its sender limits, on SQLite', () => resendsOutsideTheBudget(async () => ({})));

describeOnPostgres('a resend and its sender limits, on PostgreSQL', async () =>
  resendsOutsideTheBudget(async () => ({ SMSRELAY_DATABASE_URL: (await freshDatabase()) ?? '' })),
);

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

type Simulator = Awaited<ReturnType<typeof startSimulator>>;

/** 85 × "long text " is 850 GSM-7 characters: 6 SMS parts of 153. */
const SIX_PARTS = 'long text '.repeat(85);

/**
 * What a mail can never pass is refused for good (5xx), naming the limit and what to change; what a
 * later mail or a later day can take is deferred (4xx), so that the client sends it again.
 */
describe('acceptance limits: permanent when no retry can pass', () => {
  let gateway: Simulator;
  let relay: TestRelay;
  let port: number;

  before(async () => {
    gateway = await startSimulator();
    relay = await startTestRelay({
      ...gatewayYaml(gateway.url),
      smtp: { trustedNetworks: [] },
      networks: [{ name: 'lab', cidr: ['127.0.0.1/32'], maxRecipients: 3, dailyParts: 14 }],
      sms: {
        domains: ['sms.example.com'],
        lists: {
          'trio@sms.example.com': ['+447700900401', '+447700900402', '+447700900403'],
          'quad@sms.example.com': ['+447700900411', '+447700900412', '+447700900413', '+447700900414'],
        },
      },
    });
    port = relay.relay.smtpPort;
  });
  after(async () => {
    await relay.stop();
    await gateway.close();
    removeDir(relay.dir);
  });

  test("a list larger than the sender's limit on its own: 550 5.5.3 naming the list, its size and the limit; one that fits the rest of a mail only: 452", async () => {
    const alone = await sendMail(port, { to: ['quad@sms.example.com'], body: 'hello' });
    assert.equal(
      `${alone.rcpt[0]?.code} ${alone.rcpt[0]?.text}`,
      '550 5.5.3 Too many phone numbers: the list quad@sms.example.com has 4, more than the 3 one mail may go to (maxRecipients of network lab); split the list or raise the limit',
    );
    const withOthers = await sendMail(port, { to: ['447700900421@sms.example.com', 'trio@sms.example.com'], body: 'hello' });
    assert.deepEqual(
      withOthers.rcpt.map((reply) => reply.code),
      [250, 452],
    );
    assert.match(withOthers.rcpt[1]?.text ?? '', /^4\.5\.3 Too many phone numbers: .*send the rest in another mail$/);
  });

  test('a mail needing more SMS parts than the whole daily budget: 552 5.3.4 with the figures; within the budget but over what is left today: 451', async () => {
    const three = ['447700900431', '447700900432', '447700900433'].map((number) => `${number}@sms.example.com`);
    const never = await sendMail(port, { to: three, body: SIX_PARTS });
    assert.equal(
      `${never.data?.code} ${never.data?.text}`,
      "552 5.3.4 Over the daily budget: this mail needs 18 SMS parts, more than lab's whole budget of 14 a day; send a shorter text or to fewer numbers",
    );
    // 12 parts fit the budget of 14, but not what is left today after these 3 (and any earlier test's).
    const first = await sendMail(port, { to: three, body: 'short' });
    assert.equal(first.data?.code, 250, first.data?.text);
    const later = await sendMail(port, { to: three.slice(0, 2), body: SIX_PARTS });
    assert.equal(later.data?.code, 451, later.data?.text);
    assert.match(later.data?.text ?? '', /^4\.7\.1 Sending limit reached: lab has a budget of 14 SMS parts a day \(\d+ used\); try again later$/);
  });
});

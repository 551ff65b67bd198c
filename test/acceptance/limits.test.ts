import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

type Simulator = Awaited<ReturnType<typeof startSimulator>>;

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
});

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { GATEWAY_ACCOUNT, killSpawnedRelays, relayEnvironment, removeDir, spawnRelay, startSimulator, tempDir, waitFor } from '../helpers/relay.ts';
import { sendMail } from '../helpers/smtp.ts';

/**
 * HTML the converter cannot read whatever the relay does beforehand: its recursion overflows (a
 * RangeError). Real mail cannot reach that since its nesting is bounded (MAX_HTML_DEPTH), so the
 * relay here runs with a stack too small for the 512 levels it keeps; the refusal must still be for
 * good (554, UNREADABLE_MAIL), never 451, which the client's server would retry for days.
 */
const dirs: string[] = [];
after(() => {
  killSpawnedRelays();
  dirs.forEach(removeDir);
});

describe('HTML the converter overflows on', () => {
  test('is refused for good (554), or its plain alternative is sent; a plain mail still goes', async () => {
    const gateway = await startSimulator();
    const dir = tempDir('smsrelay-unreadable-');
    dirs.push(dir);
    const env = relayEnvironment(dir, { gateway: { provider: 'intellisoftware', url: gateway.url, ...GATEWAY_ACCOUNT } });
    // Enough stack to start and read ordinary mail, too little for 512 levels of html-to-text's recursion.
    const relay = await spawnRelay(dir, env, undefined, { nodeArgs: ['--stack-size=150'] });
    try {
      const deep = `${'<div>'.repeat(512)}Generator 2 down${'</div>'.repeat(512)}`;
      const html = await sendMail(relay.smtpPort, { to: ['447700900401@sms.localhost'], body: deep, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
      assert.equal(html.data?.code, 554, html.data?.text);
      assert.match(html.data?.text ?? '', /^5\.6\.0 The mail cannot be read: its HTML is beyond what the relay reads/);

      const body = `--b\r\nContent-Type: text/plain\r\n\r\nThis message is in HTML format.\r\n--b\r\nContent-Type: text/html\r\n\r\n${deep}\r\n--b--`;
      const alternative = await sendMail(relay.smtpPort, {
        to: ['447700900402@sms.localhost'],
        body,
        headers: { 'Content-Type': 'multipart/alternative; boundary=b' },
      });
      assert.equal(alternative.data?.code, 250, alternative.data?.text);

      const plain = await sendMail(relay.smtpPort, { to: ['447700900403@sms.localhost'], body: 'Generator 3 running' });
      assert.equal(plain.data?.code, 250, plain.data?.text);
      await waitFor('both SMS at the gateway', () => gateway.simulator.received.length === 2);
      assert.deepEqual(gateway.simulator.received.map((sms) => sms.text).sort(), ['Generator 3 running', 'This message is in HTML format.']);
    } finally {
      await relay.stop();
      await gateway.close();
    }
  });
});

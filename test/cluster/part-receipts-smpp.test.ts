/**
 * The receipts of a long SMS's parts reaching different relays (#18): each part has its own id and
 * receipt (here SMPP's), and the relays share one PostgreSQL database: two relays each with its own
 * bind to one SMSC, which delivers the receipts of what one relay sent on the other relay's bind. That
 * relay finds the SMS in the store (no orphan reports); the SMS is delivered once every part is, failed
 * at the first part that fails, and its sender hears of it once. Vonage: part-receipts-vonage.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { SmppSimulator } from '../../src/simulators/smpp.ts';
import { query, waitEvery } from '../helpers/cluster.ts';
import { describeOnPostgres } from '../helpers/postgres.ts';
import { removeDir, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { endsOnceNoticed, mailLong, PART_SMS, PATIENCE_MS } from '../helpers/part-receipts.ts';

describeOnPostgres('SMPP: two relays, each with its own bind; the SMSC delivers the receipts on the other relay’s bind', async (url) => {
  const UNDELIVERABLE = '447700900666';
  /**
   * The receipts come once the sending relay has recorded the send, as from a real network. (One that
   * beats that record by milliseconds on another relay meets a race of the PostgreSQL store between
   * recording a send and a report for it, which is not about parts: reported with this change.)
   */
  const RECEIPT_DELAY_MS = 300;
  const account = { username: 'smpp-test', password: 'smpp-pw' };
  const sink = new SmtpSink();
  const smsc = new SmppSimulator({
    ...account,
    accountId: undefined,
    logger: createLogger('silent'),
    undeliverableNumbers: [UNDELIVERABLE],
    reportDelayMs: RECEIPT_DELAY_MS,
  });
  let sender: TestRelay;
  let receiver: TestRelay;

  before(async () => {
    await sink.start();
    const smscUrl = new URL(await smsc.listen());
    const relay = (name: string) =>
      startTestRelay(
        { gateway: { provider: 'smpp', host: smscUrl.hostname, port: Number(smscUrl.port), ...account }, sms: PART_SMS },
        { SMSRELAY_DATABASE_URL: url, SMSRELAY_MAIL_URL: sink.url, SMSRELAY_RELAY_NAME: name },
      );
    // The SMSC delivers on the first bind that can receive: the relay bound first gets every receipt.
    receiver = await relay('relay-b');
    await waitEvery("relay B's bind", () => smsc.bindCount === 1, PATIENCE_MS);
    sender = await relay('relay-a');
  });
  after(async () => {
    await sender.stop();
    await receiver.stop();
    await smsc.close();
    await sink.stop();
    removeDir(sender.dir);
    removeDir(receiver.dir);
  });

  /** Delivery reports relay `relay` took, by what became of them (its /metrics). */
  const reportsTaken = async (relay: TestRelay) => {
    const text = await (await fetch(`http://127.0.0.1:${relay.relay.httpPort}/metrics`)).text();
    return [...text.matchAll(/^smsrelay_webhook_items_total\{kind="dr",result="(\w+)"\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[2]), 0);
  };

  test("a long SMS sent by A, its parts' receipts delivered on B's bind: found (no orphans), delivered, one success notice", async () => {
    const id = await mailLong(sender.relay.smtpPort, '447700900511', 'Valve two', 'dave@example.com');
    await endsOnceNoticed(url, id, 'delivered', sink, 'dave@example.com', 'Valve two');
    const orphans = await query<{ n: string }>(url, "SELECT COUNT(*) AS n FROM sent_parts WHERE provider_id IS NULL AND number = '+447700900511'");
    assert.equal(Number(orphans[0]?.n), 0, 'every part receipt found its SMS');
    assert.deepEqual([await reportsTaken(sender), await reportsTaken(receiver)], [0, 3], "every receipt came on B's bind");
  });

  test("a long SMS whose parts fail, their receipts on B's bind: failed, the failure notice mailed once", async () => {
    const id = await mailLong(sender.relay.smtpPort, UNDELIVERABLE, 'Valve three', 'erin@example.com');
    await endsOnceNoticed(url, id, 'failed', sink, 'erin@example.com', 'Valve three');
  });
});

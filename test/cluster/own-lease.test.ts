/**
 * A relay cut off from PostgreSQL for longer than `delivery.leaseTtl` while gateway requests of its own are open: its
 * leases on those SMS end under its own name, and when the database answers again the relay must not claim them back
 * and send them a second time while the first requests may still reach the phones (docs/several-relays.md, takeover).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeOnPostgres, ownPostgres, withClient, withDatabase } from '../helpers/postgres.ts';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, waitFor } from '../helpers/relay.ts';
import { textTo } from '../helpers/smtp.ts';

const PHONES = ['447700900121', '447700900122', '447700900123', '447700900124'];
/** The shortest lease (MIN_LEASE_TTL_MS), and an outage well past it. */
const LEASE_TTL_MS = 3_000;
const OUTAGE_MS = 2 * LEASE_TTL_MS;

describeOnPostgres('a relay whose database went away past its leases, with requests in flight', async () => {
  test('the database back, the relay does not send again the SMS whose requests are still open: one copy each at the gateway, sent, one attempt', {
    timeout: 120_000,
  }, async () => {
    const server = await ownPostgres();
    const url = withDatabase(server.url, 'postgres');
    const gateway = await startSimulator();
    const relay = await startTestRelay(
      { ...gatewayYaml(gateway.url, { responseTimeout: '60s' }), delivery: { leaseTtl: `${LEASE_TTL_MS}ms` } },
      { SMSRELAY_DATABASE_URL: url },
    );
    const ready = async () => (await fetch(`http://127.0.0.1:${relay.relay.httpPort}/readyz`, { signal: AbortSignal.timeout(3_000) })).status === 200;
    try {
      gateway.simulator.setBehaviour({ mode: 'hang' });
      for (const phone of PHONES) assert.equal((await textTo(relay.relay.smtpPort, phone, `to ${phone}`))?.code, 250);
      await waitFor('the requests open at the gateway', () => gateway.simulator.pendingRequests === PHONES.length || undefined, 15_000);
      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      await server.start();
      await waitFor('the relay at the database again', ready, 30_000);
      // Claims run again (a poll is at most seconds); an SMS claimed back would reach the gateway now.
      await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_TTL_MS));
      assert.equal(gateway.simulator.requests, PHONES.length, 'an SMS in flight was sent again while its first request was open');
      gateway.simulator.setBehaviour({ mode: 'ok' });
      assert.equal(gateway.simulator.releaseHanging(), PHONES.length);
      const sent = await waitFor(
        'the SMS recorded as sent',
        async () => {
          const { rows } = await withClient(url, (client) =>
            client.query("SELECT attempts::int AS attempts, possible_duplicates::int AS possible_duplicates FROM outbound WHERE status = 'sent'"),
          );
          return rows.length === PHONES.length ? rows : undefined;
        },
        30_000,
      );
      assert.deepEqual(
        sent,
        PHONES.map(() => ({ attempts: 1, possible_duplicates: 0 })),
      );
      assert.equal(gateway.simulator.requests, PHONES.length);
    } finally {
      await relay.stop();
      await gateway.close();
      removeDir(relay.dir);
    }
  });
});

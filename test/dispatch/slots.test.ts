import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { freshDatabase, withClient, describeOnPostgres } from '../helpers/postgres.ts';
import { gatewayYaml, removeDir, startSimulator, startTestRelay, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

const SLOTS = 4;
/** The SMS whose outcome's commit the test holds up. */
const HELD_PHONE = '447700900100';
/** The advisory lock (class, key) the test holds; recording HELD_PHONE's SMS as sent waits for it. */
const HOLD = '4242, 17';

const mailTo = async (port: number, phone: string) =>
  queuedId((await sendMail(port, { to: [`${phone}@sms.localhost`], subject: phone, body: `to ${phone}`, headers: { From: 'alice@example.com' } })).data);

describeOnPostgres('dispatch slots bound gateway requests, not commits', async () => {
  test('an outcome whose commit is slow frees its slot: the gateway sees gateway.maxConcurrentRequests requests at once; nothing lost or sent twice', async () => {
    const url = (await freshDatabase()) ?? '';
    const gateway = await startSimulator();
    const relay = await startTestRelay(gatewayYaml(gateway.url, { maxConcurrentRequests: SLOTS }), { SMSRELAY_DATABASE_URL: url });
    // A real slow commit, on the server: recording HELD_PHONE's SMS as sent waits for the lock this session holds.
    await withClient(url, (client) =>
      client.query(`
        CREATE FUNCTION hold_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(${HOLD}); RETURN NEW; END $$;
        CREATE TRIGGER hold_sent BEFORE UPDATE ON outbound FOR EACH ROW WHEN (NEW.status = 'sent' AND NEW.number = '+${HELD_PHONE}') EXECUTE FUNCTION hold_sent();`),
    );
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    const phones = Array.from({ length: 3 * SLOTS }, (_, index) => `4477009002${String(index).padStart(2, '0')}`);
    try {
      await holder.query(`SELECT pg_advisory_lock(${HOLD})`);
      await mailTo(relay.relay.smtpPort, HELD_PHONE);
      await waitFor('the held SMS at the gateway', () => gateway.simulator.received.length === 1 || undefined);
      await waitFor('its outcome waiting for the commit', async () => {
        const { rows } = await holder.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        return rows.length > 0 || undefined;
      });
      // The gateway answered it; its commit waits. Now the gateway holds every answer: what reaches it at once is what the slots allow.
      gateway.simulator.setBehaviour({ mode: 'hang' });
      for (const phone of phones) await mailTo(relay.relay.smtpPort, phone);
      await waitFor(`${SLOTS} requests at the gateway at once`, () => gateway.simulator.pendingRequests === SLOTS || undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(gateway.simulator.pendingRequests, SLOTS, 'never more requests at once than gateway.maxConcurrentRequests');
      await holder.query(`SELECT pg_advisory_unlock(${HOLD})`);
      gateway.simulator.setBehaviour({ mode: 'ok' });
      gateway.simulator.releaseHanging();
      await waitFor('every SMS recorded as sent', async () => {
        const { rows } = await holder.query<{ n: string }>("SELECT COUNT(*) AS n FROM outbound WHERE status = 'sent'");
        return Number(rows[0]?.n) === phones.length + 1 || undefined;
      });
      assert.equal(gateway.simulator.received.length, phones.length + 1, 'each SMS sent once');
    } finally {
      await holder.end();
      await relay.stop();
      await gateway.close();
      removeDir(relay.dir);
    }
  });
});

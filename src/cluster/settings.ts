/**
 * The settings that decide what becomes of queued work whichever relay claims it (docs/several-relays.md):
 * an SMS is sent through the claiming relay's gateway accounts and routes, a reply is mailed from its SMS
 * domain. Relays sharing a database compare them by digest, in their rows of the relays table, so that
 * one started with other settings is told, naming the settings: never the values, nor any secret
 * (each is masked before it is digested).
 */
import { createHash } from 'node:crypto';
import { accountsOf, type Config } from '../config/load.ts';
import { maskedSecrets } from '../config/secrets.ts';

/** Hex digits of a setting's digest kept: enough to tell two configurations apart, short in a row and a log line. */
const DIGEST_CHARS = 16;

/** Each compared setting, by the name an operator looks it up by, and its digest: as a relay's row keeps it (JSON). */
export function settingsDigest(config: Config): string {
  const compared: Record<string, unknown> = {
    'sms.domains': [...config.sms.domains].map((domain) => domain.toLowerCase()).sort(),
    'gateway accounts': accountsOf(config).map(({ provider, simulated, url, backupUrl, username, accountId }) => ({
      provider,
      simulated,
      url: url ?? null,
      backupUrl: backupUrl ?? null,
      username: username ?? null,
      accountId: accountId ?? null,
    })),
    'gateway.routes': config.gateway.routes?.map((route) => ({ ...route, providers: route.providers.map((account) => account.provider) })) ?? null,
    'accounts[].gateway': config.accounts.map((account) => ({ username: account.username, gateway: account.gateway?.username ?? null })),
  };
  return JSON.stringify(
    Object.fromEntries(
      Object.entries(compared).map(([setting, value]) => [
        setting,
        createHash('sha256')
          .update(JSON.stringify(maskedSecrets(value)))
          .digest('hex')
          .slice(0, DIGEST_CHARS),
      ]),
    ),
  );
}

/**
 * The settings whose digests differ between two relays' rows; none when either row has no digests
 * (a relay of a version before them).
 */
export function settingsDiffering(mine: string, theirs: string | undefined): string[] {
  if (theirs === undefined) return [];
  const own = JSON.parse(mine) as Record<string, string>;
  const other = JSON.parse(theirs) as Record<string, string>;
  return Object.keys(own).filter((setting) => other[setting] !== undefined && other[setting] !== own[setting]);
}

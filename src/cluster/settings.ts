/**
 * The settings every relay sharing a database must share (docs/several-relays.md, "What each relay needs"):
 * queued work goes by the claiming relay's (an SMS is sent through its gateway accounts and routes, a reply
 * is mailed from its SMS domain, signed with its DKIM key), and a request by the receiving relay's (a
 * webhook checked against its tokens, a mail against its accounts and networks, a lease given its
 * leaseTtl). Relays compare them by digest, in their rows of the relays table, so that one started with
 * other settings is told, naming the settings: never the values, nor any secret (each is masked before it
 * is digested, or, where the secret itself must agree, hashed by secretDigest first).
 */
import { createHash, createPrivateKey, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { accountsOf, type Config } from '../config/load.ts';
import { publicBase } from '../config/schema.ts';
import { maskedSecrets, SECRET_KEYS } from '../config/secrets.ts';
import { canonicalNetwork } from '../policy/networks.ts';
import { sentTo } from '../providers/http-endpoint.ts';

/** Hex digits of a setting's digest kept: enough to tell two configurations apart, short in a row and a log line. */
const DIGEST_CHARS = 16;

/**
 * The salt of secretDigest: the same on every relay, so that their digests compare, and this application's own, so
 * that a table of hashes made for another use does not apply.
 */
const SECRET_SALT = 'smsrelay: a secret relays sharing a database must share';
/** Bytes scrypt derives: its output is digested and cut to DIGEST_CHARS like every setting's. */
const SECRET_BYTES = 32;

/**
 * Secrets that must agree between relays (the webhook tokens, the DKIM key), as a value a digest can be made of and
 * the relays table keep: scrypt (Node's defaults, some 50 ms and 16 MB a digest, one for each kind of secret, at each
start or `status`, never on a mail's or a webhook's path), so that whoever
 * reads that table cannot test guesses of a token at a hash's speed, of which DIGEST_CHARS keeps only 64 bits anyway.
 */
function secretDigest(secrets: readonly (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const secret of secrets) hash.update(createHash('sha256').update(secret).digest());
  return scryptSync(hash.digest(), SECRET_SALT, SECRET_BYTES).toString('hex');
}

/**
 * The DKIM key as relays compare it: a secret, in one form (PKCS#8 DER) whichever form and line ends its file has, so that
 * the same key written otherwise is no difference; the file's bytes when no key can be read from it, none when unreadable
 * (the signer says why).
 */
function dkimKey(file: string): Buffer | undefined {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch {
    return undefined;
  }
  try {
    return createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  } catch {
    return pem;
  }
}

/**
 * The secrets of each gateway account (its password, a provider's signing secret: every key SECRET_KEYS names), each with
 * its provider and key, in one order: a relay with another Twilio auth token refuses the webhooks signed with the others'.
 */
function gatewaySecrets(config: Config): string[] {
  return accountsOf(config)
    .flatMap((account) =>
      Object.entries(account)
        .filter(([key, value]) => SECRET_KEYS.test(key) && typeof value === 'string')
        .map(([key, value]) => `${account.provider}\0${key}\0${String(value)}`),
    )
    .sort();
}

/**
 * A gateway URL as its requests go out (http-endpoint.ts, sentTo), so that `http://GW:80/api/` and `http://gw/api`, the
 * same requests, are no difference; another scheme's (an SMPP host's) as written.
 */
function asSent(url: string | undefined): string | null {
  if (url === undefined) return null;
  const sent = sentTo(url);
  return sent === undefined ? url : `${sent.origin}${sent.prefix}${sent.query}`;
}

const byUsername = <T extends { readonly username: string }>(accounts: readonly T[]): T[] =>
  [...accounts].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));

/** Each compared setting, by the name an operator looks it up by, and its digest: as a relay's row keeps it (JSON). */
export function settingsDigest(config: Config): string {
  const compared: Record<string, unknown> = {
    'sms.domains': [...config.sms.domains].map((domain) => domain.toLowerCase()).sort(),
    'gateway accounts': accountsOf(config).map(({ provider, simulated, url, backupUrl, username, accountId }) => ({
      provider,
      simulated,
      url: asSent(url),
      backupUrl: asSent(backupUrl),
      username: username ?? null,
      accountId: accountId ?? null,
    })),
    'gateway.routes': config.gateway.routes?.map((route) => ({ ...route, providers: route.providers.map((account) => account.provider) })) ?? null,
    // The secrets of the accounts above: a relay with another one is refused by the provider or refuses its signed webhooks.
    'gateway secrets': secretDigest(gatewaySecrets(config)),
    // Signatures over the URL (Twilio's) are checked against it, and providers are told webhook URLs under it.
    'gateway.publicUrl': config.gateway.publicUrl === undefined ? null : publicBase(config.gateway.publicUrl),
    // Accounts in any order: a username names one.
    'accounts[].gateway': byUsername(config.accounts).map((account) => ({ username: account.username, gateway: account.gateway?.username ?? null })),
    // The accounts but their gateway (above), their password hashes masked: one password hashed twice differs (its salt).
    accounts: byUsername(config.accounts).map(({ gateway: _gateway, ...account }) => account),
    networks: config.networks,
    // Where the webhooks are taken from (else 403), each network in one form, in any order.
    'inbound.allowedNetworks': config.inbound.allowedNetworks ? [...new Set(config.inbound.allowedNetworks.map(canonicalNetwork))].sort() : null,
    // The tokens a webhook is taken with, in either order (a rotation sets the new one first), and where it travels;
    // under a key maskedSecrets leaves as it is (`tokens` it would mask).
    'inbound.webhookToken': {
      taken: secretDigest([config.inbound.webhookToken, config.inbound.previousWebhookToken].filter((token) => token !== undefined).sort()),
      // A header's name is read in any case (HTTP's, as the webhooks read it).
      header: config.inbound.webhookTokenHeader?.toLowerCase() ?? null,
    },
    'mail.dkim': config.mail.dkim ? { selector: config.mail.dkim.selector, key: secretDigest([dkimKey(config.mail.dkim.privateKeyFile) ?? '']) } : null,
    'delivery.leaseTtl': config.delivery.leaseTtl,
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

import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import ms from 'ms';
import { z } from 'zod';
import { ROUTE_MATCH } from '../dispatch/routes.ts';
import { databaseUrlProblem } from '../store/postgres/url.ts';
import { wholeNumber } from '../providers/settings-fields.ts';
import { canonicalDomain } from '../mail/addresses.ts';
import { isCountryCode } from '../sms/numbers.ts';
import { MAX_PORT, outOfRangePort } from '../ports.ts';
import { EMPTY_VALUE } from './hints.ts';
import { maskedUrl } from '../masked-url.ts';

/** RFC 5321 §4.5.3.1.7: at least 100 recipients must be accepted; more per mail is rarely legitimate. */
const DEFAULT_MAX_RECIPIENTS = 100;
/** Distribution lists expand after RCPT; this bounds what one mail can fan out to (cost, gateway load). */
const DEFAULT_MAX_NUMBERS_PER_MAIL = 1000;
/** Plenty for a text message with HTML and a signature image; refuses attachment dumps early. */
const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** Concurrency cap across the SMTP listeners: beyond it clients get 421 and retry, instead of the relay starving. */
const DEFAULT_MAX_CONNECTIONS = 100;
/**
 * Connections at once from one address outside the trusted networks: a fifth of the default
 * smtp.maxConnections, so that one client (an attacker holding slots, a runaway device) leaves the
 * rest to everyone else. Not lower: an upstream MTA authenticating from outside opens as many as its
 * concurrency for the destination (Postfix's smtp_destination_concurrency_limit, 20 by default), and
 * it defers the mail a 421 at connect answers for its backoff (Postfix: 5 minutes), alerts included.
 */
const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 20;
/** RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command. */
const DEFAULT_SMTP_IDLE_TIMEOUT = '5m';
/** Puzzel caps at 6 parts (its documentation); 6 parts is ~900 GSM-7 characters, plenty for an alert. */
const DEFAULT_MAX_PARTS = 6;
/**
 * Connections at once on the HTTP port: a provider forwards over a few, a console user's browser over
 * six; far below the 1024 file descriptors systemd gives a service by default, which the SMTP
 * listener, the store and the gateway need too.
 */
const DEFAULT_HTTP_MAX_CONNECTIONS = 512;
/**
 * Connections at once on the HTTP port from one address: an eighth of http.maxConnections, so that one
 * client holding idle connections (each kept up to the 10 s idle timeout) cannot take the slots
 * /healthz and the webhooks need; ten times what a browser (six) or a provider (a few) opens.
 */
const DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT = 64;
/** 100 a second from one address: far above a provider's forwarding, far below a flood. */
const DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE = 6000;
/** Room for the WAL, a checkpoint and the queue of a busy hour. */
const DEFAULT_MIN_FREE_MEGABYTES = 200;
/** A gateway that does not even accept the TCP connection in 5 s is down: try the backup. */
const DEFAULT_CONNECT_TIMEOUT = '5s';
/** Long enough for a slow gateway under load; a timeout after sending is ambiguous (maybe sent). */
const DEFAULT_RESPONSE_TIMEOUT = '30s';
/** Requests in flight to the gateway at once; duplicates after a crash are bounded by this. */
const DEFAULT_MAX_CONCURRENT_REQUESTS = 8;
/**
 * What the stop gives open SMTP sessions and gateway requests in flight: most answers come in well
 * under a second, and the whole stop stays far inside systemd's TimeoutStopSec (60 s in the unit of
 * docs/operations.md, 90 s by default), so the relay is never killed in the middle of closing its store.
 */
const DEFAULT_SHUTDOWN_TIMEOUT = '20s';

/** The provider when none is configured: IntelliSoftware's simulator on the relay's own HTTP port. */
export const DEFAULT_PROVIDER = 'simulator';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The shortest `delivery.leaseTtl`: three heartbeats of a second each, so that one a second late loses nothing. */
export const MIN_LEASE_TTL_MS = 3_000;

const DURATION_HINT = 'write a duration such as 30s, 5m or 24h';

/**
 * The longest wait the relay times: Node's timers and socket timeouts hold at most 2^31-1 ms
 * (24.8 days) and fire after 1 ms beyond it (TimeoutOverflowWarning), which cut a SIGTERM's
 * `shutdownTimeout: 1000d` short at once. 24 days is the round figure below.
 */
export const MAX_WAIT_MS = 24 * 24 * 60 * 60 * 1000;
/**
 * The longest age compared with stored times (retention, windows, a message's maximum age): ten
 * years is longer than any of them is worth, and keeps `now - span` a time a date can hold.
 */
export const MAX_SPAN_MS = 3650 * 24 * 60 * 60 * 1000;

/**
 * The shortest of any duration: at 0 (or a few ms) a timer is a busy loop, and the relay's waits are
 * no longer waits (a failing gateway asked a thousand times a second by `retryMinDelay: 0s`). A tenth
 * of a second is below any wait meant as one; settings that need longer have their own minimum.
 */
const MIN_DURATION_MS = 100;

/** Written `30s`, `5m`, `24h`; milliseconds once parsed, at most `maxMs` (`why` says why); each setting pipes it to its minimum. */
function durationUpTo(maxMs: number, why: string) {
  return z
    .string({ error: (issue) => `${DURATION_HINT}${typeof issue.input === 'number' ? ` (a number needs its unit: ${issue.input}s, ${issue.input}m…)` : ''}` })
    .transform((value, ctx) => {
      // ms throws on an empty text (an empty variable) rather than answering NaN.
      const millis = value.trim() === '' ? Number.NaN : ms(value as ms.StringValue);
      if (typeof millis !== 'number' || !Number.isFinite(millis) || millis < 0 || !/[a-z]\s*$/i.test(value)) {
        ctx.addIssue({ code: 'custom', message: `${DURATION_HINT}, not "${value}"` });
        return z.NEVER;
      }
      if (millis > maxMs) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is too long: write at most ${ms(maxMs, { long: false })} (${why})` });
        return z.NEVER;
      }
      return millis;
    });
}

/** A duration setting's minimum, piped after `duration` or `span`: `why` says what a shorter one breaks. */
function atLeast(minMs: number, why: string) {
  return z.number().min(minMs, `write at least ${ms(minMs)}: ${why}`);
}

/** Why a wait the relay times (a delay, an interval) has its minimum: at 0 it is a busy loop. */
const WAIT_REASON = 'a shorter wait is none, a busy loop';
/** Why a timeout has its minimum: at 0 it gives up on what it waits for before it can happen. */
const TIMEOUT_REASON = 'a shorter timeout gives up before what it waits for can happen';
/** Why an age compared with stored times has its minimum: at 0 everything is older than it at once. */
const AGE_REASON = 'a shorter age is none, everything is older than it at once';
/**
 * `store.retention: 0s`'s answer (docs/operations.md, Upgrading): an age of 0 would erase every finished
 * message at the next sweep, while an older release's `0s` plausibly meant "erase nothing".
 */
const RETENTION_ZERO = 'write an age above 0 (30d), or keep to erase nothing';
/** A wait, a timeout and an age with the shortest minimum of any duration. */
const waitMinimum = () => atLeast(MIN_DURATION_MS, WAIT_REASON);
const timeoutMinimum = () => atLeast(MIN_DURATION_MS, TIMEOUT_REASON);
const ageMinimum = () => atLeast(MIN_DURATION_MS, AGE_REASON);

/**
 * The shortest `smtp.idleTimeout`: 0 switched the socket timeout off, so a client that connects and
 * says nothing held one of `smtp.maxConnections` for ever (a slowloris needs only that many). RFC 5321
 * §4.5.3.2.7 asks servers to wait 5 minutes; 10 s still lets a slow client finish a command.
 */
export const MIN_SMTP_IDLE_TIMEOUT_MS = 10_000;

/**
 * The shortest `console.sessionIdleTimeout`: a person reads a page or fills in a form for longer than a
 * few seconds between requests; `0s` ended every session at the page after sign-in, locking everyone out.
 */
export const MIN_CONSOLE_SESSION_IDLE_MS = 60_000;
/** The shortest `console.sessionMaxAge`: a sign-in must last long enough to find a message and act on it. */
export const MIN_CONSOLE_SESSION_MAX_AGE_MS = 5 * 60_000;
/**
 * The shortest gateway `connectTimeout` and `responseTimeout`: a request across the internet, its TLS
 * handshake included, takes a few hundred ms; below a second requests time out before any answer can
 * come, and a response timeout counts as possibly sent and is retried (`0s` sent one SMS 7 times in 12 s).
 */
const MIN_GATEWAY_TIMEOUT_MS = 1_000;
/**
 * The shortest `delivery.maxAge`: the first attempt is made at once, but it needs a moment and a slow
 * queue longer; `0s` expired every SMS "(no attempt)" after its 250.
 */
const MIN_MAX_AGE_MS = 1_000;

/**
 * A duration as a file would have it, in the largest unit that shows it exactly: 300000 → `5m`,
 * 90000 → `90s` (ms() would round it to `2m`). Days only from two on: a day reads `24h`, as the
 * README's defaults are written.
 */
export function formatDuration(millis: number): string {
  const [unit, size] = DURATION_UNITS.find(([, size, least]) => millis >= size * least && millis % size === 0) ?? ['ms', 1];
  return `${millis / size}${unit}`;
}

const DURATION_UNITS = [
  ['d', 86_400_000, 2],
  ['h', 3_600_000, 1],
  ['m', 60_000, 1],
  ['s', 1000, 1],
] as const;

/** A wait the relay times (a timeout, a delay, an interval): at most MAX_WAIT_MS. */
export const duration = durationUpTo(MAX_WAIT_MS, 'the longest a timer can wait');
/** An age compared with stored times (a window, a retention): at most MAX_SPAN_MS. */
export const span = durationUpTo(MAX_SPAN_MS, 'ten years');

/**
 * A list; a single value written without brackets (`domains: sms.example.com`) is taken as a list
 * of one, since that is what it means. `example` shows the list form in the hint for anything else.
 */
function list<Item extends z.ZodType>(item: Item, example: string, atLeastOne?: string) {
  const array = z.array(item, { error: `write a list: ${example}` });
  return z.preprocess((value) => (typeof value === 'string' ? [value] : value), atLeastOne ? array.min(1, atLeastOne) : array);
}

/** ISO 3166 codes; the United Kingdom's is GB ("UK" is only reserved), the mistake everyone makes once. */
function countryCodeHint(value: unknown): string {
  return String(value).toUpperCase() === 'UK' ? 'UK is not an ISO country code: use GB' : 'expected a two-letter country code such as GB or US';
}

/**
 * A start or end marker: kept as written (a marker may hold spaces), but one of spaces alone would
 * cut every text at its first run of them.
 */
const marker = z.string().regex(/\S/, 'write a marker with at least one visible character, such as [EndOfMessage]');

const PORT_HINT = `expected a port number from 0 to ${MAX_PORT}`;
/** Decimal digits only (an empty variable coerced to 0 took any free port); 0 written is any free port. */
const port = wholeNumber(PORT_HINT).pipe(z.number().min(0, PORT_HINT).max(MAX_PORT, PORT_HINT));

export const positiveInt = wholeNumber('write a whole number above 0').pipe(z.number().positive('expected a number above 0'));

/** A listener's address: the brackets of an IPv6 address belong in URLs, not here (the listen would fail with ENOTFOUND). */
const host = z
  .string()
  .min(1, 'expected a host name or IP address')
  .superRefine((value, context) => {
    const bare = /^\[(.*)\]$/.exec(value)?.[1];
    if (bare !== undefined) context.addIssue({ code: 'custom', message: `write the address without brackets: ${bare}` });
  });

/** A host name as DNS writes it (RFC 1123 labels), at most 253 characters. */
const DOMAIN_NAME = hostNamePattern('a-z0-9');

/** A name of labels of `letters` (and inner hyphens) of at most 63 characters, at most 253 in all. */
function hostNamePattern(letters: string): RegExp {
  const label = `[${letters}]([${letters}-]{0,61}[${letters}])?`;
  return new RegExp(`^(?=.{1,253}$)(${label}\\.)*${label}$`, 'i');
}

/**
 * An SMS domain, in the one form RCPT compares (canonicalDomain): an IDN written in Unicode as its A-labels
 * (`smsé.example` is `xn--sms-dma.example`), an absolute name (`sms.example.com.`) without the root's dot, as
 * RCPT reads both. What is still no host name is refused saying what to write.
 */
const domain = z
  .string()
  .trim()
  .transform((written) => canonicalDomain(written) || written)
  .refine((value) => DOMAIN_NAME.test(value), { error: (issue) => domainHint(String(issue.input)) });

/** What to write instead of a value that is no domain name (`written`, as the file or variable has it). */
function domainHint(written: string): string {
  const quoted = JSON.stringify(written);
  const names = written.split(/[,;]/).map((name) => name.trim());
  if (names.length > 1) return `${quoted} is a list written as one name: write [${names.filter(Boolean).join(', ')}]`;
  if (written.startsWith('[')) return `${quoted} is an address literal: an SMS domain is a name, such as sms.example.com`;
  if (written.includes('_')) return `${quoted} is no domain name: a domain name has letters, digits and hyphens, never "_"`;
  return `expected a domain name such as sms.example.com, not ${quoted} (an IDN as written or as its A-labels, xn--…)`;
}

/** A name the HTTP port answers (`http.allowedHosts`): the host alone, as a browser's Host carries it with any port. */
const allowedHost = z
  .string()
  .trim()
  .toLowerCase()
  .transform(withoutRootDot)
  .refine((value) => DOMAIN_NAME.test(value), {
    error: (issue) =>
      `"${String(issue.input)}" is no host name: write the name alone, such as relay.example.com (no scheme, port or path: any port is answered)`,
  });

/**
 * The relay's name in its greeting, EHLO answer and bounces: a domain or an address literal
 * (RFC 5321 §4.1.3: `[192.0.2.1]`, `[IPv6:2001:db8::1]`). Anything else went into the banner as
 * written (`220     ESMTP` for spaces); an empty one fell back to the machine's name unseen.
 */
const smtpHostname = z.string().transform(withoutRootDot).refine(isGreetingName, {
  error: "expected a host name such as relay.example.com or an address literal such as [192.0.2.1]; leave it unset for the machine's name",
});

/** An absolute name (`relay.example.com.`) is the same host; the greeting and EHLO write it without the root's dot. */
export function withoutRootDot(name: string): string {
  return name.endsWith('.') && !name.startsWith('[') ? name.slice(0, -1) : name;
}

/**
 * A name the greeting and bounces can carry: a host name (RFC 1123 labels; an underscore too, as in many
 * internal hosts' names, which Postfix takes in its myhostname as well) or an address literal.
 */
export function isGreetingName(value: string): boolean {
  const literal = /^\[(?:IPv6:)?(.+)\]$/.exec(value);
  if (!literal) return GREETING_NAME.test(value);
  return isIP(literal[1] ?? '') === (value.startsWith('[IPv6:') ? 6 : 4);
}

/** DOMAIN_NAME with underscores in its labels. */
const GREETING_NAME = hostNamePattern('a-z0-9_');

const cidr = z.string().superRefine((value, context) => {
  const [address = '', bits, ...rest] = value.split('/');
  const family = isIP(address);
  const prefix = Number(bits);
  if (family === 0 || address.includes('%') || rest.length > 0 || (bits !== undefined && !(/^\d+$/.test(bits) && prefix <= (family === 4 ? 32 : 128)))) {
    context.addIssue({ code: 'custom', message: `"${value}" is no IP address or network; write one such as 10.0.0.0/8 or ::1/128` });
    return;
  }
  // A network with host bits set would be taken as the network that holds it: a typo widening trust unseen.
  if (bits === undefined) return;
  const network = (family === 4 ? ipaddr.IPv4 : ipaddr.IPv6).networkAddressFromCIDR(value);
  if (network.toString() !== ipaddr.parse(address).toString()) {
    context.addIssue({
      code: 'custom',
      message: `"${value}" has host bits set: write the network ${network.toString()}/${bits}, or ${address}/${family === 4 ? 32 : 128} for the one address`,
    });
  }
});

/**
 * A URL setting of the schemes `protocols`, refused with `expected` unless the URL has that form; one whose only fault
 * is its port (`smtp://host:99999`, `smtp://host:0`) is told so, the port named alone (outOfRangePort).
 */
function urlOf(protocols: readonly string[], expected: string) {
  const isOf = (value: string) => URL.canParse(value) && protocols.includes(new URL(value).protocol);
  return urlSetting((value) => {
    const port = outOfRangePort(value);
    return isOf(port?.mended ?? value) ? port?.problem : expected;
  });
}

/**
 * A URL setting refused with `problemOf`'s words; an empty (or blank) one is said to be empty first, for every URL
 * setting alike: the form a URL should take would send the operator looking for a wrong URL, not an undefined variable.
 */
function urlSetting(problemOf: (value: string) => string | undefined) {
  return z.string().superRefine((value, context) => {
    const problem = /\S/.test(value) ? problemOf(value) : EMPTY_VALUE;
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });
}

export const url = urlOf(['http:', 'https:'], 'expected an http:// or https:// URL');

const smtpUrl = urlOf(['smtp:', 'smtps:'], 'expected smtp://host:port or smtps://host:port');

const textPolicy = z.strictObject({
  /** fallback: the subject only when the body is empty; prepend: subject line, then the body. */
  subject: z.enum(['fallback', 'prepend', 'never']),
  /** refuse: 554 stating length and limit; truncate: cut to the limit and end with "…". */
  overLength: z.enum(['refuse', 'truncate']),
});

/**
 * A text setting that holds E.164 prefixes or numbers (routes' match, destinations, blockedPrefixes, senderIds):
 * YAML reads an unquoted `+47` as the number 47, and the problem says to quote it; any other value that is no text
 * gets `otherwise`, or the hints' "write a text value".
 */
function e164Text(what: 'prefix' | 'number', otherwise?: string) {
  return z.string({
    error: (issue) =>
      typeof issue.input === 'number' ? `write the ${what} in quotes: "+${issue.input}" (YAML read it as the number ${issue.input})` : otherwise,
  });
}

const senderPattern = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[^@\s]*@[^@\s]+$/, 'expected an address such as alerts@example.com or a domain such as @example.com');

/**
 * A sender id a mail may choose (X-SMS-From, a subject's From:): a name as written (compared without
 * regard to case: "hsbc" shows as much like HSBC), a number in international form (`+` and digits), a
 * number prefix ending in `*`, or `*` for any. A name (not starting with `+`) has at most 64 characters,
 * as X-SMS-From (a Twilio Messaging Service SID is 34).
 */
const senderIdPattern = e164Text('number')
  .trim()
  .refine((value) => value === '*' || /^\+\d{1,15}\*?$/.test(value) || (/^[^\p{Cc}+*][^\p{Cc}*]{0,63}$/u.test(value) && /\D/.test(value)), {
    error: 'expected a sender name such as Acme, a number such as +447700900123, a prefix such as +4477009001*, or *',
  });
const SENDER_IDS_EXAMPLE = '[Acme, "+447700900123", "+4477009001*"]';

/** What a sender may do; unset = no limit. Trusted networks have none; accounts and networks may. */
const senderLimits = {
  /** Sender ids the mail may choose (X-SMS-From, a subject's From:); unset = sms.allowedSenderIds. */
  senderIds: list(senderIdPattern, SENDER_IDS_EXAMPLE).optional(),
  /** Envelope senders allowed (`alerts@example.com` or `@example.com`); unset = any. */
  senders: list(senderPattern, '[alerts@example.com, "@example.com"]').optional(),
  /** Countries (`GB`) or E.164 prefixes (`+353`) that may be texted; accounts default to the default region. */
  destinations: list(
    // One check, so that a wrong value is one line: `uk` is no country code, said once.
    e164Text('prefix').refine((value) => /^\+\d{1,15}$/.test(value) || (/^[A-Z]{2}$/.test(value) && isCountryCode(value)), {
      error: (issue) =>
        /^[a-z]{2}$/i.test(String(issue.input)) ? countryCodeHint(issue.input) : 'expected a country code such as GB or a prefix such as +4477',
    }),
    '[GB, "+353"]',
  ).optional(),
  maxRecipients: positiveInt.optional(),
  maxParts: positiveInt.optional(),
  /** Mails per minute and per day; beyond, 451 4.7.1 (the client retries later). */
  perMinute: positiveInt.optional(),
  perDay: positiveInt.optional(),
  /** SMS parts per day (a budget: each part is billed). */
  dailyParts: positiveInt.optional(),
};

const account = z.strictObject({
  username: z
    .string()
    .min(1)
    .regex(/^[^\s:]+$/, 'expected a user name without spaces or colons'),
  /** Made by `smsrelay hash-password`; never the password itself. */
  passwordHash: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'expected a hash made by `smsrelay hash-password`'),
  /** The mail's From: must be one of the account's `senders` too (no spoofing another address). */
  holdToOwnFrom: z.boolean().default(false),
  /** The account's own gateway credentials (its own bill, its own sender ids); unset = the relay's. */
  gateway: z.strictObject({ username: z.string().min(1), password: z.string().min(1) }).optional(),
  ...senderLimits,
});

/** A console user (issue #19): `operator` acts and sees full numbers; `viewer` reads, numbers masked. */
const consoleUser = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[^\s:]+$/, 'expected a user name without spaces or colons'),
  passwordHash: account.shape.passwordHash,
  role: z.enum(['viewer', 'operator'], { error: 'expected viewer or operator' }),
  /** The `accounts` entry the user's test sends go out as (its policy and limits); unset = no test send. */
  account: z.string().min(1).optional(),
  /** The envelope sender of those test sends; the account's first listed sender when unset. */
  sender: z.email('expected a mail address').optional(),
});

const network = z.strictObject({
  /** A name for logs and refusals. */
  name: z.string().min(1),
  cidr: list(cidr, '[10.1.0.0/16]', 'expected at least one network'),
  ...senderLimits,
});

const ROUTES_HINT = 'write a list of routes, each "- match: [\'+47\']" with "providers: [puzzel, twilio]"';

/** A webhook token's least length: the webhooks face the internet, and a shorter token is guessed by trying. */
const WEBHOOK_TOKEN_MIN_LENGTH = 16;

/**
 * A webhook token (inbound.webhookToken, previousWebhookToken): an empty one (a `${VAR}` never defined, a variable
 * set to nothing) is said to be empty, as every setting's is, not too short.
 */
const webhookToken = z
  .string()
  .min(1, { error: EMPTY_VALUE, abort: true })
  .min(WEBHOOK_TOKEN_MIN_LENGTH, `expected a token of at least ${WEBHOOK_TOKEN_MIN_LENGTH} characters`);

/** One route of `gateway.routes`: what it matches and its providers, first preferred. */
const gatewayRoute = z.strictObject({
  /** Names the route in config problems and logs; its matches when unset. */
  name: z.string().trim().min(1, 'expected a name such as norway').optional(),
  match: list(
    e164Text('prefix', 'expected a prefix, country or *')
      .trim()
      .toUpperCase()
      .refine((value) => ROUTE_MATCH.test(value), {
        error: (issue) =>
          `read as "${String(issue.input)}": expected a prefix ("+" and 1 to 15 digits, such as +1 or +47), a country such as NO, or * for every other number`,
      })
      // "+1" is two characters too: only two letters are read as a country.
      .refine((value) => !/^[A-Z]{2}$/.test(value) || isCountryCode(value), {
        error: (issue) => `read as the country "${String(issue.input)}": ${countryCodeHint(issue.input)}`,
      }),
    '["+47", NO]',
    'expected at least one prefix, country or *',
  ),
  providers: list(z.string().trim().min(1, 'expected a provider name'), '[puzzel, twilio]'),
});

/** `gateway.publicUrl` as the base the webhooks' URLs are built on: its trailing slashes are none of their paths'. */
export function publicBase(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

/**
 * The `gateway` keys every provider shares. A provider plug-in adds its own (its settings schema):
 * the config loader extends this section with the selected plug-in's keys.
 */
export const gatewaySchema = z.strictObject({
  /** A registered provider's name, `<name>-simulator` for its simulator, or `simulator` (IntelliSoftware's). */
  provider: z.string({ error: 'expected a provider name' }).min(1, 'expected a provider name').default(DEFAULT_PROVIDER),
  url: url.optional(),
  backupUrl: url.optional(),
  /**
   * The relay's HTTP port as the provider reaches it (`https://sms.example.com`, through a proxy):
   * the base of the webhook URLs a provider is told per message (Twilio's StatusCallback), and the
   * URL signatures over the URL (Twilio's) are checked against. Unset = what the relay sees.
   */
  publicUrl: url.optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  connectTimeout: duration
    .pipe(atLeast(MIN_GATEWAY_TIMEOUT_MS, 'below a second a connection to a gateway across a network fails before it can be made'))
    .prefault(DEFAULT_CONNECT_TIMEOUT),
  responseTimeout: duration
    .pipe(atLeast(MIN_GATEWAY_TIMEOUT_MS, 'below a second a request times out before its answer can come, and the SMS is sent again'))
    .prefault(DEFAULT_RESPONSE_TIMEOUT),
  maxConcurrentRequests: positiveInt.default(DEFAULT_MAX_CONCURRENT_REQUESTS),
  /** A host that failed is skipped this long (as IntelliSoftware's SDK does with FailOverRecoverySecs). */
  failoverRecovery: duration.pipe(waitMinimum()).prefault('300s'),
  /**
   * Routing across providers (#21): ordered providers per destination prefix or country; unset =
   * `provider` sends everything. Checked as a whole by the loader (src/dispatch/routes.ts).
   */
  routes: z.array(gatewayRoute, { error: ROUTES_HINT }).min(1, ROUTES_HINT).optional(),
  /**
   * The accounts the routes name, by provider (`puzzel`) or simulator (`twilio-simulator`): each the
   * shared account keys and the plug-in's own, validated by that plug-in's schema in the loader.
   */
  providers: z
    .record(z.string(), z.record(z.string(), z.unknown(), { error: 'write the settings of this provider indented under its name' }), {
      error: 'write each provider by its name: puzzel: {username: …, password: …}',
    })
    .optional(),
});

export const configSchema = z.strictObject({
  dataDir: z.string().regex(/\S/, EMPTY_VALUE).default('./data'),
  /** On SIGTERM: how long open SMTP sessions, HTTP requests under way and gateway requests in flight may still take. */
  shutdownTimeout: duration.pipe(timeoutMinimum()).prefault(DEFAULT_SHUTDOWN_TIMEOUT),
  log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
  smtp: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(2525),
      /** Name in the greeting and in bounces; the machine's hostname when unset. */
      hostname: smtpHostname.optional(),
      maxMessageBytes: positiveInt.default(DEFAULT_MAX_MESSAGE_BYTES),
      maxRecipients: positiveInt.default(DEFAULT_MAX_RECIPIENTS),
      maxNumbersPerMail: positiveInt.default(DEFAULT_MAX_NUMBERS_PER_MAIL),
      maxConnections: positiveInt.default(DEFAULT_MAX_CONNECTIONS),
      maxConnectionsPerClient: positiveInt.default(DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
      idleTimeout: duration
        .pipe(atLeast(MIN_SMTP_IDLE_TIMEOUT_MS, 'a connection that says nothing must be closed some time (0 would never close it)'))
        .prefault(DEFAULT_SMTP_IDLE_TIMEOUT),
      /**
       * Clients that may send without AUTH, with no limit but the destination blocklists. Loopback
       * only by default. An MTA in front of the relay on this host makes all it forwards "trusted".
       */
      trustedNetworks: list(cidr, '[127.0.0.0/8, 10.0.0.0/8]').default(['127.0.0.0/8', '::1/128']),
      /** The operator's key and certificate (PEM files): STARTTLS on the port, and the TLS port. Reloaded on SIGHUP. */
      tls: z.strictObject({ key: z.string().min(1), cert: z.string().min(1) }).optional(),
      /** A second listener with implicit TLS (RFC 8314 submissions, usually 465); needs `tls`. */
      tlsPort: port.optional(),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(8080),
      /** Connections at once on the HTTP port; more are closed at once (each holds a file descriptor). */
      maxConnections: positiveInt.default(DEFAULT_HTTP_MAX_CONNECTIONS),
      /** Connections at once from one address, except this host's loopback and `trustedProxies` (a proxy carries everyone's). */
      maxConnectionsPerClient: positiveInt.default(DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT),
      /**
       * Reverse proxies whose X-Forwarded-For (and, for the console, X-Forwarded-Proto) are believed, for
       * the webhooks and the console; anyone else's are ignored. `console.trustedProxies` is its old name.
       */
      trustedProxies: list(cidr, '[127.0.0.1/32]').optional(),
      /**
       * Names the HTTP port answers besides IP addresses, `localhost` and the publicUrls' hosts: others
       * get 421 (DNS rebinding). A proxy that forwards the public Host needs its name here.
       */
      allowedHosts: list(allowedHost, '[relay.example.com, sms.example.org]').default([]),
      /** Source networks the built-in simulators answer (their control routes fake the provider); others get 403. */
      simulatorNetworks: list(cidr, '[127.0.0.0/8, 10.0.0.0/8]').default(['127.0.0.0/8', '::1/128']),
    })
    .prefault({}),
  sms: z
    .strictObject({
      domains: list(domain, '[sms.example.com]', 'expected at least one SMS domain').default(['sms.localhost']),
      defaultRegion: z
        .string()
        .toUpperCase()
        .refine(isCountryCode, { error: (issue) => countryCodeHint(issue.input) })
        .optional(),
      maxParts: positiveInt.pipe(z.number().max(255, 'expected at most 255 parts')).default(DEFAULT_MAX_PARTS),
      /** Sender ids any mail may choose, unless its account or network lists its own; unset = any (what a provider takes). */
      allowedSenderIds: list(senderIdPattern, SENDER_IDS_EXAMPLE).optional(),
      /** Distribution lists: `oncall@sms.example.com: ["+447700900123", …]`. */
      lists: z
        .record(z.string(), list(z.string(), '["+447700900123", "07700 900124"]', 'a list needs at least one number'), {
          error: 'write the lists indented under it: oncall@sms.example.com: ["+447700900123"]',
        })
        .default({}),
      /**
       * Local part that, on every SMS domain, takes the IntelliSoftware email interface's subject
       * format `To:<number> From:<id> UserContext:<ctx>` (drop-in for systems set up for it); '' = off.
       */
      subjectAddress: z
        .string()
        .regex(/^[a-z0-9._-]*$/i, 'expected a mailbox name such as sendsms (letters, digits, ".", "_", "-")')
        .toLowerCase()
        .default('sendsms'),
    })
    .prefault({}),
  text: z
    .strictObject({
      subject: textPolicy.shape.subject.default('fallback'),
      overLength: textPolicy.shape.overLength.default('refuse'),
      /** Line beginnings (besides the built-in ones) that open a legal disclaimer: it and all below go. */
      disclaimers: list(z.string().trim().min(1), '["Confidentiality notice"]').default([]),
      /** Text from one of these on is not sent. */
      endMarkers: list(marker, '["[EndOfMessage]"]').default(['[EndOfMessage]']),
      /** Text up to and including one of these is not sent. */
      startMarkers: list(marker, '["[StartOfMessage]"]').default(['[StartOfMessage]']),
      /** Per envelope sender (`alerts@example.com` or `@example.com`), the first that matches wins. */
      senders: z
        .array(textPolicy.partial().extend({ match: list(senderPattern, '["@erp.example.com"]', 'expected at least one address or @domain') }), {
          error: 'write a list: - match: ["@erp.example.com"]',
        })
        .default([]),
    })
    .prefault({}),
  gateway: gatewaySchema.prefault({}),
  delivery: z
    .strictObject({
      /** First retry after a temporary failure; doubles (with jitter) up to retryMaxDelay. */
      retryMinDelay: duration.pipe(waitMinimum()).prefault('5s'),
      retryMaxDelay: duration.pipe(waitMinimum()).prefault('10m'),
      /** An SMS still undelivered after this is bounced: an alert days late is useless. */
      maxAge: span.pipe(atLeast(MIN_MAX_AGE_MS, 'an SMS needs a moment for its first attempt (0s expired it unsent)')).prefault('24h'),
      /** A sender whose SMS is still waiting after this gets one delay notice (RFC 3461 NOTIFY=DELAY). */
      delayNotice: span.pipe(ageMinimum()).prefault('1h'),
      /** The same mail sent again within this time (a 250 lost on the way back) is sent once. */
      resubmissionWindow: span.pipe(ageMinimum()).prefault('10m'),
      /** While the gateway refuses the account (login, credit), one probe request this often. */
      pauseProbeInterval: duration.pipe(waitMinimum()).prefault('1m'),
      /**
       * A relay's leases on the work it sends end this long after its last heartbeat (which renews
       * them every third of it, at most 5 s apart): another relay on the database takes over a dead
       * relay's work after this (#18). At least 3 s, so that a heartbeat a second late loses nothing.
       */
      leaseTtl: duration.pipe(atLeast(MIN_LEASE_TTL_MS, 'a lease outlives three heartbeats of a second each')).prefault('30s'),
    })
    .prefault({}),
  /** Authenticated senders (SMTP AUTH PLAIN/LOGIN, only over TLS or from loopback). */
  accounts: z.array(account, { error: 'write a list of accounts, each starting "- username: …"' }).default([]),
  /** Legacy systems that cannot AUTH: source networks allowed to send, with their own rules. */
  networks: z.array(network, { error: 'write a list of networks, each starting "- name: …"' }).default([]),
  policy: z
    .strictObject({
      /** Refuse premium-rate and shared-cost numbers for everyone (SMS pumping). */
      premiumBlocklist: z.boolean().default(true),
      /** E.164 prefixes no one may text. */
      blockedPrefixes: list(e164Text('prefix').regex(/^\+\d{1,15}$/, 'expected a prefix such as +4490'), '["+4490", "+4487"]').default([]),
      /** The same text to the same number within this window is sent once (flapping monitors); unset or `off` = off. */
      alertStormWindow: z.preprocess((value) => (value === 'off' ? undefined : value), span.pipe(ageMinimum()).optional()),
      /** An inbound SMS that is one of these (alone, case and surrounding punctuation aside) puts the number on the opt-out list… */
      // Unset: the keywords the provider's gateway acts on itself (ProviderPlugin.keywords), else the relay's (RELAY_KEYWORDS).
      stopKeywords: list(z.string().min(1), '[STOP, UNSUBSCRIBE]').optional(),
      /** …and these take it off again. */
      startKeywords: list(z.string().min(1), '[START, UNSTOP]').optional(),
    })
    .prefault({}),
  inbound: z
    .strictObject({
      /** An SMS with no or an unknown user context goes to the latest conversation with its number this recent. */
      conversationWindow: span.pipe(ageMinimum()).prefault('7d'),
      /**
       * A delivery report for an id no SMS has (yet) is kept this long for its SMS's send result, then
       * dropped: a request that hung and was resent got another id, so its first id never comes.
       */
      orphanReportTtl: span.pipe(ageMinimum()).prefault('7d'),
      /** Where an SMS goes that matches no conversation; unset = kept and listed as undeliverable. */
      defaultMailbox: z.email('expected a mail address').optional(),
      /** Webhook callers must present it (`?token=` or `Authorization: Bearer`); unset = no check. */
      webhookToken: webhookToken.optional(),
      /**
       * While the token is changed: the one before, still taken beside webhookToken, so that the reports
       * providers send to the URLs they were given with it are not lost (docs/operations.md, "Changing the webhook token").
       */
      previousWebhookToken: webhookToken.optional(),
      /** Webhook requests per minute from one address (a provider batches; this only stops floods). */
      webhookRequestsPerMinute: positiveInt.default(DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE),
      /** Only these source networks may call the webhooks; unset = any (with the token). */
      allowedNetworks: list(cidr, '[203.0.113.0/24]').optional(),
      /** A header that may carry the token too (Puzzel's "fixed header" option, e.g. X-Api-Key). */
      webhookTokenHeader: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/, 'expected a header name such as X-Api-Key')
        .optional(),
      /** A long SMS still missing parts this long after its first is mailed with what arrived, the missing parts named (#20). */
      reassemblyTimeout: duration.pipe(timeoutMinimum()).prefault('10m'),
    })
    .prefault({}),
  mail: z
    .strictObject({
      /** Smarthost for outgoing mail (bounces, replies); unset = a Maildir in the data dir. */
      url: smtpUrl.optional(),
      /** Envelope and header sender of the relay's own mail; MAILER-DAEMON@<first SMS domain> by default. */
      from: z.email().optional(),
      /**
       * Where mail to postmaster (RFC 5321 §4.5.1) is forwarded through the smarthost; unset = the
       * Maildir without a smarthost, refused (550 5.1.1) with one.
       */
      postmaster: z.email('expected a mail address').optional(),
      retryMinDelay: duration.pipe(waitMinimum()).prefault('10s'),
      retryMaxDelay: duration.pipe(waitMinimum()).prefault('10m'),
      /** DKIM-sign reply mails (From: <number>@<first SMS domain>) with this key, published under the selector. */
      dkim: z
        .strictObject({
          selector: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'expected a DNS label such as sms2026'),
          privateKeyFile: z.string().min(1),
        })
        .optional(),
    })
    .prefault({}),
  store: z
    .strictObject({
      /**
       * How long a write waits for a lock held by another process (an operator's sqlite3 shell) before
       * the store counts as unavailable (SMTP 451). SQLite waits synchronously, stalling the relay
       * meanwhile, so this stays short.
       */
      busyTimeout: duration.pipe(timeoutMinimum()).prefault('1s'),
      /**
       * Below this much free space in the data directory the relay refuses new mail (452 4.3.1) and
       * webhooks (503) rather than fail mid-commit; MB. 0 turns the check off (a filesystem whose free
       * space says nothing, or one the operator watches otherwise).
       */
      minFreeMegabytes: wholeNumber('write a whole number of MB, or 0 to turn the check off')
        .pipe(z.number().min(0, 'expected a number above 0, or 0 to turn the check off'))
        .default(DEFAULT_MIN_FREE_MEGABYTES),
      /** Message texts and headers older than this are erased once finished; unset or `keep` = kept. */
      retention: z.preprocess(
        (value) => (value === 'keep' ? undefined : value),
        // Any age above 0: one shorter than the hourly sweep is erased at the sweep after it (documented). 0 is
        // refused rather than taken as "erase at once": older releases took `0s`, which plausibly meant off.
        span.pipe(z.number().positive(RETENTION_ZERO)).optional(),
      ),
      /** PostgreSQL instead of the SQLite file (postgres://user:password@host:port/database?sslmode=…); unset = SQLite. */
      url: urlSetting(databaseUrlProblem).optional(),
      /**
       * This relay's stable name, the owner of the leases it takes: at start it frees only its own and
       * expired ones (another relay's live lease on a shared database is its work in flight). The hostname when unset.
       */
      relayName: z
        .string()
        .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'expected a name of letters, digits, ".", "_", ":" or "-"')
        .optional(),
    })
    .prefault({}),
  /** The web console under /console (issue #19); off until a user is configured. */
  console: z
    .strictObject({
      /** Who may sign in: a scrypt hash from `smsrelay hash-password` and a role each. */
      users: z.array(consoleUser, { error: 'write a list of console users, each starting "- name: …"' }).default([]),
      /** Source networks the console answers at all; others get 403. */
      allowedNetworks: list(cidr, '[127.0.0.0/8, 10.0.0.0/8]').default(['127.0.0.0/8', '::1/128']),
      /**
       * The console's address as people reach it; `https://` declares that every request arrives over TLS.
       * Its origin only: the pages' links, forms and assets are all under /console, so a proxy that serves
       * the console under a path prefix of its own would break every one of them.
       */
      publicUrl: url
        // A blank value is url's own problem ("must not be empty"), not a path.
        .refine((value) => value.trim() === '' || /^[a-z]+:\/\/[^/?#]+\/?$/i.test(value), {
          error: (issue) =>
            `write only the scheme and host (${maskedUrl(String(issue.input).replace(/^([a-z]+:\/\/[^/?#]+).*$/is, '$1'))}), not a path: the console is served under /console on the relay, and a proxy must forward /console/ to it as it is (no path prefix of its own)`,
        })
        .optional(),
      /** The old name of `http.trustedProxies` (which is copied here). */
      trustedProxies: list(cidr, '[127.0.0.1/32]').default([]),
      /** A session unused this long ends (sign in again). */
      sessionIdleTimeout: span
        .pipe(atLeast(MIN_CONSOLE_SESSION_IDLE_MS, 'a session must outlast the time a person spends on a page (0s would end it at once)'))
        .prefault('30m'),
      /** A session ends this long after sign-in however busy. */
      sessionMaxAge: span.pipe(atLeast(MIN_CONSOLE_SESSION_MAX_AGE_MS, 'a sign-in must last long enough to find a message and act on it')).prefault('12h'),
    })
    .prefault({}),
});

export type ParsedConfig = z.output<typeof configSchema>;

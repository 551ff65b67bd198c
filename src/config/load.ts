import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import ipaddr from 'ipaddr.js';
import ms from 'ms';
import type { CountryCode } from 'libphonenumber-js';
import { LineCounter, parseDocument, visit } from 'yaml';
import { ALIASES_REPEAT_TOO_MUCH, yamlErrorLines } from './yaml-errors.ts';
import type { z } from 'zod';
import { isPostmasterAddress, recipientNumber, unreachableLocalPart } from '../acceptance/recipient-addresses.ts';
import { isAtSmsDomain, listLocalPart, withCanonicalDomain } from '../mail/addresses.ts';
import { type ProviderPlugin, receivesWebhooks } from '../providers/contract.ts';
import { keywordGaps } from './keywords.ts';
import { isLoopbackHost, networkMatcher } from '../policy/networks.ts';
import { matchesSender } from '../policy/senders.ts';
import { composeRegistry, type ProviderRegistry, ProviderRegistryError } from '../providers/registry.ts';
import { SIMULATED_PROVIDERS } from '../simulators/index.ts';
import { normaliseNumber, normaliseWrittenNumber } from '../sms/numbers.ts';
import { NO_REPLY_LOCAL_PART } from '../sms/senders.ts';
import { destinationProblem } from '../policy/destinations.ts';
import { didYouMean, EMPTY_VALUE, keysAt, pathsOf, plainHint, schemaAt } from './hints.ts';
import { maskedUrl, REDACTED, URL_CREDENTIALS } from '../masked-url.ts';
import { maskedSecrets, SECRET_KEYS, URL_KEY } from './secrets.ts';
import { configureRoutes, type GatewayAccount, type GatewayRoute, type SelectedProvider } from './routes.ts';
import { dkimKeyProblem, readTlsPair, type TlsFiles } from './tls.ts';
import { configSchema, DEFAULT_PROVIDER, duration, formatDuration, gatewaySchema, isGreetingName, type ParsedConfig, span, withoutRootDot } from './schema.ts';

/** The file read when SMSRELAY_CONFIG does not name one; optional. */
export const DEFAULT_CONFIG_FILE = 'smsrelay.yaml';

/** `json`: a structure in one variable (`gateway.routes`), for containers set up by environment. */
type EnvKind = 'string' | 'list' | 'json';
type EnvTarget = {
  readonly path: readonly string[];
  readonly kind: EnvKind;
  /** A `json` variable's value as JSON writes it: the hint for one that is no JSON, or not of this shape (a list, a mapping). */
  readonly example?: string;
};
/** Environment names are user interface: each maps to one place in the YAML structure (providers add theirs). */
const ENVIRONMENT: Readonly<Record<string, EnvTarget>> = {
  SMSRELAY_SMTP_HOST: { path: ['smtp', 'host'], kind: 'string' },
  SMSRELAY_SMTP_PORT: { path: ['smtp', 'port'], kind: 'string' },
  SMSRELAY_HTTP_HOST: { path: ['http', 'host'], kind: 'string' },
  SMSRELAY_HTTP_PORT: { path: ['http', 'port'], kind: 'string' },
  SMSRELAY_HTTP_ALLOWED_HOSTS: { path: ['http', 'allowedHosts'], kind: 'list' },
  SMSRELAY_SMS_DOMAINS: { path: ['sms', 'domains'], kind: 'list' },
  SMSRELAY_DEFAULT_REGION: { path: ['sms', 'defaultRegion'], kind: 'string' },
  SMSRELAY_ALLOWED_SENDER_IDS: { path: ['sms', 'allowedSenderIds'], kind: 'list' },
  SMSRELAY_GATEWAY: { path: ['gateway', 'provider'], kind: 'string' },
  SMSRELAY_GATEWAY_URL: { path: ['gateway', 'url'], kind: 'string' },
  SMSRELAY_GATEWAY_BACKUP_URL: { path: ['gateway', 'backupUrl'], kind: 'string' },
  SMSRELAY_GATEWAY_PUBLIC_URL: { path: ['gateway', 'publicUrl'], kind: 'string' },
  SMSRELAY_GATEWAY_USERNAME: { path: ['gateway', 'username'], kind: 'string' },
  SMSRELAY_GATEWAY_PASSWORD: { path: ['gateway', 'password'], kind: 'string' },
  SMSRELAY_MAIL_URL: { path: ['mail', 'url'], kind: 'string' },
  SMSRELAY_MAIL_POSTMASTER: { path: ['mail', 'postmaster'], kind: 'string' },
  SMSRELAY_DATA_DIR: { path: ['dataDir'], kind: 'string' },
  SMSRELAY_SHUTDOWN_TIMEOUT: { path: ['shutdownTimeout'], kind: 'string' },
  SMSRELAY_LOG_LEVEL: { path: ['log', 'level'], kind: 'string' },
  SMSRELAY_DEFAULT_MAILBOX: { path: ['inbound', 'defaultMailbox'], kind: 'string' },
  SMSRELAY_WEBHOOK_TOKEN: { path: ['inbound', 'webhookToken'], kind: 'string' },
  SMSRELAY_PREVIOUS_WEBHOOK_TOKEN: { path: ['inbound', 'previousWebhookToken'], kind: 'string' },
  SMSRELAY_ORPHAN_REPORT_TTL: { path: ['inbound', 'orphanReportTtl'], kind: 'string' },
  SMSRELAY_DATABASE_URL: { path: ['store', 'url'], kind: 'string' },
  SMSRELAY_RELAY_NAME: { path: ['store', 'relayName'], kind: 'string' },
  SMSRELAY_GATEWAY_ROUTES: { path: ['gateway', 'routes'], kind: 'json', example: '[{"match": ["+47"], "providers": ["puzzel", "twilio"]}]' },
  SMSRELAY_GATEWAY_PROVIDERS: { path: ['gateway', 'providers'], kind: 'json', example: '{"puzzel": {"username": "…", "password": "…"}}' },
  SMSRELAY_DELIVERY_LEASE_TTL: { path: ['delivery', 'leaseTtl'], kind: 'string' },
};
/** The yaml package's formats of numbers written other than in decimal digits (with a fraction or not). */
const NOT_DECIMAL_FORMATS: ReadonlySet<string> = new Set(['HEX', 'OCT', 'BIN', 'EXP']);
/** Read before the file, so not part of the structure. */
const CONFIG_FILE_VARIABLE = 'SMSRELAY_CONFIG';

export interface Config {
  readonly dataDir: string;
  readonly shutdownTimeout: ParsedConfig['shutdownTimeout'];
  readonly log: ParsedConfig['log'];
  readonly smtp: Omit<ParsedConfig['smtp'], 'hostname'> & { readonly hostname: string };
  readonly http: Omit<ParsedConfig['http'], 'trustedProxies'> & { readonly trustedProxies: readonly string[] };
  readonly sms: Omit<ParsedConfig['sms'], 'lists' | 'defaultRegion'> & {
    readonly defaultRegion: CountryCode | undefined;
    /** Lower-cased list address → distinct E.164 numbers (a null-prototype record: no inherited keys). */
    readonly lists: Readonly<Record<string, readonly string[]>>;
  };
  readonly gateway: Omit<ParsedConfig['gateway'], 'provider' | 'routes' | 'providers'> &
    GatewayAccount & {
      /** The routes across providers (`gateway.routes`); undefined = this account sends everything. */
      readonly routes: readonly GatewayRoute[] | undefined;
    };
  readonly delivery: ParsedConfig['delivery'];
  readonly text: ParsedConfig['text'];
  readonly inbound: ParsedConfig['inbound'];
  readonly accounts: ParsedConfig['accounts'];
  readonly networks: ParsedConfig['networks'];
  readonly policy: ParsedConfig['policy'];
  readonly mail: ParsedConfig['mail'] & { readonly from: string };
  readonly store: Omit<ParsedConfig['store'], 'relayName'> & { readonly relayName: string };
  readonly console: ParsedConfig['console'];
  /** Where the file settings came from, if any (for `config check` and messages). */
  readonly file: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  readonly config: Config;
  readonly warnings: readonly string[];
  /** The certificate's expiry warning, one of `warnings`: a SIGHUP's TLS reload says it itself, of the files it reads. */
  readonly certificateWarning?: string | undefined;
}

/**
 * Reads `smsrelay.yaml` (or the file SMSRELAY_CONFIG names) and the SMSRELAY_* environment, which
 * wins over the file, validates everything once and returns a deeply frozen object. Every problem is
 * one line naming where the bad value came from and what to write instead. An unknown file key is a
 * problem (a mistyped `sms.domain` must not start the relay on the default domain), with the known key
 * it is closest to; an unknown SMSRELAY_* variable is a warning (the environment holds other
 * programs' variables too, and a newer relay's), with "did you mean" as well. The provider plug-ins are the built-in ones and
 * `options.providers`: the selected one's settings schema validates its own `gateway.*` keys, and
 * every plug-in's `SMSRELAY_*` names are read.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
  options: { readonly providers?: readonly ProviderPlugin[] } = {},
): LoadedConfig {
  const registry = registryOrConfigError(options.providers);
  const environment = environmentOf(registry);
  const warnings: string[] = [];
  const { raw, file } = readConfigFile(env, cwd, warnings);
  const fileRaw = structuredClone(raw);
  const untaken: UntakenValue[] = [];
  const envSources = applyEnvironment(raw, env, environment, warnings, untaken);
  const sources: SettingSources = { envSources, fileRaw, file, env, environment };
  const describe = (path: readonly PropertyKey[], missing?: boolean): string => describePath(path, sources, missing);
  const problems = untaken.map(({ path, reason }) => `${describe(path)}: ${reason}`);
  const selected = selectProvider(raw, registry, problems, describe);
  const parsed = parseSections(raw, selected, registry, problems, warnings, describe);
  warnOverriddenFileValues(fileRaw, envSources, selected?.plugin, warnings, file);
  checkPortClashes(parsed, problems, describe, (path) => isWritten(path, sources));
  if (selected) checkGateway(parsed.gateway, selected, environment, problems, describe, file);
  if (selected && parsed.gateway) warnRewrittenSettings(raw, parsed.gateway, selected.plugin, ['gateway'], warnings, describe);
  if (parsed.smtp && parsed.smtp.tlsPort !== undefined && !parsed.smtp.tls) {
    problems.push(`${describe(['smtp', 'tlsPort'])}: needs smtp.tls (a key and a certificate)`);
  }
  if (parsed.smtp) warnOpenRelay(parsed.smtp.trustedNetworks, warnings, describe);
  // Any address but loopback's: a LAN address takes other hosts' connections as much as 0.0.0.0 does.
  if (parsed.smtp && parsed.accounts && parsed.accounts.length > 0 && !isLoopbackHost(parsed.smtp.host) && !parsed.smtp.tls) {
    warnings.push(
      `${describe(['accounts'])}: no client on another host can use them: ${describe(['smtp', 'host'])} takes other hosts' connections, but AUTH is offered only over TLS or from loopback and smtp.tls is not set; set smtp.tls`,
    );
  }
  const certificateWarning = parsed.smtp?.tls ? checkTlsFiles(parsed.smtp.tls, cwd, problems, describe) : undefined;
  if (certificateWarning) warnings.push(certificateWarning);
  warnOpenSenders(parsed, warnings, describe);
  // The sweep erases what a resend is compared by (its text and Subject): folds within the window become duplicates.
  const retention = parsed.store?.retention;
  const window = parsed.delivery?.resubmissionWindow;
  if (retention !== undefined && window !== undefined && retention < window)
    warnings.push(
      `${describe(['store', 'retention'])}: shorter than ${describe(['delivery', 'resubmissionWindow'])}: a mail's text is erased before its resend is compared with it, so a resend within the window may be texted again (a duplicate, never a lost SMS); set it to at least the window`,
    );
  const dkimKey = parsed.mail?.dkim && dkimKeyProblem(resolve(cwd, parsed.mail.dkim.privateKeyFile));
  if (dkimKey) problems.push(`${describe(['mail', 'dkim', 'privateKeyFile'])}: ${dkimKey}`);
  const lists =
    parsed.sms &&
    normaliseLists(
      parsed.sms,
      { maxNumbersPerMail: parsed.smtp?.maxNumbersPerMail, policy: parsed.policy, mailFrom: parsed.mail?.from },
      problems,
      warnings,
      describe,
    );
  const routes =
    parsed.gateway && lists && selected
      ? configureRoutes({
          gateway: parsed.gateway,
          topLevelName: String(parsed.gateway.provider),
          topLevel: () => accountOf(parsed.gateway as ParsedConfig['gateway'], selected),
          lists,
          choices: providerChoices(registry),
          select: (name) => providerNamed(name, registry),
          account: (values, entry, path) => {
            checkAccount(values, entry, environment, problems, (key, missing) => describe([...path, ...key], missing), file, path.join('.'));
            warnRewrittenSettings(raw, values, entry.plugin, path, warnings, describe);
            return accountOf(values, entry);
          },
          describe,
          problems,
          warnings,
        })
      : undefined;
  if (selected) {
    const check = (maxParts: number | undefined, path: readonly PropertyKey[]) => {
      if (maxParts !== undefined) checkMaxParts(maxParts, path, selected, routes, registry, problems, describe);
    };
    if (valueAt(raw, 'sms.maxParts') !== undefined) check(parsed.sms?.maxParts, ['sms', 'maxParts']);
    // The default is a relay-wide ceiling, each SMS cut to its provider's limit: above every configured provider's
    // it is their highest, the same limit in effect and one a file may hold (config check shows it, to copy back).
    else if (parsed.sms) parsed.sms.maxParts = Math.min(parsed.sms.maxParts, providerPartLimits(selected, routes, registry).highest);
    for (const [index, account] of (parsed.accounts ?? []).entries()) check(account.maxParts, ['accounts', index, 'maxParts']);
    for (const [index, network] of (parsed.networks ?? []).entries()) check(network.maxParts, ['networks', index, 'maxParts']);
  }
  for (const [path, address, reader] of [
    [['mail', 'postmaster'], parsed.mail?.postmaster, "the postmaster's mail"],
    [['inbound', 'defaultMailbox'], parsed.inbound?.defaultMailbox, 'the SMS that answer no conversation'],
  ] as const) {
    if (address !== undefined && parsed.sms && isAtSmsDomain(address, parsed.sms.domains)) {
      problems.push(`${describe(path)}: an address at an SMS domain comes back to this relay (a loop); name the mailbox that reads ${reader}`);
    }
  }
  for (const section of ['delivery', 'mail'] as const) {
    const delays = parsed[section];
    if (!delays || delays.retryMinDelay <= delays.retryMaxDelay) continue;
    const givenMin = valueAt(raw, `${section}.retryMinDelay`) !== undefined;
    const givenMax = valueAt(raw, `${section}.retryMaxDelay`) !== undefined;
    if (givenMin && givenMax) {
      problems.push(
        `${describe([section, 'retryMinDelay'])}: longer than ${section}.retryMaxDelay (${ms(delays.retryMaxDelay)}), the most a retry waits; lower it or raise ${section}.retryMaxDelay`,
      );
    } else if (givenMax) {
      // One end written, the other its default: the written one moves the default with it (a longest wait
      // of 5s makes the shortest 5s too), as the operator meant, rather than refusing a setting they never wrote.
      delays.retryMinDelay = delays.retryMaxDelay;
    } else {
      delays.retryMaxDelay = delays.retryMinDelay;
    }
  }
  // Only a delay notice the operator set: a short maxAge alone (1h, as the notice's default) just means no notice.
  if (parsed.delivery && valueAt(raw, 'delivery.delayNotice') !== undefined && parsed.delivery.delayNotice >= parsed.delivery.maxAge) {
    warnings.push(
      `${describe(['delivery', 'delayNotice'])}: not shorter than delivery.maxAge (${ms(parsed.delivery.maxAge)}): an SMS is bounced before it is late enough for a delay notice, so none is ever sent`,
    );
  }
  // Never written, so no source to name: the line says where to write it.
  if (parsed.smtp && parsed.smtp.hostname === undefined && !isGreetingName(withoutRootDot(hostname()))) {
    problems.push(
      `smtp.hostname: unset, so the greeting would carry this machine's name, ${JSON.stringify(hostname())}, which is no host name; set smtp.hostname (e.g. relay.example.com) in ${file ?? DEFAULT_CONFIG_FILE}`,
    );
  }
  if (parsed.sms) checkSubjectAddress(parsed.sms, problems, describe);
  if (parsed.accounts) checkAccountNames(parsed.accounts, problems, describe);
  if (parsed.console && parsed.accounts) checkConsoleUsers(parsed.console, parsed.accounts, problems, describe);
  if (parsed.http?.trustedProxies && parsed.console && parsed.console.trustedProxies.length > 0) {
    problems.push(
      `${describe(['console', 'trustedProxies'])}: the old name of http.trustedProxies (${describe(['http', 'trustedProxies'])}), which is set too; keep only http.trustedProxies`,
    );
  } else if (parsed.console && parsed.console.trustedProxies.length > 0) {
    warnings.push(`${describe(['console', 'trustedProxies'])}: the old name of http.trustedProxies, read as it for now; rename it to http.trustedProxies`);
  }
  if (problems.length > 0 || !isComplete(parsed) || !lists || !selected) throw new ConfigError(problems);
  const config = finish(parsed, selected as SelectedProvider, lists, routes, file, cwd);
  checkWebhookAuthentication(config, registry, problems, warnings, describe);
  if (config.inbound.previousWebhookToken !== undefined && config.inbound.webhookToken === undefined) {
    problems.push(
      `${describe(['inbound', 'previousWebhookToken'])}: taken only beside the current token while it is changed; set inbound.webhookToken (SMSRELAY_WEBHOOK_TOKEN) to the new token, or unset this one`,
    );
  }
  // Only a token that travels in a URL is read otherwise: one in a header (inbound.webhookTokenHeader) is taken as written.
  const plugins = configuredPlugins(config, registry);
  const inUrl = plugins
    .filter((plugin) => receivesWebhooks(plugin) && !(plugin.tokenInHeader && config.inbound.webhookTokenHeader !== undefined))
    .map((plugin) => plugin.name);
  for (const key of ['webhookToken', 'previousWebhookToken'] as const) {
    const token = config.inbound[key];
    if (token !== undefined && inUrl.length > 0 && !URL_SAFE.test(token)) {
      warnings.push(
        `${describe(['inbound', key])}: holds characters a URL reads otherwise (\`+\` reads as a space, \`&\`, \`#\`, \`%\`…): in the webhook URLs of ${inUrl.join(', ')} write it percent-encoded (\`+\` %2B, \`/\` %2F, \`=\` %3D; the relay does so in the URLs it gives the provider), or choose a token of letters, digits and - . _ ~ (\`openssl rand -hex 24\`)`,
      );
    }
  }
  warnings.push(...keywordGaps(config.policy, plugins, (setting) => describe(['policy', setting])));
  checkSimulatorNetworks(config, registry, problems, describe);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze(config), warnings, certificateWarning };
}

/**
 * The dotted paths of the settings whose values differ between two configurations, a list counting as
 * one setting: what a restart would change (SIGHUP names them). Never the values, which may be secrets.
 */
export function changedSettings(before: unknown, after: unknown, path = ''): string[] {
  const isMapping = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isMapping(before) || !isMapping(after)) return isDeepStrictEqual(before, after) ? [] : [path];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((key) => changedSettings(before[key], after[key], path === '' ? key : `${path}.${key}`));
}

/**
 * Webhooks that take anyone's request (no token, no provider signature) on a port others can reach let
 * anyone fake an SMS: a STOP that opts any number out, a reply mailed to a user. The relay refuses to
 * start so rather than start open. A signature that leaves out what tells one request from another
 * (`signatureGap`) lets a captured request be replayed as a new SMS: a warning says so.
 */
function checkWebhookAuthentication(
  config: Config,
  registry: ProviderRegistry,
  problems: string[],
  warnings: string[],
  describe: (path: readonly PropertyKey[]) => string,
): void {
  if (isLoopbackHost(config.http.host) || config.inbound.webhookToken !== undefined) return;
  for (const account of accountsOf(config)) {
    const gap = account.signature === undefined ? undefined : registry.get(account.provider).signatureGap;
    if (gap === undefined) continue;
    warnings.push(
      `${describe(['http', 'host'])}: the webhooks of ${account.provider} are reachable from other hosts and rely on its signature alone, but its ${gap}; ` +
        `set inbound.webhookToken (SMSRELAY_WEBHOOK_TOKEN) too and give ${account.provider} its webhook URLs with ?token=…`,
    );
  }
  const open = accountsOf(config).filter((account) => receivesWebhooks(registry.get(account.provider)) && account.signature === undefined);
  if (open.length === 0) return;
  const providers = open.map((account) => account.provider).join(', ');
  problems.push(
    `${describe(['http', 'host'])}: the HTTP port is reachable from other hosts, and the webhooks of ${providers} would take anyone's requests ` +
      `(a faked STOP opts a number out): set inbound.webhookToken (at least 16 characters; unset in ${config.file ?? DEFAULT_CONFIG_FILE} and SMSRELAY_WEBHOOK_TOKEN) ` +
      "and give the provider its webhook URLs with ?token=…, or configure the provider's signature, or keep http.host on 127.0.0.1",
  );
}

/**
 * A simulator on the HTTP port answers only `http.simulatorNetworks`, and the relay sends to it from its
 * own address there (127.0.0.1 for a listener on every address): networks without it refused every SMS
 * (403, the provider paused as refusing the account). An SMPP simulator listens on its own port; a host
 * name other than localhost is not looked up here.
 */
function checkSimulatorNetworks(config: Config, registry: ProviderRegistry, problems: string[], describe: (path: readonly PropertyKey[]) => string): void {
  const simulated = accountsOf(config).filter((account) => account.simulated && receivesWebhooks(registry.get(account.provider)));
  const { host, simulatorNetworks } = config.http;
  const sources = ANY_ADDRESS.has(host) ? ['127.0.0.1'] : isIP(host) ? [host] : host.toLowerCase() === 'localhost' ? ['127.0.0.1', '::1'] : [];
  if (simulated.length === 0 || sources.length === 0 || sources.some(networkMatcher(simulatorNetworks))) return;
  problems.push(
    `${describe(['http', 'simulatorNetworks'])}: leaves out ${sources.join(' and ')}, from where the relay sends to the ${simulated.map((account) => account.provider).join(', ')} simulator: it would refuse every SMS (403); add ${sources[0]}${sources[0]?.includes(':') ? '/128' : '/32'}`,
  );
}

/** The plug-ins of the providers the gateway settings name, each once. */
export function configuredPlugins(config: Pick<Config, 'gateway'>, registry: Pick<ProviderRegistry, 'get'>): ProviderPlugin[] {
  return [...new Set(accountsOf(config).map((account) => registry.get(account.provider)))];
}

/**
 * Where a provider that sends reads `<number>-<account id>@` (ProviderCapabilities.accountIdAddresses), RCPT reads it
 * too: the account ids configured for such providers (Puzzel's `serviceId`s, every route's), which alone the digits after
 * the dash may be; none where a simulator's account names none. Undefined where no provider that sends reads the form.
 */
export function readsAccountIdAddresses(
  config: Pick<Config, 'gateway'>,
  registry: Pick<ProviderRegistry, 'get'>,
): { readonly ids: readonly string[] } | undefined {
  const reading = (account: GatewayAccount) => registry.get(account.provider).capabilities.accountIdAddresses === true;
  const { routes } = config.gateway;
  const accounts = (routes ? routes.flatMap((route) => route.providers) : [config.gateway]).filter(reading);
  if (accounts.length === 0) return undefined;
  return { ids: [...new Set(accounts.flatMap((account) => (account.accountId === undefined ? [] : [account.accountId])))] };
}

/** The accounts that send: those the routes name, each provider once; without routes, the gateway's. */
export function accountsOf(config: Pick<Config, 'gateway'>): GatewayAccount[] {
  const { routes } = config.gateway;
  if (!routes) return [config.gateway];
  const byProvider = new Map<string, GatewayAccount>();
  for (const account of routes.flatMap((route) => route.providers)) byProvider.set(account.provider, account);
  return [...byProvider.values()];
}

type Sections = { [Key in keyof ParsedConfig]?: ParsedConfig[Key] };
const SECTIONS = Object.keys(configSchema.shape) as Array<keyof ParsedConfig>;

/**
 * Each top-level section is validated on its own, so that one bad section does not hide the
 * problems of another: the operator sees every problem in one run. An unknown key is a problem
 * naming the key it is closest to; a key of another provider's plug-in (left over from a switch of
 * provider) is a warning.
 */
function parseSections(
  raw: Record<string, unknown>,
  selected: SelectedProvider | undefined,
  registry: ProviderRegistry,
  problems: string[],
  warnings: string[],
  describe: (path: readonly PropertyKey[]) => string,
): Sections {
  for (const key of Object.keys(raw)) {
    if (!(SECTIONS as string[]).includes(key)) problems.push(unknownKey(describe([key]), key, SECTIONS));
  }
  const parsed: Record<string, unknown> = {};
  const provider = selected?.plugin;
  for (const section of SECTIONS) {
    const schema = sectionSchema(section, provider);
    let result = schema.safeParse(raw[section], { error: plainHint });
    const unknown = result.success ? [] : result.error.issues.filter((issue) => issue.code === 'unrecognized_keys');
    if (unknown.length > 0) {
      for (const issue of unknown) {
        for (const key of issue.keys) {
          const where = describe([section, ...issue.path, key]);
          const owner =
            section === 'gateway' && issue.path.length === 0 ? registry.plugins.find((plugin) => Object.hasOwn(plugin.settings.schema.shape, key)) : undefined;
          if (owner) warnings.push(`${where}: a setting of the ${owner.name} gateway, not used with ${selected?.name ?? 'this one'}; ignored`);
          else problems.push(unknownKey(where, key, keysAt(schema, issue.path)));
        }
        deleteKeys(raw[section], issue.path, issue.keys);
      }
      result = schema.safeParse(raw[section], { error: plainHint });
    }
    if (result.success) parsed[section] = result.data;
    else for (const issue of oneIssueEach(result.error.issues)) problems.push(`${describe([section, ...issue.path])}: ${issue.message}`);
  }
  return parsed as Sections;
}

/**
 * zod still checks the length of a value of the wrong type (`routes: ""` is no list, and shorter than
 * one): the type's issue says what to write, its checks' would repeat it as a second line.
 */
function oneIssueEach(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const mistyped = new Set(issues.filter((issue) => issue.code === 'invalid_type').map((issue) => issue.path.join('.')));
  return issues.filter((issue) => issue.code === 'invalid_type' || !mistyped.has(issue.path.join('.')));
}

/** A top-level section's schema; `gateway` with the selected provider's own keys. */
function sectionSchema(section: keyof ParsedConfig, provider: ProviderPlugin | undefined): z.ZodType {
  return section === 'gateway' && provider ? gatewaySchema.extend(provider.settings.schema.shape).prefault({}) : configSchema.shape[section];
}

/**
 * A file value a variable overrides is not used, but it is what runs once the variable goes (another
 * unit file, a shell without it): a wrong one is a warning now, not a refusal then.
 */
function warnOverriddenFileValues(
  fileRaw: Record<string, unknown>,
  envSources: ReadonlyMap<string, string>,
  provider: ProviderPlugin | undefined,
  warnings: string[],
  file: string | undefined,
): void {
  for (const [dotted, variable] of envSources) {
    const [section, ...rest] = dotted.split('.') as [keyof ParsedConfig, ...string[]];
    if (!(SECTIONS as string[]).includes(section) || valueAt(fileRaw, dotted) === undefined) continue;
    const result = sectionSchema(section, provider).safeParse(fileRaw[section], { error: plainHint });
    const issue = result.success ? undefined : result.error.issues.find((found) => found.path.join('.') === rest.join('.'));
    if (issue) warnings.push(`${file ?? DEFAULT_CONFIG_FILE}: ${dotted}: ${issue.message}; overridden by ${variable} for now: correct it or remove it`);
  }
}

/**
 * A provider's setting its schema took in another form than written (a Twilio SID with upper-case hex digits,
 * taken in lower case as Twilio issues it): the relay runs with the form taken, and a warning gives it, so that
 * the file or variable can say what runs. Never a secret's (SECRET_KEYS): a warning is logged, and a plug-in
 * may trim or decode one; a URL's credentials and query values are masked as everywhere. `values`: the
 * account's parsed settings at `path`.
 */
function warnRewrittenSettings(
  raw: Record<string, unknown>,
  values: object,
  plugin: ProviderPlugin,
  path: readonly PropertyKey[],
  warnings: string[],
  describe: (path: readonly PropertyKey[]) => string,
): void {
  const at = [...path].reduce<unknown>(
    (node, key) => (typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined),
    raw,
  );
  for (const key of Object.keys(plugin.settings.schema.shape).filter((name) => !SECRET_KEYS.test(name))) {
    const written = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
    const taken = (values as Record<string, unknown>)[key];
    if (typeof written === 'string' && typeof taken === 'string' && written !== taken) {
      // describe() shows a variable's value: the value written is named once, there.
      warnings.push(`${describe([...path, key])}: taken as "${maskedSecrets(taken, undefined, key)}", the form the ${plugin.name} gateway uses; write that`);
    }
  }
}

/** The value at a dotted path of the raw settings, undefined where there is none. */
function valueAt(raw: Record<string, unknown>, dotted: string): unknown {
  return valueAtPath(raw, dotted.split('.'));
}

/** The value at a path of the raw settings (its keys may hold dots: a list's address), undefined where there is none. */
function valueAtPath(raw: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined), raw);
}

/**
 * The key and certificate as the listeners will use them: a file missing, unreadable, not PEM, the two
 * swapped or of different keys is a problem naming its setting (OpenSSL's own words name neither); a
 * certificate expired or about to is the warning returned (the relay still starts: its renewal is a SIGHUP away).
 */
function checkTlsFiles(tls: TlsFiles, cwd: string, problems: string[], describe: (path: readonly PropertyKey[]) => string): string | undefined {
  const pair = readTlsPair({ key: resolve(cwd, tls.key), cert: resolve(cwd, tls.cert) });
  if (!pair.ok) problems.push(`${describe(['smtp', 'tls', pair.setting])}: ${pair.reason}`);
  else if (pair.warning) return `${describe(['smtp', 'tls', 'cert'])}: ${pair.warning}`;
  return undefined;
}

/** The whole IPv6 space, in which an IPv4 network is its IPv4-mapped part (`::ffff:0:0/96`), as the network matcher takes it. */
const ADDRESS_SPACES = [
  { family: 'IPv4', first: 0xffff_0000_0000n, last: 0xffff_ffff_ffffn },
  { family: 'IPv6', first: 0n, last: (1n << 128n) - 1n },
] as const;

/** A token a URL carries as written (RFC 3986's unreserved characters): any other must be percent-encoded in a provider's URL. */
const URL_SAFE = /^[A-Za-z0-9._~-]*$/;

/**
 * An account or network without `senders` may write any address in a mail's From and Reply-To, and those
 * make the mail that address's to continue or move its conversations with the phones (Senders.mayWriteAs,
 * docs/replies.md): it could take over another mailbox's conversation and read the phone's answers.
 * Allowed (a trusted system may send for many), but said, as an open relay is.
 */
function warnOpenSenders(parsed: Sections, warnings: string[], describe: (path: readonly PropertyKey[]) => string): void {
  const open = [
    ...(parsed.accounts ?? []).map((account, index) => ({ path: ['accounts', index], name: `account ${account.username}`, senders: account.senders })),
    ...(parsed.networks ?? []).map((network, index) => ({ path: ['networks', index], name: `network ${network.name}`, senders: network.senders })),
  ].filter(({ senders }) => senders === undefined);
  for (const { path, name } of open) {
    warnings.push(
      `${describe(path)}: ${name} sets no senders, so its mail may write any address in From and Reply-To and so continue or move any mailbox's conversation with a phone, the phone's answers then going to it; set senders to the addresses it sends from`,
    );
  }
}

/**
 * Trusted networks that take in every IPv4 or every IPv6 address, one alone (`0.0.0.0/0`) or together
 * (`0.0.0.0/1` and `128.0.0.0/1`, or `::ffff:0:0/96`, which holds every IPv4 client): an open relay.
 */
function warnOpenRelay(networks: readonly string[], warnings: string[], describe: (path: readonly PropertyKey[]) => string): void {
  const ranges = networks.map(addressRange);
  const covers = (indexes: readonly number[], first: bigint, last: bigint): boolean => {
    let next = first;
    for (const range of indexes.map((index) => ranges[index] as AddressRange).toSorted((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0))) {
      if (range.first > next) break;
      if (range.last >= next) next = range.last + 1n;
    }
    return next > last;
  };
  const all = networks.map((_network, index) => index);
  const open = ADDRESS_SPACES.filter(({ first, last }) => covers(all, first, last)).map(({ family, first, last }) => ({
    family,
    alone: all.find((index) => covers([index], first, last)),
    networks: networks.filter((_network, index) => overlaps(ranges[index] as AddressRange, first, last)),
  }));
  // One network that opens both (`::/0`) is one warning.
  const [ipv4, ipv6] = open;
  const warned = ipv4 && ipv6 && ipv4.alone !== undefined && ipv4.alone === ipv6.alone ? [{ ...ipv4, family: 'IPv4 and IPv6' }] : open;
  for (const { family, alone, networks: opening } of warned) {
    const [where, what] =
      alone === undefined
        ? [describe(['smtp', 'trustedNetworks']), `${opening.join(', ')} together trust`]
        : [describe(['smtp', 'trustedNetworks', alone]), `${networks[alone]} trusts`];
    warnings.push(
      `${where}: ${what} every ${family} address: anyone who reaches the SMTP port sends SMS without AUTH and without limits (an open relay); list only your own networks`,
    );
  }
}

type AddressRange = { readonly first: bigint; readonly last: bigint };

/** A network (as the schema took it) as its first and last address in the IPv6 space, an IPv4 one IPv4-mapped. */
function addressRange(cidr: string): AddressRange {
  const [address, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), undefined];
  const ipv6 = address.kind() === 'ipv4' ? (address as ipaddr.IPv4).toIPv4MappedAddress() : (address as ipaddr.IPv6);
  const prefix = bits === undefined ? 128 : address.kind() === 'ipv4' ? bits + 96 : bits;
  const first = ipv6.toByteArray().reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
  return { first, last: first + (1n << BigInt(128 - prefix)) - 1n };
}

function overlaps(range: AddressRange, first: bigint, last: bigint): boolean {
  return range.first <= last && range.last >= first;
}

/** Addresses that take a listener on every address of the host: a port there clashes with that port on any address. */
const ANY_ADDRESS = new Set(['0.0.0.0', '::']);

/**
 * Two listeners of this relay on one port: the second would fail to bind with "in use by another
 * program", blaming someone else; here it is named as the relay's own two settings. The line is about
 * the one the operator wrote when the other is its default: that is the value to change, or the one
 * that collides with a default they may not know of.
 */
function checkPortClashes(
  parsed: Sections,
  problems: string[],
  describe: (path: readonly PropertyKey[]) => string,
  written: (path: readonly PropertyKey[]) => boolean,
): void {
  if (!parsed.smtp || !parsed.http) return;
  const listeners = [
    { path: ['smtp', 'port'], host: parsed.smtp.host, port: parsed.smtp.port },
    { path: ['smtp', 'tlsPort'], host: parsed.smtp.host, port: parsed.smtp.tlsPort },
    { path: ['http', 'port'], host: parsed.http.host, port: parsed.http.port },
  ];
  listeners.forEach((listener, index) => {
    // Port 0 is any free port: each listener gets its own.
    const clash = listeners
      .slice(0, index)
      .find((earlier) => listener.port !== undefined && listener.port !== 0 && earlier.port === listener.port && hostsOverlap(earlier.host, listener.host));
    if (!clash) return;
    const [subject, other] = written(clash.path) && !written(listener.path) ? [clash, listener] : [listener, clash];
    // A default is described by its key already ("http.port (the default, 8080; …)"); a written value by its source.
    const named = written(other.path) ? `${other.path.join('.')} (${describe(other.path)})` : describe(other.path);
    problems.push(`${describe(subject.path)}: the same port as ${named}; give each listener its own port`);
  });
}

/**
 * Whether listeners on these hosts can take the same address: one of them on every address, the same
 * address however written, or a host name (`localhost`), which may stand for the other's address; two
 * listeners of the relay on one port are never meant.
 */
function hostsOverlap(a: string, b: string): boolean {
  if (ANY_ADDRESS.has(a) || ANY_ADDRESS.has(b) || isIP(a) === 0 || isIP(b) === 0) return true;
  return ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString();
}

function unknownKey(where: string, key: string, known: readonly string[]): string {
  // The docs name settings by their dotted path (`log.level`); YAML reads `log.level:` as one key with a dot in it.
  const [first, ...rest] = key.split('.');
  if (rest.length > 0 && first !== undefined && known.includes(first)) {
    const nested = [first, ...rest].reduceRight((inner, part) => `{${part}: ${inner}}`, '…').slice(1, -1);
    return `${where}: unknown setting: a key with a dot is not read as a path; write it nested: ${nested} (or ${rest.join('.')} indented under ${first}:)`;
  }
  const suggestion = didYouMean(key, known);
  return `${where}: unknown setting${suggestion ? `; did you mean ${suggestion}?` : known.length > 0 ? ` (known here: ${known.join(', ')})` : ''}`;
}

function isComplete(parsed: Sections): parsed is ParsedConfig {
  return SECTIONS.every((section) => parsed[section] !== undefined);
}

/** The file's settings; what it may hold but likely did not mean (an anchor no alias repeats) goes to `warnings`. */
function readConfigFile(env: NodeJS.ProcessEnv, cwd: string, warnings: string[]): { raw: Record<string, unknown>; file: string | undefined } {
  // Taken without the spaces around it, as every variable; set to nothing it is refused as they are, not read as unset.
  const named = env[CONFIG_FILE_VARIABLE]?.trim();
  if (named === '') {
    throw new ConfigError([`${CONFIG_FILE_VARIABLE}="": empty; name the settings file, or unset it to read ./${DEFAULT_CONFIG_FILE}`]);
  }
  const file = resolve(cwd, named ?? DEFAULT_CONFIG_FILE);
  if (!existsSync(file)) {
    if (named !== undefined) {
      throw new ConfigError([
        `${CONFIG_FILE_VARIABLE}="${named}": file not found (${file}); create it (it may be empty: every setting has its default or its variable), or unset ${CONFIG_FILE_VARIABLE} to read ./${DEFAULT_CONFIG_FILE}`,
      ]);
    }
    return { raw: {}, file: undefined };
  }
  const where = named === undefined ? file : `${CONFIG_FILE_VARIABLE}="${named}"`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EISDIR') {
      const fix =
        named === undefined
          ? `move it away, or set ${CONFIG_FILE_VARIABLE} to the settings file`
          : `name the settings file in it (${CONFIG_FILE_VARIABLE}=${join(named, DEFAULT_CONFIG_FILE)}), or unset it`;
      throw new ConfigError([`${where}: a directory, not a settings file; ${fix}`]);
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ConfigError([`${where}: cannot be read by this user (${code}); let the relay's user read ${file} (chmod, chown)`]);
    }
    throw error;
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, lineCounter });
  const { faults, warnings: unmeant } = yamlErrorLines(file, text, document, lineCounter);
  if (faults.length > 0) throw new ConfigError(faults);
  warnings.push(...unmeant);
  // YAML reads 0x7A31, 0o17 and 1e3 as numbers: kept as written, each setting judges the text as it
  // does a variable's (a port is decimal digits), rather than taking a value no one meant.
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value === 'number' && NOT_DECIMAL_FORMATS.has(node.format ?? '') && node.source !== undefined) node.value = node.source;
    },
  });
  let raw: unknown;
  try {
    raw = document.toJS() ?? {};
  } catch {
    throw new ConfigError([`${file}: ${ALIASES_REPEAT_TOO_MUCH}`]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([`${file}: expected a mapping of settings at the top level`]);
  }
  return { raw: raw as Record<string, unknown>, file };
}

/** A variable's value that cannot be taken: a `json` one that is no JSON of its setting's shape, a `list` one empty or with an empty item. */
type UntakenValue = { readonly path: readonly string[]; readonly reason: string };

/**
 * Overlays SMSRELAY_* variables on the file settings; returns which paths the environment set. A
 * `json` variable that is no JSON of its setting's shape is left out, in `untaken`: the schema's hint
 * would show the file's YAML, not the JSON the variable takes. So is a `list` variable with nothing in
 * it or in one of its items: an empty list is no value the file's `''` gives either (an empty allow-list
 * would quietly allow nothing, the opposite of the default).
 */
function applyEnvironment(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  environment: Readonly<Record<string, EnvTarget>>,
  warnings: string[],
  untaken: UntakenValue[] = [],
): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SMSRELAY_') || name === CONFIG_FILE_VARIABLE || value === undefined) continue;
    const target = environment[name];
    if (!target) {
      const suggestion = didYouMean(name, [CONFIG_FILE_VARIABLE, ...Object.keys(environment)]);
      warnings.push(`${name}: unknown variable, ignored${suggestion ? `; did you mean ${suggestion}?` : ''}`);
      continue;
    }
    const reason = target.kind === 'json' ? jsonProblem(value, target.example ?? '') : target.kind === 'list' ? listProblem(value) : undefined;
    if (reason !== undefined) {
      sources.set(target.path.join('.'), name);
      untaken.push({ path: target.path, reason });
      continue;
    }
    const parsed = target.kind === 'list' ? listItems(value) : target.kind === 'json' ? JSON.parse(value) : value.trim();
    if (setPath(raw, target.path, parsed)) sources.set(target.path.join('.'), name);
  }
  return sources;
}

/** A comma list variable's items, each without the spaces around it. */
function listItems(value: string): string[] {
  return value.split(',').map((item) => item.trim());
}

/**
 * Why a comma list variable cannot be taken: set to nothing (an undefined `${VAR}`), refused as the
 * file's `''` is, or with an empty item (`a.example,,b.example`, a comma at an end: a name left out
 * or a typo), named by its place rather than quietly dropped.
 */
function listProblem(value: string): string | undefined {
  const items = listItems(value);
  if (items.every((item) => item === '')) return `${EMPTY_VALUE}; unset it for the default`;
  const empty = items.flatMap((item, index) => (item === '' ? [index + 1] : []));
  if (empty.length === 0) return undefined;
  const places = empty.length === 1 ? `item ${empty[0]} of ${items.length} is` : `items ${empty.join(', ')} of ${items.length} are`;
  return `${places} empty; write the items separated by single commas, none at either end`;
}

/** Why a `json` variable's value cannot be taken (no JSON, or not a list / mapping as `example` is), in JSON's terms; undefined when it can. */
function jsonProblem(value: string, example: string): string | undefined {
  const write = `write it as JSON, e.g. ${example}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    // Not the parser's words: they quote the value, which may hold a password.
    return `${value.trim() === '' ? 'empty' : 'not valid JSON'}; ${write}`;
  }
  const list = example.startsWith('[');
  if (Array.isArray(parsed) !== list || typeof parsed !== 'object' || parsed === null) return `expected a JSON ${list ? 'list' : 'mapping'}; ${write}`;
  if (Array.isArray(parsed) && parsed.length === 0) return `an empty list; ${write}`;
  return undefined;
}

/** What the loader knows of where each value came from, to name a setting's source in a problem. */
interface SettingSources {
  /** The dotted paths the environment set, with their variables. */
  readonly envSources: ReadonlyMap<string, string>;
  /** The settings file's own values, before the variables. */
  readonly fileRaw: Record<string, unknown>;
  readonly file: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly environment: Readonly<Record<string, EnvTarget>>;
}

/** The variable that set the setting at `dotted`, or a structure holding it, with the path it set. */
function variableSetting(dotted: string, envSources: ReadonlyMap<string, string>): { readonly name: string; readonly envPath: string } | undefined {
  for (const [envPath, name] of envSources) {
    if (dotted === envPath || dotted.startsWith(`${envPath}.`)) return { name, envPath };
  }
  return undefined;
}

/** Whether the operator wrote the setting at `path`, in a variable or in the file, rather than leaving it at its default. */
function isWritten(path: readonly PropertyKey[], sources: SettingSources): boolean {
  return variableSetting(path.map(String).join('.'), sources.envSources) !== undefined || valueAtPath(sources.fileRaw, path) !== undefined;
}

/**
 * A setting as a problem names it: its variable and value, its file key, or, when neither wrote it, its
 * default and where to set it (a key of no file, or one the file does not hold, would send the operator
 * looking for a value nobody wrote). A setting that has no default (one an entry requires) is named as
 * the file key to write, and so is one `missing` from an entry (a required key): in the variable that wrote the entry, if one did.
 */
function describePath(path: readonly PropertyKey[], sources: SettingSources, missing = false): string {
  const dotted = path.map(String).join('.');
  const variable = variableSetting(dotted, sources.envSources);
  if (variable) {
    const { name, envPath } = variable;
    // A structure in one variable: the place inside it, not the whole (secret-bearing) value.
    if (dotted !== envPath && ENVIRONMENT[name]?.kind === 'json') return `${name} at ${dotted.slice(envPath.length + 1)}`;
    const value = sources.env[name] ?? '';
    return `${name}="${shownVariable(value, envPath, name === 'SMSRELAY_DATABASE_URL')}"`;
  }
  const file = sources.file ?? DEFAULT_CONFIG_FILE;
  if (missing) return `${file}: ${dotted}`;
  const absent = valueAtPath(sources.fileRaw, path) === undefined ? schemaAt(configSchema, path)?.safeParse(undefined) : undefined;
  if (!absent?.success) return `${file}: ${dotted}`;
  const value = shownDefault(dotted, absent.data);
  const settable = variableOf(sources.environment, dotted);
  return `${dotted} (the default${value === undefined ? '' : `, ${value}`}; set ${settable ? `${settable} or ` : ''}${dotted} in ${file})`;
}

/**
 * A variable's value as a problem shows it: a secret's (by its setting's key, as `config check` masks it,
 * a provider's own `webhookSecret` too; `gateway.providers`, the accounts with their passwords) masked, a
 * URL's credentials masked. A blank value hides nothing and is shown as it is: it says what is wrong (an
 * undefined `${VAR}`), where `***` would read as some wrong value.
 */
function shownVariable(value: string, envPath: string, showUrlUser: boolean): string {
  if (value.trim() === '') return value;
  if (SECRET_KEYS.test(envPath) || envPath === 'gateway.providers') return REDACTED;
  return URL_KEY.test(envPath) ? maskedUrl(value, showUrlUser) : value;
}

/** A default as a file would write it (a duration with its unit, a list in brackets); undefined for none, or a structure. */
function shownDefault(dotted: string, value: unknown): string | undefined {
  if (typeof value === 'number' && DURATION_SETTINGS.has(dotted)) return formatDuration(value);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) return `[${value.join(', ')}]`;
  return undefined;
}

/** The dotted paths of the duration settings (milliseconds in Config), to show them as written: `5m`. */
export const DURATION_SETTINGS: ReadonlySet<string> = new Set([...pathsOf(configSchema, duration), ...pathsOf(configSchema, span)]);

/**
 * Where a setting's value came from, as a config problem names it: its variable, its file key, or
 * the default and where to set it. For problems found after loading (a port in use).
 */
export function describeSetting(path: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const { raw, file } = readConfigFile(env, cwd, []);
  const fileRaw = structuredClone(raw);
  const envSources = applyEnvironment(raw, env, ENVIRONMENT, []);
  return describePath(path.split('.'), { envSources, fileRaw, file, env, environment: ENVIRONMENT });
}

/** The variable that sets the setting at a dotted path, if any. */
function variableOf(environment: Readonly<Record<string, EnvTarget>>, dotted: string): string | undefined {
  return Object.entries(environment).find(([, target]) => target.path.join('.') === dotted)?.[0];
}

/**
 * Rules across gateway fields, which the per-field schema cannot express. A missing account setting
 * is named where the operator configures: the variable when there is no file (a container set up by
 * environment), the file key when there is one.
 */
function checkGateway(
  gateway: ParsedConfig['gateway'] | undefined,
  selected: SelectedProvider,
  environment: Readonly<Record<string, EnvTarget>>,
  problems: string[],
  describe: (path: readonly PropertyKey[], missing?: boolean) => string,
  file: string | undefined,
): void {
  if (gateway) checkAccount(gateway, selected, environment, problems, (path, missing) => describe(['gateway', ...path], missing), file, 'gateway');
}

/**
 * One account's keys: what a real provider requires, and its password never in clear but to loopback.
 * `describe` names a key of the account; `at` is the account's dotted place (`gateway.providers.puzzel`).
 */
function checkAccount(
  values: Readonly<Record<string, unknown>>,
  { plugin, simulated }: SelectedProvider,
  environment: Readonly<Record<string, EnvTarget>>,
  problems: string[],
  describe: (path: readonly PropertyKey[], missing?: boolean) => string,
  file: string | undefined,
  at: string,
): void {
  if (simulated) return;
  for (const key of ['username', 'password', ...plugin.settings.required]) {
    if (values[key]) continue;
    const variable = variableOf(environment, `${at}.${key}`);
    const needed = `required for the ${plugin.name} gateway`;
    // Written empty (an undefined `${VAR}`): said as empty where it was written, not as missing, nor "set" the variable that is set.
    if (values[key] === '') {
      problems.push(`${describe([key])}: ${EMPTY_VALUE} (${needed})`);
      continue;
    }
    // An empty value is named where it was written; a missing one where it belongs (not "the default"): in the
    // variable holding its structure (SMSRELAY_GATEWAY_PROVIDERS), else the file's key.
    const where = describe([key], values[key] === undefined);
    if (variable && file === undefined) problems.push(`${variable}: ${needed} (or ${at}.${key} in ${DEFAULT_CONFIG_FILE})`);
    else problems.push(`${where}: ${needed}${variable ? ` (or set ${variable})` : ''}`);
  }
  for (const [key, limit] of Object.entries(plugin.settings.credentialLimits ?? {})) {
    const value = values[key];
    if (typeof value === 'string' && Buffer.byteLength(value, 'utf8') > limit.octets) {
      problems.push(`${describe([key])}: ${limit.name} is at most ${limit.octets} characters (octets); write the one the provider gave the account`);
    }
  }
  for (const key of ['url', 'backupUrl'] as const) {
    const value = values[key];
    // Refused, not sent as Basic authentication: where it would go is not one answer (the gateway's own account, as
    // Twilio's Authorization already is, or a proxy in front of it), the Fetch standard refuses such a URL too, and a
    // password in a URL ends up in shell histories and pasted configurations. A proxy's token may ride in the query.
    if (typeof value === 'string' && URL_CREDENTIALS.test(value)) {
      problems.push(
        `${describe([key])}: carries a user name or password before the host, which the relay does not send; put the account's in ${at}.username and ${at}.password, and a proxy's token in the URL's query (?apikey=…), which is sent as written`,
      );
    }
    // Credentials travel in clear only to this machine (an SSH tunnel, a local simulator).
    if (typeof value === 'string' && new URL(value).protocol === 'http:' && !isLoopbackHost(new URL(value).hostname)) {
      problems.push(`${describe([key])}: plain http would send the gateway password in clear; use https://`);
    }
  }
  const link = plugin.settings.link;
  const host = link && values[link.host];
  if (link && typeof host === 'string' && !values[link.tls] && !values[link.protectedLink] && !isLoopbackHost(host)) {
    const named = (key: string): string => {
      const variable = variableOf(environment, `${at}.${key}`);
      return `${at}.${key}: true${variable ? ` (${variable}=true)` : ''}`;
    };
    problems.push(
      `${describe([link.host])}: without TLS the gateway password would go in clear; set ${named(link.tls)}, or ${named(link.protectedLink)} when a VPN or private line protects the link`,
    );
  }
}

/**
 * The plug-in `gateway.provider` names: `<name>`, `<name>-simulator` for a provider with a built-in
 * simulator, or `simulator` (IntelliSoftware's). Undefined, with the problem, for any other value.
 */
function selectProvider(
  raw: Record<string, unknown>,
  registry: ProviderRegistry,
  problems: string[],
  describe: (path: readonly PropertyKey[]) => string,
): SelectedProvider | undefined {
  const section = raw['gateway'];
  const value = typeof section === 'object' && section !== null ? (section as Record<string, unknown>)['provider'] : undefined;
  const provider = value ?? DEFAULT_PROVIDER;
  const selected = typeof provider === 'string' ? providerNamed(provider, registry) : undefined;
  // A value of the wrong type, or none (''), is the schema's to report; an unknown name is reported here.
  if (!selected && typeof provider === 'string' && provider !== '') {
    const choices = providerChoices(registry);
    const suggestion = didYouMean(provider, choices);
    problems.push(`${describe(['gateway', 'provider'])}: expected one of ${choices.join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
  }
  return selected;
}

/** Every value that names a provider: `simulator`, each plug-in, each simulator. */
function providerChoices(registry: ProviderRegistry): string[] {
  const simulatable = registry.names.filter((name) => SIMULATED_PROVIDERS.includes(name));
  return [DEFAULT_PROVIDER, ...registry.names, ...simulatable.map((name) => `${name}${SIMULATOR_SUFFIX}`)];
}

/** The plug-in a provider value names (and whether its simulator), or undefined when it names none. */
function providerNamed(provider: string, registry: ProviderRegistry): SelectedProvider | undefined {
  if (!providerChoices(registry).includes(provider)) return undefined;
  if (provider === DEFAULT_PROVIDER) return { name: provider, plugin: registry.get(SIMULATOR_DEFAULT_PLUGIN), simulated: true };
  const simulated = provider.endsWith(SIMULATOR_SUFFIX);
  return { name: provider, plugin: registry.get(simulated ? provider.slice(0, -SIMULATOR_SUFFIX.length) : provider), simulated };
}

/** The part limit of each configured provider (the top-level one, the routes'), and the highest of them. */
function providerPartLimits(
  selected: SelectedProvider,
  routes: readonly GatewayRoute[] | undefined,
  registry: ProviderRegistry,
): { readonly limits: readonly { readonly name: string; readonly maxParts: number }[]; readonly highest: number } {
  const plugins = [selected.plugin, ...(routes ?? []).flatMap((route) => route.providers.map((account) => providerNamed(account.provider, registry)?.plugin))];
  const limits = plugins.filter((plugin) => plugin !== undefined).map((plugin) => ({ name: plugin.name, maxParts: plugin.capabilities.maxParts }));
  return { limits, highest: Math.max(...limits.map((limit) => limit.maxParts)) };
}

/**
 * A `maxParts` (`sms.maxParts`, an account's or a network's) set above what every configured provider
 * sends can never apply (each SMS is cut to its provider's limit): refused at start, as a
 * `gateway.providers` entry's above its plug-in's is, so the operator learns the real limit here rather
 * than from a mail's 250 later. The default `sms.maxParts` is not checked: it is a relay-wide ceiling,
 * lowered per provider without a word.
 */
function checkMaxParts(
  maxParts: number,
  path: readonly PropertyKey[],
  selected: SelectedProvider,
  routes: readonly GatewayRoute[] | undefined,
  registry: ProviderRegistry,
  problems: string[],
  describe: (path: readonly PropertyKey[]) => string,
): void {
  const { limits, highest } = providerPartLimits(selected, routes, registry);
  if (maxParts <= highest) return;
  const named = [...new Set(limits.map((limit) => `${limit.name} at most ${limit.maxParts} ${limit.maxParts === 1 ? 'part' : 'parts'}`))].join(', ');
  problems.push(`${describe(path)}: ${maxParts} parts can never be sent: ${named} per SMS; set at most ${highest}`);
}

/** `gateway.provider: <name>-simulator` runs that provider's simulator. */
const SIMULATOR_SUFFIX = '-simulator';
/** Whose simulator `gateway.provider: simulator` (the default) runs. */
const SIMULATOR_DEFAULT_PLUGIN = 'intellisoftware';

/** The registry of built-in and extra plug-ins; a bad plug-in is one config problem (exit 78). */
function registryOrConfigError(extra: readonly ProviderPlugin[] | undefined): ProviderRegistry {
  try {
    return composeRegistry(extra);
  } catch (error) {
    if (error instanceof ProviderRegistryError) throw new ConfigError([error.message]);
    throw error;
  }
}

/** The relay's own variables, and each plug-in's for its `gateway.*` keys. */
export function environmentOf(registry: ProviderRegistry): Readonly<Record<string, EnvTarget>> {
  const environment: Record<string, EnvTarget> = { ...ENVIRONMENT };
  for (const plugin of registry.plugins) {
    for (const [name, key] of Object.entries(plugin.settings.environment)) environment[name] = { path: ['gateway', key], kind: 'string' };
  }
  return environment;
}

/**
 * `sms.subjectAddress` at `postmaster` was never reached (the postmaster's mail is taken first); as
 * digits it took the mail of the number they are, or made a number's address look like one.
 */
function checkSubjectAddress(sms: ParsedConfig['sms'], problems: string[], describe: (path: readonly PropertyKey[]) => string): void {
  const local = sms.subjectAddress;
  if (local === '') return;
  const taken = isPostmasterAddress(local, sms.domains)
    ? "the postmaster's address (RFC 5321 §4.5.1), whose mail goes to mail.postmaster: no mail would reach it"
    : /^\d+$/.test(local) || numberOf(local, sms) !== undefined
      ? 'the address of a phone number'
      : undefined;
  if (taken) problems.push(`${describe(['sms', 'subjectAddress'])}: ${taken}; name it with letters, such as sendsms`);
}

/**
 * Account usernames are unique as SMTP AUTH compares them (exactly): of two entries with one name the
 * last replaced the first unseen, so the first's password stopped working and its limits went to the other.
 */
function checkAccountNames(accounts: ParsedConfig['accounts'], problems: string[], describe: (path: readonly PropertyKey[]) => string): void {
  const first = new Map<string, number>();
  accounts.forEach((account, index) => {
    const earlier = first.get(account.username);
    if (earlier === undefined) first.set(account.username, index);
    else {
      problems.push(
        `${describe(['accounts', index, 'username'])}: "${account.username}" is the username of accounts entry ${earlier} too (${describe(['accounts', earlier, 'username'])}); give each account its own`,
      );
    }
  });
}

/**
 * Console user names are unique, and each test-send account is an `accounts` entry (issue #19) that
 * the user's test sends can go out as: from the user's `sender`, else the account's first plain
 * address, either one an address the account may send from. Otherwise every test send would be
 * refused, though the console offers it.
 */
function checkConsoleUsers(
  settings: ParsedConfig['console'],
  accounts: ParsedConfig['accounts'],
  problems: string[],
  describe: (path: readonly PropertyKey[], missing?: boolean) => string,
): void {
  const seen = new Set<string>();
  settings.users.forEach((user, index) => {
    if (seen.has(user.name)) problems.push(`${describe(['console', 'users', index, 'name'])}: "${user.name}" is listed twice`);
    seen.add(user.name);
    if (user.account === undefined) return;
    const account = accounts.find((candidate) => candidate.username === user.account);
    if (!account) {
      problems.push(`${describe(['console', 'users', index, 'account'])}: no accounts entry has username "${user.account}"`);
      return;
    }
    const where = `${describe(['console', 'users', index, 'sender'], user.sender === undefined)}: test sends of console user ${user.name} go out as account ${account.username}`;
    const sender = user.sender ?? testSender(account);
    if (sender === undefined) {
      const senders = account.senders ? `its senders (${account.senders.join(', ')}) name no single address` : 'it lists no senders';
      problems.push(`${where}, but ${senders}: set sender to the address they are sent from`);
    } else if (account.senders && !matchesSender(account.senders, sender)) {
      problems.push(`${where}, which may not send from ${sender} (its senders: ${account.senders.join(', ')}): set sender to one of its addresses`);
    }
  });
}

/** The envelope sender of a console user's test sends when the user names none: the account's first plain address. */
export function testSender(account: { readonly senders?: readonly string[] | undefined }): string | undefined {
  return account.senders?.find((pattern) => !pattern.startsWith('@'));
}

/**
 * List addresses lower-cased and checked against the SMS domains; members normalised to E.164 once. A
 * list with more distinct numbers than `smtp.maxNumbersPerMail` is a problem: every mail to it would be
 * refused. So is a list the relay never reaches or one that takes another address's mail: two written
 * in different cases (one address: the first was dropped), one named as a phone number (mail for that
 * number went to the list), at `postmaster`, at `sms.subjectAddress` or at the relay's own `mail.from`
 * (those come first), at `no-reply` (whose mail, a reply to a short code's SMS, must be refused), and one
 * whose every member `policy.premiumBlocklist` or `policy.blockedPrefixes` refuses. A member refused so in a
 * list of others is a warning: mail to the list reaches the others, never that member.
 */
function normaliseLists(
  sms: ParsedConfig['sms'],
  {
    maxNumbersPerMail,
    policy,
    mailFrom,
  }: { readonly maxNumbersPerMail: number | undefined; readonly policy: ParsedConfig['policy'] | undefined; readonly mailFrom: string | undefined },
  problems: string[],
  warnings: string[],
  describe: (path: readonly PropertyKey[]) => string,
): Record<string, readonly string[]> {
  const lists: Record<string, readonly string[]> = Object.create(null);
  const written = new Map<string, string>();
  for (const [address, members] of Object.entries(sms.lists)) {
    // Keyed and compared as RCPT finds it (sms.domains are canonical): `oncall@smsé.example.` is `oncall@xn--sms-dma.example`.
    // The domain is canonical already; the name keyed as written, as RCPT keys it (lower-casing first could give another key).
    const [name, listDomain, ...rest] = withCanonicalDomain(address).split('@');
    const local = name?.toLowerCase();
    const key = `${listLocalPart(name ?? '')}@${listDomain}`;
    if (!local || !listDomain || rest.length > 0 || !sms.domains.includes(listDomain)) {
      problems.push(`${describe(['sms', 'lists', address])}: a list address must be <name>@<one of the SMS domains>`);
      continue;
    }
    const relaySender = mailFrom ?? `MAILER-DAEMON@${sms.domains[0] ?? ''}`;
    const conflict = listConflict(address, local, sms, relaySender);
    if (conflict) problems.push(`${describe(['sms', 'lists', address])}: ${conflict}`);
    const quoted = unreachableLocalPart(local);
    if (!conflict && quoted?.reached === 'quoted') {
      warnings.push(
        `${describe(['sms', 'lists', address])}: a strict client (Postfix) writes "${local}" in quotes (RFC 5322 specials: ( ) [ ] ; ,), which RCPT refuses as relaying: only a lenient client reaches the list; name it ${suggestedName(quoted.instead, address, sms, relaySender)}`,
      );
    }
    const other = written.get(key);
    if (other !== undefined) {
      problems.push(
        `${describe(['sms', 'lists', address])}: the same address as list ${other} (${describe(['sms', 'lists', other])}): addresses are compared without case and in Unicode NFC, a domain in its A-labels without a final dot; merge the two`,
      );
    }
    written.set(key, address);
    const numbers = new Set<string>();
    const refused: { readonly path: string; readonly why: string }[] = [];
    members.forEach((member, index) => {
      // Written with blanks as a subject's `To:` is (`07700 900123`): words that could each be a number are never joined into
      // another. A member that reading refuses but the whole-string one takes (as releases before it did) keeps that number,
      // warned of: a relay that started on its lists before an upgrade starts after it, and the operator is told to write it plainly.
      const region = sms.defaultRegion as CountryCode | undefined;
      const path = describe(['sms', 'lists', address, index]);
      let result = normaliseWrittenNumber(member, region);
      if (!result.ok) {
        const whole = normaliseNumber(member, region);
        if (!whole.ok) {
          problems.push(`${path}: ${result.reason}`);
          return;
        }
        warnings.push(`${path}: ${result.reason}; taken as ${whole.e164}, as before: write it so (without blanks, or with its +) if that is the number meant`);
        result = whole;
      }
      numbers.add(result.e164);
      const policed = policy && policyRefusal(result.e164, policy);
      if (policed) refused.push({ path: describe(['sms', 'lists', address, index]), why: policed });
    });
    if (numbers.size > 0 && refused.length === numbers.size) {
      problems.push(
        `${describe(['sms', 'lists', address])}: every member is refused (${refused.map(({ why }) => why).join('; ')}): no mail would reach the list; change its members or the policy`,
      );
    } else
      for (const { path, why } of refused)
        warnings.push(
          `${path}: ${why}: mail to the list is sent to its other members, never to this one, and each mail bounces it to its sender; remove it from the list`,
        );
    if (maxNumbersPerMail !== undefined && numbers.size > maxNumbersPerMail) {
      problems.push(
        `${describe(['sms', 'lists', address])}: ${numbers.size} numbers, more than smtp.maxNumbersPerMail (${maxNumbersPerMail}) lets one mail go to; split the list or raise smtp.maxNumbersPerMail`,
      );
    }
    lists[key] = [...numbers];
  }
  return lists;
}

/**
 * Why every sender's mail to `e164` is refused, naming the setting (`policy.premiumBlocklist`, `policy.blockedPrefixes`),
 * or undefined; the destinations of an account or network refuse it for some senders only.
 */
function policyRefusal(e164: string, policy: ParsedConfig['policy']): string | undefined {
  const premium = destinationProblem(e164, { premiumBlocklist: policy.premiumBlocklist, blockedPrefixes: [], allowed: undefined });
  if (premium) return `${premium} (policy.premiumBlocklist)`;
  const blocked = destinationProblem(e164, { premiumBlocklist: false, blockedPrefixes: policy.blockedPrefixes, allowed: undefined });
  return blocked && `${blocked} (policy.blockedPrefixes)`;
}

/**
 * Why a list at `address` (local part `local`, lower-cased) would take another address's mail or none, or undefined.
 * `relaySender`: mail.from, the relay's own address, which takes no mail (resolveRecipient refuses it first).
 */
function listConflict(address: string, local: string, sms: ParsedConfig['sms'], relaySender: string): string | undefined {
  if (isPostmasterAddress(address, sms.domains))
    return "the postmaster's address (RFC 5321 §4.5.1), whose mail goes to mail.postmaster: no mail would reach the list; name it otherwise";
  if (withCanonicalDomain(address).toLowerCase() === withCanonicalDomain(relaySender).toLowerCase())
    return `the relay's own address (mail.from, ${relaySender}), the sender of its bounces and reports, which takes no mail: no mail would reach the list; name it otherwise`;
  if (local === NO_REPLY_LOCAL_PART)
    return `the no-reply address (${NO_REPLY_LOCAL_PART}@), which refuses the replies to the SMS of short codes and sender names: the list would take them; name it otherwise`;
  if (local === sms.subjectAddress)
    return `the address of sms.subjectAddress (${sms.subjectAddress}), which reads the numbers from the subject: no mail would reach the list; name it otherwise`;
  if (numberOf(local, sms) !== undefined) return 'the address of a phone number: mail for that number would go to the list; name it with letters';
  const unreachable = unreachableLocalPart(local);
  if (unreachable?.reached === 'never') {
    return `no client can name "${local}" (RFC 5321: a blank, a control character, <, >, a quote, a backslash, %, !, : or a dot at either end or doubled), which RCPT refuses: no mail would reach the list; name it ${suggestedName(unreachable.instead, address, sms, relaySender)}`;
  }
  return undefined;
}

/**
 * The address to suggest for a list at `address` whose name cannot be written as it is: `instead@` its domain, or
 * `instead-list@` where that is an address listConflict refuses (`postmaster.@` would become the postmaster's),
 * else words to that effect.
 */
function suggestedName(instead: string, address: string, sms: ParsedConfig['sms'], relaySender: string): string {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  for (const name of instead === '' ? ['list'] : [instead, `${instead}-list`]) {
    if (!listConflict(`${name}@${domain}`, name.toLowerCase(), sms, relaySender)) return `e.g. ${name}@${domain}`;
  }
  return 'with letters, digits, - and single dots';
}

/** The E.164 number a local part stands for as a recipient (sms.defaultRegion applied), or undefined. */
function numberOf(local: string, sms: ParsedConfig['sms']): string | undefined {
  try {
    return recipientNumber(local, { defaultRegion: sms.defaultRegion as CountryCode | undefined });
  } catch {
    return undefined;
  }
}

/** Derived values: absolute paths, provider default URLs, the relay's own sender address. */
function finish(
  parsed: ParsedConfig,
  selected: SelectedProvider,
  lists: Record<string, readonly string[]>,
  routes: readonly GatewayRoute[] | undefined,
  file: string | undefined,
  cwd: string,
): Config {
  const { sms } = parsed;
  const { routes: _routes, providers: _providers, ...shared } = splitSettings(parsed.gateway, selected.plugin.settings.schema).gateway;
  const firstDomain = sms.domains[0] ?? 'sms.localhost';
  const trustedProxies = parsed.http.trustedProxies ?? parsed.console.trustedProxies;
  return {
    dataDir: isAbsolute(parsed.dataDir) ? parsed.dataDir : resolve(cwd, parsed.dataDir),
    shutdownTimeout: parsed.shutdownTimeout,
    log: parsed.log,
    smtp: {
      ...parsed.smtp,
      hostname: parsed.smtp.hostname ?? withoutRootDot(hostname()),
      tls: parsed.smtp.tls && { key: resolve(cwd, parsed.smtp.tls.key), cert: resolve(cwd, parsed.smtp.tls.cert) },
    },
    // One list for the webhooks and the console, under either name.
    http: { ...parsed.http, trustedProxies },
    sms: { ...sms, defaultRegion: sms.defaultRegion as CountryCode | undefined, lists },
    gateway: { ...shared, ...accountOf(parsed.gateway, selected), routes },
    delivery: parsed.delivery,
    text: parsed.text,
    inbound: parsed.inbound,
    accounts: parsed.accounts,
    networks: parsed.networks,
    policy: parsed.policy,
    mail: {
      ...parsed.mail,
      from: parsed.mail.from ?? `MAILER-DAEMON@${firstDomain}`,
      // Without a smarthost the Maildir is the relay's only mailbox: the operator reads the postmaster's mail there.
      postmaster: parsed.mail.postmaster ?? (parsed.mail.url ? undefined : `postmaster@${firstDomain}`),
      dkim: parsed.mail.dkim && { ...parsed.mail.dkim, privateKeyFile: resolve(cwd, parsed.mail.dkim.privateKeyFile) },
    },
    store: { ...parsed.store, relayName: parsed.store.relayName ?? hostname() },
    console: { ...parsed.console, trustedProxies },
    file,
  };
}

/** An account's values as the relay uses them: the plug-in's own settings apart, the provider's hosts by default. */
function accountOf(values: Readonly<Record<string, unknown>>, { name, plugin, simulated }: SelectedProvider): GatewayAccount {
  const { gateway, settings } = splitSettings(values as ParsedConfig['gateway'], plugin.settings.schema);
  const defaults = plugin.settings.defaultUrls;
  const { url, backupUrl, username, password } = gateway;
  const maxParts = (values as { readonly maxParts?: number }).maxParts;
  return {
    provider: plugin.name,
    configuredAs: name,
    simulated,
    ownHost: plugin.settings.link !== undefined,
    durations: plugin.settings.durations ?? [],
    username,
    password,
    settings,
    ...plugin.settings.account(settings),
    url: url ?? defaults.url,
    // A configured primary without a backup means "no backup", not "the provider's backup".
    backupUrl: backupUrl ?? (url ? undefined : defaults.backupUrl),
    maxParts,
  };
}

/** The shared gateway keys apart from the plug-in's own (its schema's keys). */
function splitSettings(
  parsed: Readonly<Record<string, unknown>>,
  schema: { readonly shape: Readonly<Record<string, z.ZodType>> },
): { gateway: ParsedConfig['gateway']; settings: Record<string, unknown> } {
  const gateway: Record<string, unknown> = {};
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) (Object.hasOwn(schema.shape, key) ? settings : gateway)[key] = value;
  return { gateway: gateway as ParsedConfig['gateway'], settings };
}

/**
 * Sets the value at `path`, making the mappings on the way; false, leaving `target` as it is, where the
 * file has something other than a mapping on the way (`sms: [a]`, `sms:` with nothing under it): that
 * section is wrong whatever a variable sets in it, for the schema to name, never replaced unseen.
 */
function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined) node[key] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) return false;
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
  return true;
}

function deleteKeys(target: unknown, path: readonly PropertyKey[], keys: readonly string[]): void {
  let node: unknown = target;
  for (const key of path) node = (node as Record<PropertyKey, unknown>)[key];
  for (const key of keys) delete (node as Record<string, unknown>)[key];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return Object.freeze(value);
}

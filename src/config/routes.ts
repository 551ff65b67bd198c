/**
 * `gateway.routes` and `gateway.providers` (issue #21) checked as a whole once each part parsed: every
 * route names known providers, each provider's account is complete, no two routes overlap
 * ambiguously, and every list member has a route. Each problem is one line naming the route.
 */
import { z } from 'zod';
import { compileRoutes } from '../dispatch/routes.ts';
import type { ProviderPlugin, WebhookSignature } from '../providers/contract.ts';
import type { SegmentLimits } from '../sms/encoding.ts';
import { didYouMean, keysAt, plainHint } from './hints.ts';
import { DEFAULT_PROVIDER, type ParsedConfig, positiveInt, url } from './schema.ts';

/** One provider account: the top-level `gateway`'s, or an entry of `gateway.providers`. */
export interface GatewayAccount {
  /** The plug-in's name. */
  readonly provider: string;
  /** The provider as the configuration names it (`simulator`, `puzzel-simulator`, `puzzel`): what `config check` shows. */
  readonly configuredAs: string;
  /** Its simulator runs on the relay's HTTP port and takes the place of the gateway. */
  readonly simulated: boolean;
  /** Reached at a host of its own settings (`ProviderSettings.link`: SMPP), not at `url`: config check shows no URL for it. */
  readonly ownHost: boolean;
  /** Its own keys that hold durations (`ProviderSettings.durations`), which config check writes as a file does: `30s`. */
  readonly durations: readonly string[];
  readonly url: string | undefined;
  readonly backupUrl: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The plug-in's own keys, parsed by its settings schema. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** What those settings mean to the relay (`ProviderSettings.account`). */
  readonly accountId: string | undefined;
  readonly sessions: boolean;
  readonly signature: WebhookSignature | undefined;
  /** SMS parts this account may send, below the plug-in's own limit; undefined = the plug-in's. */
  readonly maxParts: number | undefined;
  /** Units per part as the account concatenates (`ProviderAccount.segmentLimits`); undefined = 153/67. */
  readonly segmentLimits?: SegmentLimits | undefined;
  /** The sender id it sends as when a mail names none (`ProviderAccount.defaultSenderId`). */
  readonly defaultSenderId?: string | undefined;
}

/** A route as the relay runs it: what it matches, and its accounts, the first preferred. */
export interface GatewayRoute {
  /** Its `name`, else its matches (`+47, NO`). */
  readonly name: string;
  readonly match: readonly string[];
  readonly providers: readonly GatewayAccount[];
}

export interface SelectedProvider {
  /** The value that named it (`simulator`, `puzzel-simulator`, `puzzel`). */
  readonly name: string;
  readonly plugin: ProviderPlugin;
  readonly simulated: boolean;
}

/** The keys every `gateway.providers` entry may have besides its plug-in's own. */
const entrySchema = z.strictObject({
  url: url.optional(),
  backupUrl: url.optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Parts per SMS this account sends at most (a contract may allow fewer than the provider). */
  maxParts: positiveInt.optional(),
});

export interface RoutingInput {
  readonly gateway: ParsedConfig['gateway'];
  /** `gateway.provider` as written (the default when unset): a route naming it uses the top-level keys. */
  readonly topLevelName: string;
  readonly topLevel: () => GatewayAccount;
  readonly lists: Readonly<Record<string, readonly string[]>>;
  /** Every value a route may name, for "expected one of". */
  readonly choices: readonly string[];
  /** The plug-in a name stands for, or undefined when it is none. */
  readonly select: (name: string) => SelectedProvider | undefined;
  /**
   * The account of an entry, once its values parsed: checks what its provider requires (a problem
   * naming `path`'s keys) and derives its URLs.
   */
  readonly account: (values: Readonly<Record<string, unknown>>, selected: SelectedProvider, path: readonly PropertyKey[]) => GatewayAccount;
  readonly describe: (path: readonly PropertyKey[]) => string;
  readonly problems: string[];
  readonly warnings: string[];
}

/** The routes the relay runs, or undefined without `gateway.routes` (the one provider sends everything). */
export function configureRoutes(input: RoutingInput): GatewayRoute[] | undefined {
  const { gateway, describe, problems, warnings } = input;
  const entries = gateway.providers ?? {};
  if (!gateway.routes) {
    if (gateway.providers) problems.push(`${describe(['gateway', 'providers'])}: used only by gateway.routes, which is not set`);
    return undefined;
  }
  const routes = gateway.routes.map((route, index) => ({ ...route, index, name: route.name ?? route.match.join(', ') }));
  const accounts = new Map<string, GatewayAccount | undefined>();
  const plugins = new Map<string, string>();
  let complete = true;
  for (const route of routes) {
    const where = `${describe(['gateway', 'routes', route.index])}: route ${route.name}`;
    if (route.providers.length === 0) {
      problems.push(`${where} leaves ${route.match.join(', ')} with no provider: name at least one under providers`);
      complete = false;
    }
    // Each name once: a name written twice is one problem, said once.
    for (const name of new Set(route.providers)) {
      const selected = input.select(name);
      if (!selected) {
        const suggestion = didYouMean(name, input.choices);
        problems.push(
          `${where} names an unknown provider "${name}"; expected one of ${input.choices.join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
        );
        complete = false;
        continue;
      }
      if (route.providers.filter((other) => other === name).length > 1) {
        problems.push(`${where} names ${name} twice`);
        complete = false;
      }
      // The webhooks of a provider are /webhooks/<name>/…: one account of it per relay.
      const claimed = plugins.get(selected.plugin.name);
      if (claimed !== undefined && claimed !== name) {
        problems.push(
          `${where} names ${name}, another route ${claimed}: the relay runs one account per provider (its webhooks are /webhooks/${selected.plugin.name}/…); name the same one`,
        );
        complete = false;
        continue;
      }
      plugins.set(selected.plugin.name, name);
      // An account several routes name is read (and its problems told) once.
      if (!accounts.has(name)) {
        const account = accountOf(name, entries[name], selected, input);
        accounts.set(name, account);
        if (!account) complete = false;
      }
    }
  }
  if (input.topLevelName !== DEFAULT_PROVIDER && !routes.some((route) => route.providers.includes(input.topLevelName))) {
    warnings.push(`${describe(['gateway', 'provider'])}: named by no route of gateway.routes; its account sends nothing`);
  }
  for (const name of Object.keys(entries)) {
    if (!routes.some((route) => route.providers.includes(name))) warnings.push(`${describe(['gateway', 'providers', name])}: named by no route; ignored`);
  }
  const compiled = compileRoutes(routes);
  if (!compiled.ok) {
    for (const { route, problem } of compiled.problems) problems.push(`${describe(['gateway', 'routes', route])}: route ${routes[route]?.name}: ${problem}`);
    return undefined;
  }
  for (const [address, members] of Object.entries(input.lists)) {
    const unrouted = members.filter((number) => compiled.table.routeOf(number) === undefined);
    if (unrouted.length > 0) {
      problems.push(
        `${describe(['sms', 'lists', address])}: ${unrouted.join(', ')} matches no route of gateway.routes (add its prefix or country, or a route for *)`,
      );
    }
  }
  if (!complete) return undefined;
  return routes.map((route) => ({
    name: route.name,
    match: route.match,
    providers: route.providers.map((name) => accounts.get(name) as GatewayAccount),
  }));
}

/** The account a route's provider name stands for: its entry, or the top-level keys when it is `gateway.provider`. */
function accountOf(name: string, raw: unknown, selected: SelectedProvider, input: RoutingInput): GatewayAccount | undefined {
  if (raw === undefined && name === input.topLevelName) return input.topLevel();
  const path = ['gateway', 'providers', name];
  const schema = entrySchema.extend(selected.plugin.settings.schema.shape);
  const result = schema.safeParse(raw ?? {}, { error: plainHint });
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const suggestion = didYouMean(key, keysAt(schema, issue.path));
          input.problems.push(`${input.describe([...path, ...issue.path, key])}: not a setting of ${name}${suggestion ? `; did you mean ${suggestion}?` : ''}`);
        }
      } else input.problems.push(`${input.describe([...path, ...issue.path])}: ${issue.message}`);
    }
    return undefined;
  }
  const before = input.problems.length;
  const account = input.account(result.data, selected, path);
  const { maxParts } = selected.plugin.capabilities;
  if (account.maxParts !== undefined && account.maxParts > maxParts) {
    input.problems.push(
      `${input.describe([...path, 'maxParts'])}: ${selected.plugin.name} sends at most ${maxParts} ${maxParts === 1 ? 'part' : 'parts'} per SMS`,
    );
  }
  return input.problems.length === before ? account : undefined;
}

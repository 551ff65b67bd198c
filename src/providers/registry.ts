/**
 * The provider plug-ins the relay knows, by name: the built-in ones, and any a caller adds (a test,
 * a deployment's own provider). A registry is checked once when it is composed, so that a plug-in
 * missing a part or clashing with another is one clear line at start-up, not a crash on first use.
 */
import { type ProviderPlugin, webhookPaths } from './contract.ts';
import { intellisoftwarePlugin } from './intellisoftware/index.ts';
import { interactsmsPlugin } from './interactsms/index.ts';
import { puzzelPlugin } from './puzzel/index.ts';
import { smppPlugin } from './smpp/index.ts';
import { twilioPlugin } from './twilio/index.ts';
import { vonagePlugin } from './vonage/index.ts';

/** The providers this relay ships with. */
export const BUILT_IN_PROVIDERS: readonly ProviderPlugin[] = [intellisoftwarePlugin, puzzelPlugin, interactsmsPlugin, twilioPlugin, vonagePlugin, smppPlugin];

/** Why a set of plug-ins cannot make a registry, or a name is none of them. */
export type ProviderRegistryProblem = 'PROVIDER_UNKNOWN' | 'PROVIDER_INCOMPLETE' | 'PROVIDER_NAME_TAKEN';

export class ProviderRegistryError extends Error {
  constructor(
    readonly code: ProviderRegistryProblem,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderRegistryError';
  }
}

/**
 * A name names the plug-in, its config value and its webhook paths: lower-case letters, digits and
 * '-', so that two names never differ only in case (one webhook path as a case-folding proxy sees it).
 * `simulator` and `<name>-simulator` are config values for the simulators.
 */
const PROVIDER_NAME = /^[a-z][a-z0-9-]*$/;
const RESERVED_NAME = /^simulator$|-simulator$/;

/** The parts every plug-in must have, whatever its transport. */
const REQUIRED_PARTS = ['name', 'capabilities', 'settings', 'outcomeRules', 'createGateway', 'describeStatus', 'senderIdProblem'] as const;
const REQUIRED_SETTINGS_PARTS = ['schema', 'environment', 'required', 'defaultUrls', 'account'] as const;

export interface ProviderRegistry {
  /** Every registered name, in registration order. */
  readonly names: readonly string[];
  /** The plug-in of that name; throws PROVIDER_UNKNOWN (listing the known ones) when none. */
  get(name: string): ProviderPlugin;
  readonly plugins: readonly ProviderPlugin[];
}

/** The built-in plug-ins and `extra` ones, checked. Throws a ProviderRegistryError naming the first problem. */
export function composeRegistry(extra: readonly ProviderPlugin[] = []): ProviderRegistry {
  const plugins = [...BUILT_IN_PROVIDERS, ...extra];
  const byName = new Map<string, ProviderPlugin>();
  for (const plugin of plugins) {
    checkParts(plugin);
    // Webhook paths derive from the name: a name taken twice is a webhook path taken twice.
    if (byName.has(plugin.name)) {
      const { mo, dr } = webhookPaths(plugin.name);
      throw new ProviderRegistryError('PROVIDER_NAME_TAKEN', `two provider plug-ins claim the name "${plugin.name}" and its webhook paths ${mo}, ${dr}`);
    }
    byName.set(plugin.name, plugin);
  }
  const names = [...byName.keys()];
  return {
    names,
    plugins: [...byName.values()],
    get(name) {
      const plugin = byName.get(name);
      if (!plugin) throw new ProviderRegistryError('PROVIDER_UNKNOWN', `unknown provider "${name}"; known: ${names.join(', ')}`);
      return plugin;
    },
  };
}

function checkParts(plugin: ProviderPlugin): void {
  const label = typeof plugin.name === 'string' && plugin.name !== '' ? `provider plug-in "${plugin.name}"` : 'a provider plug-in';
  const missing: string[] = REQUIRED_PARTS.filter((part) => plugin[part] === undefined || plugin[part] === null);
  const settings: Partial<ProviderPlugin['settings']> = plugin.settings ?? {};
  if (plugin.settings) missing.push(...REQUIRED_SETTINGS_PARTS.filter((part) => settings[part] === undefined).map((part) => `settings.${part}`));
  // Webhook parsing is optional, but only as a whole: MO without DR (or the reverse) would lose one side.
  if ((typeof plugin.parseReceived === 'function') !== (typeof plugin.parseReport === 'function')) {
    missing.push(plugin.parseReceived ? 'parseReport' : 'parseReceived');
  }
  if (missing.length > 0) throw new ProviderRegistryError('PROVIDER_INCOMPLETE', `${label} lacks ${missing.join(', ')}`);
  if (!PROVIDER_NAME.test(plugin.name) || RESERVED_NAME.test(plugin.name)) {
    throw new ProviderRegistryError(
      'PROVIDER_INCOMPLETE',
      `${label}: a provider name is lower-case letters, digits and "-", and is not "simulator" nor ends in "-simulator"`,
    );
  }
  // A held sender's SMS wait for its queue (OutcomeRule.holdsSender): on a rule that fails, sends or pauses, the hold would
  // contradict the action, holding a sender whose SMS were bounced, or leaving the provider paused for one sender's queue.
  const holding = plugin.outcomeRules.find((rule) => rule.holdsSender && rule.action !== 'retry');
  if (holding) {
    throw new ProviderRegistryError(
      'PROVIDER_INCOMPLETE',
      `${label}: outcome rule ${holding.match} holds the sender (holdsSender) with action "${holding.action}"; holdsSender is for "retry" rules only`,
    );
  }
  // What a sent SMS is (OutcomeRule.recognisedResend, withoutId, heldAtGateway): on a rule that does not send, it would say so of an SMS not sent.
  const notSent = plugin.outcomeRules.find(
    (rule) => (rule.recognisedResend || rule.withoutId !== undefined || rule.heldAtGateway !== undefined) && rule.action !== 'sent',
  );
  if (notSent) {
    throw new ProviderRegistryError(
      'PROVIDER_INCOMPLETE',
      `${label}: outcome rule ${notSent.match} says what a sent SMS is (recognisedResend, withoutId, heldAtGateway) with action "${notSent.action}"; they are for "sent" rules only`,
    );
  }
  // An empty history line says nothing of the SMS.
  const blank = plugin.outcomeRules.find((rule) => rule.withoutId !== undefined && rule.withoutId.trim() === '');
  if (blank)
    throw new ProviderRegistryError(
      'PROVIDER_INCOMPLETE',
      `${label}: outcome rule ${blank.match} has an empty withoutId; say what the history should read or leave it out`,
    );
}

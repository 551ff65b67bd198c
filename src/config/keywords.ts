import type { ProviderPlugin } from '../providers/contract.ts';
import { keywordForm, type OptOutKeywords, RELAY_KEYWORDS } from '../vocabulary.ts';

/** The keyword settings: each list, where given, for every provider's SMS. */
export interface KeywordSettings {
  readonly stopKeywords?: readonly string[] | undefined;
  readonly startKeywords?: readonly string[] | undefined;
}

/** The keywords an SMS is read by: `keywords` for every provider but those in `providerKeywords`. */
export interface KeywordsInEffect {
  readonly keywords: OptOutKeywords;
  readonly providerKeywords: ReadonlyMap<string, OptOutKeywords>;
}

/**
 * The opt-out and opt-in keywords: the settings' where given, for every provider; else each provider's own where its
 * gateway acts on keywords itself (Twilio's defaults), so that the relay refuses whom the gateway blocks and sends to
 * whom it sends to again; else the relay's.
 */
export function keywordsInEffect(policy: KeywordSettings, plugins: readonly ProviderPlugin[]): KeywordsInEffect {
  const chosen = (own: OptOutKeywords) => ({ stop: policy.stopKeywords ?? own.stop, start: policy.startKeywords ?? own.start });
  return {
    keywords: chosen(RELAY_KEYWORDS),
    providerKeywords: new Map(plugins.flatMap((plugin) => (plugin.keywords ? [[plugin.name, chosen(plugin.keywords)] as const] : []))),
  };
}

const LISTS = [
  { side: 'stop', setting: 'stopKeywords', does: 'opts out', otherwise: 'the relay keeps sending to a phone that texted one, each SMS refused by the gateway' },
  {
    side: 'start',
    setting: 'startKeywords',
    does: 'opts back in',
    otherwise: 'the relay keeps refusing at RCPT a phone that texted one, which the gateway sends to again',
  },
] as const;

/**
 * A set list that lacks words a configured provider's gateway acts on itself (`plugins`: the configured providers):
 * one line per list and provider naming the words, what follows and the fix. `describe` names the setting as the
 * operator wrote it.
 */
export function keywordGaps(policy: KeywordSettings, plugins: readonly ProviderPlugin[], describe: (setting: string) => string): string[] {
  return LISTS.flatMap(({ side, setting, does, otherwise }) => {
    const list = policy[setting];
    if (list === undefined) return [];
    const have = new Set(list.map(keywordForm));
    return plugins.flatMap((plugin) => {
      const missing = (plugin.keywords?.[side] ?? []).filter((word) => !have.has(keywordForm(word)));
      if (missing.length === 0) return [];
      return [
        `${describe(setting)}: ${plugin.name}'s gateway itself ${does} a number that texts ${missing.join(', ')}, which this list lacks: ${otherwise}; add ${missing.length === 1 ? 'it' : 'them'} to the list, or unset it to use ${plugin.name}'s own`,
      ];
    });
  });
}

/**
 * The lists in effect for each configured provider's SMS (`plugins`), with where each comes from, one line per provider
 * (config check, the console's settings): none where no list is set and no provider's gateway has its own, as every SMS
 * is then read by the relay's lists.
 */
export function keywordLines(policy: KeywordSettings, plugins: readonly ProviderPlugin[]): string[] {
  if (policy.stopKeywords === undefined && policy.startKeywords === undefined && !plugins.some((plugin) => plugin.keywords)) return [];
  const { keywords, providerKeywords } = keywordsInEffect(policy, plugins);
  return plugins.map((plugin) => {
    const lists = providerKeywords.get(plugin.name) ?? keywords;
    const source = (setting: 'stopKeywords' | 'startKeywords') =>
      policy[setting] !== undefined ? `policy.${setting}` : plugin.keywords ? `${plugin.name}'s own` : "the relay's";
    return `keywords: ${plugin.name}'s SMS: opt out ${lists.stop.join(', ')} (${source('stopKeywords')}); opt in ${lists.start.join(', ')} (${source('startKeywords')})`;
  });
}

import type { Config } from '../config/load.ts';
import { networkMatcher } from './networks.ts';
import { type DestinationRules, destinationProblem } from './destinations.ts';

/** Who is sending, as far as policy is concerned, and what they may do. */
export interface Principal {
  readonly kind: 'trusted' | 'network' | 'account';
  /** For logs and refusals: the account's user name, the network's name, or "trusted networks". */
  readonly name: string;
  readonly senders: readonly string[] | undefined;
  readonly holdToOwnFrom: boolean;
  readonly destinations: DestinationRules;
  readonly maxRecipients: number | undefined;
  readonly maxParts: number | undefined;
  readonly perMinute: number | undefined;
  readonly perDay: number | undefined;
  readonly dailyParts: number | undefined;
  /** The account whose own gateway credentials send this principal's mail. */
  readonly gatewayAccount: string | undefined;
}

type Limits = Config['networks'][number] | Config['accounts'][number];

/**
 * Who may send what (issue #7): trusted networks send without AUTH and with no limit but the
 * destination blocklists; listed networks (legacy systems) send without AUTH under their own rules;
 * everyone else authenticates as an account.
 */
export class SenderPolicy {
  readonly #config: Config;
  readonly #trusted: (address: string) => boolean;
  readonly #networks: ReadonlyArray<{ readonly matches: (address: string) => boolean; readonly principal: Principal }>;
  readonly #accounts: ReadonlyMap<string, { readonly passwordHash: string; readonly principal: Principal }>;

  constructor(config: Config) {
    this.#config = config;
    this.#trusted = networkMatcher(config.smtp.trustedNetworks);
    this.#networks = config.networks.map((network) => ({ matches: networkMatcher(network.cidr), principal: this.#principal('network', network.name, network) }));
    this.#accounts = new Map(
      config.accounts.map((account) => [
        account.username,
        {
          passwordHash: account.passwordHash,
          // RFC-less but common sense: an account without its own destinations stays in the default region.
          principal: this.#principal('account', account.username, {
            ...account,
            destinations: account.destinations ?? (config.sms.defaultRegion ? [config.sms.defaultRegion] : undefined),
          }),
        },
      ]),
    );
  }

  get hasAccounts(): boolean {
    return this.#accounts.size > 0;
  }

  isTrusted(address: string): boolean {
    return this.#trusted(address);
  }

  /** The principal a client is without AUTH, or undefined when it must authenticate. */
  byAddress(address: string): Principal | undefined {
    if (this.#trusted(address)) return this.#principal('trusted', 'trusted networks', {});
    return this.#networks.find((network) => network.matches(address))?.principal;
  }

  account(username: string): { readonly passwordHash: string; readonly principal: Principal } | undefined {
    return this.#accounts.get(username);
  }

  /** Why `principal` may not use this envelope sender, or undefined. */
  senderProblem(principal: Principal, envelopeFrom: string): string | undefined {
    if (!principal.senders || matchesSender(principal.senders, envelopeFrom)) return undefined;
    return `${envelopeFrom || '<>'} may not send through ${principal.kind === 'account' ? `account ${principal.name}` : principal.name}`;
  }

  /** Why the mail's From: addresses are not the account's own, or undefined. */
  fromHeaderProblem(principal: Principal, fromAddresses: readonly string[]): string | undefined {
    if (!principal.holdToOwnFrom || !principal.senders) return undefined;
    const foreign = fromAddresses.find((address) => !matchesSender(principal.senders ?? [], address));
    if (foreign === undefined && fromAddresses.length > 0) return undefined;
    return `the From: address ${foreign ?? '(none)'} is not one of account ${principal.name}'s own addresses`;
  }

  destinationProblem(principal: Principal, e164: string): string | undefined {
    return destinationProblem(e164, principal.destinations);
  }

  #principal(kind: Principal['kind'], name: string, limits: Partial<Limits>): Principal {
    return {
      kind,
      name,
      senders: limits.senders,
      holdToOwnFrom: 'holdToOwnFrom' in limits ? (limits.holdToOwnFrom ?? false) : false,
      destinations: {
        premiumBlocklist: this.#config.policy.premiumBlocklist,
        blockedPrefixes: this.#config.policy.blockedPrefixes,
        allowed: limits.destinations,
      },
      maxRecipients: limits.maxRecipients,
      maxParts: limits.maxParts,
      perMinute: limits.perMinute,
      perDay: limits.perDay,
      dailyParts: limits.dailyParts,
      gatewayAccount: kind === 'account' && 'gateway' in limits && limits.gateway ? name : undefined,
    };
  }
}

/** `alerts@example.com` matches itself, `@example.com` every address at that domain. */
function matchesSender(patterns: readonly string[], address: string): boolean {
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@'));
  return lower !== '' && (patterns.includes(lower) || patterns.includes(domain));
}

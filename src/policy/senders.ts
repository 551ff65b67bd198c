import { writtenNumber } from '../sms/senders.ts';
import { networkMatcher } from './networks.ts';
import { allows, type DestinationRules, destinationProblem } from './destinations.ts';

/** Who is sending, as far as policy is concerned, and what they may do. */
export interface Principal {
  readonly kind: 'trusted' | 'network' | 'account';
  /** For logs and refusals: the account's user name, the network's name, or "trusted networks". */
  readonly name: string;
  readonly senders: readonly string[] | undefined;
  /** Sender ids a mail may choose (`Acme`, `+447700900123`, `+4477009001*`, `*`); unset = any. */
  readonly senderIds: readonly string[] | undefined;
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

/** What a listed network or an account may do; unset = no limit. */
export interface SenderLimits {
  /** Envelope senders allowed (`alerts@example.com` or `@example.com`); unset = any. */
  readonly senders?: readonly string[] | undefined;
  /** Sender ids a mail may choose; unset = the relay's (SenderSettings.allowedSenderIds). */
  readonly senderIds?: readonly string[] | undefined;
  /** Countries (`GB`) or E.164 prefixes (`+353`) that may be texted. */
  readonly destinations?: readonly string[] | undefined;
  readonly maxRecipients?: number | undefined;
  readonly maxParts?: number | undefined;
  readonly perMinute?: number | undefined;
  readonly perDay?: number | undefined;
  readonly dailyParts?: number | undefined;
}

export interface AccountRules extends SenderLimits {
  readonly username: string;
  readonly passwordHash: string;
  readonly holdToOwnFrom: boolean;
  /** The account's own gateway credentials, when it has them (only their presence matters here). */
  readonly gateway?: { readonly username: string } | undefined;
}

export interface NetworkRules extends SenderLimits {
  readonly name: string;
  readonly cidr: readonly string[];
}

/** The operator's sender rules. */
export interface SenderSettings {
  readonly trustedNetworks: readonly string[];
  readonly networks: readonly NetworkRules[];
  readonly accounts: readonly AccountRules[];
  /** Accounts without destinations of their own stay in this region. */
  readonly defaultRegion: string | undefined;
  /** Sender ids anyone may choose whose account or network lists none of its own; unset = any. */
  readonly allowedSenderIds?: readonly string[] | undefined;
  /**
   * What each of the relay's sending accounts sends as when a mail names none (its `gateway.from`; undefined: the
   * provider's own choice). Only an id they all share may be named by any mail (ownSenderId): where they differ,
   * naming one would send it through a provider whose own it is not (a route's other provider, a failover).
   */
  readonly accountSenderIds?: readonly (string | undefined)[] | undefined;
  readonly premiumBlocklist: boolean;
  readonly blockedPrefixes: readonly string[];
}

type Limits = NetworkRules | AccountRules;

/**
 * Who may send what (issue #7): trusted networks send without AUTH and with no limit but the
 * destination blocklists; listed networks (legacy systems) send without AUTH under their own rules;
 * everyone else authenticates as an account.
 */
export class SenderPolicy {
  readonly #settings: SenderSettings;
  readonly #trusted: (address: string) => boolean;
  readonly #networks: ReadonlyArray<{ readonly matches: (address: string) => boolean; readonly principal: Principal }>;
  readonly #accounts: ReadonlyMap<string, { readonly passwordHash: string; readonly principal: Principal }>;
  /** Every sender's allowed destinations together (#everyDestinationOf), worked out once when first asked. */
  #everyDestination: { readonly allowed: readonly string[] | undefined } | undefined;

  constructor(settings: SenderSettings) {
    this.#settings = settings;
    this.#trusted = networkMatcher(settings.trustedNetworks);
    this.#networks = settings.networks.map((network) => ({
      matches: networkMatcher(network.cidr),
      principal: this.#principal('network', network.name, network),
    }));
    this.#accounts = new Map(
      settings.accounts.map((account) => [
        account.username,
        {
          passwordHash: account.passwordHash,
          // RFC-less but common sense: an account without its own destinations stays in the default region.
          principal: this.#principal(
            'account',
            account.username,
            { ...account, destinations: account.destinations ?? (settings.defaultRegion ? [settings.defaultRegion] : undefined) },
            account.destinations === undefined && settings.defaultRegion !== undefined,
          ),
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

  /** Whether a client sends without AUTH (byAddress), without making its principal. */
  knownByAddress(address: string): boolean {
    return this.#trusted(address) || this.#networks.some((network) => network.matches(address));
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

  /**
   * Whether `principal` may write as `address` in a From or Reply-To for reply tracking: only then is
   * its mail that address's (its conversations' mailbox's) to continue or move. The relay verified the
   * principal (an account's password, a listed network's address) and its `senders`, nothing else: an
   * account limited to @erp.example.com writing `From: alice@example.com` is not Alice. A principal
   * without `senders` (the trusted networks, an account or network left open) may write as anyone.
   */
  mayWriteAs(principal: Principal, address: string): boolean {
    return !principal.senders || matchesSender(principal.senders, address);
  }

  /**
   * Why `principal` may not send as `senderId`, or undefined. `givenIn` names where the mail gave it
   * (`X-SMS-From`, `the subject's From:`), which the sender leaves out to send as the relay's own id;
   * naming that id itself (ownSenderId) is the same, so it is taken from anyone.
   */
  senderIdProblem(principal: Principal, senderId: string, givenIn: string): string | undefined {
    const allowed = principal.senderIds;
    if (!allowed || allowed.some((pattern) => matchesSenderId(pattern, senderId))) return undefined;
    const own = ownSenderId(this.#settings.accountSenderIds ?? []);
    if (own !== undefined && sameSenderId(own, senderId)) return undefined;
    const whose = principal.kind === 'account' ? `account ${principal.name}` : principal.name;
    // An empty list written on purpose means "none": say so rather than list nothing in "()".
    const which = allowed.length === 0 ? ': it may choose none' : ` (${allowed.join(', ')})`;
    return `"${senderId}" is not a sender id ${whose} may send as${which}; leave ${givenIn} out to send as the relay's own`;
  }

  /** Why `principal` may not text `e164` (destinationProblem, the number written by `shown`), or undefined. */
  destinationProblem(principal: Principal, e164: string, shown?: (e164: string) => string): string | undefined {
    return destinationProblem(e164, principal.destinations, shown);
  }

  /**
   * Why no sender of this relay may text `e164` (the number written by `shown`), or undefined when one may: the rules
   * every sender shares (premium-rate, blocked prefixes), else every sender's destinations leave it out. Asked for
   * every SMS received: the senders' destinations are one list made once, not each sender's rules in turn.
   */
  refusedToEverySender(e164: string, shown: (e164: string) => string): string | undefined {
    const { premiumBlocklist, blockedPrefixes } = this.#settings;
    const shared = destinationProblem(e164, { premiumBlocklist, blockedPrefixes, allowed: undefined }, shown);
    if (shared !== undefined) return shared;
    this.#everyDestination ??= this.#everyDestinationOf();
    const { allowed } = this.#everyDestination;
    if (allowed === undefined || allows(allowed, e164)) return undefined;
    return `${shown(e164)} is outside the destinations allowed for every sender of this relay`;
  }

  /**
   * The destinations any sender may text: the trusted networks (when there are any), each listed network, each account;
   * `allowed` undefined when one of them may text any (or none sends at all: then nothing is said of a number).
   */
  #everyDestinationOf(): { readonly allowed: readonly string[] | undefined } {
    const principals = [
      ...(this.#settings.trustedNetworks.length > 0 ? [this.#principal('trusted', 'trusted networks', {})] : []),
      ...this.#networks.map((network) => network.principal),
      ...[...this.#accounts.values()].map((account) => account.principal),
    ];
    const each = principals.map((principal) => principal.destinations.allowed);
    const anywhere = each.length === 0 || each.some((allowed) => allowed === undefined);
    return { allowed: anywhere ? undefined : [...new Set(each.flatMap((allowed) => allowed ?? []))] };
  }

  #principal(kind: Principal['kind'], name: string, limits: Partial<Limits>, defaultRegionOnly = false): Principal {
    return {
      kind,
      name,
      senders: limits.senders,
      senderIds: limits.senderIds ?? this.#settings.allowedSenderIds,
      holdToOwnFrom: 'holdToOwnFrom' in limits ? (limits.holdToOwnFrom ?? false) : false,
      destinations: {
        premiumBlocklist: this.#settings.premiumBlocklist,
        blockedPrefixes: this.#settings.blockedPrefixes,
        allowed: limits.destinations,
        defaultRegionOnly,
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
export function matchesSender(patterns: readonly string[], address: string): boolean {
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@'));
  return lower !== '' && (patterns.includes(lower) || patterns.includes(domain));
}

/**
 * A sender id against one allowed pattern: `*` any; `+<digits>` that number and `+<digits>*` those
 * starting so, the id written with or without `+` or `00` (how a gateway reads a numeric id); a name
 * as written, without regard to case.
 */
function matchesSenderId(pattern: string, senderId: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('+')) {
    const digits = senderIdDigits(senderId);
    if (digits === undefined) return false;
    return pattern.endsWith('*') ? digits.startsWith(pattern.slice(1, -1)) : digits === pattern.slice(1);
  }
  return pattern.toLowerCase() === senderId.trim().toLowerCase();
}

/** The id every sending account sends as when a mail names none, or undefined when they differ (or one has none). */
function ownSenderId(accountSenderIds: readonly (string | undefined)[]): string | undefined {
  const [first, ...others] = accountSenderIds;
  return first !== undefined && others.every((other) => other !== undefined && sameSenderId(first, other)) ? first : undefined;
}

/** Two sender ids a gateway reads as one: the same number (with or without `+` or `00`), or the same name but for case. */
function sameSenderId(one: string, other: string): boolean {
  const digits = senderIdDigits(one);
  return digits === undefined ? one.trim().toLowerCase() === other.trim().toLowerCase() : digits === senderIdDigits(other);
}

/**
 * A numeric sender id's digits (written with or without `+` or `00`, read as the gateways read them:
 * writtenNumber; spaces or dashes), or undefined for a name.
 */
function senderIdDigits(senderId: string): string | undefined {
  const { digits } = writtenNumber(senderId.replace(/[\s-]/g, ''));
  return /^\d{1,15}$/.test(digits) ? digits : undefined;
}

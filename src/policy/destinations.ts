import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import metadata from 'libphonenumber-js/metadata.max.json';
import { LRUCache } from 'lru-cache';
import { maskNumber, regionName } from '../sms/numbers.ts';

/**
 * Number types an SMS relay has no business texting by default: they cost the sender (or earn a
 * fraudster) money per message, which is what SMS pumping exploits. libphonenumber knows them per
 * country from its metadata.
 */
const PREMIUM_TYPES: ReadonlyMap<string, string> = new Map([
  ['PREMIUM_RATE', 'a premium-rate number'],
  ['SHARED_COST', 'a shared-cost number'],
  // UK 070: a follow-me number the caller pays for at up to premium rates, often mistaken for a mobile.
  ['PERSONAL_NUMBER', 'a personal (follow-me) number, charged to the sender at up to premium rates'],
  ['UAN', 'a non-geographic (universal access) number'],
]);
/**
 * ITU-T's global services: calling codes of no country (libphonenumber's non-geographic set, kept in step with ITU's
 * list: +800 freephone, +808 shared cost, +870 Inmarsat, +878 Universal Personal Telecommunications, +881 GMSS satellite,
 * +882/+883 international networks, +888 OCHA, +979 international premium rate). Carriers price all but freephone as
 * "international network" destinations, far above a mobile, and they fill the IRSF lists SMS pumping works from;
 * libphonenumber types them loosely (+878 and +882 as VOIP, +870 and +881 as MOBILE), so the code decides, not the type,
 * and a code ITU adds reaches this set with the metadata, not with an edit here.
 */
const GLOBAL_SERVICE_CODES: ReadonlySet<string> = new Set(Object.keys(metadata.nonGeographic));
/** International Freephone (+800) costs the caller nothing: it is the one global service taken. */
const FREE_TYPE = 'TOLL_FREE';
const GLOBAL_SERVICE_KIND = 'an international satellite, network or global-service number (no country)';

export interface DestinationRules {
  /** Refuse premium-rate and shared-cost numbers (on by default for everyone). */
  readonly premiumBlocklist: boolean;
  /** E.164 prefixes never texted. */
  readonly blockedPrefixes: readonly string[];
  /** When set, only these ISO countries (`GB`) or E.164 prefixes (`+4477`) are texted. */
  readonly allowed: readonly string[] | undefined;
  /** `allowed` is the default region, which an account without destinations of its own may text: a refusal says so. */
  readonly defaultRegionOnly?: boolean;
}

/**
 * Why `e164` must not be texted under these rules, or undefined when it may. The number is written by `shown`:
 * masked by default (as an opted-out one is), as the reason goes to a sender who may not know it (a list's member);
 * whole to whoever has it already (the mailbox of its reply mail).
 */
export function destinationProblem(e164: string, rules: DestinationRules, shown: (e164: string) => string = maskNumber): string | undefined {
  const premium = rules.premiumBlocklist ? premiumKind(e164) : undefined;
  if (premium) return `${shown(e164)} is ${premium}; this relay does not text those`;
  const blocked = rules.blockedPrefixes.find((prefix) => e164.startsWith(prefix));
  if (blocked) return `numbers starting ${blocked} are blocked on this relay`;
  if (rules.allowed && !allows(rules.allowed, e164)) return outsideDestinations(e164, rules.allowed, rules.defaultRegionOnly ?? false, shown);
  return undefined;
}

/**
 * A number outside a sender's destinations, with the region it is in and what to add: a country entry is read
 * literally, as libphonenumber places the number (IM, JE and GG apart from GB; PR, GU and VI apart from US), so
 * that `GB` never takes the costlier ranges that share its numbering plan unasked (toll fraud), and the operator
 * told `+447624…` is outside GB learns which region to add.
 */
function outsideDestinations(e164: string, allowed: readonly string[], defaultRegionOnly: boolean, shown: (e164: string) => string): string {
  const region = countryOf(e164);
  if (region === undefined) return `${shown(e164)} is outside the destinations allowed for this sender (${allowed.join(', ')})`;
  const where = `${shown(e164)} is in ${regionDescribed(region)}`;
  // Destinations of its own replace the default region: the advice keeps it, or the account's numbers there are refused next.
  if (defaultRegionOnly) {
    return `${where}, outside the default region ${allowed.join(', ')} that an account without destinations may text: give the account destinations: [${[...allowed, region].join(', ')}]`;
  }
  return `${where}, outside the destinations allowed for this sender (${allowed.join(', ')}): add ${region} to its destinations`;
}

/** "IM (Isle of Man)": a region as a refusal names it, the code to write and the place it stands for. */
export function regionDescribed(region: string): string {
  return `${region} (${regionName(region)})`;
}

/** Whether destinations `allowed` (ISO countries, E.164 prefixes) take `e164`: its country read only for a country entry. */
export function allows(allowed: readonly string[], e164: string): boolean {
  return allowed.some((entry) => (entry.startsWith('+') ? e164.startsWith(entry) : countryOf(e164) === entry));
}

/** Typing a number walks libphonenumber's metadata; the same numbers come again and again ('' = none of them). */
const premium = new LRUCache<string, string>({ max: 10_000 });
/**
 * A number's country, as premium's: parsing one costs tens of µs, and every received SMS has its number's asked by each
 * route and sender destination that names a country ('' = none).
 */
const countries = new LRUCache<string, CountryCode | ''>({ max: 10_000 });

/** What kind of costly number `e164` is, in words for the refusal; undefined when it is none. */
function premiumKind(e164: string): string | undefined {
  let kind = premium.get(e164);
  if (kind === undefined) {
    const parsed = parsePhoneNumberFromString(e164);
    const type = parsed?.getType();
    const globalService = parsed !== undefined && GLOBAL_SERVICE_CODES.has(parsed.countryCallingCode) && type !== FREE_TYPE;
    // The type names the cost where libphonenumber knows it (+979 premium rate, +808 shared cost); a global service it
    // types as a mobile or VoIP is still one.
    kind = (type && PREMIUM_TYPES.get(type)) ?? (globalService ? GLOBAL_SERVICE_KIND : '');
    premium.set(e164, kind);
  }
  return kind || undefined;
}

/** The number's country; the UK drama range (valid only by our own rule) is British. */
export function countryOf(e164: string): CountryCode | undefined {
  let country = countries.get(e164);
  if (country === undefined) {
    country = parsePhoneNumberFromString(e164)?.country ?? (e164.startsWith('+447700900') ? 'GB' : '');
    countries.set(e164, country);
  }
  return country || undefined;
}

import type { CountryCode } from 'libphonenumber-js';
import { RelayError } from '../errors.ts';
import { countriesOf, normaliseNumber, regionOfCallingCode, severalNumbers } from '../sms/numbers.ts';
import { isAtSmsDomain, listLocalPart, smsDomainOf, withCanonicalDomain } from '../mail/addresses.ts';
import { asciiQuoted, codePointName } from '../mail/ascii.ts';
import { canTextBack, NO_REPLY_LOCAL_PART, readSender, untextableWords } from '../sms/senders.ts';

export interface RecipientRules {
  readonly domains: readonly string[];
  readonly defaultRegion: CountryCode | undefined;
  readonly lists: Readonly<Record<string, readonly string[]>>;
  /** Local part whose mail names its numbers in the subject; '' when off. */
  readonly subjectAddress: string;
  /** The relay's own sender (`mail.from`): its bounces and reports come from it, and it takes no mail. */
  readonly relaySender: string;
  /** A provider that sends reads `<number>-<account id>@` (Puzzel's `<number>-<serviceId>@`): so does RCPT. */
  readonly accountIdAddresses?: AccountIdAddresses | undefined;
}

/**
 * The `<number>-<account id>@` form's account ids: those configured for the providers that read it (Puzzel's service ids),
 * or none named (a simulator's account), where any digits that are no number of their own are taken as one.
 */
export interface AccountIdAddresses {
  readonly ids: readonly string[];
}

/**
 * The numbers a RCPT stands for; `subject` when they come from the mail's subject (known at DATA);
 * `postmaster`, the mailbox where mail to the relay's postmaster is delivered as it came, never texted.
 */
export type ResolvedRecipient =
  | { readonly numbers: readonly string[]; readonly refused?: readonly RefusedMember[]; readonly tag?: string }
  | { readonly subject: true }
  | { readonly postmaster: string }
  | { readonly bounce: ReturnPath };

/**
 * A list's member (or a subject's number) refused when the others were taken: its bounce says why. `overLimit`: a
 * subject's number beyond the mail's number limit (subjectWithinLimit), not a policy's refusal.
 */
export interface RefusedMember {
  readonly number: string;
  readonly reason: string;
  readonly overLimit?: true;
}

/** A reply mail's return path a bounce is addressed to (src/replies/return-path.ts), and the mailbox that mail went to. */
export interface ReturnPath {
  readonly inboundId: string;
  readonly returnPath: string;
  readonly mailbox: string;
}

/** RFC 5321 §4.5.1: the mailbox every domain a server delivers for must take, in any case. */
const POSTMASTER = 'postmaster';

/** Whether a RCPT names the postmaster: the bare `<Postmaster>` or `postmaster@<an SMS domain>`, in any case. */
export function isPostmasterAddress(address: string, domains: readonly string[]): boolean {
  const at = address.lastIndexOf('@');
  if (at < 0) return address.toLowerCase() === POSTMASTER;
  return address.slice(0, at).toLowerCase() === POSTMASTER && smsDomainOf(address, domains) !== undefined;
}

/**
 * Whether a report from the relay to this address would be made for nothing, or do harm: any address
 * at an SMS domain but the postmaster's (an SMS address is never texted a bounce, the relay's own
 * MAILER-DAEMON takes no mail, and a reply mail's return path takes the bounce of that reply mail only:
 * a report there would fail it).
 */
export function refusesReportsTo(address: string, domains: readonly string[]): boolean {
  return isAtSmsDomain(address, domains) && !isPostmasterAddress(address, domains);
}

/** Puzzel's email interface addresses `<number>-<serviceId>@…` (src/providers/puzzel/README.md); the service id is its own. */
const NUMBER_WITH_ACCOUNT_ID = /^(.+)-([0-9]{1,10})$/;

/**
 * A phone number's URI (RFC 3966 `tel:`, RFC 5724 `sms:`) pasted as the local part, as a click on a link or a
 * contact's "copy link" writes it: no route, so told to write the number alone rather than refused as relaying for its
 * `:`. Its numbers are what comes before its parameters (`;ext=`, `;phone-context=`, `?body=`), `sms:`'s parted by `,`.
 */
const TELEPHONE_URI = /^(tel|sms):([^;?]*)/i;
/** RFC 3966 §5.1.5: a local number's context, where it is a global number's prefix (`;phone-context=+44`), its country code. */
const PHONE_CONTEXT = /;phone-context=\+([0-9]{1,3})(?=[;?]|$)/i;
/** A `+` percent-encoded, as an href writes it (`sms:%2B44…`): the `+` the sender meant. */
const ENCODED_PLUS = /%2B/gi;
/** Digits after a percent-encoded `+` (`%2B447700900123@`): no route, a number copied from a URL. */
const ENCODED_PLUS_NUMBER = /^%2B[^%!:"\\]*$/i;

/**
 * Characters that turn a local part into a route to somewhere else: `%` and `!` hacks, an `@` or
 * `:` left over from a source route, quotes around a local part. smtp-server strips RFC 5321 source
 * routes itself; whatever is left with one of these is refused as relaying, never parsed as a number.
 */
const ROUTING_CHARACTERS = /[%!@:"\\]/;

/** One character of an RFC 5322 atom (RFC 6531's UTF-8 beyond ASCII, but no blank or control) other than `%` and `!`. */
const UNQUOTED_CHARACTER = /[A-Za-z0-9#$&'*+\-/=?^_`{|}~]|[^\p{ASCII}\s\p{Cc}]/u;
/**
 * A local part RCPT reaches unquoted: an RFC 5321 Dot-string of those characters (atoms joined by single dots). Any
 * other is written quoted by a strict client (RFC 5321 §4.1.2), which RCPT refuses as it refuses `%` and `!` (ROUTING_CHARACTERS).
 */
const UNQUOTED_LOCAL_PART = new RegExp(`^(?:${UNQUOTED_CHARACTER.source})+(?:\\.(?:${UNQUOTED_CHARACTER.source})+)*$`, 'u');
/**
 * What no RCPT reaches, quoted or not: a blank or control character or `<`, `>` (smtp-server's syntax error), routing
 * characters and a quote or backslash (refused as relaying), a dot at either end or doubled (no Dot-string). RFC 5322's
 * other specials, `(`, `)`, `[`, `]`, `;` and `,`, smtp-server takes unquoted from a lenient client.
 */
const NEVER_REACHED = /[\s\p{Cc}<>%!@:"\\]|^\.|\.$|\.\./u;

/**
 * Whether RCPT can name a distribution list at `local` as a client writes it: `never` (no client reaches it: `on call`,
 * `ops..team`, `.ops`, `ops%x`), or `quoted` (a strict client such as Postfix quotes it, and is refused as relaying;
 * only a lenient one reaches it: `ops,db`, `ops(db)`). With the name to give it instead, such characters as `-` and
 * one dot between words (`on-call`, `ops-db`).
 */
export function unreachableLocalPart(local: string): { readonly reached: 'never' | 'quoted'; readonly instead: string } | undefined {
  if (UNQUOTED_LOCAL_PART.test(local)) return undefined;
  const instead = [...local]
    .map((character) => (character === '.' || UNQUOTED_CHARACTER.test(character) ? character : '-'))
    .join('')
    .replace(/-+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.-]+|[.-]+$/g, '');
  return { reached: NEVER_REACHED.test(local) ? 'never' : 'quoted', instead };
}

/**
 * Unicode's format characters (Cf) pasted into a number: nearly all show nothing (a zero-width space, the bidi embeddings
 * Windows and contact cards put around a number, a byte order mark), so the number looks right on every screen, and a
 * refusal names each by its code point beside the number to write.
 */
const FORMAT_CHARACTER = /\p{Cf}/gu;
/**
 * A character a screen shows nothing for (Default_Ignorable_Code_Point): most format characters, not those that show
 * (the number signs of Arabic, Syriac and Kaithi such as U+0600, U+070F, U+110BD; the interlinear annotation marks
 * U+FFF9–FFFB; Egyptian hieroglyph format controls): a refusal calls a character invisible only if it is.
 */
const SHOWS_NOTHING = /\p{Default_Ignorable_Code_Point}/u;
/** Whether a local part as written holds a format character: refused naming it, whoever its number is. */
export const holdsFormatCharacter = (spaced: string): boolean => spaced.search(FORMAT_CHARACTER) >= 0;
/** A blank: words, in a local part as written (spaced). */
const BLANK = /\s/u;
/** How a refusal of a local part that is no valid number begins; its reason follows (subjectNumber, notANumber). */
const BAD_RECIPIENT = 'Bad recipient: ';

/**
 * The E.164 numbers a RCPT address stands for: `<number>@<sms-domain>` (also `<number>-<serviceId>`),
 * a configured distribution list, or the subject address. Anything else is refused with the catalogue's reply: 550 5.7.1 for a foreign domain or a
 * routing trick (never an open relay), 550 5.1.3 for a local part that is no valid number. `spaced`: the local part as
 * written with blanks (`447 700 900123`, which no client means as an address) or format characters (FORMAT_CHARACTER): after
 * the domain's check, refused with the number to write where its words are one valid number as a subject's `To:` reads
 * them (subjectNumber), or, with format characters and no blanks, where the local part without them is one a RCPT takes
 * (a list's, the postmaster's, `<number>-<serviceId>`), else with why not; format characters named by code point either
 * way (what to remove).
 */
export function resolveRecipient(address: string, rules: RecipientRules, spaced?: string): ResolvedRecipient {
  const at = address.lastIndexOf('@');
  const local = at > 0 ? address.slice(0, at) : '';
  const domain = smsDomainOf(address, rules.domains);
  if (domain === undefined) {
    // Quoted as written, beyond ASCII by code point: never folded into another, real-looking domain (`smselocal.example`).
    const written = at > 0 ? address.slice(at + 1).toLowerCase() : address;
    throw new RelayError('RELAY_DENIED', `Relaying denied: ${asciiQuoted(written)} is not an SMS domain of this relay`);
  }
  if (spaced !== undefined) {
    const plain = spaced.replace(FORMAT_CHARACTER, '');
    // Words with blanks, as a subject's `To:` reads them; without blanks, the local part as a RCPT of it reads it.
    const read = () => {
      if (BLANK.test(plain)) subjectNumber(plain, rules);
      else if (!isPostmasterAddress(`${plain}@${domain}`, rules.domains)) resolveRecipient(`${plain}@${domain}`, rules);
    };
    const number = asciiQuoted(plain.replace(/\s+/gu, ''));
    if (holdsFormatCharacter(spaced)) throw formatCharactersRefused(spaced, read, `write <${number}@${domain}>`);
    read();
    throw new RelayError('BAD_RECIPIENT_SYNTAX', `Write the number without spaces: <${number}@${domain}>`);
  }
  const uri = TELEPHONE_URI.exec(local);
  const numbers = uri ? uri[2]?.replace(ENCODED_PLUS, '+') : ENCODED_PLUS_NUMBER.test(local) ? local.replace(ENCODED_PLUS, '+') : undefined;
  if (numbers !== undefined && !ROUTING_CHARACTERS.test(numbers)) {
    const what = uri ? `a ${uri[1]?.toLowerCase()}: link` : 'a percent-encoded +';
    throw new RelayError(
      'BAD_NUMBER',
      `${BAD_RECIPIENT}"${asciiQuoted(local)}" is ${what}, not a phone number: ${writtenInstead(numbers.split(','), domain, rules, PHONE_CONTEXT.exec(local)?.[1])}`,
    );
  }
  if (ROUTING_CHARACTERS.test(local)) {
    throw new RelayError('RELAY_DENIED', 'Relaying denied: routed or quoted addresses are not accepted, only <phone number>@domain');
  }
  // A reply to a bounce or report: told what the address is, as the writer answering it needs, not that it is no number.
  // `${local}@${domain}` is withCanonicalDomain(address): `domain` is its domain's canonical form already.
  if (`${local}@${domain}`.toLowerCase() === relaySenderKey(rules)) {
    throw new RelayError('NOT_TEXTABLE', "This address takes no mail: it is the relay's own, the sender of its bounces and delivery reports");
  }
  if (rules.subjectAddress !== '' && local.toLowerCase() === rules.subjectAddress) return { subject: true };
  const list = rules.lists[`${listLocalPart(local)}@${domain}`];
  if (list) return { numbers: list };
  const { e164, tag } = readRecipient(local, rules);
  return tag === undefined ? { numbers: [e164] } : { numbers: [e164], tag };
}

/** The relay's own sender as resolveRecipient compares an address with it, made once per rules (every RCPT asks). */
const relaySenderKeys = new WeakMap<RecipientRules, string>();
function relaySenderKey(rules: RecipientRules): string {
  let key = relaySenderKeys.get(rules);
  if (key === undefined) {
    key = withCanonicalDomain(rules.relaySender).toLowerCase();
    relaySenderKeys.set(rules, key);
  }
  return key;
}

/**
 * What to write for the numbers of a link: each alone at its own address, as RCPT takes it; or, where one is no
 * number, why (the hint followed would only be refused). A local number in a link's context (`callingCode`, from
 * `;phone-context=+44`) is read in that country and written in international form, as the relay's own region would
 * read it as another.
 */
function writtenInstead(numbers: readonly string[], domain: string, rules: RecipientRules, callingCode: string | undefined): string {
  const context = callingCode === undefined ? undefined : regionOfCallingCode(callingCode);
  const written: string[] = [];
  for (const number of numbers.map((each) => each.trim()).filter((each) => each !== '')) {
    const local = context !== undefined && !number.startsWith('+');
    const read = localPartNumber(number, local ? context : rules.defaultRegion, rules.accountIdAddresses);
    if (!read.ok) return read.reason;
    written.push(local ? read.e164 : number);
  }
  const addresses = written.map((number) => `<${asciiQuoted(number)}@${domain}>`);
  if (addresses.length === 0) return 'it names no number';
  return addresses.length === 1 ? `write the number alone, ${addresses[0]}` : `write one number per address, ${addresses.join(', ')}`;
}

/**
 * Whether the sender wrote `number` itself: at the number's own address, or in the subject (the subject address). A
 * list's member is the relay's to know, not its sender's: a report about it masks it, as the bounce of a member refused
 * at acceptance does. An address the rules no longer resolve (its list or SMS domain since removed): masked too.
 */
export function writtenBySender(rcpt: string, number: string, rules: RecipientRules): boolean {
  try {
    const resolved = resolveRecipient(rcpt, rules);
    if ('subject' in resolved) return true;
    return 'numbers' in resolved && recipientNumber(rcpt.slice(0, rcpt.lastIndexOf('@')), rules) === number;
  } catch {
    return false;
  }
}

/**
 * RFC 3191 §3's qualifier of a number on a mobile network, the SMS address old Exchange and Notes connectors write
 * (`+447700900123/TYPE=PLMN@`): it names that number, texted as written without it; before a `+tag` too
 * (`+447700900123/TYPE=PLMN+ups@`, a connector's address tagged by the monitoring system).
 */
const PLMN_QUALIFIER = /\/TYPE=PLMN(?=(?:\+[^+]*)?$)/i;
/** Postfix's recipient_delimiter `+` after a number: a tag (`447700900123+nagios`, `+447700900123+ups`), never part of it. */
const SUB_ADDRESS = /^(\+?[^+]+)\+([^+]*)$/;
/**
 * A tag taken and left out: letters, digits, `.`, `_`, `-`, a letter among them. Digits alone are refused: they could be the
 * rest of the number, or another one (`447700900123+447700900124`), and the tag must never change which number is texted.
 */
const TAG = /^[A-Za-z0-9._-]*[A-Za-z][A-Za-z0-9._-]*$/;
/** What a number is written with inside a tag or word (`+44-7700-900124x`, `7700.900124x`): left out to read its digits. */
const NUMBER_SEPARATORS = /[-._]/g;
const DIGIT_RUN = /[0-9]+/g;
/**
 * A word after a number (`447700900123-nagios`, `+447700900123_ups`, `447700900123.web`) starts at one of these: qmail's
 * and Exim's recipient delimiter `-` (Postfix's may be one too), `_` or `.`; the word is of TAG's characters, a letter among them.
 */
const WORD_DELIMITER = /[-_.]/;
const WORD_CHARACTER = /[A-Za-z0-9._-]/;
const LETTER = /[A-Za-z]/;
/** What follows a number that no SMS reaches: another RFC 3191 qualifier (`/TYPE=PSTN`, `/T=…`), an RFC 3966 parameter (`;ext=1`). */
const NOT_FOR_SMS = /^([^/;]+)([/;].*)$/;
/** RFC 3966's extension: a line behind a switchboard, which takes no SMS. */
const EXTENSION = /^;ext=/i;

/** A local part's number as RCPT reads it; `tag`, a `+tag` written after it (SUB_ADDRESS) and left out. */
export type LocalPartNumber = { ok: true; e164: string; tag?: string } | { ok: false; reason: string };

/**
 * The number of a local part as RCPT reads it (`smsrelay log` reads an address so); or why it is none: the number alone
 * (numberWithAccountId), or with RFC 3191's `/TYPE=PLMN` after it, or a Postfix-style `+tag` (taken, the tag left out and
 * returned, for the reply to say so). A number with anything else after it that no SMS reaches (another RFC 3191 type,
 * `;ext=`) is refused saying what to leave out.
 */
export function localPartNumber(local: string, defaultRegion: CountryCode | undefined, accountIdAddresses?: AccountIdAddresses): LocalPartNumber {
  const written = local.replace(PLMN_QUALIFIER, '');
  const number = numberWithAccountId(written, defaultRegion, accountIdAddresses);
  if (number.ok) return number;
  const quoted = `"${asciiQuoted(local)}"`;
  const [, tagged, tag] = SUB_ADDRESS.exec(written) ?? [];
  const untagged = tagged === undefined || tag === undefined ? undefined : numberWithAccountId(tagged, defaultRegion, accountIdAddresses);
  if (untagged?.ok && tag !== undefined) {
    if (!TAG.test(tag)) return { ok: false, reason: `${quoted} is not a phone number: write the number alone, without "+${tag}"` };
    // A tag may hold a second number (`07700900123+447700900124x`, a comma lost between two): refused, never not texted.
    return holdsNumber(tag, untagged.e164, defaultRegion, true) ? twoNumbers(quoted) : { ...untagged, tag };
  }
  const [, before, after] = NOT_FOR_SMS.exec(written) ?? [];
  if (before !== undefined && after !== undefined && numberWithAccountId(before, defaultRegion, accountIdAddresses).ok) {
    const what = after.startsWith('/')
      ? 'names a service other than SMS (RFC 3191 writes an SMS number with /TYPE=PLMN)'
      : EXTENSION.test(after)
        ? 'names an extension, which no SMS reaches'
        : 'is not a phone number';
    return { ok: false, reason: `${quoted} ${what}: write the number alone, without "${after}"` };
  }
  // A word after a valid number: what to leave out, as for `-<digits>` (numberWithAccountId); unless it holds a second
  // number (`+12025550123-2025550124-x`), which the hint would have the writer drop.
  const word = wordAfterNumber(written, (before) => numberWithAccountId(before, defaultRegion, accountIdAddresses));
  if (word === undefined) return number;
  if (holdsNumber(word.word, word.e164, defaultRegion, false)) return twoNumbers(quoted);
  return { ok: false, reason: `${quoted} is not a phone number: write the number alone, without "${word.word}"` };
}

/**
 * The longest word (WORD_DELIMITER, WORD_CHARACTER) that ends `written` after a number `read` takes, with that number, or
 * undefined. One pass back over the word's characters, not a pattern tried at each delimiter: a refused RCPT costs linear time.
 */
function wordAfterNumber(written: string, read: (before: string) => ReturnType<typeof normaliseNumber>): { word: string; e164: string } | undefined {
  let start = written.length;
  while (start > 0 && WORD_CHARACTER.test(written[start - 1] as string)) start--;
  let lastLetter = -1;
  for (let index = written.length - 1; index >= start && lastLetter < 0; index--) if (LETTER.test(written[index] as string)) lastLetter = index;
  for (let index = Math.max(start, 1); index < lastLetter; index++) {
    if (!WORD_DELIMITER.test(written[index] as string)) continue;
    const before = read(written.slice(0, index));
    if (before.ok) return { word: written.slice(index), e164: before.e164 };
  }
  return undefined;
}

/**
 * A local part's number, also in the `<number>-<account id>` form where it is read; or why it is none. A number and
 * `-<digits>` is the number in the `<number>-<serviceId>` form only where a provider that sends reads that form
 * (`accountIdAddresses`) and the digits are what an account id there can be: a configured one, or where none is
 * configured, digits that are no number of the default region nor of the first number's country (Puzzel is Norwegian,
 * and `4741234567-41234568` two Norwegian numbers). Digits that read as a number are refused as two, one address per
 * number asked for, never the first texted and the second dropped.
 */
function numberWithAccountId(
  local: string,
  defaultRegion: CountryCode | undefined,
  accountIdAddresses: AccountIdAddresses | undefined,
): ReturnType<typeof normaliseNumber> {
  const number = normaliseNumber(local, defaultRegion);
  if (number.ok) return number;
  const [, written, suffix] = NUMBER_WITH_ACCOUNT_ID.exec(local) ?? [];
  const first = written === undefined ? undefined : normaliseNumber(written, defaultRegion);
  if (suffix === undefined || !first?.ok) return number;
  const quoted = `"${asciiQuoted(local)}"`;
  if (accountIdAddresses?.ids.includes(suffix)) return first;
  if (readsAsNumber(suffix, first.e164, defaultRegion)) return twoNumbers(quoted);
  if (accountIdAddresses === undefined || accountIdAddresses.ids.length > 0) {
    return { ok: false, reason: `${quoted} is not a phone number: write the number alone, without "-${suffix}"` };
  }
  return first;
}

/** Whether `digits` after the number `first` are a number of their own: of the default region or of `first`'s country. */
const readsAsNumber = (digits: string, first: string, defaultRegion: CountryCode | undefined): boolean =>
  [defaultRegion, ...countriesOf(first)].some((region) => normaliseNumber(digits, region).ok);

/**
 * Whether a tag or word written after the number `first` holds another number (readsAsNumber): a run of its digits once
 * its separators are left out, not a count of digits, so `INC0012345`, `nagios-20261207` and `build1234567` stay tags.
 * A tag's leading digits follow its `+` (`+12025550123+447700900124x`): read in international form too.
 */
function holdsNumber(written: string, first: string, defaultRegion: CountryCode | undefined, afterPlus: boolean): boolean {
  const plain = written.replace(NUMBER_SEPARATORS, '');
  const leading = /^[0-9]+/.exec(plain)?.[0];
  if (afterPlus && leading !== undefined && normaliseNumber(`+${leading}`).ok) return true;
  return (plain.match(DIGIT_RUN) ?? []).some((digits) => readsAsNumber(digits, first, defaultRegion));
}

const twoNumbers = (quoted: string): LocalPartNumber => ({ ok: false, reason: `${quoted} could be 2 numbers: write one number per address` });

/** The E.164 number of a local part, in any form RCPT reads (localPartNumber); 550 5.1.3 when none. */
export function recipientNumber(local: string, rules: Pick<RecipientRules, 'defaultRegion' | 'accountIdAddresses'>): string {
  return readRecipient(local, rules).e164;
}

/** A local part's number and the `+tag` left out of it, if any; 550 5.1.3 when it is none. */
function readRecipient(local: string, rules: Pick<RecipientRules, 'defaultRegion' | 'accountIdAddresses'>): { e164: string; tag?: string } {
  const number = localPartNumber(local, rules.defaultRegion, rules.accountIdAddresses);
  if (number.ok) return number;
  throw notANumber(local, number.reason);
}

/**
 * A number of a subject's `To:`, written with the blanks it was typed with (`To:+44 7700 900123`): read as RCPT reads
 * one, unless its words could each be a number of their own (severalNumbers): refused then, never joined into another's.
 */
export function subjectNumber(written: string, rules: Pick<RecipientRules, 'defaultRegion' | 'accountIdAddresses'>): string {
  if (holdsFormatCharacter(written)) {
    const plain = written.replace(FORMAT_CHARACTER, '');
    throw formatCharactersRefused(written, () => subjectNumber(plain, rules), `write To:${asciiQuoted(plain.replace(/\s+/gu, ''))}`);
  }
  const several = severalNumbers(written, rules.defaultRegion);
  if (several !== undefined) throw new RelayError('BAD_NUMBER', `${BAD_RECIPIENT}${several}`);
  return recipientNumber(written, rules);
}

/**
 * The refusal of a number written with format characters (FORMAT_CHARACTER), in RCPT's and a subject's `To:` alike: each
 * named by code point (what to remove), then `fix` (what to write), or, where `read` finds no number once they are out,
 * why not.
 */
function formatCharactersRefused(written: string, read: () => unknown, fix: string): RelayError {
  const found = [...new Set(written.match(FORMAT_CHARACTER))];
  const what = `${found.every((character) => SHOWS_NOTHING.test(character)) ? 'the invisible' : 'the'} character${found.length > 1 ? 's' : ''}`;
  const holds = `"${asciiQuoted(written)}" holds ${what} ${found.map(codePointName).join(', ')}`;
  try {
    read();
  } catch (error) {
    if (!(error instanceof RelayError) || !error.message.startsWith(BAD_RECIPIENT)) throw error;
    // No number once they are out either: what to remove is said all the same, then why the rest is none.
    return new RelayError('BAD_NUMBER', `${BAD_RECIPIENT}${holds}, and ${error.message.slice(BAD_RECIPIENT.length)}`, { quotes: [written, ...error.quotes] });
  }
  return new RelayError('BAD_NUMBER', `${BAD_RECIPIENT}${holds}: ${fix}`, { quotes: [written] });
}

/** Why a local part that is no valid number gets no SMS; the no-reply address says what it is for. */
function notANumber(local: string, reason: string): RelayError {
  if (local.toLowerCase() === NO_REPLY_LOCAL_PART) {
    return new RelayError('NOT_TEXTABLE', 'This address takes no mail: it sends the SMS of senders that cannot receive SMS (short codes and sender names)');
  }
  // The reason quotes what was written (`"447700900557447700900558" is too long`): the log masks it however many digits it has.
  return new RelayError('BAD_NUMBER', `${BAD_RECIPIENT}${reason}`, { quotes: [local] });
}

/**
 * A local part refused as a number may name a sender the relay has received SMS from (`knows`): a
 * number from a range libphonenumber does not list yet (the gateway vouched for it: it is taken), or a
 * short code, sender name or number written nationally (refused, saying which, for the writer answering its SMS). A sender never
 * seen stays a bad number, so a typo is still refused as one.
 */
export async function knownSenderOf(address: string, knows: (sender: string) => Promise<boolean>): Promise<ResolvedRecipient | undefined> {
  const local = address.slice(0, Math.max(address.lastIndexOf('@'), 0));
  const sender = readSender(local);
  if (sender === undefined || !(await knows(sender))) return undefined;
  if (canTextBack(sender)) return { numbers: [sender] };
  throw new RelayError('NOT_TEXTABLE', `"${asciiQuoted(local)}" ${untextableWords(sender)}`);
}

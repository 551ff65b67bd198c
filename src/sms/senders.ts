/**
 * Who sent an SMS, as the gateway names it. The gateway knows better than any number metadata: a
 * short code (`12345`), an alphanumeric sender (`ACME`) and a new number range libphonenumber does
 * not know yet all reach the relay, and each must reach a mailbox. So any sender the gateway gives is
 * taken: digits are normalised to E.164 where they can be (written with `+` or the `00` international
 * prefix alike), else kept; a name of up to 11 characters is kept as given. Only what cannot be a sender at all is refused (the request is then quarantined).
 */
import type { CountryCode } from 'libphonenumber-js';
import { countriesOf, normaliseNumber } from './numbers.ts';

/**
 * The local part reply mails from senders that cannot be texted back come from (`no-reply@<SMS
 * domain>`): a reply to it reaches the relay, which refuses it with the reason, so the writer's own
 * server bounces it with that reason instead of the reply vanishing.
 */
export const NO_REPLY_LOCAL_PART = 'no-reply';

/**
 * How a phone can be answered: a number can be texted back; a short code or a name cannot, nor a number the gateway
 * wrote nationally whose country the relay cannot tell (`national`: trunk 0, and no region to read it in, or no number
 * there), nor a longer run of digits that is neither (`digits`: `000123456789`, no number the relay can read).
 */
export type SenderKind = 'number' | 'short-code' | 'national' | 'digits' | 'alphanumeric';

/**
 * What a sender that cannot be texted back is, for the mail of its SMS and the refusal of a mail to it: one table, so
 * that the two never call it differently.
 */
const UNTEXTABLE_SENDER: Readonly<Record<Exclude<SenderKind, 'number'>, string>> = {
  'short-code': 'is a short code and cannot receive SMS',
  national: 'is a number written nationally, of a country the relay cannot tell, so the relay cannot text it',
  digits: 'is digits the relay cannot read as a phone number, so the relay cannot text it',
  alphanumeric: 'is a sender name and cannot receive SMS',
};

/** Why `sender`, which canTextBack refused, cannot be texted (UNTEXTABLE_SENDER's words for its kind). */
export function untextableWords(sender: string): string {
  return UNTEXTABLE_SENDER[senderKind(sender) as Exclude<SenderKind, 'number'>];
}

/** The longest short code (8 digits, as SMSCs and carriers give them): a longer run of digits is none. */
const LONGEST_SHORT_CODE_DIGITS = 8;
/** A number written nationally: its trunk 0, then a digit that is not one (`00` is the international prefix). */
const NATIONAL_NUMBER = /^0[1-9]\d*$/;

/**
 * Digits the relay treats as an international number even when libphonenumber's metadata does not
 * list them (a range opened after the library's release): 8 to 15 digits (E.164's maximum), not
 * starting with a 0 (a national trunk prefix, which says nothing of the country).
 */
const INTERNATIONAL_DIGITS = /^[1-9]\d{7,14}$/;
/**
 * The international prefix `00` (ITU-T E.164's for most countries; Puzzel and SMSCs write senders so, as
 * `004791234201`): what follows is international digits, as after a `+`. Without a `+` only before 7 to 15
 * digits (the shortest numbers with their country code have 7, E.164 allows 15), so that a short code
 * written with leading zeros stays one; after a `+` it is always the prefix left in (`+0047…`: E.164 has no
 * country code 0).
 */
const INTERNATIONAL_PREFIX = /^00(?=[1-9]\d{6,14}$)/;
const PREFIX_AFTER_PLUS = /^00(?=[1-9])/;
/** Short codes and other digit strings the gateway gives: kept as given. */
const OTHER_DIGITS = /^\d{3,15}$/;
/** GSM 03.40 alphanumeric originators: at most 11 characters, at least one a letter. */
const ALPHANUMERIC_SENDER = /^(?=.*\p{L})[\p{L}\p{N} &'._-]{1,11}$/u;

/**
 * The sender as the relay keeps it (E.164 for numbers: `+447700900123`), or undefined when the value
 * cannot be one. `+` (or `00`, INTERNATIONAL_PREFIX) plus digits is always international. A national
 * number (`07700900706`) says nothing of its country and is kept as given.
 */
export function readSender(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const given = value.trim();
  const { international, digits } = writtenNumber(given);
  if (/^\d+$/.test(digits)) {
    const known = normaliseNumber(`+${digits}`);
    if (known.ok) return known.e164;
    if (international ? /^[1-9]\d{2,14}$/.test(digits) : INTERNATIONAL_DIGITS.test(digits)) return `+${digits}`;
    return !international && OTHER_DIGITS.test(digits) ? digits : undefined;
  }
  return ALPHANUMERIC_SENDER.test(given) ? given : undefined;
}

/**
 * How a number is written: `international` when with `+` or the `00` international prefix
 * (INTERNATIONAL_PREFIX, PREFIX_AFTER_PLUS), and what follows them (`digits`, the whole value when neither).
 * The one reading of `00` wherever the relay meets a number written by someone else: senders (readSender), sender
 * ids (the allow-list, src/policy/senders.ts; Puzzel's originator and SMPP's source_addr, so that the allow-list and
 * the gateway read an id alike) and the recipient Puzzel writes back. IntelliSoftware's answer drops a `00` before
 * any digits: a wire format of its own, where `00` can only be the prefix of a number the relay sent.
 */
export function writtenNumber(given: string): { readonly international: boolean; readonly digits: string } {
  const plus = given.startsWith('+');
  const bare = plus ? given.slice(1) : given;
  const prefixed = (plus ? PREFIX_AFTER_PLUS : INTERNATIONAL_PREFIX).test(bare);
  return { international: plus || prefixed, digits: prefixed ? bare.slice(2) : bare };
}

/**
 * The number a delivery report is about, as the gateway wrote it: international digits (with `+`, `00` or neither) in
 * E.164, as the relay stored it when it sent; or a number written nationally (`07700900291`), kept as written for the
 * inbound service to place (reportNumber), as a reply's sender is. Reports only ever concern numbers the relay texted:
 * a short code or a name is none.
 */
export function readReportNumber(value: unknown): string | undefined {
  const sender = readSender(value);
  return sender !== undefined && (senderKind(sender) === 'number' || senderKind(sender) === 'national') ? sender : undefined;
}

/**
 * Which number of some a number the gateway wrote is: `one` (E.164), `ambiguous` when it fits more than one of them
 * (`0612345678` answering an SMS to both +33 612345678 and +31 612345678: the relay does not guess which, as guessing
 * would decide one phone's SMS by the other's report, or answer one phone's reply from the other's number), or `none`.
 */
export type Placing = { readonly kind: 'one'; readonly number: string } | { readonly kind: 'ambiguous' } | { readonly kind: 'none' };

const NONE: Placing = { kind: 'none' };
const AMBIGUOUS: Placing = { kind: 'ambiguous' };

/** The one of `numbers`, if it is one: none when there are none, ambiguous when there are several. */
function theOne(numbers: readonly string[]): Placing {
  const [first, ...others] = numbers;
  if (first === undefined) return NONE;
  return others.length === 0 ? { kind: 'one', number: first } : AMBIGUOUS;
}

/**
 * A report's number in E.164 (WrittenReport.number), from the numbers its id was sent under (`sent`): the id names the
 * SMS, so the number written there is a check, not the key. None written (a Puzzel report without the relay's
 * reference): the id's one number (ambiguous when it was sent to several). Written nationally: the one of `sent` it is
 * in that number's own country, as a reply's sender is read (nationalSenderAmong: ambiguous when it is more than one of
 * them), else read in `region` (sms.defaultRegion, else the provider's country) as any number the id was not sent under
 * (an orphan, or no SMS of that id's). None when neither places it.
 */
export function reportNumber(written: string | undefined, sent: readonly string[], region: CountryCode | undefined): Placing {
  if (written === undefined) return theOne(sent);
  if (senderKind(written) !== 'national') return { kind: 'one', number: written };
  const among = nationalSenderAmong(written, sent);
  if (among.kind !== 'none') return among;
  const read = nationalSender(written, region);
  return senderKind(read) === 'number' ? { kind: 'one', number: read } : NONE;
}

export function senderKind(sender: string): SenderKind {
  if (sender.startsWith('+')) return 'number';
  if (!/^\d+$/.test(sender)) return 'alphanumeric';
  if (NATIONAL_NUMBER.test(sender)) return 'national';
  return sender.length > LONGEST_SHORT_CODE_DIGITS ? 'digits' : 'short-code';
}

/**
 * A sender as readSender keeps it, a number the gateway wrote nationally (`07700900706`) read in `region`
 * (sms.defaultRegion, else the provider's country) where it is a number there: E.164, as every number is compared and
 * kept, so that it finds the conversation a mail to it opened. Anything else, or without a region, as it was.
 */
export function nationalSender(sender: string, region: CountryCode | undefined): string {
  if (region === undefined || !NATIONAL_NUMBER.test(sender)) return sender;
  const read = normaliseNumber(sender, region, 'national');
  return read.ok ? read.e164 : sender;
}

/**
 * A sender the gateway wrote nationally (`0861234567`) as the one of `numbers` (E.164, those its answer's tracking id
 * or conversation was sent to) it is in that number's own country: whichever country each is of, so that one account
 * texting UK and Irish phones places both. Ambiguous when it is more than one of them: a national number names no
 * country, and countries' plans overlap (FR and NL mobiles, AU and NZ, GB and IE, BE and NL, DE and AT…), so which
 * pairs collide is libphonenumber's reading, never a list. None when it is none of them (or not national).
 */
export function nationalSenderAmong(sender: string, numbers: readonly string[]): Placing {
  if (!NATIONAL_NUMBER.test(sender)) return NONE;
  return theOne(
    numbers.filter((number) =>
      countriesOf(number).some((country) => {
        const read = normaliseNumber(sender, country, 'national');
        return read.ok && read.e164 === number;
      }),
    ),
  );
}

/** True when an SMS can be sent back to this sender (it is a number). */
export function canTextBack(sender: string): boolean {
  return senderKind(sender) === 'number';
}

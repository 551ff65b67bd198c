import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { asciiQuoted, NOT_ASCII } from './ascii.ts';

/**
 * A mailbox the relay mails to and writes into To: and Delivered-To: WHATWG's "valid e-mail address"
 * (zod's html5Email): a local part of RFC 5322 atext and dots, "@", a host name (`localhost` too, as
 * a monitoring host's own mail has it). Nothing a header or an SMTP command treats specially (CR/LF,
 * blanks, quotes, angle brackets, commas) can be in one. The rarer forms of RFC 5322 (a quoted local
 * part, a domain literal) and non-ASCII addresses are not taken.
 */
const MAILBOX = z.regexes.html5Email;

/** The pattern alone (what `z.email({ pattern })` checks of a string), without a schema parse's result object per address. */
export function isMailbox(address: string): boolean {
  return MAILBOX.test(address);
}

/** An address of an address header as read: a mailbox, or an RFC 5322 group (`Team: a@x, b@y;`) of them. */
interface HeaderAddress {
  readonly address?: string | undefined;
  readonly group?: readonly HeaderAddress[] | undefined;
}

/**
 * The addresses of an address header (From:, Reply-To:) that are mailboxes, in order, a group's
 * members where the group stands (RFC 5322 §3.4: an address is a mailbox or a group). A header
 * mailparser reads with garbage for an address (a stray quote in the display name turns
 * `""><img src=x onerror=alert(1)>" <mallory@evil.example>` into `img src=x onerror=alert`) names none.
 */
export function mailboxesOf(header: { readonly value: readonly HeaderAddress[] } | undefined): string[] {
  return (header?.value ?? []).flatMap((entry) => (entry.group ?? [entry]).map((member) => member.address ?? '')).filter(isMailbox);
}

/** The first of `mailboxesOf(header)`, or undefined. */
function mailboxOf(header: { readonly value: readonly HeaderAddress[] } | undefined): string | undefined {
  return mailboxesOf(header)[0];
}

/**
 * Whether an address is at one of the relay's SMS domains: mail there comes back to the relay (texted,
 * refused, or to its postmaster), never to a person, so it is no mailbox for the relay's own mail (the
 * default mailbox, the postmaster's, a reroute, a conversation's).
 */
export function isAtSmsDomain(address: string, smsDomains: readonly string[]): boolean {
  return smsDomainOf(address, smsDomains) !== undefined;
}

/**
 * A domain as the relay compares and writes it: lower case, an IDN as its A-labels, without the root's
 * trailing dot. A domain written in UTF-8 is read by UTS #46 (`smsélocal.example` is
 * `xn--smslocal-d1a.example`, full-width `ｓｍｓ.localhost` is `sms.localhost`, an ideographic full
 * stop `。` is a dot): RFC 5890 makes them one domain, and an SMTPUTF8 client writes the U-labels.
 * One UTS #46 refuses is '' (no domain). The one reading of a domain everywhere the relay meets one.
 */
export function canonicalDomain(written: string): string {
  const domain = NOT_ASCII.test(written) ? domainToASCII(written) : written.toLowerCase();
  return domain.endsWith('.') ? domain.slice(0, -1) : domain;
}

/**
 * A local part as a list's name is compared, at start-up and at RCPT alike: without case, and in Unicode NFC (RFC 6532
 * §3.1), so that `équipe` pasted decomposed (`e` and U+0301, from a macOS file name) is the same name as every client
 * writes it. NFC again after lower-casing, which can leave a composable pair (`T` and U+0308 lower-cases to `t` and
 * U+0308, which NFC composes to U+1E97): the same text gives one key whatever its case or composition.
 */
export function listLocalPart(local: string): string {
  return NOT_ASCII.test(local) ? local.normalize('NFC').toLowerCase().normalize('NFC') : local.toLowerCase();
}

/**
 * The address with its domain as canonicalDomain writes it and the local part as written: ASCII
 * where a header field must be (RFC 3464's rfc822 addresses), and one form to compare.
 */
export function withCanonicalDomain(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : `${address.slice(0, at)}@${canonicalDomain(address.slice(at + 1))}`;
}

/** The SMS domain (as configured: canonicalDomain's form) an address is at, or undefined. */
export function smsDomainOf(address: string, smsDomains: readonly string[]): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  const domain = canonicalDomain(address.slice(at + 1));
  return domain !== '' && smsDomains.includes(domain) ? domain : undefined;
}

/**
 * The number an operator names by writing `to`: itself, or the local part of `<number>@<an SMS domain>` (copied from a
 * mail's To or a bounce's Final-Recipient), as the console's Test send and `smsrelay log` take it.
 */
export function numberWritten(to: string, smsDomains: readonly string[]): string {
  return isAtSmsDomain(to, smsDomains) ? to.slice(0, to.lastIndexOf('@')) : to;
}

/** `"Name" <address>`, `Name <address>` or `<address>`: a To or From as a mail program copies it; the name as written, and the address inside. */
const NAMED_ADDRESS = /^("(?:[^"\\]|\\.)*"\s*|[^"<>]*)<([^<>]*)>$/s;
/**
 * An unquoted name holding what ends or starts an address (`ops@example.com, <…>`, `a@b <…>`): a second address, or a
 * name that poses as one; either way which address was meant is not the one inside <…> for sure.
 */
const NAME_AS_ADDRESS = /[@,]/;
/**
 * A link's address: a `mailto:` (RFC 6068) one's, or the number of a `tel:` (RFC 3966) or `sms:` (RFC 5724) one; then its
 * `;parameters` and `?query`.
 */
const LINK = /^(?:mailto:([^?]*)|(?:tel|sms):([^;?]*))([;?].*)?$/is;
/** A `mailto:` query's header fields that add recipients (RFC 6068 §2): the link then names more than its address. */
const MAILTO_RECIPIENTS = new Set(['to', 'cc', 'bcc']);
/**
 * The `tel:` parameters (RFC 3966 §5.1) that make the link name another phone than its number alone: an extension behind
 * it, an ISDN subaddress, or the context a local number is dialled in. Sending to the number without them reaches
 * someone else, so a link with one is refused; any other parameter (`;npdi`, `;rn=`) leaves the number as it is.
 */
const TEL_ELSEWHERE: Readonly<Record<string, string>> = {
  ext: 'an extension behind the number',
  isub: 'an ISDN subaddress behind the number',
  'phone-context': 'the context its number is local to',
};

/** A number as an operator pastes it: what numberPasted read, and what a refusal adds to name what it was read from. */
export type NumberPasted = { readonly ok: true; readonly number: string; readonly readFrom: string } | { readonly ok: false; readonly reason: string };

/** A `;name=value;…` or `?name=value&…` list's names, decoded (`%74o` is `to`) and lower-cased. */
function fieldNames(list: string, separator: string): string[] {
  return list
    .split(separator)
    .map((field) => (field.split('=')[0] ?? '').trim())
    .filter((name) => name !== '')
    .map((name) => {
      try {
        return decodeURIComponent(name).toLowerCase();
      } catch {
        return name.toLowerCase();
      }
    });
}

/** Why `link`'s rest (its `;parameters` and `?query`) names another recipient than its address or number; undefined when it does not. */
function linkElsewhere(mailto: boolean, rest: string): string | undefined {
  const query = rest.indexOf('?');
  if (mailto) {
    const named = fieldNames(rest.slice(query + 1), '&').find((name) => MAILTO_RECIPIENTS.has(name));
    return named && `is a mailto: link that also sends to its ${named}= recipients`;
  }
  const parameter = fieldNames(query < 0 ? rest : rest.slice(0, query), ';').find((name) => Object.hasOwn(TEL_ELSEWHERE, name));
  return parameter && `is a link whose ;${parameter}= names ${TEL_ELSEWHERE[parameter]}, another phone than the number alone`;
}

/**
 * The number an operator names by pasting `pasted` (the console's Number fields: Test send and the searches): what
 * numberWritten takes, also inside a mail's `"Name" <…>` or `<…>`, a `mailto:` link, or a `tel:`/`sms:` link's number;
 * each is unwrapped at most once. What names another recipient too (a name holding `@` or `,` outside quotes, a
 * `mailto:`'s `to=`, a `tel:`'s `;ext=`) and an address at another domain are refused naming what was read; `readFrom`
 * is empty when the number is what was pasted, else ` (read from "<pasted>")`, for a refusal of the number to name both.
 */
export function numberPasted(pasted: string, smsDomains: readonly string[]): NumberPasted {
  const text = pasted.trim();
  const quoted = `"${asciiQuoted(pasted)}"`;
  const address = NAMED_ADDRESS.exec(text);
  const name = address?.[1]?.trim() ?? '';
  if (!name.startsWith('"') && NAME_AS_ADDRESS.test(name)) {
    return {
      ok: false,
      reason: `${quoted} names more than one address (before the <…>, "${asciiQuoted(name)}" holds an @ or a comma outside quotes): paste one`,
    };
  }
  const named = (address?.[2] ?? text).trim();
  const link = LINK.exec(named);
  const elsewhere = link && linkElsewhere(link[1] !== undefined, link[3] ?? '');
  if (elsewhere) return { ok: false, reason: `${quoted} ${elsewhere}: write the number alone` };
  const inner = (link ? (link[1] ?? link[2] ?? '') : named).trim();
  const number = numberWritten(inner, smsDomains);
  if (number === inner && inner.includes('@') && !link?.[2]) {
    const domains = smsDomains.join(', ');
    return {
      ok: false,
      reason: `${quoted} is an address at ${inner.slice(inner.lastIndexOf('@') + 1)}, not at the relay's SMS domain${smsDomains.length === 1 ? '' : 's'} (${domains}): write the number alone, or as <number>@${smsDomains[0] ?? 'an SMS domain'}`,
    };
  }
  return { ok: true, number, readFrom: number === text ? '' : ` (read from ${quoted})` };
}

/** Where the phone's replies to a mail go, by its headers, and what the 250 says of the choice. */
export interface MailboxChoice {
  /** Where the phone's answers go (a conversation's mailbox); undefined: the mail starts no conversation. */
  readonly mailbox: string | undefined;
  /**
   * The mail's author (RFC 5322 §3.6.2): From's one address, or, of a From naming several, the one its
   * Sender names; undefined when several name no such one. With `mailbox`, the mailboxes this mail is from.
   */
  readonly author: string | undefined;
  /** What was not taken for the phone's replies and why, in the 250's words; undefined when the choice is plain. */
  readonly note: string | undefined;
}

/** The headers a mailbox is chosen from, as mailparser reads them. */
interface MailboxHeaders {
  readonly from?: { readonly value: readonly HeaderAddress[] } | undefined;
  readonly replyTo?: { readonly value: readonly HeaderAddress[] } | undefined;
  readonly headers: { get(name: string): unknown };
}

/** Where a mail without a mailbox has the phone's replies go (docs/replies.md), as a 250 says it. */
const WITHOUT_MAILBOX = "the phone's replies go as for a mail without one: to the number's latest conversation, else the default mailbox";

/**
 * The mailbox a mail's conversation takes: the first readable `Reply-To` address, else the author.
 * An address at an SMS domain is never one (the phone's answer would come back to the relay and be
 * lost): it is passed over as an unreadable one is, and the 250 says so. A From naming several
 * authors has its Sender name the one who wrote (RFC 5322 §3.6.2); without a Sender among them none is
 * the mail's, so no author's conversation can be taken over by listing its address after one's own.
 */
export function mailboxChoice(mail: MailboxHeaders, smsDomains: readonly string[]): MailboxChoice {
  const replyTo = mailboxesOf(mail.replyTo);
  const from = mailboxesOf(mail.from);
  const sender = mailboxOf(mail.headers.get('sender') as { value: readonly HeaderAddress[] } | undefined);
  const author = from.length === 1 ? from[0] : from.find((address) => address.toLowerCase() === sender?.toLowerCase());
  const candidates = [...replyTo.map((address) => ({ header: 'Reply-To', address })), ...(author ? [{ header: 'From', address: author }] : [])];
  const chosen = candidates.findIndex(({ address }) => !isAtSmsDomain(address, smsDomains));
  const mailbox = candidates[chosen]?.address;
  const notes = [
    ...candidates
      .slice(0, chosen < 0 ? candidates.length : chosen)
      .map(({ header, address }) => `the ${header} ${address} is at this relay's SMS domain (a loop): not taken`),
    // Said where the From decided (no Reply-To was taken): a several-address From is no one author otherwise.
    ...(from.length > 1 && candidates[chosen]?.header !== 'Reply-To'
      ? [
          author
            ? `the From names ${from.length} addresses: its Sender, ${author}, wrote it`
            : `the From names ${from.length} addresses and its Sender none of them: none is taken`,
        ]
      : []),
  ];
  const goes = mailbox === undefined ? WITHOUT_MAILBOX : `the phone's replies go to ${mailbox}`;
  return { mailbox, author, note: notes.length > 0 ? `${notes.join('; ')}; ${goes}` : undefined };
}

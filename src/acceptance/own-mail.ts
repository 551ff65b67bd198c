import { QUOTED_CLIENT_TEXT_CHARS, RelayError } from '../errors.ts';
import { asciiQuoted } from '../mail/ascii.ts';
import { isAtSmsDomain } from '../mail/addresses.ts';
import { LOOP_HEADER } from '../mail/extract.ts';
import type { Store } from '../store/types.ts';

/**
 * What a mail's own header block says of the way it came, counted from the fields as written (the MIME readers file
 * a list's `List-*` fields under other names, or not at all): how often it carries the relay's LOOP_HEADER and what
 * the first names, how many trace lines (Received:) it has, whether a mailing list sent this copy of it and whether
 * a person redirected it.
 */
export interface MailTrace {
  readonly loopHeaders: number;
  /** The first LOOP_HEADER's value: the relay that wrote it names itself (its smtp.hostname). */
  readonly loopBy: string | undefined;
  readonly hops: number;
  /** It carries a field that only a mailing list writes on the copies it sends its members (LIST_FIELDS). */
  readonly listCopy: boolean;
  /** The first List-Id's value (else List-Post's), for the log: which list sent it. */
  readonly listId: string | undefined;
  /**
   * The list that sent it writes its own `Precedence: bulk` in place of the writer's (EZMLM_LIST): in its copy that
   * mark is the list's. Mailman, Sympa and Google Groups write `Precedence: list` only where the writer wrote none,
   * so a `bulk` or `junk` in their copies is the writer's (an autoresponder's).
   */
  readonly listPrecedence: boolean;
  /** A `Resent-*` field (RFC 5322 §3.6.6): a person redirected ("bounced") the mail onwards as it was. */
  readonly resent: boolean;
  /** The first Message-ID, as written (unfolded). */
  readonly messageIdHeader: string | undefined;
  /** The Return-Path's address, which the delivering MTA wrote: a saved mail's envelope sender. */
  readonly returnPath: string | undefined;
}

/**
 * RFC 2919's List-Id and RFC 2369's List-Post: every list manager (Mailman, Google Groups, Sympa, ezmlm, groups.io)
 * writes them on each copy, and the relay's own mail never does. Bulk mailers write List-Id too (Mailchimp,
 * SendGrid): it counts only for a mail that carries LOOP_HEADER, and for marks only in an answer to a reply mail.
 */
const LIST_FIELDS: ReadonlySet<string> = new Set(['list-id', 'list-post']);
/**
 * ezmlm's own field (`Mailing-List: contact ops-help@…; run by ezmlm`): ezmlm removes the writer's Precedence
 * (its default headerremove) and adds `Precedence: bulk` to every copy.
 */
const EZMLM_LIST = /\brun by ezmlm\b/i;
/**
 * Trace lines past which a mail is going round: Postfix's hopcount_limit (50) and Exim's received_headers_max (30)
 * refuse a mail with more as a loop. A list's copy of a reply mail has a handful (the smarthost's, the list's).
 */
const MAX_HOPS = 30;
/**
 * A field's name at a line's start (RFC 5322 §3.6.8: printable ASCII but the colon), and the rest of that line; a
 * folded line starts with a blank.
 */
const FIELD = /^([!-9;-~]+)[ \t]*:[ \t]*([^\r\n]*)/gm;
const ANGLE_ADDRESS = /^<([^<>]*)>/;
const FOLD = /\r?\n(?=[ \t])/g;

/**
 * The fields whose reading needs a mail's trace on the way in: the relay's loop header (its own mail come back), and
 * the marks a list's copy may carry for the list (Precedence, X-Loop). A mail with none of them has NO_TRACE.
 */
export const TRACED_FIELD = new RegExp(`^(?:${LOOP_HEADER}|Precedence|X-Loop)[ \t]*:`, 'im');
export const NO_TRACE: MailTrace = Object.freeze({
  loopHeaders: 0,
  loopBy: undefined,
  hops: 0,
  listCopy: false,
  listId: undefined,
  listPrecedence: false,
  resent: false,
  messageIdHeader: undefined,
  returnPath: undefined,
});

/** The trace of a header block as received (`header`: up to the empty line that ends it). */
export function traceOf(header: string): MailTrace {
  let loopHeaders = 0;
  let loopBy: string | undefined;
  let hops = 0;
  let listCopy = false;
  let listId: string | undefined;
  let listPrecedence = false;
  let resent = false;
  let messageIdHeader: string | undefined;
  let returnPath: string | undefined;
  const loop = LOOP_HEADER.toLowerCase();
  // Unfolded first (RFC 5322 §2.2.3): a field's value may start on its next line (`Message-ID:` CRLF ` <…>`).
  for (const [, written = '', value = ''] of header.replace(FOLD, ' ').matchAll(FIELD)) {
    const name = written.toLowerCase();
    if (name === loop) {
      loopHeaders++;
      loopBy ??= value.trim();
    } else if (name === 'received') hops++;
    else if (LIST_FIELDS.has(name)) {
      listCopy = true;
      if (name === 'list-id' || listId === undefined) listId = value.trim();
    } else if (name === 'mailing-list') listPrecedence ||= EZMLM_LIST.test(value);
    else if (name.startsWith('resent-')) resent = true;
    else if (name === 'message-id') messageIdHeader ??= ANGLE_ADDRESS.exec(value)?.[0];
    else if (name === 'return-path') returnPath ??= ANGLE_ADDRESS.exec(value)?.[1];
  }
  return { loopHeaders, loopBy, hops, listCopy, listId, listPrecedence, resent, messageIdHeader, returnPath };
}

/** A field's value as a refusal quotes it: cut short and in ASCII, so the reply stays one short line (QUOTED_CLIENT_TEXT_CHARS). */
function quotedField(value: string): string {
  return asciiQuoted(value.slice(0, QUOTED_CLIENT_TEXT_CHARS));
}

/** Who the relay is, to tell its own mail come back: its name in LOOP_HEADER, its SMS domains, its reply mails. */
export interface OwnMailRules {
  /** smtp.hostname: the value of LOOP_HEADER on the relay's mail. */
  readonly hostname: string;
  readonly domains: readonly string[];
  /** Undefined (a preview without relay data): no Message-ID is known as a reply mail's, so nothing is dropped. */
  readonly store: Pick<Store, 'isReplyMail'> | undefined;
}

/**
 * The relay's own mail (its reply mails, reports and notices all carry LOOP_HEADER) come back: never texted, in any
 * case. Undefined for a mail without the header. A mailing list that sets Reply-To to itself sends the relay's reply
 * mail (a phone's answer) back to every member, the phones on this relay among them: that copy, and only it, is taken
 * (the note for the 250) and dropped; refused, it would be a bounce to the list, and a list's bounce processing
 * (Mailman's bounce score) disables the phone's subscription, whose alerts then stop. It is told by what only a list's
 * copy of this relay's reply mail is: the header once (whatever relay it names: relays sharing a store); a Message-ID that is one of its reply mails
 * (the store's); a list's own field (LIST_FIELDS); an envelope sender that is no address of the relay's (a list sends
 * from its own, `ops-bounces@…`); no Resent-* field; and a few hops. Anything else is refused, naming why: a loop (the
 * mail straight back, through an alias or a forwarder, or around more than once), a person's redirect (told by the
 * bounce), another relay's mail, or mail that only carries the header.
 */
export async function returnedOwnMail(trace: MailTrace, envelopeFrom: string, rules: OwnMailRules): Promise<string | undefined> {
  if (trace.loopHeaders === 0) return undefined;
  const refuse = (reason: string) => {
    throw new RelayError('AUTOMATED_MAIL', `Not sent as SMS: it carries ${LOOP_HEADER}: it is the relay's own mail, and ${reason}`);
  };
  if (trace.loopHeaders > 1) refuse(`it carries it ${trace.loopHeaders} times, so it went round more than once`);
  if (trace.hops > MAX_HOPS) refuse(`it has ${trace.hops} Received: lines, more than ${MAX_HOPS}: it is going round`);
  if (envelopeFrom === '') refuse('it comes from the null sender <>, as no list sends');
  if (isAtSmsDomain(envelopeFrom, rules.domains)) refuse("its envelope sender is the relay's own: it came straight back");
  if (!trace.listCopy) refuse('it came back through no mailing list (no List-Id or List-Post): a forward or alias sends it back');
  if (trace.resent) refuse('someone redirected it (Resent-* fields): a reply mail is answered, not redirected, to be texted');
  // The store decides, not the name in the header: relays sharing one PostgreSQL database (or a renamed one) write
  // their own names, and a list's copy reaches whichever relay the MX picks.
  const ours = trace.messageIdHeader !== undefined && (await rules.store?.isReplyMail(trace.messageIdHeader));
  if (!ours) {
    refuse(
      trace.loopBy?.toLowerCase() !== rules.hostname.toLowerCase()
        ? `another relay wrote it (${LOOP_HEADER}: ${quotedField(trace.loopBy ?? '')}), and its Message-ID is none of this relay's reply mails`
        : `its Message-ID ${trace.messageIdHeader === undefined ? '(none)' : quotedField(trace.messageIdHeader)} is none of the relay's reply mails`,
    );
  }
  return `a phone's answer, the relay's own reply mail (${LOOP_HEADER}), come back through a mailing list: dropped, as a list's member drops its own post`;
}

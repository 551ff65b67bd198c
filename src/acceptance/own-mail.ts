import { RelayError } from '../errors.ts';
import { isAtSmsDomain } from '../mail/addresses.ts';
import { LOOP_HEADER } from '../mail/extract.ts';

/**
 * What a mail's own header block says of the way it came, counted from the fields as written (the MIME readers file
 * a list's `List-*` fields under other names, or not at all): how often it carries the relay's LOOP_HEADER, how many
 * trace lines (Received:) it has, and whether a mailing list sent this copy of it.
 */
export interface MailTrace {
  readonly loopHeaders: number;
  readonly hops: number;
  /** It carries a field that only a mailing list writes on the copies it sends its members (LIST_FIELDS). */
  readonly listCopy: boolean;
}

/**
 * RFC 2919's List-Id and RFC 2369's List-Post: every list manager (Mailman, Google Groups, Sympa, ezmlm, groups.io)
 * writes them on each copy; the relay's own mail never does, nor does a newsletter's or a ticket system's receipt
 * (List-Unsubscribe, which bulk senders write too, is not among them).
 */
const LIST_FIELDS: ReadonlySet<string> = new Set(['list-id', 'list-post']);
/**
 * Trace lines past which a mail is going round: Postfix's hopcount_limit (50) and Exim's received_headers_max (30)
 * refuse a mail with more as a loop. A list's copy of a reply mail has a handful (the smarthost's, the list's).
 */
const MAX_HOPS = 30;
/** A field's name at a line's start (RFC 5322 §3.6.8: printable ASCII but the colon); a folded line starts with a blank. */
const FIELD_NAME = /^([!-9;-~]+)[ \t]*:/gm;

/** The trace of a header block as received (`header`: up to the empty line that ends it). */
export function traceOf(header: string): MailTrace {
  let loopHeaders = 0;
  let hops = 0;
  let listCopy = false;
  const loop = LOOP_HEADER.toLowerCase();
  for (const [, written = ''] of header.matchAll(FIELD_NAME)) {
    const name = written.toLowerCase();
    if (name === loop) loopHeaders++;
    else if (name === 'received') hops++;
    else if (LIST_FIELDS.has(name)) listCopy = true;
  }
  return { loopHeaders, hops, listCopy };
}

/**
 * The relay's own mail (its reply mails, reports and notices all carry LOOP_HEADER) come back: never texted, in any
 * case. Undefined for a mail without the header. A mailing list that sets Reply-To to itself sends the relay's reply
 * mail back to the phone's address among its members: that copy, and only it, is taken (the note for the 250) and
 * dropped, as a member drops its own post; refused, it would be a bounce to the list, and a list's bounce processing
 * (Mailman's bounce score) disables the phone's subscription, whose alerts then stop. It is told by what a list does
 * and a loop does not: the header once, a list's own field (LIST_FIELDS), an envelope sender that is no address of
 * the relay's (a list sends from its own, `ops-bounces@…`), and a few hops. Anything else cannot be told from a loop
 * (the mail straight back, through an alias or a forwarder, or around more than once) and is refused: its bounce goes
 * to the reply mail's return path, where the relay marks that reply mail failed, so the operator learns of it.
 */
export function returnedOwnMail(trace: MailTrace, envelopeFrom: string, domains: readonly string[]): string | undefined {
  if (trace.loopHeaders === 0) return undefined;
  const loop =
    trace.loopHeaders > 1
      ? `it carries it ${trace.loopHeaders} times, so it went round more than once`
      : trace.hops > MAX_HOPS
        ? `it has ${trace.hops} Received: lines, more than ${MAX_HOPS}: it is going round`
        : envelopeFrom === ''
          ? 'it comes from the null sender <>, as no list sends'
          : isAtSmsDomain(envelopeFrom, domains)
            ? "its envelope sender is the relay's own: it came straight back"
            : !trace.listCopy
              ? 'it came back through no mailing list (no List-Id or List-Post): a forward or alias sends it back'
              : undefined;
  if (loop !== undefined) throw new RelayError('AUTOMATED_MAIL', `Not sent as SMS: it carries ${LOOP_HEADER}: it is the relay's own mail, and ${loop}`);
  return `the relay's own mail (${LOOP_HEADER}) come back through a mailing list: dropped, as a list's member drops its own post`;
}

import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buffer } from 'node:stream/consumers';
import DKIM from 'nodemailer/lib/dkim';
import { LOOP_HEADER, stripReplyPrefixes } from '../mail/extract.ts';
import { takeSubjectTokens } from '../mail/parameters.ts';
import { BIDI_CONTROLS, withoutControlCharacters } from '../mail/strip.ts';
import type { Templates } from '../mailer/templates.ts';
import { buildTextMail, textNode } from '../mailer/text-mail.ts';
import { newMessageId } from '../random-ids.ts';
import { hasVisibleText, withLineFeeds } from '../sms/encoding.ts';
import { formatNumber, toInternationalDigits } from '../sms/numbers.ts';
import { canTextBack, NO_REPLY_LOCAL_PART, untextableWords } from '../sms/senders.ts';
import type { Conversation, NewOutgoingMail } from '../store/types.ts';
import { isoInZone } from '../timestamps.ts';
import { replyReturnPath } from './return-path.ts';
import type { Route } from './tracking.ts';
import { optOutCause } from '../vocabulary.ts';

/** What stands for the text of an SMS that has none (or only spaces): the mailbox is told, not shown a blank body. */
export const EMPTY_SMS_NOTE = '[the SMS has no text: the phone sent it empty]';
/**
 * What stands for the text of an SMS store.retention erased before its reply mail bounced (a reroute then
 * has nothing else to mail): the phone did write, and the mailbox is told to ask it again.
 */
export const ERASED_SMS_NOTE =
  '[the text of this SMS was erased by store.retention after its first reply mail was sent; that mail bounced later: ask the phone what it wrote]';
/** Subjects are one line; a longer one is cut here (RFC 5322 recommends 78-character lines). */
const MAX_SUBJECT_CHARS = 200;
/** The tag the subject template adds; an earlier one in the original subject is not repeated. */
const CONTEXT_TAG = /\s*\[\s*UserContext:[^\]]*\]/gi;

export interface InboundSms {
  /** The sender: E.164, or a short code, sender name or national number of no known country as the gateway gave it. */
  readonly number: string;
  readonly text: string;
  /** When the phone sent it, if the gateway said: ISO 8601 with offset (the provider's parser converts). */
  readonly sentAt: string | undefined;
  readonly receivedAt: number;
  /** The context the gateway echoed (for a mail without a conversation). */
  readonly userContext: string | undefined;
  /** The SMS opts its number out (STOP) or back in: after an opt-out the relay refuses replies to the number. */
  readonly optOut?: { readonly action: 'stop' | 'start'; readonly keyword: string } | undefined;
  /** A START's number was opted out when it came (undefined: not looked up): the mail says what the START changed. */
  readonly wasOptedOut?: boolean | undefined;
  /** A STOP mailed later (a reroute) whose opt-out a START ended since: mailed as any SMS, saying so. */
  readonly optedInSince?: boolean | undefined;
  /**
   * The kept keyword of a number still opted out, for an SMS that is neither STOP nor START: the mail says replies
   * are not sent rather than inviting one RCPT would refuse.
   */
  readonly stillOptedOut?: string | undefined;
  /**
   * Why the relay refuses a reply to the number whoever writes it (no route, a destination rule: RCPT's own words),
   * for a number that can receive SMS: the mail says so rather than inviting a reply its mailbox's server bounces.
   */
  readonly replyRefused?: string | undefined;
  /** The number the phone texted, where the provider says (ReceivedSms.to). */
  readonly to?: string | undefined;
  /** store.retention erased its text (UndeliverableInbound.textErased): `text` is empty, though the phone wrote one. */
  readonly textErased?: true | undefined;
}

export interface ReplyMailOptions {
  /** The first SMS domain: the phone's address is `<digits>@<domain>`. */
  readonly smsDomain: string;
  /** The relay's name, in the loop header. */
  readonly hostname: string;
  readonly templates: Templates;
  readonly onTemplateError?: (error: unknown) => void;
  /** Signs the mail for the SMS domain, so receivers can trust mail from `<number>@<domain>`. */
  readonly dkim?: DKIM | undefined;
}

/** The settings reply mails are made under: the SMS domains, the relay's name, the DKIM key (undefined = unsigned). */
export interface ReplyMailSettings {
  readonly sms: { readonly domains: readonly string[] };
  readonly smtp: { readonly hostname: string };
  readonly mail: { readonly dkim?: { readonly selector: string; readonly privateKeyFile: string } | undefined };
}

/**
 * How reply mails are made under these settings: from the first SMS domain, DKIM-signed when
 * `mail.dkim` is set (an unreadable key is an error: start-up stops). The relay and `smsrelay
 * undeliverable reroute` both use it, so a mail reads the same whichever sent it.
 */
export function replyMailOptions(settings: ReplyMailSettings, templates: Templates, onTemplateError?: (error: unknown) => void): ReplyMailOptions {
  const smsDomain = settings.sms.domains[0] ?? 'sms.localhost';
  return {
    smsDomain,
    hostname: settings.smtp.hostname,
    templates,
    ...(onTemplateError ? { onTemplateError } : {}),
    dkim: dkimSigner(settings.mail.dkim, smsDomain),
  };
}

function dkimSigner(dkim: ReplyMailSettings['mail']['dkim'], domainName: string): DKIM | undefined {
  if (!dkim) return undefined;
  let privateKey: string;
  try {
    privateKey = readFileSync(dkim.privateKeyFile, 'utf8');
  } catch (error) {
    throw new Error(`mail.dkim.privateKeyFile: cannot read ${dkim.privateKeyFile}: ${(error as Error).message}`);
  }
  return new DKIM({ domainName, keySelector: dkim.selector, privateKey });
}

/**
 * The mail that carries an SMS to its mailbox: from the phone's address (so Reply goes back to the
 * phone), threaded under the latest mail of the conversation (threadHeaders), its subject carrying the context.
 * A sender that cannot be texted back (a short code, a sender name) is named, but the mail comes from
 * `no-reply@<SMS domain>` and says so: a reply is refused by the relay with the reason, not lost.
 * The SMS text is only ever the body: header values are the relay's own or come from the stored
 * conversation, and nodemailer encodes them, so no CR/LF or encoded word from a phone becomes a header.
 * It goes out with its own return path (replyReturnPath, about SMS `inboundId`): a bounce from a server
 * behind the smarthost comes back to the relay and lists the SMS as undeliverable (docs/replies.md).
 */
export async function buildReplyMail(
  sms: InboundSms,
  route: Route,
  options: ReplyMailOptions,
  inboundId: string,
): Promise<{ readonly mail: NewOutgoingMail; readonly messageIdHeader: string }> {
  const textable = canTextBack(sms.number);
  const phoneAddress = `${textable ? toInternationalDigits(sms.number) : NO_REPLY_LOCAL_PART}@${options.smsDomain}`;
  const number = formatNumber(sms.number);
  const messageIdHeader = `<${newMessageId()}@${options.smsDomain}>`;
  const { conversation } = route;
  const data = {
    number,
    text: hasVisibleText(sms.text) ? bodyText(sms.text) : sms.textErased ? ERASED_SMS_NOTE : EMPTY_SMS_NOTE,
    // Every provider's time in one form; without one, when the relay got it, in the relay's zone.
    sentAt: sms.sentAt ?? isoInZone(sms.receivedAt),
    texted: sms.to === undefined ? undefined : formatNumber(sms.to),
    subject: conversation?.subject ? baseSubject(conversation.subject) : undefined,
    context: conversation?.context ?? sms.userContext,
    /** Why Reply does not reach the sender, or undefined when it does. */
    noReply: !textable
      ? `${number} ${untextableWords(sms.number)}: a reply to this mail is not delivered.`
      : sms.optOut?.action === 'stop' && !sms.optedInSince
        ? `${number} opted out of SMS from this relay (it texted ${sms.optOut.keyword}): replies to this mail are not sent.`
        : sms.stillOptedOut !== undefined
          ? `${number} has opted out of SMS from this relay (${optOutCause(sms.stillOptedOut)}): replies to this mail are not sent until it opts in again.`
          : sms.replyRefused !== undefined
            ? `Replies to this mail are not sent: this relay refuses them (${sms.replyRefused}).`
            : undefined,
    /**
     * What a START changed, said above the Reply line (which works again). From a number that had not opted out it
     * changed nothing, and is most often an answer ("Yes" to an on-call alert): mailed as any SMS, without a line.
     */
    optIn:
      sms.optOut?.action === 'stop' && sms.optedInSince
        ? `${number} texted ${sms.optOut.keyword} (opting out of SMS from this relay) and has opted in again since: SMS from this relay, and replies to this mail, reach it.`
        : sms.optOut?.action !== 'start' || sms.wasOptedOut === false
          ? undefined
          : `${number} texted ${sms.optOut.keyword}: SMS from this relay, and replies to this mail, reach it again.`,
  };

  const root = textNode(options.smsDomain);
  root.setHeader({
    From: { name: number, address: phoneAddress },
    To: route.mailbox,
    Subject: oneLine(render(options, 'reply-subject.txt', data, () => `SMS from ${number}`)).slice(0, MAX_SUBJECT_CHARS),
    Date: new Date(sms.receivedAt),
    'Message-ID': messageIdHeader,
    [LOOP_HEADER]: options.hostname,
  });
  const thread = threadHeaders(conversation, route.earlierReply);
  if (thread) root.setHeader(thread);
  // Outlook groups a conversation by its topic and index, not by In-Reply-To: the topic without the
  // prefixes and tag the subject carries, and the index of the mail answered with one turn more.
  if (data.subject) root.setHeader('Thread-Topic', data.subject);
  const threadIndex = conversation?.latestThreadIndex && continuedThreadIndex(conversation.latestThreadIndex, sms.receivedAt);
  if (threadIndex) root.setHeader('Thread-Index', threadIndex);
  const built = buildTextMail(
    root,
    render(options, 'reply.txt', data, () => `${data.text}\n\n-- \nSMS from ${number}${data.texted ? ` to ${data.texted}` : ''}\n${data.noReply ?? ''}\n`),
  );
  const raw = options.dkim ? await buffer(options.dkim.sign(built)) : built;
  return {
    mail: { kind: 'reply', messageId: inboundId, envelopeFrom: replyReturnPath(inboundId, options.smsDomain), recipients: [route.mailbox], raw },
    messageIdHeader,
  };
}

/**
 * The SMS text as a mail body may carry it, the same through the Maildir and the smarthost: every line
 * break (CRLF, a lone CR, LF, the line and paragraph separators U+2028/U+2029) one break, as RFC 5322
 * §2.3 allows CR and LF only together; control characters dropped, each alone (NUL, ESC and DEL show
 * nothing, and NUL ends the text for many readers), tab kept; bidi embeddings,
 * overrides and isolates dropped, so a phone cannot make the mail show a name or file name reversed.
 */
function bodyText(text: string): string {
  return withLineFeeds(withoutControlCharacters(text).replace(BIDI_CONTROLS, ''));
}

function render(options: ReplyMailOptions, template: string, data: object, fallback: () => string): string {
  try {
    return options.templates.render(template, data);
  } catch (error) {
    options.onTemplateError?.(error);
    return fallback();
  }
}

/**
 * The conversation's subject as its writer meant it: without the reply and forward prefixes of every
 * language the inbound side knows (src/mail/wordings.ts: `回复:`, `TR:`, `Odp.:`, `Réf. :` …, so Outlook's
 * own Thread-Topic matches), the context tag, or the relay parameters the relay took from it
 * (`UserContext:42 From:Acme Pump alarm`, docs/text.md), which a reply to the reply mail would otherwise
 * apply again; and without bidi embeddings, overrides and isolates, as the body (bodyText).
 */
function baseSubject(subject: string): string {
  return stripReplyPrefixes(oneLine(takeSubjectTokens(subject.replace(CONTEXT_TAG, ' ').replace(BIDI_CONTROLS, '')).rest));
}

function oneLine(text: string): string {
  return text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/**
 * The reply mail answers the latest mail of its conversation (In-Reply-To), and References names the
 * conversation's first mail and that one: the two a mail client needs to chain the thread (RFC 5322
 * §3.6.4 wants the parent's References too, which the relay does not keep; news and mail software trim
 * long References to the first and the last ids in the same way, RFC 5537 §3.4.4). A conversation whose
 * writer gave no Message-ID is threaded under the relay's own latest reply mail in it (Route.earlierReply),
 * its root that mail's first reference: the first reply mail of the conversation.
 */
function threadHeaders(conversation: Conversation | undefined, earlierReply: Route['earlierReply']): { 'In-Reply-To': string; References: string } | undefined {
  const first = conversation?.messageIdHeader ?? earlierReply?.root;
  const latest = conversation?.latestMessageIdHeader ?? conversation?.messageIdHeader ?? earlierReply?.messageIdHeader;
  if (latest === undefined) return undefined;
  return { 'In-Reply-To': latest, References: first === undefined || first === latest ? latest : `${first} ${latest}` };
}

/**
 * The most a Thread-Index grows to here: 22 bytes and 140 turns of 5, whose base64 (964 characters)
 * keeps the header line within RFC 5322's 998 (base64 cannot be folded). A longer thread's next reply
 * mail goes without one, threaded by In-Reply-To and the topic as before.
 */
const MAX_THREAD_INDEX_BYTES = 22 + 5 * 140;
/** FILETIME counts 100 ns from 1601-01-01; the Unix epoch is this many ms after it. */
const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;

/**
 * The Thread-Index of a reply to the mail whose index is `parent` ([MS-OXOMSG] 2.2.1.3,
 * PidTagConversationIndex): the parent's, and a 5-byte child block: the time since the header's
 * (its 40 bits are a FILETIME's high bits) in 31 bits, bits 18-48 of it (delta code 0) or, past
 * 2^49 (about 1.7 years), bits 23-53 (delta code 1), then a random byte where Outlook writes 4 random
 * bits and a 4-bit sequence count (no count is kept across replies: the random byte tells siblings apart alike).
 */
function continuedThreadIndex(parent: string, at: number): string | undefined {
  const index = Buffer.from(parent, 'base64');
  if (index.length + 5 > MAX_THREAD_INDEX_BYTES) return undefined;
  const headerTime = index.readUIntBE(1, 5);
  const now = (BigInt(at) + FILETIME_EPOCH_OFFSET_MS) * 10_000n;
  const delta = now > BigInt(headerTime) << 24n ? now - (BigInt(headerTime) << 24n) : 0n;
  const [code, shift] = delta >> 49n === 0n ? [0n, 18n] : [1n, 23n];
  const child = Buffer.alloc(5);
  child.writeUInt32BE(Number((code << 31n) | ((delta >> shift) & 0x7fff_ffffn)));
  child[4] = randomInt(256);
  return Buffer.concat([index, child]).toString('base64');
}

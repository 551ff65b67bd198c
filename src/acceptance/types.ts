import type { RelayError } from '../errors.ts';
import type { TextSettings } from '../mail/policy.ts';
import type { Principal, SenderSettings } from '../policy/senders.ts';
import type { BouncedReply, FoldedRecipient, NewMail } from '../store/types.ts';
import type { SegmentLimits } from '../sms/encoding.ts';
import type { SmsEncoding } from '../vocabulary.ts';
import type { RecipientRules, ResolvedRecipient } from './recipient-addresses.ts';

/** Every entry point answers with a value: what it accepted, or the catalogue's error for the refusal. */
export type Outcome<Accepted> = ({ readonly ok: true } & Accepted) | { readonly ok: false; readonly error: RelayError };

/** What acceptance needs of the provider that will send: its limits, nothing of its wire format. */
export interface ProviderLimits {
  readonly capabilities: { readonly maxParts: number; readonly scheduling: boolean; readonly standIns?: Readonly<Record<string, string>> | undefined };
  /** Units per part as the provider's account concatenates (an SMPP account with 16-bit references); undefined = 153/67. */
  readonly segmentLimits?: SegmentLimits | undefined;
  /** Why the provider cannot send from this sender id, or undefined. */
  senderIdProblem(senderId: string): string | undefined;
}

/** A route's limits (`gateway.routes`): those of the provider its SMS go to first, and the route's name. */
export interface RouteLimits extends ProviderLimits {
  readonly route: string;
}

/** The route that takes a number and its limits, or undefined when none does; `routes` lists them all for refusals. */
export interface Routes {
  limitsOf(e164: string): RouteLimits | undefined;
  /** The routes in words (`norway +47, NO; rest *`), for the sender of a number none takes. */
  readonly described: string;
}

/** The operator's acceptance rules. */
export interface AcceptanceSettings {
  readonly recipients: RecipientRules;
  /** Concatenated parts per SMS at most (`sms.maxParts`). */
  readonly maxParts: number;
  /** Recipients per mail at most (`smtp.maxRecipients`): a number once however it is written, a list or the postmaster once. */
  readonly maxRecipients: number;
  /** Distinct numbers per mail at most, after list expansion. */
  readonly maxNumbersPerMail: number;
  readonly text: TextSettings;
  readonly senders: SenderSettings;
  /** The same text to the same number within this time is sent once; undefined = off. */
  readonly alertStormWindowMs: number | undefined;
  /** The same mail submitted again within this time is accepted but sent once. */
  readonly resubmissionWindowMs: number;
  /**
   * Where mail to the postmaster goes (RFC 5321 §4.5.1): `mail.postmaster`, or without a smarthost
   * the Maildir's postmaster@<first SMS domain>; undefined = nowhere, so RCPT refuses it.
   */
  readonly postmaster: string | undefined;
  /** This relay's name in the trace (Received:) of the mail it forwards. */
  readonly hostname: string;
}

/** Who submits a mail: the client's address, its greeting, the account it signed in as, the envelope sender. */
export interface SenderRequest {
  readonly client: { readonly address: string; readonly helo: string };
  /** The account the client authenticated as; undefined = none. */
  readonly user: string | undefined;
  /**
   * How the mail came, as a trace's `with` names it: SMTP, or ESMTP with S for TLS and A for AUTH
   * (RFC 3848: ESMTPS, ESMTPA, ESMTPSA); HTTP for the console.
   */
  readonly protocol: string;
  /** '' for the null sender `<>`. */
  readonly envelopeFrom: string;
  /** RFC 3461 RET and ENVID. */
  readonly dsn: NewMail['dsn'];
}

/** One recipient address as submitted, with its RFC 3461 NOTIFY and ORCPT. */
export interface RecipientRequest {
  readonly address: string;
  /** The local part as written with blanks (`447 700 900123`), when the protocol layer joined them to read the address. */
  readonly spaced?: string | undefined;
  readonly dsn?: { readonly notify?: readonly string[] | undefined; readonly orcpt?: string | undefined } | undefined;
}

/** A number RCPT read with a `+tag` after it (`447700900123+nagios@`), the tag left out: what the reply says. */
export interface TaggedNumber {
  readonly number: string;
  readonly tag: string;
}

/** A recipient address and what it stands for. */
export interface AdmittedRecipient {
  readonly rcpt: RecipientRequest;
  readonly target: ResolvedRecipient;
}

/**
 * One submission in progress: who sends and what its recipients stand for, keyed by lower-cased
 * address (a repeated address keeps its first RCPT, its DSN parameters merged). A value: each stage answers with the next one.
 */
export interface Transaction extends SenderRequest {
  readonly principal: Principal;
  readonly recipients: ReadonlyMap<string, AdmittedRecipient>;
  /** Numbers whose RCPT was refused by policy (550 5.7.1): the client reports them; a list's bounce does not name them again. */
  readonly refusedAtRcpt?: ReadonlySet<string>;
}

/** A committed mail: what the submitter is told. */
export interface AcceptedMail {
  readonly id: string;
  /** The principal it was accepted for. */
  readonly by: string;
  readonly numbers: number;
  readonly encoding: SmsEncoding;
  readonly parts: number;
  /** The text was cut from this many parts by the sender's policy. */
  readonly cutFrom: number | undefined;
  /** Numbers whose latest SMS, taken by the gateway within the alert-storm window, this mail repeats: not sent again, each with that mail. */
  readonly repeated: readonly FoldedRecipient[];
  /** The mail is a resubmission of this one: accepted, sent once. */
  readonly duplicateOf: string | undefined;
  /** What became of its attachments (not sent), in words for the reply; undefined when it had none. */
  readonly attachments: string | undefined;
  /** All of its body's text was removed and its subject sent in its place, in words for the reply; undefined otherwise. */
  readonly subjectForBody: string | undefined;
  /** Its body ran past what the text rules read (MAX_READ_CHARS), in words for the reply; undefined when it was read whole. */
  readonly unread: string | undefined;
  /** The user context it was sent under: a phone's answer is logged under it too (`inbound: SMS received and mailed`). */
  readonly context: string | undefined;
  /** The user context it named was not taken; undefined when it got the one it named, or named none. */
  readonly contextNotTaken: ContextNotTaken | undefined;
  /** Its Reply-To named `count` addresses: the phone's replies go to `mailbox`, the first readable one, only. */
  readonly replyToAddresses: { readonly count: number; readonly mailbox: string } | undefined;
  /** What the mail's headers named that the phone's replies do not go to, and where they go (mailboxChoice); undefined when plain. */
  readonly mailboxNote: string | undefined;
  /** Characters of its text the provider cannot carry, and what was sent in their place, in words for the reply. */
  readonly standIns: string | undefined;
  /** It asked for at most `asked` parts, more than the relay sends: `limit` applied. */
  readonly partsCapped: { readonly asked: number; readonly limit: number } | undefined;
}

/** A mail named the user context of another mailbox's conversation with `numbers`: it was sent under `given`, a new one. */
export interface ContextNotTaken {
  readonly named: string;
  readonly given: string;
  readonly numbers: readonly string[];
}

/** A bounce taken at a reply mail's return path (acceptance/bounces.ts). */
export interface AcceptedBounce {
  readonly id: string;
  readonly by: string;
  readonly bounce:
    | {
        readonly failed: false;
        readonly reason: string;
        /** It refused `address`, one behind the mail's `mailbox` (a list's member), not the mailbox. */
        readonly behind?: { readonly address: string; readonly mailbox: string };
      }
    | ({ readonly failed: true; readonly reason: string } & BouncedReply);
}

/**
 * The relay's own reply mail come back through a mailing list (acceptance/own-mail.ts): taken, neither texted nor
 * stored, as a list's member drops its own post; `returned` says so in words for the 250. Its Message-ID and the list
 * are for the log, the one trace the drop leaves.
 */
export interface AcceptedOwnMail {
  readonly id: string;
  readonly by: string;
  readonly returned: string;
  readonly messageIdHeader: string | undefined;
  readonly listId: string | undefined;
}

/** A committed mail for the postmaster: queued as the relay's own mail, to `postmaster`, not texted. */
export interface AcceptedForPostmaster {
  readonly id: string;
  readonly by: string;
  /** The mailbox it goes to. */
  readonly postmaster: string;
}

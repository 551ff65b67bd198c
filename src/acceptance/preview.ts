import { RelayError } from '../errors.ts';
import { type OutboundRequest, parseMail } from '../mail/extract.ts';
import { type TextSettings, textPolicyFor } from '../mail/policy.ts';
import { notGsm7, type SmsText } from '../sms/encoding.ts';
import type { Store } from '../store/types.ts';
import { withHeaderEnd } from '../mail/mime.ts';
import { headerBlock, partsCappedNote, readText, smsOnProvider, subjectForBodyNote, unreadNote } from './new-mail.ts';
import { limitsFor } from './number-checks.ts';
import { returnedOwnMail, traceOf } from './own-mail.ts';
import { type RecipientRules, recipientNumber, resolveRecipient } from './recipient-addresses.ts';
import type { ProviderLimits, Routes } from './types.ts';

/** What a mail becomes on the phone, by the acceptance service's own text stage. */
export interface Preview {
  readonly request: OutboundRequest | undefined;
  readonly sms: (SmsText & { cutFrom?: number }) | undefined;
  /** What the relay does differently from what the mail asked, as the 250 says it (stand-ins, a capped part count). */
  readonly notes: readonly string[];
  readonly refused: RelayError | undefined;
  /** For a UCS-2 SMS, the first characters that made it so (`U+00E7 ç`): what to change for half the cost. */
  readonly notGsm7: readonly string[];
  /** Whether the store was there to look up the thread. */
  readonly store: boolean;
}

export interface PreviewOptions {
  readonly text: TextSettings;
  /** `sms.maxParts`. */
  readonly maxParts: number;
  /** The configured provider's limits, as the acceptance service gets them. */
  readonly provider: ProviderLimits;
  /** With `gateway.routes`: the limits of the route the `to` number takes apply (without `to`, the provider's). */
  readonly routes?: Routes | undefined;
  /** `--from`; undefined: the saved mail's Return-Path, which its delivering MTA wrote (else the null sender). */
  readonly envelopeFrom: string | undefined;
  /** smtp.hostname: the value of X-SMSRelay-Loop on the relay's own mail. */
  readonly hostname: string;
  /** The RCPT address, `<number>@<sms-domain>` (or a number alone); its number is the thread's. */
  readonly to: string | undefined;
  /** How the relay reads a RCPT address (its SMS domains, lists): `to` is refused as RCPT would refuse it. */
  readonly recipients: RecipientRules;
  readonly store: Pick<Store, 'contextOfMail' | 'sentReplies' | 'conversation' | 'repliedIn' | 'isReplyMail'> | undefined;
}

/** The text stage run on `raw` as a submission from `envelopeFrom` to `to` would run it. */
export async function previewMail(raw: Buffer, options: PreviewOptions): Promise<Preview> {
  const trace = traceOf(headerBlock(withHeaderEnd(raw)));
  const envelopeFrom = options.envelopeFrom ?? trace.returnPath ?? '';
  const policy = textPolicyFor(options.text, envelopeFrom);
  const numbers = options.to ? recipientNumbers(options.to, options.recipients) : [];
  const store = numbers.length > 0 ? options.store : undefined;
  let request: OutboundRequest | undefined;
  try {
    const rules = { hostname: options.hostname, domains: options.recipients.domains, store: options.store };
    const returned = await returnedOwnMail(trace, envelopeFrom, rules);
    if (returned !== undefined)
      return { request, sms: undefined, notes: [`not sent as SMS: ${returned}`], refused: undefined, notGsm7: [], store: store !== undefined };
    request = await readText(await parseMail(raw), policy, false, numbers, store, trace);
    const { sms, partsCapped, standIns } = smsOnProvider(
      request,
      options.maxParts,
      policy,
      numbers.length > 0 ? limitsFor(numbers, options.provider, options.routes) : options.provider,
    );
    return {
      request,
      sms,
      notes: [subjectForBodyNote(request) ?? '', unreadNote(request) ?? '', standIns ?? '', partsCapped ? partsCappedNote(partsCapped) : ''].filter(Boolean),
      refused: undefined,
      notGsm7: sms.encoding === 'ucs2' ? notGsm7(sms.text) : [],
      store: store !== undefined,
    };
  } catch (error) {
    if (!(error instanceof RelayError)) throw error;
    return { request, sms: undefined, notes: [], refused: error, notGsm7: [], store: store !== undefined };
  }
}

/**
 * The numbers `--to` stands for: an address as RCPT reads it (a domain that is not an SMS domain refused first, as
 * the relay refuses it: 550 5.7.1), a number alone as itself; none for the subject address or the postmaster.
 */
function recipientNumbers(to: string, rules: RecipientRules): readonly string[] {
  if (!to.includes('@')) return [recipientNumber(to, rules)];
  const resolved = resolveRecipient(to, rules);
  return 'numbers' in resolved ? resolved.numbers : [];
}

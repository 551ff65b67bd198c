import { RelayError } from '../errors.ts';
import { type OutboundRequest, parseMail } from '../mail/extract.ts';
import { type TextSettings, textPolicyFor } from '../mail/policy.ts';
import { notGsm7, type SegmentLimits, type SmsText } from '../sms/encoding.ts';
import type { Store } from '../store/types.ts';
import { fitText, readText } from './new-mail.ts';
import { type RecipientRules, recipientNumber } from './recipient-addresses.ts';

/** What a mail becomes on the phone, by the acceptance service's own text stage. */
export interface Preview {
  readonly request: OutboundRequest | undefined;
  readonly sms: (SmsText & { cutFrom?: number }) | undefined;
  readonly refused: RelayError | undefined;
  /** For a UCS-2 SMS, the first characters that made it so (`U+00E7 ç`): what to change for half the cost. */
  readonly notGsm7: readonly string[];
  /** Whether the store was there to look up the thread. */
  readonly store: boolean;
}

export interface PreviewOptions {
  readonly text: TextSettings;
  readonly defaultRegion: RecipientRules['defaultRegion'];
  readonly maxParts: number;
  /** Units per part as the configured provider concatenates; undefined = 153/67. */
  readonly segmentLimits?: SegmentLimits | undefined;
  readonly envelopeFrom: string;
  /** The RCPT address, `<number>@<sms-domain>`; its number is the thread's. */
  readonly to: string | undefined;
  readonly store: Pick<Store, 'contextOfMail' | 'sentReplies'> | undefined;
}

/** The text stage run on `raw` as a submission from `envelopeFrom` to `to` would run it. */
export async function previewMail(raw: Buffer, options: PreviewOptions): Promise<Preview> {
  const policy = textPolicyFor(options.text, options.envelopeFrom);
  const local = options.to?.includes('@') ? options.to.slice(0, options.to.lastIndexOf('@')) : options.to;
  const numbers = local ? [recipientNumber(local, { defaultRegion: options.defaultRegion })] : [];
  const store = numbers.length > 0 ? options.store : undefined;
  let request: OutboundRequest | undefined;
  try {
    request = await readText(await parseMail(raw), policy, false, numbers, store);
    const sms = fitText(request, request.maxParts ?? options.maxParts, policy, options.segmentLimits);
    return { request, sms, refused: undefined, notGsm7: sms.encoding === 'ucs2' ? notGsm7(sms.text) : [], store: store !== undefined };
  } catch (error) {
    if (!(error instanceof RelayError)) throw error;
    return { request, sms: undefined, refused: error, notGsm7: [], store: store !== undefined };
  }
}

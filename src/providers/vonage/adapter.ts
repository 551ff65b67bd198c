/**
 * Vonage (formerly Nexmo) SMS API (https://developer.vonage.com/en/api/sms): a form POST to
 * `/sms/json` with `api_key` and `api_secret`, one number per request, answered 200 with one entry
 * per part of the SMS (`messages[]`, each its own `message-id` and `status`, "0" = taken). The
 * account's default SMS setting must be the SMS API, not the Messages API: otherwise its webhooks
 * arrive in the Messages API's format, which this plug-in does not read.
 *
 * Decisions:
 * - An SMS of one part is kept under Vonage's own `message-id`, the id its dashboard, its Reports API
 *   and its support know, which its receipt names with or without our `client-ref`.
 * - Each part of a long SMS has its own message id and its own delivery receipt, so the id the relay
 *   keeps for the whole is ours: `client-ref`, which every part's receipt echoes, made of the message's
 *   key and the number of parts (`<key>.<parts>`): with the receipt's number, it names the SMS. The answer's part ids go with
 *   the result and each receipt names its part (inbound.ts); the relay combines them in the store
 *   (src/replies/inbound.ts): delivered once every part is, failed at the first part that fails.
 * - `callback` names the relay's DR URL per message when `gateway.publicUrl` is set; otherwise the
 *   account's default delivery receipt URL is used.
 * - `ttl` carries the SMS's remaining lifetime, clamped to Vonage's 20 s – 7 days.
 */
import { messageKey } from '../../random-ids.ts';
import { splitIntoParts } from '../../sms/encoding.ts';
import { toInternationalDigits } from '../../sms/numbers.ts';
import type { Gateway, GatewayOptions, ProviderCapabilities, RecipientResult, SmsSubmission, SubmissionResult } from '../contract.ts';
import { BODY_DETAIL_CHARS, HttpEndpoints, httpGateway, type HttpOutcome, httpRefusal, logRequest, unparseable } from '../http-endpoint.ts';

export const PROVIDER = 'vonage';
export const SEND_PATH = '/sms/json';

const MAX_RECIPIENTS_PER_REQUEST = 1;
/** Vonage splits a long text itself; it documents no limit below the 255 parts a UDH can count. 10 keeps costs sane. */
const MAX_PARTS = 10;
const TTL_MIN_MS = 20_000;
const TTL_MAX_MS = 604_800_000;

export const VONAGE_CAPABILITIES: ProviderCapabilities = {
  maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST,
  maxParts: MAX_PARTS,
  // An inbound SMS names no message it answers: conversations are found by number.
  replyTracking: 'none',
  scheduling: false,
};

export const CODE_PREFIX = 'VONAGE:';

interface VonageSettings {
  readonly from?: string | undefined;
}

/**
 * Our id of the SMS to one number, which every part's receipt echoes with the number: the message's key (messageKey),
 * which a receipt gives back as the relay's reference (inbound.ts), and the number of parts.
 */
export function clientRefFor(messageId: string, parts: number): string {
  return `${messageKey(messageId)}.${parts}`;
}

export function createVonageGateway(options: GatewayOptions<VonageSettings>): Gateway {
  const endpoints = new HttpEndpoints(PROVIDER, options);
  const capabilities = { maxRecipientsPerRequest: MAX_RECIPIENTS_PER_REQUEST, maxParts: MAX_PARTS };
  return httpGateway(PROVIDER, options, endpoints, capabilities, async (submission, endpointIndex, log) => {
    const [number] = submission.recipients as [string];
    const parts = splitIntoParts(submission).length;
    const clientRef = clientRefFor(submission.messageId, parts);
    const started = performance.now();
    const form = buildSendForm(submission, number, clientRef, options, Date.now());
    const outcome = await endpoints.postForm(endpointIndex, SEND_PATH, form, { accept: 'application/json' });
    const result = toResult(outcome, number, clientRef);
    if (outcome.kind === 'http' && result.kind === 'answered' && partsAnswered(outcome.text) !== parts) {
      log.warn(
        { parts, answered: partsAnswered(outcome.text) },
        "vonage: the gateway split the SMS into another number of parts than the relay counted (it charges by its own); the parts' receipts are combined by its answer",
      );
    }
    logRequest(log, PROVIDER, { endpoint: endpoints.labels[endpointIndex], recipients: 1, started }, outcome, result, { clientRef });
    return result;
  });
}

export function buildSendForm(
  submission: SmsSubmission,
  number: string,
  clientRef: string,
  account: Pick<GatewayOptions<VonageSettings>, 'username' | 'password' | 'settings' | 'webhookUrls'>,
  now: number,
): URLSearchParams {
  const form = new URLSearchParams();
  form.set('api_key', account.username);
  form.set('api_secret', account.password);
  const from = submission.senderId ?? account.settings.from;
  if (from !== undefined) form.set('from', from.replace(/^\+/, ''));
  form.set('to', toInternationalDigits(number));
  form.set('text', submission.text);
  form.set('type', submission.encoding === 'ucs2' ? 'unicode' : 'text');
  form.set('client-ref', clientRef);
  if (submission.deliveryReport !== false) form.set('status-report-req', '1');
  if (account.webhookUrls !== undefined && submission.deliveryReport !== false) form.set('callback', account.webhookUrls.dr);
  if (submission.expiresAt !== undefined) form.set('ttl', String(Math.min(TTL_MAX_MS, Math.max(TTL_MIN_MS, submission.expiresAt - now))));
  return form;
}

type PartAnswer = { readonly status: string; readonly errorText: string | undefined; readonly id: string | undefined };

/**
 * The answer's parts; undefined when it is no SMS API answer, or one whose `message-count` disagrees with its
 * `messages` (parts taken or refused that it does not list: what became of the SMS cannot be told from it).
 */
function readParts(text: string): PartAnswer[] | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const answer = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const messages = answer['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const count = answer['message-count'];
  if (count !== undefined && String(count) !== String(messages.length)) return undefined;
  const parts: PartAnswer[] = [];
  for (const message of messages as unknown[]) {
    const fields = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
    const status = fields['status'];
    if (typeof status !== 'string' || !/^\d{1,3}$/.test(status)) return undefined;
    const errorText = fields['error-text'];
    const id = fields['message-id'];
    parts.push({
      status,
      errorText: typeof errorText === 'string' ? errorText.slice(0, BODY_DETAIL_CHARS) : undefined,
      id: typeof id === 'string' && id !== '' ? id : undefined,
    });
  }
  return parts;
}

function partsAnswered(text: string): number {
  return readParts(text)?.length ?? 0;
}

/**
 * Every part taken: sent, under Vonage's message-id for one part (our client-ref when the answer
 * gave none), under our client-ref with each part's message-id when there are several (the relay
 * keeps them: their receipts combine on any relay); else the first refused part's status speaks for
 * the SMS, with how many parts were taken (the phone may have those already).
 */
function toResult(outcome: HttpOutcome, number: string, clientRef: string): SubmissionResult {
  if (outcome.kind === 'transport') return outcome;
  if (outcome.status < 200 || outcome.status > 299) return httpRefusal(outcome);
  if (outcome.truncated) return unparseable(outcome.text);
  const parts = readParts(outcome.text);
  if (parts === undefined) return unparseable(outcome.text);
  const refused = parts.find((part) => part.status !== '0');
  const taken = parts.filter((part) => part.status === '0').length;
  const result: RecipientResult = refused
    ? {
        number,
        code: `${CODE_PREFIX}${Number(refused.status)}`,
        ...(refused.errorText ? { detail: refused.errorText } : {}),
        ...(taken > 0 ? { partsTaken: taken } : {}),
      }
    : { number, code: `${CODE_PREFIX}0`, providerId: (parts.length === 1 ? parts[0]?.id : undefined) ?? clientRef, ...partIds(parts) };
  return { kind: 'answered', results: [result] };
}

function partIds(parts: readonly PartAnswer[]): { parts?: string[] } {
  const ids = parts.flatMap((part) => (part.id === undefined ? [] : [part.id]));
  return parts.length > 1 && ids.length === parts.length ? { parts: ids } : {};
}

/**
 * One rule for the legacy HTTP gateways whose refusal of a request with several numbers does not say which
 * number it refuses (InteractSMS's one status line, IntelliSoftware's single `ERR:INVALID_NUMBER` line): the
 * gateway took none of them, so each number is sent again alone to learn which one it refuses, and one invalid
 * number does not bounce the others. The adapter decides when a refusal is such a one and what its gateway's
 * answer for one number is (its own parsing); this module only walks the numbers.
 */
import { maskNumber } from '../sms/numbers.ts';
import type { RecipientResult, SubmissionResult } from './contract.ts';

/** Enough of a failure's text to recognise it, without filling logs or bounces. */
const DETAIL_MAX_CHARS = 200;

/**
 * The code of a number the walk did not send because it stopped before it (the generic outcome rules retry it, as
 * one never sent: no possible duplicate): at another number's failure, or at the relay's stop.
 */
export const SPLIT_STOPPED = 'SPLIT_STOPPED';

/**
 * Sends each number alone (`post` with that one number: the same form, the same references), so that an invalid
 * number fails alone and the others still go. Assumes, as the refusal of the whole request implies, that the
 * refused request sent nothing. Stops at the first request that gets no answer per number, and before the next
 * request once `signal` is aborted (the relay stops: a hundred numbers are a hundred requests in a row).
 *
 * `taken` says which of a number's results mean the gateway has its SMS. A request that never reached the gateway
 * (a connect failure) while none was taken stands for the whole submission: nothing was sent, and the dispatcher
 * may move every number to another host at once. Any other failure is that number's own, classified by its phase
 * or as a refusal of the request (a timeout of it may have sent it, as for a single number, and only it), and the
 * numbers after it, never sent, are SPLIT_STOPPED, naming where the walk stopped and keeping the refusal's
 * `Retry-After`.
 */
export async function sendEachAlone(
  recipients: readonly string[],
  post: (recipients: readonly string[]) => Promise<SubmissionResult>,
  taken: (result: RecipientResult) => boolean,
  signal?: AbortSignal,
): Promise<SubmissionResult> {
  const results: RecipientResult[] = [];
  for (const [index, number] of recipients.entries()) {
    if (signal?.aborted) {
      results.push(...stopped(recipients.slice(index), 'because the relay is stopping'));
      break;
    }
    const alone = await post([number]);
    if (alone.kind === 'answered') {
      results.push(...alone.results);
      continue;
    }
    if (alone.kind === 'transport' && alone.phase === 'connect' && !results.some(taken)) return alone;
    const detail = alone.detail?.slice(0, DETAIL_MAX_CHARS);
    const failure = alone.kind === 'transport' ? alone.phase : 'request';
    const retryAfter = alone.kind === 'refused' ? alone.retryAfter : undefined;
    const wait = retryAfter === undefined ? {} : { retryAfter };
    results.push({ number, code: alone.code, failure, ...(detail ? { detail } : {}), ...wait });
    results.push(...stopped(recipients.slice(index + 1), `at ${maskNumber(number)}: ${alone.code}`, wait));
    break;
  }
  return { kind: 'answered', results };
}

/** The numbers the walk did not send, stopped `where`. */
function stopped(numbers: readonly string[], where: string, wait: { readonly retryAfter?: string } = {}): RecipientResult[] {
  const detail = `not sent: the sending of each number alone stopped ${where}`;
  return numbers.map((number) => ({ number, code: SPLIT_STOPPED, detail, ...wait }));
}

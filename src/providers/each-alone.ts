/**
 * One rule for the legacy HTTP gateways whose refusal of a request with several numbers does not say which
 * number it refuses (InteractSMS's one status line, IntelliSoftware's single `ERR:INVALID_NUMBER` line): the
 * gateway took none of them, so each number is sent again alone to learn which one it refuses, and one invalid
 * number does not bounce the others. The adapter decides when a refusal is such a one and what its gateway's
 * answer for one number is (its own parsing); this module only walks the numbers.
 */
import { BODY_DETAIL_CHARS } from './http-endpoint.ts';
import type { RecipientResult, SubmissionResult } from './contract.ts';

/**
 * Sends each number alone (`post` with that one number: the same form, the same references), so that an invalid
 * number fails alone and the others still go. Assumes, as the refusal of the whole request implies, that the
 * refused request sent nothing.
 *
 * `taken` says which of a number's results mean the gateway has its SMS. When a number cannot be asked about
 * (transport failure, HTTP error, unreadable answer, a refusal of the request): if no number was taken yet, that
 * result stands for the whole submission (nothing was sent, and its phase still tells whether the last request may
 * have been processed); once some were taken they must not be sent again: the number whose request failed carries
 * that failure as its own (a timeout of it may have sent it, as for a single number), and the rest, never sent,
 * that code.
 */
export async function sendEachAlone(
  recipients: readonly string[],
  post: (recipients: readonly string[]) => Promise<SubmissionResult>,
  taken: (result: RecipientResult) => boolean,
): Promise<SubmissionResult> {
  const results: RecipientResult[] = [];
  for (const [index, number] of recipients.entries()) {
    const alone = await post([number]);
    if (alone.kind === 'answered') {
      results.push(...alone.results);
      continue;
    }
    if (!results.some(taken)) return alone;
    const detail = alone.detail?.slice(0, BODY_DETAIL_CHARS);
    const failure = alone.kind === 'transport' ? alone.phase : 'request';
    results.push({ number, code: alone.code, failure, ...(detail ? { detail } : {}) });
    for (const rest of recipients.slice(index + 1)) results.push({ number: rest, code: alone.code, ...(detail ? { detail } : {}) });
    break;
  }
  return { kind: 'answered', results };
}

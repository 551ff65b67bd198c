/**
 * The senders the SMS API takes in `from`: a number in international digits (a leading "+" is
 * dropped), or an alphanumeric sender id of at most 11 letters, digits and spaces.
 */
import { plusNumberProblem } from '../sender-id-numbers.ts';

const ALPHANUMERIC_SENDER_MAX = 11;

export function senderIdProblem(senderId: string): string | undefined {
  const rule = `Vonage takes a number in international digits or an alphanumeric sender id of at most ${ALPHANUMERIC_SENDER_MAX} letters, digits and spaces`;
  if (/^\+?\d{3,15}$/.test(senderId)) return undefined;
  const asNumber = plusNumberProblem(senderId, rule);
  if (asNumber !== undefined) return asNumber;
  if (!/^[A-Za-z0-9 ]+$/.test(senderId)) return `The sender id "${senderId}" contains characters other than letters, digits and spaces: ${rule}.`;
  if (senderId.length > ALPHANUMERIC_SENDER_MAX) return `The sender id "${senderId}" is longer than ${ALPHANUMERIC_SENDER_MAX} characters: ${rule}.`;
  return undefined;
}

/**
 * The senders the SMS API takes in `from`: a number in international digits (a leading "+", or the `00`
 * international prefix, is dropped: writtenNumber, the relay's one reading of `00`), or an alphanumeric sender
 * id of at most 11 letters, digits and spaces. A number written nationally (its trunk 0) says nothing of its
 * country, which Vonage would not guess: refused in a mail, as Twilio's rule refuses it, not bounced at every mail
 * (status 15); gateway.from's is read in sms.defaultRegion at start (settings.ts, internationalNumbers).
 */
import { writtenNumber } from '../../sms/senders.ts';
import { plusNumberProblem } from '../sender-id-numbers.ts';

const ALPHANUMERIC_SENDER_MAX = 11;
/** A trunk 0 and a national significant number: longer than a short code (8 digits) can be. */
export const NATIONAL_NUMBER = /^0[1-9]\d{7,13}$/;

export function senderIdProblem(senderId: string): string | undefined {
  const rule = `Vonage takes a number in international digits or an alphanumeric sender id of at most ${ALPHANUMERIC_SENDER_MAX} letters, digits and spaces`;
  if (NATIONAL_NUMBER.test(senderId)) return `The sender id "${senderId}" is a number written nationally (with its leading 0): ${rule}.`;
  if (/^\+?\d{3,15}$/.test(senderId)) return undefined;
  const asNumber = plusNumberProblem(senderId, rule);
  if (asNumber !== undefined) return asNumber;
  if (!/^[A-Za-z0-9 ]+$/.test(senderId)) return `The sender id "${senderId}" contains characters other than letters, digits and spaces: ${rule}.`;
  if (senderId.length > ALPHANUMERIC_SENDER_MAX) return `The sender id "${senderId}" is longer than ${ALPHANUMERIC_SENDER_MAX} characters: ${rule}.`;
  return undefined;
}

/** `from` as Vonage takes it: a number's international digits (no `+`, no `00`), any other sender as written. */
export function vonageFrom(senderId: string): string {
  return writtenNumber(senderId).digits;
}

/**
 * The senders Twilio takes in `From` (https://www.twilio.com/docs/messaging/api/message-resource):
 * an E.164 number of the account, a short code, an alphanumeric sender id (at most 11 letters,
 * digits and spaces, at least one letter), or a Messaging Service SID in place of the configured one (its hex
 * digits in either case: the adapter sends them as Twilio issues them, sids.ts).
 */
import { plusNumberProblem } from '../sender-id-numbers.ts';
import { canonicalSid, MESSAGING_SERVICE_SID } from './sids.ts';

const ALPHANUMERIC_SENDER_MAX = 11;
const E164 = /^\+[1-9]\d{6,14}$/;
const SHORT_CODE = /^\d{3,8}$/;

export function senderIdProblem(senderId: string): string | undefined {
  const rule = `Twilio takes a number in international form (+447700900123), a short code, a Messaging Service SID (MG…), or an alphanumeric sender id of at most ${ALPHANUMERIC_SENDER_MAX} letters, digits and spaces with at least one letter`;
  if (E164.test(senderId) || SHORT_CODE.test(senderId) || MESSAGING_SERVICE_SID.test(senderId)) return undefined;
  if (/^\d+$/.test(senderId)) return `The sender id "${senderId}" is a number without "+": ${rule}.`;
  const asNumber = plusNumberProblem(senderId, rule);
  if (asNumber !== undefined) return asNumber;
  if (!/^[A-Za-z0-9 ]+$/.test(senderId)) return `The sender id "${senderId}" contains characters other than letters, digits and spaces: ${rule}.`;
  if (!/[A-Za-z]/.test(senderId)) return `The sender id "${senderId}" has no letter: ${rule}.`;
  if (senderId.length > ALPHANUMERIC_SENDER_MAX) return `The sender id "${senderId}" is longer than ${ALPHANUMERIC_SENDER_MAX} characters: ${rule}.`;
  return undefined;
}

/** A sender's queue as the adapter names the sender: a Messaging Service SID as Twilio issues it, any other sender as written. */
export function senderQueue(senderId: string): string {
  return MESSAGING_SERVICE_SID.test(senderId) ? canonicalSid(senderId) : senderId;
}

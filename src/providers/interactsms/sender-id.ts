/** The sender ids InteractSMS documents for `from`: an alphanumeric name, or a long or short code. */

const ALPHANUMERIC_SENDER_MAX = 11;
const NUMERIC_SENDER_MAX = 15;

/** The documented `from`: at most 11 letters and digits without spaces, or a long or short code (digits). */
export function senderIdProblem(senderId: string): string | undefined {
  const rule = `InteractSMS takes a sender id of at most ${ALPHANUMERIC_SENDER_MAX} letters and digits without spaces, or a phone number or short code of at most ${NUMERIC_SENDER_MAX} digits`;
  if (senderId === '') return `The sender id is empty: ${rule}.`;
  if (/^\d+$/.test(senderId)) {
    return senderId.length <= NUMERIC_SENDER_MAX ? undefined : `The sender id "${senderId}" has more than ${NUMERIC_SENDER_MAX} digits: ${rule}.`;
  }
  if (/\s/.test(senderId)) return `The sender id "${senderId}" contains spaces: ${rule}.`;
  if (senderId.startsWith('+') && /^\+\d+$/.test(senderId)) {
    return `The sender id "${senderId}" starts with "+": write the number in international digits without it (${rule}).`;
  }
  if (!/^[A-Za-z0-9]+$/.test(senderId)) return `The sender id "${senderId}" contains characters other than letters and digits: ${rule}.`;
  if (senderId.length > ALPHANUMERIC_SENDER_MAX) {
    return `The sender id "${senderId}" is longer than ${ALPHANUMERIC_SENDER_MAX} characters: ${rule}.`;
  }
  return undefined;
}

/** GSM 03.40 originator as the legacy API takes it: up to 11 alphanumerics, or a number of up to 15 digits. */
const SENDER_ID = /^(?:[A-Za-z0-9 ]{1,11}|\+?[0-9]{1,15})$/;
/** Enough of a refused sender id to recognise it in the 554. */
const SHOWN_CHARS = 20;

export function senderIdProblem(senderId: string): string | undefined {
  return SENDER_ID.test(senderId)
    ? undefined
    : `IntelliSoftware takes a sender id of up to 11 letters, digits and spaces, or a number of up to 15 digits, not "${senderId.slice(0, SHOWN_CHARS)}"`;
}

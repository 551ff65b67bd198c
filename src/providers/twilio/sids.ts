/**
 * Twilio's SIDs (https://www.twilio.com/docs/glossary/what-is-a-sid): a two-letter prefix and 32 hex digits,
 * which Twilio writes in lower case. One shape for each, wherever the relay reads one.
 */

/** Two letters and 32 hex digits, in either case: the shape of a SID whatever its kind. */
const SID_DIGITS = '[0-9a-fA-F]{32}';

/**
 * A message's SID in Twilio's own answers and callbacks (SM for an SMS, MM for an MMS): read as Twilio sends
 * it, the case of its digits not judged (the relay only keeps it and looks it up).
 */
export const MESSAGE_SID = new RegExp(`^(?:SM|MM)${SID_DIGITS}$`);

/**
 * A Messaging Service's SID, as an operator writes it (gateway.messagingServiceSid) or a mail names it
 * (X-SMS-From): lower-case hex digits only, as Twilio's console shows them. Twilio refuses one written in
 * upper case, so it is refused where it is written, at start-up (exit 78) or at DATA, with the same words
 * (upperCaseServiceSid), rather than failing every send after the relay said yes.
 */
export const MESSAGING_SERVICE_SID = /^MG[0-9a-f]{32}$/;

/** The words for a Messaging Service SID written with upper-case hex digits; undefined for any other value. */
export function upperCaseServiceSid(value: string): string | undefined {
  if (MESSAGING_SERVICE_SID.test(value) || !new RegExp(`^MG${SID_DIGITS}$`).test(value)) return undefined;
  return `"${value}" is a Messaging Service SID with upper-case hex digits: Twilio's SIDs are MG and 32 lower-case hex digits, as its console shows them.`;
}

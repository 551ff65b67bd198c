/**
 * Twilio's SIDs (https://www.twilio.com/docs/glossary/what-is-a-sid): a two-letter prefix and 32 hex digits,
 * which Twilio issues in lower case. One shape for each, wherever the relay reads one.
 */

/** 32 hex digits, in either case. */
const SID_DIGITS = '[0-9a-fA-F]{32}';

/** A SID of one kind (`prefix`: AC an account, MG a Messaging Service…), its digits in either case. */
const sidOf = (prefix: string) => new RegExp(`^${prefix}${SID_DIGITS}$`);

/**
 * A message's SID in Twilio's own answers and callbacks (SM for an SMS, MM for an MMS): read as Twilio sends
 * it, the case of its digits not judged (the relay only keeps it and looks it up).
 */
export const MESSAGE_SID = new RegExp(`^(?:SM|MM)${SID_DIGITS}$`);

/**
 * An Account SID and a Messaging Service SID, as an operator writes them (gateway.accountSid,
 * gateway.messagingServiceSid) or a mail names one (X-SMS-From): taken in either case and sent as Twilio
 * issues them (canonicalSid). Twilio does not document how it treats upper-case digits; as it only issues
 * lower-case ones, the lower-case form is the SID whichever way it does.
 */
export const ACCOUNT_SID = sidOf('AC');
export const MESSAGING_SERVICE_SID = sidOf('MG');

/** A SID of one of the shapes above as Twilio issues it: its prefix and its hex digits in lower case. */
export function canonicalSid(sid: string): string {
  return `${sid.slice(0, 2)}${sid.slice(2).toLowerCase()}`;
}

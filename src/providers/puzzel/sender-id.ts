/** Puzzel's three originator types and which sender ids fit one of them. */
import { writtenNumber } from '../../sms/senders.ts';

export interface OriginatorSettings {
  readonly originatorType: 'ALPHANUMERIC' | 'INTERNATIONAL' | 'NETWORK';
  readonly originator: string;
}

/** Short numbers ("network specific", e.g. 1960). */
const NETWORK_ORIGINATOR = /^\d{3,8}$/;
/**
 * E.164 digits after `+` or `00` (writtenNumber: the relay's one reading of `00`, so that the allow-list
 * and Puzzel read an id alike): a country code never begins with 0; 7 digits are the shortest number with one.
 */
const INTERNATIONAL_DIGITS = /^[1-9]\d{6,14}$/;
/** Digits without `+` or `00` taken as international: 9 to 15, the longest short number (8) ruled out. */
const BARE_INTERNATIONAL_DIGITS = /^[1-9]\d{8,14}$/;
/**
 * A number Puzzel cannot show whatever type it is sent as: a national one (a single trunk 0: `07700900123`,
 * longer than a short number) or `+0…`. Sent as INTERNATIONAL it would be `+0…`, which no phone can answer;
 * as ALPHANUMERIC, digits the phone shows as a name. It is refused rather than read in `sms.defaultRegion`:
 * the allow-list (src/policy/senders.ts) reads ids without a region, and the relay and the allow-list must
 * agree on which number an id is.
 */
const ZERO_LED_NUMBER = /^(?:\+0\d*|0\d{8,})$/;
const ALPHANUMERIC_ORIGINATOR = /^[a-zA-Z0-9 %&\-+.,]{1,11}$/;
const ALPHANUMERIC_CHAR = /[a-zA-Z0-9 %&\-+.,]/;

/** The international number a sender id is (`+4799999999`, written with `+`, `00` or bare), or undefined. */
function internationalOriginator(senderId: string): string | undefined {
  const { international, digits } = writtenNumber(senderId);
  return (international ? INTERNATIONAL_DIGITS : BARE_INTERNATIONAL_DIGITS).test(digits) ? `+${digits}` : undefined;
}

/**
 * The `originatorSettings` for a sender id. One Puzzel cannot show (see `senderIdProblem`, which the
 * relay checks first) is sent as ALPHANUMERIC all the same, so that Puzzel's own refusal (statusCode
 * 5) bounces it rather than another originator being substituted silently.
 */
export function originatorFor(senderId: string): OriginatorSettings {
  if (NETWORK_ORIGINATOR.test(senderId)) return { originatorType: 'NETWORK', originator: senderId };
  const international = internationalOriginator(senderId);
  if (international !== undefined) return { originatorType: 'INTERNATIONAL', originator: international };
  return { originatorType: 'ALPHANUMERIC', originator: senderId };
}

const SENDER_ID_RULE =
  'Puzzel takes a sender id of at most 11 letters, digits, spaces and % & - + . , or an international number (+ or 00 and up to 15 digits), or a short number (3 to 8 digits)';
/** What a number with a leading 0 is told to become. */
const WRITE_INTERNATIONALLY = 'write it as + and the country code, then the number without its leading 0';

export function senderIdProblem(senderId: string): string | undefined {
  if (NETWORK_ORIGINATOR.test(senderId) || internationalOriginator(senderId) !== undefined) return undefined;
  const chars = [...senderId];
  const shown = chars.length > 20 ? `${chars.slice(0, 20).join('')}…` : senderId;
  if (ZERO_LED_NUMBER.test(senderId)) {
    const what = senderId.startsWith('+') ? 'has no country code (none begins with 0)' : 'is a national number, which names no country';
    return `${SENDER_ID_RULE}; "${shown}" ${what}: ${WRITE_INTERNATIONALLY}`;
  }
  if (ALPHANUMERIC_ORIGINATOR.test(senderId)) return undefined;
  if (chars.length === 0) return `${SENDER_ID_RULE}; the sender id is empty`;
  const bad = [...new Set(chars.filter((char) => !ALPHANUMERIC_CHAR.test(char)))];
  if (bad.length > 0) return `${SENDER_ID_RULE}; "${shown}" has ${bad.map((char) => `"${char}"`).join(', ')}`;
  const digits = /^\+?(\d+)$/.exec(senderId)?.[1];
  if (digits !== undefined && digits.length > 15) return `${SENDER_ID_RULE}; "${shown}" has ${digits.length} digits`;
  return `${SENDER_ID_RULE}; "${shown}" has ${chars.length} characters`;
}

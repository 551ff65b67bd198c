/** Puzzel's three originator types and which sender ids fit one of them. */

export interface OriginatorSettings {
  readonly originatorType: 'ALPHANUMERIC' | 'INTERNATIONAL' | 'NETWORK';
  readonly originator: string;
}

/** Short numbers ("network specific", e.g. 1960). */
const NETWORK_ORIGINATOR = /^\d{3,8}$/;
/** E.164, with or without its `+`; sent with it. */
const INTERNATIONAL_ORIGINATOR = /^(?:\+(\d{7,15})|(\d{9,15}))$/;
const ALPHANUMERIC_ORIGINATOR = /^[a-zA-Z0-9 %&\-+.,]{1,11}$/;
const ALPHANUMERIC_CHAR = /[a-zA-Z0-9 %&\-+.,]/;

/**
 * The `originatorSettings` for a sender id. One Puzzel cannot show (see `senderIdProblem`, which the
 * relay checks first) is sent as ALPHANUMERIC all the same, so that Puzzel's own refusal (statusCode
 * 5) bounces it rather than another originator being substituted silently.
 */
export function originatorFor(senderId: string): OriginatorSettings {
  if (NETWORK_ORIGINATOR.test(senderId)) return { originatorType: 'NETWORK', originator: senderId };
  const international = INTERNATIONAL_ORIGINATOR.exec(senderId);
  const digits = international?.[1] ?? international?.[2];
  if (digits !== undefined) return { originatorType: 'INTERNATIONAL', originator: `+${digits}` };
  return { originatorType: 'ALPHANUMERIC', originator: senderId };
}

const SENDER_ID_RULE =
  'Puzzel takes a sender id of at most 11 letters, digits, spaces and % & - + . , or an international number (+ and up to 15 digits), or a short number (3 to 8 digits)';

export function senderIdProblem(senderId: string): string | undefined {
  if (NETWORK_ORIGINATOR.test(senderId) || INTERNATIONAL_ORIGINATOR.test(senderId) || ALPHANUMERIC_ORIGINATOR.test(senderId)) {
    return undefined;
  }
  const chars = [...senderId];
  const shown = chars.length > 20 ? `${chars.slice(0, 20).join('')}…` : senderId;
  if (chars.length === 0) return `${SENDER_ID_RULE}; the sender id is empty`;
  const bad = [...new Set(chars.filter((char) => !ALPHANUMERIC_CHAR.test(char)))];
  if (bad.length > 0) return `${SENDER_ID_RULE}; "${shown}" has ${bad.map((char) => `"${char}"`).join(', ')}`;
  const digits = /^\+?(\d+)$/.exec(senderId)?.[1];
  if (digits !== undefined && digits.length > 15) return `${SENDER_ID_RULE}; "${shown}" has ${digits.length} digits`;
  return `${SENDER_ID_RULE}; "${shown}" has ${chars.length} characters`;
}

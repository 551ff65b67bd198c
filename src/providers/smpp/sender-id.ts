/**
 * The senders an SMPP source_addr can carry, and the TON/NPI each is sent with (SMPP 3.4 §5.2.5–6):
 * a number in international digits (TON 1 international, NPI 1 E.164), a short code of 3–8 digits
 * (TON 3 network specific, NPI 0), or an alphanumeric id of at most 11 characters (TON 5, NPI 0).
 */
const ALPHANUMERIC_SENDER_MAX = 11;
const SHORT_CODE = /^\d{3,8}$/;
const INTERNATIONAL = /^\+?\d{9,15}$/;

export interface SourceAddress {
  readonly ton: number;
  readonly npi: number;
  readonly address: string;
}

export function sourceAddress(senderId: string): SourceAddress {
  if (INTERNATIONAL.test(senderId)) return { ton: 1, npi: 1, address: senderId.replace(/^\+/, '') };
  if (SHORT_CODE.test(senderId)) return { ton: 3, npi: 0, address: senderId };
  return { ton: 5, npi: 0, address: senderId };
}

export function senderIdProblem(senderId: string): string | undefined {
  const rule = `an SMSC takes a number in international digits, a short code or an alphanumeric sender id of at most ${ALPHANUMERIC_SENDER_MAX} letters, digits and spaces`;
  if (INTERNATIONAL.test(senderId) || SHORT_CODE.test(senderId)) return undefined;
  if (!/^[A-Za-z0-9 ]+$/.test(senderId)) return `The sender id "${senderId}" contains characters other than letters, digits and spaces: ${rule}.`;
  if (senderId.length > ALPHANUMERIC_SENDER_MAX) return `The sender id "${senderId}" is longer than ${ALPHANUMERIC_SENDER_MAX} characters: ${rule}.`;
  return undefined;
}

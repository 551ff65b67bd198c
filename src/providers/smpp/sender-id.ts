/**
 * The senders an SMPP source_addr can carry, and the TON/NPI each is sent with (SMPP 3.4 §5.2.5–6):
 * a number in international digits (TON 1 international, NPI 1 E.164; written `+…` or with the `00`
 * access code, which is dropped: writtenNumber, the relay's one reading of `00`, so that the allow-list
 * and the SMSC read an id alike), a national number with its trunk 0 (TON 2 national, NPI 1: the
 * SMSC reads it in its own country), a short code of 3–8 digits (TON 3 network specific, NPI 0), or an
 * alphanumeric id of at most 11 characters (TON 5, NPI 0).
 */
import { NPI, TON } from './pdu.ts';
import { writtenNumber } from '../../sms/senders.ts';
import { plusNumberProblem } from '../sender-id-numbers.ts';

const ALPHANUMERIC_SENDER_MAX = 11;
const SHORT_CODE = /^\d{3,8}$/;
/** E.164 digits after `+` or `00`: a country code never begins with 0; 7 digits are the shortest number with one. */
const INTERNATIONAL_DIGITS = /^[1-9]\d{6,14}$/;
/** Digits without `+` or `00` taken as international: 9 to 15, the longest short code (8) ruled out. */
const BARE_INTERNATIONAL_DIGITS = /^[1-9]\d{8,14}$/;
/** A trunk 0 and the national significant number (E.164's 15 digits at most, less a country code). */
const NATIONAL = /^0[1-9]\d{5,13}$/;

export interface SourceAddress {
  readonly ton: number;
  readonly npi: number;
  readonly address: string;
}

/** The international digits a sender id is (`+`, `00` or bare; neither sent), or undefined. */
function internationalDigits(senderId: string): string | undefined {
  const { international, digits } = writtenNumber(senderId);
  return (international ? INTERNATIONAL_DIGITS : BARE_INTERNATIONAL_DIGITS).test(digits) ? digits : undefined;
}

export function sourceAddress(senderId: string): SourceAddress {
  const international = internationalDigits(senderId);
  if (international !== undefined) return { ton: TON.INTERNATIONAL, npi: NPI.E164, address: international };
  if (NATIONAL.test(senderId)) return { ton: TON.NATIONAL, npi: NPI.E164, address: senderId };
  if (SHORT_CODE.test(senderId)) return { ton: TON.NETWORK_SPECIFIC, npi: NPI.UNKNOWN, address: senderId };
  return { ton: TON.ALPHANUMERIC, npi: NPI.UNKNOWN, address: senderId };
}

export function senderIdProblem(senderId: string): string | undefined {
  const rule = `an SMSC takes a number (international digits, or national with its leading 0), a short code or an alphanumeric sender id of at most ${ALPHANUMERIC_SENDER_MAX} letters, digits and spaces`;
  if (internationalDigits(senderId) !== undefined || NATIONAL.test(senderId) || SHORT_CODE.test(senderId)) return undefined;
  const asNumber = plusNumberProblem(senderId, rule);
  if (asNumber !== undefined) return asNumber;
  if (!/^[A-Za-z0-9 ]+$/.test(senderId)) return `The sender id "${senderId}" contains characters other than letters, digits and spaces: ${rule}.`;
  if (senderId.length > ALPHANUMERIC_SENDER_MAX) return `The sender id "${senderId}" is longer than ${ALPHANUMERIC_SENDER_MAX} characters: ${rule}.`;
  return undefined;
}

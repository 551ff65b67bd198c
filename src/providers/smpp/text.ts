/**
 * The text of a submit_sm or deliver_sm: GSM 03.38 septets one per octet (SMPP carries them
 * unpacked; the SMSC packs them for the air), UCS-2 big-endian, and the concatenation header of a
 * long SMS: a UDH (3GPP TS 23.040 §9.2.3.24.1 and .8: IEI 00 with an 8-bit reference, IEI 08 with a
 * 16-bit one) or the SAR optional parameters (SMPP 3.4 §5.3.2.22–24).
 */
import { decodeGsm7, decodeUcs2, GSM7_BASIC_TABLE, GSM7_EXTENSION_CHARS, GSM7_EXTENSION_CODES } from '../../sms/encoding.ts';
import type { CarriedText, SmsPart } from '../../vocabulary.ts';
import { ESM_CLASS, PduError, type ShortMessage, STATUS, TAG } from './pdu.ts';

const ESC = 0x1b;
const BASIC_CODE = new Map([...GSM7_BASIC_TABLE].map((char, code) => [char, code] as const));
const EXTENSION_CODE = new Map([...GSM7_EXTENSION_CHARS].map((char, index) => [char, GSM7_EXTENSION_CODES[index] as number] as const));

/** data_coding 8: UCS-2 (ISO/IEC 10646). */
export const DATA_CODING_UCS2 = 0x08;
const DATA_CODING_LATIN1 = 0x03;
const DATA_CODING_IA5 = 0x01;

/** GSM 03.38 septets, one per octet. The caller has checked the text is GSM-7 (sms/encoding.ts). */
export function encodeGsm7(text: string): Buffer {
  const octets: number[] = [];
  for (const char of text) {
    const basic = BASIC_CODE.get(char);
    if (basic !== undefined && basic !== ESC) octets.push(basic);
    else {
      const extension = EXTENSION_CODE.get(char);
      if (extension === undefined) throw new RangeError(`not a GSM-7 character: U+${char.codePointAt(0)?.toString(16)}`);
      octets.push(ESC, extension);
    }
  }
  return Buffer.from(octets);
}

export function encodeUcs2(text: string): Buffer {
  const octets = Buffer.alloc(text.length * 2);
  for (let index = 0; index < text.length; index++) octets.writeUInt16BE(text.charCodeAt(index), index * 2);
  return octets;
}

/** How a long text is cut: a UDH with an 8-bit or a 16-bit reference, or whole in message_payload (the SMSC cuts it). */
export type LongTextMethod = 'udh8' | 'udh16' | 'payload';

/** The UDH of part `index` (1-based) of `total`. */
export function concatenationUdh(method: Exclude<LongTextMethod, 'payload'>, reference: number, total: number, index: number): Buffer {
  if (method === 'udh8') return Buffer.from([0x05, 0x00, 0x03, reference & 0xff, total, index]);
  return Buffer.from([0x06, 0x08, 0x04, (reference >> 8) & 0xff, reference & 0xff, total, index]);
}

/** What a deliver_sm said in words, and its place in a long SMS. */
export interface ReadText {
  readonly text: string;
  readonly part: SmsPart | undefined;
}

/**
 * The text of a deliver_sm (message_payload when present, else short_message), with a concatenation
 * UDH or SAR parameters read. `gsm7Codes`: the data_coding values that mean GSM 03.38 on this bind
 * (0, and whatever the account sends GSM-7 as). A coding the relay cannot show is a PduError.
 */
export function readText(sm: ShortMessage, gsm7Codes: readonly number[]): ReadText {
  const payload = sm.tlvs.get(TAG.message_payload);
  let octets = payload ?? sm.shortMessage;
  let part: SmsPart | undefined;
  if (sm.esmClass & ESM_CLASS.UDHI) {
    const length = octets[0];
    if (length === undefined || length + 1 > octets.length)
      throw new PduError(STATUS.ESME_RINVESMCLASS, 'esm_class says a UDH opens the message, but none fits');
    part = udhPosition(octets.subarray(1, length + 1));
    octets = octets.subarray(length + 1);
  }
  part ??= sarPosition(sm.tlvs);
  const coding = codingOf(sm.dataCoding, gsm7Codes);
  const text = coding === 'gsm7' ? decodeGsm7(octets) : coding === 'ucs2' ? decodeUcs2(octets) : octets.toString('latin1');
  return { text, part: part && coding !== 'latin1' ? { ...part, carried: { coding, octets } } : part };
}

function codingOf(dataCoding: number, gsm7Codes: readonly number[]): CarriedText['coding'] | 'latin1' {
  if (gsm7Codes.includes(dataCoding)) return 'gsm7';
  if (dataCoding === DATA_CODING_UCS2) return 'ucs2';
  if (dataCoding === DATA_CODING_LATIN1 || dataCoding === DATA_CODING_IA5) return 'latin1';
  // Data coding groups 1111xxxx (message class given): bit 2 says 8-bit data, else GSM 03.38.
  if ((dataCoding & 0xf0) === 0xf0 && (dataCoding & 0x04) === 0) return 'gsm7';
  // Permanent: the relay will never mail it, and a temporary error would have the SMSC deliver it again and again.
  throw new PduError(STATUS.ESME_RX_P_APPN, `data_coding 0x${dataCoding.toString(16)} is not text the relay can mail`);
}

function udhPosition(udh: Buffer): SmsPart | undefined {
  for (let offset = 0; offset + 2 <= udh.length; ) {
    const iei = udh[offset] as number;
    const length = udh[offset + 1] as number;
    const value = udh.subarray(offset + 2, offset + 2 + length);
    if (value.length !== length) throw new PduError(STATUS.ESME_RINVESMCLASS, 'a UDH element runs past the UDH');
    if (iei === 0x00 && length === 3) return { reference: value[0] as number, total: value[1] as number, index: value[2] as number };
    if (iei === 0x08 && length === 4) return { reference: value.readUInt16BE(0), total: value[2] as number, index: value[3] as number };
    offset += 2 + length;
  }
  return undefined;
}

function sarPosition(tlvs: ReadonlyMap<number, Buffer>): SmsPart | undefined {
  const reference = tlvs.get(TAG.sar_msg_ref_num);
  const total = tlvs.get(TAG.sar_total_segments);
  const index = tlvs.get(TAG.sar_segment_seqnum);
  if (reference === undefined && total === undefined && index === undefined) return undefined;
  if (reference?.length !== 2 || total?.length !== 1 || index?.length !== 1) {
    throw new PduError(
      STATUS.ESME_RINVOPTPARAMVAL,
      'the SAR parameters come as a set: sar_msg_ref_num (2 octets), sar_total_segments and sar_segment_seqnum (1 each)',
    );
  }
  return { reference: reference.readUInt16BE(0), total: total[0] as number, index: index[0] as number };
}

/**
 * The text of a submit_sm or deliver_sm: GSM 03.38 septets one per octet (SMPP carries them
 * unpacked; the SMSC packs them for the air), in the default or a national language's tables, UCS-2
 * big-endian, the other text codings of SMPP 3.4 §5.2.19, and the concatenation header of a long
 * SMS: a UDH (3GPP TS 23.040 §9.2.3.24.1 and .8: IEI 00 with an 8-bit reference, IEI 08 with a
 * 16-bit one) or the SAR optional parameters (SMPP 3.4 §5.3.2.22–24).
 */
import { decodeGsm7, decodeUcs2, GSM7_BASIC_TABLE, GSM7_EXTENSION_CHARS, GSM7_EXTENSION_CODES } from '../../sms/encoding.ts';
import { TextDecoder } from 'node:util';
import { type NationalShift, nationalTables } from '../../sms/gsm7-national.ts';
import type { SmsPart } from '../../vocabulary.ts';
import { ESM_CLASS, PduError, type ShortMessage, STATUS, TAG } from './pdu.ts';

const ESC = 0x1b;
const BASIC_CODE = new Map([...GSM7_BASIC_TABLE].map((char, code) => [char, code] as const));
const EXTENSION_CODE = new Map([...GSM7_EXTENSION_CHARS].map((char, index) => [char, GSM7_EXTENSION_CODES[index] as number] as const));

/** data_coding 8: UCS-2 (ISO/IEC 10646). */
export const DATA_CODING_UCS2 = 0x08;
/** GSM 03.38 §4's alphabet bits (3–2) in the general data coding groups. */
const GSM_ALPHABET_GSM7 = 0;
const GSM_ALPHABET_UCS2 = 2;
/** 3GPP TS 23.040 §9.2.3.24: the UDH elements the relay reads. */
const IEI = { CONCATENATED_8BIT: 0x00, CONCATENATED_16BIT: 0x08, SINGLE_SHIFT: 0x24, LOCKING_SHIFT: 0x25 } as const;

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
  /** A GSM-7 coding whose octets go above 0x7F, which no septet does: read as Latin-1 instead (the caller says so). */
  readonly notSeptets: boolean;
  /** The text's octets when it came in UCS-2: half a character among them is the caller's to judge (sms/half-characters.ts). */
  readonly ucs2?: Buffer | undefined;
}

/**
 * SMPP 3.4 §5.2.19's text codings besides GSM-7 and UCS-2, by the WHATWG label Node decodes them
 * with: JIS (X 0208) is sent as Shift_JIS, KS C 5601 as EUC-KR, as SMSCs and SMPP libraries write them.
 */
const CHARSETS: ReadonlyMap<number, string> = new Map([
  [0x01, 'latin1'], // IA5 (ASCII), which Latin-1 extends
  [0x03, 'latin1'],
  [0x05, 'shift_jis'],
  [0x06, 'iso-8859-5'],
  [0x07, 'iso-8859-8'],
  [0x0a, 'iso-2022-jp'],
  [0x0e, 'euc-kr'],
]);
const decoders = new Map<string, TextDecoder>();

/**
 * The text of a deliver_sm (message_payload or short_message: SMPP 3.4 §5.3.2.32 allows one, and both is
 * a PduError), with a concatenation UDH or SAR parameters read, and the national language tables its UDH
 * names. `gsm7Codes`: the
 * data_coding values that mean GSM 03.38 on this bind (0 unless the SMSC's default alphabet is
 * Latin-1, and whatever the account sends GSM-7 as). A coding the relay cannot show is a PduError.
 */
export function readText(sm: ShortMessage, gsm7Codes: readonly number[]): ReadText {
  const payload = sm.tlvs.get(TAG.message_payload);
  // Which one the SMSC meant is unknown (Kannel takes short_message, others the payload): taking either may lose the other's text.
  if (payload !== undefined && sm.shortMessage.length > 0)
    throw new PduError(
      STATUS.ESME_RINVMSGLEN,
      'short_message and message_payload both carry the text; SMPP 3.4 §5.3.2.32 allows one (sm_length 0 with a payload)',
    );
  let octets = payload ?? sm.shortMessage;
  let udh: Udh = { part: undefined, shift: {} };
  if (sm.esmClass & ESM_CLASS.UDHI) {
    const length = octets[0];
    if (length === undefined || length + 1 > octets.length)
      throw new PduError(STATUS.ESME_RINVESMCLASS, 'esm_class says a UDH opens the message, but none fits');
    udh = readUdh(octets.subarray(1, length + 1));
    octets = octets.subarray(length + 1);
  }
  const part = udh.part ?? sarPosition(sm.tlvs);
  const named = codingOf(sm.dataCoding, gsm7Codes);
  // An unpacked septet is 0x00–0x7F: an octet above proves the SMSC wrote this GSM-7 coding in another alphabet, Latin-1 the usual one.
  const notSeptets = named === 'gsm7' && octets.some((octet) => octet > 0x7f);
  const coding = notSeptets ? 'latin1' : named;
  if (coding === 'ucs2') return { text: decodeUcs2(octets), part: part && { ...part, carried: { coding, octets } }, notSeptets, ucs2: octets };
  if (coding !== 'gsm7') return { text: decodeCharset(coding, octets), part, notSeptets };
  const national = udh.shift.locking !== undefined || udh.shift.single !== undefined;
  const tables = nationalTables(udh.shift);
  // Permanent, as for a coding the relay cannot read: sent again it would be read no better.
  if (typeof tables === 'string') throw new PduError(STATUS.ESME_RX_P_APPN, `the UDH names ${tables}`);
  // Parts are joined as octets only in the default tables (src/sms/concat.ts): a part in national ones goes as its text.
  return { text: decodeGsm7(octets, tables), part: part && !national ? { ...part, carried: { coding, octets } } : part, notSeptets };
}

function decodeCharset(label: string, octets: Buffer): string {
  // Node's TextDecoder takes `latin1` for windows-1252, whose 0x80–0x9F are letters; ISO-8859-1's are controls.
  if (label === 'latin1') return octets.toString('latin1');
  const decoder = decoders.get(label) ?? new TextDecoder(label);
  decoders.set(label, decoder);
  return decoder.decode(octets);
}

/**
 * How data_coding says its text is written: SMPP 3.4 §5.2.19 for 0x00–0x0F, GSM 03.38 §4 above (which
 * §5.2.19 refers to): the general and automatic-deletion groups (00xx and 01xx: bit 5 compressed,
 * bits 3–2 the alphabet), message waiting indication (1100 and 1101 GSM-7, 1110 UCS-2) and data
 * coding/message class (1111: bit 2 8-bit data, else GSM-7). Phones send the class and waiting
 * codings (a class 0 "flash" reply), which SMSCs pass on as the handset wrote them.
 */
function codingOf(dataCoding: number, gsm7Codes: readonly number[]): 'gsm7' | 'ucs2' | string {
  if (gsm7Codes.includes(dataCoding)) return 'gsm7';
  // The SMSC's default alphabet, set as Latin-1 (gateway.defaultAlphabet).
  if (dataCoding === 0) return 'latin1';
  if (dataCoding === DATA_CODING_UCS2) return 'ucs2';
  const charset = CHARSETS.get(dataCoding);
  if (charset !== undefined) return charset;
  const group = dataCoding >> 4;
  if (group >= 0x1 && group <= 0x5 && (dataCoding & 0x20) === 0) {
    const alphabet = (dataCoding >> 2) & 0x03;
    if (alphabet === GSM_ALPHABET_GSM7) return 'gsm7';
    if (alphabet === GSM_ALPHABET_UCS2) return 'ucs2';
  }
  if (group === 0xc || group === 0xd) return 'gsm7';
  if (group === 0xe) return 'ucs2';
  if (group === 0xf && (dataCoding & 0x04) === 0) return 'gsm7';
  // Permanent: the relay will never mail it, and a temporary error would have the SMSC deliver it again and again.
  throw new PduError(STATUS.ESME_RX_P_APPN, `data_coding 0x${dataCoding.toString(16)} is not text the relay can mail`);
}

/** What a UDH says: the part's place, and the national language tables of its GSM-7 text. */
interface Udh {
  readonly part: SmsPart | undefined;
  readonly shift: NationalShift;
}

function readUdh(udh: Buffer): Udh {
  let part: SmsPart | undefined;
  const shift: { single?: number; locking?: number } = {};
  for (let offset = 0; offset + 2 <= udh.length; ) {
    const iei = udh[offset] as number;
    const length = udh[offset + 1] as number;
    const value = udh.subarray(offset + 2, offset + 2 + length);
    if (value.length !== length) throw new PduError(STATUS.ESME_RINVESMCLASS, 'a UDH element runs past the UDH');
    if (iei === IEI.CONCATENATED_8BIT && length === 3) part ??= { reference: value[0] as number, total: value[1] as number, index: value[2] as number };
    if (iei === IEI.CONCATENATED_16BIT && length === 4) part ??= { reference: value.readUInt16BE(0), total: value[2] as number, index: value[3] as number };
    if (iei === IEI.SINGLE_SHIFT && length === 1) shift.single = value[0] as number;
    if (iei === IEI.LOCKING_SHIFT && length === 1) shift.locking = value[0] as number;
    offset += 2 + length;
  }
  return { part, shift };
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

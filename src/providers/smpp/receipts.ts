/**
 * Delivery receipts: a deliver_sm whose esm_class says "SMSC delivery receipt" (SMPP 3.4 §5.2.12),
 * naming the message in the receipted_message_id TLV (§5.3.2.12) with message_state (§5.3.2.35), or
 * only in its text, whose usual form is the specification's Appendix B:
 * `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: …`.
 */
import type { DeliveryState } from '../../vocabulary.ts';
import { type ShortMessage, TAG, tlvString } from './pdu.ts';

/** How receipts write the message id, against submit_sm_resp's form (`receiptIdFormat`). */
export type ReceiptIdFormat = 'as-submitted' | 'decimal' | 'hex';

export interface Receipt {
  /** The message id's key (messageIdKey), as the SMS's send was recorded under. */
  readonly messageId: string;
  /**
   * The id as the receipt wrote it, where it is not its key and a relay before keys (as-submitted kept
   * submit_sm_resp's id as written) may have recorded the SMS under it: StatusReport.formerId.
   */
  readonly written?: string;
  readonly state: DeliveryState;
  /** `err:` as written, else network_error_code with its type, else message_state (no error code was given): see codeOf. */
  readonly code: number;
  /**
   * For the SMS's history: the code in the Diagnostic-Code's words (statusCode), or a `stat:` word the relay
   * does not know (`unknown receipt state stat:BLOCKED`, the state then `sent`).
   */
  readonly said?: string;
  /** The `stat:` word, when the relay does not know it: said then tells it, unless a final message_state decided the state. */
  readonly unknownStat?: string;
}

/**
 * Codes from here are a message_state with no error code beside it: `err:` has at most 3 digits and
 * network_error_code's error 2 octets, so no error code reaches it, and a state is never shown as one.
 */
const MESSAGE_STATE_CODES = 0x10000;

/**
 * Codes from here are an `err:` as the SMSC wrote it: Appendix B leaves the code's form to the SMSC, and
 * several write it in hex (`0C8`, `1A3`), so its digits are kept as hex digits past this base and shown
 * as written (`err:001`, `err:069`, `err:0C8`), never read as a decimal and never labelled a "status",
 * which in SMPP is a PDU's command_status. A code of Appendix B's 3 digits is the base plus its value; a
 * shorter one (`err:1`) keeps its width, ERR_WIDTH_STEP per missing digit. Past MESSAGE_STATE_CODES and its
 * 8 states, and 3 hex digits (0xFFF) at 2 missing digits stay below the next base.
 */
const ERR_TEXT_CODES = 0x20000;
/** `err:`'s width in Appendix B: a code written with fewer digits is marked so by ERR_WIDTH_STEP. */
const ERR_DIGITS = 3;
/** Past 3 hex digits (0xFFF): the step that marks each digit an `err:` has fewer than ERR_DIGITS. */
const ERR_WIDTH_STEP = 0x1000;

/**
 * Codes from here are a network_error_code (§5.3.2.31): the network's own code, its first octet the
 * network type (GSM, IS-95 …), the next two the error, kept as `type × NETWORK_TYPE_STEP + error`. Past
 * the `err:` codes; 255 types of 2 octets' errors stay within a 32-bit integer column.
 */
const NETWORK_ERROR_CODES = 0x1000000;
/** 2 octets of error per network type. */
const NETWORK_TYPE_STEP = 0x10000;
/** network_error_code's 3 octets: the type, then the error. */
const NETWORK_ERROR_OCTETS = 3;

/**
 * network_error_code's network types: SMPP 3.4 §5.3.2.31's three, and the ones SMPP 5.0 §4.8.4.42 added in
 * 3.4's reserved range, which SMSCs send to 3.4 binds too. Another is shown by its number.
 */
const NETWORK_TYPES: Readonly<Record<number, string>> = {
  1: 'ANSI-136',
  2: 'IS-95',
  3: 'GSM',
  4: 'ANSI-136 cause',
  5: 'IS-95 cause',
  6: 'ANSI-41',
  7: 'SMPP',
  8: 'message centre',
};

/**
 * `stat:` read to a state: Appendix B's seven words, and the spellings SMSCs write in their place
 * (message_state's names of §5.2.28, `FAILED`, `BUFFRED`/`BUFFERED` for an SMS the SMSC holds for a
 * later try). A word not here is an unknown receipt state: kept in the SMS's history, never final.
 */
const STATS: Readonly<Record<string, DeliveryState>> = {
  DELIVRD: 'delivered',
  DELIVERED: 'delivered',
  EXPIRED: 'expired',
  DELETED: 'failed',
  UNDELIV: 'failed',
  UNDELIVERABLE: 'failed',
  REJECTD: 'failed',
  REJECTED: 'failed',
  FAILED: 'failed',
  ACCEPTD: 'sent',
  ACCEPTED: 'sent',
  ENROUTE: 'sent',
  BUFFRED: 'sent',
  BUFFERED: 'sent',
  UNKNOWN: 'sent',
};
const MESSAGE_STATES: Readonly<Record<number, DeliveryState>> = {
  1: 'sent',
  2: 'delivered',
  3: 'expired',
  4: 'failed',
  5: 'failed',
  6: 'sent',
  7: 'sent',
  8: 'failed',
};

/** message_state's values in the specification's words (§5.2.28). */
const MESSAGE_STATE_NAMES: Readonly<Record<number, string>> = {
  1: 'ENROUTE',
  2: 'DELIVERED',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIVERABLE',
  6: 'ACCEPTED',
  7: 'UNKNOWN',
  8: 'REJECTED',
};

const TEXT_ID = /(?:^|\s)id:([0-9A-Za-z-]{1,65})(?:\s|$)/i;
/** Longer than any state word an SMSC writes (UNDELIVERABLE is 13): what is longer is no `stat:` word. */
const STAT_WORD_CHARS = 16;
const TEXT_STAT = new RegExp(`(?:^|\\s)stat:([A-Z_]{1,${STAT_WORD_CHARS}})(?:\\s|$)`, 'i');
const TEXT_ERR = /(?:^|\s)err:([0-9A-Fa-f]{1,3})(?:\s|$)/i;

/**
 * The receipt's message id, state and code; else why it cannot be read (the quarantine's reason): it
 * names no message or state, or its text's id is not in the form `receiptIdFormat` says.
 */
export function readReceipt(sm: ShortMessage, text: string, format: ReceiptIdFormat): Receipt | string {
  const tlvId = tlvString(sm.tlvs.get(TAG.receipted_message_id));
  const tlvState = sm.tlvs.get(TAG.message_state)?.[0];
  const textId = TEXT_ID.exec(text)?.[1];
  const stat = TEXT_STAT.exec(text)?.[1]?.toUpperCase();
  const fromStat = stat === undefined ? undefined : STATS[stat];
  const fromTlv = tlvState === undefined ? undefined : MESSAGE_STATES[tlvState];
  // message_state is the SMSC's own field, the text a summary: a final message_state wins over a stat: word
  // that is not final (ENROUTE or ACCEPTD left in the text by an SMSC that fills in only the TLV) or unknown.
  const state = fromTlv !== undefined && fromTlv !== 'sent' && (fromStat === undefined || fromStat === 'sent') ? fromTlv : (fromStat ?? fromTlv);
  // The TLV is the submit_sm_resp id by definition; only the text's id may be written otherwise.
  const messageId = tlvId ? messageIdKey(tlvId, 'submitted', format) : textId === undefined ? undefined : messageIdKey(textId, 'receipt', format);
  if (messageId === undefined) {
    return textId === undefined
      ? 'a delivery receipt without a message id'
      : `a delivery receipt whose id "${textId}" is not ${format}, as gateway.receiptIdFormat says the SMSC writes it`;
  }
  const spelled = tlvId || textId;
  const written = format === 'as-submitted' && spelled !== undefined && spelled !== messageId ? { written: spelled } : {};
  const err = TEXT_ERR.exec(text)?.[1];
  const coded = codeOf(sm, err, tlvState);
  // A state word the relay does not know says nothing final: the SMS awaits a final receipt, and its history keeps the
  // words, also beside a message_state that is not final (UNKNOWN, how SMSCs send a word of their own with the TLVs).
  // A final message_state decides the state; the word is still told (unknownStat), for the operator to learn it.
  const unknownStat = stat !== undefined && fromStat === undefined ? stat : undefined;
  if (unknownStat !== undefined && (state === undefined || state === 'sent'))
    return {
      messageId,
      state: 'sent',
      code: coded.code,
      said: `unknown receipt state stat:${unknownStat}${err === undefined ? '' : ` err:${err}`}`,
      unknownStat,
      ...written,
    };
  // Neither a word (known or not) nor a message_state the relay knows.
  if (state === undefined) return 'a delivery receipt without a state';
  return { messageId, state, ...coded, ...(unknownStat === undefined ? {} : { unknownStat }), ...written };
}

/**
 * The receipt's error code (`err:` as written, else network_error_code's), else its message_state standing for it;
 * `said`, its words for the SMS's history, as the Diagnostic-Code's (statusCode). `err:000` is no error code (code 0,
 * `no error code`: most receipts of a delivered SMS carry it), and beside a network_error_code whose error is not 0 it
 * is not the cause: an SMSC that writes `000` in the text and the network's cause in the TLV has reported that cause.
 * A network_error_code whose error is 0 (`03 0000`, which some SMSCs put on every receipt) reports no error either, so
 * it never stands for one: the receipt reads as it would without it.
 */
function codeOf(sm: ShortMessage, err: string | undefined, tlvState: number | undefined): { readonly code: number; readonly said?: string } {
  const network = sm.tlvs.get(TAG.network_error_code);
  const networkError = network?.length === NETWORK_ERROR_OCTETS ? network.readUInt16BE(1) : 0;
  const errValue = err === undefined ? 0 : Number.parseInt(err, 16);
  const code =
    err !== undefined && errValue !== 0
      ? ERR_TEXT_CODES + (ERR_DIGITS - err.length) * ERR_WIDTH_STEP + errValue
      : networkError !== 0
        ? NETWORK_ERROR_CODES + (network?.[0] ?? 0) * NETWORK_TYPE_STEP + networkError
        : err === undefined && tlvState !== undefined
          ? MESSAGE_STATE_CODES + tlvState
          : 0;
  const said = statusCode(code);
  return said === undefined ? { code } : { code, said };
}

/** The name of the message_state a receipt's code stands for (codes from MESSAGE_STATE_CODES on), or undefined for an error code. */
function stateNameOf(code: number): string | undefined {
  return MESSAGE_STATE_NAMES[code - MESSAGE_STATE_CODES];
}

/** An id of hex digits only: a number, in whichever base the SMSC writes it. */
const NUMERIC_ID = /^[0-9A-Fa-f]+$/;

const HEX = { base: 16, digits: NUMERIC_ID } as const;
const DECIMAL = { base: 10, digits: /^\d+$/ } as const;
/** How each side writes a converting SMSC's ids (`receiptIdFormat` decimal or hex); keys are kept in submit_sm_resp's base. */
const CONVERTED = { decimal: { submitted: HEX, receipt: DECIMAL }, hex: { submitted: DECIMAL, receipt: HEX } } as const;

/**
 * The key an SMSC message id is stored and matched under, the same function at both ends: for the id
 * submit_sm_resp gave (`submitted`, and receipted_message_id, which is that id by definition) and for a
 * receipt's text `id:` (`receipt`). A number's key is its value, not its spelling: SMSCs pad receipt ids
 * to Appendix B's 10 digits (`0439041024` for `439041024`) and write hex ids in either case, so an id of
 * hex digits loses its leading zeros and is lower-cased (in whichever base both sides write it, this keeps
 * the value), or with a converting SMSC is read in the base its side writes and written in the key's.
 * Any other id (letters past F, dashes) is kept as written: no number, its case may matter. Undefined: a
 * receipt's id not in the base `receiptIdFormat` says the SMSC writes it.
 */
export function messageIdKey(id: string, side: 'submitted', format: ReceiptIdFormat): string;
export function messageIdKey(id: string, side: 'receipt', format: ReceiptIdFormat): string | undefined;
export function messageIdKey(id: string, side: 'submitted' | 'receipt', format: ReceiptIdFormat): string | undefined {
  if (format === 'as-submitted') return NUMERIC_ID.test(id) ? id.toLowerCase().replace(/^0+(?=.)/, '') : id;
  const written = CONVERTED[format][side];
  if (!written.digits.test(id)) return side === 'submitted' ? id : undefined;
  return BigInt(written.base === 16 ? `0x${id}` : id).toString(CONVERTED[format].submitted.base);
}

/** The Diagnostic-Code of a receipt with no error code: never `status 0`, which in SMPP is ESME_ROK. */
const NO_ERROR_CODE = 'no error code';

/** An `err:` as the SMSC wrote it (`0C8`, `001`, `1`), for codes from ERR_TEXT_CODES on; undefined for any other code. */
function errTextOf(code: number): string | undefined {
  if (code < ERR_TEXT_CODES || code >= NETWORK_ERROR_CODES) return undefined;
  const missing = Math.floor((code - ERR_TEXT_CODES) / ERR_WIDTH_STEP);
  const value = (code - ERR_TEXT_CODES) % ERR_WIDTH_STEP;
  return value
    .toString(16)
    .toUpperCase()
    .padStart(ERR_DIGITS - missing, '0');
}

/** A network_error_code's network type (by name where SMPP gives one) and error, for codes from NETWORK_ERROR_CODES on. */
function networkErrorOf(code: number): { readonly type: string; readonly error: number } | undefined {
  if (code < NETWORK_ERROR_CODES) return undefined;
  const type = Math.floor((code - NETWORK_ERROR_CODES) / NETWORK_TYPE_STEP);
  return { type: NETWORK_TYPES[type] ?? `type ${type}`, error: (code - NETWORK_ERROR_CODES) % NETWORK_TYPE_STEP };
}

/** Plain words for a receipt's code, for the sender's report mail. */
export function describeStatus(code: number): string {
  const network = networkErrorOf(code);
  if (network !== undefined) return `${network.type} network error ${network.error}`;
  if (code === 0) return 'no error reported by the SMSC';
  const err = errTextOf(code);
  const stateName = stateNameOf(code);
  if (stateName !== undefined) return `the SMSC reported it ${stateName.toLowerCase()}, with no error code`;
  // A code below MESSAGE_STATE_CODES is a receipt's error kept before codes were kept as written: its digits' value.
  return `SMSC delivery error ${err ?? code}`;
}

/**
 * The Diagnostic-Code's words, as the SMSC wrote them: a message_state by its name, an `err:` as written
 * (`err:001`), a network_error_code with its network type (`network_error_code GSM 34`), `no error code` for
 * code 0 (`err:000`, or none given); none for a code kept before codes were kept as written.
 */
export function statusCode(code: number): string | undefined {
  if (code === 0) return NO_ERROR_CODE;
  const network = networkErrorOf(code);
  if (network !== undefined) return `network_error_code ${network.type} ${network.error}`;
  const stateName = stateNameOf(code);
  if (stateName !== undefined) return `message_state ${stateName}`;
  const err = errTextOf(code);
  return err === undefined ? undefined : `err:${err}`;
}

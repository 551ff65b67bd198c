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
  /** `err:` (or network_error_code's error), else message_state past MESSAGE_STATE_CODES (no error code was given). */
  readonly code: number;
  /**
   * For the SMS's history: the message_state's name, when it stands for the missing error code, a hex `err:` as
   * written, or a `stat:` word the relay does not know (`unknown receipt state stat:BLOCKED`, the state then `sent`).
   */
  readonly said?: string;
  /** The `stat:` word, when the relay does not know it (said then tells it). */
  readonly unknownStat?: string;
}

/**
 * Codes from here are a message_state with no error code beside it: `err:` has at most 3 digits and
 * network_error_code's error 2 octets, so no error code reaches it, and a state is never shown as one.
 */
const MESSAGE_STATE_CODES = 0x10000;

/**
 * Codes from here are an `err:` written with hex letters (`0C8`, `1A3`): Appendix B leaves the code's form
 * to the SMSC, and several write it in hex. Its value is kept past this base, so the bounce and the history
 * show it as written (`SMSC delivery error 0C8`), never read as a decimal's digits up to the first letter.
 * Past MESSAGE_STATE_CODES and its 8 states, and 3 hex digits (0xFFF) stay below the next base.
 */
const HEX_ERROR_CODES = 0x20000;
/** `err:`'s width in Appendix B: a hex code is shown padded to it, as the SMSC writes it. */
const ERR_DIGITS = 3;

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
  if (state === undefined && stat === undefined) return 'a delivery receipt without a state';
  const spelled = tlvId || textId;
  const written = format === 'as-submitted' && spelled !== undefined && spelled !== messageId ? { written: spelled } : {};
  const err = TEXT_ERR.exec(text)?.[1];
  const coded = codeOf(sm, err, tlvState);
  // A state word the relay does not know says nothing final: the SMS awaits a final receipt, and its history keeps the words.
  if (state === undefined)
    return {
      messageId,
      state: 'sent',
      code: coded.code,
      said: `unknown receipt state stat:${stat}${err === undefined ? '' : ` err:${err}`}`,
      unknownStat: stat,
      ...written,
    };
  return { messageId, state, ...coded, ...written };
}

/** The receipt's error code (`err:`, else network_error_code's error), else its message_state standing for it; `said` as in Receipt. */
function codeOf(sm: ShortMessage, err: string | undefined, tlvState: number | undefined): { readonly code: number; readonly said?: string } {
  const network = sm.tlvs.get(TAG.network_error_code);
  if (err !== undefined && /^\d+$/.test(err)) return { code: Number(err) };
  if (err !== undefined) return { code: HEX_ERROR_CODES + Number.parseInt(err, 16), said: `err:${err.toUpperCase()}` };
  if (network?.length === 3) return { code: network.readUInt16BE(1) };
  const said = tlvState === undefined ? undefined : statusCode(MESSAGE_STATE_CODES + tlvState);
  if (tlvState === undefined || said === undefined) return { code: 0 };
  return { code: MESSAGE_STATE_CODES + tlvState, said };
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

/** A hex `err:` as the SMSC wrote it (`0C8`), for codes from HEX_ERROR_CODES on; undefined for any other code. */
function hexErrorOf(code: number): string | undefined {
  return code >= HEX_ERROR_CODES ? (code - HEX_ERROR_CODES).toString(16).toUpperCase().padStart(ERR_DIGITS, '0') : undefined;
}

/** Plain words for a receipt's code, for the sender's report mail. */
export function describeStatus(code: number): string {
  if (code === 0) return 'no error reported by the SMSC';
  const stateName = stateNameOf(code);
  if (stateName !== undefined) return `the SMSC reported it ${stateName.toLowerCase()}, with no error code`;
  return `SMSC delivery error ${hexErrorOf(code) ?? code}`;
}

/** The Diagnostic-Code's words: a message_state by its name, a hex `err:` as written; a decimal error code as `status N` (undefined). */
export function statusCode(code: number): string | undefined {
  const stateName = stateNameOf(code);
  if (stateName !== undefined) return `message_state ${stateName}`;
  const hex = hexErrorOf(code);
  return hex === undefined ? undefined : `err:${hex}`;
}

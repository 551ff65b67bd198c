/**
 * The SMPP 3.4 PDUs the relay speaks (SMPP v3.4 specification, issue 1.2, §3 and §4): a 16-octet
 * header (command_length, command_id, command_status, sequence_number, each a big-endian 32-bit
 * integer) and the body of bind_*, submit_sm, deliver_sm, data_sm and their responses, C-octet strings
 * NUL-terminated, optional parameters as TLVs (tag and length 16-bit big-endian).
 *
 * Written here from the specification's layouts rather than taken from the `smpp` package: that
 * package decodes `short_message` into text itself (guessing from data_coding, and reading a UDH only
 * for some codings), while the relay needs the raw octets to read UDHs and SAR parameters the same
 * way for every coding; and the simulated SMSC uses the package, so the two sides cannot share a
 * misreading (test/providers/smpp-golden.test.ts holds both to hand-built bytes).
 */

export const COMMAND = {
  generic_nack: 0x80000000,
  bind_receiver: 0x00000001,
  bind_receiver_resp: 0x80000001,
  bind_transmitter: 0x00000002,
  bind_transmitter_resp: 0x80000002,
  submit_sm: 0x00000004,
  submit_sm_resp: 0x80000004,
  deliver_sm: 0x00000005,
  deliver_sm_resp: 0x80000005,
  unbind: 0x00000006,
  unbind_resp: 0x80000006,
  bind_transceiver: 0x00000009,
  bind_transceiver_resp: 0x80000009,
  enquire_link: 0x00000015,
  enquire_link_resp: 0x80000015,
  // SMSC to ESME only, and without a response (§4.12).
  alert_notification: 0x00000102,
  data_sm: 0x00000103,
  data_sm_resp: 0x80000103,
} as const;

/** Bit set in every response's command_id. */
export const RESPONSE_BIT = 0x80000000;

/** command_status values (§5.1.3) the relay sends or tells apart. */
export const STATUS = {
  ESME_ROK: 0x00,
  ESME_RINVMSGLEN: 0x01,
  ESME_RINVCMDLEN: 0x02,
  ESME_RINVCMDID: 0x03,
  ESME_RINVBNDSTS: 0x04,
  ESME_RALYBND: 0x05,
  ESME_RSYSERR: 0x08,
  ESME_RINVSRCADR: 0x0a,
  ESME_RINVDSTADR: 0x0b,
  ESME_RBINDFAIL: 0x0d,
  ESME_RINVPASWD: 0x0e,
  ESME_RINVSYSID: 0x0f,
  ESME_RMSGQFUL: 0x14,
  ESME_RINVESMCLASS: 0x43,
  ESME_RSUBMITFAIL: 0x45,
  ESME_RINVSRCTON: 0x48,
  ESME_RINVSRCNPI: 0x49,
  ESME_RINVDSTTON: 0x50,
  ESME_RINVDSTNPI: 0x51,
  ESME_RTHROTTLED: 0x58,
  ESME_RX_T_APPN: 0x64,
  ESME_RX_P_APPN: 0x65,
  ESME_RX_R_APPN: 0x66,
  ESME_RINVOPTPARSTREAM: 0xc0,
  ESME_ROPTPARNOTALLWD: 0xc1,
  ESME_RINVPARLEN: 0xc2,
  ESME_RMISSINGOPTPARAM: 0xc3,
  ESME_RINVOPTPARAMVAL: 0xc4,
} as const;

/** Optional parameter tags (§5.3.2) the relay writes or reads. */
export const TAG = {
  receipted_message_id: 0x001e,
  sar_msg_ref_num: 0x020c,
  sar_total_segments: 0x020e,
  sar_segment_seqnum: 0x020f,
  network_error_code: 0x0423,
  message_payload: 0x0424,
  message_state: 0x0427,
} as const;

export const HEADER_OCTETS = 16;
/**
 * The largest PDU the relay reads. A submit_sm or deliver_sm with a 64 KiB message_payload is the
 * most a peer can mean; anything above is a broken stream, not a message.
 */
export const MAX_PDU_OCTETS = 70_000;
/** SMPP 3.4 as the interface_version of a bind. */
export const INTERFACE_VERSION = 0x34;

export interface Pdu {
  readonly commandId: number;
  readonly status: number;
  readonly sequence: number;
  readonly body: Buffer;
}

/** A PDU body that breaks its layout: answered with `status` (the right response, or generic_nack). */
export class PduError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PduError';
  }
}

export function encodePdu(commandId: number, status: number, sequence: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER_OCTETS);
  header.writeUInt32BE(HEADER_OCTETS + body.length, 0);
  header.writeUInt32BE(commandId >>> 0, 4);
  header.writeUInt32BE(status >>> 0, 8);
  header.writeUInt32BE(sequence >>> 0, 12);
  return Buffer.concat([header, body]);
}

/**
 * Cuts a TCP byte stream into PDUs. A command_length below the header or above MAX_PDU_OCTETS
 * cannot be framed: `push` then throws a PduError (ESME_RINVCMDLEN) and the stream must be dropped,
 * since where the next PDU starts is unknown.
 */
export class PduReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Pdu[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const pdus: Pdu[] = [];
    while (this.#pending.length >= 4) {
      const length = this.#pending.readUInt32BE(0);
      if (length < HEADER_OCTETS || length > MAX_PDU_OCTETS) throw new PduError(STATUS.ESME_RINVCMDLEN, `command_length ${length} cannot be a PDU`);
      if (this.#pending.length < length) break;
      const octets = this.#pending.subarray(0, length);
      this.#pending = this.#pending.subarray(length);
      pdus.push({
        commandId: octets.readUInt32BE(4),
        status: octets.readUInt32BE(8),
        sequence: octets.readUInt32BE(12),
        body: Buffer.from(octets.subarray(HEADER_OCTETS)),
      });
    }
    return pdus;
  }
}

/** Writes fields in order; C-octet strings get their NUL. */
class BodyWriter {
  readonly #chunks: Buffer[] = [];

  cstring(value: string, maxOctets: number, field: string): this {
    const octets = Buffer.from(value, 'latin1');
    if (octets.length >= maxOctets) throw new RangeError(`${field}: at most ${maxOctets - 1} characters`);
    this.#chunks.push(octets, Buffer.from([0]));
    return this;
  }

  int8(value: number): this {
    this.#chunks.push(Buffer.from([value & 0xff]));
    return this;
  }

  octets(value: Buffer): this {
    this.#chunks.push(value);
    return this;
  }

  tlv(tag: number, value: Buffer): this {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(tag, 0);
    head.writeUInt16BE(value.length, 2);
    this.#chunks.push(head, value);
    return this;
  }

  done(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/** Reads fields in order; running past the body or an unterminated string is a PduError. */
class BodyReader {
  #offset = 0;

  constructor(readonly body: Buffer) {}

  cstring(maxOctets: number, field: string): string {
    const end = this.body.indexOf(0, this.#offset);
    if (end < 0 || end - this.#offset >= maxOctets)
      throw new PduError(STATUS.ESME_RINVMSGLEN, `${field} is not a C-octet string of at most ${maxOctets} octets`);
    const value = this.body.toString('latin1', this.#offset, end);
    this.#offset = end + 1;
    return value;
  }

  int8(field: string): number {
    if (this.#offset >= this.body.length) throw new PduError(STATUS.ESME_RINVMSGLEN, `the body ends before ${field}`);
    return this.body[this.#offset++] as number;
  }

  octets(length: number, field: string): Buffer {
    if (this.#offset + length > this.body.length) throw new PduError(STATUS.ESME_RINVMSGLEN, `${field} runs past the end of the PDU`);
    const value = this.body.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return Buffer.from(value);
  }

  /** The optional parameters after the mandatory ones, by tag (the last of a repeated tag wins). */
  tlvs(): Map<number, Buffer> {
    const tlvs = new Map<number, Buffer>();
    while (this.#offset < this.body.length) {
      if (this.#offset + 4 > this.body.length) throw new PduError(STATUS.ESME_RINVOPTPARSTREAM, 'a TLV header runs past the end of the PDU');
      const tag = this.body.readUInt16BE(this.#offset);
      const length = this.body.readUInt16BE(this.#offset + 2);
      this.#offset += 4;
      if (this.#offset + length > this.body.length) throw new PduError(STATUS.ESME_RINVOPTPARSTREAM, `TLV 0x${tag.toString(16)} runs past the end of the PDU`);
      tlvs.set(tag, Buffer.from(this.body.subarray(this.#offset, this.#offset + length)));
      this.#offset += length;
    }
    return tlvs;
  }
}

export interface BindFields {
  readonly systemId: string;
  readonly password: string;
  readonly systemType: string;
}

/** bind_transmitter, bind_receiver and bind_transceiver share one body (§4.1.1). */
export function encodeBind({ systemId, password, systemType }: BindFields): Buffer {
  return new BodyWriter()
    .cstring(systemId, 16, 'system_id')
    .cstring(password, 9, 'password')
    .cstring(systemType, 13, 'system_type')
    .int8(INTERFACE_VERSION)
    .int8(0)
    .int8(0)
    .cstring('', 41, 'address_range')
    .done();
}

export function decodeBind(body: Buffer): BindFields {
  const reader = new BodyReader(body);
  const systemId = reader.cstring(16, 'system_id');
  const password = reader.cstring(9, 'password');
  const systemType = reader.cstring(13, 'system_type');
  return { systemId, password, systemType };
}

/** submit_sm and deliver_sm share one body (§4.4.1, §4.6.1). */
export interface ShortMessage {
  readonly serviceType: string;
  readonly sourceTon: number;
  readonly sourceNpi: number;
  readonly source: string;
  readonly destinationTon: number;
  readonly destinationNpi: number;
  readonly destination: string;
  readonly esmClass: number;
  readonly protocolId: number;
  readonly priority: number;
  readonly scheduleDeliveryTime: string;
  readonly validityPeriod: string;
  readonly registeredDelivery: number;
  readonly dataCoding: number;
  /** The octets of short_message, UDH included when esm_class has UDHI. */
  readonly shortMessage: Buffer;
  readonly tlvs: ReadonlyMap<number, Buffer>;
}

/** Type of number of an address (§5.2.5). */
export const TON = { UNKNOWN: 0, INTERNATIONAL: 1, NATIONAL: 2, NETWORK_SPECIFIC: 3, ALPHANUMERIC: 5 } as const;
/** Numbering plan of an address (§5.2.6). */
export const NPI = { UNKNOWN: 0, E164: 1 } as const;

/** esm_class bits (§5.2.12). */
export const ESM_CLASS = {
  /** A UDH opens short_message (or message_payload). */
  UDHI: 0x40,
  /** Message type bits 2–5. */
  TYPE_MASK: 0x3c,
  /** Message type: SMSC delivery receipt. */
  DELIVERY_RECEIPT: 0x04,
  /** Message type: intermediate delivery notification (not final: the SMS is on its way). */
  INTERMEDIATE_NOTIFICATION: 0x20,
} as const;

/** short_message holds at most 254 octets (sm_length is one octet; 255 is reserved). */
export const SHORT_MESSAGE_MAX_OCTETS = 254;

export function encodeShortMessage(sm: ShortMessage): Buffer {
  if (sm.shortMessage.length > SHORT_MESSAGE_MAX_OCTETS) throw new RangeError('short_message: at most 254 octets; use message_payload');
  const writer = new BodyWriter()
    .cstring(sm.serviceType, 6, 'service_type')
    .int8(sm.sourceTon)
    .int8(sm.sourceNpi)
    .cstring(sm.source, 21, 'source_addr')
    .int8(sm.destinationTon)
    .int8(sm.destinationNpi)
    .cstring(sm.destination, 21, 'destination_addr')
    .int8(sm.esmClass)
    .int8(sm.protocolId)
    .int8(sm.priority)
    .cstring(sm.scheduleDeliveryTime, 17, 'schedule_delivery_time')
    .cstring(sm.validityPeriod, 17, 'validity_period')
    .int8(sm.registeredDelivery)
    .int8(0)
    .int8(sm.dataCoding)
    .int8(0)
    .int8(sm.shortMessage.length)
    .octets(sm.shortMessage);
  for (const [tag, value] of sm.tlvs) writer.tlv(tag, value);
  return writer.done();
}

/**
 * The fields both a short message and a data_sm open with: the service type and the two addresses,
 * at most `addressOctets` each (21 in submit_sm and deliver_sm, 65 in data_sm).
 */
function readAddressing(reader: BodyReader, addressOctets: number) {
  return {
    serviceType: reader.cstring(6, 'service_type'),
    sourceTon: reader.int8('source_addr_ton'),
    sourceNpi: reader.int8('source_addr_npi'),
    source: reader.cstring(addressOctets, 'source_addr'),
    destinationTon: reader.int8('dest_addr_ton'),
    destinationNpi: reader.int8('dest_addr_npi'),
    destination: reader.cstring(addressOctets, 'destination_addr'),
  };
}

export function decodeShortMessage(body: Buffer): ShortMessage {
  const reader = new BodyReader(body);
  const addressing = readAddressing(reader, 21);
  const esmClass = reader.int8('esm_class');
  const protocolId = reader.int8('protocol_id');
  const priority = reader.int8('priority_flag');
  const scheduleDeliveryTime = reader.cstring(17, 'schedule_delivery_time');
  const validityPeriod = reader.cstring(17, 'validity_period');
  const registeredDelivery = reader.int8('registered_delivery');
  reader.int8('replace_if_present_flag');
  const dataCoding = reader.int8('data_coding');
  reader.int8('sm_default_msg_id');
  const length = reader.int8('sm_length');
  const shortMessage = reader.octets(length, 'short_message');
  const tlvs = reader.tlvs();
  return { ...addressing, esmClass, protocolId, priority, scheduleDeliveryTime, validityPeriod, registeredDelivery, dataCoding, shortMessage, tlvs };
}

/**
 * data_sm (§4.7.1): deliver_sm's addresses, esm_class, registered_delivery and data_coding, no
 * short_message (the text is in message_payload); read as a ShortMessage with its other fields empty,
 * so that receipts and SMS are taken the same way whichever of the two carried them.
 */
export function decodeDataSm(body: Buffer): ShortMessage {
  const reader = new BodyReader(body);
  const addressing = readAddressing(reader, 65);
  const esmClass = reader.int8('esm_class');
  const registeredDelivery = reader.int8('registered_delivery');
  const dataCoding = reader.int8('data_coding');
  const tlvs = reader.tlvs();
  return {
    ...addressing,
    esmClass,
    protocolId: 0,
    priority: 0,
    scheduleDeliveryTime: '',
    validityPeriod: '',
    registeredDelivery,
    dataCoding,
    shortMessage: Buffer.alloc(0),
    tlvs,
  };
}

/** submit_sm_resp's message_id (§4.4.2); absent from a response with an error status. */
export function decodeMessageId(body: Buffer): string {
  if (body.length === 0) return '';
  return new BodyReader(body).cstring(65, 'message_id');
}

/** A run of TLVs on its own (what follows a field read by hand); a PduError when it is none. */
export function decodeTlvs(bytes: Buffer): Map<number, Buffer> {
  return new BodyReader(bytes).tlvs();
}

export function encodeMessageId(messageId: string): Buffer {
  return new BodyWriter().cstring(messageId, 65, 'message_id').done();
}

/** A C-octet string TLV value without its NUL (receipted_message_id). */
export function tlvString(value: Buffer | undefined): string | undefined {
  if (value === undefined) return undefined;
  const end = value.indexOf(0);
  return value.toString('latin1', 0, end < 0 ? value.length : end);
}

export function commandName(commandId: number): string {
  const entry = Object.entries(COMMAND).find(([, id]) => id === commandId);
  return entry ? entry[0] : `0x${commandId.toString(16).padStart(8, '0')}`;
}

export function statusName(status: number): string {
  const entry = Object.entries(STATUS).find(([, value]) => value === status);
  return entry ? entry[0] : `0x${status.toString(16).padStart(8, '0')}`;
}

/**
 * Golden PDUs, built octet by octet from the SMPP 3.4 specification's layouts (§3.2 header, §4.4.1
 * submit_sm, §4.6.1 deliver_sm, §5.3.2 TLVs, Appendix B receipt text) and 3GPP TS 23.040's UDH
 * (§9.2.3.24.1). The relay's own codec (src/providers/smpp/pdu.ts) and the `smpp` package the
 * simulated SMSC uses must each write and read exactly these bytes, so that a misreading cannot
 * hide by being shared between the two sides.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import smpp from 'smpp';
import { COMMAND, decodeShortMessage, encodePdu, encodeShortMessage, ESM_CLASS, PduReader, TAG } from '../../src/providers/smpp/pdu.ts';
import { readReceipt } from '../../src/providers/smpp/receipts.ts';
import { concatenationUdh, encodeGsm7, readText } from '../../src/providers/smpp/text.ts';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const ascii = (text: string) => Buffer.from(text, 'latin1').toString('hex');

/** Part 1 of 2 of "Hello…", reference 0x2A, from the alphanumeric "Acme" to +447700900123, receipt requested. */
const SUBMIT_SM_WITH_UDH = hex(`
  0000003c 00000004 00000000 00000007
  00
  05 00 ${ascii('Acme')} 00
  01 01 ${ascii('447700900123')} 00
  40 00 00 00 00 01 00 00 00
  0b 050003 2a 02 01 ${ascii('Hello')}
`);

const RECEIPT_TEXT = 'id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 stat:DELIVRD err:000 text:Hello';
/** A receipt for message "0123456789", delivered: Appendix B's text and the receipted_message_id and message_state TLVs. */
const DELIVER_SM_RECEIPT = hex(`
  ${(16 + 1 + 2 + 13 + 3 + 9 + 1 + RECEIPT_TEXT.length + (4 + 11) + (4 + 1)).toString(16).padStart(8, '0')}
  00000005 00000000 00000009
  00
  01 01 ${ascii('447700900123')} 00
  00 00 00
  04 00 00 00 00 00 00 00 00
  ${RECEIPT_TEXT.length.toString(16).padStart(2, '0')} ${ascii(RECEIPT_TEXT)}
  001e 000b ${ascii('0123456789')} 00
  0427 0001 02
`);

describe('SMPP golden PDUs: submit_sm with a concatenation UDH', () => {
  test("the relay's codec writes exactly the specification's bytes", () => {
    const body = encodeShortMessage({
      serviceType: '',
      sourceTon: 5,
      sourceNpi: 0,
      source: 'Acme',
      destinationTon: 1,
      destinationNpi: 1,
      destination: '447700900123',
      esmClass: ESM_CLASS.UDHI,
      protocolId: 0,
      priority: 0,
      scheduleDeliveryTime: '',
      validityPeriod: '',
      registeredDelivery: 1,
      dataCoding: 0,
      shortMessage: Buffer.concat([concatenationUdh('udh8', 0x2a, 2, 1), encodeGsm7('Hello')]),
      tlvs: new Map(),
    });
    assert.equal(encodePdu(COMMAND.submit_sm, 0, 7, body).toString('hex'), SUBMIT_SM_WITH_UDH.toString('hex'));
  });

  test('a 16-bit reference is IEI 08 with four octets (TS 23.040 §9.2.3.24.8)', () => {
    assert.equal(concatenationUdh('udh16', 0x1234, 3, 2).toString('hex'), '0608041234' + '0302');
  });

  test('the smpp package (the simulated SMSC) reads the same fields, UDH and text from them', () => {
    const pdu = new smpp.PDU(Buffer.from(SUBMIT_SM_WITH_UDH));
    assert.equal(pdu.command, 'submit_sm');
    assert.equal(pdu.sequence_number, 7);
    assert.equal(pdu['source_addr'], 'Acme');
    assert.equal(pdu['source_addr_ton'], 5);
    assert.equal(pdu['destination_addr'], '447700900123');
    assert.equal(pdu['registered_delivery'], 1);
    const message = pdu['short_message'] as { udh: Buffer[]; message: string };
    assert.deepEqual(
      message.udh.map((element) => element.toString('hex')),
      ['00032a0201'],
    );
    assert.equal(message.message, 'Hello');
  });
});

describe('SMPP golden PDUs: a deliver_sm delivery receipt', () => {
  test("the relay's codec frames it and reads the receipt: message id, state and error from the TLVs and the text", () => {
    const [pdu] = new PduReader().push(DELIVER_SM_RECEIPT);
    assert.ok(pdu);
    assert.equal(pdu.commandId, COMMAND.deliver_sm);
    assert.equal(pdu.sequence, 9);
    const sm = decodeShortMessage(pdu.body);
    assert.equal(sm.esmClass & ESM_CLASS.TYPE_MASK, ESM_CLASS.DELIVERY_RECEIPT);
    assert.equal(sm.source, '447700900123');
    const { text } = readText(sm, [0]);
    assert.equal(text, RECEIPT_TEXT);
    // The id's value (leading zeros and case aside) finds the SMS; as written, it is the former id an SMS recorded before that was kept under.
    assert.deepEqual(readReceipt(sm, text, 'as-submitted'), {
      messageId: '123456789',
      written: '0123456789',
      state: 'delivered',
      code: 0,
      said: 'no error code',
    });
    const withoutTlvs = { ...sm, tlvs: new Map() };
    assert.deepEqual(
      readReceipt(withoutTlvs, text, 'as-submitted'),
      { messageId: '123456789', written: '0123456789', state: 'delivered', code: 0, said: 'no error code' },
      'the text alone',
    );
    assert.deepEqual(
      readReceipt(withoutTlvs, text, 'decimal'),
      { messageId: (123456789).toString(16), state: 'delivered', code: 0, said: 'no error code' },
      'a decimal id read back as hex',
    );
  });

  test('the smpp package (the simulated SMSC) writes exactly these bytes for the same fields', () => {
    const pdu = new smpp.PDU('deliver_sm', {
      sequence_number: 9,
      source_addr_ton: 1,
      source_addr_npi: 1,
      source_addr: '447700900123',
      destination_addr: '',
      esm_class: 0x04,
      data_coding: 0,
      short_message: RECEIPT_TEXT,
      receipted_message_id: '0123456789',
      message_state: 2,
    });
    assert.equal(pdu.toBuffer().toString('hex'), DELIVER_SM_RECEIPT.toString('hex'));
    assert.equal(TAG.receipted_message_id, 0x001e);
  });
});

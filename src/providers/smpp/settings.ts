/**
 * The SMPP account's own keys under `gateway:`. `username` and `password` are the bind's system_id
 * and password; `from` is the sender when a mail names none.
 */
import ms from 'ms';
import { z } from 'zod';
import { MAX_PORT } from '../../ports.ts';
import { SEGMENT_LIMITS, SEGMENT_LIMITS_16BIT_REFERENCE } from '../../sms/encoding.ts';
import type { ProviderSettings } from '../contract.ts';
import { wholeNumber } from '../settings-fields.ts';

/** A duration as the rest of the configuration writes it (`30s`, `5m`): a bare number is refused from the file as from a variable. */
const duration = (min: number, max: number) =>
  z.union([z.number(), z.string()]).transform((value, context) => {
    if (typeof value === 'number') {
      context.addIssue({ code: 'custom', message: `write a duration with its unit, such as 30s (a number needs its unit: ${value}s, ${value}ms…)` });
      return z.NEVER;
    }
    const parsed = /^\d+(?:ms|s|m|h)$/.test(value.trim()) ? ms(value.trim() as ms.StringValue) : Number.NaN;
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      context.addIssue({ code: 'custom', message: `expected a duration from ${ms(min)} to ${ms(max)}, such as 30s` });
      return z.NEVER;
    }
    return parsed;
  });
const whole = (min: number, max: number) =>
  wholeNumber(`write a whole number from ${min} to ${max}`).pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));
const flag = z.union([z.boolean(), z.stringbool()], { error: 'write true or false' });

/** SMSCs refuse a window above their own limit; 10 is a common default, 100 the most any documents. */
const MAX_WINDOW = 100;
/** Binds one relay opens; SMSCs count them per system_id (README: how they add up over relays). */
const MAX_BINDS = 10;

const schema = z.object({
  /** The SMSC's host name or address (required for a real account). */
  host: z.string().min(1).optional(),
  port: whole(1, MAX_PORT).default(2775),
  /** SMPP over TLS (the SMSC's TLS port, often 3550 or 8775). */
  tls: flag.default(false),
  /** The operator's word that the link to `host` is protected without TLS (a VPN, a private line): the password may go in clear. */
  protectedLink: flag.default(false),
  /** system_type of the bind: some SMSCs ask for one (e.g. "VMA"); empty by default. */
  systemType: z.string().max(12, 'expected at most 12 characters').default(''),
  /** One transceiver bind, or a transmitter and a receiver bind (for SMSCs without transceivers). */
  bindMode: z.enum(['transceiver', 'transmitter-receiver']).default('transceiver'),
  /** Binds (of each kind) this relay opens; sends are spread over them. */
  binds: whole(1, MAX_BINDS).default(1),
  /** submit_sm a bind has outstanding at most; more wait for an answer. */
  windowSize: whole(1, MAX_WINDOW).default(10),
  /** A submit_sm not answered within this is given up (the SMS may have gone: retried as possibly sent). */
  submitTimeout: duration(1_000, 300_000).default(30_000),
  /** enquire_link this often on an idle bind; unanswered within submitTimeout, the bind is dropped and made again. */
  enquireLinkInterval: duration(1_000, 600_000).default(30_000),
  /** data_coding for a GSM-7 text: 0 (the SMSC's default alphabet) or 1 (what some SMSCs ask GSM-7 to be called). */
  // Literals, not a coerced number: an empty variable would coerce to 0 and pass unnoticed.
  dataCoding: z.union([z.literal(0), z.literal(1), z.enum(['0', '1']).transform(Number)], { error: 'expected 0 or 1' }).default(0),
  /**
   * What data_coding 0 ("SMSC default alphabet", SMSC-specific per SMPP 3.4 §5.2.19) means in what the
   * SMSC delivers: GSM 03.38 septets, one per octet (what most SMSCs write), or Latin-1.
   */
  defaultAlphabet: z.enum(['gsm7', 'latin1']).default('gsm7'),
  /**
   * How receipts write the message id: in submit_sm_resp's base, or in decimal / hex when the SMSC converts it.
   * Padding and letter case never matter (receipts.ts, messageIdKey): no setting is needed for them.
   */
  receiptIdFormat: z.enum(['as-submitted', 'decimal', 'hex']).default('as-submitted'),
  /** How a long text goes: UDH with an 8-bit (153/67 per part) or 16-bit reference (152/66), or whole in message_payload. */
  longText: z.enum(['udh8', 'udh16', 'payload']).default('udh8'),
  /** The sender when a mail names none; unset = the SMSC's default for the account. */
  from: z
    .string()
    .regex(/^(?:\+?\d{3,15}|[A-Za-z0-9 ]{1,11})$/, 'expected a number in international digits, a short code or up to 11 letters and digits')
    .optional(),
});

export type SmppSettings = z.output<typeof schema>;

export const SMPP_SETTINGS: ProviderSettings<SmppSettings> = {
  schema,
  environment: {
    SMSRELAY_SMPP_HOST: 'host',
    SMSRELAY_SMPP_PORT: 'port',
    SMSRELAY_SMPP_TLS: 'tls',
    SMSRELAY_SMPP_PROTECTED_LINK: 'protectedLink',
    SMSRELAY_SMPP_SYSTEM_TYPE: 'systemType',
    SMSRELAY_SMPP_BIND_MODE: 'bindMode',
    SMSRELAY_SMPP_BINDS: 'binds',
    SMSRELAY_SMPP_WINDOW_SIZE: 'windowSize',
    SMSRELAY_SMPP_SUBMIT_TIMEOUT: 'submitTimeout',
    SMSRELAY_SMPP_ENQUIRE_LINK_INTERVAL: 'enquireLinkInterval',
    SMSRELAY_SMPP_DATA_CODING: 'dataCoding',
    SMSRELAY_SMPP_DEFAULT_ALPHABET: 'defaultAlphabet',
    SMSRELAY_SMPP_RECEIPT_ID_FORMAT: 'receiptIdFormat',
    SMSRELAY_SMPP_LONG_TEXT: 'longText',
    SMSRELAY_GATEWAY_FROM: 'from',
  },
  required: ['host'],
  link: { host: 'host', tls: 'tls', protectedLink: 'protectedLink' },
  // The bind's fields are C-octet strings of 16 and 9 octets, the closing NUL included (SMPP 3.4 §4.1.1).
  credentialLimits: { username: { octets: 15, name: 'an SMPP system_id' }, password: { octets: 8, name: 'an SMPP password' } },
  // An SMSC has no public host: `host` is required, and this only names the scheme.
  defaultUrls: { url: 'smpp://smsc.invalid:2775' },
  durations: ['submitTimeout', 'enquireLinkInterval'],
  account: (settings) => ({
    accountId: undefined,
    sessions: false,
    signature: undefined,
    // message_payload leaves the cutting to the SMSC, which (like most) uses 8-bit references.
    segmentLimits: settings.longText === 'udh16' ? SEGMENT_LIMITS_16BIT_REFERENCE : SEGMENT_LIMITS,
    defaultSenderId: settings.from,
  }),
};

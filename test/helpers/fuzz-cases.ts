/**
 * A seeded SMTP/MIME fuzzer for the relay's SMTP intake, shared by test/smtp/fuzz.test.ts (a couple of
 * thousand cases) and bench/fuzz.ts (as many as asked for).
 *
 * Case `index` of seed `seed` is generated from its own PRNG (mulberry32 of a hash of both), so any
 * case can be regenerated alone: `FUZZ_SEED=<seed> FUZZ_CASE=<index> node --import tsx bench/fuzz.ts`
 * prints its bytes and the relay's replies.
 *
 * Kinds of cases:
 * - mail: one transaction (RSET, MAIL, RCPT…, DATA, a generated message) on a connection reused by
 *   the next mail case, sometimes pipelined. The message is random and malformed MIME: broken and
 *   nested multiparts (up to depth 50), header lines up to and past the SMTP line limit, folding
 *   abuse, unknown and broken charsets, broken base64 and quoted-printable, NUL and 8-bit garbage,
 *   empty bodies, huge subjects, RFC 2047 garbage, missing headers, the relay's own parameters.
 * - smuggling: a mail whose body holds bare-LF/CR dot lines, sent unstuffed on the wire as an
 *   attacker would, often followed by the commands of a second, smuggled mail.
 * - commands: random command lines on a fresh connection (unknown verbs, MAIL/RCPT with odd
 *   addresses and ESMTP parameters, commands out of order, overlong lines, pipelined bursts).
 *
 * The driver checks what the relay promises whatever it is sent: every command is answered (within
 * `replyTimeoutMs`), every reply is a well-formed 2xx–5xx reply with text, every DATA ends in a
 * 2xx/4xx/5xx reply with text, and the connection is only closed after a 221 or 421.
 */
import { type Reply, SmtpDialog } from './smtp.ts';

/** The seed the test runs with; the test's name prints it. */
export const FUZZ_SEED = 0x5eedf022;

/** The relay configuration the fuzz runs against (with `gatewayYaml(url)` merged in). */
export function fuzzRelayYaml(gateway: object): object {
  return {
    ...gateway,
    smtp: { trustedNetworks: ['127.0.0.1/32'], maxMessageBytes: MAX_MESSAGE_BYTES, maxRecipients: 20, maxNumbersPerMail: 20 },
    sms: { domains: ['sms.localhost'], defaultRegion: 'GB' },
  };
}

export const MAX_MESSAGE_BYTES = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// PRNG

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; the same seed gives the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  /** [0, 1) */
  float(): number {
    return this.#next();
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.#next() * max);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.#next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(items.length)] as T;
  }

  /** One of `choices`, with probability proportional to its weight. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.float() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (choices[choices.length - 1] as readonly [number, T])[1];
  }

  /** `length` random bytes drawn from `alphabet` (all 256 values when omitted). */
  bytes(length: number, alphabet?: Uint8Array | readonly number[]): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = alphabet ? (alphabet[this.int(alphabet.length)] ?? 0x61) : this.int(256);
    return out;
  }

  hex(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += '0123456789abcdef'[this.int(16)];
    return out;
  }
}

/** The PRNG seed of one case: independent of every other case, so cases regenerate alone. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Cases

export type FuzzStep =
  /** One command line, terminator included: exactly one reply is due. */
  | { readonly kind: 'line'; readonly bytes: Buffer }
  /** Pipelined lines written at once; one reply each. DATA, if there, is last. */
  | { readonly kind: 'burst'; readonly lines: readonly Buffer[] };

export interface FuzzMessage {
  /** The message as the relay should receive it (what `onData` reads). */
  readonly body: Buffer;
  /**
   * `full`: every dot at a line start is doubled (RFC 5321 §4.5.2), as a real client does.
   * `minimal`: only the dots that would end DATA or be taken out are doubled, so `<LF>.<CR><LF>` and
   * friends go over the wire exactly as an attacker sends them. Both deliver `body` unchanged.
   */
  readonly stuffing: 'full' | 'minimal';
}

export interface FuzzCase {
  readonly seed: number;
  readonly index: number;
  readonly kind: 'mail' | 'smuggling' | 'commands';
  /** What the generator chose, for reports: `mail multipart(depth 12) cte=base64 pipelined`. */
  readonly label: string;
  /** Run on a new connection (closed afterwards) instead of the shared one. */
  readonly fresh: boolean;
  readonly steps: readonly FuzzStep[];
  /** Sent after the first 354; later 354s get a small plain message. */
  readonly message: FuzzMessage | undefined;
}

const FALLBACK_MESSAGE: FuzzMessage = {
  body: Buffer.from('From: fuzz@example.com\r\nSubject: fallback\r\n\r\nfallback message\r\n'),
  stuffing: 'full',
};

export interface GenerateOptions {
  /**
   * Let the text the relay turns into SMS grow past ~15,000 characters (huge subjects, long
   * quoted-printable lines, big text bodies). On by default: they once found the text analysis
   * quadratic in the text length (a 1 MB text blocked the relay for hours); `false` keeps cases small.
   */
  readonly longText?: boolean;
}

/** Generates case `index` of `seed`. */
export function fuzzCase(seed: number, index: number, options: GenerateOptions = {}): FuzzCase {
  const rng = new Rng(caseSeed(seed, index));
  const tags: string[] = [];
  const kind = rng.weighted<FuzzCase['kind']>([
    [60, 'mail'],
    [12, 'smuggling'],
    [28, 'commands'],
  ]);
  if (kind === 'commands') {
    const steps = commandSteps(rng, tags);
    const message = rng.chance(0.5) ? { body: generateMessage(rng, tags, options), stuffing: 'full' as const } : undefined;
    return { seed, index, kind, label: `commands ${tags.join(' ')}`, fresh: true, steps, message };
  }
  const body = kind === 'smuggling' ? smuggledMessage(rng, tags) : generateMessage(rng, tags, options);
  const steps = mailSteps(rng, tags);
  return {
    seed,
    index,
    kind,
    label: `${kind} ${tags.join(' ')}`,
    fresh: rng.chance(0.03),
    steps,
    message: { body, stuffing: kind === 'smuggling' ? 'minimal' : 'full' },
  };
}

// ---------------------------------------------------------------------------------------------
// SMTP commands

const CRLF = '\r\n';

function line(text: string | Buffer, terminator = CRLF): FuzzStep {
  return { kind: 'line', bytes: Buffer.concat([typeof text === 'string' ? Buffer.from(text, 'utf8') : text, Buffer.from(terminator)]) };
}

function number(rng: Rng): string {
  return `447700900${String(rng.int(1000)).padStart(3, '0')}`;
}

function goodRecipient(rng: Rng): string {
  return `${number(rng)}@sms.localhost`;
}

/** Addresses between the angle brackets (or in place of them) of MAIL FROM and RCPT TO. */
function oddAddress(rng: Rng, forRcpt: boolean): string {
  const n = number(rng);
  return rng.pick([
    () => `<${forRcpt ? `${n}@sms.localhost` : 'alice@example.com'}>`,
    () => '<>',
    () => `<${n}@SMS.LOCALHOST>`,
    () => `<+${n}@sms.localhost>`,
    () => `<00${n}@sms.localhost>`,
    () => `<07700900${String(rng.int(1000)).padStart(3, '0')}@sms.localhost>`,
    () => `<12@sms.localhost>`,
    () => `<hello@sms.localhost>`,
    () => `<sendsms@sms.localhost>`,
    () => `<${n}@example.com>`,
    () => `<${n}%example.com@sms.localhost>`,
    () => `<@relay.example.com,@other.example:${n}@sms.localhost>`,
    () => `<"${n}"@sms.localhost>`,
    () => `<"quoted \\" local"@sms.localhost>`,
    () => `<${n}@[127.0.0.1]>`,
    () => `<${n}@[IPv6:::1]>`,
    () => `<${n}@sms.localhost`,
    () => `${n}@sms.localhost`,
    () => `<${n}@sms.localhost>>`,
    () => `<<${n}@sms.localhost>>`,
    () => `< ${n}@sms.localhost >`,
    () => ` <${n}@sms.localhost>`,
    () => `<a@b@c>`,
    () => `<${'x'.repeat(rng.range(64, 900))}@sms.localhost>`,
    () => `<${n}@${'a'.repeat(rng.range(60, 300))}.com>`,
    () => `<ü${n}@sms.localhost>`,
    () => `<${n}@smß.localhost>`,
    () => `<${n}\u0000@sms.localhost>`,
    () => `<${n}\r@sms.localhost>`,
    () => `<${n}@sms.localhost\t>`,
    () => `<%>`,
    () => `<@>`,
    () => `<:>`,
    () => `<postmaster>`,
    () => `<${n}@sms.localhost.>`,
    () => `<${n}@.sms.localhost>`,
    () => `<${n}@sms..localhost>`,
    () => `<${n}@sms.localhost> <${n}@sms.localhost>`,
    () => '',
    () => `<${rng.bytes(rng.range(1, 30), HIGH).toString('latin1')}@sms.localhost>`,
  ])();
}

function esmtpParams(rng: Rng, forRcpt: boolean): string {
  if (rng.chance(0.6)) return '';
  const pool = forRcpt
    ? [
        'NOTIFY=NEVER',
        'NOTIFY=SUCCESS,FAILURE,DELAY',
        'NOTIFY=NEVER,SUCCESS',
        'NOTIFY=garbage',
        'NOTIFY=',
        'NOTIFY',
        'ORCPT=rfc822;bob@example.com',
        'ORCPT=rfc822;bob+2Bx+0D+0A@example.com',
        'ORCPT=x',
        'ORCPT=utf-8;b\u00f6b@example.com',
        'NOTIFY=NEVER NOTIFY=NEVER',
        'XYZ=1',
        '=',
        '==',
        'SIZE=10',
      ]
    : [
        'SIZE=100',
        'SIZE=0',
        'SIZE=-1',
        'SIZE=abc',
        'SIZE=99999999999999999999999',
        `SIZE=${MAX_MESSAGE_BYTES + 1}`,
        'BODY=8BITMIME',
        'BODY=7BIT',
        'BODY=BINARYMIME',
        'BODY=garbage',
        'SMTPUTF8',
        'SMTPUTF8=yes',
        'RET=FULL',
        'RET=HDRS',
        'RET=xx',
        'ENVID=abc123',
        'ENVID=ab+0D+0Acd',
        'ENVID=',
        `ENVID=${'e'.repeat(rng.range(100, 600))}`,
        'AUTH=<>',
        'AUTH=alice@example.com',
        'SIZE=1 SIZE=2',
        'XYZ=1',
        'NOTIFY=NEVER',
        '=',
        'size=100 body=8bitmime',
      ];
  return Array.from({ length: rng.range(1, 4) }, () => rng.pick(pool)).join(' ');
}

/** Parameters a well-behaved client sends (sometimes). */
function validParams(rng: Rng, forRcpt: boolean): string {
  if (rng.chance(0.85)) return '';
  return rng.pick(
    forRcpt
      ? ['NOTIFY=NEVER', 'NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;bob@example.com']
      : ['SIZE=2000', 'BODY=8BITMIME', 'RET=HDRS', 'ENVID=abc123', 'SMTPUTF8', 'BODY=8BITMIME SIZE=100 RET=FULL'],
  );
}

function mailFrom(rng: Rng, odd: boolean): string {
  const address = odd ? oddAddress(rng, false) : rng.pick(['<alice@example.com>', '<monitor@ops.example.com>', '<erp@example.org>']);
  const params = odd ? esmtpParams(rng, false) : validParams(rng, false);
  return `${rng.chance(0.03) ? 'mail from: ' : 'MAIL FROM:'}${address}${params ? ` ${params}` : ''}`;
}

function rcptTo(rng: Rng, odd: boolean): string {
  const address = odd ? oddAddress(rng, true) : `<${goodRecipient(rng)}>`;
  const params = odd ? esmtpParams(rng, true) : validParams(rng, true);
  return `${rng.chance(0.03) ? 'rcpt to: ' : 'RCPT TO:'}${address}${params ? ` ${params}` : ''}`;
}

function mailSteps(rng: Rng, tags: string[]): FuzzStep[] {
  const steps: FuzzStep[] = [line('RSET')];
  if (rng.chance(0.1)) steps.push(line(rng.pick(['EHLO client.example.com', 'HELO client.example.com', 'EHLO [127.0.0.1]', 'EHLO'])));
  const odd = rng.chance(0.2);
  if (odd) tags.push('odd-envelope');
  const commands = [mailFrom(rng, odd && rng.chance(0.5))];
  const rcpts = rng.weighted([
    [70, 1],
    [20, 2],
    [8, 3],
    [2, 25],
  ]);
  for (let i = 0; i < rcpts; i++) commands.push(rcptTo(rng, odd && rng.chance(0.5)));
  commands.push('DATA');
  if (rng.chance(0.25)) {
    tags.push('pipelined');
    steps.push({ kind: 'burst', lines: commands.map((command) => Buffer.from(`${command}${CRLF}`, 'utf8')) });
  } else {
    steps.push(...commands.map((command) => line(command)));
  }
  return steps;
}

const VERBS = [
  'HELO',
  'EHLO',
  'LHLO',
  'MAIL',
  'RCPT',
  'DATA',
  'RSET',
  'NOOP',
  'QUIT',
  'VRFY',
  'EXPN',
  'HELP',
  'TURN',
  'ETRN',
  'BDAT',
  'AUTH',
  'STARTTLS',
  'XCLIENT',
  'XFORWARD',
  'WIZ',
  'SHELL',
  'KILL',
  'SEND',
  'SOML',
  'SAML',
  'ATRN',
  'CHUNKING',
  '__PROTO__',
  'CONSTRUCTOR',
  'TOSTRING',
  'HASOWNPROPERTY',
  'VALUEOF',
];

/** One random command line (without terminator). DATA only when `allowData`. */
function randomCommand(rng: Rng, allowData: boolean, tags: string[]): string | Buffer {
  const choice = rng.weighted<string>([
    [14, 'mail'],
    [16, 'rcpt'],
    [allowData ? 8 : 0, 'data'],
    [8, 'helo'],
    [6, 'rset'],
    [6, 'noop'],
    [8, 'verb'],
    [6, 'unknown'],
    [2, 'empty'],
    [2, 'quit'],
    [3, 'long'],
    [2, 'http'],
    [4, 'garbage'],
    [3, 'case'],
  ]);
  switch (choice) {
    case 'mail':
      return mailFrom(rng, rng.chance(0.6));
    case 'rcpt':
      return rcptTo(rng, rng.chance(0.5));
    case 'data':
      return rng.pick(['DATA', 'DATA', 'DATA', 'data', 'DATA extra', 'DATA ']);
    case 'helo':
      return `${rng.pick(['HELO', 'EHLO', 'LHLO', 'helo', 'ehlo'])}${rng.pick([
        ' client.example.com',
        '',
        ' ',
        ' [127.0.0.1]',
        ' [IPv6:::1]',
        ' [999.1.1.1]',
        ` ${'h'.repeat(rng.range(200, 3000))}`,
        ' two words',
        ' ünïcödé.example',
        ' with\u0000nul',
        ' tab\there',
        ' <>',
      ])}`;
    case 'rset':
      return rng.pick(['RSET', 'RSET now', 'rset']);
    case 'noop':
      return rng.pick(['NOOP', `NOOP ${'n'.repeat(rng.range(1, 500))}`, 'noop']);
    case 'verb':
      return `${rng.pick(VERBS)}${rng.pick(['', ' ', ' x', ' alice@example.com', ' PLAIN AGxpY2UAc2VjcmV0', ' 10 LAST', ' <a@b>', ' =', ` ${'v'.repeat(rng.range(1, 200))}`])}`;
    case 'unknown':
      tags.push('unknown-verb');
      return `${rng.bytes(rng.range(1, 12), UPPER).toString('latin1')}${rng.chance(0.5) ? ` ${rng.bytes(rng.range(1, 40), PRINTABLE).toString('latin1')}` : ''}`;
    case 'empty':
      return rng.pick(['', ' ', '\t', '   ']);
    case 'quit':
      return rng.pick(['QUIT', 'quit', 'QUIT now']);
    case 'long':
      tags.push('long-line');
      // around the 4096-byte command line limit: under it answered, over it a 421 and the connection closes
      return `${rng.pick(['NOOP ', 'MAIL FROM:<', 'RCPT TO:<', 'HELO '])}${'L'.repeat(rng.pick([500, 997, 1000, 4000, 4089, 4090, 4095, 4096, 4097, 5000, 20000]))}`;
    case 'http':
      return rng.pick(['GET / HTTP/1.1', 'POST /api HTTP/1.0', 'CONNECT example.com:443 HTTP/1.1', 'GET /']);
    case 'garbage':
      tags.push('garbage-line');
      // No LF inside (that would be two commands); CR, NUL and 8-bit bytes are fine. Never a lone
      // dot: pipelined after a DATA that line would end the message.
      return Buffer.concat([rng.bytes(rng.range(1, 300), NO_LF), Buffer.from('x')]);
    default:
      return `${rng.chance(0.5) ? ' ' : ''}${rng.pick(['Mail From:<alice@example.com>', 'rCpT tO:<447700900123@sms.localhost>', 'MAIL  FROM:<alice@example.com>', 'RCPT TO :<447700900123@sms.localhost>', 'MAIL FROM <alice@example.com>', 'MAILFROM:<alice@example.com>'])}`;
  }
}

function commandSteps(rng: Rng, tags: string[]): FuzzStep[] {
  const steps: FuzzStep[] = [];
  if (rng.chance(0.7)) steps.push(line(rng.pick(['EHLO fuzz.example.com', 'HELO fuzz.example.com', 'EHLO [127.0.0.1]'])));
  const count = rng.range(1, 14);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.2)) {
      tags.push('burst');
      const size = rng.range(2, 30);
      const lines = Array.from({ length: size }, (_, k) => {
        const command = randomCommand(rng, k === size - 1, tags);
        return Buffer.concat([typeof command === 'string' ? Buffer.from(command, 'utf8') : command, Buffer.from(rng.chance(0.9) ? CRLF : '\n')]);
      });
      steps.push({ kind: 'burst', lines });
    } else {
      const command = randomCommand(rng, true, tags);
      steps.push(line(command, rng.chance(0.93) ? CRLF : '\n'));
    }
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// MIME

const UPPER = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ');
const PRINTABLE = Buffer.from(Array.from({ length: 95 }, (_, i) => 0x20 + i));
const HIGH = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));
const CONTROL = Buffer.from(Array.from({ length: 32 }, (_, i) => i).filter((byte) => byte !== 0x0a && byte !== 0x0d));
const NO_LF = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((byte) => byte !== 0x0a));
const BASE64_ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=');

const WORDS = [
  'disk',
  'full',
  'on',
  'db1',
  'alert',
  'CPU',
  '95%',
  'server',
  'down',
  'restart',
  'ok',
  'backup',
  'failed',
  'Grüße',
  'naïve',
  'café',
  '€',
  '£',
  'ß',
  'ÆØÅ',
  '日本語',
  '中文',
  'русский',
  'العربية',
  'עברית',
  '😀',
  '👨‍👩‍👧',
  'e\u0301',
  '\u200b',
  '\u202e',
  '\ufeff',
  '{',
  '}',
  '[',
  ']',
  '~',
  '^',
  '|',
  '\\',
  'UserContext:',
  '[UserContext: abc12345]',
  '[UserContext: ]',
  'MaxParts:3',
  'From:ACME',
  'To:447700900123',
  '--',
  '-- ',
  '> quoted',
  'On Mon, Alice wrote:',
  'Sent from my iPhone',
  '=',
  '=?',
  '?=',
  '&amp;',
  '<b>',
  '%s',
  '$(id)',
  '@',
  '.',
  '..',
  'CONFIDENTIALITY NOTICE:',
  '\t',
  '\u00a0',
  '\ud83d',
  'null',
  'undefined',
  '__proto__',
];

const CHARSETS = [
  'utf-8',
  'UTF-8',
  'us-ascii',
  'iso-8859-1',
  'windows-1252',
  'iso-8859-15',
  'koi8-r',
  'utf-16',
  'utf-16le',
  'utf-32',
  'utf-7',
  'iso-2022-jp',
  'shift_jis',
  'gb2312',
  'gb18030',
  'big5',
  'euc-kr',
  'x-unknown',
  '',
  '"',
  '"utf-8',
  'utf-8"',
  'utf8',
  'unicode-1-1-utf-7',
  'binary',
  'ANSI_X3.4-1968',
  'ÿ',
  'cp65001',
  'x-mac-roman',
  '*',
  'utf-8; charset=koi8-r',
];

const ENCODINGS = [
  '7bit',
  '8bit',
  'base64',
  'quoted-printable',
  'binary',
  'x-uuencode',
  '',
  'BASE64',
  'Quoted-Printable',
  'base64 quoted-printable',
  '7bit; x=y',
];

/** How a message ends its lines: almost always CRLF, sometimes bare LF, rarely a mix. */
type EolStyle = 'crlf' | 'lf' | 'mixed';

class Writer {
  readonly chunks: Buffer[] = [];
  size = 0;

  constructor(
    readonly rng: Rng,
    readonly eolStyle: EolStyle,
    /** See GenerateOptions.longText. */
    readonly longText: boolean,
  ) {}

  get eol(): string {
    if (this.eolStyle === 'crlf') return CRLF;
    if (this.eolStyle === 'lf') return '\n';
    return this.rng.pick([CRLF, CRLF, '\n', '\r']);
  }

  text(text: string): this {
    return this.raw(Buffer.from(text, 'utf8'));
  }

  raw(bytes: Buffer): this {
    this.chunks.push(bytes);
    this.size += bytes.length;
    return this;
  }

  line(text: string | Buffer = ''): this {
    if (typeof text === 'string') this.text(text);
    else this.raw(text);
    return this.text(this.eol);
  }

  buffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function words(rng: Rng, count: number): string {
  return Array.from({ length: count }, () => rng.pick(WORDS)).join(rng.chance(0.9) ? ' ' : '');
}

/** Text with the odd control byte, NUL and 8-bit garbage thrown in. */
function dirtyText(rng: Rng, count: number, tags: string[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const roll = rng.float();
    if (roll < 0.04) {
      parts.push(Buffer.from([0]));
      if (!tags.includes('nul')) tags.push('nul');
    } else if (roll < 0.08) {
      parts.push(rng.bytes(rng.range(1, 20), HIGH));
      if (!tags.includes('8bit')) tags.push('8bit');
    } else if (roll < 0.1) {
      parts.push(rng.bytes(rng.range(1, 5), CONTROL));
    } else {
      parts.push(Buffer.from(`${rng.pick(WORDS)}${rng.chance(0.1) ? '\r\n' : ' '}`, 'utf8'));
    }
  }
  return Buffer.concat(parts);
}

function encodedWord(rng: Rng): string {
  const charset = rng.pick(['utf-8', 'UTF-8', 'iso-8859-1', 'x-garbage', '', 'utf-7', 'utf-16', 'koi8-r', 'utf-8*en', 'us-ascii']);
  const encoding = rng.pick(['B', 'Q', 'b', 'q', 'X', '']);
  const payload = rng.pick([
    () => Buffer.from(words(rng, rng.range(1, 6))).toString('base64'),
    () =>
      Buffer.from(words(rng, rng.range(1, 6)))
        .toString('base64')
        .slice(0, -2),
    () => '!!!not base64***',
    () => '=ZZ=E2=82=AC_hello_=',
    () => '=E2=82',
    () => '',
    () => 'A'.repeat(rng.range(100, 20000)),
    () => Buffer.from('=?utf-8?B?PT91dGYtOD9CP3g=?=').toString('base64'),
    () => '?',
    () => rng.bytes(rng.range(1, 40), HIGH).toString('latin1'),
  ])();
  const word = `=?${charset}?${encoding}?${payload}?=`;
  return rng.pick([word, word, `${word}${word}`, `${word} ${word}`, word.slice(0, -2), `=?${charset}?${encoding}?${payload}`, `prefix${word}suffix`]);
}

function subject(rng: Rng, tags: string[], longText: boolean): string | Buffer {
  const kind = rng.weighted<string>([
    [40, 'plain'],
    [6, 'empty'],
    [8, 'long'],
    [12, 'rfc2047'],
    [6, 'tokens'],
    [5, '8bit'],
    [3, 'huge'],
  ]);
  if (kind !== 'plain') tags.push(`subject=${kind}`);
  switch (kind) {
    case 'plain':
      return words(rng, rng.range(1, 8));
    case 'empty':
      return rng.pick(['', ' ', '\t']);
    case 'long':
      return words(rng, rng.range(200, 2000));
    case 'huge':
      return 'S'.repeat(longText ? rng.range(20_000, 120_000) : rng.range(5_000, 15_000));
    case 'rfc2047':
      return Array.from({ length: rng.range(1, 5) }, () => encodedWord(rng)).join(rng.pick([' ', '', '\r\n ']));
    case 'tokens':
      return rng.pick([
        'MaxParts:abc alert',
        'MaxParts:999 alert',
        'From:!!!!!!!!!!!!!!!!!!!! alert',
        'From:ACME UserContext:x alert',
        'To:447700900123 From:ACME',
        'To:abc To:447700900124 Username:x Password:y',
        `UserContext:${'u'.repeat(300)}`,
        '[UserContext: \u0000]',
        'Unknown:token To:',
      ]);
    default:
      return Buffer.concat([Buffer.from('alert '), rng.bytes(rng.range(1, 200), HIGH)]);
  }
}

/** A header value folded abusively: many continuation lines, whitespace-only lines, odd indents. */
function folded(w: Writer, name: string, value: string): void {
  const rng = w.rng;
  const pieces = value.split(' ');
  w.text(`${name}:`);
  for (const piece of pieces) {
    w.text(rng.pick([' ', `${w.eol} `, `${w.eol}\t`, `${w.eol}    `, `${w.eol} ${w.eol} `, ' ']));
    w.text(piece);
  }
  if (rng.chance(0.3)) for (let i = rng.range(1, 500); i > 0; i--) w.text(`${w.eol} `);
  w.line();
}

function header(w: Writer, name: string, value: string | Buffer): void {
  if (w.rng.chance(0.04) && typeof value === 'string') {
    folded(w, name, value);
    return;
  }
  w.text(`${name}:${w.rng.chance(0.97) ? ' ' : ''}`);
  w.line(value);
}

function address(rng: Rng): string {
  return rng.pick([
    'alice@example.com',
    'Alice <alice@example.com>',
    '"Alice, Ops" <alice@example.com>',
    '=?utf-8?B?QWxpY2U=?= <alice@example.com>',
    `${encodedWord(rng)} <alice@example.com>`,
    '<>',
    'garbage',
    '@@@',
    `${'a'.repeat(rng.range(100, 3000))}@example.com`,
    '"unterminated <a@b>',
    'a@b, c@d, , ,',
    'undisclosed-recipients:;',
    'Group: a@b, c@d;',
    '(comment) alice@example.com (more (nested) comment)',
    'alice@[127.0.0.1]',
    'ünïcode@exämple.com',
  ]);
}

/** Top-level headers (the entity's own Content-* headers are added by the caller). */
function messageHeaders(w: Writer, tags: string[]): void {
  const rng = w.rng;
  const missing = rng.chance(0.1);
  if (missing) tags.push('missing-headers');
  const keep = (probability: number) => !missing || rng.chance(probability);
  if (rng.chance(0.02)) w.line(' continuation before any header');
  if (keep(0.3)) header(w, rng.pick(['From', 'FROM', 'from']), address(rng));
  if (keep(0.3)) header(w, 'To', rng.chance(0.8) ? `${number(rng)}@sms.localhost` : address(rng));
  if (keep(0.3)) {
    const value = subject(rng, tags, w.longText);
    header(w, 'Subject', value);
  }
  if (keep(0.3))
    header(
      w,
      'Message-ID',
      rng.pick([
        `<${rng.hex(16)}@example.com>`,
        `<${rng.hex(16)}@example.com>`,
        '',
        '<>',
        'no-brackets',
        `<${'m'.repeat(rng.range(500, 5000))}@x>`,
        '<a@b> <c@d>',
      ]),
    );
  if (keep(0.3))
    header(w, 'Date', rng.pick(['Tue, 24 Nov 2026 08:00:00 +0100', 'yesterday', '', 'Thu, 01 Jan 1970 00:00:00 +0000', 'Fri, 31 Dec 9999 23:59:60 -9999']));
  if (rng.chance(0.7)) header(w, 'MIME-Version', rng.pick(['1.0', '1.0', '2.0', '', '1.0 (produced by fuzz)']));
  if (rng.chance(0.15)) {
    tags.push('relay-headers');
    const relayHeaders: ReadonlyArray<readonly [string, () => string]> = [
      ['X-SMS-From', () => rng.pick(['ACME', '', '!!!!', 'A'.repeat(40), '447700900123', 'ÄCME'])],
      ['X-SMS-Max-Parts', () => rng.pick(['1', '0', '-1', '3', '255', '256', 'abc', '1e3', ''])],
      [
        'X-SMS-Send-At',
        () => rng.pick(['2026-11-24T08:00:00+01:00', 'tomorrow', '', '2099-01-01T00:00:00Z', '1970-01-01T00:00:00Z', 'Tue, 24 Nov 2026 08:00:00']),
      ],
      ['UserContext', () => rng.pick(['abc12345', '', ' ', 'x'.repeat(200), 'a b', '\u00ff'])],
      ['X-UserContext', () => rng.pick(['abc12345', ''])],
      ['X-SMS-Delivery-Report', () => rng.pick(['all', 'ALL', 'none', ''])],
      ['Auto-Submitted', () => rng.pick(['auto-generated', 'auto-replied', 'no', ''])],
      ['X-SMSRelay-Loop', () => rng.pick(['yes', ''])],
      ['In-Reply-To', () => rng.pick([`<${rng.hex(8)}@example.com>`, 'garbage', '<>'])],
      ['References', () => Array.from({ length: rng.range(1, 300) }, () => `<${rng.hex(6)}@x>`).join(' ')],
      ['Reply-To', () => address(rng)],
      ['Precedence', () => rng.pick(['bulk', 'junk', 'list'])],
    ];
    for (let i = rng.range(1, 4); i > 0; i--) {
      const [name, value] = rng.pick(relayHeaders);
      header(w, name, value());
    }
  }
  if (rng.chance(0.08)) {
    tags.push('long-header');
    // around the 998-octet line limit of RFC 5322 and the 4096-byte command limit, and far past both
    const length = rng.pick([980, 990, 997, 998, 999, 1000, 1001, 4090, 4096, 4097, 20_000, 200_000]);
    const name = rng.pick(['X-Long', 'Subject', 'Comments', 'Content-Type']);
    const fill = Math.max(0, (name === 'Subject' && !w.longText ? Math.min(length, 15_000) : length) - 9);
    // A Content-Type may also be a charset written with blanks for its "=": a run of blanks the
    // miswritten-charset reading once split every way (seconds on one header).
    header(w, name, name === 'Content-Type' && rng.chance(0.5) ? `text/plain; charset${' '.repeat(fill)}koi8-r` : 'h'.repeat(fill));
  }
  if (rng.chance(0.05)) {
    tags.push('many-headers');
    for (let i = rng.range(100, 3000); i > 0; i--) w.line(`X-H${i}: ${i}`);
  }
  if (rng.chance(0.05)) {
    tags.push('broken-header-lines');
    for (let i = rng.range(1, 5); i > 0; i--) {
      w.line(
        rng.pick([
          'no colon at all',
          ': empty name',
          'Bad Name: space in name',
          'X-8bit: \u00ff\u00fe',
          '\tstray continuation',
          'X-Nul: a\u0000b',
          `X-${'N'.repeat(rng.range(100, 2000))}: long name`,
          'Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: base64',
          'Subject: second subject',
          'From:',
          'To: <<<>>>',
        ]),
      );
    }
  }
}

function contentType(rng: Rng, type: string, parameters: string): string {
  return rng.chance(0.95)
    ? `${type}${parameters}`
    : rng.pick([`${type}`, `${type};;;==`, `${type}; ${parameters}; ${parameters}`, 'text', '/', ';', `${type.toUpperCase()}${parameters}`]);
}

function charsetParameter(rng: Rng, tags: string[]): string {
  if (rng.chance(0.15)) return '';
  const charset = rng.chance(0.7) ? rng.pick(['utf-8', 'us-ascii', 'iso-8859-1']) : rng.pick(CHARSETS);
  if (!['utf-8', 'us-ascii', 'iso-8859-1'].includes(charset)) tags.push(`charset=${JSON.stringify(charset)}`);
  return `; charset=${rng.chance(0.5) ? `"${charset}"` : charset}`;
}

function base64Body(rng: Rng, content: Buffer, tags: string[]): Buffer {
  const valid = content.toString('base64');
  const wrapped = (text: string, width: number) => text.replace(new RegExp(`.{1,${width}}`, 'g'), (chunk) => `${chunk}\r\n`);
  const kind = rng.weighted<string>([
    [50, 'valid'],
    [10, 'unwrapped'],
    [10, 'truncated'],
    [8, 'garbage'],
    [8, 'padding'],
    [7, 'spaces'],
    [7, 'nul'],
  ]);
  if (kind !== 'valid') tags.push(`base64=${kind}`);
  switch (kind) {
    case 'valid':
      return Buffer.from(wrapped(valid, 76));
    case 'unwrapped':
      return Buffer.from(`${valid}\r\n`);
    case 'truncated':
      return Buffer.from(wrapped(valid.slice(0, Math.max(1, valid.length - rng.range(1, 3))), 76));
    case 'garbage':
      return Buffer.concat([rng.bytes(rng.range(1, 400), rng.chance(0.5) ? PRINTABLE : BASE64_ALPHABET), Buffer.from('\r\n')]);
    case 'padding':
      return Buffer.from(wrapped(`${valid}====${valid}=`, 76));
    case 'spaces':
      return Buffer.from(valid.replace(/(.{3})/g, '$1 \t'));
    default:
      return Buffer.from(valid.replace(/(.{10})/g, '$1\u0000'), 'latin1');
  }
}

/**
 * What a long line repeats: plain letters, and what once made a text rule's regular expression
 * quadratic on one line (a run of Outlook's `[cid:` or Gmail's `[image: ` with no `]`, a line of dashes
 * read from each dash as a marker's start).
 */
const LONG_LINE_FILLERS = ['q', 'q', '[cid:', '[image: ', '-'];

function quotedPrintableBody(rng: Rng, content: Buffer, tags: string[], longText: boolean): Buffer {
  let out = '';
  let column = 0;
  for (const byte of content) {
    const plain = byte >= 0x21 && byte <= 0x7e && byte !== 0x3d;
    const piece = plain ? String.fromCharCode(byte) : byte === 0x20 ? ' ' : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (column + piece.length > 75) {
      out += '=\r\n';
      column = 0;
    }
    out += piece;
    column += piece.length;
  }
  const kind = rng.weighted<string>([
    [60, 'valid'],
    [10, 'bad-escape'],
    [10, 'dangling'],
    [10, 'lowercase'],
    [10, 'long-line'],
  ]);
  if (kind !== 'valid') tags.push(`qp=${kind}`);
  switch (kind) {
    case 'bad-escape':
      out = `${out.replace(/=[0-9A-F]{2}/, '=ZZ')}=G1=\u0000=`;
      break;
    case 'dangling':
      out += '=';
      break;
    case 'lowercase':
      out = out.toLowerCase();
      break;
    case 'long-line':
      out = out.replaceAll('=\r\n', '') + rng.pick(LONG_LINE_FILLERS).repeat(rng.range(1000, longText ? 50_000 : 10_000));
      break;
  }
  return Buffer.from(`${out}\r\n`, 'latin1');
}

/** A leaf body in the chosen transfer encoding. */
function encodedBody(w: Writer, content: Buffer, tags: string[]): void {
  const rng = w.rng;
  const encoding = rng.chance(0.6) ? rng.pick(['7bit', '8bit', 'base64', 'quoted-printable']) : rng.pick(ENCODINGS);
  if (rng.chance(0.85)) header(w, 'Content-Transfer-Encoding', encoding);
  w.line();
  const lower = encoding.toLowerCase();
  if (lower === 'base64') w.raw(base64Body(rng, content, tags));
  else if (lower === 'quoted-printable') w.raw(quotedPrintableBody(rng, content, tags, w.longText));
  else {
    if (!['7bit', '8bit'].includes(lower)) tags.push(`cte=${JSON.stringify(encoding)}`);
    w.raw(content).line();
  }
}

function html(rng: Rng, tags: string[]): Buffer {
  if (rng.chance(0.1)) {
    const depth = rng.pick([100, 500, 1000, 3000]);
    tags.push(`html-depth=${depth}`);
    const tag = rng.pick(['div', 'b', 'blockquote', 'table', 'ul', 'span']);
    return Buffer.from(`<html><body>${`<${tag}>`.repeat(depth)}deep${rng.chance(0.5) ? `</${tag}>`.repeat(depth) : ''}</body></html>`);
  }
  const tagsPool = [
    'p',
    'div',
    'br',
    'b',
    'i',
    'a href="x"',
    'table',
    'tr',
    'td',
    'span style="display:none"',
    'style',
    'script',
    'title',
    'head',
    'body',
    'html',
    '!--',
    '![CDATA[',
    'img src=x onerror=alert(1)',
    'blockquote',
    'pre',
    'li',
    'ol',
    'hr',
    '/div',
    '/p',
    '/td',
  ];
  let out = rng.chance(0.8) ? '<html><body>' : '';
  for (let i = rng.range(1, 40); i > 0; i--) {
    out += rng.chance(0.5)
      ? `<${rng.pick(tagsPool)}>`
      : `${words(rng, rng.range(1, 6))}${rng.pick(['', '&amp;', '&#xFFFFFFFF;', '&#0;', '&nbsp;', '&bogus;', '&#x1F600;', '<', '>', '&'])}`;
  }
  return Buffer.from(out, 'utf8');
}

function boundaryFor(rng: Rng, tags: string[]): { value: string | undefined; parameter: string } {
  const kind = rng.weighted<string>([
    [70, 'normal'],
    [5, 'missing'],
    [5, 'empty'],
    [5, 'long'],
    [5, 'special'],
    [5, 'unquoted-space'],
    [5, 'dashes'],
  ]);
  if (kind !== 'normal') tags.push(`boundary=${kind}`);
  switch (kind) {
    case 'missing':
      return { value: `----=_missing_${rng.hex(6)}`, parameter: '' };
    case 'empty':
      return { value: '', parameter: '; boundary=""' };
    case 'long': {
      const value = `b${'x'.repeat(rng.range(70, 3000))}`;
      return { value, parameter: `; boundary="${value}"` };
    }
    case 'special': {
      const value = `=?:()<>@,;\\"/[]?=${rng.hex(4)}`;
      return { value, parameter: `; boundary="${value.replaceAll('"', '\\"')}"` };
    }
    case 'unquoted-space': {
      const value = `a b ${rng.hex(4)}`;
      return { value, parameter: `; boundary=${value}` };
    }
    case 'dashes': {
      const value = `--${'-'.repeat(rng.range(0, 10))}`;
      return { value, parameter: `; boundary="${value}"` };
    }
    default: {
      const value = `----=_Part_${rng.hex(12)}`;
      return { value, parameter: rng.chance(0.5) ? `; boundary="${value}"` : `; boundary=${value}` };
    }
  }
}

/** Writes one MIME entity: its Content-* headers, the blank line, its body. */
function entity(w: Writer, depth: number, tags: string[], maxDepth: number): void {
  const rng = w.rng;
  if (w.size > 200_000) {
    w.line('Content-Type: text/plain').line().line('size budget reached');
    return;
  }
  const canNest = depth < maxDepth;
  const kind = rng.weighted<string>([
    [40, 'plain'],
    [12, 'html'],
    [canNest ? 25 : 0, 'multipart'],
    [canNest ? 4 : 0, 'rfc822'],
    [6, 'octet'],
    [4, 'empty'],
    [4, 'no-content-type'],
    [3, 'garbage-type'],
  ]);
  switch (kind) {
    case 'plain':
      header(w, 'Content-Type', contentType(rng, 'text/plain', charsetParameter(rng, tags)));
      encodedBody(w, dirtyText(rng, rng.range(0, rng.chance(0.05) ? 3000 : 60), tags), tags);
      return;
    case 'html':
      header(w, 'Content-Type', contentType(rng, 'text/html', charsetParameter(rng, tags)));
      encodedBody(w, html(rng, tags), tags);
      return;
    case 'octet':
      header(w, 'Content-Type', `application/octet-stream; name="${rng.pick(['a.bin', '../../etc/passwd', '', '=?utf-8?B?w6Q=?=.pdf'])}"`);
      if (rng.chance(0.5))
        header(w, 'Content-Disposition', rng.pick(['attachment; filename="a.bin"', 'inline', "attachment; filename*=utf-8''%E2%82%AC.txt", 'garbage;;;']));
      encodedBody(w, rng.bytes(rng.range(0, 2000)), tags);
      return;
    case 'empty':
      if (!tags.includes('empty-body')) tags.push('empty-body');
      if (rng.chance(0.5)) header(w, 'Content-Type', 'text/plain');
      w.line();
      return;
    case 'no-content-type':
      w.line()
        .raw(dirtyText(rng, rng.range(0, 40), tags))
        .line();
      return;
    case 'garbage-type':
      tags.push('garbage-type');
      header(
        w,
        'Content-Type',
        rng.pick([
          'garbage',
          'text/',
          '/plain',
          'multipart/mixed',
          'multipart/alternative; boundary',
          'message/rfc822',
          'text/plain; charset',
          'x/x; a="b',
          'multipart/mixed; boundary="x"; boundary="y"',
        ]),
      );
      w.line()
        .raw(dirtyText(rng, rng.range(0, 40), tags))
        .line();
      return;
    case 'rfc822':
      header(w, 'Content-Type', 'message/rfc822');
      w.line();
      messageHeaders(w, tags);
      entity(w, depth + 1, tags, maxDepth);
      return;
    default:
      multipart(w, depth, tags, maxDepth);
  }
}

function multipart(w: Writer, depth: number, tags: string[], maxDepth: number): void {
  const rng = w.rng;
  const subtype = rng.pick(['mixed', 'alternative', 'related', 'report; report-type=delivery-status', 'digest', 'signed', 'x-unknown']);
  const boundary = boundaryFor(rng, tags);
  header(w, 'Content-Type', `multipart/${subtype}${boundary.parameter}`);
  w.line();
  if (rng.chance(0.3)) w.line(rng.chance(0.5) ? 'This is a multi-part message in MIME format.' : words(rng, rng.range(1, 20)));
  const parts = rng.weighted([
    [5, 0],
    [35, 1],
    [35, 2],
    [15, 3],
    [10, rng.range(4, 12)],
  ]);
  const b = boundary.value ?? '';
  for (let i = 0; i < parts; i++) {
    const delimiter = rng.chance(0.93)
      ? `--${b}`
      : rng.pick([`--${b} trailing`, `--${b}\t`, `-${b}`, `--${b}x`, `--${b.slice(0, -1)}`, `--${rng.hex(8)}`, `--${b}--`]);
    w.line(delimiter);
    if (rng.chance(0.05)) {
      w.line(); // a part without headers
      w.raw(dirtyText(rng, rng.range(0, 20), tags)).line();
    } else {
      entity(w, depth + 1, tags, maxDepth);
    }
  }
  const close = rng.weighted<string>([
    [80, 'close'],
    [10, 'missing'],
    [5, 'garbage'],
    [5, 'wrong'],
  ]);
  if (close !== 'close') tags.push(`close=${close}`);
  if (close === 'close') w.line(`--${b}--`);
  else if (close === 'garbage') w.line(`--${b}--${words(rng, 3)}`);
  else if (close === 'wrong') w.line(`--${rng.hex(10)}--`);
  if (rng.chance(0.2)) w.line(words(rng, rng.range(1, 20)));
}

/** A multipart (or message/rfc822) chain `depth` levels deep with a text at the bottom. */
function deepChain(w: Writer, levels: number, viaMessage: boolean): void {
  const boundaries = Array.from({ length: levels }, (_, level) => `=_level_${level}_${w.rng.hex(4)}`);
  for (const [level, boundary] of boundaries.entries()) {
    if (viaMessage && level % 2 === 1) {
      w.line('Content-Type: message/rfc822').line();
      w.line(`Subject: level ${level}`);
    }
    w.line(`Content-Type: multipart/mixed; boundary="${boundary}"`).line();
    w.line(`--${boundary}`);
  }
  w.line('Content-Type: text/plain; charset=utf-8').line().line(`bottom of ${levels} levels`);
  for (const boundary of boundaries.toReversed()) {
    if (w.rng.chance(0.9)) w.line(`--${boundary}--`);
  }
}

/** A whole generated message (headers and body). */
function generateMessage(rng: Rng, tags: string[], options: GenerateOptions): Buffer {
  const maxDepth = rng.chance(0.5) ? 3 : 6;
  const eol = rng.weighted<EolStyle>([
    [90, 'crlf'],
    [7, 'lf'],
    [3, 'mixed'],
  ]);
  if (eol !== 'crlf') tags.push(`eol=${eol}`);
  const w = new Writer(rng, eol, options.longText ?? true);
  messageHeaders(w, tags);
  {
    const special = rng.weighted<string>([
      [86, 'entity'],
      [5, 'deep'],
      [3, 'big'],
      [4, 'header-only'],
      [2, 'nothing'],
    ]);
    if (special === 'deep') {
      const levels = rng.range(10, 50);
      tags.push(`multipart-depth=${levels}`);
      deepChain(w, levels, rng.chance(0.3));
      return w.buffer();
    }
    if (special === 'big' && rng.chance(0.3)) {
      const size = rng.pick([200_000, 700_000, MAX_MESSAGE_BYTES - 200, MAX_MESSAGE_BYTES + 10, 1_500_000]);
      // Within the limit, a big text only with longText; else the bulk is an attachment.
      const asText = size > MAX_MESSAGE_BYTES || w.longText;
      tags.push(`big=${size}${asText ? '' : '(attachment)'}`);
      const lineText = 'big message line of plain text, 0123456789 abcdefghijklmnopqrstuvwxyz.\r\n';
      if (asText) {
        w.line('Content-Type: text/plain; charset=us-ascii').line();
        w.text(lineText.repeat(Math.ceil(Math.max(0, size - w.size) / lineText.length)));
      } else {
        w.line('Content-Type: multipart/mixed; boundary="big"').line().line('--big').line('Content-Type: text/plain').line().line('see the attachment');
        w.line('--big').line('Content-Type: application/octet-stream').line('Content-Transfer-Encoding: base64').line();
        const base64Line = `${Buffer.from(lineText.repeat(1).padEnd(57, '.').slice(0, 57)).toString('base64')}\r\n`;
        w.text(base64Line.repeat(Math.ceil(Math.max(0, size - w.size - 20) / base64Line.length)));
        w.line('--big--');
      }
      return w.buffer();
    }
    if (special === 'header-only') {
      tags.push('header-only');
      return w.buffer();
    }
    if (special === 'nothing') {
      tags.push('no-message');
      return Buffer.alloc(0);
    }
  }
  entity(w, 0, tags, maxDepth);
  return w.buffer();
}

/** The SMTP smuggling sequences (bare LF/CR around a dot), with the NUL variant. */
export const SMUGGLING_SEQUENCES: readonly string[] = ['\n.\r\n', '\r\n.\n', '\n.\n', '\r.\r\n', '\r\n.\r', '\r.\r', '\n.\r', '\r.\n', '\r\n\u0000.\r\n'];

function smuggledMessage(rng: Rng, tags: string[]): Buffer {
  const sequence = rng.pick(SMUGGLING_SEQUENCES);
  tags.push(`sequence=${JSON.stringify(sequence)}`);
  const smuggled = rng.chance(0.7)
    ? `MAIL FROM:<attacker@example.com>\r\nRCPT TO:<${goodRecipient(rng)}>\r\nDATA\r\nFrom: ceo@example.com\r\nSubject: forged\r\n\r\nsmuggled SMS\r\n`
    : words(rng, rng.range(1, 10));
  const base = `From: alice@example.com\r\nTo: ${goodRecipient(rng)}\r\nSubject: ${words(rng, 3)}\r\n\r\n${words(rng, rng.range(1, 10))}`;
  // sometimes inside a MIME body instead of a plain one
  const text = rng.chance(0.2)
    ? `From: alice@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst${sequence}${smuggled}\r\n--b--\r\n`
    : `${base}${sequence}${smuggled}${rng.chance(0.3) ? `${rng.pick(SMUGGLING_SEQUENCES)}${words(rng, 2)}` : ''}`;
  return Buffer.from(text, 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Wire encoding

/** The DATA payload on the wire: `message.body` (ended with CRLF if it is not empty), dot-stuffed, then `.<CR><LF>`. */
export function wireData(message: FuzzMessage): Buffer {
  let body = message.body;
  if (body.length > 0 && !(body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a)) body = Buffer.concat([body, Buffer.from(CRLF)]);
  const out: Buffer[] = [];
  let from = 0;
  for (let at = 0; at < body.length; at++) {
    if (body[at] !== 0x2e || (at > 0 && body[at - 1] !== 0x0a)) continue;
    // A dot at a line start (the relay un-stuffs after any LF, bare or not): it loses its first dot
    // (RFC 5321 §4.5.2) unless a line ending follows it, and ends DATA after and before a CRLF.
    const ends = (at === 0 || body[at - 2] === 0x0d) && body[at + 1] === 0x0d && body[at + 2] === 0x0a;
    const lineEnd = body[at + 1] === 0x0d || body[at + 1] === 0x0a;
    if (message.stuffing === 'full' || !lineEnd || ends) {
      out.push(body.subarray(from, at), Buffer.from('.'));
      from = at;
    }
  }
  out.push(body.subarray(from), Buffer.from(`.${CRLF}`));
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// Driver

export interface CaseOutcome {
  readonly fuzzCase: FuzzCase;
  /** Every reply, in order (the greeting of a fresh connection not included). */
  readonly replies: readonly Reply[];
  /** The final replies to DATA payloads. */
  readonly dataReplies: readonly Reply[];
  /** Broken promises: no reply, a malformed reply, a connection closed without 221/421. */
  readonly problems: readonly string[];
  readonly ms: number;
}

export interface DriverOptions {
  readonly port: number;
  /** How long one reply may take (default 5 s). */
  readonly replyTimeoutMs?: number;
}

/** The printable form of wire bytes for reports, cut to `max` characters. */
export function show(bytes: Buffer | string, max = 300): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  const shown = JSON.stringify(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${shown}…(${text.length} bytes)` : shown;
}

/** The reply's text after the enhanced status code, trimmed. */
function replyText(reply: Reply): string {
  return reply.text.replace(/^[245]\.\d{1,3}\.\d{1,3}\s*/, '').trim();
}

/**
 * Runs cases over one shared connection (re-opened when the relay closes it) and fresh connections
 * for the cases that ask for one. Not re-entrant: one case at a time per driver.
 */
export class FuzzDriver {
  readonly #port: number;
  readonly #timeout: number;
  #shared: SmtpDialog | undefined;

  constructor(options: DriverOptions) {
    this.#port = options.port;
    this.#timeout = options.replyTimeoutMs ?? 5000;
  }

  async run(fuzzCase: FuzzCase): Promise<CaseOutcome> {
    const started = performance.now();
    const replies: Reply[] = [];
    const dataReplies: Reply[] = [];
    const problems: string[] = [];
    let dialog: SmtpDialog;
    try {
      if (fuzzCase.fresh) dialog = await this.#open(problems);
      else {
        this.#shared ??= await this.#open(problems, 'EHLO fuzz.example.com');
        dialog = this.#shared;
      }
    } catch (error) {
      problems.push(`cannot connect: ${(error as Error).message}`);
      return { fuzzCase, replies, dataReplies, problems, ms: performance.now() - started };
    }
    let usable = true;
    let messageSent = false;
    /** Set when a 354 was answered with a message: pipelined lines after that DATA went into the message. */
    let inMessage = false;
    /** Reads one reply; false when the case must stop (connection closed or hung). */
    const expect = async (what: string): Promise<Reply | undefined> => {
      const reply = await this.#reply(dialog, what, problems, replies[replies.length - 1]);
      if (!reply) {
        usable = false;
        return undefined;
      }
      replies.push(reply);
      if (!(reply.code >= 200 && reply.code <= 599) || reply.lines.some((text) => !text.startsWith(String(reply.code)))) {
        problems.push(`malformed reply to ${what}: ${show(reply.lines.join('\r\n'))}`);
      } else if (replyText(reply) === '') {
        problems.push(`reply without text to ${what}: ${show(reply.lines.join('\r\n'))}`);
      }
      if (reply.code === 354) {
        const message = messageSent ? FALLBACK_MESSAGE : (fuzzCase.message ?? FALLBACK_MESSAGE);
        messageSent = true;
        inMessage = true;
        const wire = wireData(message);
        dialog.write(wire);
        const final = await this.#reply(dialog, `the message ${show(wire, 120)}`, problems, reply);
        if (!final) {
          usable = false;
          return undefined;
        }
        replies.push(final);
        dataReplies.push(final);
        if (![2, 4, 5].includes(Math.floor(final.code / 100)) || replyText(final) === '') {
          problems.push(`end of DATA answered ${show(final.lines.join('\r\n'))}: expected a 2xx/4xx/5xx reply with text`);
        }
        return final;
      }
      if (reply.code === 221 || reply.code === 421) usable = false; // the relay closes the connection now
      return reply;
    };
    steps: for (const step of fuzzCase.steps) {
      if (!usable) break;
      if (step.kind === 'line') {
        dialog.write(step.bytes);
        await expect(show(step.bytes, 120));
      } else {
        dialog.write(Buffer.concat(step.lines));
        inMessage = false;
        for (const [k, bytes] of step.lines.entries()) {
          await expect(`pipelined line ${k + 1}/${step.lines.length} ${show(bytes, 120)}`);
          if (!usable) break steps;
          // A DATA inside the burst got 354: the lines after it were message text, not commands.
          if (inMessage) break;
        }
      }
    }
    if (fuzzCase.fresh || !usable) {
      if (!fuzzCase.fresh) this.#shared = undefined;
      await closeQuietly(dialog);
    }
    return { fuzzCase, replies, dataReplies, problems, ms: performance.now() - started };
  }

  async close(): Promise<void> {
    if (this.#shared) await closeQuietly(this.#shared);
    this.#shared = undefined;
  }

  async #open(problems: string[], ehlo?: string): Promise<SmtpDialog> {
    const dialog = await SmtpDialog.open(this.#port);
    if (dialog.greeting.code !== 220) problems.push(`greeting: ${show(dialog.greeting.lines.join('\r\n'))}`);
    if (ehlo) {
      const reply = await dialog.command(ehlo);
      if (reply.code !== 250) problems.push(`${ehlo}: ${show(reply.lines.join('\r\n'))}`);
    }
    return dialog;
  }

  /** One reply, or undefined after recording why there was none (a 221/421 before explains a close). */
  async #reply(dialog: SmtpDialog, what: string, problems: string[], previous: Reply | undefined): Promise<Reply | undefined> {
    const started = performance.now();
    try {
      const reply = await dialog.reply(this.#timeout);
      // The relay runs in this process: a relay that blocks the event loop delays the timer too, so
      // the reply arrives "in time" by the clock of a timer that could not fire. Measure instead.
      const ms = performance.now() - started;
      if (ms > this.#timeout) problems.push(`HANG: the reply to ${what} took ${(ms / 1000).toFixed(1)} s (the event loop was blocked)`);
      return reply;
    } catch (error) {
      const message = (error as Error).message;
      if (message.startsWith('connection closed')) {
        if (previous?.code !== 421 && previous?.code !== 221) problems.push(`connection closed without a reply to ${what}`);
      } else {
        problems.push(`HANG: ${message} (waiting for the reply to ${what})`);
      }
      return undefined;
    }
  }
}

async function closeQuietly(dialog: SmtpDialog): Promise<void> {
  await Promise.race([dialog.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
}

// ---------------------------------------------------------------------------------------------
// A run

export interface FuzzSummary {
  readonly seed: number;
  readonly cases: number;
  readonly byKind: Readonly<Record<string, number>>;
  /** Final DATA replies by `code enhanced`. */
  readonly dataReplies: Readonly<Record<string, number>>;
  /** Every reply by basic code. */
  readonly replyCodes: Readonly<Record<string, number>>;
  readonly replies: number;
  /** The cases that broke a promise, with what broke. */
  readonly failures: ReadonlyArray<{ readonly index: number; readonly label: string; readonly problems: readonly string[] }>;
  /** Cases whose DATA got 451 4.3.0 (an unexpected exception inside the relay, answered as a temporary failure). */
  readonly internalErrors: ReadonlyArray<{ readonly index: number; readonly label: string; readonly reply: string }>;
  readonly ms: number;
  /** The slowest case. */
  readonly slowest: { readonly index: number; readonly label: string; readonly ms: number } | undefined;
}

export interface RunOptions extends DriverOptions {
  readonly seed: number;
  readonly cases: number;
  /** Connections driven at once (default 4); case i runs on driver i mod concurrency. */
  readonly concurrency?: number;
  readonly first?: number;
  readonly generate?: GenerateOptions;
  readonly onOutcome?: (outcome: CaseOutcome) => void;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export async function runFuzz(options: RunOptions): Promise<FuzzSummary> {
  const concurrency = options.concurrency ?? 4;
  const first = options.first ?? 0;
  const started = performance.now();
  const byKind: Record<string, number> = {};
  const dataReplies: Record<string, number> = {};
  const replyCodes: Record<string, number> = {};
  const failures: Array<{ index: number; label: string; problems: readonly string[] }> = [];
  const internalErrors: Array<{ index: number; label: string; reply: string }> = [];
  let replies = 0;
  let slowest: FuzzSummary['slowest'];
  const worker = async (lane: number) => {
    const driver = new FuzzDriver(options);
    try {
      for (let index = first + lane; index < first + options.cases; index += concurrency) {
        const theCase = fuzzCase(options.seed, index, options.generate);
        const outcome = await driver.run(theCase);
        bump(byKind, theCase.kind);
        for (const reply of outcome.replies) bump(replyCodes, String(reply.code));
        replies += outcome.replies.length;
        for (const reply of outcome.dataReplies) {
          bump(dataReplies, `${reply.code} ${reply.enhanced ?? '-'}`);
          if (reply.code === 451) internalErrors.push({ index, label: theCase.label, reply: reply.lines.join(' | ') });
        }
        if (outcome.problems.length > 0) failures.push({ index, label: theCase.label, problems: outcome.problems });
        if (!slowest || outcome.ms > slowest.ms) slowest = { index, label: theCase.label, ms: outcome.ms };
        options.onOutcome?.(outcome);
      }
    } finally {
      await driver.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)));
  failures.sort((a, b) => a.index - b.index);
  internalErrors.sort((a, b) => a.index - b.index);
  const sorted = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  return {
    seed: options.seed,
    cases: options.cases,
    byKind: sorted(byKind),
    dataReplies: sorted(dataReplies),
    replyCodes: sorted(replyCodes),
    replies,
    failures,
    internalErrors,
    ms: performance.now() - started,
    slowest,
  };
}

/** A summary in a few lines, for the test's diagnostics and the bench's output. */
export function formatSummary(summary: FuzzSummary): string[] {
  const seconds = summary.ms / 1000;
  return [
    `seed 0x${summary.seed.toString(16)}: ${summary.cases} cases (${Object.entries(summary.byKind)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}) in ${seconds.toFixed(1)} s, ${(summary.cases / seconds).toFixed(0)} cases/s, ${summary.replies} replies`,
    `end of DATA: ${Object.entries(summary.dataReplies)
      .map(([key, n]) => `${key} ×${n}`)
      .join(', ')}`,
    `all replies: ${Object.entries(summary.replyCodes)
      .map(([key, n]) => `${key} ×${n}`)
      .join(', ')}`,
    ...(summary.slowest ? [`slowest: case ${summary.slowest.index} (${summary.slowest.label}) ${summary.slowest.ms.toFixed(0)} ms`] : []),
    `451 4.3.0 (an internal error answered as temporary) at end of DATA: ${summary.internalErrors.length}`,
    ...summary.internalErrors.slice(0, 20).map((entry) => `  case ${entry.index} (${entry.label}): ${entry.reply}`),
    `failures: ${summary.failures.length}`,
    ...summary.failures.slice(0, 10).map((entry) => `  case ${entry.index} (${entry.label}): ${entry.problems.join('; ')}`),
  ];
}

/** A case spelled out byte for byte, to reproduce a failure by hand. */
export function describeCase(fuzzCase: FuzzCase, max = 4000): string {
  const lines = [
    `case ${fuzzCase.index} of seed 0x${fuzzCase.seed.toString(16)}: ${fuzzCase.label}${fuzzCase.fresh ? ' (fresh connection)' : ' (shared connection, after EHLO)'}`,
  ];
  for (const step of fuzzCase.steps) {
    if (step.kind === 'line') lines.push(`  C: ${show(step.bytes, max)}`);
    else lines.push(`  C (pipelined): ${show(Buffer.concat(step.lines), max)}`);
  }
  if (fuzzCase.message) lines.push(`  after 354 (${fuzzCase.message.stuffing} stuffing): ${show(wireData(fuzzCase.message), max)}`);
  return lines.join('\n');
}

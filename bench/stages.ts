/**
 * µs of CPU per mail (the process's user + system time: GC and compiler threads count, time waiting
 * does not, so a shared machine's other load weighs less than on the clock) of each text stage the
 * relay runs on a mail, on the bench's shapes, in this process:
 * MIME parse (parseMail: readMail, or mailparser for what it leaves), HTML→text (for mails whose text
 * comes from HTML), quote and signature stripping (stripText on the chosen body), the whole extraction
 * (extractRequest, which includes the two before), and SMS encoding (analyseText on the result).
 * The commit's share comes from the relay's own counters in the live runs (run.ts).
 * Each stage is first run unmeasured (STAGE_WARM_UP_MS), then timed in STAGE_WINDOWS windows of
 * whole passes over the shape's mails, and the fastest window is the figure: a single window timed the
 * code before V8 had optimised it, and on a shared machine any window can lose the core to another
 * process (CPU time counts its cache misses and the GC its allocations left), never gain one.
 * Alone, without the load runs: node --import tsx bench/stages.ts
 */
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.ts';
import { extractRequest, parseMail } from '../src/mail/extract.ts';
import { htmlToText } from '../src/mail/html.ts';
import { textPolicyFor } from '../src/mail/policy.ts';
import { stripText } from '../src/mail/strip.ts';
import { analyseText } from '../src/sms/encoding.ts';
import { textOf } from './client.ts';
import { corpusMessages } from './corpus.ts';

export interface StageMicros {
  readonly parse: number;
  readonly htmlToText: number;
  readonly strip: number;
  readonly extract: number;
  readonly encoding: number;
  /** Mails of the shape whose text came from their HTML part. */
  readonly htmlMails: number;
  readonly mails: number;
}

/**
 * How long each stage runs before it is timed: long enough for V8 to optimise its functions (TurboFan
 * after some thousand calls of a hot function; one pass over the corpus is ~360 mails).
 */
const STAGE_WARM_UP_MS = 300;
/** Timed windows per stage, the fastest of which is reported. */
const STAGE_WINDOWS = 5;
/** The least time a timed window runs (whole passes over the mails, at least one): CPU time is counted in ticks of ~1 ms. */
const STAGE_WINDOW_MS = 100;

/**
 * µs of CPU per item of `work` over `items` items: warmed up, then the fastest of STAGE_WINDOWS windows of
 * whole passes over the items (a shape's mails are timed alike, the corpus's long and short ones together).
 */
export async function fastestMicrosPerItem(items: number, work: (index: number) => unknown): Promise<number> {
  if (items === 0) return 0;
  const pass = async () => {
    for (let index = 0; index < items; index++) await work(index);
  };
  const warmUntil = performance.now() + STAGE_WARM_UP_MS;
  while (performance.now() < warmUntil) await pass();
  let fastest = Number.POSITIVE_INFINITY;
  for (let window = 0; window < STAGE_WINDOWS; window++) {
    let done = 0;
    const started = performance.now();
    const cpu = process.cpuUsage();
    do {
      await pass();
      done += items;
    } while (performance.now() - started < STAGE_WINDOW_MS);
    const { user, system } = process.cpuUsage(cpu);
    fastest = Math.min(fastest, (user + system) / done);
  }
  return fastest;
}

/** Each stage over `messages` (raw, latin1 strings as they go on the wire), timed by fastestMicrosPerItem. */
export async function stageMicros(messages: readonly string[]): Promise<StageMicros> {
  const policy = textPolicyFor(configSchema.shape.text.parse(undefined), 'bench@example.com');
  const raws = messages.map((message) => Buffer.from(message, 'latin1'));
  const parsed = await Promise.all(raws.map((raw) => parseMail(raw)));
  // As the relay chooses (chosenBody): the text part unless it is blank, else the HTML as text.
  const plainOf = (mail: (typeof parsed)[number]) => (typeof mail.text === 'string' && mail.text.trim() !== '' ? mail.text : undefined);
  const htmlOnly = parsed.filter((mail) => plainOf(mail) === undefined && typeof mail.html === 'string').map((mail) => mail.html as string);
  const bodies = parsed.map((mail) => plainOf(mail) ?? (typeof mail.html === 'string' ? htmlToText(mail.html).text : ''));
  const texts = parsed.map((mail) => extractRequest(mail, policy, false).text);

  const parse = await fastestMicrosPerItem(raws.length, (index) => parseMail(raws[index] as Buffer));
  // A parsed mail keeps the header values it decoded: extraction timed over the same mails again would find them decoded
  // (~30 µs a corpus mail not counted). Each pass parses afresh, as the relay does per mail, and the parse is taken off.
  const parsedAndExtracted = await fastestMicrosPerItem(raws.length, async (index) => extractRequest(await parseMail(raws[index] as Buffer), policy, false));
  return {
    parse,
    htmlToText: await fastestMicrosPerItem(htmlOnly.length, (index) => htmlToText(htmlOnly[index] as string)),
    strip: await fastestMicrosPerItem(bodies.length, (index) => stripText(bodies[index] as string, policy)),
    extract: Math.max(0, parsedAndExtracted - parse),
    encoding: await fastestMicrosPerItem(texts.length, (index) => analyseText(texts[index] as string)),
    htmlMails: htmlOnly.length,
    mails: messages.length,
  };
}

/** The raw message smtp-source sends (its headers and -l body, or its default body). */
function smtpSourceMessage(length: number | undefined, to: string): string {
  const body =
    length === undefined
      ? [1, 2, 3, 4].map((line) => `La de da de da ${line}.`)
      : [...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((line) => `${line}${'X'.repeat(77)}`), 'X'.repeat(80)];
  return `From: <bench@example.com>\r\nTo: <${to}>\r\nDate: Wed, 2 Dec 2026 10:00:00 +0000 (UTC)\r\nMessage-Id: <5d8d.0003.0000@bench>\r\n\r\n${body.join('\r\n')}\r\n`;
}

/** The bench's shapes as raw messages: smtp-source's -l 800 and default bodies to `sourceTo`, the corpus rotation, a short alert. */
export function stageShapes(sourceTo: string): Array<[string, string[]]> {
  return [
    ['source-800', [smtpSourceMessage(800, sourceTo)]],
    ['source-default', [smtpSourceMessage(undefined, sourceTo)]],
    ['corpus', corpusMessages().map(({ message }) => message)],
    ['short', [`From: bench@example.com\r\nTo: x@sms.localhost\r\nSubject: s 1\r\nMessage-ID: <s-1@bench.example.com>\r\n\r\n${textOf('short', 1)}\r\n`]],
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log('| shape | MIME parse | HTML→text | stripping | extraction (all text work) | encoding |');
  for (const [shape, messages] of stageShapes('447700900123@sms.localhost')) {
    const stage = await stageMicros(messages);
    const round = (value: number) => value.toFixed(1);
    console.log(
      `| ${shape} | ${round(stage.parse)} | ${stage.htmlMails ? `${round(stage.htmlToText)} (${stage.htmlMails} of ${stage.mails})` : '—'} | ${round(stage.strip)} | ${round(stage.extract)} | ${stage.encoding.toFixed(2)} |`,
    );
  }
}

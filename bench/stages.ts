/**
 * µs per mail of each text stage the relay runs on a mail, on the bench's shapes, in this process:
 * MIME parse (mailparser, as parseMail does it), HTML→text (for mails whose text comes from HTML),
 * quote and signature stripping (stripText on the chosen body), the whole extraction
 * (extractRequest, which includes the two before), and SMS encoding (analyseText on the result).
 * The commit's share comes from the relay's own counters in the live runs (run.ts).
 */
import { configSchema } from '../src/config/schema.ts';
import { extractRequest, parseMail } from '../src/mail/extract.ts';
import { htmlToText } from '../src/mail/html.ts';
import { textPolicyFor } from '../src/mail/policy.ts';
import { stripText } from '../src/mail/strip.ts';
import { analyseText } from '../src/sms/encoding.ts';

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

/** Repeats over `messages` (raw, latin1 strings as they go on the wire) until about `budgetMs` passed per stage. */
export async function stageMicros(messages: readonly string[], budgetMs = 400): Promise<StageMicros> {
  const policy = textPolicyFor(configSchema.shape.text.parse(undefined), 'bench@example.com');
  const raws = messages.map((message) => Buffer.from(message, 'latin1'));
  const parsed = await Promise.all(raws.map((raw) => parseMail(raw)));
  // As the relay chooses (chosenBody): the text part unless it is blank, else the HTML as text.
  const plainOf = (mail: (typeof parsed)[number]) => (typeof mail.text === 'string' && mail.text.trim() !== '' ? mail.text : undefined);
  const htmlOnly = parsed.filter((mail) => plainOf(mail) === undefined && typeof mail.html === 'string').map((mail) => mail.html as string);
  const bodies = parsed.map((mail) => plainOf(mail) ?? (typeof mail.html === 'string' ? htmlToText(mail.html).text : ''));
  const texts = parsed.map((mail) => extractRequest(mail, policy, false).text);

  const perItem = async (items: number, work: (index: number) => unknown): Promise<number> => {
    if (items === 0) return 0;
    let done = 0;
    const started = performance.now();
    while (performance.now() - started < budgetMs || done < items) await work(done++ % items);
    return ((performance.now() - started) * 1000) / done;
  };
  return {
    parse: await perItem(raws.length, (index) => parseMail(raws[index] as Buffer)),
    htmlToText: await perItem(htmlOnly.length, (index) => htmlToText(htmlOnly[index] as string)),
    strip: await perItem(bodies.length, (index) => stripText(bodies[index] as string, policy)),
    extract: await perItem(parsed.length, (index) => extractRequest(parsed[index] as (typeof parsed)[number], policy, false)),
    encoding: await perItem(texts.length, (index) => analyseText(texts[index] as string)),
    htmlMails: htmlOnly.length,
    mails: messages.length,
  };
}

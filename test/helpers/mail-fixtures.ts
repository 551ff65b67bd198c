import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const DIR = fileURLToPath(new URL('../mail/fixtures/', import.meta.url));

const expectationSchema = z.strictObject({
  description: z.string(),
  text: z.string(),
  encoding: z.enum(['gsm7', 'ucs2']),
  parts: z.number().int().positive(),
  userContext: z.string().optional(),
  senderId: z.string().optional(),
});

export interface MailFixture {
  readonly name: string;
  /** The mail exactly as a client puts it on the wire. */
  readonly raw: Buffer;
  readonly expected: z.infer<typeof expectationSchema>;
}

/** test/mail/fixtures: `<name>.eml` with `<name>.json` saying what the phone must receive. */
export function loadMailFixtures(): MailFixture[] {
  return readdirSync(DIR)
    .filter((file) => file.endsWith('.eml'))
    .sort()
    .map((file) => {
      const name = file.slice(0, -'.eml'.length);
      return {
        name,
        raw: readFileSync(`${DIR}${file}`),
        expected: expectationSchema.parse(JSON.parse(readFileSync(`${DIR}${name}.json`, 'utf8'))),
      };
    });
}

const CORPUS_DIR = fileURLToPath(new URL('../mail/corpus/', import.meta.url));

const corpusSchema = z.strictObject({
  description: z.string(),
  client: z.string(),
  language: z.string(),
  shape: z.string(),
  /** The SMS text the writer meant ('' when the mail must be refused). */
  text: z.string(),
  outcome: z.literal('no-new-text').optional(),
  /** The body of the relay's reply mail this mail answers (thread-first cutting). */
  answers: z.string().optional(),
});

export interface CorpusFixture {
  readonly name: string;
  readonly raw: Buffer;
  readonly expected: z.infer<typeof corpusSchema>;
}

/**
 * test/mail/corpus/<set>: the text-fidelity corpus written by test/mail/corpus/generate.ts; `tuning`
 * is what rules may be tuned on, `held-back` is only ever measured.
 */
export function loadCorpus(set: 'tuning' | 'held-back'): CorpusFixture[] {
  const dir = `${CORPUS_DIR}${set}/`;
  return readdirSync(dir)
    .filter((file) => file.endsWith('.eml'))
    .sort()
    .map((file) => {
      const name = file.slice(0, -'.eml'.length);
      return { name, raw: readFileSync(`${dir}${file}`), expected: corpusSchema.parse(JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8'))) };
    });
}

/**
 * A plain-text UTF-8 mail as a client writes it: CRLF line ends, 8bit, the subject encoded; `headers` go
 * after the subject.
 */
export function plainClientMail(
  subject: string,
  body: string,
  { to, date, messageId, headers = [] }: { to: string; date: string; messageId: string; headers?: readonly string[] },
): Buffer {
  return Buffer.from(
    [
      'From: alice@example.com',
      `To: ${to}`,
      `Date: ${date}`,
      `Message-ID: <${messageId}>`,
      `Subject: =?UTF-8?B?${Buffer.from(subject).toString('base64')}?=`,
      ...headers,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      ...body.split('\n'),
    ].join('\r\n'),
  );
}

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

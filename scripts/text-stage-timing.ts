/**
 * µs per mail for the text stage (parse excluded: extractRequest on a parsed mail), over the text
 * corpus, and the same on large adversarial bodies to show it stays linear in the mail's size.
 * Run: node --import tsx scripts/text-stage-timing.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.ts';
import { extractRequest, parseMail } from '../src/mail/extract.ts';
import { textPolicyFor } from '../src/mail/policy.ts';
import { stripBody } from '../src/mail/strip.ts';

const policy = textPolicyFor(configSchema.shape.text.parse(undefined), 'sender@example.com');
const corpus = fileURLToPath(new URL('../test/mail/corpus/', import.meta.url));
const mails = await Promise.all(
  ['tuning', 'held-back'].flatMap((set) =>
    readdirSync(`${corpus}${set}`)
      .filter((file) => file.endsWith('.eml'))
      .map(async (file) => {
        const json = JSON.parse(readFileSync(`${corpus}${set}/${file.replace(/\.eml$/, '.json')}`, 'utf8')) as { answers?: string };
        return { mail: await parseMail(readFileSync(`${corpus}${set}/${file}`)), sent: json.answers === undefined ? undefined : [json.answers] };
      }),
  ),
);
const rounds = 20;
const started = process.hrtime.bigint();
for (let round = 0; round < rounds; round++) for (const { mail, sent } of mails) extractRequest(mail, policy, false, sent);
const micros = Number(process.hrtime.bigint() - started) / 1000 / (rounds * mails.length);
console.log(`text stage: ${micros.toFixed(1)} µs per mail over ${mails.length} corpus mails (${rounds} rounds)`);

for (const [what, line] of [
  ['quoted lines', '> quoted line of an old mail'],
  ['header-like lines', 'To: someone@example.com'],
  ['sign-off lines', 'Regards,'],
  ['attribution-like lines', 'On Tue, 20 Mar 2026 at 08:48 x'],
  ['label lines', 'Host: db1'],
] as const) {
  for (const size of [10_000, 100_000]) {
    const body = `${'Hello\n'}${`${line}\n`.repeat(size)}`;
    const at = process.hrtime.bigint();
    stripBody(body, policy);
    console.log(`${what} x${size}: ${(Number(process.hrtime.bigint() - at) / 1e6).toFixed(0)} ms`);
  }
}

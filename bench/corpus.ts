/**
 * The "real mail" shape: a rotation over the repository's mail fixtures as clients write them — the
 * text corpus (multipart HTML from a dozen clients, quoted replies, forwards, UTF-8 and emoji in 21+
 * languages) and `test/mail/fixtures` (8-bit charsets: ISO-8859-1/-15, windows-1252, alerting
 * systems). Each mail goes to one number and gets a Message-ID of its own, so that sending the same
 * fixture again is a new mail, not a resubmission the relay would (rightly) send once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchMail } from './client.ts';

const TEST_MAIL = fileURLToPath(new URL('../test/mail/', import.meta.url));

/** The fixtures' raw messages, sorted by name; those meant to be refused (no new text) are left out. */
export function corpusMessages(): Array<{ readonly name: string; readonly message: string }> {
  const directories = [`${TEST_MAIL}corpus/tuning/`, `${TEST_MAIL}corpus/held-back/`, `${TEST_MAIL}fixtures/`];
  return directories.flatMap((directory) =>
    readdirSync(directory)
      .filter((file) => file.endsWith('.eml'))
      .sort()
      .flatMap((file) => {
        const expectation = readJson(`${directory}${file.replace(/\.eml$/, '.json')}`);
        if (expectation?.outcome === 'no-new-text') return [];
        // latin1 keeps 8-bit bytes as they are: the wire sees the fixture's bytes.
        return [{ name: file, message: readFileSync(`${directory}${file}`, 'latin1') }];
      }),
  );
}

function readJson(file: string): { outcome?: string } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { outcome?: string };
  } catch {
    return undefined;
  }
}

/** Mail `index` of the rotation over `messages`, to `recipient(index)`, with a Message-ID unique to `label` and `index`. */
export function rotation(
  messages: ReadonlyArray<{ readonly message: string }>,
  label: string,
  recipient: (index: number) => string,
): (index: number) => BenchMail {
  const bodies = messages.map(({ message }) => {
    const split = message.search(/\r?\n\r?\n/);
    const headers = message.slice(0, split).replace(/^Message-ID:.*(?:\r?\n[ \t].*)*\r?\n?/gim, '');
    return { headers: headers.replace(/\r?\n$/, ''), rest: message.slice(split) };
  });
  return (index) => {
    const body = bodies[index % bodies.length] ?? { headers: '', rest: '\r\n\r\n' };
    return { recipients: [recipient(index)], message: `${body.headers}\r\nMessage-ID: <${label}-${index}@bench.example.com>${body.rest}` };
  };
}

/**
 * The project's docs stand alone: every relative link in README.md, bench/README.md and docs/ leads to
 * a file of the repository and, with a `#fragment`, to a heading of that file (GitHub's anchors, as
 * github-slugger makes them). A page renamed or a heading reworded without its links fails here,
 * naming the link.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGES = [
  'README.md',
  'bench/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** The page without its code (fenced blocks and inline spans): what is there is not a link. */
const prose = (page: string) =>
  readFileSync(join(ROOT, page), 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '');

function anchorsOf(page: string): Set<string> {
  const slugger = new GithubSlugger();
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((heading) => slugger.slug((heading[1] ?? '').replace(/`/g, ''))));
}

test('every relative link of the docs leads to a file of the repository and to a heading of it', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const [, target = ''] of prose(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue;
      checked += 1;
      const [path = '', fragment] = target.split('#');
      const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path));
      if (!existsSync(join(ROOT, file))) broken.push(`${page}: ${target} (no ${file})`);
      else if (fragment !== undefined && file.endsWith('.md') && !anchorsOf(file).has(fragment)) broken.push(`${page}: ${target} (no such heading in ${file})`);
    }
  }
  assert.ok(checked > 20, `links found: ${checked}`);
  assert.deepEqual(broken, []);
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { checkArchitecture } from '../scripts/check-architecture.ts';

const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));

/** The fixture's own rules, so that editing the real architecture.yaml leaves these tests alone. */
const FIXTURE_RULES = `
no import cycles: true
rules:
  - name: providers never import the store
    files: [src/providers/]
    may not import: [src/store/]
  - name: the SMTP layer reads the store only through its types
    files: [src/smtp/]
    may not import: [src/store/]
    except: [src/store/types.ts]
`;

/** A small tree that keeps every rule. */
const PASSING_TREE: Record<string, string> = {
  'src/vocabulary.ts': `export type DeliveryState = 'queued' | 'delivered';\n`,
  'src/store/types.ts': `import type { DeliveryState } from '../vocabulary.ts';\nexport interface Store { state(id: string): DeliveryState }\n`,
  'src/store/sqlite.ts': `import Database from 'better-sqlite3';\nimport type { Store } from './types.ts';\nexport const open = (path: string): Store => new Database(path) as never;\n`,
  'src/providers/puzzel/adapter.ts': [
    `import { createHash } from 'node:crypto';`,
    `import {`,
    `  type DeliveryState,`,
    `} from '../../vocabulary.ts';`,
    `export const hash = (state: DeliveryState) => createHash('sha1').update(state).digest('hex');`,
    ``,
  ].join('\n'),
  'src/smtp/intake.ts': `import type { Store } from '../store/types.ts';\nexport const accept = (store: Store) => store.state('1');\n`,
};

const trees: string[] = [];
after(() => {
  for (const tree of trees) rmSync(tree, { recursive: true, force: true });
});

function plantTree(changes: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'smsrelay-architecture-'));
  trees.push(root);
  writeFileSync(join(root, 'architecture.yaml'), FIXTURE_RULES);
  for (const [path, source] of Object.entries({ ...PASSING_TREE, ...changes })) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  return root;
}

describe('architecture check', () => {
  test('a tree that keeps the rules passes, counting its files, imports and rules', () => {
    const report = checkArchitecture(plantTree());
    assert.deepEqual(report, { files: 5, imports: 6, rules: 3, violations: [] });
  });

  test('a module the store thread reaches names its import() and top-level await, with why; one it does not reach may use them', () => {
    const report = checkArchitecture(
      plantTree({
        'src/store/thread-server.ts': `import { open } from './sqlite.ts';\nimport './clock.ts';\nexport const serve = () => open;\n`,
        'src/store/sqlite.ts': `import type { Store } from './types.ts';\nexport async function open(): Promise<Store> {\n  return (await import('./backup.ts')) as never;\n}\n`,
        'src/store/clock.ts': `export const now = await Promise.resolve(0);\n`,
        'src/smtp/late.ts': `export const later = async () => (await import('../vocabulary.ts')).toString();\nawait later();\n`,
      }),
    );
    assert.equal(report.rules, 4);
    assert.deepEqual(
      report.violations.map((violation) => violation.split(': ')[0]),
      ['src/store/clock.ts:1 has top-level await', 'src/store/sqlite.ts:3 has import()'],
    );
    assert.match(report.violations[0] ?? '', /compiles them as CommonJS \(src\/store\/thread\.mjs\), where import\(\) of a \.ts file fails only when called/);
  });

  test('a provider importing the store is named with the file, the import as written, where it leads and the rule', () => {
    const report = checkArchitecture(
      plantTree({
        'src/providers/puzzel/adapter.ts': [
          `import type { DeliveryState } from '../../vocabulary.ts';`,
          `import type {`,
          `  Store,`,
          `} from '../../store/types.ts';`,
          `export { open } from '../../store/sqlite.js';`,
          `export const later = () => import('../../store/sqlite.ts');`,
          `export type Pair = [DeliveryState, Store];`,
        ].join('\n'),
      }),
    );
    assert.deepEqual(report.violations, [
      `src/providers/puzzel/adapter.ts:2 imports '../../store/types.ts' (src/store/types.ts): providers never import the store`,
      `src/providers/puzzel/adapter.ts:5 imports '../../store/sqlite.js' (src/store/sqlite.ts): providers never import the store`,
      `src/providers/puzzel/adapter.ts:6 imports '../../store/sqlite.ts' (src/store/sqlite.ts): providers never import the store`,
    ]);
  });

  test('an exception carves one file out of a forbidden folder, and no more', () => {
    const report = checkArchitecture(
      plantTree({ 'src/smtp/intake.ts': `import type { Store } from '../store/types.ts';\nimport { open } from '../store/sqlite.ts';\n` }),
    );
    assert.deepEqual(report.violations, [
      `src/smtp/intake.ts:2 imports '../store/sqlite.ts' (src/store/sqlite.ts): the SMTP layer reads the store only through its types`,
    ]);
  });

  test('a cycle made by a type-only import is reported with its files in order', () => {
    const report = checkArchitecture(
      plantTree({ 'src/vocabulary.ts': `import type { Store } from './store/types.ts';\nexport type DeliveryState = keyof Store;\n` }),
    );
    assert.deepEqual(report.violations, ['import cycle src/store/types.ts → src/vocabulary.ts → src/store/types.ts: no import cycles']);
  });

  test('imports inside comments, strings and templates are not counted; a quote in a regular expression hides none', () => {
    const report = checkArchitecture(
      plantTree({
        'src/providers/puzzel/adapter.ts': [
          `// import { open } from '../../store/sqlite.ts';`,
          `/* import type { Store } from '../../store/types.ts'; */`,
          `/**`,
          ` * Was: import('../../store/sqlite.ts')`,
          ` */`,
          `export const quoted = "import '../../store/sqlite.ts'";`,
          `export const templated = \`\${quoted} from '../../store/types.ts' \${\`import('../../store/sqlite.ts')\`}\`;`,
          `export const apostrophe = /'/g; import type { DeliveryState } from '../../vocabulary.ts'; export const b = 1;`,
          `export const ratio = 4 / 2; import type * as Vocabulary from '../../vocabulary.ts'; export const half = ratio / 2;`,
          `export type State = [DeliveryState, Vocabulary.DeliveryState];`,
        ].join('\n'),
      }),
    );
    assert.deepEqual(report.violations, []);
    assert.equal(report.imports, 6, 'the provider file has its two real imports, as in the passing tree');
  });

  test('the command exits 1 and prints each violation, or exits 0 with a one-line summary', () => {
    const run = (root: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/check-architecture.ts', root], { cwd: REPOSITORY, encoding: 'utf8' });
    const passing = run(plantTree());
    assert.equal(passing.status, 0, passing.stderr);
    assert.equal(passing.stdout, 'architecture: 5 files, 6 imports, 3 rules: ok\n');

    const failing = run(plantTree({ 'src/providers/puzzel/adapter.ts': `import '../../store/sqlite.ts';\n` }));
    assert.equal(failing.status, 1);
    assert.match(
      failing.stderr,
      /^src\/providers\/puzzel\/adapter\.ts:1 imports '\.\.\/\.\.\/store\/sqlite\.ts' \(src\/store\/sqlite\.ts\): providers never import the store$/m,
    );
  });

  test('a mistyped rules file is refused, not read as no rules', () => {
    const root = plantTree();
    writeFileSync(join(root, 'architecture.yaml'), FIXTURE_RULES.replace('may not import: [src/store/]', 'may not imports: [src/store/**]'));
    assert.throws(() => checkArchitecture(root), /architecture\.yaml: .*may not import/s);
  });

  test('the repository itself keeps its architecture.yaml', () => {
    assert.deepEqual(checkArchitecture(REPOSITORY).violations, []);
  });
});

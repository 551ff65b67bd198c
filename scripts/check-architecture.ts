/**
 * Architecture check: reads the import lines of every source file under `src/` and checks them
 * against `architecture.yaml` (forbidden imports between parts, no import cycles), and that the store thread's modules
 * use no import() and no top-level await (scripts/architecture/store-thread.ts). TypeScript 7's
 * `tsc` offers no compiler API to import-graph tools, so the imports are found by a small scanner.
 *
 *   node --import tsx scripts/check-architecture.ts [root]   (root defaults to this repository)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findImportKnots } from './architecture/cycles.ts';
import { findImports } from './architecture/imports.ts';
import { breaks, loadRules, RULES_FILE } from './architecture/rules.ts';
import { moduleOnlyForms, reachedFrom, STORE_THREAD_ENTRY, STORE_THREAD_RULE } from './architecture/store-thread.ts';

const SOURCE_FOLDER = 'src';
const SOURCE_FILE = /\.(ts|mts|mjs|js)$/;
const RELATIVE = /^\.\.?(\/|$)/;
const CYCLE_RULE_NAME = 'no import cycles';

export interface ArchitectureReport {
  files: number;
  imports: number;
  rules: number;
  /** One line each, naming the file, the import and the broken rule. */
  violations: string[];
}

export function checkArchitecture(root: string): ArchitectureReport {
  const rules = loadRules(join(root, RULES_FILE));
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph = new Map<string, Set<string>>();
  const violations: string[] = [];
  let imports = 0;

  for (const file of files) {
    const imported = new Set<string>();
    graph.set(file, imported);
    for (const { specifier, line } of findImports(readFileSync(join(root, file), 'utf8'))) {
      imports++;
      // Packages and node: builtins are outside the rules, which are about src/ only.
      if (!RELATIVE.test(specifier)) continue;
      const target = resolveRelative(file, specifier, known);
      if (known.has(target)) imported.add(target);
      for (const rule of rules.imports) {
        if (breaks(rule, file, target)) violations.push(`${file}:${line} imports '${specifier}' (${target}): ${rule.name}`);
      }
    }
  }

  if (rules.forbidCycles) {
    for (const knot of findImportKnots(graph)) {
      const others = knot.files.filter((file) => !knot.cycle.includes(file));
      const alsoTangled = others.length > 0 ? ` (same knot: ${others.join(', ')})` : '';
      violations.push(`import cycle ${knot.cycle.join(' → ')}${alsoTangled}: ${CYCLE_RULE_NAME}`);
    }
  }

  const storeThread = known.has(STORE_THREAD_ENTRY);
  if (storeThread) {
    for (const file of reachedFrom(STORE_THREAD_ENTRY, graph)) {
      for (const { line, form } of moduleOnlyForms(readFileSync(join(root, file), 'utf8')))
        violations.push(`${file}:${line} has ${form}: ${STORE_THREAD_RULE}`);
    }
  }

  return { files: files.length, imports, rules: rules.imports.length + (rules.forbidCycles ? 1 : 0) + (storeThread ? 1 : 0), violations };
}

/** Repository paths (forward slashes) of the source files under `src/`, sorted. */
function sourceFiles(root: string): string[] {
  return readdirSync(join(root, SOURCE_FOLDER), { recursive: true, encoding: 'utf8' })
    .filter((path) => SOURCE_FILE.test(path))
    .map((path) => posix.join(SOURCE_FOLDER, path.split('\\').join('/')))
    .sort();
}

/**
 * The repository path a relative specifier names. The code writes `.ts` extensions; a `.js`
 * specifier for a `.ts` file (the older ESM habit) and an extensionless one are followed too.
 * A specifier naming no known file still resolves to its path, so rules about it apply.
 */
function resolveRelative(importer: string, specifier: string, known: ReadonlySet<string>): string {
  const path = posix.normalize(posix.join(posix.dirname(importer), specifier));
  const candidates = [path, path.replace(/\.js$/, '.ts'), path.replace(/\.mjs$/, '.mts'), `${path}.ts`, `${path}/index.ts`];
  return candidates.find((candidate) => known.has(candidate)) ?? path;
}

function main(): void {
  const root = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
  let report: ArchitectureReport;
  try {
    report = checkArchitecture(root);
  } catch (error) {
    console.error(`architecture: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
  if (report.violations.length > 0) {
    for (const violation of report.violations) console.error(violation);
    console.error(`architecture: ${report.violations.length} violations`);
    process.exit(1);
  }
  console.log(`architecture: ${report.files} files, ${report.imports} imports, ${report.rules} rules: ok`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();

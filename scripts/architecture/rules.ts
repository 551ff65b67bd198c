/**
 * The rules file (`architecture.yaml` at the repository root): which parts of `src/` may not
 * import which, and whether import cycles are allowed.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

export const RULES_FILE = 'architecture.yaml';

/** A path ending in a source extension is one file; anything else is a folder and everything beneath it. */
const SOURCE_FILE = /\.(ts|mts|mjs|js)$/;

const sourcePath = z
  .string()
  .refine((path) => path === 'src' || path.startsWith('src/'), 'paths are under src/, written from the repository root')
  .refine((path) => !/[*?]/.test(path), 'no wildcards: a folder path already covers everything beneath it');

const pathList = z.array(sourcePath).min(1);

const RulesFileSchema = z.strictObject({
  'no import cycles': z.boolean(),
  rules: z.array(
    z.strictObject({
      name: z.string().min(1),
      files: pathList,
      'may not import': pathList,
      except: pathList.optional(),
    }),
  ),
});

export interface ImportRule {
  name: string;
  files: string[];
  forbidden: string[];
  allowed: string[];
}

export interface Rules {
  forbidCycles: boolean;
  imports: ImportRule[];
}

export function loadRules(path: string): Rules {
  const parsed = RulesFileSchema.safeParse(parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path}: ${z.prettifyError(parsed.error)}`);
  return {
    forbidCycles: parsed.data['no import cycles'],
    imports: parsed.data.rules.map((rule) => ({
      name: rule.name,
      files: rule.files,
      forbidden: rule['may not import'],
      allowed: rule.except ?? [],
    })),
  };
}

/** Whether `file` (a repository path) is `path` or lies in the folder `path`. */
export function isCoveredBy(file: string, path: string): boolean {
  if (SOURCE_FILE.test(path)) return file === path;
  const folder = path.endsWith('/') ? path : `${path}/`;
  return file.startsWith(folder);
}

export function breaks(rule: ImportRule, file: string, imported: string): boolean {
  const covers = (paths: string[], path: string): boolean => paths.some((pattern) => isCoveredBy(path, pattern));
  return covers(rule.files, file) && covers(rule.forbidden, imported) && !covers(rule.allowed, imported);
}

/**
 * The relay at another commit, for "before and after" in the same run: a detached git worktree of
 * that commit in the temp directory, with its own copy of this checkout's node_modules (the
 * dependencies are the same), made once and reused.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes.ts';

export interface BaselineCheckout {
  readonly ref: string;
  readonly commit: string;
  readonly root: string;
}

export function baselineCheckout(ref: string): BaselineCheckout {
  const commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--verify', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
  const root = join(tmpdir(), `smsrelay-bench-baseline-${commit.slice(0, 12)}`);
  if (!existsSync(join(root, 'bin/smsrelay.js'))) {
    execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', '--force', root, commit], { stdio: 'ignore' });
  }
  if (!existsSync(join(root, 'node_modules'))) cpSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  return { ref, commit, root };
}

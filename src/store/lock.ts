import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the file that marks a data directory as in use by one relay process. */
const LOCK_FILE = 'smsrelay.pid';

/**
 * One relay process per data directory: the embedded store has one writer, and start-up frees every
 * lease in the store, which is only right when the process that held them is dead. The lock file
 * holds the owner's pid; a file left by a dead process (kill -9) is taken over.
 */
export function lockDataDir(dataDir: string): { release(): void } {
  const file = join(dataDir, LOCK_FILE);
  const owner = readOwner(file);
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
    throw new Error(`data directory ${dataDir} is in use by another smsrelay (pid ${owner}); stop it or use another SMSRELAY_DATA_DIR`);
  }
  writeFileSync(file, `${process.pid}\n`);
  return {
    release() {
      if (readOwner(file) === process.pid) unlinkSync(file);
    },
  };
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else: still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

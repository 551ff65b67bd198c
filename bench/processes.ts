/** Child processes of the benchmarks: the relay, the gateway, the baselines; and reading their CPU and memory. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The relay of this checkout; a baseline relay (another commit) runs from its own checkout. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Linux clock ticks per second (USER_HZ), the unit of /proc/<pid>/stat CPU times. */
const CLOCK_TICKS = 100;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

export interface Child {
  readonly process: ChildProcess;
  /** The next stdout line that satisfies `predicate`. */
  line(predicate: (line: string) => boolean): Promise<string>;
  stop(): Promise<void>;
}

export function start(args: readonly string[], env: Record<string, string> = {}, cwd?: string, stdout: 'pipe' | 'ignore' = 'pipe'): Child {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', stdout, 'inherit'] });
  const waiters = new Set<{ predicate: (line: string) => boolean; resolve: (line: string) => void }>();
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (line) => {
      for (const waiter of waiters) {
        if (waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    line: (predicate) => new Promise((resolve) => waiters.add({ predicate, resolve })),
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export function startTs(file: string, env: Record<string, string> = {}): Child {
  return start(['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], env);
}

export interface RelayChild extends Child {
  readonly smtpPort: number;
  readonly httpPort: number;
  readonly dir: string;
}

export interface RelayStart {
  /** The checkout whose bin/smsrelay.js runs (default: this one). */
  readonly root?: string;
  /** Node's own flags before the script (--cpu-prof, --heapsnapshot-signal). */
  readonly nodeArgs?: readonly string[];
  /** smsrelay.yaml in the relay's working directory, for settings without an environment name. */
  readonly config?: string;
}

/** The relay as `npm start` runs it, in a fresh data directory (its cwd), with `env` on top. */
export async function startRelay(env: Record<string, string>, how: RelayStart = {}): Promise<RelayChild> {
  const dir = mkdtempSync(join(tmpdir(), 'smsrelay-bench-'));
  const [smtpPort, httpPort] = [await freePort(), await freePort()];
  if (how.config) writeFileSync(join(dir, 'smsrelay.yaml'), how.config);
  const child = start(
    // The young generation's size as `npm start` sets it (every relay measured gets the same).
    ['--max-semi-space-size=8', ...(how.nodeArgs ?? []), join(how.root ?? ROOT, 'bin/smsrelay.js'), 'start'],
    // MALLOC_ARENA_MAX as `npm start` sets it (every relay measured, baselines too, gets the same).
    { MALLOC_ARENA_MAX: '2', SMSRELAY_SMTP_PORT: String(smtpPort), SMSRELAY_HTTP_PORT: String(httpPort), SMSRELAY_DATA_DIR: join(dir, 'data'), ...env },
    dir,
    // The relay logs at info, as it runs in production; reading its lines here would cost the
    // bench's CPU, so they go to /dev/null.
    'ignore',
  );
  for (;;) {
    // A relay that refuses to start (a config error, exit 78) says why on stderr, which the bench shares.
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`a relay exited (${child.process.exitCode ?? child.process.signalCode}) before it was ready: see its line above`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    ...child,
    smtpPort,
    httpPort,
    dir,
    async stop() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The relay's counters from GET /metrics (name with labels → value); an unknown name reads as undefined. */
export async function relayCounters(relay: RelayChild): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${relay.httpPort}/metrics`)).text();
  const counters = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(smsrelay_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] && match[2]) counters.set(match[1], Number(match[2]));
  }
  return counters;
}

/** CPU time (user + system) the process has used, in ms. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** Resident memory now and at its peak, in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

/** Whether something listens on 127.0.0.1:`port` now. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

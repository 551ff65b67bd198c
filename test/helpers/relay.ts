import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { stringify } from 'yaml';
import { type Config, loadConfig } from '../../src/config/load.ts';
import { IntelliSoftwareSimulator, type IntelliSoftwareSimulatorOptions } from '../../src/simulators/intellisoftware.ts';
import { createLogger, type LogLevel, type Logger } from '../../src/log.ts';
import { type Relay, startRelay } from '../../src/relay.ts';

export { waitFor } from './wait.ts';

/** The installed command, as `npm start` runs it (it finds tsx from its own location, not the cwd). */
export const BIN = fileURLToPath(new URL('../../bin/smsrelay.js', import.meta.url));
/** Set TEST_LOG_LEVEL=debug to see the relay's log lines while a test runs. */
const LOG_LEVEL = (process.env.TEST_LOG_LEVEL ?? 'silent') as LogLevel;

export const GATEWAY_ACCOUNT = { username: 'relay-test', password: 'secret-test' } as const;

/** A fresh directory for one relay: its smsrelay.yaml and its data dir live here. */
export function tempDir(prefix = 'smsrelay-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes smsrelay.yaml into `dir` and returns the environment that points the relay at it. */
export function relayEnvironment(dir: string, yaml: object, env: Record<string, string> = {}): Record<string, string> {
  writeFileSync(join(dir, 'smsrelay.yaml'), stringify(yaml));
  return {
    SMSRELAY_DATA_DIR: join(dir, 'data'),
    SMSRELAY_SMTP_PORT: '0',
    SMSRELAY_HTTP_PORT: '0',
    SMSRELAY_LOG_LEVEL: LOG_LEVEL,
    ...env,
  };
}

/** The YAML that points a relay at a standalone simulated gateway. */
export function gatewayYaml(url: string, extra: object = {}): object {
  return { gateway: { provider: 'intellisoftware', url, ...GATEWAY_ACCOUNT, ...extra } };
}

export interface TestRelay {
  readonly relay: Relay;
  readonly config: Config;
  readonly dir: string;
  readonly maildir: string;
  stop(): Promise<void>;
}

/** A relay in this process, on ephemeral ports, with its own data dir. */
export async function startTestRelay(
  yaml: object = {},
  env: Record<string, string> = {},
  dir = tempDir(),
  options: Parameters<typeof startRelay>[2] = {},
  logger: Logger = createLogger(LOG_LEVEL),
): Promise<TestRelay> {
  const { config } = loadConfig(relayEnvironment(dir, yaml, env), dir, { ...(options.providers ? { providers: options.providers } : {}) });
  const relay = await startRelay(config, logger, options);
  return {
    relay,
    config,
    dir,
    maildir: join(config.dataDir, 'maildir'),
    async stop() {
      await relay.stop();
    },
  };
}

export async function startSimulator(options: Partial<Omit<IntelliSoftwareSimulatorOptions, 'username' | 'password' | 'logger'>> & { port?: number } = {}) {
  return IntelliSoftwareSimulator.listen({ ...GATEWAY_ACCOUNT, logger: createLogger(LOG_LEVEL), ...options });
}

export type Simulator = Awaited<ReturnType<typeof startSimulator>>;

export interface RelayWithSimulatorOptions {
  /** The simulator's behaviour (numbers it refuses, webhook timing, …). */
  readonly simulator?: Parameters<typeof startSimulator>[0];
  /** What startRelay takes besides the config (a test's clock, its login pause, …). */
  readonly start?: Parameters<typeof startRelay>[2];
  /** Where the relay logs (captureLog, for a test of a log line); unset, as every test relay does. */
  readonly logger?: Logger;
}

/** What {@link relayWithSimulator} started; each getter throws until the suite's `before` has started it. */
export interface RelayWithSimulator {
  readonly gateway: Simulator;
  readonly relay: TestRelay;
  /** The relay's SMTP port. */
  readonly port: number;
}

/**
 * Called in a `describe`: a simulated gateway and a relay pointed at it (`yaml` over
 * {@link gatewayYaml}), started before the suite's tests and stopped, its data dir removed, after them.
 */
export function relayWithSimulator(yaml: object = {}, options: RelayWithSimulatorOptions = {}): RelayWithSimulator {
  let gateway: Simulator | undefined;
  let relay: TestRelay | undefined;
  before(async () => {
    gateway = await startSimulator(options.simulator);
    relay = await startTestRelay({ ...gatewayYaml(gateway.url), ...yaml }, {}, tempDir(), options.start, options.logger);
  });
  after(async () => {
    await relay?.stop();
    await gateway?.close();
    if (relay) removeDir(relay.dir);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('relayWithSimulator: its gateway and relay exist only once the suite has started');
    return value;
  };
  return {
    get gateway() {
      return started(gateway);
    },
    get relay() {
      return started(relay);
    },
    get port() {
      return started(relay).relay.smtpPort;
    },
  };
}

/** Mails the relay wrote into its Maildir (new/), oldest first. */
export function maildirMessages(maildir: string): string[] {
  try {
    return readdirSync(join(maildir, 'new'))
      .sort()
      .map((name) => readFileSync(join(maildir, 'new', name), 'utf8'));
  } catch {
    return [];
  }
}

/** A TCP port that nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const spawned = new Set<ChildProcess>();

/** Kills every relay process a test spawned and did not stop (a failed assertion must not hang the run). */
export function killSpawnedRelays(): void {
  for (const child of spawned) child.kill('SIGKILL');
}

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly smtpPort: number;
  readonly httpPort: number;
  /** Every log line the relay printed so far (parsed JSON). */
  readonly logs: Array<Record<string, unknown>>;
  /** What the relay wrote on stderr so far (its refusal, one line). */
  stderr(): string;
  /** Its exit code once it exited by itself (null: killed by a signal). */
  readonly exited: Promise<number | null>;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

/**
 * The relay as its own process (`bin/smsrelay.js start`) in `dir`, for tests that kill
 * it. Resolves once it logged that it listens ("relay: ready", or "relay: listening, …" not ready yet) with its ports.
 * `user`: the uid and gid it runs as (a test as root whose relay must meet file modes, which root ignores).
 * `wrapper`: a command and its arguments that start it (node and its own follow), as a unit's ExecStart may;
 * `nodeArgs`: Node's own options before the script (a V8 limit the test needs the relay to meet, such as `--stack-size`).
 */
export async function spawnRelay(
  dir: string,
  env: Record<string, string>,
  user?: { readonly uid: number; readonly gid: number },
  { wrapper = [], nodeArgs = [] }: { readonly wrapper?: readonly string[]; readonly nodeArgs?: readonly string[] } = {},
): Promise<RelayProcess> {
  const [command = process.execPath, ...args] = [...wrapper, process.execPath, ...nodeArgs, BIN, 'start'];
  const child = spawn(command, args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env, SMSRELAY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...user,
  });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        // Listening: ready, or (a database unreachable, a disk nearly full at start) listening but not ready yet.
        if (entry.msg === 'relay: ready' || String(entry.msg).startsWith('relay: listening, ')) resolve(entry);
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`relay exited (${code}) before it was ready: ${stderr}`)));
  });
  const entry = await ready;
  const port = (address: unknown) => Number(String(address).split(':').pop());
  return {
    child,
    smtpPort: port(entry.smtp),
    httpPort: port(entry.http),
    logs,
    stderr: () => stderr,
    exited,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** `smsrelay <args>` run to its end in `dir` with `env`, as an operator runs a command next to the relay. */
export function runCommand(dir: string, env: Record<string, string>, ...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
}

/** The HTTP status the relay answers a GET of `path` with (its body read and dropped). */
export async function httpStatus(httpPort: number, path: string): Promise<number> {
  const response = await request(`http://127.0.0.1:${httpPort}${path}`);
  await response.body.dump();
  return response.statusCode;
}

/**
 * Which gateway the bench's relays send to (`BENCH_GATEWAY`): nginx answering `ID:…` as issue #15
 * measured it (gateway-nginx.ts, the default when it can run), or the IntelliSoftware simulator
 * (gateway.ts), which validates each request as the real gateway does but costs ~140 µs of CPU per
 * mail on the cores the relay is measured on. nginx is installed when missing
 * (gateway-nginx-install.ts); when that cannot be done, or it cannot start, the bench says so loudly
 * and falls back to the simulator, naming it in the results.
 */
import { installNginx } from './gateway-nginx-install.ts';
import { jsonLine } from './harness.ts';
import { type Child, startTs } from './processes.ts';

export type GatewayKind = 'nginx' | 'simulator';
const GATEWAY_FILES: Record<GatewayKind, string> = { nginx: './gateway-nginx.ts', simulator: './gateway.ts' };

export interface GatewayChoice {
  readonly kind: GatewayKind;
  /** Why the run does not use the gateway asked for (nginx could not be installed or started). */
  readonly fallback?: string;
}

export interface BenchGateway {
  readonly child: Child;
  readonly url: string;
  /** nginx's master (its workers are its children) and its temp directory, for the nginx gateway. */
  readonly nginx?: { readonly pid: number; readonly dir: string };
}

function loud(message: string): void {
  console.error(`\n!!!!!!!! bench: ${message}\n`);
}

/** Starts the gateway of `kind`; rejects when its process exits before it printed its URL. */
export async function startGateway(kind: GatewayKind): Promise<BenchGateway> {
  const child = startTs(GATEWAY_FILES[kind]);
  let onExit: (code: number | null) => void = () => undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = (code) => reject(new Error(`the ${kind} gateway exited (${code}) before it was ready: see its lines above`));
  });
  child.process.once('exit', onExit);
  try {
    return { child, ...(await Promise.race([jsonLine<Omit<BenchGateway, 'child'>>(child), exited])) };
  } finally {
    child.process.off('exit', onExit);
  }
}

/**
 * The gateway of this run: `BENCH_GATEWAY` (default nginx). nginx is installed when missing and
 * started once on trial; when either fails, the simulator, said loudly and named as the fallback.
 */
export async function chooseGateway(): Promise<GatewayChoice> {
  const asked = process.env.BENCH_GATEWAY ?? 'nginx';
  if (asked !== 'nginx' && asked !== 'simulator') throw new Error(`BENCH_GATEWAY=${asked}: nginx or simulator`);
  if (asked === 'simulator') return { kind: 'simulator' };
  const problem =
    installNginx() ??
    (await startGateway('nginx').then(
      (trial) => trial.child.stop().then(() => undefined),
      (error: Error) => error.message,
    ));
  if (problem === undefined) return { kind: 'nginx' };
  loud(`nginx cannot run as the gateway (${problem}): the relays send to the IntelliSoftware SIMULATOR instead`);
  return { kind: 'simulator', fallback: `nginx: ${problem}` };
}

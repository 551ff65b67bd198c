/**
 * Postfix's load tools as the bench's reference client and reference server: `smtp-source` (what a
 * user loads a mail server with; no PIPELINING, HELO) and `smtp-sink` (what a fast MTA-less SMTP
 * server takes). They come with Debian's `postfix` package: installed here non-interactively when
 * missing, and the postfix daemon the package starts is stopped again, so that nothing is left
 * listening on port 25. When that cannot be done the bench says so loudly and skips those rows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { portOpen } from './processes.ts';

const SMTP_SOURCE = '/usr/sbin/smtp-source';
const SMTP_SINK = '/usr/sbin/smtp-sink';
/** smtp-sink's listen backlog: above the 50 sessions of the largest shape. */
const SINK_BACKLOG = 256;

function loud(message: string): void {
  console.error(`\n!!!!!!!! bench: ${message}\n`);
}

/** Stops a postfix master the package (or anyone) started; true when nothing listens on port 25 afterwards. */
async function stopPostfixDaemon(): Promise<boolean> {
  if (!(await portOpen(25))) return true;
  spawnSync('postfix', ['stop'], { stdio: 'ignore' });
  for (let tries = 0; tries < 20 && (await portOpen(25)); tries++) await new Promise((resolve) => setTimeout(resolve, 250));
  return !(await portOpen(25));
}

/** Whether smtp-source and smtp-sink can run, installing Debian's postfix package if they are missing. */
export async function ensurePostfixTools(): Promise<boolean> {
  if (!existsSync(SMTP_SOURCE) || !existsSync(SMTP_SINK)) {
    console.error('bench: smtp-source/smtp-sink missing: installing Debian package postfix (apt-get, non-interactive)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = spawnSync('sh', ['-c', 'apt-get update -q && apt-get install -y -q postfix'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (install.status !== 0 || !existsSync(SMTP_SOURCE)) {
      loud('could not install postfix (smtp-source, smtp-sink): the smtp-source rows are SKIPPED. Install it: apt-get install postfix');
      return false;
    }
  }
  if (!(await stopPostfixDaemon())) {
    loud('something still listens on 127.0.0.1:25 after `postfix stop`: a postfix daemon is RUNNING on this machine; stop it yourself');
  }
  return true;
}

export interface SmtpSourceOptions {
  readonly port: number;
  readonly sessions: number;
  readonly mails: number;
  /** -d: keep each session's connection for all its mails; otherwise a connection per mail. */
  readonly persistent: boolean;
  /** -l: body length in bytes; unset = smtp-source's default body (four "La de da de da" lines). */
  readonly length?: number;
  readonly to: string;
}

export interface SmtpSourceResult {
  readonly elapsedMs: number;
  readonly exitCode: number | null;
  /** What smtp-source printed on stderr: it names each reply it did not expect. */
  readonly complaints: string[];
}

/** Runs smtp-source to completion; the time is until it exits (its last mail answered). */
export function smtpSource(options: SmtpSourceOptions): Promise<SmtpSourceResult> {
  const args = [
    ...(options.persistent ? ['-d'] : []),
    '-s',
    String(options.sessions),
    '-m',
    String(options.mails),
    ...(options.length === undefined ? [] : ['-l', String(options.length)]),
    '-f',
    'bench@example.com',
    '-t',
    options.to,
    `127.0.0.1:${options.port}`,
  ];
  const started = performance.now();
  const child = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    child.once('exit', (exitCode) => {
      resolve({ elapsedMs: performance.now() - started, exitCode, complaints: stderr.split('\n').filter((line) => line.trim() !== '') });
    });
  });
}

export interface SmtpSink {
  readonly port: number;
  stop(): Promise<void>;
}

/** smtp-sink on a free port: answers every mail 250 without storing it. */
export async function startSmtpSink(port: number): Promise<SmtpSink> {
  // As root smtp-sink insists on dropping privileges to a user of its choice.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn(SMTP_SINK, [...user, `127.0.0.1:${port}`, String(SINK_BACKLOG)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  while (!(await portOpen(port))) await new Promise((resolve) => setTimeout(resolve, 20));
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The benchmarks' gateway as issue #15 measured it: a local nginx answering `ID:…`. Debian's nginx
 * with libnginx-mod-http-echo, in a config of its own in a temp directory (127.0.0.1 on a free port,
 * `daemon off` under this process, its logs and pid file in that directory, nothing of /etc/nginx),
 * answers the relay's IntelliSoftware send (`POST /smsgateway/sendmsg.aspx`) `ID:$request_id` — one
 * `ID:` line for the request, which the adapter reads as every recipient's id, as the real gateway's
 * single-recipient answer — and validates nothing (the simulator's checks are the tests' business).
 * The access log holds each request's `$msec` and form body: the SMS counted and timed, read only when
 * the bench asks. Prints {url, nginx: {pid, dir}}, then answers the bench (gateway-protocol.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Arrival, answerBench } from './gateway-protocol.ts';
import { ECHO_MODULE, NGINX } from './gateway-nginx-install.ts';
import { freePort, portOpen } from './processes.ts';

/** util-linux's setpriv, for nginx's parent-death signal. */
const SETPRIV = '/usr/bin/setpriv';

const SEND_PATH = '/smsgateway/sendmsg.aspx';
/**
 * The body must stay in memory for `$request_body` to reach the log: a body nginx would spool to a file
 * logs as empty, so the buffer is the largest body allowed. 64 KiB as the simulator's form limit: 100
 * numbers and 6 parts of UCS-2 hex fit.
 */
const BODY_LIMIT = '64k';
/**
 * The relay keeps its keep-alive connections to the gateway open, and so does the simulator (Node's
 * server has no request limit): nginx's default of 1,000 requests per connection would add a
 * reconnect per 1,000 SMS that the simulator's runs do not have.
 */
const REQUESTS_PER_CONNECTION = 1_000_000;
/** How long nginx has to listen before the start counts as failed. */
const START_PATIENCE_MS = 5_000;
/** Bytes read from the access log at once when the bench asks. */
const LOG_READ_CHUNK = 1 << 20;

/**
 * One worker: an event loop that takes the relay's few keep-alive connections; a second would only be
 * one more process on the bench's two cores. The echo module reads the body (`echo_read_request_body`)
 * so that `$request_body` is set: nginx's core reads it only for a proxy or FastCGI pass, and njs or
 * Lua would run a script per request. Buffer-less access log: each line is written at the request's end.
 * Every path nginx would default to under /var (logs, temp files) is set into the directory, so that it
 * runs without root and writes nothing outside it.
 */
function nginxConfig(dir: string, port: number): string {
  return `load_module ${ECHO_MODULE};
daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  client_body_buffer_size ${BODY_LIMIT};
  client_max_body_size ${BODY_LIMIT};
  client_body_in_single_buffer on;
  keepalive_requests ${REQUESTS_PER_CONNECTION};
  log_format sms '$msec $request_body';
  server {
    listen 127.0.0.1:${port};
    location = ${SEND_PATH} {
      echo_read_request_body;
      default_type 'text/plain; charset=utf-8';
      echo -n 'ID:$request_id';
      access_log ${join(dir, 'sms.log')} sms;
    }
    location / { return 404; }
  }
}
`;
}

/** The SMS of one access log line (`<msec> <form body>`): one per recipient, its text decoded as the gateway would. */
function arrivalsOfLine(line: string): Arrival[] {
  const space = line.indexOf(' ');
  const receivedAtMs = Math.round(Number(line.slice(0, space)) * 1000);
  const form = new URLSearchParams(line.slice(space + 1));
  const hex = form.get('hex');
  const text =
    form.get('type') === '2' && hex ? String.fromCharCode(...(hex.match(/.{4}/g) ?? []).map((unit) => Number.parseInt(unit, 16))) : (form.get('text') ?? '');
  const recipients = (form.get('to') ?? '').split(',').filter((number) => number.trim() !== '');
  return recipients.map(() => [text, receivedAtMs] as const);
}

/** Reads the lines appended to `path` since the last call (a line being written waits for the next). */
function logFollower(path: string): () => Arrival[] {
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(LOG_READ_CHUNK);
  let position = 0;
  let partial = '';
  return () => {
    const arrivals: Arrival[] = [];
    for (let read = readSync(fd, buffer, 0, buffer.length, position); read > 0; read = readSync(fd, buffer, 0, buffer.length, position)) {
      position += read;
      const lines = (partial + buffer.toString('latin1', 0, read)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) arrivals.push(...arrivalsOfLine(line));
    }
    return arrivals;
  };
}

async function waitUntilListening(nginx: ChildProcess, port: number): Promise<void> {
  const deadline = performance.now() + START_PATIENCE_MS;
  while (!(await portOpen(port))) {
    if (nginx.exitCode !== null || nginx.signalCode !== null) throw new Error(`nginx exited (${nginx.exitCode ?? nginx.signalCode}) before it listened`);
    if (performance.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${START_PATIENCE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'smsrelay-bench-nginx-'));
const port = await freePort();
const configPath = join(dir, 'nginx.conf');
writeFileSync(configPath, nginxConfig(dir, port));
const logPath = join(dir, 'sms.log');
// Created before nginx starts, so that the follower can open it at once (nginx appends to it).
closeSync(openSync(logPath, 'a'));
// -e: the error log from the start, before the config is read (the default, /var/log/nginx, is root's).
const nginxArgs = [NGINX, '-p', dir, '-c', configPath, '-e', join(dir, 'error.log')];
// Under util-linux's setpriv (Debian's essential util-linux), nginx gets SIGQUIT (its graceful stop)
// when this process dies, even by SIGKILL (an interrupted bench), instead of serving on as an orphan.
// setpriv execs nginx: the pid stays nginx's master.
const [command = NGINX, ...args] = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'QUIT', ...nginxArgs] : nginxArgs;
const nginx = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()));
// Answering (and stopping nginx on SIGTERM) from now on: the bench may stop this process as soon as it reads the URL.
answerBench(logFollower(logPath), async () => {
  // SIGQUIT: nginx's graceful stop, the master waits for its worker.
  if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGQUIT');
  await exited;
  rmSync(dir, { recursive: true, force: true });
});
try {
  await waitUntilListening(nginx, port);
} catch (error) {
  console.error(`gateway-nginx: ${(error as Error).message}; its error log:\n${readFileSync(join(dir, 'error.log'), { encoding: 'utf8', flag: 'a+' })}`);
  nginx.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}
console.log(JSON.stringify({ url: `http://127.0.0.1:${port}`, nginx: { pid: nginx.pid, dir } }));

/**
 * #19's benchmark: p99 from the end of DATA to the 250 at a steady 500 mails/s (short alerts over 10
 * pipelined sessions) while a console user pages through message search results, beside the same
 * paced run without the console client, alternating in every round. The user is configured as the
 * console expects (`console.users`, a hash made by the code `smsrelay hash-password` uses), signs in
 * over HTTP like a browser (form post, session cookie) and GETs `/console/messages` pages at a steady
 * rate, following "Older messages" up to PAGES_DEEP pages, then starting the search again. A page
 * not answered 200, a refused mail or a lost SMS fails the run.
 */
import { Pool } from 'undici';
import { hashPassword } from '../src/policy/passwords.ts';
import { load, percentile } from './client.ts';
import { awaitArrivals, cell, GATEWAY_ACCOUNT, gatewayCount, jsonLine, median, progress, round, runProblems } from './harness.ts';
import type { BenchPostgres } from './postgres.ts';
import { type Child, type RelayChild, relayCounters, startRelay, startTs } from './processes.ts';

export interface ConsoleOptions {
  readonly mails: number;
  readonly runs: number;
  /** Search pages the console client asks for per second. */
  readonly pagesPerSecond: number;
  readonly failures: string[];
  /** The relay on this PostgreSQL server (a fresh database) instead of SQLite. */
  readonly postgres?: BenchPostgres;
}

/** The steady load of the target's condition (#19 item 9, as #15's latency target). */
const MAILS_PER_SECOND = 500;
const SESSIONS = 10;
/** Mails in the store before the first round, so that the search has pages to walk from the start. */
const PREFILL = 2000;
/** How deep the client pages before it searches again (the console shows 50 a page). */
const PAGES_DEEP = 20;
/** What the client searches for: every bench mail's envelope sender is bench@example.com. */
const SEARCH = new URLSearchParams({ sender: '@example.com' });
const USER = 'bench';
const PASSWORD = 'bench-console-password';

interface Paging {
  /** Stops after the page in flight; resolves with every page's time (ms) and what went wrong. */
  stop(): Promise<{ latencies: number[]; problems: string[]; elapsedMs: number }>;
}

/** Signs in as a browser does: the sign-in page gives its cookie and form token; the form post answers 303 with the session cookie. */
async function signIn(pool: Pool): Promise<string> {
  const form = await pool.request({ method: 'GET', path: '/console/signin' });
  const signinCookie = ([form.headers['set-cookie']].flat()[0] ?? '').split(';')[0] ?? '';
  const token = /name="_csrf" value="([^"]+)"/.exec(await form.body.text())?.[1] ?? '';
  const response = await pool.request({
    method: 'POST',
    path: '/console/signin',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: signinCookie },
    body: new URLSearchParams({ name: USER, password: PASSWORD, next: '/console/messages', _csrf: token }).toString(),
  });
  await response.body.dump();
  const cookie = [response.headers['set-cookie']].flat()[0];
  if (response.statusCode !== 303 || !cookie) throw new Error(`console sign-in answered ${response.statusCode}${cookie ? '' : ' without a session cookie'}`);
  return cookie.split(';')[0] ?? '';
}

/** A console user paging through the search results at `perSecond` pages a second until stopped. */
async function startPaging(httpPort: number, perSecond: number): Promise<Paging> {
  const pool = new Pool(`http://127.0.0.1:${httpPort}`, { connections: 1 });
  const cookie = await signIn(pool);
  const latencies: number[] = [];
  const problems: string[] = [];
  let stopped = false;
  const started = performance.now();
  const loop = (async () => {
    let before: string | undefined;
    let depth = 0;
    for (let page = 0; !stopped; page++) {
      const wait = started + (page * 1000) / perSecond - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopped) break;
      const query = new URLSearchParams(SEARCH);
      if (before) query.set('before', before);
      const sent = performance.now();
      const response = await pool.request({ method: 'GET', path: `/console/messages?${query}`, headers: { cookie } });
      const html = await response.body.text();
      latencies.push(performance.now() - sent);
      if (response.statusCode !== 200) {
        problems.push(`console search page answered ${response.statusCode}`);
        break;
      }
      // Only the "Older messages" link carries a position in the results.
      before = depth + 1 < PAGES_DEEP ? /before=([0-9a-f-]{36})/i.exec(html)?.[1] : undefined;
      depth = before ? depth + 1 : 0;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const elapsedMs = performance.now() - started;
      await pool.close();
      return { latencies, problems, elapsedMs };
    },
  };
}

/** The relay with one console user (a viewer: reads only, as the person looking would). */
async function consoleRelay(gatewayUrl: string, postgres: BenchPostgres | undefined): Promise<RelayChild> {
  const hash = await hashPassword(PASSWORD);
  const env = { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: gatewayUrl, ...GATEWAY_ACCOUNT };
  const how = { config: `console:\n  users:\n    - name: ${USER}\n      passwordHash: "${hash}"\n      role: viewer\n` };
  return postgres ? postgres.startRelay('bench-console', env, how) : startRelay(env, how);
}

interface PacedRun {
  readonly p50To250Ms: number;
  readonly p99To250Ms: number;
  readonly pages?: number;
  readonly pagesPerSec?: number;
  readonly pageP50Ms?: number;
  readonly pageP99Ms?: number;
}

export async function consoleBench(options: ConsoleOptions) {
  const gateway = startTs('./gateway.ts');
  try {
    const { url } = await jsonLine<{ url: string }>(gateway);
    const relay = await consoleRelay(url, options.postgres);
    try {
      return await measureConsole(options, gateway, relay);
    } finally {
      await relay.stop();
    }
  } finally {
    await gateway.stop();
  }
}

/** The paced runs, alone and with the console client, alternating in every round. */
async function measureConsole(options: ConsoleOptions, gateway: Child, relay: RelayChild) {
  await load({ port: relay.smtpPort, sessions: SESSIONS, mails: PREFILL, persistent: true, pipelining: true, label: 'console-prefill' });
  await awaitArrivals(gateway, PREFILL);
  gateway.process.stdin?.write('forget\n');
  const runs = { alone: [] as PacedRun[], console: [] as PacedRun[] };
  for (let pass = 0; pass < options.runs; pass++) {
    progress(`console paced run ${pass + 1}/${options.runs}`);
    for (const mode of ['alone', 'console'] as const) {
      const label = `paced-${mode}-${pass}`;
      const before = await relayCounters(relay);
      const arrivedBefore = await gatewayCount(gateway);
      let paging: Paging | undefined;
      try {
        paging = mode === 'console' ? await startPaging(relay.httpPort, options.pagesPerSecond) : undefined;
      } catch (error) {
        options.failures.push(`console bench, ${label}: ${(error as Error).message}`);
        console.error(`REFUSED TO REPORT: console bench, ${label}: ${(error as Error).message}`);
        continue;
      }
      const run = await load({
        port: relay.smtpPort,
        sessions: SESSIONS,
        mails: options.mails,
        persistent: true,
        pipelining: true,
        label,
        perSecond: MAILS_PER_SECOND,
      });
      const pages = await paging?.stop();
      const arrived = (await awaitArrivals(gateway, arrivedBefore + options.mails)) - arrivedBefore;
      gateway.process.stdin?.write('forget\n');
      const problems = [...runProblems(options.mails, run.refusals, [{ before, after: await relayCounters(relay) }], arrived), ...(pages?.problems ?? [])];
      if (problems.length > 0) {
        options.failures.push(`console bench, ${label}: ${problems.join('; ')}`);
        console.error(`REFUSED TO REPORT: console bench, ${label}: ${problems.join('; ')}`);
        continue;
      }
      runs[mode].push({
        p50To250Ms: percentile(run.latencies, 50),
        p99To250Ms: percentile(run.latencies, 99),
        ...(pages
          ? {
              pages: pages.latencies.length,
              pagesPerSec: round((pages.latencies.length * 1000) / pages.elapsedMs),
              pageP50Ms: percentile(pages.latencies, 50),
              pageP99Ms: percentile(pages.latencies, 99),
            }
          : {}),
      });
    }
  }
  const summary = (list: readonly PacedRun[]) => {
    const pick = (key: keyof PacedRun) => {
      const values = list.map((run) => run[key]).filter((value): value is number => value !== undefined);
      return list.length === options.runs && values.length ? round(median(values)) : undefined;
    };
    return {
      reported: list.length === options.runs,
      p50To250Ms: pick('p50To250Ms'),
      p99To250Ms: pick('p99To250Ms'),
      pages: pick('pages'),
      pagesPerSec: pick('pagesPerSec'),
      pageP50Ms: pick('pageP50Ms'),
      pageP99Ms: pick('pageP99Ms'),
    };
  };
  return {
    store: options.postgres ? 'PostgreSQL' : 'SQLite',
    mailsPerSecond: MAILS_PER_SECOND,
    pagesPerSecond: options.pagesPerSecond,
    alone: summary(runs.alone),
    withConsole: summary(runs.console),
  };
}

/** The two paced rows and the target (#19: p99 ≤ 25 ms while a client pages). */
export function printConsole(result: Awaited<ReturnType<typeof measureConsole>>): void {
  console.log(`\nat a steady ${result.mailsPerSecond} mails/s (${result.store}), end of DATA → 250, with and without a console client paging search results:`);
  console.log('| run | p50 ms | p99 ms | console pages | pages/s | page p50 / p99 ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, row] of [
    ['without the console', result.alone],
    [`a client paging (${result.pagesPerSecond}/s asked)`, result.withConsole],
  ] as const)
    console.log(
      `| ${name} | ${row.reported ? cell(row.p50To250Ms) : 'REFUSED'} | ${cell(row.p99To250Ms)} | ${cell(row.pages)} | ${cell(row.pagesPerSec)} | ${row.pageP50Ms === undefined ? '—' : `${row.pageP50Ms} / ${row.pageP99Ms}`} |`,
    );
  const p99 = result.withConsole.p99To250Ms;
  if (p99 !== undefined) console.log(`p99 while a client pages: ${p99} ms (#19: ≤ 25 ms) — ${p99 <= 25 ? 'met' : 'MISSED'}`);
}

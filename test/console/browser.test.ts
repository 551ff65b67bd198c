// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright locators, not DOM nodes: innerText() is what a person sees (textContent would include hidden text)
/**
 * The web console in a real browser (issue #19): Playwright (playwright-core) driving Debian's
 * Chromium against a relay on loopback, with its simulator as the gateway. One browser and one relay
 * for the file. Without Chromium the file skips loudly; under CI=true that is a failure.
 * Screenshots of each page (desktop and phone) go to test-output/console/.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { status } from '../../src/admin.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import type { IntelliSoftwareSimulator } from '../../src/simulators/intellisoftware.ts';
import { maskNumber } from '../../src/sms/numbers.ts';
import { freshDatabase, describeOnPostgres } from '../helpers/postgres.ts';
import { postgresProxy } from '../helpers/postgres-proxy.ts';
import { maildirMessages, removeDir, startTestRelay, type TestRelay, waitFor } from '../helpers/relay.ts';
import { message, queuedId, SmtpDialog, sendMail } from '../helpers/smtp.ts';
import { mail } from '../helpers/store.ts';

const OUTPUT = new URL('../../test-output/console/', import.meta.url).pathname;
const DOCS = new URL('../../docs/', import.meta.url).pathname;
const AXE = new URL('../../node_modules/axe-core/axe.min.js', import.meta.url).pathname;
const PASSWORD = 'correct horse battery';
/** SMSRELAY_TEST_UPDATE_SCREENSHOTS=1 also refreshes docs/console-*.png (committed for the README); a plain run leaves docs/ alone. */
const UPDATE_DOCS = process.env.SMSRELAY_TEST_UPDATE_SCREENSHOTS === '1';
const VIEWPORTS = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } } as const;
/** Debian's Chromium, as the README says; Playwright's own download cannot be reached from here. */
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function chromiumPath(): string | undefined {
  if (process.env.SMSRELAY_TEST_CHROMIUM) return existsSync(process.env.SMSRELAY_TEST_CHROMIUM) ? process.env.SMSRELAY_TEST_CHROMIUM : undefined;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const executable = chromiumPath();
if (!executable) {
  process.stderr.write("\n*** NO CHROMIUM: THE CONSOLE BROWSER TESTS ARE SKIPPED *** install Debian's chromium or set SMSRELAY_TEST_CHROMIUM\n\n");
  if (process.env.CI === 'true') throw new Error('CI=true and no Chromium for the console browser tests (apt-get install -y chromium)');
}

/** When the file began: the time the browser tests add to `npm test` is printed at its end. */
const fileStarted = performance.now();

describe('web console in a real browser', { skip: executable ? false : 'no Chromium (see docs/console.md)' }, () => {
  let browser: Browser;

  before(async () => {
    const launched = Date.now();
    browser = await chromium.launch({ executablePath: executable, headless: true, args: LAUNCH_ARGS });
    const playwright = JSON.parse(readFileSync(new URL('../../node_modules/playwright-core/package.json', import.meta.url), 'utf8')) as { version: string };
    process.stderr.write(
      `console browser tests: playwright-core ${playwright.version}, Chromium ${browser.version()} (${executable}), launched in ${Date.now() - launched} ms\n`,
    );
    mkdirSync(OUTPUT, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    process.stderr.write(`console browser tests: ${((performance.now() - fileStarted) / 1000).toFixed(1)} s in all (both stores)\n`);
  });

  // Every scenario and every page (screenshots, accessibility) on SQLite; the store-dependent core scenarios once more on PostgreSQL.
  describe('on SQLite', () =>
    scenarios(
      () => browser,
      async () => ({}),
      true,
    ));
  describe('an overview left open', () => {
    let relay: TestRelay;
    before(async () => {
      const hash = await hashPassword(PASSWORD);
      // The shortest idle timeout: its last use is saved every tenth of it (6 s), so a refresh 15 s on would save it.
      relay = await startTestRelay({ console: { sessionIdleTimeout: '1m', users: [{ name: 'olivia', passwordHash: hash, role: 'operator' }] } });
    });
    after(async () => {
      await relay?.stop();
      if (relay) removeDir(relay.dir);
    });

    test('its own refresh is no use of the session (its last use stays, so it idles out); a reload by the person is one', async () => {
      const base = `http://127.0.0.1:${relay.relay.httpPort}`;
      const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
      try {
        const page = await context.newPage();
        await signInAs(page, base, 'olivia');
        // The session cookie carries its last use as saved: it is renewed whenever the store saves a new one.
        const cookie = async () => (await context.cookies()).find((item) => item.name === 'smsrelay_console')?.value;
        const signedIn = await cookie();
        // The page's script fetches it again (every 15 s): the only fetch the page makes.
        const refreshed = await page.waitForResponse((response) => response.request().resourceType() === 'fetch', { timeout: 30_000 });
        assert.equal(refreshed.status(), 200);
        assert.equal(await refreshed.headerValue('set-cookie'), null, 'no last use saved');
        assert.equal(await cookie(), signedIn);
        await page.reload();
        assert.notEqual(await cookie(), signedIn, 'a page the person opens is a use, saved');
      } finally {
        await context.close();
      }
    });

    test('the refresh mark counts only on a GET of the overview: another page or a form sent with it is a use', async () => {
      const base = `http://127.0.0.1:${relay.relay.httpPort}`;
      const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
      try {
        const page = await context.newPage();
        await signInAs(page, base, 'olivia');
        const cookie = async () => (await context.cookies()).find((item) => item.name === 'smsrelay_console')?.value;
        // Past the tenth of the idle timeout (6 s), a use is saved: a renewed cookie shows it.
        const used = async (what: string, request: { path: string; method: 'GET' | 'POST' }) => {
          await page.waitForTimeout(6_500);
          const before = await cookie();
          const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
          const status = await page.evaluate(
            async ({ path, method, csrf }) =>
              (
                await fetch(path, {
                  method,
                  credentials: 'same-origin',
                  redirect: 'manual',
                  headers: { 'x-console-refresh': '1', ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
                  ...(method === 'POST' ? { body: new URLSearchParams({ _csrf: csrf, action: 'hold', target: 'all' }).toString() } : {}),
                })
              ).status,
            { ...request, csrf },
          );
          assert.ok(status === 200 || status === 0, `${what}: answered ${status}`);
          assert.notEqual(await cookie(), before, `${what} with the refresh mark is a use, saved`);
        };
        await used('another page', { path: '/console/queue', method: 'GET' });
        await used('a form', { path: '/console/queue', method: 'POST' });
      } finally {
        await context.close();
      }
    });
  });
  describe("the overview's charts at a thousand SMS a minute", () => {
    let relay: TestRelay;
    /** More than a thousand in one minute: the axis, the bars' tooltips and the totals each write a count with a separator. */
    const SENT = 1_500;
    before(async () => {
      const hash = await hashPassword(PASSWORD);
      // Its dispatcher's clock stopped at 0: the test records the sends itself, at once.
      relay = await startTestRelay({ console: { users: [{ name: 'olivia', passwordHash: hash, role: 'operator' }] } }, {}, undefined, {
        dispatchClock: () => 0,
        idleWaitMs: 10 * 60_000,
      });
      const { store } = relay.relay;
      const numbers = Array.from({ length: SENT }, (_, index) => `+4477009${String(index).padStart(5, '0')}`);
      await store.acceptMail(mail(numbers, { id: randomUUID(), receivedAt: Date.now() }));
      for (;;) {
        const now = Date.now();
        const batches = await store.claimDueSms({ owner: 'test', now, leaseUntil: now + 60_000, maxBatches: 10, batchSize: 500 });
        const sms = batches.flatMap((batch) => batch.sms);
        if (sms.length === 0) break;
        await store.recordSmsOutcomes(sms.map((item, index) => ({ smsId: item.id, kind: 'sent', providerId: `P${item.id}-${index}` })));
      }
    });
    after(async () => {
      await relay?.stop();
      if (relay) removeDir(relay.dir);
    });

    test('counts are written as the rest of the page writes them (1,500), and at 390 px every label keeps its size and none touches another', async () => {
      const base = `http://127.0.0.1:${relay.relay.httpPort}`;
      const context = await browser.newContext({ viewport: VIEWPORTS.phone });
      try {
        const page = await context.newPage();
        await signInAs(page, base, 'olivia');
        assert.match(await page.locator('.legend').innerText(), /sent: 1,500 last hour, 1,500 in 7 days/);
        assert.equal(await page.locator('#hour-desc').textContent(), 'In total: 1,500 sent, 0 delivered, 0 failed');
        assert.equal(await page.locator('#week-desc').textContent(), 'In total: 1,500 sent, 0 delivered, 0 failed');
        assert.match((await page.locator('svg.chart rect title').allTextContents()).join('|'), /: 1,500 sent/);
        for (const viewport of [VIEWPORTS.phone, { width: 360, height: 800 }, VIEWPORTS.desktop]) {
          await page.setViewportSize(viewport);
          const charts = (await page.evaluate(() => {
            const scope = globalThis as unknown as { document: { querySelectorAll(selector: string): Iterable<Element> } };
            type Element = { querySelectorAll(selector: string): Iterable<Element>; textContent: string | null; getBoundingClientRect(): Box };
            return [...scope.document.querySelectorAll('svg.chart')].map((chart) => ({
              box: chart.getBoundingClientRect(),
              labels: [...chart.querySelectorAll(':scope > text')]
                .map((label) => ({ text: label.textContent ?? '', box: label.getBoundingClientRect() }))
                .filter((label) => label.box.width > 0),
            }));
          })) as Array<{ box: Box; labels: Array<{ text: string; box: Box }> }>;
          assert.equal(charts.length, 2);
          for (const chart of charts) {
            const texts = chart.labels.map((label) => label.text);
            assert.ok(texts.includes('1,000') && texts.includes('2,000'), `${viewport.width} px: ${texts.join(' ')}`);
            assert.ok(
              texts.filter((text) => /^\d\d[:-]\d\d$/.test(text)).length >= 3,
              `${viewport.width} px: a few times or days on the axis: ${texts.join(' ')}`,
            );
            for (const [index, label] of chart.labels.entries()) {
              // 11 px type: a character at least 5 px wide and the line at least 10 px tall, as on a desktop (not squeezed to 3 px).
              assert.ok(
                label.box.width >= label.text.length * 5 && label.box.height >= 10,
                `${viewport.width} px: "${label.text}" ${label.box.width}x${label.box.height}`,
              );
              assert.ok(
                label.box.left >= chart.box.left - 0.5 && label.box.right <= chart.box.right + 0.5,
                `${viewport.width} px: "${label.text}" inside its chart`,
              );
              for (const other of chart.labels.slice(index + 1)) {
                const apart =
                  label.box.right <= other.box.left ||
                  other.box.right <= label.box.left ||
                  label.box.bottom <= other.box.top ||
                  other.box.bottom <= label.box.top;
                assert.ok(apart, `${viewport.width} px: "${label.text}" and "${other.text}" overlap`);
              }
            }
          }
        }
        await page.setViewportSize(VIEWPORTS.phone);
        await page.screenshot({ path: `${OUTPUT}overview-charts-phone.png`, fullPage: true });
      } finally {
        await context.close();
      }
    });
  });
  describe('SMS another relay leases, seen with a clock ahead, on SQLite', () =>
    leasedScenario(
      () => browser,
      async () => ({}),
    ));
  describeOnPostgres('SMS another relay leases, seen with a clock ahead, on PostgreSQL', async () => {
    leasedScenario(
      () => browser,
      async () => ({ SMSRELAY_DATABASE_URL: (await freshDatabase()) ?? '' }),
    );
  });
  describeOnPostgres('on PostgreSQL', async () => {
    scenarios(
      () => browser,
      async () => ({ SMSRELAY_DATABASE_URL: (await freshDatabase()) ?? '' }),
      false,
    );
  });
  describeOnPostgres('an overview left open while the database stops answering', async (url) => {
    test('the refresh says what the relay answers (the store unavailable, nothing lost), marks the figures stale, and clears once the store is back', {
      timeout: 120_000,
    }, async () => {
      const proxy = await postgresProxy(url);
      const hash = await hashPassword(PASSWORD);
      const relay = await startTestRelay(
        { console: { users: [{ name: 'olivia', passwordHash: hash, role: 'operator' }] } },
        { SMSRELAY_DATABASE_URL: proxy.url },
      );
      const base = `http://127.0.0.1:${relay.relay.httpPort}`;
      const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
      try {
        const page = await context.newPage();
        // The page's 15 s timer, run by the test's clock; the relay's answers real.
        await page.clock.install();
        await signInAs(page, base, 'olivia');
        const notice = page.locator('main [role=alert]');
        proxy.silence();
        await page.clock.runFor(15_000);
        await notice.filter({ hasText: 'STORE_UNAVAILABLE' }).waitFor({ timeout: 60_000 });
        const said = await notice.innerText();
        assert.match(
          said,
          /^Since \d\d:\d\d:\d\d UTC the relay answers \(HTTP 503, STORE_UNAVAILABLE\): Temporary local problem: the message store is unavailable/,
        );
        assert.match(said, /Nothing stored is lost; meanwhile mail and webhooks the relay cannot store are refused with a temporary error/);
        assert.doesNotMatch(said, /not reachable/, 'the relay answered');
        // Dispatch "running", the gateway "up": what the page knew, each section said to be stale.
        const headings = await page.locator('main section h2').allInnerTexts();
        assert.ok(headings.length >= 3);
        for (const heading of headings) assert.match(heading, /\(stale: as of the last refresh that worked\)$/);
        assert.equal(await page.locator('main section:not(.stale)').count(), 0);
        proxy.heal();
        await page.clock.runFor(15_000);
        await notice.waitFor({ state: 'detached', timeout: 60_000 });
        assert.equal(await page.locator('main .stale, main .stale-mark').count(), 0);
        assert.match(await page.locator('main').innerText(), /SMS queued/);
      } finally {
        await context.close();
        proxy.heal();
        await relay.stop();
        await proxy.close();
        removeDir(relay.dir);
      }
    });
  });
});

/** Opens the overview at `base` and signs in on the sign-in page it leads to, as `name`, back on the overview. */
async function signInAs(page: Page, base: string, name: string): Promise<void> {
  await page.goto(`${base}/console`);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/console`);
}

/** A label's or chart's box on the page, as getBoundingClientRect gives it (CSS pixels). */
type Box = { left: number; right: number; top: number; bottom: number; width: number; height: number };

/** How far the console's clock runs ahead in leasedScenario: past the lease of the SMS being sent. */
const CONSOLE_AHEAD_MS = 10 * 60_000;

/**
 * SMS other relays lease, on a relay whose console clock runs CONSOLE_AHEAD_MS ahead (its dispatcher's clock stopped at 0,
 * so that it claims nothing itself): one being sent (a 5-minute lease), one whose relay stopped before the answer (its
 * lease ended, its owner still named). The pages judge each lease as the store does, not by the console's clock.
 */
function leasedScenario(browserOf: () => Browser, environment: () => Promise<Record<string, string>>): void {
  let relay: TestRelay;
  before(async () => {
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay(
      { sms: { defaultRegion: 'GB' }, console: { users: [{ name: 'olivia', passwordHash: hash, role: 'operator' }] } },
      await environment(),
      undefined,
      // Its dispatcher wakes only when told (no idle poll), so that it cannot claim between the test's claims and its pause.
      { dispatchClock: () => 0, idleWaitMs: 10 * 60_000, consoleClock: () => Date.now() + CONSOLE_AHEAD_MS },
    );
  });
  after(async () => {
    await relay?.stop();
    if (relay) removeDir(relay.dir);
  });

  test('an SMS being sent shows so and its Retry and Delete say why nothing changed; one cut off or never tried gets no Retry on the message page', async () => {
    const { store } = relay.relay;
    const sending = mail(['+447700900631'], { id: randomUUID(), receivedAt: Date.now() });
    const cutOff = mail(['+447700900632', '+447700900633'], { id: randomUUID(), receivedAt: Date.now() });
    const claimAs = async (owner: string, leaseMs: number) => {
      const now = Date.now();
      assert.equal((await store.claimDueSms({ owner, now, leaseUntil: now + leaseMs, maxBatches: 1, batchSize: 1 })).length, 1);
    };
    await store.acceptMail(sending);
    await store.acceptMail(cutOff);
    // The wake the mails sent the dispatcher has passed (it found nothing due by its clock) before the claims, and dispatch is
    // paused once they are made: on PostgreSQL an ended lease is due by the database's clock, and the relay would take it over.
    await setTimeout(500);
    await claimAs('relay-b', 5 * 60_000);
    await claimAs('relay-gone', 1);
    await store.setDispatchPaused(true, Date.now());
    await setTimeout(20);
    const base = `http://127.0.0.1:${relay.relay.httpPort}`;
    const context = await browserOf().newContext({ viewport: VIEWPORTS.desktop });
    try {
      const page = await context.newPage();
      await signInAs(page, base, 'olivia');
      const row = (number: string) => page.locator('tbody tr', { hasText: `+${number}` });
      await page.goto(`${base}/console/queue`);
      assert.match(await row('447700900631').innerText(), /being sent \(attempt 1\), its answer due by \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
      await row('447700900631').getByRole('button', { name: 'Retry' }).click();
      assert.match(
        await page.getByRole('status').innerText(),
        /^retry: 0 queued SMS changed; 1 being sent, not retried: the gateway may have it already, and its answer decides what comes next \(due by [^)]+ UTC\)$/,
      );
      const refused = page.waitForResponse((response) => response.request().method() === 'POST');
      await row('447700900631').getByRole('button', { name: 'Delete' }).click();
      assert.equal((await refused).status(), 409);
      assert.match(await page.locator('main').innerText(), /delete: 1 being sent, not deleted/);
      await page.goto(`${base}/console/queue`);
      await row('447700900632').getByRole('button', { name: 'Retry' }).click();
      assert.match(
        await page.getByRole('status').innerText(),
        /^retry: 0 queued SMS changed; 1 due already, not retried: the relay sending it stopped before the answer/,
      );
      await page.goto(`${base}/console/messages/${sending.id}`);
      assert.match(await page.locator('tbody').innerText(), /queued, being sent \(attempt 1\)/);
      assert.deepEqual(await page.locator('form.actions button').allInnerTexts(), ['Hold'], 'neither Retry nor Delete while it is being sent');
      await page.goto(`${base}/console/messages/${cutOff.id}`);
      // Neither the one cut off nor the one never tried waits for a later attempt: both are due already, and no Retry shows.
      assert.deepEqual(await page.locator('form.actions button').allInnerTexts(), ['Hold all 2 SMS', 'Delete all 2 SMS']);
      assert.deepEqual(
        (await store.smsOf(sending.id)).map((sms) => sms.status),
        ['queued'],
        'not deleted',
      );
    } finally {
      await context.close();
    }
  });
}

/**
 * The console's scenarios against one relay. `full`: also every page's screenshots (desktop and phone)
 * and axe-core's check; the PostgreSQL run repeats only the scenarios (the pages render alike).
 */
function scenarios(browserOf: () => Browser, environment: () => Promise<Record<string, string>>, full: boolean): void {
  let relay: TestRelay;
  let base: string;

  before(async () => {
    const hash = await hashPassword(PASSWORD);
    relay = await startTestRelay(
      {
        sms: { defaultRegion: 'GB' },
        // A failed attempt waits long: only the console's "retry" sends it again within the test.
        delivery: { retryMinDelay: '10m', retryMaxDelay: '10m' },
        accounts: [{ username: 'tester', passwordHash: hash, senders: ['alerts@example.com'] }],
        console: {
          users: [
            { name: 'olivia', passwordHash: hash, role: 'operator', account: 'tester', sender: 'alerts@example.com' },
            { name: 'victor', passwordHash: hash, role: 'viewer' },
          ],
        },
      },
      await environment(),
    );
    base = `http://127.0.0.1:${relay.relay.httpPort}`;
  });

  after(async () => {
    await relay?.stop();
    if (relay) removeDir(relay.dir);
  });

  async function signedIn(name: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browserOf().newContext({ viewport: VIEWPORTS.desktop, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(`${base}/console`);
    assert.match(page.url(), /\/console\/signin\?next=/, 'no session: the page sends to sign-in');
    await page.getByLabel('User name').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/console`);
    return { context, page };
  }

  /** axe-core on the page as it is, on a desktop and on a phone (where wide tables scroll): no violations at all. */
  async function accessible(page: Page, what: string): Promise<void> {
    if (!full) return;
    await page.addScriptTag({ path: AXE });
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(viewport);
      // Runs in the page: axe-core checks the whole document it is given.
      const violations = (await page.evaluate(async () => {
        const scope = globalThis as unknown as {
          axe: { run: (context: unknown) => Promise<{ violations: Array<{ id: string; help: string; nodes: unknown[] }> }> };
          document: unknown;
        };
        return (await scope.axe.run(scope.document)).violations.map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.length})`);
      })) as string[];
      assert.deepEqual(violations, [], `${what} (${size}): accessibility violations`);
    }
    await page.setViewportSize(VIEWPORTS.desktop);
  }

  async function screenshots(page: Page, name: string): Promise<void> {
    if (!full) return;
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(viewport);
      await page.screenshot({ path: `${OUTPUT}${name}-${size}.png`, fullPage: true });
    }
    await page.setViewportSize(VIEWPORTS.desktop);
  }

  test('an operator signs in, finds a mail sent over SMTP with its timeline; a gateway failure shows and the held SMS is retried and delivered', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      const control = await fetch(`${base}/simulator/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: 'error', code: 'GATEWAY_ERROR', times: 1 }),
      });
      assert.equal(control.status, 200);
      const sent = await sendMail(relay.relay.smtpPort, { from: 'nagios@example.com', to: ['447700900123@sms.localhost'], body: 'Disk full on db1' });
      const id = queuedId(sent.data);
      await waitFor('the failed attempt', async () => (await relay.relay.store.smsOf(id))[0]?.lastError);

      await page.goto(`${base}/console`);
      assert.match(await page.locator('main').innerText(), /Last gateway error[\s\S]*GATEWAY_ERROR|Last gateway error[\s\S]*\d{4}-\d\d-\d\d/);
      // GATEWAY_ERROR proves the request did not get through: the host failed, and with no other the provider is paused
      // (until a probe's answer): its next probe, not the breaker, says when the host is tried.
      assert.match(
        await page.locator('main').innerText(),
        /Provider intellisoftware\s+hosts: 127\.0\.0\.1:\d+ failed at [^,;]+ UTC; sending: paused since [^(]+\(ERR:GATEWAY_ERROR: [^)]+\); next probe/,
      );
      // An HTTP gateway's own health knows nothing of its answers: the overview says what the relay saw.
      assert.match(
        await page.locator('main').innerText(),
        /Gateway\s+intellisoftware \(simulator\) at 127\.0\.0\.1:\d+;\s+down \(its host failed; sending is paused; the last attempt failed, none sent since\)/,
      );
      await accessible(page, 'overview');

      await page.goto(`${base}/console/messages`);
      await page.getByLabel('Number').fill('07700 900123');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.locator(`a[href="/console/messages/${id}"]`).click();
      await page.waitForURL(`${base}/console/messages/${id}`);
      const timeline = await page.locator('.timeline').innerText();
      assert.match(timeline, /accepted/);
      assert.match(timeline, /deferred/);
      assert.match(await page.locator('main').innerText(), /Disk full on db1/);

      await page.getByRole('button', { name: 'Retry now' }).click();
      await page.locator('[role=status]').waitFor();
      await waitFor('the retried SMS at the gateway', () => relay.relay.simulator?.records.some((sms) => sms.text === 'Disk full on db1'));
      await waitFor('the delivery report', async () => (await relay.relay.store.smsOf(id))[0]?.delivery === 'delivered');
      await page.goto(`${base}/console/messages/${id}`);
      const after = await page.locator('.timeline').innerText();
      assert.match(after, /operator retry: by olivia from 127\.0\.0\.1/, 'the action is in the timeline with the user');
      assert.equal(after.match(/retry/g)?.length, 1, 'one line for the retry, not one by the operator and one by the console');
      assert.match(after, /delivery report: delivered/);
      await accessible(page, 'message timeline');
      await screenshots(page, 'timeline');
      if (full && UPDATE_DOCS) copyFileSync(`${OUTPUT}timeline-desktop.png`, `${DOCS}console-timeline.png`);

      await page.goto(`${base}/console`);
      // The counts are committed with the delivery report the test waited for; looked at again in case a refresh lags.
      await waitFor('the chart counting the SMS', async () => {
        await page.goto(`${base}/console`);
        return /sent: 1 last hour, 1 in 7 days[\s\S]*delivered: 1 last hour/.test(await page.locator('.legend').innerText());
      });
      assert.match(await page.locator('main').innerText(), /Gateway\s+intellisoftware \(simulator\) at 127\.0\.0\.1:\d+;\s+up\n/, 'up again once an SMS went');
      await screenshots(page, 'overview');
      if (full && UPDATE_DOCS) copyFileSync(`${OUTPUT}overview-desktop.png`, `${DOCS}console-overview.png`);
    } finally {
      await context.close();
    }
  });

  test('an undeliverable reply is rerouted to a mailbox from the queue page and arrives', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      relay.relay.simulator?.reply('447700900555', 'who is this?');
      await waitFor('the undeliverable reply', async () => (await relay.relay.store.undeliverableInbound(10)).length > 0);
      await page.goto(`${base}/console/queue`);
      await accessible(page, 'queue');
      // A refused address is said in the form's words (its label), not the CLI's command.
      await page.getByLabel('Reroute to mailbox').fill('447700900123@sms.localhost');
      await page.getByRole('button', { name: 'Reroute' }).click();
      assert.match(
        await page.locator('main').innerText(),
        /^Reroute to mailbox: "447700900123@sms\.localhost" is at the relay's own SMS domain sms\.localhost: a mail there comes back to this relay/m,
      );
      await page.goto(`${base}/console/queue`);
      await page.getByLabel('Reroute to mailbox').fill('oncall@example.com');
      await page.getByRole('button', { name: 'Reroute' }).click();
      assert.match(await page.locator('[role=status]').innerText(), /queued for oncall@example\.com/);
      // Shown once: the notice leaves the address, so a reload (or a visit later) cannot show it above a page it no longer fits.
      await page.waitForURL(`${base}/console/queue`);
      await page.reload();
      assert.equal(await page.locator('[role=status]').count(), 0, 'no notice after a reload');
      await page.getByRole('button', { name: 'Pause dispatch' }).click();
      assert.match(
        await page.locator('[role=status]').innerText(),
        /^dispatch paused: queued SMS stay queued until "Resume dispatch"$/,
        'the button, not a CLI command',
      );
      await page.getByRole('button', { name: 'Resume dispatch' }).click();
      assert.equal(await page.locator('[role=status]').innerText(), 'dispatch resumed');
      await page.waitForURL(`${base}/console/queue`);
      await page.getByRole('button', { name: 'Pause dispatch' }).waitFor();
      await page.reload();
      assert.equal(await page.locator('[role=status]').count(), 0, '"dispatch resumed" shows no more');
      assert.match(await page.locator('main').innerText(), /Dispatch: running\n/);
      await waitFor('the rerouted mail', () =>
        maildirMessages(relay.maildir).some((mail) => mail.includes('oncall@example.com') && mail.includes('who is this?')),
      );
      await screenshots(page, 'queue');
      await page.goto(`${base}/console/conversations`);
      await page.locator('.conversations a').first().click();
      assert.match(await page.locator('.chat').innerText(), /who is this\?/);
      assert.match(await page.locator('.chat').innerText(), /mailed to oncall@example\.com/);
      await accessible(page, 'conversation');
      await screenshots(page, 'conversation');
      await page.goto(`${base}/console/conversations`);
      await accessible(page, 'conversations');
      await screenshots(page, 'conversations');
    } finally {
      await context.close();
    }
  });

  test("a queue row's Retry, Hold and Delete act on that row's SMS only; the message page's buttons say how many SMS they take", async () => {
    await relay.relay.store.setDispatchPaused(true, Date.now());
    const { context, page } = await signedIn('olivia');
    let made: string | undefined;
    try {
      const numbers = ['447700900601', '447700900602', '447700900603'];
      const sent = await sendMail(relay.relay.smtpPort, {
        from: 'nagios@example.com',
        to: numbers.map((number) => `${number}@sms.localhost`),
        body: 'paused three',
      });
      const id = queuedId(sent.data);
      made = id;
      const states = async () => Object.fromEntries((await relay.relay.store.smsOf(id)).map((sms) => [sms.number, `${sms.status}${sms.held ? ' held' : ''}`]));
      const row = (number: string) => page.locator('tbody tr', { hasText: `+${number}` });
      await page.goto(`${base}/console/queue`);
      await row('447700900602').getByRole('button', { name: 'Hold' }).click();
      assert.equal(await page.getByRole('status').innerText(), 'hold: 1 queued SMS changed');
      assert.deepEqual(await states(), { '+447700900601': 'queued', '+447700900602': 'queued held', '+447700900603': 'queued' });
      assert.match(await row('447700900602').innerText(), /\(held\)/);
      assert.doesNotMatch(await row('447700900601').innerText(), /\(held\)/);
      await row('447700900603').getByRole('button', { name: 'Delete' }).click();
      assert.equal(await page.getByRole('status').innerText(), 'delete: 1 queued SMS changed');
      assert.deepEqual(await states(), { '+447700900601': 'queued', '+447700900602': 'queued held', '+447700900603': 'deleted' });
      await row('447700900602').getByRole('button', { name: 'Release' }).click();
      assert.match(await page.getByRole('status').innerText(), /^release: 1 queued SMS changed\n/);

      // The message page acts on the message's SMS together, and its buttons say how many.
      await page.goto(`${base}/console/messages/${id}`);
      const buttons = await page.locator('form.actions button').allInnerTexts();
      // Never tried, they are due already (dispatch is paused): no Retry, which would change nothing.
      assert.deepEqual(buttons, ['Hold all 2 SMS', 'Delete all 2 SMS']);
      const timeline = await page.locator('.timeline').innerText();
      assert.match(timeline, /operator delete \(\+447700900603\): by olivia/);
      assert.doesNotMatch(timeline, /operator delete \(\+44770090060[12]\)/);
      await page.getByRole('button', { name: 'Delete all 2 SMS' }).click();
      assert.equal(await page.getByRole('status').innerText(), 'delete: 2 queued SMS changed');
    } finally {
      await context.close();
      // Failed halfway, its SMS would be sent once resumed and take the next test's one-time gateway fault: deleted first.
      if (made !== undefined) await relay.relay.store.applyQueueAction('delete', made, Date.now());
      await relay.relay.store.setDispatchPaused(false, Date.now());
    }
  });

  test('an SMS the gateway is being sent shows as being sent, and its Delete is refused (409) rather than said done', async () => {
    const control = await fetch(`${base}/simulator/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'hang', times: 1 }),
    });
    assert.equal(control.status, 200);
    const { context, page } = await signedIn('olivia');
    const sent = await sendMail(relay.relay.smtpPort, { from: 'nagios@example.com', to: ['447700900621@sms.localhost'], body: 'hang in flight' });
    const id = queuedId(sent.data);
    try {
      // The relay leased it before its request: the gateway has it, and its answer is awaited.
      await waitFor('the SMS at the gateway, unanswered', () => relay.relay.simulator?.records.some((sms) => sms.text === 'hang in flight'));
      await page.goto(`${base}/console/queue`);
      const row = page.locator('tbody tr', { hasText: '+447700900621' });
      assert.match(await row.innerText(), /being sent \(attempt 1\), its answer due by \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
      const refused = page.waitForResponse((response) => response.request().method() === 'POST');
      await row.getByRole('button', { name: 'Delete' }).click();
      assert.equal((await refused).status(), 409);
      assert.match(
        await page.locator('main').innerText(),
        /delete: 1 being sent, not deleted: the gateway may have it already, and its answer decides; delete again once the attempt ends \(by \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\) if still queued/,
      );
      const [sms] = await relay.relay.store.smsOf(id);
      assert.equal(sms?.status, 'queued', 'not deleted');
      await page.goto(`${base}/console/messages/${id}`);
      assert.match(await page.locator('tbody').innerText(), /queued, being sent \(attempt 1\)/);
      assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'no Delete offered while it is being sent');
      assert.doesNotMatch(await page.locator('.timeline').innerText(), /operator delete/);
    } finally {
      await context.close();
      // The relay's own simulator is IntelliSoftware's, seen through its view (`native`: the simulator itself).
      const simulator = relay.relay.simulator as { readonly native?: IntelliSoftwareSimulator } | undefined;
      assert.equal(simulator?.native?.releaseHanging(), 1, 'the held request answered');
      // Answered now, rather than at gateway.responseTimeout: the SMS is sent, and the later scenarios see a gateway that answers.
      await waitFor('the answer taken', async () => (await relay.relay.store.smsOf(id))[0]?.status === 'sent');
    }
  });

  test('a viewer sees masked numbers and cannot act', async () => {
    const { context, page } = await signedIn('victor');
    try {
      await page.goto(`${base}/console/messages`);
      assert.equal(await page.getByLabel('Number').count(), 0, 'no search by number for a viewer');
      const listed = await page.locator('main').innerText();
      assert.ok(listed.includes(maskNumber('+447700900123')), 'the masked number is shown');
      assert.ok(!listed.includes('447700900123'), 'the full number is not');
      await page.goto(`${base}/console/queue`);
      assert.equal(await page.getByRole('button', { name: /Pause|Retry|Reroute/ }).count(), 0, 'no action buttons for a viewer');
      const csrf = await page.locator('input[name=_csrf]').first().inputValue();
      const refused = await page.request.post(`${base}/console/queue`, { form: { action: 'pause', _csrf: csrf } });
      assert.equal(refused.status(), 403);
      assert.match(await refused.text(), /Viewers can look but not act/);
      await accessible(page, 'queue as viewer');
    } finally {
      await context.close();
    }
  });

  test('signing out ends the session: its cookie no longer opens a page', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      const [cookie] = await context.cookies();
      assert.ok(cookie);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${base}/console/signin`);
      await accessible(page, 'sign-in');
      await screenshots(page, 'signin');
      const reused = await fetch(`${base}/console/queue`, {
        method: 'POST',
        headers: { cookie: `${cookie.name}=${cookie.value}`, accept: 'application/json' },
      });
      assert.equal(reused.status, 401);
      const again = await fetch(`${base}/console`, { headers: { cookie: `${cookie.name}=${cookie.value}` }, redirect: 'manual' });
      assert.equal(again.status, 303);
      const location = again.headers.get('location') ?? '';
      assert.match(location, /\/console\/signin\?next=.*ended=1/, 'signed out: ended, not expired');
      assert.match(await (await fetch(`${base}${location}`)).text(), /Your session has ended: sign in again/);
    } finally {
      await context.close();
    }
  });

  // What does not depend on the store (escaping, CSRF, the quarantine page, the dispatcher's pause) runs once, on SQLite.
  if (!full) return;

  test('an SMS text with <script> shows as text; test send goes through the account, once whatever the browser does next; settings are redacted', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      await page.goto(`${base}/console/send`);
      await accessible(page, 'test send');
      await screenshots(page, 'send');
      const text = '<script>window.__owned = 1</script><b>bold?</b>';
      await page.getByLabel('Number').fill('+447700900777');
      await page.getByLabel('Text').fill(text);
      await page.getByRole('button', { name: 'Send' }).click();
      // Post/redirect/get: the answer is the message's own page, its notice naming the message.
      await page.waitForURL(/\/console\/messages\/[0-9a-f-]{36}$/);
      const id = /messages\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? assert.fail('no message id');
      assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Test SMS accepted as ${id}: 1 part\\(s\\), gsm7`));
      await waitFor('the test SMS at the gateway', () => relay.relay.simulator?.records.some((sms) => sms.text === text));
      // A reload reads the page again; Back shows a fresh form, Forward the page: none of them posts the form again.
      await page.reload();
      await page.goBack();
      assert.match(page.url(), /\/console\/send$/);
      await page.goForward();
      await page.reload();
      // The same form sent twice (a double click that got through, a POST replayed) is sent once: the second names the first.
      await page.goto(`${base}/console/send`);
      const form = {
        _csrf: await page.locator('input[name=_csrf]').first().inputValue(),
        submission: await page.locator('input[name=submission]').inputValue(),
        to: '+447700900778',
        text: 'sent twice',
      };
      const first = await page.request.post(`${base}/console/send`, { form, maxRedirects: 0 });
      const second = await page.request.post(`${base}/console/send`, { form, maxRedirects: 0 });
      assert.equal(first.status(), 303);
      assert.equal(second.status(), 303);
      const original = /messages\/([0-9a-f-]{36})\?/.exec(first.headers().location ?? '')?.[1] ?? assert.fail('no message id');
      assert.match(second.headers().location ?? '', new RegExp(`^/console/messages/${original}\\?done=This\\+form\\+was\\+sent\\+already`));
      // A number refused for what it is: an operator sees it in full, as everywhere in the console.
      const premium = await page.request.post(`${base}/console/send`, { form: { ...form, to: '+19005550100', text: 'premium' }, maxRedirects: 0 });
      assert.ok(premium.status() >= 400 && premium.status() < 500, `refused: ${premium.status()}`);
      assert.match(await premium.text(), /\+19005550100 is a premium-rate number/);
      // A field refused as too long (a crafted form id) shows the form again with the number and text as written, as every refusal.
      const long = await page.request.post(`${base}/console/send`, { form: { ...form, submission: 'x'.repeat(5_000) }, maxRedirects: 0 });
      assert.equal(long.status(), 400);
      const refusedPage = await long.text();
      assert.match(refusedPage, /Form id \(submission\)/);
      assert.match(refusedPage, /name="to"[^>]*value="\+447700900778"/);
      assert.match(refusedPage, />sent twice<\/textarea>/);
      // A send is committed before its answer: every SMS a second post made would be listed by now. The form sent again is
      // listed to its number as a resubmission, sent once as the original.
      for (const [number, resubmissions, what] of [
        ['+447700900777', 0, 'sent once, however often the browser came back'],
        ['+447700900778', 1, 'the same form twice: sent once'],
      ] as const) {
        await page.goto(`${base}/console/messages?${new URLSearchParams({ number })}`);
        const rows = page.locator('main tbody tr');
        assert.equal(await rows.filter({ hasNotText: 'resubmission' }).count(), 1, what);
        const resent = rows.filter({ hasText: 'resubmission (sent once, as its original)' });
        assert.equal(await resent.count(), resubmissions, what);
        if (resubmissions > 0) {
          assert.match(await resent.innerText(), new RegExp(`\\${number}`), 'to the original’s number');
          assert.equal(await resent.getByRole('link', { name: 'its original' }).getAttribute('href'), `/console/messages/${original}`);
        }
      }
      await page.goto(`${base}/console/messages/${id}`);
      assert.match(await page.locator('.facts').innerText(), /<script>window\.__owned = 1<\/script><b>bold\?<\/b>/);
      assert.equal(await page.evaluate(() => (globalThis as { __owned?: number }).__owned), undefined, 'the script did not run');
      assert.equal(await page.locator('main b').count(), 0, 'no markup from the text');
      assert.match(await page.locator('.timeline').innerText(), /console test send: by olivia/);

      await page.goto(`${base}/console/settings`);
      const settings = await page.locator('pre').innerText();
      assert.match(settings, /"passwordHash": "\*\*\*"/);
      assert.doesNotMatch(settings, /scrypt\$/);
      await accessible(page, 'settings');
      await screenshots(page, 'settings');
      await page.goto(`${base}/console/messages?status=nonsense`);
      assert.match(await page.locator('[role=alert]').innerText(), /Status: expected one of queued, sent, delivered, failed/);
      await page.goto(`${base}/console/messages`);
      await accessible(page, 'messages');
      await screenshots(page, 'messages');
    } finally {
      await context.close();
    }
  });

  test('a POST without the CSRF token is refused with 403', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      const refused = await page.request.post(`${base}/console/queue`, { form: { action: 'pause' } });
      assert.equal(refused.status(), 403);
      assert.match(await refused.text(), /CSRF token/);
      assert.equal(await relay.relay.store.dispatchPausedSince(), undefined, 'nothing was paused');
    } finally {
      await context.close();
    }
  });

  test('the overview says when its refresh cannot reach the relay, until a refresh does', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      // The page's 15 s timer, run by the test's clock; the relay unreachable, then an error answer, then back.
      await page.clock.install();
      await page.goto(`${base}/console`);
      const notice = page.locator('main [role=alert]');
      await page.route(`${base}/console`, (route) => route.abort('connectionrefused'));
      await page.clock.runFor(15_000);
      await notice.filter({ hasText: 'no answer' }).waitFor();
      assert.match(await notice.innerText(), /^Relay not reachable since \d\d:\d\d:\d\d UTC \(no answer\)/);
      const since = (await notice.innerText()).slice(0, 40);
      await page.unroute(`${base}/console`);
      await page.route(`${base}/console`, (route) => route.fulfill({ status: 502, body: 'Bad Gateway' }));
      await page.clock.runFor(15_000);
      await notice.filter({ hasText: 'HTTP 502' }).waitFor();
      // An answer, but not the relay's own page: said so, since the first failure.
      assert.match(await notice.innerText(), /^No page from the relay since \d\d:\d\d:\d\d UTC: HTTP 502 came instead, not the relay's own answer/);
      assert.equal((await notice.innerText()).slice(29, 41), since.slice(26, 38), 'since the first failure');
      assert.match(page.url(), /\/console$/, 'the page stays, showing what it knew');
      // The relay's own 500, in JSON as the relay answers an error the console leaves to it: the relay's words, not a proxy's.
      const internal = { error: 'INTERNAL', message: 'Internal error: the relay failed to answer this request; it is logged' };
      await page.unroute(`${base}/console`);
      await page.route(`${base}/console`, (route) =>
        route.fulfill({ status: 500, contentType: 'application/json; charset=utf-8', body: JSON.stringify(internal) }),
      );
      await page.clock.runFor(15_000);
      await notice.filter({ hasText: 'INTERNAL' }).waitFor();
      assert.match(await notice.innerText(), new RegExp(`^Since \\d\\d:\\d\\d:\\d\\d UTC the relay answers \\(HTTP 500, INTERNAL\\): ${internal.message}`));
      // A 200 that is not this page (a proxy's or a sign-on's, no refreshing <main>): still no page from the relay, still stale.
      await page.unroute(`${base}/console`);
      await page.route(`${base}/console`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Sign on</title><p>Sign on to continue</p>' }),
      );
      await page.clock.runFor(15_000);
      await notice.filter({ hasText: 'HTTP 200' }).waitFor();
      assert.match(await notice.innerText(), /^No page from the relay since \d\d:\d\d:\d\d UTC: HTTP 200 came instead/);
      for (const heading of await page.locator('main section h2').allInnerTexts()) assert.match(heading, /\(stale: as of the last refresh that worked\)$/);
      await page.unroute(`${base}/console`);
      await page.clock.runFor(15_000);
      await notice.waitFor({ state: 'detached' });
      assert.equal(await page.locator('main .stale, main .stale-mark').count(), 0);
      assert.match(await page.locator('main').innerText(), /SMS queued/);
    } finally {
      await context.close();
    }
  });

  test('the overview sends no refresh while the last one has not come back, and refreshes again once it has', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      await page.clock.install();
      await page.goto(`${base}/console`);
      // The relay's answer held back, as behind a table another session has locked: each refresh asked is counted.
      const held: Array<() => Promise<void>> = [];
      await page.route(`${base}/console`, (route) => {
        held.push(() => route.continue());
      });
      await page.clock.runFor(15_000);
      await waitFor('the first refresh', () => held.length === 1);
      // Three more periods with that refresh in flight: none sent beside it (each would hold one of the browser's six
      // connections, and on the relay a read of its store).
      for (let period = 0; period < 3; period++) await page.clock.runFor(15_000);
      await setTimeout(300);
      assert.equal(held.length, 1, 'one refresh in flight at a time');
      await held[0]?.();
      // Once it has come back, the next period refreshes again.
      await waitFor('a refresh after the first came back', async () => {
        await page.clock.runFor(15_000);
        return held.length === 2;
      });
      await held[1]?.();
    } finally {
      await context.close();
    }
  });

  test('a webhook request the relay cannot read is in the quarantine, with its raw body', async () => {
    const received = await fetch(`${base}/webhooks/intellisoftware/mo`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ from: 'not-a-number', text: 'call +447700900999 <b>now</b>', msgid: '90000000000000000777' }).toString(),
    });
    assert.deepEqual(((await received.json()) as { status: string }).status, 'quarantined');
    const { context, page } = await signedIn('olivia');
    try {
      await page.goto(`${base}/console/queue`);
      await page
        .getByRole('link', { name: /^Request \d+$/ })
        .last()
        .click();
      await page.waitForURL(/\/console\/quarantine\/\d+$/);
      const main = await page.locator('main').innerText();
      assert.match(main, /intellisoftware mo, received .*: from is missing or not a sender/);
      assert.match(await page.locator('pre.raw').innerText(), /text=call\+%2B447700900999\+%3Cb%3Enow%3C%2Fb%3E/, 'the body as it came, as text');
      await accessible(page, 'quarantine');
      await screenshots(page, 'quarantine');
      if (full && UPDATE_DOCS) copyFileSync(`${OUTPUT}quarantine-desktop.png`, `${DOCS}console-quarantine.png`);
    } finally {
      await context.close();
    }
  });

  test('"Delete all quarantined requests" asks first and deletes only what it named; a request deleted is gone for good, its id never naming a later one', async () => {
    const unreadable = async (junk: string) => {
      const answer = await fetch(`${base}/webhooks/intellisoftware/dr`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ junk }).toString(),
      });
      assert.equal(((await answer.json()) as { status: string }).status, 'quarantined');
    };
    await unreadable('a');
    await unreadable('b');
    const { context, page } = await signedIn('olivia');
    try {
      await page.goto(`${base}/console/queue`);
      await page.getByRole('button', { name: 'Delete all quarantined requests…' }).click();
      await page.waitForURL(/\/console\/quarantine\/all\/delete/);
      const asked = /(\d+) quarantined requests are kept now/.exec(await page.locator('main').innerText());
      assert.ok(asked, 'the confirmation says how many it deletes');
      await unreadable('arrived-after-the-confirmation');
      await page.getByRole('button', { name: `Delete these ${asked[1]} requests` }).click();
      await page.waitForURL(/\/console\/queue/);
      assert.equal(
        await page.locator('[role=status]').innerText(),
        `deleted ${asked[1]} quarantined requests; 1 kept since the confirmation was shown was not deleted: read it first`,
      );
      assert.match(await page.locator('main').innerText(), /1 quarantined request, oldest first/);

      // Two tabs on the one request left: one deletes it, another request arrives, the other tab's stale Delete is a 404.
      const later = await context.newPage();
      await page.getByRole('link', { name: /^Request \d+$/ }).click();
      await later.goto(page.url());
      await page.getByRole('button', { name: 'Delete this request' }).click();
      await page.waitForURL(/\/console\/queue/);
      await unreadable('never-seen');
      const stale = later.waitForResponse((response) => response.request().method() === 'POST');
      await later.getByRole('button', { name: 'Delete this request' }).click();
      assert.equal((await stale).status(), 404);
      assert.match(await later.locator('main').innerText(), /There is no quarantined request with id \d+ any more/);
      await page.goto(`${base}/console/queue`);
      assert.match(await page.locator('main').innerText(), /1 quarantined request, oldest first/, 'the request nobody saw is kept');
    } finally {
      await context.close();
    }
  });

  test('"Delete these N requests" sent twice (a double click, a second tab) says they were deleted, not that nothing was', async () => {
    for (const junk of ['x1', 'x2', 'x3']) {
      const answer = await fetch(`${base}/webhooks/intellisoftware/dr`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ junk }).toString(),
      });
      assert.equal(((await answer.json()) as { status: string }).status, 'quarantined');
    }
    const { context, page } = await signedIn('olivia');
    try {
      await page.goto(`${base}/console/quarantine/all/delete`);
      const asked = /(\d+) quarantined requests are kept now, the newest request (\d+)/.exec(await page.locator('main').innerText());
      assert.ok(asked, 'the confirmation names how many and the newest');
      const again = await context.newPage();
      await again.goto(page.url());
      await page.getByRole('button', { name: `Delete these ${asked[1]} requests` }).click();
      assert.equal(await page.getByRole('status').innerText(), `deleted ${asked[1]} quarantined requests`);
      const second = again.waitForResponse((response) => response.request().method() === 'POST');
      await again.getByRole('button', { name: `Delete these ${asked[1]} requests` }).click();
      assert.equal((await second).status(), 303);
      assert.equal(
        await again.getByRole('status').innerText(),
        `the ${asked[1]} quarantined requests up to request ${asked[2]} were deleted already (this confirmation was sent again, or someone else deleted them): none is left to delete`,
      );
      assert.match(await again.locator('main').innerText(), /0 quarantined requests, oldest first/);
    } finally {
      await context.close();
    }
  });

  test('a time range written with an offset (a link) shows in the form as the UTC time it filters by, and the next Search keeps it', async () => {
    const { context, page } = await signedIn('olivia');
    try {
      for (const [until, shown] of [
        ['2001-01-01T12:00+01:00', '2001-01-01T11:00'],
        ['2001-01-01T11:22:06Z', '2001-01-01T11:22:06'],
      ] as const) {
        await page.goto(`${base}/console/messages?until=${encodeURIComponent(until)}`);
        assert.match(await page.locator('main').innerText(), /No messages match\./);
        assert.equal(await page.getByLabel('To (UTC)').inputValue(), shown);
        await page.getByRole('button', { name: 'Search' }).click();
        await page.waitForURL(/until=2001/);
        assert.equal(new URL(page.url()).searchParams.get('until'), shown);
        assert.match(await page.locator('main').innerText(), /No messages match\./, 'still filtered');
      }
    } finally {
      await context.close();
    }
  });

  test("a message's page names the account the mail came in under (SMTP AUTH's), and none for a mail from a trusted network", async () => {
    const dialog = await SmtpDialog.open(relay.relay.smtpPort);
    let id: string;
    try {
      await dialog.command('EHLO monitor01.example.com');
      assert.equal((await dialog.command(`AUTH PLAIN ${Buffer.from(`\0tester\0${PASSWORD}`).toString('base64')}`)).code, 235);
      assert.equal((await dialog.command('MAIL FROM:<alerts@example.com>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<447700900208@sms.localhost>')).code, 250);
      id = queuedId(await dialog.data(message({ to: ['447700900208@sms.localhost'], body: 'helo check' })));
    } finally {
      await dialog.close();
    }
    const trusted = queuedId(
      (await sendMail(relay.relay.smtpPort, { from: 'nagios@example.com', to: ['447700900209@sms.localhost'], body: 'no account' })).data,
    );
    const { context, page } = await signedIn('olivia');
    try {
      await page.goto(`${base}/console/messages/${id}`);
      assert.match(
        await page.locator('dl.facts').innerText(),
        /Accepted from\s+alerts@example\.com at 127\.0\.0\.1 \(monitor01\.example\.com\), account tester\n/,
      );
      await page.goto(`${base}/console/messages/${trusted}`);
      assert.match(await page.locator('dl.facts').innerText(), /Accepted from\s+nagios@example\.com at 127\.0\.0\.1 \(client\.example\.com\)\n/);
    } finally {
      await context.close();
    }
  });

  test('long unbroken values (a 217-character sender, a 708-character text without spaces) keep every list within its box, rows a few lines tall (at most 400 px: the clipped lines and, on a phone, the buttons or form of a row); a number or state is never broken: on a phone the table scrolls sideways', async () => {
    const store = relay.relay.store;
    const sender = `${'s'.repeat(205)}@example.com`;
    const word = 'x'.repeat(708);
    // Scheduled for tomorrow: it stays in the queue's list too.
    const id = crypto.randomUUID();
    await store.acceptMail(
      mail(['+447700900177'], {
        id,
        receivedAt: Date.now(),
        envelopeFrom: sender,
        sms: { ...mail([]).sms, text: word },
        sendAt: Date.now() + 86_400_000,
        holdUntilSendAt: true,
      }),
    );
    await store.acceptInbound({
      id: crypto.randomUUID(),
      provider: 'intellisoftware',
      providerId: 'long-mo',
      number: '+447700900177',
      text: word,
      sentAt: undefined,
      userContext: undefined,
      receivedAt: Date.now(),
      route: undefined,
    });
    await store.quarantine({ receivedAt: Date.now(), provider: 'intellisoftware', kind: 'mo', reason: word, body: Buffer.from('{') });
    const { context, page } = await signedIn('olivia');
    try {
      for (const [size, viewport] of Object.entries(VIEWPORTS)) {
        await page.setViewportSize(viewport);
        for (const path of ['/console/messages', '/console/queue']) {
          await page.goto(`${base}${path}`);
          // Runs in the page: each list's width against its box, and its tallest row or card.
          const lists = (await page.evaluate(() => {
            const doc = (
              globalThis as unknown as {
                document: {
                  querySelectorAll: (
                    selector: string,
                  ) => ArrayLike<{ clientWidth: number; scrollWidth: number; getBoundingClientRect: () => { height: number } }>;
                };
              }
            ).document;
            const boxes = Array.from(doc.querySelectorAll('.scroll, .cards'));
            const tallest = Math.max(...Array.from(doc.querySelectorAll('.scroll tbody tr, .cards li')).map((row) => row.getBoundingClientRect().height));
            // The lines each number or state in a table takes (a text node's line boxes): one, never a digit a line.
            const dom = globalThis as unknown as {
              document: { createTreeWalker: (root: unknown, show: number) => { nextNode: () => { textContent: string } | null }; createRange: () => Range };
            };
            type Range = { selectNodeContents: (node: unknown) => void; getClientRects: () => ArrayLike<unknown> };
            const whole: Record<string, number> = {};
            for (const box of Array.from(doc.querySelectorAll('.scroll tbody'))) {
              const walker = dom.document.createTreeWalker(box, 4);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const value = node.textContent.trim();
                if (!/^(\+\d{8,15}|queued|sent|delivered|failed)$/.test(value)) continue;
                const range = dom.document.createRange();
                range.selectNodeContents(node);
                whole[value] = Math.max(whole[value] ?? 0, range.getClientRects().length);
              }
            }
            return { overflow: boxes.filter((box) => box.scrollWidth > box.clientWidth).length, tallest, whole };
          })) as { overflow: number; tallest: number; whole: Record<string, number> };
          // On a phone a table of many columns scrolls in its box by design; on a desktop none needs to.
          if (size === 'desktop') assert.equal(lists.overflow, 0, `${path} (${size}): a list wider than its box`);
          else assert.ok(lists.overflow > 0, `${path} (${size}): the table scrolls sideways rather than squeezing its columns`);
          assert.ok(lists.tallest < 400, `${path} (${size}): a row or card ${lists.tallest} px tall`);
          assert.ok((lists.whole['+447700900177'] ?? 0) > 0, `${path} (${size}): the number is listed`);
          for (const [value, lines] of Object.entries(lists.whole)) assert.equal(lines, 1, `${path} (${size}): ${value} on ${lines} lines`);
        }
      }
      await page.setViewportSize(VIEWPORTS.desktop);
      await page.goto(`${base}/console/messages/${id}`);
      assert.ok((await page.locator('main').innerText()).includes(word), 'the whole text on its own page');
    } finally {
      await context.close();
    }
  });

  // Last: the pause lasts until its probe (delivery.pauseProbeInterval, 1 minute), beyond this relay's tests.
  test('the gateway refuses the account: the overview shows the provider paused, since when, why and the next probe', async () => {
    const control = await fetch(`${base}/simulator/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'error', code: 'LOGIN_INVALID', times: 1 }),
    });
    assert.equal(control.status, 200);
    const { context, page } = await signedIn('olivia');
    try {
      const before = await page.locator('main').innerText();
      assert.match(before, /Provider intellisoftware\s+hosts: 127\.0\.0\.1:\d+ healthy; sending: running/);
      const sent = await sendMail(relay.relay.smtpPort, { from: 'nagios@example.com', to: ['447700900124@sms.localhost'], body: 'Paused gateway' });
      const id = queuedId(sent.data);
      await waitFor('the refusal', async () => (await relay.relay.store.smsOf(id))[0]?.lastError?.includes('LOGIN_INVALID'));
      await page.goto(`${base}/console`);
      const health = await page.locator('main').innerText();
      assert.match(
        health,
        /Provider intellisoftware\s+hosts: 127\.0\.0\.1:\d+ healthy; sending: paused since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(.*LOGIN_INVALID.*\); next probe \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/,
      );
      // The overview and `smsrelay status` name the same next probe, and a reload does not move it.
      const said = /; next probe (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z$/m.exec(
        await status(relay.relay.store, Date.now(), { pid: undefined, name: 'here', database: false }),
      )?.[1];
      assert.ok(said, 'status names a time');
      const shown = () => /next probe ([^\n]*)/.exec(health)?.[1];
      assert.equal(shown(), `${said.replace('T', ' ')} UTC`);
      await page.reload();
      assert.match(await page.locator('main').innerText(), new RegExp(`next probe ${said.replace('T', ' ')} UTC`), 'the same after a reload');
      // The Dispatch tile and the queue page say the pause too, not "running".
      const pausedFor = new RegExp(`paused for intellisoftware since [\\d -:]+ UTC \\(.*LOGIN_INVALID.*\\); next probe ${said.replace('T', ' ')} UTC`);
      assert.match(await page.locator('.tiles').innerText(), new RegExp(`Dispatch\\s+${pausedFor.source}`));
      await page.goto(`${base}/console/queue`);
      assert.match(await page.locator('main').innerText(), new RegExp(`Dispatch:\\s+${pausedFor.source}`));
      // Retry all with every SMS held: the answer one thing a line, in the console's words and times, and no probe promised.
      await page.goto(`${base}/console/queue`);
      await page.getByRole('button', { name: 'Hold all' }).click();
      await page.getByRole('button', { name: 'Retry all now' }).click();
      const notice = await page.getByRole('status').innerText();
      assert.match(notice, /^retry: 0 queued SMS changed; \d+ held: release (it|them) first\n/);
      assert.match(notice, new RegExp(`\\ndispatch: ${pausedFor.source}$`));
      assert.doesNotMatch(notice, /`|probing it now|\d{4}-\d\d-\d\dT/);
      await page.getByRole('button', { name: 'Release all' }).click();
      await page.goto(`${base}/console`);
      await accessible(page, 'overview with a paused account');
    } finally {
      await context.close();
    }
  });
}

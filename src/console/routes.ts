import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { parse } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import type { AcceptanceService } from '../acceptance/service.ts';
import {
  configCheck,
  deleteQuarantined,
  eventNumbers,
  messageIdSearch,
  NotFound,
  NothingChanged,
  ATTEMPT_CUT_OFF,
  nextProbe,
  type Outcome,
  QuarantineChanged,
  queueAction,
  rerouteUndeliverable,
  UUID,
  type Wording,
} from '../admin.ts';
import { bytesAsText } from '../bytes-text.ts';
import { keywordLines } from '../config/keywords.ts';
import { type Config, configuredPlugins, testSender } from '../config/load.ts';
import { failureLogFields, isStoreFailure, RelayError } from '../errors.ts';
import { misdirected, servedHostNames } from '../http/hosts.ts';
import { allowedMethods, answerBadPathsUnder, clientRefusal } from '../http/server.ts';
import type { Logger } from '../log.ts';
import type { GatewayHealth } from '../providers/contract.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { ReplyNotes } from '../replies/reply-notes.ts';
import { numberPasted } from '../mail/addresses.ts';
import { isDiallable, maskNumbersIn, normaliseNumber } from '../sms/numbers.ts';
import { RECENT_TRAFFIC_ROWS } from '../store/console-rows.ts';
import { foldedOnto } from '../store/rows.ts';
import type { ConsoleStore, MessageSearch, RelayReads, ThreadCursor } from '../store/console-types.ts';
import type { SharedPause } from '../store/shared-state-types.ts';
import { type InboundPosition, type QueuedSms, type Store, smsQueueDepth } from '../store/types.ts';
import { type Channel, ConsoleAccess, type SignedIn } from './access.ts';
import { activityChart, CHART_SERIES } from './chart.ts';
import { FIELDS, type Fields, readFields } from './fields.ts';
import { consoleTime, duration, helpers, render } from './render.ts';
import { relayVersion } from '../version.ts';

/** A row's id in a form or address: 1 to 15 digits, which Number() reads exactly (below MAX_SAFE_INTEGER). */
const ROW_ID = /^[1-9]\d{0,14}$/;

/** Where the console is served on the HTTP port. */
export const CONSOLE_PREFIX = '/console';
/** Rows per page of search results, and the most a page of any list shows. */
const PAGE_SIZE = 50;
/** Minute buckets over the last hour, hour buckets over the last 7 days. */
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** What Messages searches by status: an SMS's state, or a resubmission (a mail sent again, sent once as its original). */
const STATUSES = ['queued', 'sent', 'delivered', 'failed', 'deleted', 'resubmission'] as const;
/** What the queue page's buttons send as `action` (the message page's too): dispatch's pause and resume, and the CLI's queue commands. */
const QUEUE_FORM_ACTIONS = ['pause', 'resume', 'retry', 'hold', 'release', 'delete'] as const;
/** The queue page's lists, each paged by its own query field: queued SMS, replies without a mailbox, quarantined requests. */
const QUEUE_LISTS = ['after', 'replies', 'quarantine'] as const;
/** A Map, not an object: an asset name such as `constructor` must find nothing. */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ['console.css', 'text/css; charset=utf-8'],
  ['console.js', 'text/javascript; charset=utf-8'],
  // Named by every page's <link rel="icon">: a browser then asks for no /favicon.ico (a 404 in its console).
  ['favicon.svg', 'image/svg+xml'],
]);
/** A page the store could not answer is asked again this often (the overview's own refresh is 15 s too). */
const STORE_RETRY_SECONDS = 15;
/**
 * What a store failure means for what the relay holds and takes, said on the page it refused (and so by the overview's
 * refresh): an operator learns nothing is lost, and what the relay does with mail meanwhile (SMTP 451, webhooks 503).
 */
const STORE_FAILURE_MEANWHILE =
  'Nothing stored is lost; meanwhile mail and webhooks the relay cannot store are refused with a temporary error, which their senders retry.';
/**
 * A lock held elsewhere (STORE_BUSY) may hold only what this page reads (a console table another session locked) while
 * mail is taken as usual: said without claiming mail is refused; /readyz says whether the relay takes it.
 */
const STORE_BUSY_MEANWHILE = 'Nothing stored is lost; whether the relay takes mail meanwhile, /readyz says.';
/**
 * A path of this console, optionally with a query, in printable ASCII without a backslash: the only
 * redirect target taken from a request (no other site, no header-breaking CR or LF).
 */
const CONSOLE_PATH = /^\/console(?:[/?][\x21-\x5b\x5d-\x7e]*)?$/;
/** The queue page's button that resumes dispatch, named by the notice of a pause (rather than a CLI command). */
const RESUME_BUTTON = 'Resume dispatch';
/** The queue page's label of a reroute's address: its refusals are said in it, as the page names the field, not in the CLI's command. */
const REROUTE_FIELD = 'Reroute to mailbox';
/** An action's answer as the console words it: its buttons rather than commands, times as its pages show them. */
const CONSOLE_WORDING: Wording = {
  resume: `"${RESUME_BUTTON}"`,
  probeNow: '"Retry all now"',
  // No button sends a scheduled SMS early (a click too easily undoes what its sender asked for): the operator on the relay's host can.
  sendNow: (messageId) => `on the relay host, smsrelay queue retry ${messageId} --now`,
  time: consoleTime,
};
/** Why a cookie opens no page: its session timed out just now, or the store has none (signed out, or timed out before). */
const SESSION_OVER = { expired: 'Your session has expired', ended: 'Your session has ended' } as const;
/** A form sent with no session cookie at all: a sign-out (here or in another tab) cleared it. */
const SIGNED_OUT = 'You are signed out';
/** Every page: nothing from elsewhere, no framing, nothing cached (pages show people's messages). */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export interface ConsoleOptions {
  readonly config: Config;
  /** The relay's provider plug-ins, which the settings page reads the keywords in effect from. */
  readonly registry: Pick<ProviderRegistry, 'get'>;
  readonly store: Store;
  readonly consoleStore: ConsoleStore;
  /** What a reroute's mail says about replying (the relay's replyNotesOf), as the inbound side's mail would. */
  readonly replyNotes: ReplyNotes;
  /** The relay's acceptance service (test sends), there once the relay has started. */
  readonly acceptance: () => AcceptanceService;
  /**
   * The gateway's hosts, the health of each started gateway (the relay's and accounts' own), and each
   * provider's failover breaker and account pause as the dispatcher holds them.
   */
  readonly gateway: () => {
    readonly hosts: readonly string[];
    readonly health: readonly GatewayHealth[];
    readonly providers: readonly ProviderStatus[];
  };
  /** Where the relay's own mail goes (smarthost or Maildir), in words. */
  readonly mailTransport: string;
  readonly onMailQueued: () => void;
  /** The store lost or damaged until a restart, in words (StoreHealthMonitor.lasting); undefined while it works. */
  readonly storeLasting?: () => string | undefined;
  readonly logger: Logger;
  readonly clock?: (() => number) | undefined;
  readonly pause?: ((ms: number) => Promise<void>) | undefined;
}

/**
 * A provider's hosts (failed: when, and until when the failover breaker skips it, none while every host failed, the pause's
 * next probe saying when it is tried) and its account pause, as the dispatcher reports them.
 */
export interface ProviderStatus {
  readonly provider: string;
  readonly hosts: readonly { readonly host: string; readonly failed: { readonly at: number; readonly until?: number } | undefined }[];
  /** Its next probe is the store's to say (nextProbe), as `smsrelay status` says it. */
  readonly pause: { readonly since: number; readonly reason: string } | undefined;
}

/** `storeLost`: the store's lasting fault in words, which every page shows at its top. */
type Context = { readonly channel: Channel; readonly signedIn: SignedIn; readonly storeLost?: string | undefined };
type ConsoleRequest = FastifyRequest & { console?: Context };

const VERSION = relayVersion();

/** The web console under /console (docs/console.md): server-rendered pages, forms that work without script. */
export function mountConsole(app: FastifyInstance, options: ConsoleOptions): void {
  // A path the router cannot read (`%zz`) is refused before any of the console's hooks: its page all the same, with its headers.
  answerBadPathsUnder(app, CONSOLE_PREFIX, (request, reply, error) => problem(request, reply.headers(SECURITY_HEADERS), 400, error));
  const clock = options.clock ?? Date.now;
  const startedAt = clock();
  const access = new ConsoleAccess({
    settings: options.config.console,
    hosts: servedHostNames(options.config),
    store: options.consoleStore,
    clock,
    logger: options.logger,
    pause: options.pause,
  });
  const { store, consoleStore, config } = options;
  // Every page's read of the relay's own tables (queue, pauses, history, quarantine): on the console's connections, bounded
  // as its other reads, never on the relay's pool (docs/console.md, The store). Actions write through `store`.
  const reads = consoleStore.relayReads(store);

  app.register(
    async (scope) => {
      // A field given twice stays a list, as in a query, so that the form's schema refuses it rather than keeping one value.
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, parse(String(body))));
      // A form or JSON only (docs/console.md): fastify's text/plain parser would hand a body's text to a form's schema, and
      // text/plain is what another site's page can post without a preflight. Refused 415 before any field or token is read.
      scope.removeContentTypeParser('text/plain');

      scope.addHook('onRequest', async (request: ConsoleRequest, reply) => {
        reply.headers(SECURITY_HEADERS);
        const foreign = access.foreignHost(request);
        if (foreign !== undefined) return problem(request, reply, 421, misdirected(foreign));
        const channel = access.channel(request);
        if (!access.allowed(channel)) {
          return problem(request, reply, 403, new RelayError('FORBIDDEN', `The console does not answer ${channel.address} (console.allowedNetworks)`));
        }
        if (request.method === 'POST' && !access.sameOrigin(request, channel)) {
          return problem(
            request,
            reply,
            403,
            new RelayError('FORBIDDEN', 'This form was sent from another site: the console takes forms from its own pages only'),
          );
        }
        const path = request.url.split('?')[0] ?? '';
        if (path.startsWith('/console/assets/')) return;
        // A lost store is read and written through the console's own connections to the deleted file: a form done there
        // (a sign-in, a queue action) would be gone after the restore, and "try again later" never comes. Refused up front,
        // in the loss's words to a signed-in user, the catalogue's short ones (no file) to anyone else, as /readyz;
        // signing out writes nothing that matters.
        const lasting = options.storeLasting?.();
        const lostRefused = lasting !== undefined && request.method === 'POST' && path !== '/console/signout';
        if (path === '/console/signin') return lostRefused ? problem(request, reply, 503, new RelayError('STORE_LOST')) : undefined;
        const signedIn = await access.session(request);
        if (signedIn === undefined || signedIn === 'expired' || signedIn === 'ended') {
          const why = signedIn === undefined ? 'Sign in first' : `${SESSION_OVER[signedIn]}: sign in again`;
          // A browser's form (it takes HTML) is not done either: its person signs in again and is back on the page it was on.
          if (request.method === 'GET' ? !wantsJson(request) : (request.headers.accept ?? '').includes('text/html')) {
            const next = encodeURIComponent(request.method === 'GET' ? request.url : formPage(request));
            // A form's sign-in says it was not done (`form`): the person, who clicked Send or Delete, would take it as done.
            // Not a sign-out's: signed out already (in another tab, or the session over), there is nothing to send again.
            const form = request.method === 'GET' || path === '/console/signout' ? '' : '&form=1';
            return reply.redirect(`/console/signin?next=${next}${signedIn === undefined ? '' : `&${signedIn}=1`}${form}`, 303);
          }
          return problem(request, reply, 401, new RelayError('UNAUTHORIZED', why));
        }
        // Its last use, saved just now, goes into the cookie too: once the store has no row for it, the cookie tells why.
        if (signedIn.renewed !== undefined) reply.header('set-cookie', signedIn.renewed);
        request.console = { channel, signedIn, storeLost: lasting };
        if (lostRefused) return problem(request, reply, 503, new RelayError('STORE_LOST', `Not done: ${lasting}`), request.console);
      });
      // State changes need the session's CSRF token (form field or header) and, but for signing out, an operator.
      scope.addHook('preHandler', async (request: ConsoleRequest, reply) => {
        const context = request.console;
        // A POST to no page changes nothing: its answer is the 404 (or 405), whoever asks.
        if (request.method !== 'POST' || !context || request.is404) return;
        const body = (request.body ?? {}) as { _csrf?: unknown };
        if (!access.csrfValid(context.signedIn.session, body._csrf ?? request.headers['x-csrf-token'])) {
          return problem(request, reply, 403, new RelayError('FORBIDDEN', 'Missing or wrong CSRF token: reload the page and try again'), context);
        }
        if (request.url !== '/console/signout' && context.signedIn.user.role !== 'operator') return viewerRefused(request, reply, context);
      });

      // The store failing (down, busy, its disk full) in a page, a form or the session check: a person gets the console's
      // page saying so, a script the relay's JSON (the app's handler, rethrown to), as any other error.
      scope.setErrorHandler(async (error: Error & { statusCode?: number }, request: ConsoleRequest, reply) => {
        // The relay stopping (refused before the access hooks ran): its 503 says when to come back, a GET's page asks again
        // by itself, and finds the relay started again.
        if (error instanceof RelayError && error.code === 'SHUTTING_DOWN') {
          reply.headers(SECURITY_HEADERS);
          return problem(request, reply, 503, error, undefined, undefined, undefined, {
            retryEvery: request.method === 'GET' ? STORE_RETRY_SECONDS : undefined,
          });
        }
        // The app's handler answers a script: told when to come back as problem() tells a browser.
        if (wantsJson(request)) {
          if (isStoreFailure(error)) retryLater(reply);
          throw error;
        }
        // A body the parser refused (too big, JSON that is not, a media type the console does not read): a person gets the
        // page with the status, code and words a script gets.
        if (!(error instanceof RelayError) && error.statusCode !== undefined && error.statusCode < 500) {
          const refused = clientRefusal(error, error.statusCode, request);
          if (refused === undefined) return notFound(request, reply);
          const { status, refusal } = refused;
          if (request.url.split('?')[0] === '/console/signin') {
            return problem(request, reply, status, refusal, undefined, () =>
              signinPage(request, reply, { next: '/console', notice: undefined, error: refusal.message }),
            );
          }
          return problem(request, reply, status, refusal, request.console);
        }
        if (!isStoreFailure(error)) throw error;
        request.log.debug({ path: request.url.split('?')[0], ...failureLogFields(error) }, 'console: page answered 503: the store fails');
        const again =
          request.method === 'GET'
            ? `The relay keeps trying the store; this page tries again every ${STORE_RETRY_SECONDS} s. ${error.code === 'STORE_BUSY' ? STORE_BUSY_MEANWHILE : STORE_FAILURE_MEANWHILE}`
            : 'The relay keeps trying the store. Whether the form was done is not known: look at its page before sending it again.';
        // A GET is read again by the browser itself (no script needed); a form is never sent again unasked.
        return problem(request, reply, error.spec.http, new RelayError(error.code, `${error.publicReason}. ${again}`), request.console, undefined, undefined, {
          retryEvery: request.method === 'GET' ? STORE_RETRY_SECONDS : undefined,
        });
      });

      // After the access hooks: no session still signs in first. A known page asked the wrong way is a 405 naming the right ones.
      scope.setNotFoundHandler(notFound);
      async function notFound(request: ConsoleRequest, reply: FastifyReply) {
        const path = request.url.split('?')[0] ?? '';
        const allowed = allowedMethods(app, path);
        if (allowed.length > 0) {
          reply.header('allow', allowed.join(', '));
          return problem(
            request,
            reply,
            405,
            new RelayError('METHOD_NOT_ALLOWED', `${request.method} is not how this page is used: ${allowed.join(' or ')}`),
            request.console,
          );
        }
        return problem(request, reply, 404, new RelayError('NOT_FOUND', `No console page ${path}`), request.console);
      }

      scope.get('/assets/:file', async (request, reply) => {
        const file = (request.params as { file: string }).file;
        const type = ASSETS.get(file);
        if (!type) return problem(request, reply, 404, new RelayError('NOT_FOUND', `No console asset ${file}`));
        return reply
          .type(type)
          .header('cache-control', 'public, max-age=3600')
          .send(readFileSync(new URL(`./assets/${file}`, import.meta.url)));
      });

      scope.get('/signin', async (request, reply) => {
        const read = readFields(FIELDS.signinPage, request.query);
        if (!read.ok) {
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), undefined, () =>
            signinPage(request, reply, { next: '/console', notice: undefined, error: read.problem }),
          );
        }
        const query = read.fields;
        const over = query.expired ? 'expired' : query.ended ? 'ended' : undefined;
        // A form sent without a session at all (its cookie cleared by a sign-out in another tab): signed out.
        const why = over ? SESSION_OVER[over] : query.form ? SIGNED_OUT : undefined;
        const notice = why && (query.form ? `${why}: what you sent was not done. Sign in, then send it again.` : `${why}: sign in again.`);
        return signinPage(request, reply, { next: consolePage(app, query.next, '/console'), notice, error: undefined });
      });
      scope.post('/signin', async (request, reply) => {
        const channel = access.channel(request);
        // Said before the form's token: the page gave this client no form, hence no token either.
        const insecure = access.insecureSignIn(channel);
        if (insecure)
          return problem(request, reply, insecure.spec.http, insecure, undefined, () =>
            signinPage(request, reply, { next: '/console', notice: undefined, error: undefined }),
          );
        const token = (request.body as { _csrf?: unknown } | undefined)?._csrf ?? request.headers['x-csrf-token'];
        if (!access.signinTokenValid(request, token)) {
          const expired = new RelayError('FORBIDDEN', 'The sign-in form has expired: sign in again');
          return problem(request, reply, 403, expired, undefined, () =>
            signinPage(request, reply, { next: '/console', notice: undefined, error: expired.message }),
          );
        }
        const read = readFields(FIELDS.signin, request.body);
        if (!read.ok) {
          // The user name as typed, when it was one text field (the password left out): not to be typed again.
          const typed = typedIn(request.body, ['name']).name;
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), undefined, () =>
            signinPage(request, reply, { next: '/console', notice: undefined, error: read.problem, name: typed }),
          );
        }
        const body = read.fields;
        const next = consolePage(app, body.next, '/console');
        const result = await access.signIn(body.name, body.password, channel);
        if (!result.ok) {
          if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
          return problem(request, reply, result.error.spec.http, result.error, undefined, () =>
            signinPage(request, reply, { next, notice: undefined, error: result.error.message, name: body.name }),
          );
        }
        await consoleStore.recordAction({
          at: clock(),
          username: result.user.name,
          client: channel.address,
          action: 'sign in',
          target: undefined,
          detail: undefined,
        });
        return reply.header('set-cookie', [access.cookie(result.token, channel), access.clearedSigninCookie(channel)]).redirect(next, 303);
      });
      scope.post('/signout', async (request: ConsoleRequest, reply) => {
        const { channel, signedIn } = request.console as Context;
        await access.signOut(signedIn.session);
        await audit(request, 'sign out');
        return reply.header('set-cookie', access.clearedCookie(channel)).redirect('/console/signin', 303);
      });

      scope.get('/', async (request: ConsoleRequest, reply) => page(reply, 'overview', request.console, { title: 'Overview', ...(await overview()) }));

      scope.get('/messages', async (request: ConsoleRequest, reply) => {
        const read = readFields(FIELDS.messages, request.query);
        const query = read.ok ? read.fields : {};
        const refused = numberSearchRefused(query, request.console as Context);
        if (refused !== undefined) {
          return problem(request, reply, 403, new RelayError('FORBIDDEN', refused), request.console, () =>
            page(reply, 'messages', request.console, { title: 'Messages', statuses: STATUSES, query: {}, problem: refused, results: [], older: undefined }),
          );
        }
        const parsed = read.ok ? parseSearch(query, config) : { problem: read.problem };
        if ('problem' in parsed) {
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', parsed.problem), request.console, () =>
            page(reply, 'messages', request.console, { title: 'Messages', statuses: STATUSES, query, problem: parsed.problem, results: [], older: undefined }),
          );
        }
        const found = pageOf(await consoleStore.searchMessages(parsed.search, PAGE_SIZE + 1), (last) => last.id);
        // A time given with its offset (`Z`, `+01:00`, from a link) is shown, and searched again, as the UTC time it filtered by:
        // the form's field (datetime-local, UTC) cannot show it as written, and would send it back empty.
        const { since, until } = parsed.search;
        const shown = { ...query, ...(since === undefined ? {} : { since: utcField(since) }), ...(until === undefined ? {} : { until: utcField(until) }) };
        const older = found.next === undefined ? undefined : `?${new URLSearchParams({ ...shown, before: found.next })}`;
        return page(reply, 'messages', request.console, {
          title: 'Messages',
          statuses: STATUSES,
          query: shown,
          problem: undefined,
          results: found.rows,
          older,
        });
      });
      scope.get('/messages/:id', async (request: ConsoleRequest, reply) => {
        const id = (request.params as { id: string }).id;
        const notice = readFields(FIELDS.message, request.query);
        if (!notice.ok) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', notice.problem), request.console);
        const message = await consoleStore.message(id);
        if (!message) return problem(request, reply, 404, new RelayError('NOT_FOUND', `No message with id ${id}`), request.console);
        const now = clock();
        const providers = options.gateway().providers.map((status) => status.provider);
        const [kept, events, paused, { pauses }] = await Promise.all([reads.smsOf(id), reads.events(id), reads.dispatchPausedSince(), reads.gatewayState(now)]);
        // An SMS due already waits for a probe while every provider is paused: a retry probes them now (admin.ts, accountPauseLines).
        const probes = paused === undefined && everyProviderPaused(providers, pauses);
        // Scheduled while its X-SMS-Send-At is ahead: once that time has passed, the SMS is due like any other, and a retry sends it now.
        const sms = kept.map((item) => ({ ...item, scheduledFor: item.scheduledFor !== undefined && item.scheduledFor > now ? item.scheduledFor : undefined }));
        const queued = sms.filter((item) => item.status === 'queued');
        // What a retry or a delete can take: not an SMS being sent (the gateway's answer to that attempt decides it).
        const waiting = queued.filter((item) => !item.beingSent);
        const numberOf = eventNumbers(sms);
        return page(reply, 'message', request.console, {
          title: `Message ${id}`,
          message,
          // Each SMS's state as Messages lists it (console-rows.ts, toSummaries): its delivery report's once there is one.
          sms: sms.map((item) => ({ ...item, state: item.delivery ?? item.status, sending: item.status === 'queued' ? beingSent(item) : undefined })),
          events: events.map((event) => ({ ...event, number: numberOf(event) })),
          // The earlier mails whose SMS stand for this one's numbers the alert-storm window folded (their `folded` lines).
          foldedOnto: [...new Set(events.flatMap((event) => foldedOnto(event.kind, event.detail) ?? []))],
          done: access.noticeOf((request.console as Context).signedIn.session, notice.fields),
          // How many SMS each action would change, 0 for none (no button): retry what waits for a retry, its next attempt ahead (not
          // what is held, nor what waits for its X-SMS-Send-At, nor what a relay leases, its attempt going on or cut off, nor what is
          // due already: a retry leaves those), or what is due while every provider is paused (the retry probes them); hold what is
          // sending, release what is held, delete what is not being sent. The buttons act on the message's SMS together, and say how
          // many when several.
          can: {
            retry: queued.filter(
              (item) => !item.held && item.scheduledFor === undefined && item.leasedUntil === undefined && (item.nextAttemptAt > now || probes),
            ).length,
            hold: queued.filter((item) => !item.held).length,
            release: queued.filter((item) => item.held).length,
            delete: waiting.length,
          },
        });
      });

      scope.get('/conversations', async (request: ConsoleRequest, reply) => {
        const read = readFields(FIELDS.conversations, request.query);
        if (!read.ok) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), request.console);
        const query = read.fields;
        const refused = numberSearchRefused(query, request.console as Context);
        if (refused !== undefined) {
          return problem(request, reply, 403, new RelayError('FORBIDDEN', refused), request.console, () =>
            page(reply, 'conversations', request.console, { title: 'Conversations', problem: refused, list: [] }),
          );
        }
        if (query.number) {
          const number = searchedNumber(query.number, config);
          if (!number.ok) {
            return problem(request, reply, 400, new RelayError('BAD_PARAMETER', number.problem), request.console, () =>
              page(reply, 'conversations', request.console, { title: 'Conversations', problem: number.problem, list: [] }),
            );
          }
          return conversation(request, reply, number.e164, query.before, { number: query.number });
        }
        const all = await consoleStore.conversations();
        const cursor = query.before === undefined ? undefined : timedPosition(query.before);
        if (cursor === null)
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', 'Page: not a position in the list; start again'), request.console);
        const rest = cursor ? all.filter((item) => item.lastAt < cursor.at || (item.lastAt === cursor.at && item.ref > cursor.key)) : all;
        const found = pageOf(rest, (last) => `${last.lastAt}_${last.ref}`);
        return page(reply, 'conversations', request.console, {
          title: 'Conversations',
          problem: undefined,
          list: found.rows,
          total: all.length,
          window: RECENT_TRAFFIC_ROWS,
          paged: cursor !== undefined,
          older: found.next === undefined ? undefined : `?${new URLSearchParams({ before: found.next })}`,
        });
      });
      scope.get('/conversations/:ref', async (request: ConsoleRequest, reply) => {
        const number = await consoleStore.numberOfRef((request.params as { ref: string }).ref);
        if (!number) return problem(request, reply, 404, new RelayError('NOT_FOUND', 'No such conversation'), request.console);
        const read = readFields(FIELDS.conversation, request.query);
        if (!read.ok) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), request.console);
        return conversation(request, reply, number, read.fields.before, {});
      });

      /**
       * One number's thread, PAGE_SIZE items a page from `before` (where the page before ended, threadCursor's form), newest
       * first: "Older" links the next page, keeping the page's own query (`kept`: the number asked, never one a list's ref hid).
       */
      async function conversation(
        request: ConsoleRequest,
        reply: FastifyReply,
        peer: string,
        before: string | undefined,
        kept: Record<string, string | undefined>,
      ) {
        const at = before === undefined ? undefined : threadCursor(before);
        if (at === null)
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', 'Page: not a position in the conversation; start again'), request.console);
        const found = await consoleStore.thread(peer, PAGE_SIZE, at);
        const query = Object.fromEntries(Object.entries(kept).filter((entry): entry is [string, string] => entry[1] !== undefined));
        const path = request.url.split('?')[0];
        return page(reply, 'conversation', request.console, {
          title: 'Conversation',
          peer,
          items: found.items,
          pageSize: PAGE_SIZE,
          onQueue: undeliverableOnQueue,
          paged: at !== undefined,
          newest: `${path}${Object.keys(query).length > 0 ? `?${new URLSearchParams(query)}` : ''}`,
          older: found.next === undefined ? undefined : `${path}?${new URLSearchParams({ ...query, before: cursorValue(found.next) })}`,
        });
      }

      scope.get('/queue', async (request: ConsoleRequest, reply) => {
        const read = readFields(FIELDS.queuePage, request.query);
        if (!read.ok) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), request.console);
        const query = read.fields;
        const at = queuePositions(query);
        if (!at) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', 'Page: not a position in the queue; start again'), request.console);
        const providers = options.gateway().providers.map((status) => status.provider);
        const [queued, { now, stats, paused, providerPauses }, undeliverable, quarantined] = await queueLists(at);
        // Each list pages on its own: its links move it and keep the other lists where they are.
        const kept = Object.fromEntries(QUEUE_LISTS.flatMap((name) => (query[name] === undefined ? [] : [[name, query[name]]])));
        const link = (name: (typeof QUEUE_LISTS)[number], position: string | undefined) => {
          const { [name]: _moved, ...others } = kept;
          const search = new URLSearchParams(position === undefined ? others : { ...others, [name]: position }).toString();
          return `/console/queue${search ? `?${search}` : ''}`;
        };
        const list = <T>(name: (typeof QUEUE_LISTS)[number], found: Paged<T>, total: number) => ({
          rows: found.rows,
          total,
          paged: query[name] !== undefined,
          first: link(name, undefined),
          next: found.next === undefined ? undefined : link(name, found.next),
        });
        return page(reply, 'queue', request.console, {
          title: 'Queue',
          stats,
          queued: list(
            'after',
            {
              ...queued,
              rows: queued.rows.map((sms) => ({ ...sms, next: nextAttempt(sms, now, paused, providerPauses, providers) })),
            },
            smsQueueDepth(stats.sms),
          ),
          undeliverable: list('replies', undeliverable, stats.undeliverableInbound),
          quarantined: list('quarantine', quarantined, stats.quarantined),
          paused,
          providerPauses,
          resume: RESUME_BUTTON,
          done: access.noticeOf((request.console as Context).signedIn.session, query),
        });
      });
      scope.post('/queue', async (request: ConsoleRequest, reply) => {
        const read = readFields(FIELDS.queue, request.body);
        if (!read.ok) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), request.console);
        const body = read.fields;
        const action = body.action ?? '';
        const target = body.target?.trim() || undefined;
        // Named as the form's field, not in the CLI's words (`unknown queue command`): only a crafted form sends another.
        if (!(QUEUE_FORM_ACTIONS as readonly string[]).includes(action)) {
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', `Action: expected one of ${QUEUE_FORM_ACTIONS.join(', ')}`), request.console);
        }
        // The page offers no "delete all": one click must not drop every sender's queued SMS without a bounce (the CLI's `queue delete all` can).
        if (action === 'delete' && target === 'all') {
          return problem(
            request,
            reply,
            400,
            new RelayError('BAD_PARAMETER', 'Action: delete takes one message, not all; on the relay host, smsrelay queue delete all deletes every queued SMS'),
            request.console,
          );
        }
        // A row of the queue is one SMS: its buttons name it (`sms`) with its message, and act on it alone.
        const sms =
          body.sms === undefined
            ? undefined
            : target !== undefined && target !== 'all' && ROW_ID.test(body.sms)
              ? { messageId: target, smsId: Number(body.sms) }
              : null;
        if (sms === null) {
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', 'SMS: an SMS id, with the id of its message as the target'), request.console);
        }
        return act(
          request,
          reply,
          `queue ${action}`,
          sms ? `${sms.messageId} SMS ${sms.smsId}` : target,
          (by) => queueAction(store, action, sms ?? target, clock(), CONSOLE_WORDING, by),
          body.back,
        );
      });
      scope.post('/undeliverable/:id/reroute', async (request: ConsoleRequest, reply) => {
        const id = (request.params as { id: string }).id;
        const read = readFields(FIELDS.reroute, request.body);
        if (!read.ok) return problem(request, reply, 400, new RelayError('BAD_PARAMETER', read.problem), request.console);
        const mailbox = (read.fields.mailbox ?? '').trim();
        // Said in the form's words: the CLI's usage line (an inbound SMS id and a mail address) names what the page already gave.
        if (mailbox === '') {
          return problem(
            request,
            reply,
            400,
            new RelayError('BAD_PARAMETER', `${REROUTE_FIELD}: write the mail address to send this reply to`),
            request.console,
          );
        }
        return act(request, reply, 'reroute', id, async () => {
          const said = await rerouteUndeliverable(store, config, options.replyNotes, id, mailbox, REROUTE_FIELD);
          options.onMailQueued();
          return { said, changed: 1 };
        });
      });
      scope.get('/quarantine/:id', async (request: ConsoleRequest, reply) => {
        const id = Number((request.params as { id: string }).id);
        const entry = Number.isInteger(id) ? await reads.quarantined(id) : undefined;
        if (!entry) return problem(request, reply, 404, new RelayError('NOT_FOUND', 'No such quarantined request'), request.console);
        // Its bytes as received, as text: escaped where they are not UTF-8 text (or are control characters), and the page says so.
        return page(reply, 'quarantine', request.console, { title: `Quarantined request ${id}`, entry, body: bytesAsText(entry.body) });
      });
      // Deleting every kept request is asked first: the confirmation names how many there are now and carries the newest one's
      // id, so that the deletion takes only what it named and a request kept meanwhile stays to be read.
      scope.get('/quarantine/all/delete', async (request: ConsoleRequest, reply) => {
        const context = request.console as Context;
        if (context.signedIn.user.role !== 'operator') return viewerRefused(request, reply, context);
        return page(reply, 'quarantine-delete', request.console, {
          title: 'Delete all quarantined requests',
          span: await reads.quarantineSpan(),
          problem: undefined,
        });
      });
      scope.post('/quarantine/all/delete', async (request: ConsoleRequest, reply) => {
        const read = readFields(FIELDS.quarantineDelete, request.body);
        const bound = (value: string | undefined) => (value !== undefined && ROW_ID.test(value) ? Number(value) : undefined);
        const through = read.ok ? bound(read.fields.through) : undefined;
        const count = read.ok ? bound(read.fields.count) : undefined;
        if (through === undefined || count === undefined) {
          const refusal = read.ok
            ? 'Confirm first: the deletion takes the requests its confirmation named (Through: the newest of them; Count: how many)'
            : read.problem;
          return problem(request, reply, 400, new RelayError('BAD_PARAMETER', refusal), request.console, undefined, {
            href: '/console/quarantine/all/delete',
            label: 'Delete all quarantined requests…',
          });
        }
        return act(request, reply, 'quarantine delete', `all through ${through}`, () => deleteQuarantined(store, { through, count }));
      });
      scope.post('/quarantine/:id/delete', async (request: ConsoleRequest, reply) => {
        const id = (request.params as { id: string }).id;
        const number = Number(id);
        if (!(Number.isInteger(number) && number > 0)) return gone(request, reply, new NotFound(`quarantined request with id ${id}`));
        return act(request, reply, 'quarantine delete', id, () => deleteQuarantined(store, { id: number }));
      });

      scope.get('/send', async (request: ConsoleRequest, reply) =>
        page(reply, 'send', request.console, { title: 'Test send', ...sendAs(request), form: { submission: uuidv7() }, error: undefined }),
      );
      // Post/redirect/get: the answer is the message's page with a notice, so no reload, Back or Forward posts the form again;
      // the form's own id makes a form sent twice (a double click, a replayed POST) a resubmission, sent once.
      scope.post('/send', async (request: ConsoleRequest, reply) => {
        const read = readFields(FIELDS.send, request.body);
        // A refused field still shows the number and text as typed (when each was one text), as every other refusal does.
        const form = read.ok ? read.fields : typedIn(request.body, ['to', 'text']);
        const as = sendAs(request);
        const outcome = read.ok ? await testSend(request, as, form) : { ok: false as const, error: new RelayError('BAD_PARAMETER', read.problem) };
        if (!outcome.ok) {
          return problem(request, reply, read.ok ? outcome.error.spec.http : 400, outcome.error, request.console, () =>
            page(reply, 'send', request.console, {
              title: 'Test send',
              ...as,
              form: { ...form, submission: sameForm(form.submission) },
              error: outcome.error.message,
            }),
          );
        }
        const { session } = (request.console as Context).signedIn;
        const shown = outcome.duplicateOf ?? outcome.id;
        return reply.redirect(`/console/messages/${shown}?${new URLSearchParams(access.notice(session, outcome.said))}`, 303);
      });

      /** A refused form shown again keeps its id (nothing was sent under it), or gets one when it had none this page made. */
      function sameForm(submission: string | undefined): string {
        return submission !== undefined && UUID.test(submission) ? submission : uuidv7();
      }

      scope.get('/settings', async (request: ConsoleRequest, reply) =>
        page(reply, 'settings', request.console, {
          title: 'Settings',
          // After the settings, what they mean for keywords: which lists each provider's SMS is read by.
          settings: [await configCheck(config, store), ...keywordLines(config.policy, configuredPlugins(config, options.registry))].join('\n'),
          actions: await consoleStore.recentActions(PAGE_SIZE),
        }),
      );

      /** The console page a form was sent from (its Referer, which the console's referrer policy keeps to its own pages), else the form's own page. */
      function formPage(request: FastifyRequest): string {
        const referer = URL.parse(request.headers.referer ?? '');
        return consolePage(app, referer ? `${referer.pathname}${referer.search}` : undefined, consolePage(app, request.url, '/console'));
      }

      /**
       * The sign-in page, its form carrying the token of the browser's sign-in cookie (set here when it
       * has none). Where sign-in needs HTTPS (plain HTTP from another host), it says so and offers no
       * form: the password would cross the network in clear before the refusal.
       */
      /** `name`: the user name a refused sign-in gave, filled in again (only the password is typed anew, as sign-in forms do). */
      function signinPage(
        request: FastifyRequest,
        reply: FastifyReply,
        data: { next: string; notice: string | undefined; error: string | undefined; name?: string | undefined },
      ) {
        const channel = access.channel(request);
        const insecure = access.insecureSignIn(channel);
        if (insecure) return page(reply, 'signin', undefined, { title: 'Sign in', ...data, notice: undefined, error: insecure.message, form: false, csrf: '' });
        const { token, cookie } = access.signinToken(request, channel);
        if (cookie !== undefined) reply.header('set-cookie', cookie);
        return page(reply, 'signin', undefined, { title: 'Sign in', ...data, form: true, csrf: token });
      }

      /**
       * An operator's action through the CLI's own code (`run` gets who, for the history lines it writes:
       * one line per SMS changed, naming the user), recorded with who did it when it changed something; the
       * answer is the page it came from.
       */
      async function act(
        request: ConsoleRequest,
        reply: FastifyReply,
        action: string,
        target: string | undefined,
        run: (by: string) => Promise<Outcome>,
        back = '/console/queue',
      ) {
        const { channel, signedIn } = request.console as Context;
        const path = consolePage(app, back, '/console/queue').split('?')[0] ?? '/console/queue';
        // A refusal leads back to the page the form was on: a message's page when sent from it.
        const backTo = { href: path, label: path.startsWith('/console/messages/') ? 'Back to the message' : 'Back to the queue' };
        let done: Outcome;
        try {
          done = await run(`by ${signedIn.user.name} from ${channel.address}`);
        } catch (error) {
          if (error instanceof RelayError) throw error;
          // Messages and their SMS are never deleted: a queue action's id found nowhere never was one.
          if (error instanceof NotFound) return gone(request, reply, error, action.startsWith('queue') ? backTo : undefined);
          if (error instanceof NothingChanged)
            return problem(request, reply, 409, new RelayError('BAD_PARAMETER', error.message), request.console, undefined, backTo);
          if (error instanceof QuarantineChanged)
            return problem(request, reply, 409, new RelayError('BAD_PARAMETER', error.message), request.console, () =>
              page(reply, 'quarantine-delete', request.console, { title: 'Delete all quarantined requests', span: error.now, problem: error.message }),
            );
          return problem(
            request,
            reply,
            400,
            new RelayError('BAD_PARAMETER', error instanceof Error ? error.message : String(error)),
            request.console,
            undefined,
            backTo,
          );
        }
        // A queue action's target begins with its message's id (then the SMS's, for a row of the queue).
        const messageId = action.startsWith('queue') ? /^[0-9a-f-]{36}(?= |$)/.exec(target ?? '')?.[0] : undefined;
        // The queue action wrote the message's history itself: the audit adds no second line to it.
        if (done.changed > 0 || done.probed) await audit(request, action, target, done.said, messageId, false);
        return reply.redirect(`${path}?${new URLSearchParams(access.notice((request.console as Context).signedIn.session, done.said))}`, 303);
      }

      /**
       * An action on something no longer there: most likely another operator (or relay) handled it first. Every such thing is
       * listed on the queue page. `never`: the page to go back to when it is a thing never deleted (a message, its SMS), so
       * an id found nowhere never named one.
       */
      function gone(request: ConsoleRequest, reply: FastifyReply, error: NotFound, never?: { href: string; label: string }) {
        const message = never
          ? `There is no ${error.what}: no such id was ever kept.`
          : `There is no ${error.what} any more: it was probably handled by someone else.`;
        return problem(
          request,
          reply,
          404,
          new RelayError('NOT_FOUND', message),
          request.console,
          undefined,
          never ?? {
            href: '/console/queue',
            label: 'Back to the queue',
          },
        );
      }

      /** Keeps an action with who did it; `timeline`: also a line in the history of the message it names. */
      async function audit(request: ConsoleRequest, action: string, target?: string, detail?: string, messageId?: string, timeline = true): Promise<void> {
        const { channel, signedIn } = request.console as Context;
        await consoleStore.recordAction({
          at: clock(),
          username: signedIn.user.name,
          client: channel.address,
          action,
          target,
          detail,
          messageId: timeline ? messageId : undefined,
        });
        options.logger.info({ user: signedIn.user.name, client: channel.address, action, msgId: messageId }, 'console: action');
      }

      function sendAs(request: ConsoleRequest) {
        const user = (request.console as Context).signedIn.user;
        const account = config.accounts.find((candidate) => candidate.username === user.account);
        const sender = user.sender ?? (account && testSender(account));
        return { account: account?.username, sender, domain: config.sms.domains[0] ?? 'sms.localhost' };
      }

      /**
       * A test SMS through the acceptance service, as the user's account: its sender rules, destinations and limits apply.
       * Its mail's Message-ID is the form's id, so the same form sent again within `delivery.resubmissionWindow` is sent once.
       */
      async function testSend(request: ConsoleRequest, as: ReturnType<typeof sendAs>, form: Fields<'send'>) {
        const { channel } = request.console as Context;
        if (!as.account || !as.sender) {
          return {
            ok: false as const,
            error: new RelayError('POLICY_DENIED', 'No account to send as: set console.users[].account for your user'),
          };
        }
        const to = (form.to ?? '').trim();
        const text = form.text ?? '';
        if (to === '' || text.trim() === '') return { ok: false as const, error: new RelayError('BAD_PARAMETER', 'Write a number and a text') };
        // A form without its id (a script's) is a new send each time; one with another id was not made by this page.
        const submission = form.submission ?? uuidv7();
        if (!UUID.test(submission)) {
          return { ok: false as const, error: new RelayError('BAD_PARAMETER', 'Form id (submission): not one this page made; open Test send again') };
        }
        const acceptance = options.acceptance();
        const sender = acceptance.sender({
          client: { address: channel.address, helo: 'console' },
          user: as.account,
          protocol: 'HTTP',
          envelopeFrom: as.sender,
          dsn: { ret: undefined, envid: undefined },
        });
        if (!sender.ok) return sender;
        const pasted = numberPasted(to, config.sms.domains);
        if (!pasted.ok) return { ok: false as const, error: new RelayError('BAD_NUMBER', `Bad recipient: ${pasted.reason}`) };
        const { number } = pasted;
        // The form asks for a number: the postmaster, a list or the subject address are mail's, refused here in the form's words rather than SMTP's.
        if (!isDiallable(number)) {
          return { ok: false as const, error: new RelayError('BAD_NUMBER', `Bad recipient: "${number}"${pasted.readFrom} is not a phone number`) };
        }
        const recipient = await acceptance.recipient(sender.transaction, { address: `${number.replace(/[\s()-]/g, '')}@${as.domain}` });
        // Its refusal names the number in full, as the console shows numbers: the operator wrote it (AcceptanceService#shownIn).
        if (!recipient.ok) return recipient;
        const accepted = await acceptance.message(recipient.transaction, testMail(as.sender, `${number}@${as.domain}`, text, submission, clock()));
        if (!accepted.ok) return accepted;
        const duplicateOf = 'duplicateOf' in accepted ? accepted.duplicateOf : undefined;
        if (duplicateOf !== undefined) {
          return { ok: true as const, id: accepted.id, duplicateOf, said: `This form was sent already, as ${duplicateOf}: sent once, not again.` };
        }
        await audit(request, 'test send', accepted.id, `as ${as.account}`, accepted.id);
        const said =
          'parts' in accepted ? `Test SMS accepted as ${accepted.id}: ${accepted.parts} part(s), ${accepted.encoding}.` : `Accepted as ${accepted.id}.`;
        return { ok: true as const, id: accepted.id, duplicateOf, said };
      }

      /**
       * The overview, and the queue figures the overview and the queue page both show, being read now: every page asking
       * meanwhile (the overview's refresh every 15 s in each tab that has it open, queue pages) shares that answer rather
       * than reading the store again. At most one set of each is in flight, however many pages wait behind a table
       * another session holds locked, so the others' reads still find a console connection free.
       */
      const overview = singleFlight(readOverview);
      const figures = singleFlight(async () => {
        const now = clock();
        const [stats, paused, providerPauses] = await Promise.all([reads.queueStats(now), reads.dispatchPausedSince(), providerPausesOf(reads, now)]);
        return { now, stats, paused, providerPauses };
      });
      /** The queue page's reads at its positions, shared alike by the pages asking for the same positions meanwhile. */
      const queueLists = singleFlight((at: QueuePositions) =>
        Promise.all([
          reads.listQueued(PAGE_SIZE + 1, at.after).then((listed) => pageOf(listed, (last) => String(last.smsId))),
          figures(),
          // Reads mail_out (whether the reply's mail was refused), as the figures do: one wait behind its lock, not one a page.
          reads.undeliverableInbound(PAGE_SIZE + 1, at.replies).then((listed) => pageOf(listed, (last) => `${last.receivedAt}_${last.id}`)),
          reads.listQuarantine(PAGE_SIZE + 1, at.quarantine).then((listed) => pageOf(listed, (last) => String(last.id))),
        ]),
      );

      async function readOverview() {
        const now = clock();
        const hourStart = Math.floor(now / MINUTE_MS) * MINUTE_MS - 59 * MINUTE_MS;
        const weekStart = Math.floor(now / HOUR_MS) * HOUR_MS - 167 * HOUR_MS;
        const [{ stats, paused, providerPauses }, minutes, hours, gatewayActivity, mailActivity, disk] = await Promise.all([
          figures(),
          consoleStore.activity(hourStart, hourStart + 60 * MINUTE_MS, MINUTE_MS),
          consoleStore.activity(weekStart, weekStart + 168 * HOUR_MS, HOUR_MS),
          consoleStore.gatewayActivity(),
          consoleStore.mailActivity(),
          statfs(config.dataDir).then((stats) => stats.bavail * stats.bsize),
        ]);
        const gateway = options.gateway();
        const clockOf = (at: number) => new Date(at).toISOString().slice(11, 16);
        const dayOf = (at: number) => new Date(at).toISOString().slice(5, 10);
        return {
          stats,
          smsDepth: smsQueueDepth(stats.sms),
          paused,
          providerPauses,
          nextProbes: Object.fromEntries(providerPauses.map((pause) => [pause.provider, pause.nextProbe])),
          series: CHART_SERIES,
          hourChart: activityChart(minutes, { id: 'hour', title: 'SMS per minute, last hour (UTC)', label: clockOf, labelEvery: 10 }),
          weekChart: activityChart(hours, { id: 'week', title: 'SMS per hour, last 7 days (UTC)', label: dayOf, labelEvery: 24 }),
          totals: {
            hour: CHART_SERIES.map((series) => minutes.reduce((sum, bucket) => sum + bucket[series.key], 0)),
            week: CHART_SERIES.map((series) => hours.reduce((sum, bucket) => sum + bucket[series.key], 0)),
          },
          gateway: {
            provider: config.gateway.provider,
            simulated: config.gateway.simulated,
            ...gateway,
            ...gatewayActivity,
            ...gatewayState(gateway, gatewayActivity),
          },
          mail: { transport: options.mailTransport, queued: stats.mail.queued, oldest: stats.mail.oldestAgeSeconds, ...mailActivity },
          disk: { freeMegabytes: Math.floor(disk / 1024 / 1024), minFreeMegabytes: config.store.minFreeMegabytes },
          version: VERSION,
          uptime: duration((now - startedAt) / 1000),
          now,
        };
      }
    },
    { prefix: CONSOLE_PREFIX },
  );
}

/** Renders a page, with the user's helpers (masking, times) and the layout. */
function page(reply: FastifyReply, view: string, context: Context | undefined, data: Record<string, unknown>) {
  const signedIn = context?.signedIn;
  return reply
    .type('text/html; charset=utf-8')
    .send(render(view, { ...helpers(signedIn?.user, signedIn?.session.csrf), storeLost: context?.storeLost, ...data }));
}

/** The fields of a body each given as one text, as typed: what a refused form shows again. */
function typedIn(body: unknown, names: readonly string[]): Record<string, string> {
  const fields = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(names.flatMap((name) => (typeof fields[name] === 'string' ? [[name, fields[name]]] : [])));
}

/** An action a viewer asked for (a POST, or a page that only leads to one): refused, the same words everywhere. */
function viewerRefused(request: FastifyRequest, reply: FastifyReply, context: Context) {
  return problem(request, reply, 403, new RelayError('FORBIDDEN', 'Viewers can look but not act: ask an operator'), context);
}

/**
 * A refusal: JSON `{error, message}` for scripts; for people the problem page, or `shown`, the page of
 * the form that was refused, showing the refusal beside what they wrote.
 */
function problem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  error: RelayError,
  context?: Context,
  shown?: () => FastifyReply | Promise<FastifyReply>,
  back = { href: '/console', label: 'Back to the overview' },
  extra: { readonly retryEvery?: number | undefined } = {},
) {
  reply.status(status);
  // Every 503 (the store failing, in a page or a form's outcome such as a test send's; the relay stopping) says when to
  // come back, but a lost store's: only a restart brings it back.
  if (status === 503 && error.code !== 'STORE_LOST') retryLater(reply);
  if (wantsJson(request)) return reply.send({ error: error.code, message: error.message });
  if (shown) return shown();
  return page(reply, 'problem', context, {
    title: `${status} ${STATUS_CODES[status] ?? ''}`.trim(),
    status,
    // Its code beside the words: the overview's refresh tells the relay's own refusal (the store failing) from a proxy's page.
    code: error.code,
    message: error.message,
    back,
    ...extra,
  });
}

/** When to ask again after a 503, for a script as for a browser (a GET's page also asks again by itself, as often). */
function retryLater(reply: FastifyReply): void {
  reply.header('retry-after', String(STORE_RETRY_SECONDS));
}

function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

/**
 * Where to go after signing in or acting, taken from a request: a console page one reads with GET, written
 * as the browser will ask for it (a `..` would lead out of the console; sign-out is no page), never the
 * sign-in page or an asset; else `fallback`.
 */
function consolePage(app: FastifyInstance, target: string | undefined, fallback: string): string {
  if (target === undefined || !CONSOLE_PATH.test(target)) return fallback;
  const { pathname, search } = new URL(target, 'http://console.invalid');
  const page =
    `${pathname}${search}` === target &&
    pathname !== '/console/signin' &&
    !pathname.startsWith('/console/assets/') &&
    app.findRoute({ method: 'GET', url: pathname }) !== null;
  return page ? target : fallback;
}

/**
 * Whether the gateway can be reached, as the relay knows it: down when a gateway says it cannot send (an
 * SMPP bind), a provider's every host failed (skipped by the breaker), sending to it is paused (its account refused, or the gateway down or busy), or the
 * last attempt was deferred (or its SMS expired) after the last SMS sent; each reason said. An HTTP gateway's own health knows
 * nothing of its answers.
 */
function gatewayState(
  gateway: ReturnType<ConsoleOptions['gateway']>,
  activity: Awaited<ReturnType<ConsoleStore['gatewayActivity']>>,
): { up: boolean; why: string[] } {
  const named = (provider: string) => (gateway.providers.length > 1 ? `${provider}: ` : '');
  const why = [
    ...gateway.health.flatMap((health) => (health.ok ? [] : [health.detail ?? 'cannot send'])),
    ...gateway.providers.flatMap((provider) => [
      ...(provider.hosts.length > 0 && provider.hosts.every((host) => host.failed)
        ? [`${named(provider.provider)}${provider.hosts.length === 1 ? 'its host' : 'every host'} failed`]
        : []),
      ...(provider.pause ? [`${named(provider.provider)}sending is paused`] : []),
    ]),
    // A refusal of one number (`failed`) says nothing about the gateway: a deferral or an expiry does.
    ...(activity.lastError && activity.lastError.kind !== 'failed' && (activity.lastSent === undefined || activity.lastError.at > activity.lastSent)
      ? ['the last attempt failed, none sent since']
      : []),
  ];
  return { up: why.length === 0, why };
}

/**
 * `read` run once for every caller asking with the same argument (compared as JSON) while one run is in flight: each
 * asking meanwhile gets that run's answer, or its failure; the next asks anew.
 */
function singleFlight<T, A = void>(read: (argument: A) => Promise<T>): (argument: A) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (argument) => {
    const key = JSON.stringify(argument) ?? '';
    const running =
      inFlight.get(key) ??
      read(argument).finally(() => {
        inFlight.delete(key);
      });
    inFlight.set(key, running);
    return running;
  };
}

/**
 * The providers whose sending is paused (account refused, gateway down or busy), from the store as
 * `smsrelay status` reads them, each with its next probe (admin.ts nextProbe): the overview's Dispatch
 * tile and the queue page say them beside the operator's own pause.
 */
async function providerPausesOf(store: RelayReads, now: number): Promise<Array<SharedPause & { readonly nextProbe: string }>> {
  const [{ pauses }, nextDue] = await Promise.all([store.gatewayState(now), store.nextSmsDueAt()]);
  return pauses.map((pause) => ({ ...pause, nextProbe: nextProbe(pause, nextDue, now, CONSOLE_WORDING.time) }));
}

/** Sending stops only while every provider is paused (the dispatcher claims otherwise: a route's next provider takes it). */
function everyProviderPaused(providers: readonly string[], pauses: ReadonlyArray<{ readonly provider: string }>): boolean {
  return pauses.length > 0 && providers.every((provider) => pauses.some((pause) => pause.provider === provider));
}

/**
 * When a queued SMS is next tried, in words: a time still ahead is that time; one that has passed (the SMS is
 * due) says what it waits for, the operator's pause or a provider's next probe, or that it is due now; a held
 * SMS is tried only once released.
 */
function nextAttempt(
  sms: QueuedSms,
  now: number,
  paused: number | undefined,
  providerPauses: ReadonlyArray<{ readonly provider: string; readonly nextProbe: string }>,
  providers: readonly string[],
): string {
  const sending = beingSent(sms);
  if (sending) return sending;
  if (sms.held) return 'once released';
  if (sms.nextAttemptAt > now) return consoleTime(sms.nextAttemptAt);
  if (paused !== undefined) return `due, when dispatch resumes (${RESUME_BUTTON})`;
  if (everyProviderPaused(providers, providerPauses))
    return `due; sending paused, next probe ${providerPauses.map((pause) => `${pause.nextProbe} (${pause.provider})`).join(' or ')}`;
  return 'due now';
}

/**
 * A queued SMS a relay is attempting now (its lease not ended, as the store judges it: by the database's clock on
 * PostgreSQL, not this relay's, which may differ), in the words the queue and the message page show it: the gateway may
 * have it already, so it is neither waiting nor safely deletable until the attempt's answer (or its deadline). One whose
 * relay is gone with the request in flight (attemptCutOff) is said so: that answer will never come.
 */
function beingSent(sms: Pick<QueuedSms, 'attempts' | 'leasedUntil' | 'beingSent' | 'attemptCutOff'>): string | undefined {
  if (sms.attemptCutOff) return `attempt ${sms.attempts + 1}'s ${ATTEMPT_CUT_OFF}`;
  if (!sms.beingSent || sms.leasedUntil === undefined) return undefined;
  return `being sent (attempt ${sms.attempts + 1}), its answer due by ${consoleTime(sms.leasedUntil)}`;
}

/** A page of a list read one row past it (`PAGE_SIZE + 1`): its rows, and where the next page starts when one follows. */
interface Paged<T> {
  readonly rows: T[];
  readonly next: string | undefined;
}

/** The one row more than a page tells whether another page follows: a full last page links to no empty one. */
function pageOf<T>(listed: readonly T[], position: (last: T) => string): Paged<T> {
  const rows = listed.slice(0, PAGE_SIZE);
  const last = rows.at(-1);
  return { rows, next: listed.length > PAGE_SIZE && last !== undefined ? position(last) : undefined };
}

/** `<time>_<key>`, the last row of the page before in a list by time (a conversation, a reply); null when it is not one. */
function timedPosition(value: string): { at: number; key: string } | null {
  const match = /^(\d{1,15})_([\x21-\x7e]+)$/.exec(value);
  return match?.[1] && match[2] ? { at: Number(match[1]), key: match[2] } : null;
}

/**
 * A conversation's page position: `m<SMS id>` the last mail shown, `r<time>_<id>` the last reply shown, either or both (in
 * that order: a reply's id may hold any character); null when it is not one.
 */
function threadCursor(value: string): ThreadCursor | null {
  const match = /^(?:m(\d{1,15}))?(?:r(\d{1,15})_(.+))?$/.exec(value);
  if (!match || value === '') return null;
  const [, mail, at, id] = match;
  return { mail: mail === undefined ? undefined : Number(mail), reply: at === undefined || id === undefined ? undefined : { at: Number(at), id } };
}

/** The position threadCursor reads. */
function cursorValue(cursor: ThreadCursor): string {
  return `${cursor.mail === undefined ? '' : `m${cursor.mail}`}${cursor.reply ? `r${cursor.reply.at}_${cursor.reply.id}` : ''}`;
}

/**
 * The queue page whose list of replies without a mailbox (newest first) starts at the one received at `receivedAt`, at
 * its row: a position just after it, since the list reads before its position ('!', the least id timedPosition takes).
 * Another reply received in the same millisecond may come first.
 */
function undeliverableOnQueue(receivedAt: number, id: string): string {
  return `/console/queue?${new URLSearchParams({ replies: `${receivedAt + 1}_!` })}#reply-${encodeURIComponent(id)}`;
}

/** Where each of the queue page's lists starts: after an SMS id, before a reply, after a quarantined request's id; null when one is not a position. */
type QueuePositions = { readonly after: number; readonly replies: InboundPosition | undefined; readonly quarantine: number };

function queuePositions(query: Fields<'queuePage'>): QueuePositions | null {
  const id = (value: string | undefined) => (value === undefined ? 0 : /^\d{1,15}$/.test(value) ? Number(value) : null);
  const after = id(query.after);
  const quarantine = id(query.quarantine);
  const reply = query.replies === undefined ? undefined : timedPosition(query.replies);
  if (after === null || quarantine === null || reply === null) return null;
  return { after, replies: reply && { receivedAt: reply.at, id: reply.key }, quarantine };
}

/**
 * What Sender searches by: an address as SMTP takes and lists it, its local part a word or an RFC 5321 quoted string
 * (`"john doe"@example.com`: blanks, an `@` or an escaped `\"` inside the quotes); a domain (`@example.com`); or a sender
 * without a domain (`script`).
 */
const SENDER_SEARCH = /^(?=.)(?:"(?:[^"\\]|\\.)*"|[^@\s"]+)?(?:@[^@\s"]+)?$/;

/**
 * A search's Number as written or pasted, read as Test send reads it (numberPasted: a mail's To, a `tel:` link), then as
 * the store keeps numbers; a refusal names what was read and what it was read from.
 */
function searchedNumber(written: string, config: Config): { ok: true; e164: string } | { ok: false; problem: string } {
  const pasted = numberPasted(written, config.sms.domains);
  if (!pasted.ok) return { ok: false, problem: `Number: ${pasted.reason}` };
  const number = normaliseNumber(pasted.number, config.sms.defaultRegion);
  return number.ok ? { ok: true, e164: number.e164 } : { ok: false, problem: `Number: ${number.reason}${pasted.readFrom}` };
}

/** Why a viewer may not search by a number, the rest of its refusal. */
const VIEWER_NUMBER_SEARCH =
  'viewers see numbers masked and cannot search by one (each answer would tell whether a guess is the masked number): ask an operator';

/**
 * A search a viewer may not make: by a number, or by a sender holding one (`447700900556@erp.example.com`). Viewers see
 * numbers masked (`+4477******23`): a search answering whether a number has mail tells whether a guess is the masked one,
 * and a million guesses recover it. Operators, who see numbers whole, search by them.
 */
function numberSearchRefused(query: { readonly number?: string | undefined; readonly sender?: string | undefined }, context: Context): string | undefined {
  if (context.signedIn.user.role === 'operator') return undefined;
  if (query.number) return `Number: ${VIEWER_NUMBER_SEARCH}`;
  if (query.sender && maskNumbersIn(query.sender) !== query.sender) return `Sender: it holds a number; ${VIEWER_NUMBER_SEARCH}`;
  return undefined;
}

/** The search form's fields, checked: each bad one is named. */
function parseSearch(query: Fields<'messages'>, config: Config): { search: MessageSearch } | { problem: string } {
  const search: { -readonly [Key in keyof MessageSearch]: MessageSearch[Key] } = {};
  if (query.number) {
    const number = searchedNumber(query.number, config);
    if (!number.ok) return { problem: number.problem };
    search.number = number.e164;
  }
  if (query.sender) {
    // As typed: the store compares it without case, folding both sides alike (console-rows.ts, searchStatement).
    const sender = query.sender.trim();
    // A sender without a domain (`MAIL FROM:<script>`, which the relay takes) is listed as it is: it is found as it is.
    if (!SENDER_SEARCH.test(sender)) {
      return { problem: 'Sender: write an address such as alerts@example.com, a domain such as @example.com, or a sender without a domain as listed' };
    }
    search.sender = sender;
  }
  if (query.id) {
    // The relay's id, or the mail's own Message-ID: what the mail's sender knows it by ("what happened to my mail <abc@host>?").
    const id = messageIdSearch(query.id);
    if (id) Object.assign(search, id);
    else {
      return {
        problem: 'Message id: expected a relay message id such as 0190a4e2-7c3b-7d6e-9f10-2b3c4d5e6f70, or a mail’s Message-ID such as <abc@example.com>',
      };
    }
  }
  if (query.status) {
    if (!(STATUSES as readonly string[]).includes(query.status)) return { problem: `Status: expected one of ${STATUSES.join(', ')}` };
    search.status = query.status as MessageSearch['status'];
  }
  for (const field of ['since', 'until'] as const) {
    const value = query[field];
    if (!value) continue;
    const label = field === 'since' ? 'From' : 'To';
    const at = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
    if (Number.isNaN(at)) return { problem: `${label}: expected a date and time such as 2026-01-31T14:00 (UTC)` };
    // Date.parse rolls a day past its month's end over into the next month (2026-02-30 is 2 March): no such day is meant.
    const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
    if (day && new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]))).getUTCDate() !== Number(day[3])) {
      return { problem: `${label}: there is no ${day[0]} (that month has fewer days)` };
    }
    search[field] = at;
  }
  if (search.since !== undefined && search.until !== undefined && search.since >= search.until) return { problem: 'From must be before To' };
  if (query.before) {
    if (!/^[0-9a-f-]{36}$/i.test(query.before)) return { problem: 'Page: not a position in the results; start the search again' };
    search.before = query.before.toLowerCase();
  }
  return { search };
}

/** A time as a datetime-local field takes it, in UTC: to the minute, or the second or millisecond when it has them. */
function utcField(at: number): string {
  const written = new Date(at).toISOString();
  return written.slice(0, at % 1000 !== 0 ? 23 : at % 60_000 !== 0 ? 19 : 16);
}

/** A plain-text mail as a client would submit it, for the acceptance service to read like any other; `submission`, its form's id, is its Message-ID. */
function testMail(from: string, to: string, text: string, submission: string, now: number): Buffer {
  return Buffer.from(
    [
      `From: <${from}>`,
      `To: <${to}>`,
      `Date: ${new Date(now).toUTCString()}`,
      `Message-ID: <${submission}@console.smsrelay>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n'),
      '',
    ].join('\r\n'),
  );
}

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { DUMMY_HASH, LOOPBACK_ADDRESSES } from '../acceptance/service.ts';
import type { Config } from '../config/load.ts';
import { RelayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { LOGIN_WINDOW_MS, type LoginFailureStore, LoginThrottle, MAX_LOGIN_FAILURES, signInName } from '../policy/logins.ts';
import { type ForeignHost, foreignHost, forwardedHost, hostMatcher, requestHost } from '../http/hosts.ts';
import { forwardedClient, headerList, networkMatcher, peerAddress } from '../policy/networks.ts';
import { verifyPassword } from '../policy/passwords.ts';
import type { ConsoleSession, ConsoleStore } from '../store/console-types.ts';

export const SESSION_COOKIE = 'smsrelay_console';
/** The sign-in form's token before any session: the cookie half of a double submit, sent only back to the sign-in form. */
const SIGNIN_COOKIE = 'smsrelay_signin';
const SIGNIN_PATH = '/console/signin';
/** 256 bits: a session token or CSRF token cannot be guessed. */
const TOKEN_BYTES = 32;
/** A session's last use is written at most this often (not on every page view: a write per request would load the store). */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * The header the console's script sends with the overview's automatic refresh (console.js): the person did nothing, so the
 * session's last use stays. A request that sends it only keeps its own session from counting as used, and only a GET of
 * the overview (OVERVIEW_PATHS) is taken as a refresh: a form sent or another page opened is the person's use, whatever
 * its headers say.
 */
const REFRESH_HEADER = 'x-console-refresh';
/** The overview, the one page that refreshes itself (fastify answers its route with and without the trailing slash). */
const OVERVIEW_PATHS: ReadonlySet<string> = new Set(['/console', '/console/']);
/** Under a short idle timeout, its last use is written this share of the timeout apart instead, so a session in use is saved well within it. */
const TOUCH_SHARE_OF_IDLE = 0.1;

export type ConsoleSettings = Config['console'];
export type ConsoleUser = ConsoleSettings['users'][number];

/** Where a request comes from, as the console judges it. */
export interface Channel {
  /** The client: the socket's peer, or the address a trusted proxy forwarded for. */
  readonly address: string;
  /** The request reached the relay over TLS (declared by an https `console.publicUrl`, or said by a trusted proxy). */
  readonly tls: boolean;
  /** The client is this host itself, with no proxy in between. */
  readonly loopback: boolean;
}

export interface SignedIn {
  readonly session: ConsoleSession;
  readonly user: ConsoleUser;
  /** The session cookie with its new last use, to set when the request saved it; else undefined. */
  readonly renewed: string | undefined;
}

/**
 * Who may use the console and how (docs/console.md, "Access"): the network check, sign-in over TLS
 * or from loopback only, the store-kept throttle, sessions with idle and absolute expiry, the CSRF
 * token of each session. A forwarded header counts only from an `http.trustedProxies` address.
 */
export class ConsoleAccess {
  readonly #settings: ConsoleSettings;
  readonly #store: ConsoleStore;
  readonly #clock: () => number;
  readonly #pause: (ms: number) => Promise<void>;
  readonly #logger: Logger;
  readonly #allowed: (address: string) => boolean;
  readonly #proxy: (address: string) => boolean;
  readonly #declaredTls: boolean;
  /** `console.publicUrl`'s origin: the console as people reach it, whatever Host a proxy sends on. */
  readonly #publicOrigin: string | undefined;
  /** Whether a Host or X-Forwarded-Host names this relay (http.allowedHosts, the publicUrls, IP addresses, localhost). */
  readonly #servedHost: (host: string | undefined) => boolean;
  readonly #logins: LoginThrottle;
  /** How stale the stored last use may get before a request writes it again. */
  readonly #touchEveryMs: number;
  /**
   * Idle time counted from the stored last use: the idle timeout plus the most the stored value may
   * lag the last request, so that no session ends sooner than `sessionIdleTimeout` after its last request.
   */
  readonly #idleMs: number;

  constructor(options: {
    readonly settings: ConsoleSettings;
    /** The names the relay is reached by (servedHostNames). */
    readonly hosts: readonly string[];
    readonly store: ConsoleStore;
    readonly clock: () => number;
    readonly logger: Logger;
    readonly pause?: ((ms: number) => Promise<void>) | undefined;
  }) {
    this.#settings = options.settings;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#pause = options.pause ?? sleep;
    this.#allowed = networkMatcher(options.settings.allowedNetworks);
    this.#proxy = networkMatcher(options.settings.trustedProxies);
    this.#declaredTls = options.settings.publicUrl?.startsWith('https:') ?? false;
    this.#publicOrigin = options.settings.publicUrl === undefined ? undefined : originOf(options.settings.publicUrl);
    this.#servedHost = hostMatcher(options.hosts);
    // Counted before the password is checked: a sign-in while the store refuses writes is a 503 unchecked, not an uncounted guess.
    this.#logins = new LoginThrottle(consoleLoginFailures(options.store));
    this.#touchEveryMs = Math.min(TOUCH_INTERVAL_MS, options.settings.sessionIdleTimeout * TOUCH_SHARE_OF_IDLE);
    this.#idleMs = options.settings.sessionIdleTimeout + this.#touchEveryMs;
  }

  channel(request: FastifyRequest): Channel {
    const peer = peerAddress(request.socket.remoteAddress);
    if (!this.#proxy(peer)) return { address: peer, tls: this.#declaredTls, loopback: LOOPBACK_ADDRESSES.has(peer) };
    // The nearest hop that is not one of our proxies is the client; the proxy nearest us says the scheme.
    const hops = headerList(request.headers['x-forwarded-for']);
    const client = forwardedClient(this.#proxy, peer, hops);
    const proto = headerList(request.headers['x-forwarded-proto']).at(-1);
    return { address: client, tls: this.#declaredTls || proto === 'https', loopback: hops.length === 0 && LOOPBACK_ADDRESSES.has(peer) };
  }

  /** The name the request was sent to that is not the relay's (its Host, or a trusted proxy's X-Forwarded-Host), if any: foreignHost. */
  foreignHost(request: FastifyRequest): ForeignHost | undefined {
    return foreignHost(request, this.#proxy, this.#servedHost);
  }

  allowed(channel: Channel): boolean {
    return this.#allowed(channel.address);
  }

  /**
   * Whether a POST comes from the console's own pages, as far as its `Origin` tells: a browser names the
   * page's origin on every POST, so another site's form (a cross-site action, or a sign-in into someone
   * else's account) names that site, or `null` when it hides it. Without the header (no browser) the
   * CSRF token decides alone. The console's origin is `console.publicUrl`'s, or the scheme the request
   * came over with the host it was sent to (`X-Forwarded-Host` from a trusted proxy, else `Host`) when
   * that host is a name of the relay: a page re-pointed to the relay by DNS (rebinding) names its own.
   */
  sameOrigin(request: FastifyRequest, channel: Channel): boolean {
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    const host = forwardedHost(request, this.#proxy) ?? requestHost(request);
    return origin === this.#publicOrigin || (this.#servedHost(host) && origin === originOf(`${channel.tls ? 'https' : 'http'}://${host}`));
  }

  /**
   * Why `channel` may not sign in, or undefined: a password travels in clear only from this host. The
   * sign-in page asks it too, so that it offers no password field a browser would send in clear.
   */
  insecureSignIn(channel: Channel): RelayError | undefined {
    if (channel.tls || channel.loopback) return undefined;
    const where = this.#settings.publicUrl ? `: use ${this.#settings.publicUrl}` : ' (set console.publicUrl or http.trustedProxies for a TLS proxy)';
    return new RelayError('ENCRYPTION_REQUIRED', `Sign-in needs HTTPS from anywhere but this host${where}`);
  }

  /** Signs a user in; the refusal says why (and, when throttled, how long to wait). */
  async signIn(
    name: string,
    password: string,
    channel: Channel,
  ): Promise<{ ok: true; token: string; user: ConsoleUser } | { ok: false; error: RelayError; retryAfterSeconds?: number }> {
    const insecure = this.insecureSignIn(channel);
    if (insecure) return { ok: false, error: insecure };
    const now = this.#clock();
    // An unknown name costs the same scrypt as a wrong password: timing tells no user names.
    const named = this.#settings.users.find((candidate) => candidate.name === name);
    const logged = signInName(name, named !== undefined);
    const attempt = await this.#logins.attempt(channel.address, logged, now, async () =>
      (await verifyPassword(password, named?.passwordHash ?? DUMMY_HASH)) ? named : undefined,
    );
    if (attempt.outcome === 'blocked') {
      const failures = await this.#store.loginFailures(channel.address, now - LOGIN_WINDOW_MS);
      // The block lifts as the MAX_LOGIN_FAILURES-th latest failure leaves the window; one still in flight counts from now.
      const waitMs = (failures[failures.length - MAX_LOGIN_FAILURES] ?? now) + LOGIN_WINDOW_MS - now;
      const minutes = Math.max(1, Math.ceil(waitMs / 60_000));
      return {
        ok: false,
        error: new RelayError('LOGIN_BLOCKED', `Too many failed sign-ins from your address: wait ${minutes} minute${minutes === 1 ? '' : 's'}, then try again`),
        retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
      };
    }
    if (attempt.outcome === 'failed') {
      this.#logger.warn({ client: channel.address, user: logged, delayMs: attempt.delayMs }, 'console: sign-in failed');
      await this.#pause(attempt.delayMs);
      return { ok: false, error: new RelayError('AUTH_FAILED', 'Wrong user name or password') };
    }
    const user = attempt.who;
    await this.#store.expireSessions(now - this.#idleMs, now - this.#settings.sessionMaxAge);
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    await this.#store.createSession({
      id: sessionId(token),
      username: user.name,
      csrf: randomBytes(TOKEN_BYTES).toString('base64url'),
      client: channel.address,
      createdAt: now,
      lastSeenAt: now,
    });
    this.#logger.info({ client: channel.address, user: user.name }, 'console: signed in');
    return { ok: true, token: sessionCookie(token, now, now), user };
  }

  /**
   * The session of the request's cookie: 'expired' when it ran out (or its user was removed), 'ended' when
   * the store has none for a cookie that had not run out (signed out), undefined when there is no cookie.
   * A session that ran out is deleted by the first request that finds it so, or by the sweep at a
   * sign-in: later requests find no row, and the times the cookie carries (`sessionCookie`) tell that
   * it ran out rather than ended. The overview's own refresh (REFRESH_HEADER) is no use of the session: it leaves its last
   * use as it was, so that a page left open on an unattended screen ends after the idle timeout as any other.
   */
  async session(request: FastifyRequest): Promise<SignedIn | 'expired' | 'ended' | undefined> {
    const cookie = readSessionCookie(cookieValue(request.headers.cookie, SESSION_COOKIE));
    if (!cookie) return undefined;
    const session = await this.#store.session(sessionId(cookie.token));
    const now = this.#clock();
    if (!session) return cookie.times !== undefined && this.#runOut(cookie.times, now) ? 'expired' : 'ended';
    const user = this.#settings.users.find((candidate) => candidate.name === session.username);
    if (!user || this.#runOut({ createdAt: session.createdAt, seen: session.lastSeenAt }, now)) {
      await this.#store.deleteSession(session.id);
      return 'expired';
    }
    if (now - session.lastSeenAt < this.#touchEveryMs || ownRefresh(request)) return { session, user, renewed: undefined };
    await this.#store.touchSession(session.id, now);
    return { session, user, renewed: this.cookie(sessionCookie(cookie.token, session.createdAt, now), this.channel(request)) };
  }

  /** Whether a session last used at `seen` has run out by `now`: unused too long, or signed in too long ago. */
  #runOut(times: { readonly createdAt: number; readonly seen: number }, now: number): boolean {
    return now - times.seen > this.#idleMs || now - times.createdAt > this.#settings.sessionMaxAge;
  }

  async signOut(session: ConsoleSession): Promise<void> {
    await this.#store.deleteSession(session.id);
  }

  /** The session's CSRF token, compared in constant time. */
  csrfValid(session: ConsoleSession, token: unknown): boolean {
    return sameSecret(token, session.csrf);
  }

  /**
   * The sign-in form's token: the one the browser already holds in its sign-in cookie (a form shown
   * again after a wrong password), else a new one with the cookie to set.
   */
  signinToken(request: FastifyRequest, channel: Channel): { token: string; cookie: string | undefined } {
    const held = cookieValue(request.headers.cookie, SIGNIN_COOKIE);
    if (held !== undefined && /^[\w-]{43}$/.test(held)) return { token: held, cookie: undefined };
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    return { token, cookie: `${SIGNIN_COOKIE}=${token}; Path=${SIGNIN_PATH}; HttpOnly; SameSite=Strict${channel.tls ? '; Secure' : ''}` };
  }

  /**
   * A sign-in carries its form's token, the same as its sign-in cookie (a double submit): another site
   * can neither read the cookie nor, SameSite=Strict, have the browser send it, so it cannot sign a
   * person in to an account of its choosing. Unsigned: relays sharing a store share no key, and a form
   * shown by one relay may be posted to another.
   */
  signinTokenValid(request: FastifyRequest, token: unknown): boolean {
    const held = cookieValue(request.headers.cookie, SIGNIN_COOKIE);
    return held !== undefined && held !== '' && sameSecret(token, held);
  }

  /**
   * An action's result as a redirect's query (`done` and its `sig`), signed with the session's secret
   * CSRF token: only the console, for this session, can make a link that shows a notice.
   */
  notice(session: ConsoleSession, text: string): { done: string; sig: string } {
    return { done: text, sig: noticeSignature(session, text) };
  }

  /** The notice of a request's `done` and `sig`, if the console signed it for this session; else none. */
  noticeOf(session: ConsoleSession, query: { readonly done?: string | undefined; readonly sig?: string | undefined }): string | undefined {
    if (query.done === undefined) return undefined;
    return sameSecret(query.sig, noticeSignature(session, query.done)) ? query.done : undefined;
  }

  /** The Set-Cookie value of a cookie's value (`sessionCookie`): HttpOnly, SameSite=Strict, Secure under TLS, for the console's path only. */
  cookie(value: string, channel: Channel): string {
    return `${SESSION_COOKIE}=${value}; Path=/console; HttpOnly; SameSite=Strict${channel.tls ? '; Secure' : ''}`;
  }

  clearedCookie(channel: Channel): string {
    return `${SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0${channel.tls ? '; Secure' : ''}`;
  }

  /** Signed in, the sign-in form's token has served: the next sign-in gets a new one. */
  clearedSigninCookie(channel: Channel): string {
    return `${SIGNIN_COOKIE}=; Path=${SIGNIN_PATH}; HttpOnly; SameSite=Strict; Max-Age=0${channel.tls ? '; Secure' : ''}`;
  }
}

/** A secret given by the client equals the expected one, compared in constant time. */
function sameSecret(token: unknown, expected: string): boolean {
  if (typeof token !== 'string') return false;
  const given = Buffer.from(token);
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/**
 * The session cookie's value: the token, then when the session was signed in and last used as the store
 * saved it (ms). The times only word the sign-in page once the store has no row for the token (ran out,
 * or signed out): a cookie whose times were altered can change that wording and nothing else.
 */
function sessionCookie(token: string, createdAt: number, seen: number): string {
  return `${token}.${createdAt}.${seen}`;
}

/** A session cookie's token and times; a cookie without its times (or with unreadable ones) has its token only. */
function readSessionCookie(value: string | undefined): { token: string; times: { createdAt: number; seen: number } | undefined } | undefined {
  if (!value) return undefined;
  const [token = '', createdAt, seen] = value.split('.');
  const time = (text: string | undefined) => (text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : undefined);
  const created = time(createdAt);
  const used = time(seen);
  return { token, times: created === undefined || used === undefined ? undefined : { createdAt: created, seen: used } };
}

/** The store keeps the token's hash: a copy of the store signs no one in. */
function sessionId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Keyed by the session's secret CSRF token; the label keeps this use of it apart from any other. */
function noticeSignature(session: ConsoleSession, text: string): string {
  return createHmac('sha256', session.csrf).update(`console notice\n${text}`).digest('base64url');
}

/** An address's origin as a browser writes it (default port dropped, host lower-cased); undefined when it is none. */
function originOf(address: string): string | undefined {
  try {
    return new URL(address).origin;
  } catch {
    return undefined;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/**
 * The console's failed sign-ins, kept in its own table (their times give the wait of a blocked address). Each attempt
 * is written before its password is checked, as pending: a store that cannot take the write (locked, full) refuses the
 * attempt unchecked, so a guess made while writes fail is never a free one (a write per success, which the console's
 * rare sign-ins afford). Pending, it counts for no relay sharing the store until it turns out wrong.
 */
export function consoleLoginFailures(store: ConsoleStore): LoginFailureStore {
  const failures = async (address: string, now: number) => (await store.loginFailures(address, now - LOGIN_WINDOW_MS)).length;
  return {
    failures,
    attempt: async (address, account, now) => {
      const id = await store.recordLoginAttempt(address, account, now);
      return {
        failed: async () => {
          await store.loginAttemptFailed(id);
          return failures(address, now);
        },
        passed: () => store.forgetLoginAttempt(id),
      };
    },
    clear: (address, account) => store.clearLoginFailures(address, account),
  };
}

/** Whether the request is the overview's automatic refresh (REFRESH_HEADER): a GET of the overview carrying the header. */
function ownRefresh(request: FastifyRequest): boolean {
  return request.method === 'GET' && request.headers[REFRESH_HEADER] !== undefined && OVERVIEW_PATHS.has(request.url.split('?')[0] ?? '');
}

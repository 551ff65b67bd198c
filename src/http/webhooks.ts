import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { RelayError, toHttpError } from '../errors.ts';
import { type InboundRequest, type WebhookProvider, webhookPaths } from '../providers/contract.ts';
import type { ReceivedSms } from '../vocabulary.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { networkMatcher } from '../policy/networks.ts';
import type { Conversations } from '../replies/conversations.ts';
import { buildReplyMail, type ReplyMailOptions } from '../replies/reply-mail.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { Store } from '../store/types.ts';

export { webhookPaths };

export interface WebhookOptions {
  readonly provider: WebhookProvider;
  readonly store: Store;
  readonly conversations: Conversations;
  readonly replyMail: ReplyMailOptions;
  readonly logger: Logger;
  /** Callers must present it; undefined = no check (loopback demos). */
  readonly token: string | undefined;
  /** Source networks allowed to call; undefined = any. */
  readonly allowedNetworks: readonly string[] | undefined;
  /** Requests per minute from one address; beyond, 429 (providers retry later). */
  readonly perMinute: number;
  /** A header that may carry the token, besides `?token=` and `Authorization: Bearer`. */
  readonly tokenHeader: string | undefined;
  /** The provider's own signature secret and formula (InteractSMS), when configured. */
  readonly signature: { readonly secret: string; readonly formula: string } | undefined;
  /** First words that opt a number out of SMS (STOP) and back in (START). */
  readonly keywords: { readonly stop: readonly string[]; readonly start: readonly string[] };
  readonly onMailQueued: () => void;
  readonly onReportApplied: () => void;
  readonly metrics?: Metrics | undefined;
  /** Why the relay cannot take data now (the disk is nearly full): a 503, and the provider retries. */
  readonly unavailable?: () => RelayError | undefined;
  readonly clock?: () => number;
}

type Outcome = 'accepted' | 'duplicate' | 'undeliverable';

/**
 * The provider's forwarding endpoints. Providers retry anything but a 200 (IntelliSoftware every
 * 5 minutes, for ever): so a 200 means "durably stored" (or "seen before"), a request that cannot be
 * understood is kept in quarantine and answered 200 too, and only a store outage is a 503 (the retry
 * then keeps the SMS). A missing or wrong token is a 401, a forged signature a 403: operator matters.
 * A request with several SMS or reports (Puzzel batches) is answered once all of them are committed.
 */
export function mountWebhooks(app: FastifyInstance, options: WebhookOptions): void {
  const clock = options.clock ?? monotonicNow();
  const log = options.logger;
  const { provider } = options;
  const paths = webhookPaths(provider.name);
  app.register(async (scope) => {
    await scope.register(rateLimit, {
      max: options.perMinute,
      timeWindow: 60_000,
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        code: 'RATE_LIMITED',
        ...toHttpError(new RelayError('RATE_LIMITED', `Too many webhook requests from this address: at most ${context.max} a minute; try again later`)).body,
      }),
    });
    // Raw text for every media type: a body the provider's grammar does not fit is quarantined, not refused with a 415.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    const allowed = options.allowedNetworks ? networkMatcher(options.allowedNetworks) : () => true;
    scope.addHook('onRequest', async (request, reply) => {
      if (!allowed(request.ip)) {
        log.warn({ path: request.url.split('?')[0], client: request.ip }, 'webhook: refused: not from an allowed network');
        return refuse(reply, new RelayError('FORBIDDEN', 'Forbidden: this address may not call the webhooks'));
      }
      const unavailable = options.unavailable?.();
      if (unavailable) return refuse(reply, unavailable);
      if (options.token !== undefined && !presentsToken(request, options.token, options.tokenHeader)) {
        log.warn({ path: request.url.split('?')[0], client: request.ip }, 'webhook: refused: missing or wrong token');
        return refuse(reply, new RelayError('UNAUTHORIZED'));
      }
    });

    scope.post(paths.mo, async (request, reply) => {
      const inbound = inboundOf(request);
      if (!signed(inbound, 'mo')) return forged(reply, 'mo');
      const parsed = provider.parseReceived(inbound);
      if (!parsed.ok) return quarantine(reply, 'mo', parsed.reason, inbound);
      const outcomes = await Promise.all(parsed.items.map((sms) => receive(sms)));
      for (const outcome of outcomes) options.metrics?.inbound.inc({ kind: 'mo', result: outcome.status });
      return reply.send(outcomes.length === 1 ? outcomes[0] : { status: 'accepted', messages: outcomes });
    });

    scope.post(paths.dr, async (request, reply) => {
      const inbound = inboundOf(request);
      if (!signed(inbound, 'dr')) return forged(reply, 'dr');
      const parsed = provider.parseReport(inbound);
      if (!parsed.ok) return quarantine(reply, 'dr', parsed.reason, inbound);
      const results = await Promise.all(
        parsed.items.map(async (report) => {
          const result = await options.store.applyDeliveryReport({ provider: provider.name, ...report, receivedAt: clock() });
          const fields = { providerId: report.providerId, to: maskNumber(report.number), code: report.code, state: report.state };
          if (result.kind === 'orphan') log.info(fields, 'webhook: delivery report for an id not (yet) recorded: kept and matched when it is');
          else if (result.kind === 'advanced') log.info({ ...fields, smsId: result.smsId }, 'webhook: delivery report applied');
          else log.debug({ ...fields, result: result.kind }, 'webhook: delivery report changes nothing');
          return result.kind;
        }),
      );
      for (const result of results) options.metrics?.inbound.inc({ kind: 'dr', result });
      if (results.includes('advanced')) options.onReportApplied();
      return reply.send(results.length === 1 ? { status: results[0] } : { status: 'accepted', reports: results });
    });
  });

  /** Routes one SMS to its mailbox and commits it with its mail. */
  async function receive(sms: ReceivedSms): Promise<{ status: Outcome; id?: string }> {
    const now = clock();
    const context = sms.userContext ?? (sms.trackingId ? await options.store.contextOfTracking(sms.trackingId, sms.number) : undefined);
    const route = await options.conversations.route(sms.number, context, now);
    const id = uuidv7();
    const optOut = optOutOf(sms.text);
    const built = route && (await buildReplyMail({ ...sms, userContext: context, receivedAt: now }, route, options.replyMail));
    const { duplicate } = await options.store.acceptInbound({
      id,
      provider: provider.name,
      providerId: sms.providerId,
      number: sms.number,
      text: sms.text,
      sentAt: sms.sentAt,
      userContext: context,
      receivedAt: now,
      optOut,
      route:
        route && built
          ? { mailbox: route.mailbox, context: route.conversation?.context, mail: { ...built.mail, messageId: id }, messageIdHeader: built.messageIdHeader }
          : undefined,
    });
    const fields = { inboundId: id, providerId: sms.providerId, from: maskNumber(sms.number), context, optOut: optOut?.action };
    if (duplicate) {
      log.info(fields, 'webhook: SMS received again (the gateway retried): already stored, no second mail');
      return { status: 'duplicate' };
    }
    if (!route) {
      log.warn(fields, 'webhook: SMS received but no conversation or default mailbox: kept as undeliverable');
      return { status: 'undeliverable', id };
    }
    log.info({ ...fields, via: route.conversation ? `conversation ${route.conversation.context}` : 'default mailbox' }, 'webhook: SMS received and mailed');
    options.onMailQueued();
    return { status: 'accepted', id };
  }

  /** STOP/START as the SMS's first word (the reply mail still tells the mailbox). */
  function optOutOf(text: string): { action: 'stop' | 'start'; keyword: string } | undefined {
    const word = text.trim().split(/\s+/)[0]?.toUpperCase().replace(/[.!]+$/, '') ?? '';
    if (options.keywords.stop.some((keyword) => keyword.toUpperCase() === word)) return { action: 'stop', keyword: word };
    if (options.keywords.start.some((keyword) => keyword.toUpperCase() === word)) return { action: 'start', keyword: word };
    return undefined;
  }

  function signed(inbound: InboundRequest, kind: 'mo' | 'dr'): boolean {
    if (!options.signature || !provider.verify) return true;
    return provider.verify(inbound, kind, options.signature.secret, options.signature.formula);
  }

  function forged(reply: FastifyReply, kind: 'mo' | 'dr') {
    log.warn({ kind, provider: provider.name }, 'webhook: refused: the provider signature does not match');
    return refuse(reply, new RelayError('FORBIDDEN'));
  }

  async function quarantine(reply: FastifyReply, kind: 'mo' | 'dr', reason: string, inbound: InboundRequest) {
    await options.store.quarantine({ receivedAt: clock(), provider: provider.name, kind, reason, body: inbound.body });
    options.metrics?.inbound.inc({ kind, result: 'quarantined' });
    log.warn({ kind, reason }, 'webhook: request not understood: quarantined (answered 200 so the gateway does not retry it for ever)');
    return reply.send({ status: 'quarantined', reason });
  }
}

/**
 * Milliseconds that never repeat: two SMS from one phone in the same millisecond still order, so
 * "the conversation the phone used last" has one answer.
 */
function monotonicNow(): () => number {
  let last = 0;
  return () => {
    last = Math.max(Date.now(), last + 1);
    return last;
  };
}

function refuse(reply: FastifyReply, error: RelayError) {
  const { status, body } = toHttpError(error);
  return reply.status(status).send(body);
}

/** A webhook request as the provider plug-ins read it (needs a parser that keeps the body as text). */
export function inboundOf(request: FastifyRequest): InboundRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return {
    contentType: (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '',
    body: typeof request.body === 'string' ? request.body : '',
    query: new URL(request.url, 'http://relay.invalid').searchParams,
    headers,
  };
}

/** `?token=`, `Authorization: Bearer` or the configured header, compared in constant time (digests: equal lengths). */
function presentsToken(request: FastifyRequest, token: string, header: string | undefined): boolean {
  const query = new URL(request.url, 'http://relay.invalid').searchParams.get('token');
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  const custom = header ? request.headers[header.toLowerCase()] : undefined;
  const expected = digest(token);
  return [query, bearer, typeof custom === 'string' ? custom : undefined].some(
    (given) => given !== null && given !== undefined && timingSafeEqual(digest(given), expected),
  );
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

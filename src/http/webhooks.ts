import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { RelayError, toHttpError } from '../errors.ts';
import { type Parsed, parseReceivedSms, parseStatusReport, PROVIDER } from '../gateways/intellisoftware-inbound.ts';
import type { Logger } from '../log.ts';
import type { Conversations } from '../replies/conversations.ts';
import { buildReplyMail, type ReplyMailOptions } from '../replies/reply-mail.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { Store } from '../store/types.ts';

export const WEBHOOK_PATHS = { mo: `/webhooks/${PROVIDER}/mo`, dr: `/webhooks/${PROVIDER}/dr` } as const;
const FORM = 'application/x-www-form-urlencoded';

export interface WebhookOptions {
  readonly store: Store;
  readonly conversations: Conversations;
  readonly replyMail: ReplyMailOptions;
  readonly logger: Logger;
  /** Callers must present it; undefined = no check (loopback demos). */
  readonly token: string | undefined;
  readonly onMailQueued: () => void;
  readonly onReportApplied: () => void;
  readonly clock?: () => number;
}

/**
 * The gateway's forwarding endpoints. The platform retries anything but a 200 every 5 minutes, for
 * ever (PROTOCOLS §1.4): so a 200 means "durably stored" (or "seen before"), a request that cannot be
 * understood is kept in quarantine and answered 200 too, and only a store outage is a 503 (the retry
 * is then what keeps the SMS). A wrong or missing token is a 401: an operator's mistake to see.
 */
export function mountWebhooks(app: FastifyInstance, options: WebhookOptions): void {
  const clock = options.clock ?? Date.now;
  const log = options.logger;
  app.register(async (scope) => {
    // Raw text for every media type: a body that is no form is quarantined, not refused with a 415.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    scope.addHook('onRequest', async (request, reply) => {
      if (options.token !== undefined && !presentsToken(request, options.token)) {
        log.warn({ path: request.url.split('?')[0], client: request.ip }, 'webhook: refused: missing or wrong token');
        const { status, body } = toHttpError(new RelayError('UNAUTHORIZED'));
        return reply.status(status).send(body);
      }
    });

    scope.post(WEBHOOK_PATHS.mo, async (request, reply) => {
      const parsed = parseReceivedSms(formOf(request));
      if (!parsed.ok) return quarantine(request, reply, 'mo', parsed);
      const sms = parsed.value;
      const now = clock();
      const route = await options.conversations.route(sms.number, sms.userContext, now);
      const id = uuidv7();
      const built = route && (await buildReplyMail({ ...sms, receivedAt: now }, route, options.replyMail));
      const { duplicate } = await options.store.acceptInbound({
        id,
        provider: PROVIDER,
        ...sms,
        receivedAt: now,
        route:
          route && built
            ? { mailbox: route.mailbox, context: route.conversation?.context, mail: { ...built.mail, messageId: id }, messageIdHeader: built.messageIdHeader }
            : undefined,
      });
      const fields = { inboundId: id, providerId: sms.providerId, from: maskNumber(sms.number), context: sms.userContext };
      if (duplicate) {
        log.info(fields, 'webhook: SMS received again (the gateway retried): already stored, no second mail');
        return reply.send({ status: 'duplicate' });
      }
      if (!route) {
        log.warn(fields, 'webhook: SMS received but no conversation or default mailbox: kept as undeliverable');
        return reply.send({ status: 'undeliverable', id });
      }
      log.info({ ...fields, via: route.conversation ? `conversation ${route.conversation.context}` : 'default mailbox' }, 'webhook: SMS received and mailed');
      options.onMailQueued();
      return reply.send({ status: 'accepted', id });
    });

    scope.post(WEBHOOK_PATHS.dr, async (request, reply) => {
      const parsed = parseStatusReport(formOf(request));
      if (!parsed.ok) return quarantine(request, reply, 'dr', parsed);
      const report = parsed.value;
      const result = await options.store.applyDeliveryReport({ provider: PROVIDER, ...report, receivedAt: clock() });
      const fields = { providerId: report.providerId, to: maskNumber(report.number), code: report.code, state: report.state };
      if (result.kind === 'orphan') log.info(fields, 'webhook: delivery report for an id not (yet) recorded: kept and matched when it is');
      else if (result.kind === 'advanced') {
        log.info({ ...fields, smsId: result.smsId }, 'webhook: delivery report applied');
        options.onReportApplied();
      } else log.debug({ ...fields, result: result.kind }, 'webhook: delivery report changes nothing');
      return reply.send({ status: result.kind });
    });
  });

  async function quarantine(request: FastifyRequest, reply: FastifyReply, kind: 'mo' | 'dr', parsed: Parsed<unknown> & { ok: false }) {
    const reason = isForm(request) ? parsed.reason : `the body is ${request.headers['content-type'] ?? 'untyped'}, not a form`;
    await options.store.quarantine({ receivedAt: clock(), provider: PROVIDER, kind, reason, body: bodyText(request) });
    log.warn({ kind, reason }, 'webhook: request not understood: quarantined (answered 200 so the gateway does not retry it for ever)');
    return reply.send({ status: 'quarantined', reason });
  }
}

function isForm(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() === FORM;
}

function bodyText(request: FastifyRequest): string {
  return typeof request.body === 'string' ? request.body : '';
}

function formOf(request: FastifyRequest): URLSearchParams {
  return isForm(request) ? new URLSearchParams(bodyText(request)) : new URLSearchParams();
}

/** `?token=` or `Authorization: Bearer`, compared in constant time (digests: equal lengths). */
function presentsToken(request: FastifyRequest, token: string): boolean {
  const query = new URL(request.url, 'http://relay.invalid').searchParams.get('token');
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  const expected = digest(token);
  return [query, bearer].some((given) => given !== null && given !== undefined && timingSafeEqual(digest(given), expected));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

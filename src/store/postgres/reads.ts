/**
 * The relay's own tables as operators read them (the queue, its figures, a message's SMS and history, pauses, the
 * quarantine): one implementation, run by the relay's store on its pool and by the console on its own read pool
 * (console.ts), whose lock and statement bounds keep a page waiting on a locked table from holding a connection the relay
 * commits mail on (docs/console.md, The store).
 */
import type pg from 'pg';
import {
  quarantineBytesSql,
  quarantineEntry,
  quarantinedBody,
  type QuarantineBodyRow,
  type QuarantineRow,
  queuedColumns,
  type QueuedRow,
  type SmsStateRow,
  smsStateColumns,
  toQueuedSms,
  toSmsState,
  waitsForSendAt,
} from '../rows.ts';
import type { SharedGatewayState } from '../shared-state-types.ts';
import { toUndeliverable, UNDELIVERABLE_COLUMNS, type UndeliverableRow } from '../sqlite-replies.ts';
import type {
  InboundPosition,
  QuarantinedBody,
  QuarantineEntry,
  QuarantineSpan,
  QueuedSms,
  QueueStats,
  SmsState,
  StoredEvent,
  UndeliverableInbound,
} from '../types.ts';
import type { RelayReads } from '../console-types.ts';
import { DB_NOW_MS } from './clock.ts';
import * as shared from './shared-state.ts';

/** A kept body's size as received (rows.ts quarantineBytesSql), in PostgreSQL's bytes of its text. */
const QUARANTINE_BYTES = quarantineBytesSql('octet_length(body)');
/** No operator's pause of dispatch (the `control` row setDispatchPaused writes). */
export const NOT_PAUSED = "NOT EXISTS (SELECT 1 FROM control WHERE key = 'dispatch_paused')";

export class PostgresReads implements RelayReads {
  readonly #query: shared.Query;
  readonly #clock: shared.DatabaseClock;

  /** `query`: one statement on the pool it reads through, its failures already the relay's errors. */
  constructor(query: shared.Query, clock: shared.DatabaseClock) {
    this.#query = query;
    this.#clock = clock;
  }

  async #rows<R extends pg.QueryResultRow>(sql: string, values: readonly unknown[] = []): Promise<R[]> {
    return this.#query<R>(sql, values);
  }

  async #row<R extends pg.QueryResultRow>(sql: string, values: readonly unknown[] = []): Promise<R | undefined> {
    return (await this.#rows<R>(sql, values))[0];
  }

  async nextSmsDueAt(): Promise<number | undefined> {
    const row = await this.#row<{ at: number | null }>(`
      SELECT MIN(next_attempt_at) AS at FROM outbound WHERE status = 'queued' AND held = 0 AND ${NOT_PAUSED}`);
    return row?.at ?? undefined;
  }

  async queueStats(now: number): Promise<QueueStats> {
    const scheduled = `o.held = 0 AND m.send_at > $1 AND ${waitsForSendAt('o', 'm')}`;
    const row = await this.#row<{
      queued: number;
      held: number;
      scheduled: number;
      next_scheduled: number | null;
      oldest_age_ms: number | null;
      mail_queued: number;
      mail_oldest_age_ms: number | null;
      undeliverable: number;
      quarantined: number;
    }>(
      `
      SELECT s.queued, s.held, s.scheduled, s.next_scheduled, ${DB_NOW_MS} - s.oldest AS oldest_age_ms, m.queued AS mail_queued,
        ${DB_NOW_MS} - m.oldest AS mail_oldest_age_ms,
        (SELECT COUNT(*) FROM inbound WHERE mailbox IS NULL) AS undeliverable, (SELECT COUNT(*) FROM quarantine) AS quarantined
      FROM (SELECT COUNT(*) FILTER (WHERE held = 0) AS queued, COUNT(*) FILTER (WHERE held = 1) AS held,
              COUNT(*) FILTER (WHERE ${scheduled}) AS scheduled, MIN(m.send_at) FILTER (WHERE ${scheduled}) AS next_scheduled,
              MIN(GREATEST(COALESCE(m.db_received_at, m.received_at), m.send_at)) AS oldest
            FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.status = 'queued') s,
        (SELECT COUNT(*) AS queued, MIN(COALESCE(db_created_at, created_at)) AS oldest FROM mail_out WHERE status = 'queued') m`,
      [now],
    );
    // Measured on the database's clock from the database's stamps (schema 37): the relays' clocks, the accepting one's and
    // this one's, may differ from it and each other (docs/several-relays.md). A row stored before schema 37 has only its
    // relay's stamp; an X-SMS-Send-At is a time of the world, whichever clock reads it.
    const age = (ms: number | null | undefined) => (ms === null || ms === undefined ? 0 : Math.max(0, Math.round(ms / 1000)));
    return {
      sms: {
        queued: row?.queued ?? 0,
        held: row?.held ?? 0,
        scheduled: row?.scheduled ?? 0,
        nextScheduledAt: row?.next_scheduled ?? undefined,
        oldestAgeSeconds: age(row?.oldest_age_ms),
      },
      mail: { queued: row?.mail_queued ?? 0, oldestAgeSeconds: age(row?.mail_oldest_age_ms) },
      undeliverableInbound: row?.undeliverable ?? 0,
      quarantined: row?.quarantined ?? 0,
    };
  }

  async listQueued(limit: number, afterSmsId = 0): Promise<QueuedSms[]> {
    const rows = await this.#rows<QueuedRow>(
      `SELECT ${queuedColumns(DB_NOW_MS)}
      FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.status = 'queued' AND o.id > $2 ORDER BY o.id LIMIT $1`,
      [limit, afterSmsId],
    );
    return rows.map(toQueuedSms);
  }

  async listQuarantine(limit: number, afterId = 0): Promise<QuarantineEntry[]> {
    const rows = await this.#rows<QuarantineRow>(
      `SELECT id, received_at, provider, kind, reason, ${QUARANTINE_BYTES} AS bytes, body_erased FROM quarantine WHERE id > $2 ORDER BY id LIMIT $1`,
      [limit, afterId],
    );
    return rows.map(quarantineEntry);
  }

  async quarantined(id: number): Promise<QuarantinedBody | undefined> {
    const row = await this.#row<QuarantineBodyRow>(
      `SELECT id, received_at, provider, kind, reason, ${QUARANTINE_BYTES} AS bytes, body, body_erased FROM quarantine WHERE id = $1`,
      [id],
    );
    return row && quarantinedBody(row);
  }

  async quarantineSpan(): Promise<QuarantineSpan> {
    const row = await this.#row<{ count: number; newest_id: string | null }>('SELECT COUNT(*)::int AS count, MAX(id) AS newest_id FROM quarantine', []);
    return { count: row?.count ?? 0, newestId: row?.newest_id == null ? undefined : Number(row.newest_id) };
  }

  async dispatchPausedSince(): Promise<number | undefined> {
    const row = await this.#row<{ value: string }>("SELECT value FROM control WHERE key = 'dispatch_paused'");
    return row ? Number(row.value) : undefined;
  }

  async undeliverableInbound(limit: number, before?: InboundPosition): Promise<UndeliverableInbound[]> {
    const rows = await this.#rows<UndeliverableRow>(
      `SELECT ${UNDELIVERABLE_COLUMNS} WHERE i.mailbox IS NULL AND ($2::bigint IS NULL OR (i.received_at, i.id) < ($2::bigint, $3::text))
      ORDER BY i.received_at DESC, i.id DESC LIMIT $1`,
      [limit, before?.receivedAt ?? null, before?.id ?? null],
    );
    return rows.map(toUndeliverable);
  }

  async events(messageId: string): Promise<StoredEvent[]> {
    const rows = await this.#rows<{ at: number; kind: string; sms_id: number | null; detail: string | null }>(
      'SELECT at, kind, sms_id, detail FROM events WHERE message_id = $1 ORDER BY id',
      [messageId],
    );
    return rows.map((row) => ({ at: row.at, kind: row.kind, smsId: row.sms_id ?? undefined, detail: row.detail ?? undefined }));
  }

  async smsOf(messageId: string): Promise<SmsState[]> {
    const rows = await this.#rows<SmsStateRow>(
      `SELECT ${smsStateColumns(DB_NOW_MS)} FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.message_id = $1 ORDER BY o.id`,
      [messageId],
    );
    return rows.map(toSmsState);
  }

  gatewayState(_now?: number): Promise<SharedGatewayState> {
    return shared.gatewayState(this.#query, this.#clock);
  }
}

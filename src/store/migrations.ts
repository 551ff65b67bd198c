import type { Database } from 'better-sqlite3';

/**
 * The schema, one step per version, applied in order and recorded in `PRAGMA user_version`.
 * Never edit a step that has shipped: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: mails, one SMS job per recipient number, the outgoing-mail queue and every message's history.
  // A job is due when status = 'queued' and next_attempt_at <= now. Leasing a job moves next_attempt_at
  // to the lease's end, so a leased job is simply not due, and one whose holder died becomes due again.
  `
  CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    received_at       INTEGER NOT NULL,
    envelope_from     TEXT NOT NULL,
    client_address    TEXT NOT NULL,
    client_helo       TEXT NOT NULL,
    message_id_header TEXT,
    subject           TEXT,
    headers           TEXT NOT NULL,
    text              TEXT NOT NULL,
    encoding          TEXT NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    parts             INTEGER NOT NULL,
    max_parts         INTEGER NOT NULL,
    sender_id         TEXT,
    user_context      TEXT,
    dsn_ret           TEXT,
    dsn_envid         TEXT
  ) STRICT;

  CREATE TABLE outbound (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id),
    number          TEXT NOT NULL,
    rcpt            TEXT NOT NULL,
    notify          TEXT,
    orcpt           TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'expired')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    provider_id     TEXT,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    UNIQUE (message_id, number)
  ) STRICT;
  CREATE INDEX outbound_due ON outbound (next_attempt_at, id) WHERE status = 'queued';
  CREATE INDEX outbound_leased ON outbound (lease_owner) WHERE lease_owner IS NOT NULL;
  CREATE INDEX outbound_provider_id ON outbound (provider_id, number) WHERE provider_id IS NOT NULL;

  CREATE TABLE mail_out (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    message_id      TEXT,
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    raw             BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX mail_out_due ON mail_out (next_attempt_at, id) WHERE status = 'queued';
  CREATE INDEX mail_out_leased ON mail_out (lease_owner) WHERE lease_owner IS NOT NULL;

  CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    message_id TEXT,
    sms_id     INTEGER,
    kind       TEXT NOT NULL,
    detail     TEXT
  ) STRICT;
  CREATE INDEX events_message ON events (message_id, id);
  `,
  // 2: delivery semantics. A mail's fingerprint (Message-ID, numbers, text) recognises a client's
  // resubmission after a lost 250; requests that may have reached the gateway twice are counted;
  // a once-key keeps a report such as the delay notice to one per mail however many batches ask.
  `
  ALTER TABLE messages ADD COLUMN fingerprint TEXT;
  ALTER TABLE messages ADD COLUMN duplicate_of TEXT REFERENCES messages (id);
  CREATE INDEX messages_fingerprint ON messages (fingerprint, received_at) WHERE fingerprint IS NOT NULL;
  ALTER TABLE outbound ADD COLUMN possible_duplicates INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE mail_out ADD COLUMN once_key TEXT;
  CREATE UNIQUE INDEX mail_out_once ON mail_out (once_key) WHERE once_key IS NOT NULL;
  `,
  // 3: SMS -> email. A conversation is (user context, number) -> the mailbox that wrote; the
  // Message-IDs of mails in it find it again from In-Reply-To. Inbound SMS are unique per gateway id
  // (gateways retry until they get a 200); delivery reports are unique per (id, number, status) and
  // kept unmatched (sms_id NULL) until their send result is committed. An SMS's delivery state only
  // moves forward; a final state that its sender wants to hear of makes its notice due.
  `
  ALTER TABLE messages ADD COLUMN report_all INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE outbound ADD COLUMN delivery TEXT CHECK (delivery IN ('queued', 'sent', 'delivered', 'failed', 'expired'));
  ALTER TABLE outbound ADD COLUMN delivery_code INTEGER;
  ALTER TABLE outbound ADD COLUMN notice_due INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX outbound_notice_due ON outbound (id) WHERE notice_due = 1;

  CREATE TABLE conversations (
    context           TEXT NOT NULL,
    number            TEXT NOT NULL,
    mailbox           TEXT NOT NULL,
    subject           TEXT,
    message_id_header TEXT,
    message_id        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER NOT NULL,
    PRIMARY KEY (context, number)
  ) STRICT;
  CREATE INDEX conversations_latest ON conversations (number, last_used_at);

  CREATE TABLE conversation_mail (
    message_id_header TEXT NOT NULL,
    number            TEXT NOT NULL,
    context           TEXT NOT NULL,
    PRIMARY KEY (message_id_header, number)
  ) STRICT;

  CREATE TABLE inbound (
    id             TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    provider_id    TEXT NOT NULL,
    number         TEXT NOT NULL,
    text           TEXT NOT NULL,
    sent_at        TEXT,
    user_context   TEXT,
    received_at    INTEGER NOT NULL,
    mailbox        TEXT,
    context        TEXT,
    UNIQUE (provider, provider_id)
  ) STRICT;
  CREATE INDEX inbound_undeliverable ON inbound (received_at) WHERE mailbox IS NULL;

  CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        TEXT NOT NULL
  ) STRICT;

  CREATE TABLE delivery_reports (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    number      TEXT NOT NULL,
    code        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    sms_id      INTEGER REFERENCES outbound (id),
    UNIQUE (provider, provider_id, number, code)
  ) STRICT;
  CREATE INDEX delivery_reports_orphans ON delivery_reports (provider_id, number) WHERE sms_id IS NULL;
  `,
  // 4: providers that track replies by an id of the SMS (Puzzel's session, InteractSMS's notify id)
  // rather than by echoing our user context; and mail scheduled for later (X-SMS-Send-At).
  `
  ALTER TABLE outbound ADD COLUMN tracking_id TEXT;
  CREATE INDEX outbound_tracking ON outbound (tracking_id, number) WHERE tracking_id IS NOT NULL;
  ALTER TABLE messages ADD COLUMN send_at INTEGER;
  `,
  // 5: numbers that texted STOP (until they text START): mail to them is refused at RCPT; SMS per
  // number, for alert-storm control (the same text to the same number within a window).
  `
  CREATE TABLE opt_outs (
    number  TEXT PRIMARY KEY,
    since   INTEGER NOT NULL,
    keyword TEXT NOT NULL
  ) STRICT;
  CREATE INDEX outbound_number ON outbound (number, id);
  `,
  // 6: operators: an SMS can be held in the queue, and dispatch paused as a whole.
  `
  ALTER TABLE outbound ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE control (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  // 7: an account with its own gateway credentials: its mails are sent with them.
  `
  ALTER TABLE messages ADD COLUMN gateway_account TEXT;
  `,
  // 8: an unlisted number may be texted once it has texted the relay: found by sender.
  `
  CREATE INDEX inbound_number ON inbound (number);
  `,
  // 9: thread-first text cutting: the reply mails sent in a conversation, found from its context.
  `
  CREATE INDEX inbound_conversation ON inbound (context, number, received_at) WHERE context IS NOT NULL;
  CREATE INDEX mail_out_message ON mail_out (message_id) WHERE message_id IS NOT NULL;
  `,
  // 10 (issue #20, SMPP): the parts of long SMS from phones, kept as they arrive until
  // their SMS is mailed (src/store/reassembly.ts), then a day longer to recognise repeats and late parts.
  `
  CREATE TABLE part_sets (
    id         INTEGER PRIMARY KEY,
    provider   TEXT NOT NULL,
    sender     TEXT NOT NULL,
    reference  INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    closed_at  INTEGER
  ) STRICT;
  CREATE INDEX part_sets_key ON part_sets (provider, sender, reference, total, id);
  CREATE INDEX part_sets_open ON part_sets (first_seen) WHERE closed_at IS NULL;
  CREATE TABLE sms_parts (
    set_id      INTEGER NOT NULL REFERENCES part_sets (id),
    part_index  INTEGER NOT NULL,
    provider_id TEXT NOT NULL,
    text        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (set_id, part_index)
  ) STRICT;
  `,
  // 11 (issue #19, the web console): its sessions (by the hash of the
  // cookie's token), failed sign-ins per client, the audit of its actions; and indexes for its bounded
  // reads: mails by time and by sender, events by time (the activity chart), inbound SMS by time.
  `
  CREATE TABLE console_sessions (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    client       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE console_login_failures (
    id     INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    at     INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX console_login_failures_client ON console_login_failures (client, at);
  CREATE TABLE console_actions (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    username TEXT NOT NULL,
    client   TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT,
    detail   TEXT
  ) STRICT;
  CREATE INDEX messages_received ON messages (received_at);
  CREATE INDEX messages_sender ON messages (envelope_from, received_at);
  CREATE INDEX events_at ON events (at);
  CREATE INDEX inbound_received ON inbound (received_at);
  `,
  // 12 (#18, several relays on one database): the relays that share it, each one row under its name,
  // a heartbeat by the database's clock; the leases a relay holds are found by their owner (renewed
  // with the heartbeat, counted by `smsrelay status`, indexed since 1). Additive (src/store/schema-readers.ts).
  `
  CREATE TABLE relays (
    name           TEXT PRIMARY KEY,
    instance       TEXT NOT NULL,
    version        TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    heartbeat_at   INTEGER NOT NULL,
    stopped_at     INTEGER,
    pid            INTEGER NOT NULL,
    host           TEXT NOT NULL,
    mail           TEXT NOT NULL
  ) STRICT;
  `,
  // 13 (issue #18 item 4, cluster-wide state): what relays sharing the database must agree on. Mails
  // counted against sending limits, failed SMTP logins per client (both pruned after a day), each
  // provider's account pause with its next probe, and the gateway hosts the failover breaker skips.
  // Additive (src/store/schema-readers.ts).
  `
  CREATE TABLE rate_events (
    id        INTEGER PRIMARY KEY,
    principal TEXT NOT NULL,
    at        INTEGER NOT NULL,
    parts     INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX rate_events_principal ON rate_events (principal, at);
  CREATE INDEX rate_events_at ON rate_events (at);
  CREATE TABLE login_failures (
    id     INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    at     INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX login_failures_client ON login_failures (client, at);
  CREATE INDEX login_failures_at ON login_failures (at);
  CREATE TABLE gateway_pauses (
    provider      TEXT PRIMARY KEY,
    reason        TEXT NOT NULL,
    since         INTEGER NOT NULL,
    next_probe_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE gateway_host_failures (
    provider  TEXT NOT NULL,
    endpoint  TEXT NOT NULL,
    failed_at INTEGER NOT NULL,
    PRIMARY KEY (provider, endpoint)
  ) STRICT;
  `,
  // 14 (#18, receipts of a long SMS's parts on any relay): the id of each part of a long SMS sent, with
  // its SMS and the state its receipt reported (src/store/part-receipts-types.ts); a receipt before
  // its part is known keeps a row without an SMS. Dropped after `inbound.orphanReportTtl`.
  // Additive (src/store/schema-readers.ts).
  `
  CREATE TABLE sent_parts (
    provider    TEXT NOT NULL,
    part_id     TEXT NOT NULL,
    number      TEXT NOT NULL,
    provider_id TEXT,
    parts       INTEGER,
    state       TEXT,
    code        INTEGER,
    created_at  INTEGER NOT NULL,
    reported_at INTEGER,
    PRIMARY KEY (provider, part_id, number)
  ) STRICT;
  CREATE INDEX sent_parts_sms ON sent_parts (provider, provider_id, number) WHERE provider_id IS NOT NULL;
  CREATE INDEX sent_parts_created ON sent_parts (created_at);
  `,
  // 15 (#17): on PostgreSQL, a function that adopts the delivery reports that came before their SMS's send
  // result (src/store/postgres/migrations.ts); SQLite adopts them in its own code. Additive: an older relay
  // adopts them with a statement of its own.
  '-- PostgreSQL only',
  // 16: when the phone sent each part of a long SMS (the gateway's time, ISO 8601 with its offset), so
  // that a set mailed after the timeout carries the phone's time, not the sweep's; and when
  // store.retention erased a quarantined request's body (1), so that an empty body is not taken for an erased one.
  `
  ALTER TABLE sms_parts ADD COLUMN sent_at TEXT;
  ALTER TABLE quarantine ADD COLUMN body_erased INTEGER;
  `,
  // 17: the user context and the tracking id the gateway echoed with each part of a long SMS, so that a
  // set mailed after the timeout goes to the conversation it answers, not to the phone's latest.
  `
  ALTER TABLE sms_parts ADD COLUMN user_context TEXT;
  ALTER TABLE sms_parts ADD COLUMN tracking_id TEXT;
  `,
  // 18: the leases of SMS by their end, so that a claim takes the SMS of a lease that ended (its relay died or
  // lost the store) before the queue's backlog, found without reading that backlog: a leased row's
  // next_attempt_at holds its lease's end, which sorts it behind every SMS due before it ended.
  `
  CREATE INDEX outbound_lease_end ON outbound (next_attempt_at, id) WHERE status = 'queued' AND lease_owner IS NOT NULL;
  `,
  // 19: the same for the relay's own mail (bounces, notices, replies): a claim takes the mail of a lease that
  // ended before the mail queue's backlog, found without reading that backlog.
  `
  CREATE INDEX mail_out_lease_end ON mail_out (next_attempt_at, id) WHERE status = 'queued' AND lease_owner IS NOT NULL;
  `,
  // 20: the digests of the settings relays sharing the database must share (src/cluster/settings.ts), with
  // each relay's heartbeat, so that a relay started with other settings is told which differ, and from whom.
  `
  ALTER TABLE relays ADD COLUMN settings TEXT;
  `,
  // 21: the SMS nobody has tried yet by due time, so that a claim finds a new mail ahead of a backlog of
  // retries (rows.ts, NEVER_TRIED_HEAD_START_MS) without reading that backlog.
  `
  CREATE INDEX outbound_never_tried ON outbound (next_attempt_at, id)
    WHERE status = 'queued' AND lease_owner IS NULL AND attempts = 0 AND last_error IS NULL;
  `,
  // 22: each part's text as the SMS carried it (its coding and octets), so that a character a phone cut
  // between two parts (a UTF-16 surrogate pair, a GSM-7 escape) is whole once the parts are joined.
  `
  ALTER TABLE sms_parts ADD COLUMN coding TEXT;
  ALTER TABLE sms_parts ADD COLUMN octets BLOB;
  `,
  // 23: the phone's latest conversation when a long SMS's first part arrived, so that the set, mailed
  // whole or at the timeout, goes where a whole SMS sent then would have gone (src/sms/concat.ts).
  `
  ALTER TABLE part_sets ADD COLUMN latest_context TEXT;
  `,
  // 24: the account each failed login named (SMTP AUTH's user, the console's user name, as given), so that a
  // success forgets only that account's failures from its address: signing in to one account must not
  // wipe the guesses against another (the address's block counts them all).
  `
  ALTER TABLE login_failures ADD COLUMN account TEXT;
  ALTER TABLE console_login_failures ADD COLUMN account TEXT;
  `,
  // 25: a delivery report is a repeat only when it is the same report: the provider's words (StatusReport.said)
  // are kept beside its state, and a report whose state or words differ from the one kept under its
  // (id, number, code) replaces it when it moves forward of it (sqlite-replies.ts, REPORT_CONFLICT), so that an interim receipt (Vonage's
  // accepted, SMPP's ENROUTE) and the final one with the same code are two reports and the final one is
  // applied. The key stays: an older relay's insert still names it in its ON CONFLICT (additive).
  `
  ALTER TABLE delivery_reports ADD COLUMN said TEXT;
  `,
  // 26: a quarantined request's id is never given again once it was deleted, so that a page, link or command naming
  // a deleted one answers that it is gone rather than acting on a request nobody has seen. PostgreSQL's identity
  // column never gives an id twice; SQLite's rowid takes max(id) + 1 and so the id of a deleted last row: its step
  // (SQLITE_STEPS) rebuilds the table with AUTOINCREMENT.
  '-- SQLite only',
  // 27: a report kept before its SMS's send result is told in its own words (said) once adopted, as one
  // applied at once is. SQLite adopts in the store's code (sqlite-replies.ts, adoptOrphans); PostgreSQL's
  // function is replaced (postgres/migrations.ts, POSTGRES_STEPS): no table changes.
  '-- PostgreSQL only',
  // 28: the console finds a mail by its own Message-ID (an operator asked about <abc@host>), and a resubmission (a mail
  // sent again with the same Message-ID, kept without SMS) by its original's numbers: each an index, so neither
  // search reads every mail.
  `
  CREATE INDEX messages_message_id_header ON messages (message_id_header) WHERE message_id_header IS NOT NULL;
  CREATE INDEX messages_duplicate_of ON messages (duplicate_of) WHERE duplicate_of IS NOT NULL;
  `,
  // 29: a number's replies by time, so that a conversation's page reads its replies from where the page before ended
  // (console-rows.ts, repliesFrom) rather than every reply of the number; it serves every look-up by number, as step 8's did.
  `
  CREATE INDEX inbound_number_received ON inbound (number, received_at, id);
  DROP INDEX inbound_number;
  `,
  // 30: each mail of the relay's own counts its own possible duplicates (sent again after its lease was taken over, or
  // after a stop or crash cut its delivery to the smarthost off), as each SMS does (step 2's outbound column): a reply's
  // count is its mail's, not the count of every mail its SMS had. An older relay leaves it at 0 (additive).
  `
  ALTER TABLE mail_out ADD COLUMN possible_duplicates INTEGER NOT NULL DEFAULT 0;
  `,
  // 31: a long SMS's parts are one set per number texted too (Vonage's `to`: an account may have several numbers, and a
  // phone's concat references are per phone, so two long SMS to two of them may share one): the set keeps it, a part
  // joins only the set of its own number, and the mail names it as a single SMS's does. Sets opened before it have none.
  `
  ALTER TABLE part_sets ADD COLUMN recipient TEXT;
  `,
  // 32: the account a mail was accepted under (SMTP AUTH's, a console test send's), which its page names: gateway_account
  // (step 7) is set only for an account with gateway credentials of its own. Mails accepted before it have none.
  `
  ALTER TABLE messages ADD COLUMN account TEXT;
  `,
  // 33: when each number last texted START (kept, as a STOP is): a gateway's opt-out reported later but dated before it
  // (a delivery report the provider retried for hours) does not opt the number out again (replies/opt-outs.ts).
  `
  CREATE TABLE opt_ins (
    number TEXT PRIMARY KEY,
    since  INTEGER NOT NULL
  ) STRICT;
  `,
  // 34: a console sign-in is written before its password is checked as a pending attempt (1), which no relay counts as
  // a failure and no other sign-in's success forgets; NULL is a failure, as every row was before.
  `
  ALTER TABLE console_login_failures ADD COLUMN pending INTEGER;
  `,
  // 35: the console finds a sender whatever the case it was written in (`Alerts@Example.com`), comparing lower() of both
  // sides (console-rows.ts, searchStatement): indexed as it compares, so that a search for a sender reads its mails alone,
  // never every mail; the index by the sender as written (step 11's) served that search alone. Each store its own step
  // (SENDER_INDEX_BY_CASE): PostgreSQL's locks the table first (postgres/migrations.ts).
  '-- each store its own step',
  // 36: on SQLite, the leases by owner (steps 1's outbound_leased and mail_out_leased) are no longer indexed: every
  // statement that looks a relay's leases up also says `status = 'queued'` and so reads steps 18's and 19's lease_end
  // indexes, which hold the same rows (a lease is cleared whenever a row leaves the queue), and each mail's claim and
  // send result no longer write an index page for them (SQLITE_STEPS). PostgreSQL keeps its own.
  '-- SQLite only',
  // 37: on PostgreSQL, each mail and each mail of the relay's own stamped by the database's clock as it is inserted, so that
  // the queues' oldest age is read on one clock whichever relays accepted and read them (POSTGRES_STEPS). SQLite, which
  // one relay runs, reads the relay's own stamps on the relay's own clock, as before.
  '-- PostgreSQL only',
  // 38: a mail is a resubmission only of the latest mail under its Message-ID with its fingerprint and Subject, and only
  // if no mail of another text or Subject came under that Message-ID since (Store#acceptMail), so one index by
  // Message-ID and time serves that look-up, which reads the Message-ID's mails since that one and no others, and every
  // look-up by Message-ID (the console's search, the reply loop's check) by its first column. Each store its own step
  // (the index orders ties by SQLite's rowid, by PostgreSQL's id): it rewrites no mail. Each mail's Date as written
  // (NULL without one): an earlier mail with its fingerprint, Subject and Date is it queued again by a server, folded
  // whatever came between.
  'ALTER TABLE messages ADD COLUMN date_header TEXT;',
];

/** Step 35's index change, run by each store's own step. */
export const SENDER_INDEX_BY_CASE = `
  CREATE INDEX messages_sender_lower ON messages (lower(envelope_from), received_at);
  DROP INDEX messages_sender;
`;

/**
 * What steps of MIGRATIONS do on SQLite alone, as postgres/migrations.ts's POSTGRES_STEPS on PostgreSQL: each runs
 * in the upgrade's transaction after its step's shared SQL. A step that has shipped is never edited.
 */
const SQLITE_STEPS: ReadonlyMap<number, string> = new Map([
  [
    38,
    // Nothing reads the index by fingerprint any more: the look-up reads the Message-ID's mails and compares it.
    `
  CREATE INDEX messages_message_id ON messages (message_id_header, received_at) WHERE message_id_header IS NOT NULL;
  DROP INDEX messages_message_id_header;
  DROP INDEX messages_fingerprint;
  `,
  ],
  [36, 'DROP INDEX outbound_leased; DROP INDEX mail_out_leased;'],
  [35, SENDER_INDEX_BY_CASE],
  [
    26,
    // The same columns in the same order; AUTOINCREMENT records the highest id given (sqlite_sequence), starting
    // from the highest id kept: one deleted before the upgrade above it may still be given once more.
    `
  CREATE TABLE quarantine_ids (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        TEXT NOT NULL,
    body_erased INTEGER
  ) STRICT;
  INSERT INTO quarantine_ids (id, received_at, provider, kind, reason, body, body_erased)
    SELECT id, received_at, provider, kind, reason, body, body_erased FROM quarantine ORDER BY id;
  DROP TABLE quarantine;
  ALTER TABLE quarantine_ids RENAME TO quarantine;
  `,
  ],
]);

/** The schema a store was at when opened (`from`) and is at now (`to`): `from` < `to` when the open upgraded it. */
export interface Migrated {
  readonly from: number;
  readonly to: number;
}

/** The store was written by a newer smsrelay: the words follow "the store <file>". */
export class NewerSchemaError extends Error {}

/**
 * The store is of an older schema (`from`) and the caller, an operator's command, must not upgrade it: the words follow
 * "the store <file>" (SQLite) or are whole (PostgreSQL's "the database …").
 */
export class OlderSchemaError extends Error {
  readonly from: number;

  constructor(from: number, message: string) {
    super(message);
    this.from = from;
  }
}

/** A migration failed and was rolled back, or none can run (untraceableSchema): the words follow "the store <file>: ". */
export class MigrationError extends Error {}

/**
 * Development builds a16ed74 to c4487b5 (2026-12-03) numbered 12 the shared-state tables (`rate_events`…,
 * this history's 13) where this history's 12 is `relays`: a store they wrote says schema 12 and is not
 * this history's, so no release upgrades it (its migration 13 would find `rate_events` there). Told
 * before anything runs, with the way out docs/several-relays.md#rolling-upgrade gives, so that `config
 * check` does not promise the upgrade `start` then refuses. Undefined for a store of this history.
 */
export function untraceableSchema(from: number, tables: readonly string[]): string | undefined {
  if (from !== 12 || !tables.includes('rate_events') || tables.includes('relays')) return undefined;
  return 'is at the schema 12 of the development builds a16ed74 to c4487b5 (it holds rate_events and no relays), which no release upgrades: keep running the build that wrote it on it, or start this release on a new store once that relay has sent its queue (docs/several-relays.md#rolling-upgrade)';
}

/** How the one relay on a SQLite store is upgraded. */
const SQLITE_UPGRADE = ' and stop the relay that runs on it (docs/operations.md#upgrading)';

/**
 * Why an operator's command does not use a store of schema `from`: only `smsrelay start` upgrades, one
 * way, and the release that wrote the store may still run on it, or its backup be taken (`backup`:
 * how this store is copied as it is; `then`: how the store's relays are upgraded, SQLITE_UPGRADE or
 * postgres/migrate.ts's upgradeOrder). Both stores' words follow "the store <where>".
 */
export function olderSchema(from: number, backup: string, then = SQLITE_UPGRADE): string {
  return `is at schema ${from}, this version needs ${MIGRATIONS.length}: \`smsrelay start\` upgrades it, for good; back up first (${backup})${then}`;
}

/** `config check`'s line for a store of schema `from`, older than this version's, which it reads nothing of: not a refusal. */
export function upgradeAhead(from: number): string {
  return `store: schema ${from}: \`smsrelay start\` will upgrade it from ${from} to ${MIGRATIONS.length}; back up first (docs/operations.md#upgrading)`;
}

/** The start's one line for an upgrade of the store from schema `from` to `to` (docs/operations.md#upgrading quotes it): `migration 24` for one step. */
export function migratedLine({ from, to }: Migrated): string {
  return `store: schema ${from} → ${to} (${to === from + 1 ? `migration ${to}` : `migrations ${from + 1}–${to}`})`;
}

/**
 * What a start refused after it upgraded the store (`migrated`) adds to its line: the upgrade stays, and
 * an older release may no longer read the store.
 */
export function refusedAfterUpgrade({ from, to }: Migrated): string {
  return `this start had already upgraded the store from schema ${from} to ${to}, for good: fix this and start this release again, or restore the backup taken before the upgrade to run the older release (docs/operations.md#upgrading)`;
}

/**
 * The step of an upgrade from `from` to `to` that `step` names, as its messages say it: `step` is the last migration
 * begun, `from` when none was (PostgreSQL's version table is altered first: a pg_dump holding it stops the upgrade there).
 */
export function migrationStep(step: number, from: number, to: number): string {
  return step > from
    ? `migration ${step} of ${from + 1}–${to}`
    : `the upgrade's first statement, on its version table, before migration ${from + 1} of ${from + 1}–${to}`;
}

/** What a migration that failed (`step`, of those from `from` to `to`) and was rolled back leaves to the operator, on both stores. */
export function failedMigration(step: number, from: number, to: number, cause: unknown): string {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return `${migrationStep(step, from, to)} failed (${reason}); nothing was changed, the store is still at schema ${from}: run the release that wrote it on it, or restore a backup taken before the upgrade, and report this line (docs/operations.md#upgrading)`;
}

/** How a SQLite store is backed up as it is, before its upgrade. */
const SQLITE_BACKUP = '`smsrelay backup <file>` copies it as it is, as does the release that wrote it';

/**
 * SQLite's words for a step whose SQL does not fit the schema or rows it found (a table already there, a
 * column missing, a unique index over duplicates). A busy, full, damaged or unreadable file keeps its own.
 */
const STEP_FAILED = /^SQLITE_(ERROR|CONSTRAINT)/;

/**
 * Brings the database to the newest schema in one transaction, so that a step that fails leaves it as
 * it was; refuses a database written by a newer relay, and an older one when `upgrade` is false (the
 * operator's commands). Unlike PostgreSQL's (postgres/migrate.ts), a SQLite store records no minimum
 * reader: one relay runs on it, and an older one never takes a newer schema, additive or not
 * (docs/several-relays.md).
 */
export function migrate(db: Database, options: { readonly upgrade: boolean } = { upgrade: true }): Migrated {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > MIGRATIONS.length) {
    throw new NewerSchemaError(`was written by a newer smsrelay (schema ${from}, this version knows ${MIGRATIONS.length})`);
  }
  const untraceable = untraceableSchema(from, db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
  if (untraceable) throw new MigrationError(untraceable);
  if (from < MIGRATIONS.length && !options.upgrade) throw new OlderSchemaError(from, olderSchema(from, SQLITE_BACKUP));
  // Nothing to bring up to date, so no write and no write lock: the operator's reading commands open the store
  // beside a relay, or while another process holds its lock, and read it as any WAL reader does.
  if (from === MIGRATIONS.length) return { from, to: from };
  let step = from;
  const upgrade = db.transaction(() => {
    for (const sql of MIGRATIONS.slice(from)) {
      step++;
      db.exec(sql);
      const own = SQLITE_STEPS.get(step);
      if (own) db.exec(own);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  });
  try {
    upgrade.immediate();
  } catch (error) {
    if (STEP_FAILED.test(String((error as { code?: unknown }).code ?? '')))
      throw new MigrationError(failedMigration(step, from, MIGRATIONS.length, error), { cause: error });
    throw error;
  }
  return { from, to: MIGRATIONS.length };
}

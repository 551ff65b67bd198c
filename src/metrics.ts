import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { RELAY_STALE_MS, RELAYS_SEEN_MS, type RelaySeen } from './store/cluster-types.ts';
import type { GatewayHealth } from './providers/contract.ts';
import { type CommitStats, type QueueStats, type Store, smsQueueDepth } from './store/types.ts';

/**
 * One store read shared by the metrics of one scrape: prom-client starts every collect() of a scrape
 * together, so they all get this reading and agree with each other, and the next scrape reads afresh.
 */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let reading: Promise<T> | undefined;
  return () => {
    reading ??= read().finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
}

/**
 * What an operator graphs and alerts on, in Prometheus form at `GET /metrics`: traffic in and out,
 * refusals by reason, queue depth and the age of its oldest entry (the alert that matters: "SMS
 * are waiting"), gateway latency, inbound SMS and delivery reports.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly accepted = new Counter({ name: 'smsrelay_mails_accepted_total', help: 'Mails answered 250 (durably stored)', registers: [this.registry] });
  readonly refused = new Counter({
    name: 'smsrelay_smtp_refused_total',
    help: 'SMTP commands refused, and connections and sessions ended by a limit, by relay error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly httpTurnedAway = new Counter({
    name: 'smsrelay_http_connections_refused_total',
    help: 'HTTP connections closed at once because http.maxConnections, or http.maxConnectionsPerClient from their address, were open',
    registers: [this.registry],
  });
  readonly httpMadeRoom = new Counter({
    name: 'smsrelay_http_connections_closed_for_room_total',
    help: 'HTTP connections closed to let a new client in: waiting on their client (a head or body trickled, or idle) for 2 s while the clients outside loopback, proxies and webhook sources filled their share of http.maxConnections',
    registers: [this.registry],
  });
  /** Reasons are the webhooks' four guards; providers the configured ones: both fixed sets. */
  readonly webhookRefused = new Counter({
    name: 'smsrelay_webhook_refused_total',
    help: 'Webhook requests refused by who sent them, by provider and reason (token, network, browser, signature)',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });
  readonly smsOutcomes = new Counter({
    name: 'smsrelay_sms_outcomes_total',
    help: 'What gateway attempts ended in: sent, retry, failed, expired',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly gatewaySeconds = new Histogram({
    name: 'smsrelay_gateway_request_seconds',
    help: 'Gateway send requests, by how they ended',
    labelNames: ['result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /**
   * Each SMS counts once per state its delivery reports move it to, at most one final (delivered,
   * failed, expired): SMS sent = the final states + those still without one. By state only, a fixed set.
   */
  readonly deliveryStates = new Counter({
    name: 'smsrelay_sms_delivery_total',
    help: "SMS moved to a delivery state by the gateway's delivery reports, by that state (delivered, failed, expired are final)",
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  /**
   * The relay's own mail (bounces, notices, reply mails, the postmaster's) by kind and how each attempt ended, and reply
   * mails a bounce failed after the smarthost took them (`bounced`, counted besides their `delivered`), and reply mails
   * come back through a mailing list to a phone, taken and dropped (`returned`): fixed sets.
   */
  readonly ownMail = new Counter({
    name: 'smsrelay_mails_sent_total',
    help: "Delivery attempts of the relay's own mail, by kind (bounce, notice, reply, postmaster) and result (delivered, deferred, refused), reply mails failed by a bounce after the smarthost took them (bounced, besides their delivered), and reply mails come back through a mailing list, dropped (returned)",
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly inbound = new Counter({
    name: 'smsrelay_webhook_items_total',
    help: 'Inbound SMS (mo) and delivery reports (dr) received, by what became of them',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  /**
   * The connections each provider's gateways keep (SMPP binds), up and kept, by kind: a receiver bind
   * down shows here, while /readyz, which is about sending, stays ready.
   */
  watchGateways(gateways: () => readonly { readonly provider: string; readonly gateway: { health(): GatewayHealth } }[]): void {
    const gauges = [
      ['smsrelay_gateway_connections_up', 'Connections up (SMPP binds), by provider and kind', 'up'],
      ['smsrelay_gateway_connections', 'Connections kept (SMPP binds: `binds` of each kind), by provider and kind', 'kept'],
    ] as const;
    for (const [name, help, field] of gauges) {
      const gauge: Gauge<'provider' | 'kind'> = new Gauge({
        name,
        help,
        labelNames: ['provider', 'kind'] as const,
        registers: [this.registry],
        collect() {
          gauge.reset();
          // Accounts' own credentials are gateways of their provider too: counted with it.
          for (const { provider, gateway } of gateways()) {
            for (const connection of gateway.health().connections ?? []) gauge.inc({ provider, kind: connection.kind }, connection[field]);
          }
        },
      });
    }
  }

  constructor(store: Store) {
    // prom-client's names already say what they are (process_cpu_…, nodejs_eventloop_…): the prefix only namespaces them.
    collectDefaultMetrics({ register: this.registry, prefix: 'smsrelay_' });
    // Depth and age in one scrape come from one reading, so an alert joining them never sees a queue
    // emptied but still old, or filled but still young.
    const queues = oncePerScrape(() => store.queueStats(Date.now()));
    type QueueReaders = { readonly sms: (queue: QueueStats['sms']) => number; readonly mail?: (queue: QueueStats['mail']) => number };
    const queueGauge = (name: string, help: string, read: QueueReaders) => {
      const gauge: Gauge<'queue'> = new Gauge({
        name,
        help,
        labelNames: ['queue'] as const,
        registers: [this.registry],
        async collect() {
          const stats = await queues();
          gauge.set({ queue: 'sms' }, read.sms(stats.sms));
          if (read.mail) gauge.set({ queue: 'mail' }, read.mail(stats.mail));
        },
      });
    };
    // Held SMS are queued too, as `smsrelay status` and the console count them, and the oldest age below counts them:
    // a depth without them read 0 beside an age that grew.
    queueGauge(
      'smsrelay_queue_depth',
      "Queued items by queue: sms, every SMS not yet sent (held and scheduled ones included); mail, the relay's own mail not yet delivered",
      {
        sms: smsQueueDepth,
        mail: (queue) => queue.queued,
      },
    );
    queueGauge('smsrelay_queue_held', 'Queued SMS held by the operator (queue hold), counted in smsrelay_queue_depth{queue="sms"} too', {
      sms: (queue) => queue.held,
    });
    // Group commit: commits are WAL fsyncs; writes per commit is the group size a load gets.
    const commits = oncePerScrape(() => store.commitStats());
    const commitCounter = (name: string, help: string, read: (stats: CommitStats) => number) => {
      const counter: Counter = new Counter({
        name,
        help,
        registers: [this.registry],
        async collect() {
          counter.reset();
          counter.inc(read(await commits()));
        },
      });
    };
    commitCounter('smsrelay_store_commits_total', 'Store commits', (stats) => stats.commits);
    // Both stores commit a group of only writes nobody was promised anything on without waiting for the disk (store/group-commit.ts, store/postgres/group-writer.ts).
    commitCounter('smsrelay_store_synced_commits_total', 'Store commits that waited for the disk (a WAL fsync or flush)', (stats) => stats.synced);
    commitCounter('smsrelay_store_committed_writes_total', 'Writes (a mail, an outcome, an inbound SMS) the store commits carried', (stats) => stats.writes);
    commitCounter('smsrelay_store_commit_seconds_total', 'Time spent in store commits', (stats) => stats.seconds);
    commitCounter(
      'smsrelay_store_failed_commits_total',
      "Store commits that failed for the store's own reason (the disk, the file, the database or the way to it)",
      (stats) => stats.failed,
    );
    queueGauge('smsrelay_queue_oldest_age_seconds', 'Age of the oldest queued item by queue, held SMS included (0 when empty)', {
      sms: (queue) => queue.oldestAgeSeconds,
      mail: (queue) => queue.oldestAgeSeconds,
    });
    // The relays sharing the store (docs/several-relays.md), as the store last heard of each.
    const relays = oncePerScrape(() => store.relaysSeen(RELAYS_SEEN_MS));
    const relayGauge = <Label extends string>(
      name: string,
      help: string,
      labelNames: readonly Label[],
      set: (gauge: Gauge<Label>, relay: RelaySeen) => void,
    ) => {
      const gauge: Gauge<Label> = new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        async collect() {
          const seen = await relays();
          gauge.reset();
          for (const relay of seen) set(gauge, relay);
        },
      });
    };
    relayGauge(
      'smsrelay_relays_seen',
      'Relays that wrote a heartbeat in the last hour: 1 while live, 0 once stopped or silent',
      ['relay', 'version'],
      (gauge, relay) =>
        gauge.set({ relay: relay.name, version: relay.version }, relay.stoppedAt === undefined && relay.heartbeatAgeMs <= RELAY_STALE_MS ? 1 : 0),
    );
    relayGauge('smsrelay_relay_heartbeat_age_seconds', "Time since each relay's last heartbeat, by the store's clock", ['relay'], (gauge, relay) =>
      gauge.set({ relay: relay.name }, relay.heartbeatAgeMs / 1000),
    );
    // Shared by every relay on the store: a provider they all stopped sending to, and since when.
    const paused: Gauge<'provider'> = new Gauge({
      name: 'smsrelay_gateway_paused_seconds',
      help: 'How long sending to a provider has been paused (its account refused, every host of it down, or a wait it asked for), by provider; absent while it sends',
      labelNames: ['provider'] as const,
      registers: [this.registry],
      async collect() {
        const now = Date.now();
        const { pauses } = await store.gatewayState(now);
        paused.reset();
        for (const pause of pauses) paused.set({ provider: pause.provider }, Math.max(0, now - pause.since) / 1000);
      },
    });
    relayGauge('smsrelay_relay_leases', 'Queued items each relay holds a lease on (is sending), by queue', ['relay', 'queue'], (gauge, relay) => {
      gauge.set({ relay: relay.name, queue: 'sms' }, relay.leases.sms);
      gauge.set({ relay: relay.name, queue: 'mail' }, relay.leases.mail);
    });
  }
}

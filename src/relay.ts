import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AcceptanceService } from './acceptance/service.ts';
import type { AcceptanceSettings, ProviderLimits, Routes } from './acceptance/types.ts';
import { accountsOf, type Config, readsAccountIdAddresses } from './config/load.ts';
import type { GatewayAccount } from './config/routes.ts';
import { configuredSecrets, urlSecrets } from './config/secrets.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { longestWaits, type RetryPolicy } from './dispatch/schedule.ts';
import { ClockStepWatch } from './clock-step.ts';
import { outcomeClassifier } from './dispatch/outcomes.ts';
import { type DispatchProvider, routedProviders, routeTable, singleProvider } from './dispatch/routing.ts';
import { refusedForEveryone } from './acceptance/number-checks.ts';
import { routeLimits } from './acceptance/route-limits.ts';
import { refusesReportsTo, writtenBySender } from './acceptance/recipient-addresses.ts';
import type { Gateway, GatewayOptions, ProviderPlugin } from './providers/contract.ts';
import { receivesWebhooks } from './providers/contract.ts';
import { composeRegistry, type ProviderRegistry } from './providers/registry.ts';
import type { ProviderSimulator } from './simulators/contract.ts';
import { keywordsInEffect } from './config/keywords.ts';
import { createSimulator, SIMULATOR_ACCOUNT, simulatedSettings } from './simulators/index.ts';
import { CONSOLE_PREFIX, mountConsole } from './console/routes.ts';
import { startHttpServer } from './http/server.ts';
import { servedHostNames } from './http/hosts.ts';
import { mountWebhooks, webhookPaths } from './http/webhooks.ts';
import type { Logger } from './log.ts';
import { buildReport, type ReportedRecipient, type ReportKind, type ReportOptions } from './mailer/dsn.ts';
import { Mailer } from './mailer/mailer.ts';
import { Metrics } from './metrics.ts';
import { DiskWatermark } from './store/disk.ts';
import { StoreHealthMonitor } from './store/health.ts';
import { OperatorPauseWatch } from './dispatch/operator-pause.ts';
import { Housekeeping } from './store/housekeeping.ts';
import { ListenError, RelayError, toHttpError } from './errors.ts';
import { hostBeforePort, networkMatcher, peerAddress } from './policy/networks.ts';
import { SenderPolicy } from './policy/senders.ts';
import { Templates } from './mailer/templates.ts';
import { smarthostTransport } from './mailer/smarthost.ts';
import { maildirTransport } from './mailer/transports.ts';
import { InboundService } from './replies/inbound.ts';
import { DeliveryNotices } from './replies/notices.ts';
import { replyMailOptions } from './replies/reply-mail.ts';
import { ReplyNotes } from './replies/reply-notes.ts';
import { ReplyTracking } from './replies/tracking.ts';
import { type SmtpIntake, startSmtpIntake } from './smtp/intake.ts';
import { lockDataDir, makeDataDir, releaseDataDirLock, STORE_FILE } from './store/lock.ts';
import { SqliteConsoleStore } from './store/sqlite-console.ts';
import { openThreadedStore } from './store/threaded.ts';
import { PostgresConsoleStore } from './store/postgres/console.ts';
import { PostgresStore } from './store/postgres/store.ts';
import { redactUrl } from './store/postgres/url.ts';
import type { Store, StoreHealth, StoredMessage } from './store/types.ts';
import { formatNumber, maskNumbersIn } from './sms/numbers.ts';
import { Membership, mailModeOf } from './cluster/membership.ts';
import { relayVersion } from './version.ts';
import { settingsDigest } from './cluster/settings.ts';
import { type Migrated, MIGRATIONS, migratedLine, refusedAfterUpgrade } from './store/migrations.ts';
import { ClusterError } from './store/cluster-types.ts';
import { FIRST_CLASSIFIED } from './store/schema-readers.ts';

export { STORE_FILE };
/** Where the relay's own mail goes when no smarthost is configured. */
export const MAILDIR = 'maildir';

export interface Relay {
  readonly smtpPort: number;
  readonly httpPort: number;
  /** The provider's simulator, when the config selects it (`simulator`, `puzzel-simulator`…) and only one. */
  readonly simulator: ProviderSimulator | undefined;
  /** Every simulator, by provider name (the routes may name several), each under `/simulator/<name>/`. */
  readonly simulators: ReadonlyMap<string, ProviderSimulator>;
  readonly store: Store;
  /** What every submission passes, whatever its input (SMTP, the console). */
  readonly acceptance: AcceptanceService;
  /** The implicit-TLS SMTP port, when configured. */
  readonly smtpTlsPort: number | undefined;
  /** Reads the TLS key and certificate again (SIGHUP). */
  reloadTls(): void;
  /** How many SMS and mails the relay holds the lease of now: being sent or delivered, or their outcome not yet committed. */
  inFlight(): { readonly sms: number; readonly mail: number };
  stop(): Promise<void>;
}

export interface RelayOptions {
  readonly smtpClock?: () => number;
  /** The dispatcher's clock (retries, the failover breaker, silences): tests move it instead of waiting. */
  readonly dispatchClock?: () => number;
  /**
   * The wall clock the clock-step watch compares with the monotonic clock (default Date.now): its own option, not
   * dispatchClock, since a test's dispatch clock held still or moved by hand would read as the wall clock stepping back.
   */
  readonly wallClock?: () => number;
  /** How a failed sign-in's answer is delayed (tests record the delays instead of waiting them). */
  readonly loginPause?: (ms: number) => Promise<void>;
  /** The web console's clock (session expiry, the sign-in throttle): tests move it instead of waiting. */
  readonly consoleClock?: () => number;
  /** Provider plug-ins besides the built-in ones (the config must have been loaded with them too). */
  readonly providers?: readonly ProviderPlugin[];
  /** The work loops' longest idle wait: tests lengthen it to show what else wakes them (other relays' notifications). */
  readonly idleWaitMs?: number;
  /**
   * A stop asked for while starting (`start`'s SIGTERM): at its next step startRelay stops what has started, releases
   * the lock and throws the signal's reason. The store's open (its migrations, each one transaction) always finishes
   * first; a gateway's first bind, whose undoing is already on the stack, is cut.
   */
  readonly stopAsked?: AbortSignal;
  /**
   * A refusal of the start (a ClusterError, a StoreConfigError…) met once PostgreSQL, unreachable at start,
   * answers: the relay, already listening, is not ready; `start` stops it and refuses as at a start.
   */
  readonly onRefused?: (refusal: Error) => void;
}

/**
 * The store's upgrade at start, one way, in one info line (none for a new store or a current one). A
 * shared schema from before the rolling-upgrade rule (schema-readers.ts) records no readers: relays of
 * that release on the database cannot be told apart from stopped ones, and do not check the schema again.
 */
function logMigration(logger: Logger, { from, to }: Migrated, shared: boolean): void {
  if (from === 0 || from >= to) return;
  logger.info({ from, to }, migratedLine({ from, to }));
  if (shared && from < FIRST_CLASSIFIED)
    logger.warn(
      { from },
      `store: the database was at schema ${from}, from before relays recorded which schema they read: this relay cannot know whether relays of that release still run on it; stop them all before they write (docs/several-relays.md#rolling-upgrade)`,
    );
}

/** What the work resumed at start may bring twice, by what was in flight: SMS (the gateway), mail to a smarthost (a Maildir's is found again). */
function resumedTwice(sms: boolean, mailTwice: boolean): string {
  if (sms && mailTwice) return 'an SMS among it may reach the gateway twice, a mail the smarthost twice';
  if (sms) return 'an SMS among it may reach the gateway twice';
  if (mailTwice) return 'a mail among it may reach the smarthost twice';
  return 'mail to the Maildir only, found there again by its file name: none is delivered twice';
}

/**
 * Wires the modules together and starts them, store first and SMTP last: by the time a client can
 * get a 250, everything that carries the message further is running. Stops in the reverse order.
 */
export async function startRelay(config: Config, logger: Logger, options: RelayOptions = {}): Promise<Relay> {
  const carryOn = () => options.stopAsked?.throwIfAborted();
  carryOn();
  makeDataDir(config.dataDir);
  const lock = lockDataDir(config.dataDir, { embeddedStore: !config.store.url });
  // The dead relay's pid under a name of its own: `pid` is this process's, on every line.
  if (lock.stale)
    logger.warn({ stalePid: lock.stale.pid, reason: lock.stale.reason, dataDir: config.dataDir }, 'relay: took over the lock of a relay that is gone');
  warnOpenFileLimit(config, logger);
  // What an upgrade of the store at this start was (logMigration), for a refusal that comes after it.
  let upgraded: Migrated | undefined;
  /** The refusals already told that the store stays upgraded: a late one comes to startRelay's catch after onRefused. */
  const toldUpgraded = new WeakSet<Error>();
  /** A configuration refused after all, the store already upgraded: the operator must know it stays so, which an older release may not read. */
  const afterUpgrade = <E>(error: E): E => {
    if (upgraded && (error instanceof ListenError || error instanceof ClusterError) && !toldUpgraded.has(error)) {
      error.message = `${error.message}; ${refusedAfterUpgrade(upgraded)}`;
      toldUpgraded.add(error);
    }
    return error;
  };
  const stack: Array<() => Promise<void> | void> = [
    // Last: nothing acts on the store any more.
    () => releaseLock(config.dataDir, logger),
  ];
  /** The stop under way: a second call (a late refusal as a signal stops the relay) waits for it, and runs no step twice. */
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const step of stack.toReversed()) await step();
    })();
    return stopped;
  };
  try {
    // Stable across restarts: at start the relay takes back its own leases and no other relay's live ones.
    const owner = config.store.relayName;
    const storeHealth = new StoreHealthMonitor(logger);
    const resumeLeases = async (opened: Store) => {
      // A Maildir delivery is found again by its file name (maildirTransport); a smarthost may have taken a mail before the stop.
      const resumed = await opened.releaseStaleLeases(owner, Date.now(), { possiblyTwice: Boolean(config.mail.url) });
      if (resumed.sms > 0 || resumed.mail > 0) {
        const mailTwice = Boolean(config.mail.url) && resumed.mail > 0;
        logger.warn(
          { ...resumed, possiblyTwice: resumed.sms + (mailTwice ? resumed.mail : 0) },
          `relay: resuming work that was in flight when the relay last stopped (${resumedTwice(resumed.sms > 0, mailTwice)})`,
        );
      }
    };
    /** Set once the start line said the relay is not ready: logs `relay: ready` the first time everything is (store, disk, gateway). */
    let logReadyOnceReady: (() => void) | undefined;
    const onHealth = (health: StoreHealth) => {
      storeHealth.update(health);
      logReadyOnceReady?.();
    };
    // One relay among those sharing the database (docs/several-relays.md); the instance tells this process from another of its name.
    const instance = randomBytes(8).toString('hex');
    // The work loops start after the store opens; until then they hold no lease.
    const loops: { dispatcher?: Dispatcher; mailer?: Mailer } = {};
    const held = () => ({ sms: loops.dispatcher?.held() ?? [], mail: loops.mailer?.held() ?? [] });
    const membership = new Membership({
      member: {
        name: owner,
        instance,
        version: relayVersion(),
        schema: MIGRATIONS.length,
        startedAt: Date.now(),
        pid: process.pid,
        host: hostname(),
        mail: mailModeOf(config.mail.url),
        settings: settingsDigest(config),
      },
      leaseTtlMs: config.delivery.leaseTtl,
      logger,
      shared: config.store.url !== undefined,
      held,
    });
    // It joins (refused: a live relay of its name, a Maildir among several) before it takes back any lease.
    const joinAndResume = async (opened: Store) => {
      await membership.join(opened);
      await resumeLeases(opened);
    };
    const onMigrated = (migrated: Migrated) => {
      if (migrated.from > 0 && migrated.from < migrated.to) upgraded = migrated;
      logMigration(logger, migrated, config.store.url !== undefined);
    };
    // The refusals that do not depend on the new schema come before the upgrade, which is one way: the
    // listeners' ports here, the membership's on the database as it is (`admit`). SQLite needs no
    // membership: the data directory's lock already keeps a second relay out.
    await probeListeners(config);
    // PostgreSQL unreachable at start: the relay runs, not ready, and the store connects (and resumes leases) when it can.
    const store = config.store.url
      ? await PostgresStore.open(
          {
            url: config.store.url,
            // Ready, and 250s, only once a write probe has committed: a full disk still takes the connect.
            proveWrites: true,
            onConnected: joinAndResume,
            wakeTag: instance,
            onMigrated,
            admit: (relays) => membership.admit(relays),
            onRefused: (refusal) => options.onRefused?.(afterUpgrade(refusal)),
            onWaiting: (waitingFor, reason) => logger.warn({ reason }, `store: not ready, waiting for ${waitingFor}; trying again`),
          },
          onHealth,
        )
      : await openThreadedStore(
          { file: join(config.dataDir, STORE_FILE), busyTimeoutMs: config.store.busyTimeout, check: true, renewGeneration: true },
          onHealth,
          onMigrated,
        );
    stack.push(() => store.close());
    // Last before the store closes: the heartbeat renews the leases of the work in flight until the loops stopped.
    stack.push(() => membership.stop());
    if (!config.store.url) await joinAndResume(store);
    carryOn();

    const metrics = new Metrics(store);
    const disk = new DiskWatermark(config.dataDir, config.store.minFreeMegabytes * 1024 * 1024, logger, () => logReadyOnceReady?.());
    await disk.start();
    stack.push(() => disk.stop());
    let stopping = false;
    const cannotStore = () => storeHealth.fault ?? (disk.full ? new RelayError('DISK_FULL') : undefined);
    const unavailable = () => (stopping ? new RelayError('SHUTTING_DOWN') : cannotStore());

    // Each peer's answers are cut of the secrets it is sent: the gateways' of the accounts' credentials (an account's go to
    // its provider alone, but cutting more costs nothing), the smarthost's of mail.url's login. A secret no peer is sent
    // (store.url's password) is cut from none: a common one (`postgres`) would garble their words.
    const secrets = configuredSecrets(config);
    const transport = config.mail.url
      ? smarthostTransport(config.mail.url, { hostname: config.smtp.hostname, from: config.mail.from, logger })
      : maildirTransport(join(config.dataDir, MAILDIR));
    stack.push(() => transport.close());

    const mailer = new Mailer({
      store,
      storeCommits: () => storeHealth.ok,
      transport,
      owner,
      leaseMs: config.delivery.leaseTtl,
      idleWaitMs: options.idleWaitMs,
      logger: logger.child({ component: 'mailer' }),
      retryMinDelayMs: config.mail.retryMinDelay,
      retryMaxDelayMs: config.mail.retryMaxDelay,
      metrics,
      ...(config.mail.url ? { secrets: urlSecrets(config.mail.url) } : {}),
    });
    loops.mailer = mailer;
    mailer.start();
    stack.push(() => mailer.stop(config.shutdownTimeout));

    const templates = new Templates();
    const onTemplateError = (error: unknown) => logger.error({ err: error }, 'mailer: a template failed; sent the built-in text instead');
    const registry = composeRegistry(options.providers);
    const recipientRules = acceptanceSettings(config, registry).recipients;
    const reportOptions: ReportOptions = {
      from: config.mail.from,
      reportingHost: config.smtp.hostname,
      templates,
      onTemplateError,
      // A list's members are masked in every report of them, not only in the bounce of those refused at acceptance.
      masked: (recipient) => !writtenBySender(recipient.rcpt, recipient.number, recipientRules),
    };
    const reportLog = logger.child({ component: 'mailer' });
    /** A report, unless its sender's address is one the relay itself refuses reports to: then none, and the log says why. */
    const report = async (kind: ReportKind, message: StoredMessage, recipients: readonly ReportedRecipient[], retryUntil?: number) => {
      const built = await buildReport(kind, message, recipients, retryUntil === undefined ? reportOptions : { ...reportOptions, retryUntil });
      if (!built || !refusesReportsTo(message.envelopeFrom, config.sms.domains)) return built;
      reportLog.info(
        { msgId: message.id, kind, from: maskNumbersIn(message.envelopeFrom) },
        'mailer: no report sent: the envelope sender is an address of this relay, which takes no reports',
      );
      return undefined;
    };
    const accounts = accountsOf(config);
    const routes = config.gateway.routes && routeTable(config.gateway.routes);
    /**
     * The provider a number's SMS goes to first (the one provider without routes), whose words describe
     * the status codes of its delivery reports (a report after a failover has the next provider's codes).
     */
    const firstProviderOf = (number: string) =>
      registry.get(routes ? (routes.routeOf(number)?.providers[0]?.provider ?? config.gateway.provider) : config.gateway.provider);
    const replyRefusal = replyRefusalOf(config, registry, routes);
    const notices = new DeliveryNotices({
      store,
      logger: logger.child({ component: 'notices' }),
      report,
      onMailQueued: () => mailer.kick(),
      describeStatus: (code, number) => firstProviderOf(number).describeStatus(code),
      statusCode: (code, number) => firstProviderOf(number).statusCode?.(code),
      temporaryStatus: (code, number) => firstProviderOf(number).temporaryStatus?.(code),
    });
    notices.start();
    stack.push(() => notices.stop());
    const tracking = new ReplyTracking({
      store,
      windowMs: config.inbound.conversationWindow,
      defaultMailbox: config.inbound.defaultMailbox,
      logger: logger.child({ component: 'inbound' }),
    });
    // Its callbacks reach the dispatcher and the mailer only once mail comes, after both are made.
    const acceptance = new AcceptanceService({
      settings: acceptanceSettings(config, registry),
      store,
      ...acceptanceLimits(config, registry, routes),
      tracking,
      logger: logger.child({ component: 'acceptance' }),
      metrics,
      unavailable,
      onAccepted: () => dispatcher.kick(),
      onMailQueued: () => mailer.kick(),
      report,
      ...(options.smtpClock ? { clock: options.smtpClock } : {}),
      ...(options.loginPause ? { pause: options.loginPause } : {}),
    });
    const inbound = new InboundService({
      store,
      tracking,
      replyRefusal,
      replyMail: replyMailOptions(config, templates, onTemplateError),
      ...keywordsInEffect(config.policy, registry.plugins),
      logger: logger.child({ component: 'inbound' }),
      metrics,
      onMailQueued: () => mailer.kick(),
      onReportApplied: () => notices.kick(),
      statusCode: (provider, code) => registry.get(provider).statusCode?.(code),
      nationalRegion: (provider) => config.sms.defaultRegion ?? registry.get(provider).region,
      reassembly: { store, timeoutMs: config.inbound.reassemblyTimeout },
      stopping: () => stopping,
    });
    inbound.start();
    stack.push(() => inbound.stop());

    const simulators = new Map<string, ProviderSimulator>();
    for (const account of accounts.filter((candidate) => candidate.simulated)) {
      const simulatorLogger = logger.child({ component: 'simulator', ...(accounts.length > 1 ? { provider: account.provider } : {}) });
      simulators.set(
        account.provider,
        await createSimulator(account.provider, {
          ...simulatorAccount(account),
          webhookSigning: account.signature?.formula,
          logger: simulatorLogger,
          webhookSecret: account.signature?.secret,
        }),
      );
    }
    // One simulator also answers at the paths documented before routes (`/simulator/control`, its send API at the root).
    const [onlySimulator] = simulators.size === 1 ? simulators.values() : [];
    let smtpUp = false;
    /** `account`: the sender whose own credentials (`accounts[].gateway`) the gateway binds with; none for the relay's own. */
    const gateways: Array<{ readonly provider: string; readonly gateway: Gateway; readonly account?: string }> = [];
    /**
     * The gateways that cannot send now (a connection-based provider not bound), each named with why, for the
     * start line. `relay`: only the relay's own, which make it not ready (/readyz): an account's own refused or
     * unbound credentials hold nothing but that account's SMS (dispatcher.ts, #ownAccountRefusals).
     */
    const gatewaysNotSending = (which: 'relay' | 'accounts') =>
      gateways.flatMap(({ provider, gateway, account }) => {
        if ((account === undefined) !== (which === 'relay')) return [];
        const health = gateway.health();
        const named = account === undefined ? provider : `${provider} (account ${account})`;
        return health.ok ? [] : [{ provider, line: `${named}: ${health.detail ?? 'cannot send'}` }];
      });
    /** The relay's own gateway changed: it may be what the relay waited for to log `relay: ready`. */
    const gatewayChanged = (provider: string) => {
      loops.dispatcher?.gatewayChanged(provider);
      logReadyOnceReady?.();
    };
    // The dispatcher's breakers and pauses for the console, once the dispatcher exists (it starts after the HTTP server).
    let dispatchHealth: () => ReturnType<Dispatcher['health']> = () => [];
    // The web console (docs/console.md): off until a user is configured; its reads on their own connections.
    const consoleStore =
      config.console.users.length === 0
        ? undefined
        : config.store.url
          ? PostgresConsoleStore.open(config.store.url)
          : SqliteConsoleStore.open(join(config.dataDir, STORE_FILE), config.store.busyTimeout);
    if (consoleStore) stack.push(() => consoleStore.close());
    const operatorPause = new OperatorPauseWatch({ store, logger: logger.child({ component: 'dispatch' }), clock: options.dispatchClock ?? Date.now });
    const http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      maxConnections: config.http.maxConnections,
      maxConnectionsPerClient: config.http.maxConnectionsPerClient,
      trustedProxies: config.http.trustedProxies,
      webhookNetworks: config.inbound.allowedNetworks,
      allowedHosts: servedHostNames(config),
      // The console refuses another name with its own page.
      hostCheckedBy: consoleStore ? [CONSOLE_PREFIX] : [],
      logger,
      health: [
        { name: 'smtp', check: async () => smtpUp },
        // A database outage is no fault of this process (a restart cures nothing): PostgreSQL shows only in /readyz.
        { name: 'store', check: () => (config.store.url ? Promise.resolve(true) : store.ping().then(() => true)) },
      ],
      metrics,
      // A gateway that cannot send (a connection-based provider not bound) makes the relay not ready, as do failing commits.
      notReady: async () => {
        const reasons: Record<string, string> = {};
        if (stopping) reasons.relay = 'stopping';
        else if (!smtpUp) reasons.relay = 'starting';
        if (disk.full) reasons.disk = `free space below store.minFreeMegabytes (${config.store.minFreeMegabytes} MB)`;
        const storeReason = await storeHealth.notReady(store);
        if (storeReason) reasons.store = storeReason;
        const cannotSend = gatewaysNotSending('relay').map(({ provider }) => provider);
        if (cannotSend.length > 0) reasons.gateway = `cannot send: ${cannotSend.join(', ')}`;
        return reasons;
      },
      notes: (): Record<string, string> => {
        const since = operatorPause.pausedSince;
        return since === undefined ? {} : { dispatch: `paused by the operator since ${new Date(since).toISOString()}` };
      },
      mounts: [
        (app: FastifyInstance) =>
          mountWebhooks(app, {
            // The stop's 503 is the HTTP server's (http.drain): a webhook whose head was still arriving at the stop is taken.
            unavailable: cannotStore,
            receivers: accounts.flatMap((account) => {
              const plugin = registry.get(account.provider);
              return receivesWebhooks(plugin) ? [{ provider: plugin, sink: inbound.sinkFor(plugin.name), signature: account.signature }] : [];
            }),
            logger: logger.child({ component: 'webhook' }),
            token: config.inbound.webhookToken,
            previousToken: config.inbound.previousWebhookToken,
            tokenHeader: config.inbound.webhookTokenHeader,
            allowedNetworks: config.inbound.allowedNetworks,
            perMinute: config.inbound.webhookRequestsPerMinute,
            trustedProxies: config.http.trustedProxies,
            publicUrl: config.gateway.publicUrl,
            metrics,
          }),
        ...[...simulators].map(([name, simulator]) => simulatorMount(config, (scope) => simulator.register(scope, { prefix: simulatorPath(name) }))),
        ...(onlySimulator ? [simulatorMount(config, (scope) => onlySimulator.register(scope))] : []),
        ...(consoleStore
          ? [
              (app: FastifyInstance) =>
                mountConsole(app, {
                  config,
                  registry,
                  store,
                  consoleStore,
                  acceptance: () => acceptance,
                  replyNotes: replyNotesOf(config, registry, replyRefusal),
                  gateway: () => ({
                    hosts: (gateways[0]?.gateway.endpoints ?? []).map(hostOf),
                    health: gateways.map(({ gateway }) => gateway.health()),
                    providers: dispatchHealth().map((provider) => ({
                      ...provider,
                      hosts: provider.hosts.map(({ endpoint, failed }) => ({ host: hostOf(endpoint), failed })),
                    })),
                  }),
                  mailTransport: transport.description,
                  onMailQueued: () => mailer.kick(),
                  storeLasting: () => storeHealth.lasting,
                  logger: logger.child({ component: 'console' }),
                  pause: options.loginPause,
                  clock: options.consoleClock,
                }),
            ]
          : []),
      ],
    });
    stack.push(() => http.close());
    carryOn();
    const ownUrl = `http://${loopbackFor(config.http.host)}:${http.port}`;
    for (const [name, simulator] of simulators) {
      // The built-in gateway forwards replies and reports to this relay, as the real one is told to.
      const urls = webhookUrlsAt(ownUrl, config, name);
      simulator.setWebhooks({ moUrl: urls.mo, drUrl: urls.dr });
    }

    // A simulator with a protocol of its own (SMPP) listens on a port of its own; the others answer under their path here.
    const simulatorUrls = new Map<string, string>();
    for (const [name, simulator] of simulators) simulatorUrls.set(name, (await simulator.listen?.()) ?? `${ownUrl}${simulatorPath(name)}`);
    /** `sender`: the account whose own credentials this gateway binds with (`accounts[].gateway`), named in the start line. */
    const startGateway = async (
      account: GatewayAccount,
      own?: { readonly sender: string; readonly credentials: { readonly username: string; readonly password: string } },
    ): Promise<Gateway> => {
      const credentials = own?.credentials;
      const created = registry.get(account.provider).createGateway(gatewayOptions(config, account, logger, simulatorUrls.get(account.provider), credentials));
      // The part ids of a long SMS go to the store before its result reaches the dispatcher: any relay's receipts find it.
      const started = inbound.keepingParts(account.provider, created);
      stack.push(() => started.close());
      gateways.push({ provider: account.provider, gateway: started, ...(own ? { account: own.sender } : {}) });
      await unlessStopped(
        options.stopAsked,
        started.start({
          inbound: inbound.sinkFor(account.provider),
          // An account's own credentials refused pause nothing but its SMS' retries (dispatcher.ts, #ownAccountRefusals).
          healthChanged: credentials ? undefined : () => gatewayChanged(account.provider),
        }),
      );
      return started;
    };
    metrics.watchGateways(() => gateways);
    const dispatchProviders = new Map<string, DispatchProvider>();
    const dispatchLogger = logger.child({ component: 'dispatch' });
    for (const account of accounts) {
      const gateway = await startGateway(account);
      // `accounts[].gateway` are credentials of `gateway.provider`: its SMS use them wherever a route names that provider.
      const own = account.provider === config.gateway.provider ? new Map<string, Gateway>() : undefined;
      for (const sender of own ? config.accounts : []) {
        if (sender.gateway) own?.set(sender.username, await startGateway(account, { sender: sender.username, credentials: sender.gateway }));
      }
      const plugin = registry.get(account.provider);
      dispatchProviders.set(account.provider, {
        name: account.provider,
        gateway,
        outcomes: outcomeClassifier(plugin.outcomeRules, secrets, dispatchLogger),
        sessions: account.sessions,
        defaultSenderId: account.defaultSenderId,
        // Called as the plug-in's method (a plug-in's senderQueue may use `this`), as senderIdProblem is below.
        senderQueue: plugin.senderQueue && ((senderId: string) => plugin.senderQueue?.(senderId) ?? senderId),
        gatewayFor: own && ((sender) => own.get(sender)),
      });
    }

    const retry: RetryPolicy = { minDelayMs: config.delivery.retryMinDelay, maxDelayMs: config.delivery.retryMaxDelay, maxAgeMs: config.delivery.maxAge };
    const dispatcher = new Dispatcher({
      ...(options.dispatchClock ? { clock: options.dispatchClock } : {}),
      store,
      storeCommits: () => storeHealth.ok,
      routing: routes ? routedProviders(routes, dispatchProviders) : singleProvider(dispatchProviders.get(config.gateway.provider) as DispatchProvider),
      owner,
      logger: dispatchLogger,
      maxConcurrentRequests: config.gateway.maxConcurrentRequests,
      leaseMs: config.delivery.leaseTtl,
      idleWaitMs: options.idleWaitMs,
      retry,
      delayNoticeMs: config.delivery.delayNotice,
      failoverRecoveryMs: config.gateway.failoverRecovery,
      pauseProbeIntervalMs: config.delivery.pauseProbeInterval,
      metrics,
      report,
      onMailQueued: () => mailer.kick(),
    });
    loops.dispatcher = dispatcher;
    dispatchHealth = () => dispatcher.health();
    dispatcher.start();
    stack.push(() => dispatcher.stop(config.shutdownTimeout));
    if (store instanceof PostgresStore) {
      // Work another relay committed wakes this one's loops at once, not at their next poll.
      const listener = store.listenForWork(
        owner,
        (queues) => {
          if (queues.includes('sms')) dispatcher.notified();
          if (queues.includes('mail')) mailer.kick();
        },
        logger.child({ component: 'store' }),
      );
      stack.push(() => listener.stop());
    }

    // A wall clock stepped back would hold every due time stored before the step for as long as the step.
    const clockStep = new ClockStepWatch({
      store,
      longest: {
        ...longestWaits(retry, config.delivery.pauseProbeInterval),
        // The slack an SMS's bound has (its hold's jitter): a retry set by a relay whose clock is a little ahead stays.
        mailMs: config.mail.retryMaxDelay + config.mail.retryMinDelay,
        leaseMs: config.delivery.leaseTtl,
      },
      logger,
      wall: options.wallClock ?? Date.now,
      monotonic: () => performance.now(),
      onRescheduled: () => {
        dispatcher.notified();
        mailer.kick();
      },
    });
    clockStep.start();
    stack.push(() => clockStep.stop());

    const housekeeping = new Housekeeping({
      store,
      logger,
      retentionMs: config.store.retention,
      orphanReportTtlMs: config.inbound.orphanReportTtl,
      failoverRecoveryMs: config.gateway.failoverRecovery,
    });
    housekeeping.start();
    stack.push(() => housekeeping.stop());

    // The stop's first step is on the stack before the SMTP listeners bind, so a stop asked for during the bind unwinds
    // them too (the look after it), and a relay that logs `relay: ready` was never asked to stop while starting.
    let smtp: SmtpIntake | undefined;
    stack.push(async () => {
      // The stop's first step (docs/operations.md, "Stopping"): new transactions get 421, new HTTP requests 503 and an SMPP
      // deliver_sm ESME_RX_T_APPN (inbound reads `stopping`), and nothing more is claimed, at once; open sessions, HTTP
      // requests under way and the work in flight then share `shutdownTimeout`. Whatever is still in flight after it
      // keeps its lease for the next start.
      stopping = true;
      // A store that connects or space freed during the stop makes the relay no readier.
      logReadyOnceReady = undefined;
      smtpUp = false;
      await Promise.all([http.drain(config.shutdownTimeout), smtp?.close(), dispatcher.stop(config.shutdownTimeout), mailer.stop(config.shutdownTimeout)]);
    });
    smtp = await startSmtpIntake({
      settings: config.smtp,
      acceptance,
      logger: logger.child({ component: 'smtp' }),
      metrics,
      closeTimeoutMs: config.shutdownTimeout,
      ...(options.smtpClock ? { clock: options.smtpClock } : {}),
    });
    // startRelay's last look: nothing after it awaits, so no signal comes between it and `start` holding the relay.
    carryOn();
    smtpUp = true;

    // A database unreachable or a disk below its watermark at start: the relay listens, but refuses mail and webhooks until cured.
    // A gateway that cannot send (a connection-based provider not bound): it takes mail, which waits (/readyz says so too).
    const cannotSend = gatewaysNotSending('relay').map(({ line }) => line);
    const accountsCannotSend = gatewaysNotSending('accounts').map(({ line }) => line);
    const notReady = !storeHealth.ok
      ? 'relay: listening, store not ready (mail 451, webhooks 503) until it connects'
      : disk.full
        ? 'relay: listening, disk nearly full (mail 452, webhooks 503) until space is freed'
        : cannotSend.length > 0
          ? 'relay: listening, gateway not ready (mail accepted and queued) until it can send'
          : undefined;
    const listening = {
      smtp: listenerAddress(config.smtp.host, smtp.port),
      smtpTls: smtp.tlsPort === undefined ? undefined : listenerAddress(config.smtp.host, smtp.tlsPort),
      http: listenerAddress(config.http.host, http.port),
      smsDomains: config.sms.domains,
      gateway: config.gateway.routes
        ? config.gateway.routes.map((route) => `${route.name}: ${route.providers.map(describeAccount).join(' → ')}`).join('; ')
        : describeAccount(config.gateway),
      mail: transport.description,
      dataDir: config.dataDir,
      store: config.store.url ? redactUrl(config.store.url) : 'sqlite',
    };
    logger[notReady ? 'warn' : 'info'](
      {
        ...listening,
        gatewayNotReady: cannotSend.length > 0 ? cannotSend.join('; ') : undefined,
        // Not the relay's readiness: only that account's SMS wait.
        accountGatewayNotReady: accountsCannotSend.length > 0 ? accountsCannotSend.join('; ') : undefined,
      },
      notReady ?? 'relay: ready',
    );
    // After the start's lines: a relay started while paused says so at once, as it does when a pause comes or goes.
    operatorPause.start();
    stack.push(() => operatorPause.stop());
    // Anything waiting for `relay: ready` gets it, with the same fields, once the store commits, the disk has
    // room and the gateway can send, whichever of them it waited for (a database that connects, space freed, a bind).
    if (notReady) {
      const since = Date.now();
      logReadyOnceReady = () => {
        if (!storeHealth.ok || disk.full || gatewaysNotSending('relay').length > 0) return;
        logReadyOnceReady = undefined;
        logger.info({ ...listening, notReadyMs: Date.now() - since }, 'relay: ready');
      };
    }
    return {
      smtpPort: smtp.port,
      smtpTlsPort: smtp.tlsPort,
      httpPort: http.port,
      simulator: onlySimulator,
      simulators,
      store,
      acceptance,
      reloadTls: () => smtp.reloadTls(),
      inFlight: () => {
        const { sms, mail } = held();
        return { sms: sms.length, mail: mail.length };
      },
      stop,
    };
  } catch (error) {
    await stop();
    // A relay joined or a port was taken since the first look.
    throw afterUpgrade(error);
  }
}

/**
 * Removes the data directory's lock file at the end of a stop (a stop cut short leaves it: see cli.ts). A directory made
 * unwritable under the relay is the operator's to fix, not a failed stop.
 */
function releaseLock(dataDir: string, logger: Logger): void {
  const failed = releaseDataDirLock(dataDir);
  if (failed) logger.warn({ dataDir, reason: failed.message }, "relay: the lock file stays; the next start takes it over as a stopped relay's");
}

/** `step`, or the stop's reason as soon as one is asked for: for a step whose undoing is already on the stack. */
function unlessStopped<T>(stopAsked: AbortSignal | undefined, step: Promise<T>): Promise<T> {
  if (!stopAsked) return step;
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(stopAsked.reason);
    if (stopAsked.aborted) stop();
    stopAsked.addEventListener('abort', stop, { once: true });
    step.then(resolve, reject).finally(() => stopAsked.removeEventListener('abort', stop));
  });
}

/**
 * Whether each listener's port can be taken, before the store is opened (and perhaps upgraded, for
 * good): bound and let go at once, so that a port in use refuses the start with the store as it was.
 * The listeners take their ports for good only once everything behind them runs (startRelay's order):
 * none accepts a client before then (a connection in the moment of the look is reset, never answered).
 * Port 0 is any free port, which needs no look.
 */
async function probeListeners(config: Config): Promise<void> {
  const { smtp, http } = config;
  const listeners = [
    { name: 'SMTP', host: smtp.host, port: smtp.port, settings: { host: 'smtp.host', port: 'smtp.port' } },
    ...(smtp.tls && smtp.tlsPort !== undefined
      ? [{ name: 'SMTP TLS', host: smtp.host, port: smtp.tlsPort, settings: { host: 'smtp.host', port: 'smtp.tlsPort' } }]
      : []),
    { name: 'HTTP', host: http.host, port: http.port, settings: { host: 'http.host', port: 'http.port' } },
  ];
  for (const { name, host, port, settings } of listeners.filter((listener) => listener.port !== 0)) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, resolve);
    }).catch((error: unknown) => {
      throw new ListenError(name, settings, `${hostBeforePort(host)}:${port}`, error);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * The options of the configured provider's gateway. A simulated provider speaks its wire format on the
 * relay's own HTTP port, so `simulatorUrl` (that port) replaces the configured URLs and the real
 * adapter is exercised end to end. `credentials`: an account's own (`accounts[].gateway`).
 */
function gatewayOptions(
  config: Config,
  gateway: GatewayAccount,
  logger: Logger,
  simulatorUrl: string | undefined,
  credentials: { readonly username: string; readonly password: string } | undefined,
): GatewayOptions {
  const { connectTimeout, responseTimeout, maxConcurrentRequests } = config.gateway;
  const simulated = simulatorUrl !== undefined && credentials === undefined;
  return {
    endpoints: simulatorUrl ? [simulatorUrl] : [gateway.url, gateway.backupUrl].filter((url): url is string => Boolean(url)),
    username: credentials?.username ?? (simulated ? SIMULATOR_ACCOUNT.username : (gateway.username ?? '')),
    password: credentials?.password ?? (simulated ? SIMULATOR_ACCOUNT.password : (gateway.password ?? '')),
    accountId: simulatorUrl ? simulatorAccount(gateway).accountId : gateway.accountId,
    sessions: gateway.sessions,
    connectTimeoutMs: connectTimeout,
    responseTimeoutMs: responseTimeout,
    // One connection per concurrent request, so none waits for a socket.
    connectionsPerEndpoint: maxConcurrentRequests,
    logger: logger.child({ component: 'gateway' }),
    settings: simulated ? simulatedSettings(gateway.provider, gateway.settings) : gateway.settings,
    webhookUrls: config.gateway.publicUrl === undefined ? undefined : webhookUrlsAt(config.gateway.publicUrl, config, gateway.provider),
    defaultRegion: config.sms.defaultRegion,
    sharedQueue: config.store.url !== undefined,
  };
}

/**
 * The account a simulator takes and the relay sends with: the simulator's built-in one, with the
 * account id the configuration names (Puzzel's `serviceId`, InteractSMS's `apiId`, Twilio's
 * `accountSid`) where it names one, as a simulator fills in only what is not configured.
 */
function simulatorAccount(account: Pick<GatewayAccount, 'accountId'>): { readonly username: string; readonly password: string; readonly accountId: string } {
  return { ...SIMULATOR_ACCOUNT, accountId: account.accountId ?? SIMULATOR_ACCOUNT.accountId };
}

/**
 * Descriptors besides the listeners' connections: the store's files (database, WAL, shared memory, the
 * lock), the gateways' connections (gateway.maxConcurrentRequests per endpoint), the smarthost, logs, libraries.
 */
const OTHER_OPEN_FILES = 128;
/** Where Linux says the process's limits (Node has no getrlimit). */
const PROCESS_LIMITS = '/proc/self/limits';

/**
 * A soft open-file limit below what the listeners may hold (systemd's default is 1024) makes the process
 * fail at accept, where nothing is logged: said once at start, with the fix. Only where Linux says the limit.
 */
function warnOpenFileLimit(config: Config, logger: Logger): void {
  let limits: string;
  try {
    limits = readFileSync(PROCESS_LIMITS, 'utf8');
  } catch {
    return;
  }
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  const smtpListeners = config.smtp.tlsPort === undefined ? 1 : 2;
  const needed = config.smtp.maxConnections * smtpListeners + config.http.maxConnections + config.gateway.maxConcurrentRequests * 2 + OTHER_OPEN_FILES;
  if (Number.isFinite(soft) && soft < needed) {
    logger.warn(
      { openFileLimit: soft, needed },
      'relay: the open-file limit is below smtp.maxConnections + http.maxConnections and the store and gateway need: raise it (LimitNOFILE in the systemd unit) or lower those settings',
    );
  }
}

/**
 * A simulator's routes (its control routes queue replies and reports that the relay takes as the
 * provider's) answer only `http.simulatorNetworks`, loopback unless configured, whatever `http.host`.
 */
function simulatorMount(config: Config, register: (scope: FastifyInstance) => void): (app: FastifyInstance) => void {
  const allowed = networkMatcher(config.http.simulatorNetworks);
  return (app) =>
    app.register(async (scope) => {
      scope.addHook('onRequest', async (request, reply) => {
        if (allowed(peerAddress(request.socket.remoteAddress))) return;
        const { status, body } = toHttpError(new RelayError('FORBIDDEN', 'Forbidden: the simulator answers only http.simulatorNetworks'));
        return reply.status(status).send(body);
      });
      register(scope);
    });
}

/** Where provider `name`'s simulator is mounted on the relay's HTTP port (several may run at once). */
function simulatorPath(name: string): string {
  return `/simulator/${name}`;
}

/** An account as the ready line names it. */
function describeAccount(account: GatewayAccount): string {
  return `${account.provider}${account.simulated ? ' (simulator)' : ''}`;
}

/** The provider's webhook URLs under `base`, with the relay's webhook token when one is set. */
function webhookUrlsAt(base: string, config: Config, provider: string): { readonly mo: string; readonly dr: string } {
  const token = config.inbound.webhookToken ? `?token=${encodeURIComponent(config.inbound.webhookToken)}` : '';
  const paths = webhookPaths(provider);
  const root = base.replace(/\/+$/, '');
  return { mo: `${root}${paths.mo}${token}`, dr: `${root}${paths.dr}${token}` };
}

/** The provider's limits a mail is accepted under, and with `gateway.routes` each route's; `smsrelay preview` takes the same. */
export function acceptanceLimits(
  config: Config,
  registry: ProviderRegistry,
  routes = config.gateway.routes && routeTable(config.gateway.routes),
): { readonly provider: ProviderLimits; readonly routes: Routes | undefined } {
  const firstPlugin = registry.get(config.gateway.provider);
  return {
    provider: {
      capabilities: firstPlugin.capabilities,
      segmentLimits: config.gateway.segmentLimits,
      senderIdProblem: (id) => firstPlugin.senderIdProblem(id),
    },
    routes: routes && routeLimits(routes, registry),
  };
}

/**
 * What a reply mail says about replying, under this configuration: the keywords in effect, and replyRefusalOf. The
 * notes of `undeliverable reroute`'s mail (the CLI's and the console's), as the inbound side's own.
 */
export function replyNotesOf(config: Config, registry: ProviderRegistry, replyRefusal = replyRefusalOf(config, registry)): ReplyNotes {
  return new ReplyNotes({ ...keywordsInEffect(config.policy, registry.plugins), replyRefusal });
}

/**
 * Why the relay refuses a reply to a mail from `number` whoever writes it (refusedForEveryone: no route, or every
 * sender's destination rules), the number written as a reply mail writes it; undefined when some sender may text it.
 * The note of each reply mail: the inbound side's, and `undeliverable reroute`'s (the CLI's and the console's).
 */
export function replyRefusalOf(
  config: Config,
  registry: ProviderRegistry,
  routes = config.gateway.routes && routeTable(config.gateway.routes),
): (number: string) => string | undefined {
  const senders = new SenderPolicy(acceptanceSettings(config, registry).senders);
  const limits = acceptanceLimits(config, registry, routes).routes;
  return (number) => refusedForEveryone(number, limits, senders, formatNumber)?.message;
}

/** The acceptance rules of a configuration. */
function acceptanceSettings(config: Config, registry: ProviderRegistry): AcceptanceSettings {
  return {
    recipients: { ...config.sms, relaySender: config.mail.from, accountIdAddresses: readsAccountIdAddresses(config, registry) },
    maxParts: config.sms.maxParts,
    maxRecipients: config.smtp.maxRecipients,
    maxNumbersPerMail: config.smtp.maxNumbersPerMail,
    text: config.text,
    senders: {
      trustedNetworks: config.smtp.trustedNetworks,
      networks: config.networks,
      accounts: config.accounts,
      defaultRegion: config.sms.defaultRegion,
      allowedSenderIds: config.sms.allowedSenderIds,
      accountSenderIds: accountsOf(config).map((account) => account.defaultSenderId),
      premiumBlocklist: config.policy.premiumBlocklist,
      blockedPrefixes: config.policy.blockedPrefixes,
    },
    alertStormWindowMs: config.policy.alertStormWindow,
    resubmissionWindowMs: config.delivery.resubmissionWindow,
    postmaster: config.mail.postmaster,
    hostname: config.smtp.hostname,
  };
}

/** A gateway URL's host, without any credentials or path. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The address this process reaches its own HTTP port on, whatever interface it listens on. */
function loopbackFor(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return hostBeforePort(host);
}

/** A listener as the ready line names it: `[::]:25`, `0.0.0.0:25`. */
function listenerAddress(host: string, port: number): string {
  return `${hostBeforePort(host)}:${port}`;
}

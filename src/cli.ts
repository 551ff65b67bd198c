import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type LoadedConfig, loadConfig } from './config/load.ts';
import { createLogger } from './log.ts';
import { STORE_FILE, startRelay } from './relay.ts';
import { SqliteStore } from './store/sqlite.ts';

/** sysexits.h EX_CONFIG: the configuration is wrong; a supervisor should not restart in a loop. */
const EXIT_CONFIG = 78;
/** `smsrelay undeliverable` lists at most this many. */
const UNDELIVERABLE_LISTED = 1000;
/** A second signal while stopping means "now". */
const EXIT_INTERRUPTED = 130;

const USAGE = `Usage: smsrelay [command]

Commands:
  start           run the relay (default)
  undeliverable   list received SMS that no conversation or default mailbox took (newest first)
  help            show this text
  version         print the version

Configuration: smsrelay.yaml in the working directory (or the file SMSRELAY_CONFIG names) and
SMSRELAY_* environment variables; see README.md.`;

async function main(argv: readonly string[]): Promise<void> {
  const command = argv[0] ?? 'start';
  switch (command) {
    case 'start':
      return start();
    case 'undeliverable':
      return listUndeliverable();
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    case 'version':
    case '--version':
      console.log(version());
      return;
    default:
      console.error(`smsrelay: unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 64;
  }
}

function configOrExit(): LoadedConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`smsrelay: config: ${problem}`);
    process.exit(EXIT_CONFIG);
  }
}

/** One JSON line per SMS, for an operator to forward by hand or feed to a script. */
async function listUndeliverable(): Promise<void> {
  const { config } = configOrExit();
  const store = SqliteStore.open({ file: join(config.dataDir, STORE_FILE), busyTimeoutMs: config.store.busyTimeout });
  try {
    for (const sms of await store.undeliverableInbound(UNDELIVERABLE_LISTED)) {
      console.log(JSON.stringify({ ...sms, receivedAt: new Date(sms.receivedAt).toISOString() }));
    }
  } finally {
    await store.close();
  }
}

async function start(): Promise<void> {
  const { config, warnings } = configOrExit();
  const logger = createLogger(config.log.level);
  for (const warning of warnings) logger.warn(`config: ${warning}`);
  const relay = await startRelay(config, logger);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(EXIT_INTERRUPTED);
    stopping = true;
    logger.info({ signal }, 'relay: stopping');
    relay.stop().then(
      () => {
        logger.info('relay: stopped');
        logger.flush();
      },
      (error: unknown) => {
        logger.error({ err: error }, 'relay: error while stopping');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`smsrelay: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

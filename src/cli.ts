import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { ConfigError, type LoadedConfig, loadConfig } from './config/load.ts';
import { createLogger } from './log.ts';
import { STORE_FILE, startRelay } from './relay.ts';
import { hashPassword } from './policy/passwords.ts';
import { SqliteStore } from './store/sqlite.ts';

/** sysexits.h EX_CONFIG: the configuration is wrong; a supervisor should not restart in a loop. */
const EXIT_CONFIG = 78;
/** NIST SP 800-63B: at least 8 characters for a memorised secret. */
const MIN_PASSWORD_LENGTH = 8;
/** `smsrelay undeliverable` lists at most this many. */
const UNDELIVERABLE_LISTED = 1000;
/** A second signal while stopping means "now". */
const EXIT_INTERRUPTED = 130;

const USAGE = `Usage: smsrelay [command]

Commands:
  start           run the relay (default)
  undeliverable   list received SMS that no conversation or default mailbox took (newest first)
  hash-password   read a password on stdin, print its scrypt hash for accounts[].passwordHash
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
    case 'hash-password':
      return printPasswordHash();
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

/** The password comes on stdin (never as an argument: it would sit in the shell history and `ps`). */
async function printPasswordHash(): Promise<void> {
  if (process.stdin.isTTY) process.stderr.write('Password (then Enter; it is shown): ');
  const input = process.stdin.isTTY ? await firstLine() : await text(process.stdin);
  const password = input.replace(/\r?\n$/, '');
  if (password.length < MIN_PASSWORD_LENGTH) {
    console.error(`smsrelay: a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
    process.exitCode = 65;
    return;
  }
  console.log(await hashPassword(password));
}

function firstLine(): Promise<string> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', (line) => {
      lines.close();
      resolve(line);
    });
  });
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
  // The operator renewed the certificate: new connections use it, open ones keep theirs.
  process.on('SIGHUP', () => {
    try {
      relay.reloadTls();
    } catch (error) {
      logger.error({ err: error }, 'relay: TLS reload failed; the previous key and certificate stay in use');
    }
  });
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`smsrelay: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

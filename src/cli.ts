import { existsSync, lstatSync, readlinkSync, realpathSync, rmSync, type Stats, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import type { Preview } from './acceptance/preview.ts';
import { mailModeOf, refusalBeside } from './cluster/membership.ts';
import { relayVersion } from './version.ts';
import { RELAY_STALE_MS } from './store/cluster-types.ts';
import { settingsDigest } from './cluster/settings.ts';
import {
  configCheck,
  counted,
  type NoStoreYet,
  type OlderStore,
  history,
  LISTED,
  MOST_LISTED,
  quarantine,
  queue,
  checkQueueArgs,
  checkQuarantineArgs,
  checkRerouteArgs,
  rerouteUndeliverable,
  status,
  UsageError,
} from './admin.ts';
import { keywordLines } from './config/keywords.ts';
import {
  changedSettings,
  type Config,
  ConfigError,
  configuredPlugins,
  describeSetting,
  type LoadedConfig,
  loadConfig,
  readsAccountIdAddresses,
} from './config/load.ts';
import { formatDuration } from './config/schema.ts';
import {
  BackupTargetError,
  type BackupTargetFailure,
  DataDirError,
  isStoreFailure,
  ListenError,
  RelayError,
  StoreFileError,
  storeFailureReason,
  toSmtpError,
} from './errors.ts';
import { missingDataDirs, runningRelay, STORE_FILE } from './store/lock.ts';
import { DAMAGED_STORE_FIX } from './store/health.ts';
import { OlderSchemaError } from './store/migrations.ts';
import { storeFailureCode } from './store/rows.ts';
import { SqliteConsoleStore } from './store/sqlite-console.ts';
import { foreignWal } from './store/generation.ts';
import { type CopyCheck, recoveredCopyCheck, recoveredCopyFiles } from './store/recovered-copies.ts';
import { diskNearlyFull, isDamage, SqliteStore, storeFiles, tryWriting, unusableStorePath } from './store/sqlite.ts';
import type { Store } from './store/types.ts';
import { type Logger, withUnseenCharactersNamed } from './log.ts';
import type { Relay } from './relay.ts';
import { releaseSignals, type StartSignal, takeOverSignals } from './start-signals.ts';

/** sysexits.h EX_CONFIG: the configuration is wrong; a supervisor should not restart in a loop. */
const EXIT_CONFIG = 78;
/** NIST SP 800-63B: at least 8 characters for a memorised secret. */
const MIN_PASSWORD_LENGTH = 8;
/** `smsrelay undeliverable` reads them this many at a time (one store read each), and lists them all. */
const UNDELIVERABLE_PAGE = 1000;
/** A second signal while stopping means "now". */
const EXIT_INTERRUPTED = 130;
/**
 * A second signal counts as "now" only this long after the first: Ctrl-C under `npm start` reaches the relay twice,
 * milliseconds apart (the terminal signals the whole process group, and npm forwards its own), and one key press
 * is one stop. Half a second is well above that and well below a person pressing again because the stop is slow.
 */
const SECOND_SIGNAL_MIN_GAP_MS = 500;
/** sysexits.h EX_USAGE: the command was called wrongly. */
const EXIT_USAGE = 64;
/** sysexits.h EX_NOINPUT ("did not exist or was not readable"): there is no relay data where the command looked that its user may read. */
const EXIT_NO_DATA = 66;
/** sysexits.h EX_DATAERR: the input is of a form the command cannot take (a store copy's source of another schema version). */
const EXIT_DATA = 65;
/** sysexits.h EX_UNAVAILABLE: the database cannot be reached now. */
const EXIT_UNAVAILABLE = 69;
/** sysexits.h EX_CANTCREAT: the copy's target cannot take it (not empty) or it did not verify. */
const EXIT_CANNOT_CREATE = 73;
/** sysexits.h EX_TEMPFAIL: a passing problem (a full disk); a supervisor should restart later. */
const EXIT_TEMPORARY = 75;
/** sysexits.h EX_IOERR: the store's disk refused to read or write it (an I/O error, a read-only filesystem). */
const EXIT_IO = 74;

/** Exit codes and what each means for a command (0 needs no words). */
type Exits = Readonly<Record<number, string>>;

/**
 * Every command: its usage line, what it does, the options it takes (each a value's or a flag), the
 * words it takes first when it has commands of its own (`queue list`), what it needs a word for when
 * it cannot do without one, how many words it takes at most (its own name included; more is a mistake,
 * a second id or a stray word, refused with the usage rather than ignored) and its exit codes. The general usage and each command's help are made from it.
 */
interface CommandSpec {
  readonly usage: string;
  readonly does: string;
  readonly options?: Readonly<Record<string, 'string' | 'boolean'>>;
  /** Its commands of its own; each one's help is its own, or the command's when undefined (`config check` is all `config` does). */
  readonly commands?: Readonly<Record<string, OwnCommand | undefined>>;
  readonly needs?: string;
  readonly words?: number;
  readonly exits: Exits;
}

/** A command's command of its own (`queue list`): its usage, what it does and its exit codes, shown by `queue list --help`. */
interface OwnCommand {
  readonly usage: string;
  readonly does: string;
  readonly exits: Exits;
}

/** The exit codes every command that reads the store shares (docs/operations.md); a command may say more of one. */
const STORE_EXITS: Exits = {
  64: 'called wrongly',
  66: 'no store where it looked, or one this user may not open',
  69: 'the database cannot be reached now',
  74: "the store's disk refuses it (an I/O error, a read-only filesystem)",
  75: "the store's disk is full, or another process holds the store's lock past store.busyTimeout (a command that writes)",
  78: "a store it cannot use (damaged, newer, older: only start upgrades it; refusing), or a lost store's copy in the data directory (restore it or move it out)",
};

/** A queue command given one message's id: that id may be of no message, or of one whose SMS are all finished. */
const BY_ID_EXITS: Exits = {
  1: 'no message with that id, or none of its SMS queued any more (each named: delivered, failed, expired, deleted)',
  ...STORE_EXITS,
};

const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  start: {
    usage: 'start',
    does: 'run the relay (default)',
    words: 1,
    exits: {
      0: 'stopped',
      74: "the store's disk refuses it at start (an I/O error, a read-only filesystem)",
      75: 'disk full at start',
      78: "configuration or store unusable, or a lost store's copy in the data directory (restore it or move it out)",
      130: 'a second signal while stopping, half a second or more after the first',
    },
  },
  undeliverable: {
    usage: 'undeliverable [reroute <id> <mailbox>]',
    does: 'list received SMS that no conversation or default mailbox took, newest first, as JSON lines on stdout (none is said on stderr); reroute mails one of them there',
    commands: {
      reroute: {
        usage: 'undeliverable reroute <id> <mailbox>',
        does: "mail a received SMS that found no mailbox to this one (a running relay's mailer sends it)",
        exits: {
          0: '',
          1: 'no undeliverable SMS with that id, or it has its mailbox already (rerouted, or found when received: the line says where its mail went, when and how it stands)',
          ...STORE_EXITS,
          64: "called wrongly, or a mailbox at the relay's own SMS domain",
        },
      },
    },
    exits: { 0: '', ...STORE_EXITS },
  },
  'hash-password': {
    usage: 'hash-password',
    does: 'read a password on stdin, print its scrypt hash for accounts[].passwordHash',
    words: 1,
    exits: { 0: '', 64: 'called wrongly', 65: 'a password shorter than 8 characters' },
  },
  status: { usage: 'status', does: 'queue depths, dispatch state, last errors', words: 1, exits: { 0: '', ...STORE_EXITS } },
  log: {
    usage: 'log <id|Message-ID|number> [--limit <n>]',
    does: "a message's history (mail, SMS, reports), by the relay's id or the mail's own Message-ID (<abc@example.com>), or the newest messages to a number (written as a sender would: +44 7700 900123, or as its address, 447700900123@<an SMS domain>), 20 unless --limit says up to 1000; a list cut short says so on stderr",
    options: { limit: 'string' },
    needs: 'a message id or a phone number',
    words: 2,
    exits: { 0: '', 1: 'nothing known about it', ...STORE_EXITS },
  },
  queue: {
    usage: 'queue <command>',
    does: 'the SMS queue: list it, hold, release, retry or delete messages, pause or resume sending (queue alone is queue list)',
    options: { after: 'string', limit: 'string', now: 'boolean' },
    commands: {
      list: {
        usage: 'queue list [--after <sms id>] [--limit <n>]',
        does: `the queued SMS as JSON lines on stdout, ${counted.format(LISTED)} a page unless --limit says up to ${counted.format(MOST_LISTED)}; a page cut short says so on stderr, with the --after that reads on, as does an empty one`,
        exits: { 0: '', ...STORE_EXITS },
      },
      hold: { usage: 'queue hold <message id|all>', does: "keep a message's queued SMS (or every one) back until released", exits: { 0: '', ...BY_ID_EXITS } },
      release: {
        usage: 'queue release <message id|all>',
        does: 'let held SMS go again; names a provider whose sending is paused',
        exits: { 0: '', ...BY_ID_EXITS },
      },
      retry: {
        usage: 'queue retry <message id|all> [--now]',
        does: "send now the SMS that are neither held nor scheduled for later (naming those left), and make a paused provider's probe due now; --now, by message id only, also sends that message's scheduled SMS before their time",
        exits: { 0: '', ...BY_ID_EXITS },
      },
      delete: {
        usage: 'queue delete <message id|all>',
        does: "drop a message's queued SMS (or every one); no bounce is mailed",
        exits: { 0: '', ...BY_ID_EXITS },
      },
      pause: { usage: 'queue pause', does: 'stop all dispatch until queue resume; the queue is kept', exits: { 0: '', ...STORE_EXITS } },
      resume: {
        usage: 'queue resume',
        does: 'restart dispatch; names any provider whose account is refused, as release does',
        exits: { 0: '', ...STORE_EXITS },
      },
    },
    exits: {},
  },
  quarantine: {
    usage: 'quarantine <command>',
    does: 'webhook requests kept because they could not be read',
    commands: {
      list: {
        usage: 'quarantine list',
        does: `the kept requests, the oldest ${counted.format(LISTED)} at most, as JSON lines on stdout (none, or a list cut short, is said on stderr)`,
        exits: { 0: '', ...STORE_EXITS },
      },
      show: {
        usage: 'quarantine show <id>',
        does: 'one kept request: its details as JSON, then its body as it came',
        exits: { 0: '', 1: 'no request with that id', ...STORE_EXITS },
      },
      delete: {
        usage: 'quarantine delete <id|all>',
        does: 'remove a kept request (or every one)',
        exits: { 0: '', 1: 'no request with that id', ...STORE_EXITS },
      },
    },
    exits: {},
  },
  config: {
    usage: 'config check',
    does: "the effective configuration (secrets masked) and the store's durability (an older store's schema, which start will upgrade; or that there is none yet, before the first start)",
    commands: { check: undefined },
    needs: '"check"',
    words: 2,
    // No store yet is exit 0 (it creates nothing): 66 is only one this user may not open.
    exits: { 0: '', ...STORE_EXITS, 66: 'a store this user may not open', 69: 'the store cannot be reached now (the configuration is shown all the same)' },
  },
  backup: {
    usage: 'backup [--force] <file|directory>',
    does: 'an online copy of the store (SQLite; on PostgreSQL use pg_dump); into a directory as smsrelay-backup-<time>.db; an existing file only with --force',
    options: { force: 'boolean' },
    words: 2,
    exits: {
      0: '',
      ...STORE_EXITS,
      64: 'called wrongly, or on PostgreSQL (the command is for SQLite: use pg_dump)',
      73: 'the file exists (add --force), or cannot be made there (no such directory, a file in its path, permission denied)',
      74: "the store's disk, or the target's, refuses it (an I/O error, a read-only filesystem)",
      75: "the store's disk, or the target's, is full",
    },
  },
  store: {
    usage: 'store copy --from <sqlite file> --to <postgres url>',
    does: 'copies a SQLite store into a new, empty PostgreSQL database, verified',
    options: { from: 'string', to: 'string' },
    commands: { copy: undefined },
    needs: '"copy --from <sqlite file> --to <postgres url>"',
    words: 2,
    exits: {
      0: '',
      64: 'called wrongly',
      65: 'a source of an older schema',
      66: 'no source store',
      69: 'unreachable or a relay running on the source',
      73: 'the target is not empty or did not verify',
      78: 'the target refuses',
    },
  },
  preview: {
    usage: 'preview [--from <address>] [--to <number>@<sms-domain>] < mail.eml',
    does: 'what the phone would get from a mail (text, encoding, parts, parameters) and why each removed block was removed, under the configured text.* settings',
    options: { from: 'string', to: 'string' },
    words: 1,
    exits: { 0: '', 64: 'called wrongly', 65: 'the mail would be refused' },
  },
  help: {
    usage: 'help [command]',
    does: "show this text, or a command's (its own command may follow: help queue list)",
    words: 3,
    exits: { 0: '', 64: 'no such command' },
  },
  version: { usage: 'version', does: 'print the version', words: 1, exits: { 0: '' } },
};

const USAGE = `Usage: smsrelay [command] (each command takes --help)

Commands:
${Object.values(COMMANDS)
  .flatMap((spec) => [spec, ...Object.values(spec.commands ?? {}).filter((own) => own !== undefined)])
  .map((spec) => `  ${spec.usage}\n      ${spec.does}`)
  .join('\n')}

Configuration: smsrelay.yaml in the working directory (or the file SMSRELAY_CONFIG names) and
SMSRELAY_* environment variables; see docs/configuration.md.`;

/**
 * `smsrelay <command> [<its command>] --help`, `smsrelay help <command> [<its command>]`: its usage, what it
 * does, its exit codes; a command with several of its own lists them, and its exit codes are all of theirs.
 */
function commandHelp(spec: CommandSpec, ownName?: string): string {
  const own = ownName === undefined ? undefined : spec.commands?.[ownName];
  const shown: OwnCommand = own ?? spec;
  const owns = own ? [] : Object.values(spec.commands ?? {}).filter((each) => each !== undefined);
  // Integer keys keep their numeric order in an object: the merged codes are listed in order, each once.
  const merged: Record<number, string> = { ...shown.exits };
  for (const each of owns) Object.assign(merged, each.exits);
  const exits = Object.entries(merged).map(([code, meaning]) => (meaning ? `${code} ${meaning}` : code));
  const listed = owns.length > 0 ? `\n\nCommands:\n${owns.map((each) => `  ${each.usage}\n      ${each.does}`).join('\n')}` : '';
  return `Usage: smsrelay ${shown.usage}\n\n${shown.does}${listed}\n\nExit codes: ${exits.join(', ')}`;
}

/** A command's words as `parseArgs` read them: its own (`list`, an id) and its options' values. */
interface Arguments {
  readonly words: readonly string[];
  readonly options: Readonly<Record<string, string | boolean>>;
  readonly help: boolean;
}

/**
 * The words after the command, by node's `parseArgs` (`--` ends the options, `--to=<value>` is one);
 * a string when the command is called wrongly: an option it does not take, one without its value or
 * given twice, a command of its own it does not have, too few or too many words.
 */
function commandArguments(command: string, spec: CommandSpec, args: readonly string[]): Arguments | string {
  const options = Object.fromEntries(Object.entries(spec.options ?? {}).map(([name, type]) => [name, { type }]));
  // Not strict: its errors' words are not the relay's; each mistake is named here instead.
  const { tokens } = parseArgs({
    args: [...args],
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const words: string[] = [];
  const given: Record<string, string | boolean> = {};
  let help = false;
  // A mistake in an option is named with the command of its own it is given to: `queue list: --limit …`.
  const named = () => [command, ...(spec.commands && words[0] !== undefined ? [words[0]] : [])].join(' ');
  for (const token of tokens) {
    if (token.kind === 'positional') words.push(token.value);
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      help = true;
      continue;
    }
    const type = spec.options && Object.hasOwn(spec.options, token.name) ? spec.options[token.name] : undefined;
    if (type === undefined) return `${named()}: unknown option "${token.rawName}"`;
    const value = token.value;
    // A value that looks like an option is the next option, the value forgotten (`--to --from x`); `--to=-x` takes it.
    // A negative number is a value all the same (`--after -1`), for the command to refuse with its own reason.
    const forgotten = value === undefined || (!token.inlineValue && value.startsWith('-') && !/^-\d/.test(value));
    if (type === 'string' && forgotten) return `${named()}: ${token.rawName} needs a value`;
    if (type === 'boolean' && value !== undefined) return `${named()}: ${token.rawName} takes no value`;
    if (Object.hasOwn(given, token.name)) return `${named()}: ${token.rawName} given twice`;
    given[token.name] = value ?? true;
  }
  if (help) return { words, options: given, help };
  const [first] = words;
  if (spec.commands && first !== undefined && !Object.hasOwn(spec.commands, first)) {
    return `unknown ${command} command "${first}": use ${Object.keys(spec.commands).join(', ')}`;
  }
  if (spec.needs !== undefined && words.length === 0) return `${command} needs ${spec.needs}`;
  if (spec.words !== undefined && words.length + 1 > spec.words) {
    if (command === 'hash-password') return 'hash-password takes no argument: it reads the password on stdin, so that it stays out of shell history and ps';
    return `${command}: unexpected argument "${words.slice(spec.words - 1).join(' ')}"`;
  }
  return { words, options: given, help };
}

/** The words and options as the store's commands (admin.ts) read them: `list --limit 5`. */
function asWritten({ words, options }: Arguments): string[] {
  return [...words, ...Object.entries(options).flatMap(([name, value]) => (value === true ? [`--${name}`] : [`--${name}`, String(value)]))];
}

async function main(argv: readonly string[]): Promise<void> {
  // POSIX: `--` ends the options; before the command, it says only that.
  const [command = 'start', ...rest] = argv[0] === '--' ? argv.slice(1) : argv;
  // Only `start` answers signals itself: the other commands end on them as any program does.
  if (command !== 'start') releaseSignals();
  if (command === '--help' || command === '-h') return main(['help', ...rest]);
  if (command === '--version') return main(['version', ...rest]);
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!spec) return usage(`unknown command "${command}"`);
  if (command !== 'help') {
    calledCommand = spec;
    // Its command of its own, when one is named first (`queue hold`): a mistake shows that one's usage.
    const [own] = rest;
    if (own !== undefined && spec.commands && Object.hasOwn(spec.commands, own)) calledOwn = own;
  }
  // An option the command does not take (a typo, another command's) is refused, never taken for a file or an id.
  const parsed = commandArguments(command, spec, rest);
  if (typeof parsed === 'string') return usage(parsed);
  if (parsed.help) {
    // `queue list --help`: list's own help; a word that is none of its commands gets the command's.
    const [own] = parsed.words;
    console.log(commandHelp(spec, own !== undefined && spec.commands && Object.hasOwn(spec.commands, own) ? own : undefined));
    return;
  }
  const { words, options } = parsed;
  const option = (name: string): string | undefined => (typeof options[name] === 'string' ? options[name] : undefined);
  switch (command) {
    case 'start':
      return start();
    case 'undeliverable':
      return listUndeliverable(words);
    case 'hash-password':
      return printPasswordHash();
    case 'status':
      return withStore((store, config) =>
        status(store, Date.now(), {
          pid: runningRelay(config.dataDir),
          name: config.store.relayName,
          settings: settingsDigest(config),
          database: config.store.url !== undefined,
        }),
      );
    case 'log':
      return withStore(async (store, config) => {
        const { composeRegistry } = await import('./providers/registry.ts');
        return history(store, words[0] ?? '', Date.now(), config.sms.defaultRegion, {
          limit: option('limit'),
          note: (line) => console.error(`smsrelay: ${line}`),
          withMessageId: (header, limit) => messagesWithHeader(config, header, limit),
          smsDomains: config.sms.domains,
          accountIdAddresses: readsAccountIdAddresses(config, composeRegistry()),
        });
      });
    case 'queue': {
      // `queue` alone, or with list's options only, is `queue list`.
      const args = asWritten({ ...parsed, words: words.length > 0 ? words : ['list'] });
      // What it is asked is checked before the store is opened: a mistake is the usage alone.
      const wrong = usageErrorOf(() => checkQueueArgs(args));
      if (wrong) return usage(wrong);
      return withStore((store) => queue(store, args, Date.now(), noteOnStderr));
    }
    case 'quarantine': {
      const wrong = usageErrorOf(() => checkQuarantineArgs(words));
      if (wrong) return usage(wrong);
      return withStore((store) => quarantine(store, words, noteOnStderr));
    }
    case 'config':
      return withStore(checkConfig, {
        older: (olderSchema, config, warnings) => checkConfig({ olderSchema }, config, warnings),
        none: (config, warnings, startRefused) => checkConfig({ noStoreIn: config.dataDir, startRefused }, config, warnings),
        showsCopyRefusal: true,
      });
    case 'backup':
      return backup(words, options['force'] === true);
    case 'store':
      return storeCommand(option('from'), option('to'));
    case 'preview':
      return preview(option('from'), option('to'));
    case 'help': {
      const [named, own] = words;
      const of = named !== undefined && Object.hasOwn(COMMANDS, named) ? COMMANDS[named] : undefined;
      if (named !== undefined && !of) return usage(`help: unknown command "${named}"`);
      // `help config check` as `config check --help`: a word the command does not take is refused as it would be.
      if (own !== undefined && !(of?.commands && Object.hasOwn(of.commands, own))) return usage(`help: ${named} has no command "${own}"`);
      console.log(of ? commandHelp(of, own) : USAGE);
      return;
    }
    case 'version':
      console.log(relayVersion());
      return;
  }
}

/**
 * The relay's ids of the mails with Message-ID `header`, newest first: the console's Messages search (its own
 * connections to the store, read-only for this), so that `log` finds a mail by what its sender knows it as, as the console does.
 */
async function messagesWithHeader(config: Config, header: string, limit: number): Promise<string[]> {
  const consoleStore = config.store.url
    ? (await import('./store/postgres/console.ts')).PostgresConsoleStore.open(config.store.url)
    : SqliteConsoleStore.open(join(config.dataDir, STORE_FILE), config.store.busyTimeout);
  try {
    return (await consoleStore.searchMessages({ messageIdHeader: header }, limit)).map((message) => message.id);
  } finally {
    await consoleStore.close();
  }
}

/** The reason a check refuses the command's words with (admin.ts's UsageError), or undefined when it takes them. */
function usageErrorOf(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
}

/**
 * The command being run, once main knows it: a mistake in calling it is answered with its own usage, not
 * the list of every command. Set once per process (the CLI runs one command), read by `usage`.
 */
let calledCommand: CommandSpec | undefined;
/** Its command of its own (`hold` of `queue hold`), when the words name one first. */
let calledOwn: string | undefined;

/** A command called wrongly: the reason, then that command's usage (or every command's), on stderr; exit 64. */
function usage(reason: string): void {
  const shown = calledCommand ? `${commandHelp(calledCommand, calledOwn)}\n\nEvery command: smsrelay help` : USAGE;
  console.error(`smsrelay: ${reason}\n\n${shown}`);
  process.exitCode = EXIT_USAGE;
}

/**
 * `config check`, on the store or on what an older one's schema is; on a shared database, also what
 * `start` would refuse beside the relays running on it (a Maildir among several), read whatever its schema.
 */
async function checkConfig(store: Store | OlderStore | NoStoreYet, config: Config, warnings: readonly string[]): Promise<string> {
  // What start would log as warnings (an old setting's name, an unknown variable), on stderr beside the check, and what
  // the settings mean for keywords (the lists each provider's SMS is read by): stdout stays a configuration to copy back.
  for (const warning of warnings) console.error(`smsrelay: config: ${warning}`);
  const { composeRegistry } = await import('./providers/registry.ts');
  for (const line of keywordLines(config.policy, configuredPlugins(config, composeRegistry()))) console.error(`smsrelay: ${line}`);
  let reachable = true;
  const checked = await configCheck(config, store, () => {
    reachable = false;
    process.exitCode = EXIT_UNAVAILABLE;
  });
  const url = config.store.url;
  if (url === undefined || !reachable || 'noStoreIn' in store) return checked;
  const { PostgresStore } = await import('./store/postgres/store.ts');
  const seen = await ('olderSchema' in store ? PostgresStore.relaysSeenAsItIs(url, RELAY_STALE_MS) : store.relaysSeen(RELAY_STALE_MS)).catch(
    (error: unknown) => {
      const reason = isStoreFailure(error) ? storeFailureReason(error) : error instanceof Error ? error.message : String(error);
      console.error(`smsrelay: cannot read which relays run on the database now (${reason}); start checks it again`);
      process.exitCode = EXIT_UNAVAILABLE;
      return [];
    },
  );
  const refused = refusalBeside({ name: config.store.relayName, mail: mailModeOf(config.mail.url) }, seen);
  if (refused) {
    console.error(`smsrelay: config: ${describeSetting(refused.setting)}: ${refused.message}`);
    process.exitCode = EXIT_CONFIG;
  }
  return checked;
}

type StoreCommand = (store: Store, config: Config, warnings: readonly string[]) => Promise<string>;
/**
 * What a command that reads none of the store's tables (`config check`, to run before upgrading) does
 * with a store of an older schema `from`, which the others refuse: only `start` upgrades it.
 */
type OlderStoreCommand = (from: number, config: Config, warnings: readonly string[]) => Promise<string>;
/**
 * What a command that reads none of the store's tables does where there is none yet (a new installation:
 * `config check` before the first start), which the others answer with "no relay data".
 */
type NoStoreCommand = (config: Config, warnings: readonly string[], startRefused: boolean) => Promise<string>;

/**
 * Runs an operator command on the store of the configured data directory, which it names on stderr
 * (stdout stays the command's output, for scripts). It never creates a store: run in the wrong
 * place, it says where it looked and how to point it at the relay's data.
 */
async function withStore(
  command: StoreCommand,
  { older: onOlder, none, showsCopyRefusal }: { older?: OlderStoreCommand; none?: NoStoreCommand; showsCopyRefusal?: boolean } = {},
): Promise<void> {
  const { config, warnings } = configOrExit();
  if (config.store.url) return withPostgres(config, warnings, command, onOlder);
  const file = join(config.dataDir, STORE_FILE);
  const exists = storeExists(file, config);
  // A relay still running on its lost store is told as that (stop it first); else a copy beside the store refuses as start
  // does; `config check` shows the configuration first, then that refusal as its store line.
  const beside = exists || runningRelay(config.dataDir) === undefined ? storeFileCheck(file) : undefined;
  if (beside && 'warning' in beside) console.error(`smsrelay: ${beside.warning}`);
  const refusal = beside && 'refusal' in beside ? beside.refusal : undefined;
  if (refusal && !showsCopyRefusal) refuseStoreFile(refusal);
  const print = (output: string) => printOutput(refusal ? `${output}\n${copyRefusalLine(refusal)}` : output);
  if (!exists) {
    if (none) return print(await none(config, warnings, refusal !== undefined));
    console.error(noRelayData(config));
    process.exitCode = EXIT_NO_DATA;
    return;
  }
  console.error(`smsrelay: data directory ${config.dataDir}`);
  // No relay has the store open without its WAL: the files this command's open makes, it leaves as it found them.
  const relayAlongside = existsSync(storeFiles(file)[1]);
  let store: SqliteStore;
  try {
    store = openOrExit(file, config, onOlder !== undefined);
  } catch (error) {
    if (!relayAlongside) removeEmptyWal(file, config.dataDir);
    if (onOlder && error instanceof OlderSchemaError) return print(await onOlder(error.from, config, warnings));
    return diskFailureOrThrow(error, config);
  }
  try {
    print(await command(store, config, warnings));
  } catch (error) {
    if (error instanceof RelayError && isDamage(error.cause)) {
      console.error(`smsrelay: config: ${describeSetting('dataDir')}: the store ${file} is damaged (${(error.cause as Error).message}): ${DAMAGED_STORE_FIX}`);
      process.exitCode = EXIT_CONFIG;
    } else if (error instanceof UsageError) usage(error.message);
    else diskFailureOrThrow(error, config);
  } finally {
    await store.close().catch((error: unknown) => diskFailureOrThrow(error, config));
    if (!relayAlongside) removeEmptyWal(file, config.dataDir);
  }
}

/**
 * SQLite removes the WAL and shared-memory files at the last connection's close, unless that close could
 * not checkpoint (a full or failing disk): a command run where no relay runs then left them behind. An
 * empty WAL holds nothing, so both go; one with content is kept (the next open recovers from it), and so
 * are both once a relay started on the directory meanwhile (its lock): they are its open files now.
 */
function removeEmptyWal(file: string, dataDir: string): void {
  const [, wal, shm] = storeFiles(file);
  if (statSync(wal, { throwIfNoEntry: false })?.size !== 0 || runningRelay(dataDir) !== undefined) return;
  rmSync(wal, { force: true });
  rmSync(shm, { force: true });
}

/** The system's words (errno) for a disk that refuses the store's files before SQLite gets to them (a check of the file). */
const DISK_ERRNOS = /^(ENOSPC|EDQUOT|EROFS|EIO)$/;

/**
 * The data directory's disk failing the store (full, an I/O error, read-only), at the open, in a command or in
 * the relay's start, from SQLite (in itself or as the store's error for it) or the system: the one line naming
 * `dataDir`, where it came from and the fix, with exit 75 for a full disk (freeing space is the fix, and a
 * supervisor restarts) or 74; undefined for any other failure.
 */
function diskFailure(error: unknown, config: Config): { readonly line: string; readonly exitCode: number } | undefined {
  const under = error instanceof RelayError ? (error.cause ?? error) : error;
  const code = String((under as { code?: unknown } | undefined)?.code ?? '');
  const fullRelay = error instanceof RelayError && error.code === 'DISK_FULL';
  if (!/^SQLITE_(FULL|IOERR|READONLY|CANTOPEN)/.test(code) && !DISK_ERRNOS.test(code) && !fullRelay) return undefined;
  const reason = under instanceof Error ? under.message : String(under);
  // SQLite says "disk I/O error" where a full disk refused its shared-memory file (SQLITE_IOERR_SHMSIZE) or the
  // WAL's next pages: the free space tells.
  // A read-only filesystem is that, however little space it has left.
  const readOnly = /^(EROFS|SQLITE_READONLY)/.test(code);
  const full = fullRelay || /^(SQLITE_FULL|SQLITE_IOERR_SHMSIZE|ENOSPC|EDQUOT)/.test(code) || (!readOnly && diskNearlyFull(config.dataDir));
  const where = `smsrelay: ${describeSetting('dataDir')}: the store in ${config.dataDir} cannot be used`;
  // Node's words start with the code already.
  const words = reason.startsWith(code) ? reason : `${code}: ${reason}`;
  if (full) return { line: `${where}: the disk is full (${code || 'DISK_FULL'}); free space in ${config.dataDir}`, exitCode: EXIT_TEMPORARY };
  // Not even the reading commands can do without writing: SQLite opens a store in WAL mode only where it can make
  // its shared-memory file (SQLITE_CANTOPEN read-only).
  if (readOnly) return { line: `${where}: it is on a read-only filesystem (${words}); remount it read-write and run it again`, exitCode: EXIT_IO };
  return { line: `${where}: its disk refuses it (${words}); check that filesystem (failing, out of inodes) and run it again`, exitCode: EXIT_IO };
}

/**
 * A command's write that met the store's write lock held past `store.busyTimeout` (in itself or as the store's
 * STORE_BUSY): the one line naming `dataDir`, the lock, who may hold it and the fix, exit 75 (temporary: run it again);
 * undefined for any other failure. The holder is not known here: the relay on the directory in one of its long writes
 * (a retention sweep, a start's upgrade) as likely as another program. Reading commands never meet it: a store of the
 * current schema opens without writing (migrate).
 */
function heldLock(error: unknown, config: Config): { readonly line: string; readonly exitCode: number } | undefined {
  const under = error instanceof RelayError ? (error.cause ?? error) : error;
  if (storeFailureCode(under) !== 'STORE_BUSY') return undefined;
  const code = String((under as { code?: unknown }).code);
  const reason = under instanceof Error ? under.message : String(under);
  return {
    line: `smsrelay: ${describeSetting('dataDir')}: the store in ${config.dataDir} cannot be written now: its write lock was held past store.busyTimeout (${formatDuration(config.store.busyTimeout)}; ${code}: ${reason}); run the command again in a while (a relay's commits hold the lock for milliseconds, its long writes longer: the store.retention sweep, an upgrade of the store at start; a hold that does not end is another program writing to ${STORE_FILE}, such as a sqlite3 shell left in a transaction)`,
    exitCode: EXIT_TEMPORARY,
  };
}

/** A command's disk failure (diskFailure) or a lock held too long (heldLock) said, with its exit code unless an earlier failure set one; anything else is thrown. */
function diskFailureOrThrow(error: unknown, config: Config): void {
  const failure = diskFailure(error, config) ?? heldLock(error, config);
  if (failure === undefined) throw error;
  console.error(failure.line);
  if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = failure.exitCode;
}

/**
 * Whether the store file is there. A path that names no file a store can be in (a link to nothing, a directory) is
 * one line naming dataDir, where it came from and the fix, exit 78. One this user may not open (another user's: `status` run as oneself
 * on the relay's store) is one line naming dataDir, where it came from and the fix, exit 66; one on a
 * read-only or failing filesystem, the disk's line (diskFailure).
 */
function storeExists(file: string, config: Config): boolean {
  const unusable = unusableStorePath(file);
  if (unusable) {
    console.error(`smsrelay: config: ${describeSetting(unusable.setting)}: ${unusable.message}`);
    process.exit(EXIT_CONFIG);
  }
  try {
    if (!statSync(file, { throwIfNoEntry: false })) return false;
    // The commands open it as the relay does, to read and write (SQLite's WAL needs both).
    tryWriting(file);
    return true;
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code !== 'EACCES' && code !== 'EPERM') {
      // A read-only or failing filesystem refuses the check before SQLite would.
      const disk = diskFailure(error, config);
      if (disk === undefined) throw error;
      console.error(disk.line);
      process.exit(disk.exitCode);
    }
    console.error(
      `smsrelay: ${describeSetting('dataDir')}: this user may not open the store ${file} (${code}, permission denied): run the command as the user the relay runs as, or give this user access`,
    );
    process.exit(EXIT_NO_DATA);
  }
}

/**
 * A command run where there is no store: where it looked and how to point it at the relay's data; or,
 * where a relay still runs (its pid file) or saved a copy of a store deleted under it, that.
 */
function noRelayData(config: Config): string {
  const { dataDir } = config;
  const pid = runningRelay(dataDir);
  const copy = recoveredCopyFiles(join(dataDir, STORE_FILE)).at(-1)?.file;
  const saved = copy
    ? `everything it had accepted is saved in ${copy}: stop the relay, put that file back as ${STORE_FILE}, start it`
    : 'see its "store: lost" log line';
  if (pid !== undefined)
    return `smsrelay: no store in ${dataDir}, but a relay runs on it (pid ${pid}): its store was deleted under it, and it refuses mail and webhooks; ${saved}`;
  if (copy)
    return `smsrelay: no store in ${dataDir}, but a copy a relay saved when it was deleted under it: ${copy}; put that file back as ${STORE_FILE} to restore it`;
  return `smsrelay: no relay data in ${dataDir}; set SMSRELAY_DATA_DIR to the relay's data directory (or run smsrelay where its smsrelay.yaml is)`;
}

/**
 * What start and the commands refuse or warn of on the SQLite store `file`, before anything opens it: a WAL beside it
 * written against another file (foreignWal), which SQLite would apply at the first open, the copy check's among them;
 * or a lost store's copy beside it (recoveredCopyCheck). Where the store file is gone, the copy's refusal speaks first:
 * its restore removes that WAL.
 */
function storeFileCheck(file: string): CopyCheck | undefined {
  const foreign = foreignWal(storeFiles(file));
  if (!foreign) return recoveredCopyCheck(file, Date.now());
  if (existsSync(file)) return { refusal: foreign };
  return recoveredCopyCheck(file, Date.now()) ?? { refusal: foreign };
}

/** A store file start refuses (a lost store's copy beside it, recoveredCopyCheck; a WAL of another file): its line, exit 78, as start. */
function refuseStoreFile(refusal: StoreFileError): never {
  console.error(`smsrelay: config: ${describeSetting(refusal.setting)}: ${refusal.message}`);
  process.exit(EXIT_CONFIG);
}

/** `config check`'s store line after the configuration it printed: what start refuses beside a lost store's copy, exit 78. */
function copyRefusalLine(refusal: StoreFileError): string {
  process.exitCode = EXIT_CONFIG;
  return `store: start refuses: ${describeSetting(refusal.setting)}: ${refusal.message}`;
}

/** A listing's words about itself (empty, cut short): on stderr, so that its stdout holds JSON lines only, for a pipe into jq. */
function noteOnStderr(line: string): void {
  console.error(`smsrelay: ${line}`);
}

/** A command's output on stdout, when it has any, the characters a terminal acts on named as the log names them (`U+202E`). */
function printOutput(output: string): void {
  if (output) console.log(withUnseenCharactersNamed(output));
}

/**
 * The SQLite store for a command, never upgraded (only `start` upgrades: the relay of the release that
 * wrote it may run on it); one that cannot be used as it is (damaged, newer, older) is one line naming dataDir, exit 78.
 * `takesOlder`: an older one is thrown as its OlderSchemaError instead, for the command to say.
 */
function openOrExit(file: string, config: Config, takesOlder = false): SqliteStore {
  try {
    return SqliteStore.open({ file, busyTimeoutMs: config.store.busyTimeout, upgrade: false });
  } catch (error) {
    if (!(error instanceof StoreFileError)) throw error;
    if (takesOlder && error.cause instanceof OlderSchemaError) throw error.cause;
    console.error(`smsrelay: config: ${describeSetting(error.setting)}: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
}

/** `withStore` on PostgreSQL: an empty, unreachable or refusing database is said in one line, exit 66, 69 or 78. */
async function withPostgres(config: Config, warnings: readonly string[], command: StoreCommand, onOlder: OlderStoreCommand | undefined): Promise<void> {
  const [{ PostgresStore, StoreConfigError }, { NoStoreError }] = await Promise.all([
    import('./store/postgres/store.ts'),
    import('./store/postgres/migrate.ts'),
  ]);
  let store: Awaited<ReturnType<typeof PostgresStore.open>>;
  try {
    store = await PostgresStore.open({ url: config.store.url ?? '', create: false });
  } catch (error) {
    if (error instanceof NoStoreError) {
      console.error(`smsrelay: ${describeSetting('store.url')}: ${error.message}`);
      process.exit(EXIT_NO_DATA);
    }
    if (!(error instanceof StoreConfigError)) throw error;
    if (onOlder && error.cause instanceof OlderSchemaError) return printOutput(await onOlder(error.cause.from, config, warnings));
    console.error(`smsrelay: config: ${describeSetting('store.url')}: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
  console.error(`smsrelay: store ${store.location}`);
  try {
    printOutput(await command(store, config, warnings));
  } catch (error) {
    if (error instanceof UsageError) usage(error.message);
    else if (isStoreFailure(error)) {
      console.error(`smsrelay: ${error.message}`);
      process.exitCode = EXIT_UNAVAILABLE;
    } else throw error;
  } finally {
    await store.close();
  }
}

/**
 * `smsrelay backup [--force] <file|directory>`: SQLite's online copy, never onto the live store itself,
 * nor over an existing file unless asked; into a directory under a dated name.
 */
async function backup(words: readonly string[], force: boolean): Promise<void> {
  const [named] = words;
  if (!named) return usage('backup needs the file to write the copy to (or a directory)');
  // A name ending in "/" is a directory, there or not (one that is not is said as such, not as a file that cannot be opened).
  const target = isDirectory(named) || named.endsWith('/') ? join(named, `smsrelay-backup-${new Date().toISOString().replace(/[:.]/g, '-')}.db`) : named;
  const { config } = configOrExit();
  if (config.store.url) {
    console.error(`smsrelay: ${POSTGRES_BACKUP}`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  const resolved = backupTarget(target);
  if ('refused' in resolved) {
    console.error(`smsrelay: backup ${target}: ${resolved.refused}, not a file a copy can replace; name a regular file, or a directory to write into`);
    process.exitCode = EXIT_CANNOT_CREATE;
    return;
  }
  const { file } = resolved;
  const shown = file === target ? target : `${target} (a symbolic link to ${file})`;
  // The copy would overwrite the store (or its WAL) while the relay writes it: the backup API's destination is truncated first.
  const live = join(config.dataDir, STORE_FILE);
  const [copy, store] = [resolve(file), resolve(live)];
  if (storeFiles(store).includes(copy) || (existsSync(copy) && existsSync(store) && sameFile(copy, store))) {
    return usage(`backup ${shown}: that is the live store itself; name a file outside it, e.g. ${join(dirname(store), 'smsrelay-backup.db')}`);
  }
  if (!force && existsSync(file)) {
    console.error(`smsrelay: backup ${shown}: the file exists; name another file or a directory, or add --force to overwrite it`);
    process.exitCode = EXIT_CANNOT_CREATE;
    return;
  }
  if (!storeExists(live, config)) {
    console.error(noRelayData(config));
    process.exitCode = EXIT_NO_DATA;
    return;
  }
  console.error(`smsrelay: data directory ${config.dataDir}`);
  // As the other commands (withStore): where no relay has the store open, the WAL and -shm its open makes are not left behind.
  const relayAlongside = existsSync(storeFiles(live)[1]);
  try {
    // As it is, whatever its schema: the copy taken before an upgrade is what the older release restores.
    await SqliteStore.backupAsItIs(live, config.store.busyTimeout, file);
  } catch (error) {
    if (error instanceof BackupTargetError) {
      console.error(`smsrelay: ${error.message}`);
      process.exitCode = BACKUP_TARGET_EXITS[error.failure];
      return;
    }
    if (!(error instanceof StoreFileError)) return diskFailureOrThrow(error, config);
    console.error(`smsrelay: config: ${describeSetting(error.setting)}: ${error.message}`);
    process.exitCode = EXIT_CONFIG;
    return;
  } finally {
    if (!relayAlongside) removeEmptyWal(live, config.dataDir);
  }
  console.log(`store copied to ${file}`);
}

/** A backup's target that cannot take the copy, by what helps: as the store's own disk (75, 74), or name another file (73). */
const BACKUP_TARGET_EXITS: Readonly<Record<BackupTargetFailure, number>> = { full: EXIT_TEMPORARY, refused: EXIT_IO, uncreatable: EXIT_CANNOT_CREATE };

function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    // Under a file (ENOTDIR) or where this user may not look: not a directory to write into, as the copy will say.
    return false;
  }
}

/**
 * The file a backup's copy replaces: `target`, or the file its symbolic links lead to. The copy is written beside
 * the file it replaces and renamed onto it, and renamed onto a link it would replace the link, not its file (and
 * written beside /dev/stdout, a link, it would be a file in /dev). Refused, as what it is: a target that is no
 * regular file, there or where its links lead (the copy would take the place of a device, such as /dev/null or
 * /dev/full as root, a FIFO, a socket; --force was never asked for that), and a link that leads to no file (to
 * nothing, in a loop, or a pipe's /proc/self/fd entry), which would be replaced. A path that cannot be looked at is
 * the copy's to say.
 */
function backupTarget(target: string): { readonly file: string } | { readonly refused: string } {
  let stats: Stats | undefined;
  try {
    stats = lstatSync(target, { throwIfNoEntry: false });
  } catch {
    return { file: target };
  }
  if (!stats?.isSymbolicLink()) {
    const kind = stats && fileKind(stats);
    return kind ? { refused: kind } : { file: target };
  }
  const to = readlinkSync(target);
  try {
    stats = statSync(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { refused: `a symbolic link to ${to}, which does not exist` };
    return { refused: code === 'ELOOP' ? `a symbolic link in a loop (to ${to})` : `a symbolic link to ${to}, which cannot be followed (${code})` };
  }
  const kind = fileKind(stats);
  let real: string;
  try {
    real = realpathSync.native(target);
  } catch (error) {
    // A link the kernel follows to what has no path (a pipe's, or a deleted file's, /proc/self/fd entry).
    return { refused: `a symbolic link to ${to}, ${kind ?? `which has no path (${(error as NodeJS.ErrnoException).code})`}` };
  }
  return kind ? { refused: `a symbolic link to ${real}, ${kind}` } : { file: real };
}

/** What a file that is no regular one is, to say why a backup will not replace it; undefined for a regular file. */
function fileKind(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  return stats.isCharacterDevice()
    ? 'a character device'
    : stats.isBlockDevice()
      ? 'a block device'
      : stats.isFIFO()
        ? 'a FIFO (named pipe)'
        : stats.isSocket()
          ? 'a socket'
          : stats.isDirectory()
            ? 'a directory'
            : 'no regular file';
}

/** Two paths naming one file (a link, another spelling of the path). */
function sameFile(a: string, b: string): boolean {
  const [first, second] = [statSync(a), statSync(b)];
  return first.dev === second.dev && first.ino === second.ino;
}

/** `smsrelay backup` has no PostgreSQL copy of its own: the database's tools do it better (consistent, online, restorable). */
const POSTGRES_BACKUP =
  "backup copies the SQLite store; on PostgreSQL use pg_dump, e.g. pg_dump --format=custom --file=smsrelay.dump 'postgres://…' (pg_restore brings it back), or the server's own backups";

/** `smsrelay store copy --from <sqlite file> --to <postgres url>`, with a progress bar on stderr. */
async function storeCommand(from: string | undefined, to: string | undefined): Promise<void> {
  if (!from || !to) return usage('store needs "copy --from <sqlite file> --to <postgres url>"');
  const [{ copySqliteToPostgres, CopyError, SourceError }, { databaseUrlProblem, redactUrl }, { StoreConfigError }, { TABLES }] = await Promise.all([
    import('./store/postgres/copy.ts'),
    import('./store/postgres/url.ts'),
    import('./store/postgres/store.ts'),
    import('./store/postgres/migrate.ts'),
  ]);
  const problem = databaseUrlProblem(to);
  if (problem) return usage(`--to ${redactUrl(to)}: ${problem}`);
  if (!existsSync(from)) {
    console.error(`smsrelay: store copy: --from ${from}: no such file; name the smsrelay.db in the relay's data directory`);
    process.exitCode = EXIT_NO_DATA;
    return;
  }
  // What a running relay commits during the copy would be missing from it.
  const relay = runningRelay(dirname(from));
  if (relay !== undefined) {
    console.error(`smsrelay: store copy: a relay (pid ${relay}) is running on ${from}: stop it first, then copy`);
    process.exitCode = EXIT_UNAVAILABLE;
    return;
  }
  // Read with another file's WAL applied, the copy would be of neither. Refused in the line every command refuses it with,
  // the setting that named the file being --from here, not dataDir.
  const foreign = foreignWal(storeFiles(from));
  if (foreign) {
    console.error(`smsrelay: config: --from ${from}: ${foreign.message}`);
    process.exitCode = EXIT_CONFIG;
    return;
  }
  const started = Date.now();
  const nameWidth = Math.max(...TABLES.map((table) => table.length));
  /** A progress bar is drawn and not finished: an error starts on a line of its own. */
  let midLine = false;
  try {
    const tables = await copySqliteToPostgres(from, to, ({ table, copied, total }) => {
      const width = 30;
      const filled = total === 0 ? width : Math.round((copied / total) * width);
      midLine = copied !== total;
      process.stderr.write(`\r${table.padEnd(nameWidth)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${copied}/${total}${midLine ? '' : '\n'}`);
    });
    const rows = tables.map((table) => `${table.table.padEnd(nameWidth)} ${String(table.rows).padStart(9)} rows  sha256 ${table.checksum}`);
    console.log(
      `${rows.join('\n')}\ncopied ${redactUrl(from)} to ${redactUrl(to)} in ${((Date.now() - started) / 1000).toFixed(1)} s; every table's count and checksum verified`,
    );
  } catch (error) {
    if (!(error instanceof CopyError || error instanceof SourceError || error instanceof StoreConfigError || (error as { code?: string }).code !== undefined)) {
      throw error;
    }
    const ofSource = error instanceof SourceError || error instanceof CopyError || /^SQLITE_/.test((error as { code?: string }).code ?? '');
    console.error(`${midLine ? '\n' : ''}smsrelay: store copy: ${ofSource ? '' : `--to ${redactUrl(to)}: `}${(error as Error).message}`);
    process.exitCode =
      error instanceof CopyError
        ? EXIT_CANNOT_CREATE
        : error instanceof SourceError
          ? error.notAStore
            ? EXIT_NO_DATA
            : EXIT_DATA
          : error instanceof StoreConfigError
            ? EXIT_CONFIG
            : EXIT_UNAVAILABLE;
  }
}

/**
 * The configuration, or its problems and exit 78. A dataDir that is a file, or under one, is one too, said
 * as `start` says it (every command looked for the store in it and failed on the path, exit 1); one this user
 * may not look into is left to the store's own check, which says so (exit 66).
 */
function configOrExit(): LoadedConfig {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`smsrelay: config: ${problem}`);
    process.exit(EXIT_CONFIG);
  }
  try {
    missingDataDirs(loaded.config.dataDir);
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (!(error instanceof DataDirError)) throw error;
    if (code !== 'EACCES' && code !== 'EPERM') {
      console.error(`smsrelay: config: ${describeSetting(error.setting)}: ${error.message}`);
      process.exit(dataDirExit(error));
    }
  }
  return loaded;
}

/** A data directory's failure by what helps: free space (75), fix its disk (74), another directory (78). */
function dataDirExit(error: DataDirError): number {
  return error.temporary ? EXIT_TEMPORARY : error.diskRefuses ? EXIT_IO : EXIT_CONFIG;
}

/** `smsrelay preview`: the acceptance service's text stage on a mail from stdin; the thread is looked up when the store is there. */
async function preview(from: string | undefined, to: string | undefined): Promise<void> {
  const { config } = configOrExit();
  const file = join(config.dataDir, STORE_FILE);
  const store: Store | undefined = config.store.url
    ? await (await import('./store/postgres/store.ts')).PostgresStore.open({ url: config.store.url, create: false }).catch(() => undefined)
    : storeExists(file, config)
      ? openOrExit(file, config)
      : undefined;
  console.error(
    config.store.url
      ? `smsrelay: store on PostgreSQL${store ? '' : ' not reachable or empty: the thread lookup is skipped'}`
      : store
        ? `smsrelay: data directory ${config.dataDir}`
        : `smsrelay: no relay data in ${config.dataDir}: the thread lookup is skipped`,
  );
  try {
    const raw = await buffer(process.stdin);
    const [{ previewMail }, { attachmentsNote }, { acceptanceLimits }, { composeRegistry }] = await Promise.all([
      import('./acceptance/preview.ts'),
      import('./acceptance/new-mail.ts'),
      import('./relay.ts'),
      import('./providers/registry.ts'),
    ]);
    const registry = composeRegistry();
    const shown = await previewMail(raw, {
      text: config.text,
      maxParts: config.sms.maxParts,
      ...acceptanceLimits(config, registry),
      envelopeFrom: from,
      hostname: config.smtp.hostname,
      to,
      recipients: { ...config.sms, relaySender: config.mail.from, accountIdAddresses: readsAccountIdAddresses(config, registry) },
      store,
    });
    console.log(formatPreview(shown, attachmentsNote));
    if (shown.refused) process.exitCode = 65;
  } catch (error) {
    if (!(error instanceof RelayError)) throw error;
    // The recipient refused: as the relay's reply to its RCPT says it.
    console.error(`smsrelay: preview: ${toSmtpError(error).responseCode} ${toSmtpError(error).message}`);
    process.exitCode = 65;
  } finally {
    await store?.close();
  }
}

/** One line per fact, the removed blocks below: for an operator answering "why did my SMS say that?". */
function formatPreview({ request, sms, notes, refused, notGsm7, store }: Preview, attachmentsNote: (names: readonly string[]) => string | undefined): string {
  const thread = !store
    ? 'skipped (no store here, or no --to number)'
    : request?.thread === 'cut'
      ? "the relay's reply mail was found and cut"
      : request?.thread === 'skipped'
        ? 'not a reply to the relay'
        : 'looked up, no quoted copy found';
  const lines = [
    refused ? `refused:    ${toSmtpError(refused).responseCode} ${toSmtpError(refused).message}` : `text:       ${JSON.stringify(sms?.text ?? '')}`,
    ...(sms
      ? [
          `encoding:   ${sms.encoding}, ${sms.parts} part${sms.parts === 1 ? '' : 's'}${sms.cutFrom ? ` (cut from ${sms.cutFrom})` : ''}${notGsm7.length > 0 ? `; not in GSM-7: ${notGsm7.join(', ')}` : ''}`,
        ]
      : []),
    `parameters: userContext=${request?.userContext ?? '-'} senderId=${request?.senderId ?? '-'} maxParts=${request?.maxParts ?? '-'}${request?.forward ? ' (a forward: its body is the text)' : ''}`,
    ...notes.map((note) => `note:       ${note}`),
    `thread:     ${thread}`,
    ...(request?.attachments.length ? [`attachments: ${attachmentsNote(request.attachments)}`] : []),
    'removed:',
    ...(request?.removed.length
      ? request.removed.map((block) => `  - ${block.reason} (${block.lines} line${block.lines === 1 ? '' : 's'}): ${JSON.stringify(block.first)}`)
      : ['  (nothing)']),
  ];
  return lines.join('\n');
}

/** One JSON line per SMS, for an operator to forward by hand or feed to a script (none: said on stderr). */
async function listUndeliverable(args: readonly string[]): Promise<void> {
  if (args[0] === 'reroute' && args.length > 3) return usage(`undeliverable reroute: unexpected argument "${args.slice(3).join(' ')}"`);
  if (args[0] === 'reroute') {
    const wrong = usageErrorOf(() => checkRerouteArgs(args[1] ?? '', args[2] ?? ''));
    if (wrong) return usage(wrong);
    return withStore(async (store, config) => {
      // The relay's wiring and the providers' limits load only for this command.
      const [{ replyNotesOf }, { composeRegistry }] = await Promise.all([import('./relay.ts'), import('./providers/registry.ts')]);
      return rerouteUndeliverable(store, config, replyNotesOf(config, composeRegistry()), args[1] ?? '', args[2] ?? '');
    });
  }
  if (args.length > 0) return usage(`unknown undeliverable command "${args.join(' ')}": use "undeliverable" or "undeliverable reroute <id> <mailbox>"`);
  return withStore(async (store) => {
    const lines: string[] = [];
    for (let page = await store.undeliverableInbound(UNDELIVERABLE_PAGE); page.length > 0; ) {
      for (const sms of page) lines.push(JSON.stringify({ ...sms, receivedAt: new Date(sms.receivedAt).toISOString() }));
      const last = page.at(-1);
      page =
        last && page.length === UNDELIVERABLE_PAGE ? await store.undeliverableInbound(UNDELIVERABLE_PAGE, { receivedAt: last.receivedAt, id: last.id }) : [];
    }
    if (lines.length === 0) noteOnStderr('undeliverable: no undeliverable SMS');
    return lines.join('\n');
  });
}

/** The password comes on stdin (never as an argument: it would sit in the shell history and `ps`). */
async function printPasswordHash(): Promise<void> {
  const input = process.stdin.isTTY ? await unechoedLine('Password (then Enter; it is not shown): ') : await text(process.stdin);
  const password = input.replace(/\r?\n$/, '');
  if (password.length < MIN_PASSWORD_LENGTH) {
    console.error(`smsrelay: a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
    process.exitCode = 65;
    return;
  }
  const { hashPassword } = await import('./policy/passwords.ts');
  console.log(await hashPassword(password));
}

/**
 * A line typed on the terminal after `prompt`, not shown: readline as a terminal puts it in raw mode
 * (the terminal echoes nothing) and echoes itself, to an output that keeps nothing; the prompt comes
 * once raw mode is on, so that nothing typed after it is echoed. The Enter is the newline shown.
 */
function unechoedLine(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
    const lines = createInterface({ input: process.stdin, output: muted, terminal: true });
    process.stderr.write(prompt);
    lines.once('line', (line) => {
      lines.close();
      process.stderr.write('\n');
      resolve(line);
    });
  });
}

/**
 * V8 lets the old generation grow to up to four times what survived the last full collection before it
 * collects again: the relay's ~41 MB of live heap rose to ~135 MB between collections under load, most
 * of the resident memory's saw (bench/README.md, Soak). 1.5 times keeps the saw at ~20-30 MB for a few
 * more full collections (3 → 8 per 30,000 mails, ~13 ms of main-thread pause each; no loss of
 * throughput measured). A growth factor, not a limit: a burst that needs more heap still gets it.
 */
const HEAP_GROWING_PERCENT = 50;

/**
 * Sets the heap's growth factor for both of the relay's threads (V8's flags are the process's, and
 * read at each full collection), unless the operator gave Node one; returns the percent in force.
 */
function boundHeapGrowth(): number {
  // Not allowed in NODE_OPTIONS: only on Node's command line.
  const own = process.execArgv.find((arg) => /^--heap[-_]growing[-_]percent=/.test(arg));
  if (own) return Number(own.slice(own.indexOf('=') + 1));
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}

async function start(): Promise<void> {
  // The signals are the relay's from here (those held since the process began come first): a stop asked for while
  // starting unwinds what has started at its next step (startRelay's `stopAsked`), a SIGHUP waits until it is started.
  const stopAsked = new AbortController();
  let stopSignal: StartSignal | undefined;
  let stopAskedAt = 0;
  let reloadAsked = false;
  let running: { readonly relay: Relay; readonly config: Config; readonly logger: Logger } | undefined;
  /** What an exit cutting the stop short says and undoes, once the logger is there (earlier, there is neither a line nor a lock). */
  let cutShort: ((signal: StartSignal) => void) | undefined;
  takeOverSignals((signal) => {
    if (signal === 'SIGHUP') {
      if (running) reload(running);
      else reloadAsked = true;
      return;
    }
    if (stopSignal) {
      if (performance.now() - stopAskedAt < SECOND_SIGNAL_MIN_GAP_MS) return;
      cutShort?.(signal);
      process.exit(EXIT_INTERRUPTED);
    }
    stopSignal = signal;
    stopAskedAt = performance.now();
    if (running) stop(running, signal);
    else stopAsked.abort(new RelayError('SHUTTING_DOWN', `${signal} while starting`));
  });
  const heapGrowingPercent = boundHeapGrowth();
  const { config, warnings } = configOrExit();
  // The relay's modules load only to run it: the operator's commands start in a fraction of the time.
  const [{ createLogger }, { startRelay }] = await Promise.all([import('./log.ts'), import('./relay.ts')]);
  const logger = createLogger(config.log.level);
  // A second SIGTERM or SIGINT while stopping (docs/operations.md, Stopping) exits at once: its line says so and what it
  // leaves (pino's exit hook writes it out). The lock file stays: the process lives on until its log is written and its
  // store's thread ends its call, and a second relay must not start on the directory meanwhile; the next start takes
  // it over as a gone relay's.
  cutShort = (signal) => {
    const inFlight = running?.relay.inFlight();
    const held = inFlight !== undefined && inFlight.sms + inFlight.mail > 0;
    logger.warn(
      { signal, ...inFlight, exitCode: EXIT_INTERRUPTED },
      held
        ? 'relay: stop cut short by a second signal, exiting now: the work in flight keeps its lease, and the next start takes it up again (an SMS among it may reach the gateway twice)'
        : 'relay: stop cut short by a second signal, exiting now: no SMS or mail was in flight (a mail whose DATA was cut off was not answered 250: its client sends it again)',
    );
  };
  for (const warning of warnings) logger.warn(`config: ${warning}`);
  // glibc reads MALLOC_ARENA_MAX once, when the process starts: only whoever starts the relay can set it.
  const mallocArenaMax = process.env.MALLOC_ARENA_MAX;
  if (mallocArenaMax === undefined)
    logger.warn(
      { heapGrowingPercent },
      'memory: MALLOC_ARENA_MAX is not set: glibc may keep a malloc arena per thread; start the relay with MALLOC_ARENA_MAX=2 as npm start does (docs/operations.md, Memory)',
    );
  else logger.info({ heapGrowingPercent, mallocArenaMax }, 'memory: heap growth and malloc arenas bounded');
  const stoppingWhileStarting = (signal: StartSignal) =>
    logger.info({ signal }, 'relay: stopping while starting: what has started stops once the step under way ends');
  // A stop asked for before there was a log to say so.
  if (stopSignal) stoppingWhileStarting(stopSignal);
  stopAsked.signal.addEventListener('abort', () => stopSignal && stoppingWhileStarting(stopSignal));
  const [{ StoreConfigError }, { ClusterError }] = await Promise.all([import('./store/postgres/store.ts'), import('./store/cluster-types.ts')]);
  /** A start refused: one line and the exit that says what helps; anything else is thrown on. */
  const refuse = (error: unknown): never => {
    // A port taken or not allowed, a database that refuses us, a relay of this name or a Maildir among several:
    // only the configuration (or stopping the other program) helps.
    const setting =
      error instanceof ListenError || error instanceof DataDirError || error instanceof StoreFileError
        ? error.setting
        : error instanceof StoreConfigError
          ? 'store.url'
          : error instanceof ClusterError
            ? error.setting
            : undefined;
    if (setting === undefined) {
      // A full or failing disk met after the lock (the migrations, the first commit, the WAL growing): as the commands say it.
      const disk = diskFailure(error, config);
      if (disk === undefined) throw error;
      logger.flush();
      console.error(disk.line);
      process.exit(disk.exitCode);
    }
    logger.flush();
    console.error(`smsrelay: config: ${describeSetting(setting)}: ${(error as Error).message}`);
    process.exit(error instanceof DataDirError ? dataDirExit(error) : EXIT_CONFIG);
  };
  // PostgreSQL unreachable at start, then answering with a refusal: the relay listening (or still starting) stops, then refuses as a start that met it.
  let refusedLate: Error | undefined;
  const onRefused = (refusal: Error) => {
    // A stop asked for first (SIGTERM, SIGINT) runs as asked, with its exit: the refusal only ends a relay nobody stops.
    if (stopSignal) return;
    refusedLate = refusal;
    const started = running;
    if (!started) return stopAsked.abort(refusal);
    // No longer the running relay: a signal from now on stops nothing twice.
    running = undefined;
    started.relay.stop().then(
      () => refuse(refusal),
      (error: unknown) => {
        logger.error({ err: error }, 'relay: error while stopping');
        refuse(refusal);
      },
    );
  };
  // A store made anew (or run on) beside a lost store's copy would leave what the copy holds unsent, unseen; one opened with another file's WAL, damaged.
  if (!config.store.url) {
    const beside = storeFileCheck(join(config.dataDir, STORE_FILE));
    if (beside && 'refusal' in beside) refuse(beside.refusal);
    if (beside && 'warning' in beside) logger.warn(beside.warning);
  }
  const relay = await startRelay(config, logger, { stopAsked: stopAsked.signal, onRefused }).catch((error: unknown) => {
    if (stopAsked.signal.aborted && error === stopAsked.signal.reason && error !== refusedLate) return undefined;
    return refuse(error);
  });
  if (!relay) {
    // Everything that had started is stopped and the lock released: the exit is a stop's (0).
    logger.info({ signal: stopSignal }, 'relay: stopped while starting');
    logger.flush();
    return;
  }
  // A stop asked for until here is startRelay's (its last look follows its last step): from now on, the running relay's.
  running = { relay, config, logger };
  if (reloadAsked) {
    logger.info('relay: a SIGHUP came while starting: applied now that the relay is started');
    reload(running);
  }
}

/** SIGTERM or SIGINT to a started relay (docs/operations.md, Stopping). */
function stop({ relay, logger }: { readonly relay: Relay; readonly logger: Logger }, signal: StartSignal): void {
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
}

/** SIGHUP: the operator renewed the certificate (new connections use it, open ones keep theirs) or edited the settings. */
function reload({ relay, config, logger }: { readonly relay: Relay; readonly config: Config; readonly logger: Logger }): void {
  try {
    relay.reloadTls();
  } catch (error) {
    logger.error({ err: error }, 'relay: TLS reload failed; the previous key and certificate stay in use');
  }
  reviewSettings(config, logger);
}

/**
 * A SIGHUP applies only the TLS files, but an operator who edited the settings and ran `systemctl reload`
 * expects them read: they are, as at start (the file and this process's environment), and the log says
 * whether they are invalid or which changed, to take effect at the next start, with what start warns of in them.
 */
function reviewSettings(running: Config, logger: Pick<Logger, 'info' | 'warn' | 'error'>): void {
  let edited: LoadedConfig;
  try {
    edited = loadConfig();
  } catch (error) {
    const reason = error instanceof ConfigError ? error.problems.join('; ') : String(error);
    logger.error(`config: SIGHUP: the settings are invalid (${reason}); the relay keeps running on the settings it started with`);
    return;
  }
  // What start would warn of (a wrong file value a variable overrides, another provider's key, an old name): the
  // reload is the check the operator runs after an edit, and such a value runs the day the variable goes. Less the
  // certificate's expiry where the TLS reload just read that file and said it: one line for one fact.
  const sameCertificateFile = edited.config.smtp.tls?.cert === running.smtp.tls?.cert;
  const warnings = edited.warnings.filter((warning) => !(sameCertificateFile && warning === edited.certificateWarning));
  for (const warning of warnings) logger.warn(`config: SIGHUP: ${warning}`);
  const changed = changedSettings(running, edited.config);
  if (changed.length === 0) {
    logger.info(`config: SIGHUP: the settings are as the relay started with them${warnings.length > 0 ? ', with the warnings above' : ''}`);
  } else {
    logger.warn(
      { changed },
      `config: SIGHUP: ${changed.join(', ')} changed; only a restart applies them (the relay keeps running on the settings it started with)`,
    );
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`smsrelay: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

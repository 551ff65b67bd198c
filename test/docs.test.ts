/**
 * The docs that mirror the code are held to it: every setting in docs/configuration.md once, with its
 * variable and its default as the schema has them; every code of the error catalogue in
 * docs/smtp-replies.md with its SMTP reply, enhanced status, HTTP status and text. A setting added
 * without its row, or a default changed without its page, fails here, naming the row to write.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import ms from 'ms';
import { parse as parseYaml } from 'yaml';
import { environmentOf } from '../src/config/load.ts';
import { configSchema } from '../src/config/schema.ts';
import { RELAY_ERRORS } from '../src/errors.ts';
import { failedMigration, MIGRATIONS, migratedLine, untraceableSchema, upgradeAhead } from '../src/store/migrations.ts';
import { ADDITIVE_MIGRATIONS } from '../src/store/schema-readers.ts';
import { GENERIC_OUTCOME_RULES } from '../src/dispatch/outcomes.ts';
import { Metrics } from '../src/metrics.ts';
import { composeRegistry } from '../src/providers/registry.ts';
import type { NewOutgoingMail, SmsOutcome, Store } from '../src/store/types.ts';
import type { DeliveryState } from '../src/vocabulary.ts';

const docs = (name: string) => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');

/** The rows of the Markdown table under `## <heading>`, each as its cells. */
function tableRows(markdown: string, heading: string): string[][] {
  const section = markdown.split(/^## /m).find((part) => part.startsWith(`${heading}\n`));
  assert.ok(section, `a "## ${heading}" section`);
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| ---'))
    .slice(1)
    .map((line) => line.slice(2, -2).split(' | '));
}

const code = (cell: string | undefined) => /^`(.*)`$/.exec(cell ?? '')?.[1];

interface Field {
  readonly _zod: { readonly def: { readonly type: string; readonly innerType?: Field } };
  readonly shape?: Readonly<Record<string, Field>>;
  safeParse(value: unknown): { success: boolean; data?: unknown };
}

/** Settings that are one value each though written as objects. */
const WHOLE_OBJECTS = new Set(['smtp.tls', 'mail.dkim']);

/** Every setting of a schema shape, by dotted key, with its default (undefined = none). */
function settingsOf(shape: Readonly<Record<string, Field>>, prefix = ''): Map<string, unknown> {
  const settings = new Map<string, unknown>();
  for (const [name, field] of Object.entries(shape)) {
    const key = `${prefix}${name}`;
    let inner = field;
    while (inner._zod.def.innerType && ['prefault', 'default', 'optional'].includes(inner._zod.def.type)) inner = inner._zod.def.innerType;
    if (inner._zod.def.type === 'object' && inner.shape && !WHOLE_OBJECTS.has(key)) {
      for (const [nested, value] of settingsOf(inner.shape, `${key}.`)) settings.set(nested, value);
    } else {
      const parsed = field.safeParse(undefined);
      settings.set(key, parsed.success ? parsed.data : undefined);
    }
  }
  return settings;
}

const ABSENT = new Set(['none', 'off', 'keep', 'any']);

/** Whether the documented default cell says what the schema does; durations compare as milliseconds. */
function defaultMatches(cell: string, actual: unknown): boolean {
  const written = code(cell);
  const empty =
    actual === undefined ||
    (Array.isArray(actual) && actual.length === 0) ||
    (typeof actual === 'object' && actual !== null && Object.keys(actual).length === 0);
  // Prose, or a value with a <placeholder>: computed at start-up, so the schema has none.
  if (written === undefined || written.includes('<')) return ABSENT.has(cell) || cell.startsWith('none') ? empty : actual === undefined;
  const value: unknown = parseYaml(written);
  if (typeof actual === 'number' && typeof value === 'string') return ms(value as ms.StringValue) === actual;
  return JSON.stringify(value) === JSON.stringify(actual);
}

function checkTable(rows: readonly string[][], settings: ReadonlyMap<string, unknown>, variables: ReadonlyMap<string, string>, where: string): void {
  const documented = rows.map(([key]) => code(key) ?? '');
  assert.deepEqual([...new Set(documented)].length, documented.length, `${where}: a setting listed twice`);
  const missing = [...settings.keys()].filter((key) => !documented.includes(key));
  assert.deepEqual(missing, [], `${where}: settings without a row (add "| \`key\` | variable | default | meaning |")`);
  const unknown = documented.filter((key) => !settings.has(key));
  assert.deepEqual(unknown, [], `${where}: rows for settings the schema does not have`);
  for (const [key, variable = '', written = ''] of rows) {
    const name = code(key) ?? '';
    assert.equal(variable, variables.has(name) ? `\`${variables.get(name)}\`` : '—', `${where}: ${name}'s variable`);
    assert.ok(defaultMatches(written, settings.get(name)), `${where}: ${name}'s default is ${JSON.stringify(settings.get(name))}, the page says ${written}`);
  }
}

test('docs/configuration.md lists every setting once, with its variable and its default', () => {
  const registry = composeRegistry();
  const variables = new Map(Object.entries(environmentOf(registry)).map(([name, target]) => [target.path.join('.'), name]));
  const page = docs('configuration.md');
  checkTable(tableRows(page, 'Settings'), settingsOf(configSchema.shape as unknown as Record<string, Field>), variables, 'Settings');

  const providerRows = tableRows(page, 'Provider settings');
  for (const plugin of registry.plugins) {
    const own = providerRows.filter(([provider]) => provider === plugin.name).map((row) => row.slice(1));
    checkTable(own, settingsOf(plugin.settings.schema.shape as unknown as Record<string, Field>, 'gateway.'), variables, `Provider settings, ${plugin.name}`);
  }
  assert.deepEqual(
    [...new Set(providerRows.map(([provider]) => provider))].filter((provider) => !registry.names.includes(provider ?? '')),
    [],
    'rows for providers that are not registered',
  );
});

test('docs/smtp-replies.md lists every catalogue code with its replies and text', () => {
  const rows = tableRows(docs('smtp-replies.md'), 'The catalogue');
  const expected = Object.entries(RELAY_ERRORS).map(([name, spec]) => `\`${name}\` | \`${spec.smtp} ${spec.enhanced}\` | ${spec.http} | ${spec.text}`);
  assert.deepEqual(
    rows.map((cells) => cells.join(' | ')),
    expected,
    'the catalogue table, one row per code in src/errors.ts order',
  );
});

test("the docs' prose gives a setting's default as the schema has it", () => {
  const settings = settingsOf(configSchema.shape as unknown as Record<string, Field>);
  // "`gateway.maxConcurrentRequests` counts per relay: three relays with the default of 8": a setting, then its default, in one sentence.
  const stated = /`([a-z]+(?:\.[A-Za-z]+)+)`[^`\n.]*?\bdefault(?: of| is)? `?(\d+)`?/g;
  const wrong: string[] = [];
  let seen = 0;
  for (const name of readdirSync(new URL('../docs/', import.meta.url)).filter((file) => file.endsWith('.md'))) {
    for (const [, key = '', value] of docs(name).matchAll(stated)) {
      if (!settings.has(key)) continue;
      seen += 1;
      if (Number(value) !== settings.get(key)) wrong.push(`${name}: ${key} "the default of ${value}", the schema's is ${String(settings.get(key))}`);
    }
  }
  assert.ok(seen > 0, 'the pattern finds the defaults the prose states');
  assert.deepEqual(wrong, []);
});

test("docs/operations.md#upgrading quotes the upgrade's lines as this release writes them, up to its latest schema", () => {
  const upgrading = docs('operations.md').replace(/\s+/g, ' ');
  const latest = MIGRATIONS.length;
  assert.ok(upgrading.includes(`\`${migratedLine({ from: 8, to: latest })}\``), `the start's line for an upgrade from schema 8 to ${latest}`);
  assert.ok(upgrading.includes(`\`${migratedLine({ from: latest - 1, to: latest })}\``), `the start's line for the one step to ${latest}`);
  assert.ok(upgrading.includes(`\`\`${upgradeAhead(8)}\`\``), `config check's line for a store of schema 8, to be upgraded to ${latest}`);
  const failed = failedMigration(14, 13, latest, new Error('…'));
  // The docs quote the line up to its fix, which they give in their own words.
  assert.ok(upgrading.includes(`${failed.slice(0, failed.indexOf(': '))}: …\``), `a failed migration's line, of 14–${latest}`);
  const untraceable = untraceableSchema(12, ['rate_events']) ?? '';
  assert.ok(upgrading.includes(`\`the store …: ${untraceable.slice(0, untraceable.indexOf(' (docs/'))}\``), 'the line for the schema 12 of development builds');
});

/**
 * The first schema docs/several-relays.md#rolling-upgrade gives a paragraph of its own, saying what an
 * older relay does meanwhile; 12 and 13, with which the rule came, are told in the section's text.
 */
const FIRST_SCHEMA_PARAGRAPH = 14;

test('docs/several-relays.md#rolling-upgrade says of every schema since 14 whether it is additive and what an older relay does meanwhile', () => {
  const section =
    docs('several-relays.md')
      .split(/^## /m)
      .find((part) => part.startsWith('Rolling upgrade\n')) ?? '';
  const paragraphs = section.split(/\n\n/).map((paragraph) => paragraph.replace(/\s+/g, ' '));
  const missing: string[] = [];
  for (let schema = FIRST_SCHEMA_PARAGRAPH; schema <= MIGRATIONS.length; schema++) {
    const kind = ADDITIVE_MIGRATIONS.has(schema) ? 'additive' : 'breaking';
    if (!paragraphs.some((paragraph) => paragraph.startsWith(`Schema ${schema} is ${kind}`))) missing.push(`a paragraph "Schema ${schema} is ${kind}…"`);
  }
  assert.deepEqual(missing, []);
});

test('docs/operations.md names every metric the relay serves, but the process metrics it names as a family', () => {
  const page = docs('operations.md');
  // Its metrics' names only: no store is read unless they are collected.
  const served = new Metrics({} as Store).registry.getMetricsAsArray().map((metric) => metric.name);
  assert.deepEqual(
    served.filter((name) => !/^smsrelay_(?:process|nodejs)_/.test(name) && !page.includes(`\`${name}`)),
    [],
  );
});

/** Every value a label of a fixed set can take: a type that gains one fails to compile here until it is added (and documented). */
const LABEL_VALUES = {
  smsrelay_sms_outcomes_total: Object.keys({ sent: 0, retry: 0, failed: 0, expired: 0 } satisfies Record<SmsOutcome['kind'], 0>),
  smsrelay_sms_delivery_total: Object.keys({ queued: 0, sent: 0, delivered: 0, failed: 0, expired: 0 } satisfies Record<DeliveryState, 0>),
  smsrelay_mails_sent_total: [
    ...Object.keys({ bounce: 0, notice: 0, reply: 0, postmaster: 0 } satisfies Record<NewOutgoingMail['kind'], 0>),
    'delivered',
    'deferred',
    'refused',
    'bounced',
    'returned',
  ],
  // A request's failure is classified by the provider's rules, then the generic ones; a rule only for a recipient's code never labels a request.
  smsrelay_gateway_request_seconds: [
    'answered',
    ...new Set(
      [...composeRegistry().plugins.flatMap((plugin) => plugin.outcomeRules ?? []), ...GENERIC_OUTCOME_RULES]
        .filter((rule) => !rule.match.source.startsWith('^recipient\\/'))
        .map((rule) => rule.category),
    ),
    // A request whose every number was refused for one reason: any rule a number's code may meet, other than a taking one.
    ...new Set(
      [...composeRegistry().plugins.flatMap((plugin) => plugin.outcomeRules ?? []), ...GENERIC_OUTCOME_RULES]
        .filter((rule) => rule.action !== 'sent' && (rule.match.source.includes('recipient') || !rule.match.source.startsWith('^')))
        .map((rule) => `refused-number:${rule.category}`),
    ),
  ],
};

test("docs/operations.md names every value the metrics' labels can take", () => {
  const page = docs('operations.md');
  for (const [metric, values] of Object.entries(LABEL_VALUES)) {
    const start = page.indexOf(`\`${metric}{`);
    assert.ok(start >= 0, `${metric} in docs/operations.md`);
    // The metric's own parenthesis: up to the next metric's name.
    const described = page.slice(start, page.indexOf('`smsrelay_', start + metric.length));
    for (const value of values) assert.ok(described.includes(`\`${value}\``), `docs/operations.md: ${metric} does not name \`${value}\``);
  }
});

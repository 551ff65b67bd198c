/**
 * Rolling upgrades (#18): which schema versions an older relay still reads. A migration is additive
 * when a relay that does not know it works on as before (a new table, a new nullable column, an
 * index); it is breaking when such a relay would misread or miswrite (a column renamed, dropped or
 * given a new meaning). The database keeps, beside its version, the lowest schema a relay must know to
 * use it (its "minimum reader"): a newer relay writes it when it migrates, an older one reads it at start.
 */
/** Migrations before this one predate the rule: a relay must know every one of them. */
export const FIRST_CLASSIFIED = 12;

/** Every migration from FIRST_CLASSIFIED on is in exactly one of these two (test/cluster/upgrade.test.ts holds to it). */
// 14 adds a table an older relay never reads: it combines parts' receipts in memory as before.
// 15 adds a function on PostgreSQL an older relay never calls.
// 16 adds nullable columns an older relay neither reads nor writes: its parts carry no phone time, its erasures no mark.
// 17 adds nullable columns an older relay neither reads nor writes: its parts carry no context, as before.
// 18 adds an index an older relay never asks for: its claims take ended leases in due order, as before.
// 19 adds an index an older relay never asks for: its claims take ended mail leases in due order, as before.
// 20 adds a nullable column an older relay never reads; its upsert leaves it as it was, the digests of the newer relay of its name before it, or none.
// 21 adds an index an older relay never asks for: its claims take SMS in due order, as before.
// 22 adds nullable columns an older relay neither reads nor writes: it joins its parts' decoded texts, as before.
// 23 adds a nullable column an older relay neither reads nor writes: a set it opens, or mails, goes to the latest conversation when mailed, as before.
// 24 adds nullable columns an older relay neither reads nor writes: its failures (no account) count against their address and leave the window as before; its successes forget all of the address's, as before.
// 25 adds a nullable column an older relay neither reads nor writes: its reports keep their (id, number, code) key and drop a final receipt with its interim's code, as before.
// 26 changes nothing on PostgreSQL (its identity column never gave an id twice); on SQLite, which one relay runs, it rebuilds `quarantine` with the same columns.
// 27 changes no table: on PostgreSQL it replaces the function that adopts early reports, which an older relay runs too (its adopted reports read in their own words as well).
// 28 adds indexes an older relay never asks for: its console searches as before.
// 29 replaces an index by a wider one on the same leading column: an older relay's look-ups by number use it, as before.
// 30 adds a column with a default an older relay neither reads nor writes: its mails count no duplicates, as before.
// 31 adds a nullable column an older relay neither reads nor writes: its sets join parts by sender and reference, as before.
// 32 adds a nullable column an older relay neither reads nor writes: its mails name no account, as before.
// 33 adds a table an older relay never reads: its STARTs record no time and its gateway opt-outs count whenever dated, as before.
// 34 adds a nullable column an older relay neither reads nor writes: it counts a newer relay's sign-ins in flight as failures, as before.
// 35 replaces an index no relay writes by: an older relay's console search by sender reads without one (every mail, up to a page found), finding what it did.
// 36 changes nothing on PostgreSQL; on SQLite, which one relay runs, it drops two indexes whose look-ups others serve.
// 37 adds nullable columns with a default an older relay never reads: its inserts get the database's stamp by the default, its queue ages read its own stamps, as before.
// 38 adds each mail's Date as written (an older relay's mails leave it NULL: they fold by the chain alone) and replaces the index by Message-ID with one by Message-ID and time (an older relay's look-ups by Message-ID use its first column, as before) and keeps PostgreSQL's index by fingerprint, which an older relay looks resubmissions up by, every relay still writing the fingerprint: the first breaking step after 38 may drop it (docs/several-relays.md).
export const ADDITIVE_MIGRATIONS: ReadonlySet<number> = new Set([
  12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
]);
export const BREAKING_MIGRATIONS: ReadonlySet<number> = new Set<number>();

/** The lowest schema a relay must know to run on schema `version`: its latest breaking (or unclassified) migration. */
export function minimumReader(version: number): number {
  let minimum = Math.min(version, FIRST_CLASSIFIED - 1);
  for (let step = FIRST_CLASSIFIED; step <= version; step++) if (!ADDITIVE_MIGRATIONS.has(step)) minimum = step;
  return minimum;
}

/** How to upgrade when a relay cannot read the schema, in one line (docs/several-relays.md, "Rolling upgrade"). */
export const UPGRADE_ORDER = 'stop every relay, upgrade them all, then start them (docs/several-relays.md#rolling-upgrade)';

/**
 * One way to write a time for people: ISO 8601 to the second with the offset it was read in,
 * `2026-03-14T09:26:53+00:00`. Gateways each write their own (W3CDTF, `yyyyMMdd HH:mm:ss` in their
 * own zone, …): their inbound parsers turn them into this, so a reply mail, the store and
 * `smsrelay undeliverable` show the same form whichever provider the SMS came through.
 */

/** `epochMs` as ISO 8601 in a fixed offset from UTC (minutes east, as in `+01:00` = 60). */
export function isoAtOffset(epochMs: number, offsetMinutes: number): string {
  const local = new Date(epochMs + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const minutes = Math.abs(offsetMinutes);
  return `${local}${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/** `epochMs` as ISO 8601 in an IANA zone (the relay's own when not given), with the offset in force then. */
export function isoInZone(epochMs: number, timeZone?: string): string {
  return isoAtOffset(epochMs, offsetIn(epochMs, timeZone));
}

/**
 * A calendar time as gateways write one: ISO 8601 / W3CDTF / RFC 3339 (`2026-03-14T09:26:53.250+01:00`), the
 * same with a blank for `T` (InteractSMS's and Vonage's `yyyy-MM-dd HH:mm:ss`), in the basic form (Puzzel's
 * `yyyyMMdd HH:mm:ss`, `20260314T092653`), with or without seconds and their fraction, with or without a zone:
 * `Z`, `UTC`/`GMT`, `+01:00`, `+0100` or `+01`.
 */
const CALENDAR_TIME = /^(\d{4})(-?)(\d{2})\2(\d{2})[T ](\d{2})(:?)(\d{2})(?:\6(\d{2})(?:[.,]\d{1,9})?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/i;
/** Seconds since 1970 as ten digits (2001 to 2286), with or without a fraction; milliseconds as thirteen. */
const EPOCH_SECONDS = /^\d{10}(?:\.\d{1,9})?$/;
const EPOCH_MILLISECONDS = /^\d{13}$/;
/** The furthest a zone is from UTC (ISO 8601 allows up to ±23:59; real zones stay within −12 and +14, java.time within ±18). */
const MAX_OFFSET_MINUTES = 18 * 60;

/**
 * A gateway's time in the one form, whichever of the forms gateways write it in (CALENDAR_TIME, or seconds or
 * milliseconds since 1970); undefined when it is none, or no valid date and time. A time with its zone keeps its
 * offset; one without is read in `timeZone`, the gateway's own (an epoch is shown there too). Lenient by design,
 * where each provider documents one form: the time is only what the reply mail shows, and a gateway that adds
 * fractions of a second or an offset, or changes its format, must not hold the SMS back (its parser then leaves
 * the time to the relay, docs/replies.md). No library of the relay's parses these (Date.parse reads a time
 * without a zone in the process's, and guesses at other forms), hence this small reader.
 */
export function readGatewayTime(text: string, timeZone: string): string | undefined {
  const written = text.trim();
  if (EPOCH_SECONDS.test(written)) return isoInZone(Math.floor(Number(written) * 1000), timeZone);
  if (EPOCH_MILLISECONDS.test(written)) return isoInZone(Number(written), timeZone);
  const match = CALENDAR_TIME.exec(written);
  if (!match) return undefined;
  const [, year, , month, day, hour, , minute, second, zone] = match;
  const asUtc = wallTimeAsUtc([Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second ?? '0')]);
  if (asUtc === undefined) return undefined;
  if (zone === undefined) return isoInZone(epochOfWallTime(asUtc, timeZone), timeZone);
  const offset = zoneOffset(zone);
  return offset === undefined ? undefined : isoAtOffset(asUtc - offset * 60_000, offset);
}

/** The second a minute ends with when a leap second is added (UTC's `23:59:60`). */
const LEAP_SECOND = 60;

/** Year, month, day, hour, minute, second, as written. */
type WallTime = readonly [number, number, number, number, number, number];

/**
 * The wall time's instant were it UTC; undefined when it is no valid date and time (30 February, 24:00). A leap second
 * (`23:59:60`, which a gateway on UTC may write) is read as the second before it: JavaScript's time has none. The
 * date is set by setUTCFullYear, which takes a year as written: Date.UTC reads 0 to 99 as 1900 to 1999.
 */
function wallTimeAsUtc([year, month, day, hour, minute, second]: WallTime): number | undefined {
  const check = new Date(0);
  check.setUTCFullYear(year, month - 1, day);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > LEAP_SECOND) return undefined;
  return check.setUTCHours(hour, minute, Math.min(second, LEAP_SECOND - 1));
}

/**
 * The instant a wall time (given as if UTC) is in an IANA zone. In the hour a clock goes back the text fits two
 * instants and cannot say which: one is taken. The offset at the wall time read as UTC is right but for the hours
 * around a change: one more look settles it.
 */
function epochOfWallTime(asUtc: number, timeZone: string): number {
  const first = asUtc - offsetIn(asUtc, timeZone) * 60_000;
  return asUtc - offsetIn(first, timeZone) * 60_000;
}

/** `Z`, `UTC`, `+01:00`, `+0100`, `+01` in minutes east; undefined beyond MAX_OFFSET_MINUTES or 59 minutes. */
function zoneOffset(zone: string): number | undefined {
  const match = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (!match) return 0;
  const minutes = Number(match[3] ?? '0');
  const total = Number(match[2]) * 60 + minutes;
  if (minutes > 59 || total > MAX_OFFSET_MINUTES) return undefined;
  return match[1] === '-' ? -total : total;
}

/**
 * One formatter per zone: building an Intl.DateTimeFormat cost ~70 µs, a fifth of a reply mail,
 * where using one costs ~3 µs. The zones are the relay's own and its providers' (a handful); the
 * relay's own is keyed by TZ, which Node lets a process change.
 */
const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at `epochMs`, in minutes east. */
function offsetIn(epochMs: number, timeZone: string | undefined): number {
  const key = timeZone ?? `TZ=${process.env.TZ ?? ''}`;
  let format = offsetFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormats.set(key, format);
  }
  const name = format.formatToParts(new Date(epochMs)).find((part) => part.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
  if (!match) return 0; // "GMT": UTC itself
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

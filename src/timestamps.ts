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
 * An ISO 8601 / W3CDTF time that carries its own offset (`2010-02-03T13:50:05-00:00`, `…Z`) in the
 * one form, in that offset; undefined when it is no valid time.
 */
export function normaliseOffsetTime(text: string): string | undefined {
  const offset = /(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  const epochMs = Date.parse(text);
  if (!offset || Number.isNaN(epochMs)) return undefined;
  const minutes = offset[1] ? (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) : 0;
  return isoAtOffset(epochMs, minutes);
}

/**
 * A wall-clock time read in an IANA zone (a gateway that writes `2026-03-14 09:26:53` in its own
 * local time) in the one form, with that zone's offset then. `pattern` captures year, month, day,
 * hour, minute and second in that order. Undefined when the text does not match or is no valid date
 * and time. In the hour a clock goes back the text fits two instants and cannot say which: one is taken.
 */
export function readWallTime(text: string, pattern: RegExp, timeZone: string): string | undefined {
  const fields = pattern.exec(text)?.slice(1, 7).map(Number);
  if (!fields || fields.length < 6 || fields.some((field) => !Number.isInteger(field))) return undefined;
  const [year, month, day, hour, minute, second] = fields as [number, number, number, number, number, number];
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(asUtc);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  // The offset at the wall time read as UTC is right but for the hours around a change: one more look settles it.
  const first = asUtc - offsetIn(asUtc, timeZone) * 60_000;
  const epochMs = asUtc - offsetIn(first, timeZone) * 60_000;
  return isoInZone(epochMs, timeZone);
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

import { Eta } from 'eta';
import { counted } from '../admin.ts';
import { BIDI_CONTROLS } from '../mail/strip.ts';
import { maskedUrlsIn } from '../masked-url.ts';
import { maskContext, maskKeptBytes, maskNumber, maskNumbersIn } from '../sms/numbers.ts';
import type { ConsoleUser } from './access.ts';

/**
 * Every value a page shows: bidi controls made visible (in a text or a raw body they would reorder
 * what follows on the page: a name shown backwards, an extension hidden), NUL dropped (escaping
 * follows, by eta).
 */
function shown(value: unknown): string {
  // NUL shows as nothing in a browser and cuts off what follows in some other viewers.
  return String(value)
    .replaceAll('\0', '')
    .replace(BIDI_CONTROLS, (control) => `[U+${control.codePointAt(0)?.toString(16).toUpperCase()}]`);
}

/** A JSON string, its escapes included. */
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;

const eta = new Eta({ views: new URL('./views', import.meta.url).pathname, autoEscape: true, autoFilter: true, filterFunction: shown, cache: true });

/** What every page's template gets besides its own data: how to show times and numbers to this user. */
export function helpers(user: ConsoleUser | undefined, csrf: string | undefined) {
  const operator = user?.role === 'operator';
  return {
    user,
    csrf,
    operator,
    /** A number as this user may see it: in full for operators, masked as in info logs for viewers. */
    number: (e164: string) => (operator ? e164 : maskNumber(e164)),
    /**
     * Free text with every number in it masked for viewers. Not for an id, which the viewer reads and searches by as it is
     * (a mail's Message-ID is shown as written). A URL in it (a gateway's, in a history an older relay wrote) is masked for
     * everyone (maskedUrlsIn).
     */
    masked: (text: string) => (operator ? maskedUrlsIn(text) : maskNumbersIn(maskedUrlsIn(text))),
    /** A user context for viewers as the logs show it: a number in it masked, a client's id as written. */
    maskedContext: (context: string) => (operator ? context : maskContext(context)),
    /**
     * Bytes kept as received, as bytesAsText shows them, masked for viewers with its `\\xHH` escapes read as the bytes they
     * stand for, not as their hex digits; a body kept as hex (an SMPP PDU) with the numbers its bytes hold masked in the hex.
     */
    maskedBytes: (text: string) => (operator ? text : maskKeptBytes(text)),
    /**
     * The configuration as `config check` prints it (JSON, then lines of its own): for viewers numbers masked in its
     * strings (a sender, a number prefix), never its numeric values (`"maxMessageBytes": 10485760`), which are limits.
     */
    maskedSettings: (text: string) => (operator ? text : text.replace(JSON_STRING, (value) => maskNumbersIn(value))),
    time: (at: number | undefined) => (at === undefined ? '—' : consoleTime(at)),
    ago: (seconds: number) => duration(seconds),
    /** A count as the CLI writes it: 3,001. */
    count: (n: number) => counted.format(n),
  };
}

/** A time as the console shows it, to the second and marked UTC wherever it stands: 2026-12-05 09:10:05 UTC. */
export function consoleTime(at: number): string {
  return `${new Date(at).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function render(view: string, data: Record<string, unknown>): string {
  return eta.render(view, data);
}

/** 3725 → "1 h 2 min": ages and uptimes as people read them. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3600)} h`;
}

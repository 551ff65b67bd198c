/**
 * What a person wrote, without what their mail client, their company and the conversation added:
 * quoted history, signatures, device lines, disclaimers, text outside start/end markers.
 *
 * Written here rather than taken from a reply parser: the maintained one (email-reply-parser) treats
 * any line starting "Sent from" and any `----` rule as a signature, which deletes most of a monitoring
 * alert ("Sent from nagios01 …"), and its patterns cannot be changed. Every rule below needs either a
 * quote marker, a client's exact wording, or a position near the end of the mail.
 */

export interface StripRules {
  /** Text from one of these on is dropped (IntelliSoftware-style `[EndOfMessage]`). */
  readonly endMarkers: readonly string[];
  /** Text up to and including one of these is dropped. */
  readonly startMarkers: readonly string[];
  /** Line beginnings (case-insensitive) that open a disclaimer: it and all below it are dropped. */
  readonly disclaimers: readonly string[];
}

/** Lines longer than this are never tested against the attribution patterns (they hold `.+`). */
const MAX_ATTRIBUTION_LINE = 400;
/** A sign-off ("Kind regards,") ends the text only when at most this many kept lines follow it. */
const MAX_LINES_BELOW_SIGN_OFF = 6;

const QUOTED = /^\s*>/;

/** "On … wrote:" in the languages mail clients write it, after a two-line wrap is joined. */
const ATTRIBUTIONS: readonly RegExp[] = [
  /^On\s.+\swrote:?$/i,
  /^Am\s.+\sschrieb\s.*:$/,
  /^(?:Den\s)?.+\sskrev\s.*:$/,
  /^Le\s.+\sa\s+écrit\s?:$/,
  /^El\s.+\sescribió:?$/,
  /^Il\s.+\sha\s+scritto:?$/,
  /^Em\s.+\sescreveu:?$/,
  /^Op\s.+\sschreef\s.*:$/,
  /^(?:W dniu|Dnia)\s.+\s(?:pisze|napisał\(?a?\)?):$/,
  /^.+<[^<>\s]+@[^<>\s]+>\s+(?:wrote|schrieb|skrev|a écrit|escribió|ha scritto|escreveu|schreef):?$/,
  /^在.+写道[:：]$/,
];

/** "Alice wrote:": an attribution only when quoted lines follow it. */
const SHORT_ATTRIBUTION = /^.{1,100}\s(?:wrote|schrieb|skrev|a écrit|escribió|ha scritto|escreveu|schreef)\s?:$/;

/** Outlook's header block of the mail replied to: a From line, then Sent/Date within two lines. */
const HEADER_BLOCK_FROM = /^\*?(?:From|Von|De|Van|Da|Från|Fra|Od|Lähettäjä):\*?\s+\S/;
const HEADER_BLOCK_DATE = /^\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Verzonden|Skickat|Sendt|Inviato|Data|Wysłano|Lähetetty):\*?\s+\S/;

/** Lines that end the text wherever they stand. */
const ENDS_TEXT: readonly RegExp[] = [
  // RFC 3676 §4.3 signature separator, and the same with its space lost on the way
  /^--\s?$/,
  /^-{3,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Messaggio originale|Oorspronkelijk bericht|Ursprungligt meddelande|Oprindelig meddelelse|Opprinnelig melding)\s*-{3,}$/i,
  // Outlook's rule above the reply header block
  /^_{10,}$/,
  // device and app lines
  /^Sent from my \S.{0,60}$/,
  /^Sent from (?:Mail for Windows|Outlook|Yahoo Mail|Proton Mail|ProtonMail)\b.{0,60}$/,
  /^(?:Get|Download) Outlook for \S.{0,40}$/,
  /^Von meinem .{1,40} gesendet\.?$/,
  /^Gesendet von .{1,40}$/,
  /^Envoyé (?:de|depuis) mon .{1,40}$/,
  /^Enviado (?:desde|de) mi .{1,40}$/,
  /^Enviado do meu .{1,40}$/,
  /^Verzonden (?:vanaf|met) mijn .{1,40}$/,
  /^Skickat från min .{1,40}$/,
  /^Sendt fra min .{1,40}$/,
  /^Inviato da(?:l mio)? .{1,40}$/,
  /^Wysłane z .{1,40}$/,
];

/** Closing words that end the text when they are near its end (the name below them goes too). */
const SIGN_OFF =
  /^(?:(?:kind|best|warm|warmest|with kind|many)\s+)?regards[,.!]?$|^best wishes[,.!]?$|^cheers[,.!]*$|^(?:mit freundlichen grüßen|viele grüße|liebe grüße|cordialement|bien à vous|saludos|un saludo|cordiali saluti|met vriendelijke groet(?:en)?|med vänliga hälsningar|mvh|med venlig hilsen)[,.!]?$/i;

/** Openings of the legal text companies append to every mail. */
export const BUILT_IN_DISCLAIMERS: readonly string[] = [
  'This e-mail and any attachments',
  'This email and any attachments',
  'This message and any attachments',
  'This e-mail is confidential',
  'This email is confidential',
  'CONFIDENTIALITY NOTICE',
  'DISCLAIMER',
  'The information contained in this e-mail',
  'The information contained in this email',
  'The information contained in this message',
  'The information in this e-mail',
  'The information in this email',
  'Please consider the environment before printing',
];

/** The new text of a mail body, tidied: see the module comment for what goes. */
export function stripBody(body: string, rules: StripRules): string {
  const marked = withinMarkers(body.replace(/\r\n?/g, '\n'), rules);
  return tidy(newLines(marked.split('\n'), rules).join('\n'));
}

function withinMarkers(text: string, rules: StripRules): string {
  let result = text;
  for (const marker of rules.startMarkers) {
    const at = result.indexOf(marker);
    if (at >= 0) result = result.slice(at + marker.length);
  }
  for (const marker of rules.endMarkers) {
    const at = result.indexOf(marker);
    if (at >= 0) result = result.slice(0, at);
  }
  return result;
}

/** The lines a person wrote: top to bottom, quotes dropped, up to the first line that ends the text. */
function newLines(lines: readonly string[], rules: StripRules): string[] {
  const disclaimers = [...BUILT_IN_DISCLAIMERS, ...rules.disclaimers].map((start) => start.toLowerCase());
  const kept: string[] = [];
  const signOffs: number[] = [];
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').trim();
    if (QUOTED.test(line)) continue;
    const attribution = attributionLength(lines, index);
    const after = nextNonBlank(lines, index + Math.max(attribution, 1));
    const aboveQuote = after < lines.length && QUOTED.test(lines[after] ?? '');
    // An attribution above quoted lines goes with them; one above unquoted text starts a copy.
    if (attribution > 0 && aboveQuote) {
      index += attribution - 1;
      continue;
    }
    if (attribution > 0) break;
    if (aboveQuote && SHORT_ATTRIBUTION.test(line)) continue;
    if (endsText(lines, index, line, disclaimers)) break;
    if (SIGN_OFF.test(line)) signOffs.push(kept.length);
    kept.push(line);
  }
  // A sign-off ends the text when little follows it in what is kept (its name, a title, a phone).
  const signOff = signOffs.find((at) => kept.slice(at + 1).filter((line) => line !== '').length <= MAX_LINES_BELOW_SIGN_OFF);
  return signOff === undefined ? kept : kept.slice(0, signOff);
}

/** 1 or 2 when the line (or it joined with the next) is a reply attribution, else 0. */
function attributionLength(lines: readonly string[], index: number): number {
  const line = (lines[index] ?? '').trim();
  if (line === '' || line.length > MAX_ATTRIBUTION_LINE) return 0;
  if (ATTRIBUTIONS.some((pattern) => pattern.test(line))) return 1;
  const joined = `${line} ${(lines[index + 1] ?? '').trim()}`;
  if (joined.length <= MAX_ATTRIBUTION_LINE && ATTRIBUTIONS.some((pattern) => pattern.test(joined))) return 2;
  return 0;
}

function endsText(lines: readonly string[], index: number, line: string, disclaimers: readonly string[]): boolean {
  if (ENDS_TEXT.some((pattern) => pattern.test(line))) return true;
  const lower = line.toLowerCase();
  if (disclaimers.some((start) => lower.startsWith(start))) return true;
  if (HEADER_BLOCK_FROM.test(line)) {
    for (const next of lines.slice(index + 1, index + 3)) if (HEADER_BLOCK_DATE.test(next.trim())) return true;
  }
  return false;
}

function nextNonBlank(lines: readonly string[], from: number): number {
  let index = from;
  while (index < lines.length && (lines[index] ?? '').trim() === '') index++;
  return index;
}

/**
 * Each line trimmed with its inner runs of spaces and tabs made one space, at most one blank line in
 * a row, none at the edges: what costs characters on a phone and carries no meaning.
 */
export function tidy(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

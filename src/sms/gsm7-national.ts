/**
 * GSM 7-bit national language tables (3GPP TS 23.038 §6.2.1.2.4, Annex A), named in a UDH by the
 * National Language Single Shift (IEI 0x24: the extension table ESC leads to) and Locking Shift (IEI
 * 0x25: the table in place of the basic one) elements of 3GPP TS 23.040 §9.2.3.24.15–16. Phones in
 * Turkey, Spain and Portugal send them to fit their letters in 160 septets. Each table is written as
 * its differences from the default table it replaces, as the specification's tables are laid out.
 */
import { GSM7_DEFAULT_TABLES, type Gsm7Tables } from './encoding.ts';

/** A table's identifier in the shift elements (Annex A's numbering). */
const TURKISH = 1;
const SPANISH = 2;
const PORTUGUESE = 3;

/** The languages the identifiers name, for a reason that names one the relay has no table for. */
const LANGUAGES = [
  'default',
  'Turkish',
  'Spanish',
  'Portuguese',
  'Bengali',
  'Gujarati',
  'Hindi',
  'Kannada',
  'Malayalam',
  'Oriya',
  'Punjabi',
  'Tamil',
  'Telugu',
  'Urdu',
];

const DEFAULT_EXTENSION = GSM7_DEFAULT_TABLES.extension;

function basicWith(changes: Record<number, string>): readonly string[] {
  const table = [...GSM7_DEFAULT_TABLES.basic];
  for (const [code, char] of Object.entries(changes)) table[Number(code)] = char;
  return table;
}

function extensionWith(changes: Record<number, string>): ReadonlyMap<number, string> {
  return new Map([...DEFAULT_EXTENSION, ...Object.entries(changes).map(([code, char]) => [Number(code), char] as const)]);
}

/** Annex A.3: locking shift tables (Spanish has none). */
const LOCKING: ReadonlyMap<number, readonly string[]> = new Map([
  [0, GSM7_DEFAULT_TABLES.basic],
  [TURKISH, basicWith({ 4: '€', 7: 'ı', 11: 'Ğ', 12: 'ğ', 28: 'Ş', 29: 'ş', 64: 'İ', 96: 'ç' })],
  [
    PORTUGUESE,
    basicWith({
      4: 'ê',
      6: 'ú',
      7: 'í',
      8: 'ó',
      9: 'ç',
      11: 'Ô',
      12: 'ô',
      14: 'Á',
      15: 'á',
      18: 'ª',
      19: 'Ç',
      20: 'À',
      21: '∞',
      22: '^',
      23: '\\',
      24: '€',
      25: 'Ó',
      26: '|',
      28: 'Â',
      29: 'â',
      30: 'Ê',
      36: 'º',
      64: 'Í',
      91: 'Ã',
      92: 'Õ',
      93: 'Ú',
      96: '~',
      123: 'ã',
      124: 'õ',
      125: '`',
    }),
  ],
]);

/** Annex A.2: single shift tables, each the default extension table and its language's letters. */
const SINGLE: ReadonlyMap<number, ReadonlyMap<number, string>> = new Map([
  [0, DEFAULT_EXTENSION],
  [TURKISH, extensionWith({ 71: 'Ğ', 73: 'İ', 83: 'Ş', 99: 'ç', 103: 'ğ', 105: 'ı', 115: 'ş' })],
  [SPANISH, extensionWith({ 9: 'ç', 65: 'Á', 73: 'Í', 79: 'Ó', 85: 'Ú', 97: 'á', 105: 'í', 111: 'ó', 117: 'ú' })],
  [
    PORTUGUESE,
    extensionWith({
      5: 'ê',
      9: 'ç',
      11: 'Ô',
      12: 'ô',
      14: 'Á',
      15: 'á',
      18: 'Φ',
      19: 'Γ',
      21: 'Ω',
      22: 'Π',
      23: 'Ψ',
      24: 'Σ',
      25: 'Θ',
      31: 'Ê',
      65: 'À',
      73: 'Í',
      79: 'Ó',
      85: 'Ú',
      91: 'Ã',
      92: 'Õ',
      97: 'Â',
      105: 'í',
      111: 'ó',
      117: 'ú',
      123: 'ã',
      124: 'õ',
      127: 'â',
    }),
  ],
]);

/** The tables a UDH names (absent: the default ones). */
export interface NationalShift {
  readonly locking?: number | undefined;
  readonly single?: number | undefined;
}

/** The tables for `shift`, or why the relay cannot read them (a language it has no table for). */
export function nationalTables(shift: NationalShift): Gsm7Tables | string {
  const basic = LOCKING.get(shift.locking ?? 0);
  const extension = SINGLE.get(shift.single ?? 0);
  if (basic === undefined) return `a GSM-7 locking shift table the relay has none of (${languageName(shift.locking ?? 0)})`;
  if (extension === undefined) return `a GSM-7 single shift table the relay has none of (${languageName(shift.single ?? 0)})`;
  return { basic, extension };
}

function languageName(code: number): string {
  return `${LANGUAGES[code] ?? 'unassigned'}, ${code}`;
}

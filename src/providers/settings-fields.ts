/** Setting types more than one provider's settings use, with the config's wording of their errors. */
import { z } from 'zod';

/**
 * A whole number as the settings write it: a YAML integer, or decimal digits (a variable). A number
 * coerced from anything took `true` (1), `0x10` (16), `1e3` (1000) and an empty variable (0), none of
 * which anyone means; the file's hex, octal and exponent forms reach here as their text (the loader).
 */
export function wholeNumber(hint: string) {
  return z.union([z.number(), z.string().regex(/^\d+$/, hint).transform(Number)], { error: hint }).pipe(z.number().int(hint));
}

/** An account number in the provider's portal; the environment gives it as digits. */
export const accountNumber = wholeNumber('write a whole number above 0').pipe(z.number().positive('expected a number above 0'));

/**
 * A provider's settings that take a number only in international digits (ProviderSettings.internationalNumbers),
 * written nationally with its trunk 0 (`07700900999`): such a number names no country, so it is read in
 * sms.defaultRegion, as a national recipient is, and the relay runs with its international digits (the warning for a
 * value taken in another form than written gives them to write). So a configuration that loaded before the provider
 * refused national numbers still loads. Without a region, or when it is no number there, it is refused, naming the
 * digits to write after the country code.
 */
import type { CountryCode } from 'libphonenumber-js';
import type { ProviderPlugin } from '../providers/contract.ts';
import { normaliseNumber, toInternationalDigits } from '../sms/numbers.ts';

export function readNationalNumbers(
  values: Readonly<Record<string, unknown>>,
  plugin: ProviderPlugin,
  region: CountryCode | undefined,
  problems: string[],
  describe: (key: string) => string,
): Readonly<Record<string, unknown>> {
  const numbers = plugin.settings.internationalNumbers;
  if (numbers === undefined) return values;
  const read: Record<string, unknown> = { ...values };
  for (const key of numbers.keys) {
    const value = values[key];
    if (typeof value !== 'string' || !numbers.national.test(value)) continue;
    const number = region === undefined ? undefined : normaliseNumber(value, region, 'national');
    if (number?.ok) read[key] = toInternationalDigits(number.e164);
    else {
      const why = region === undefined ? ', with no sms.defaultRegion set to read it in' : ` that is no number of sms.defaultRegion ${region}`;
      const or = region === undefined ? ', or set sms.defaultRegion' : '';
      problems.push(
        `${describe(key)}: a number written nationally (with its trunk 0)${why}: the ${plugin.name} gateway takes it in international digits: write its country code, then ${value.slice(1)} (the number without its 0)${or}`,
      );
    }
  }
  return read;
}

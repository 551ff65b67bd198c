/** Vonage's own keys under `gateway:` (the API key and secret are `username` and `password`). */
import { z } from 'zod';
import type { ProviderSettings } from '../contract.ts';
import { NATIONAL_NUMBER } from './sender-id.ts';
import { SIGNATURE_METHODS } from './signature.ts';

const schema = z.object({
  /**
   * The sender when a mail names none: the account's virtual number (international digits, `+` or `00` dropped when
   * sent; one written nationally is read in sms.defaultRegion: internationalNumbers) or an alphanumeric id.
   */
  from: z
    .string()
    .regex(/^(?:\+?\d{3,15}|[A-Za-z0-9 ]{1,11})$/, 'expected a number in international digits or up to 11 letters and digits')
    .optional(),
  /** The account's signature secret; set = every webhook must be signed with it. */
  signatureSecret: z.string().min(1).optional(),
  /** The signature method chosen in the dashboard. */
  signatureMethod: z.enum(SIGNATURE_METHODS).default('md5hash'),
});

export const VONAGE_SETTINGS: ProviderSettings<z.output<typeof schema>> = {
  schema,
  environment: {
    SMSRELAY_GATEWAY_FROM: 'from',
    SMSRELAY_GATEWAY_SIGNATURE_SECRET: 'signatureSecret',
    SMSRELAY_GATEWAY_SIGNATURE_METHOD: 'signatureMethod',
  },
  required: ['from'],
  // A virtual number written nationally is sent as Vonage takes it: no refusal for a value older releases ran with.
  internationalNumbers: { keys: ['from'], national: NATIONAL_NUMBER },
  defaultUrls: { url: 'https://rest.nexmo.com' },
  account: (settings) => ({
    accountId: undefined,
    sessions: false,
    signature: settings.signatureSecret === undefined ? undefined : { secret: settings.signatureSecret, formula: settings.signatureMethod },
    defaultSenderId: settings.from,
  }),
};

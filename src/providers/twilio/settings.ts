/** Twilio's own keys under `gateway:`. */
import { z } from 'zod';
import type { ProviderSettings } from '../contract.ts';
import { SIGNATURE_FORMULA } from './signature.ts';
import { ACCOUNT_SID, canonicalSid, MESSAGING_SERVICE_SID } from './sids.ts';

/**
 * A Twilio SID of one kind, taken in either case and kept as Twilio issues it (sids.ts): a configuration
 * written with upper-case digits still starts, and the start-up's warning (config/load.ts) gives the form to write.
 */
const sid = (pattern: RegExp, prefix: string, what: string) =>
  z.string().regex(pattern, `expected ${what} (${prefix} followed by 32 hex digits)`).transform(canonicalSid);

const schema = z.object({
  /** The account the Messages API path names; also when `username` is an API key (SK…). */
  accountSid: sid(ACCOUNT_SID, 'AC', 'an Account SID').optional(),
  /**
   * The account's primary auth token: Twilio signs every webhook with it, also when the relay sends
   * with an API key, so the relay needs it to check `X-Twilio-Signature`.
   */
  authToken: z.string().min(1).optional(),
  /** The Messaging Service that picks the sending number (and holds the validity period). */
  messagingServiceSid: sid(MESSAGING_SERVICE_SID, 'MG', 'a Messaging Service SID').optional(),
});

export const TWILIO_SETTINGS: ProviderSettings<z.output<typeof schema>> = {
  schema,
  environment: {
    SMSRELAY_GATEWAY_ACCOUNT_SID: 'accountSid',
    SMSRELAY_GATEWAY_AUTH_TOKEN: 'authToken',
    SMSRELAY_GATEWAY_MESSAGING_SERVICE_SID: 'messagingServiceSid',
  },
  required: ['accountSid', 'authToken', 'messagingServiceSid'],
  defaultUrls: { url: 'https://api.twilio.com' },
  account: (settings) => ({
    accountId: settings.accountSid,
    sessions: false,
    signature: settings.authToken === undefined ? undefined : { secret: settings.authToken, formula: SIGNATURE_FORMULA },
  }),
};

/** Twilio's own keys under `gateway:`. */
import { z } from 'zod';
import type { ProviderSettings } from '../contract.ts';
import { SIGNATURE_FORMULA } from './signature.ts';
import { MESSAGING_SERVICE_SID, upperCaseServiceSid } from './sids.ts';

/** Twilio SIDs: a two-letter prefix and 32 hex digits. */
const sid = (prefix: string, what: string) =>
  z.string().regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), `expected ${what} (${prefix} followed by 32 hex digits)`);

const schema = z.object({
  /** The account the Messages API path names; also when `username` is an API key (SK…). */
  accountSid: sid('AC', 'an Account SID').optional(),
  /**
   * The account's primary auth token: Twilio signs every webhook with it, also when the relay sends
   * with an API key, so the relay needs it to check `X-Twilio-Signature`.
   */
  authToken: z.string().min(1).optional(),
  /**
   * The Messaging Service that picks the sending number (and holds the validity period): as a mail's
   * X-SMS-From naming one is held (sids.ts), one with upper-case hex digits is refused at start-up, with the
   * same words, rather than every send refused by Twilio.
   */
  messagingServiceSid: z
    .string()
    .superRefine((value, context) => {
      if (MESSAGING_SERVICE_SID.test(value)) return;
      context.addIssue({ code: 'custom', message: upperCaseServiceSid(value) ?? 'expected a Messaging Service SID (MG followed by 32 lower-case hex digits)' });
    })
    .optional(),
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

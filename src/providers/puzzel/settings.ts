/** Puzzel's own keys under `gateway:`. */
import { z } from 'zod';
import type { ProviderSettings } from '../contract.ts';
import { accountNumber } from '../settings-fields.ts';

const schema = z.object({
  /** Puzzel's service id (an integer in its portal): the account every request names. */
  serviceId: accountNumber.optional(),
  /** Ask for a session per conversation (Norway, NETWORK originators), so replies carry it. */
  sessions: z.boolean().default(false),
});

export const PUZZEL_SETTINGS: ProviderSettings<z.output<typeof schema>> = {
  schema,
  environment: { SMSRELAY_GATEWAY_SERVICE_ID: 'serviceId' },
  required: ['serviceId'],
  defaultUrls: { url: 'https://smsgw.puzzel.com' },
  account: (settings) => ({
    accountId: settings.serviceId === undefined ? undefined : String(settings.serviceId),
    sessions: settings.sessions,
    signature: undefined,
  }),
};

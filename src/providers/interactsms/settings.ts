/** InteractSMS's own keys under `gateway:`. */
import { z } from 'zod';
import type { ProviderSettings } from '../contract.ts';
import { accountNumber } from '../settings-fields.ts';
import { VERIFY_FORMULAS } from './inbound.ts';

const schema = z.object({
  /** InteractSMS's api_id. */
  apiId: accountNumber.optional(),
  /** The secret its SMS-Verify hashes are made with; unset = not checked. */
  webhookSecret: z.string().min(1).optional(),
  /** Which documented SMS-Verify formula the account uses (the vendor's documents disagree). */
  verifyFormula: z.enum(VERIFY_FORMULAS).default('portal'),
});

export const INTERACTSMS_SETTINGS: ProviderSettings<z.output<typeof schema>> = {
  schema,
  environment: { SMSRELAY_GATEWAY_API_ID: 'apiId', SMSRELAY_GATEWAY_WEBHOOK_SECRET: 'webhookSecret' },
  required: ['apiId'],
  defaultUrls: { url: 'https://secure.interactsms.com' },
  account: (settings) => ({
    accountId: settings.apiId === undefined ? undefined : String(settings.apiId),
    sessions: false,
    signature: settings.webhookSecret === undefined ? undefined : { secret: settings.webhookSecret, formula: settings.verifyFormula },
  }),
};

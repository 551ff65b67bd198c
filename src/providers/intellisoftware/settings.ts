/** IntelliSoftware needs no settings beyond the account's username and password. */
import { z } from 'zod';
import type { ProviderSettings } from '../contract.ts';

const schema = z.object({});

export const INTELLISOFTWARE_SETTINGS: ProviderSettings<z.output<typeof schema>> = {
  schema,
  environment: {},
  required: [],
  // The vendor's public hosts; its SDK fails over to the second.
  defaultUrls: { url: 'https://www.intellisoftware.co.uk', backupUrl: 'https://www.intellisoftware2.co.uk' },
  account: () => ({ accountId: undefined, sessions: false, signature: undefined }),
};

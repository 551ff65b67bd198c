/** The Puzzel SMS Gateway plug-in: see README.md in this folder for the provider's side. */
import type { ProviderPlugin } from '../contract.ts';
import { createPuzzelGateway, PROVIDER, PUZZEL_CAPABILITIES } from './adapter.ts';
import { describeStatus, parseReceived, parseReport, temporaryStatus } from './inbound.ts';
import { PUZZEL_OUTCOME_RULES } from './outcomes.ts';
import { senderIdProblem } from './sender-id.ts';
import { PUZZEL_SETTINGS } from './settings.ts';

export const puzzelPlugin: ProviderPlugin = {
  name: PROVIDER,
  capabilities: PUZZEL_CAPABILITIES,
  settings: PUZZEL_SETTINGS,
  outcomeRules: PUZZEL_OUTCOME_RULES,
  createGateway: createPuzzelGateway,
  parseReceived,
  parseReport,
  // Puzzel's callbacks can be set to GET as well as POST.
  webhookMethods: ['GET', 'POST'],
  // Puzzel's "fixed header" authentication: X-Api-Key (inbound.webhookTokenHeader) or Authorization: Bearer.
  tokenInHeader: true,
  describeStatus,
  temporaryStatus,
  senderIdProblem,
};

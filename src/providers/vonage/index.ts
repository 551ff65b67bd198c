/** The Vonage SMS API plug-in: see README.md in this folder for the provider's side. */
import type { ProviderPlugin } from '../contract.ts';
import { createVonageGateway, PROVIDER, VONAGE_CAPABILITIES } from './adapter.ts';
import { describeStatus, parseReceived, parseReport, statusCode, temporaryStatus, verify } from './inbound.ts';
import { VONAGE_OUTCOME_RULES } from './outcomes.ts';
import { senderIdProblem } from './sender-id.ts';
import { VONAGE_SETTINGS } from './settings.ts';

export const vonagePlugin: ProviderPlugin = {
  name: PROVIDER,
  capabilities: VONAGE_CAPABILITIES,
  settings: VONAGE_SETTINGS,
  outcomeRules: VONAGE_OUTCOME_RULES,
  createGateway: createVonageGateway,
  parseReceived,
  parseReport,
  verify,
  // The dashboard offers GET, POST and POST-JSON for both webhooks.
  webhookMethods: ['GET', 'POST'],
  describeStatus,
  statusCode,
  temporaryStatus,
  senderIdProblem,
};

/** The SMPP 3.4 plug-in: see README.md in this folder for the SMSC's side. */
import type { ProviderPlugin } from '../contract.ts';
import { createSmppGateway, PROVIDER, SMPP_CAPABILITIES } from './adapter.ts';
import { SMPP_OUTCOME_RULES } from './outcomes.ts';
import { describeStatus, statusCode } from './receipts.ts';
import { senderIdProblem } from './sender-id.ts';
import { SMPP_SETTINGS, type SmppSettings } from './settings.ts';

/** No webhooks: receipts and replies arrive on the binds and are pushed to the relay's inbound sink. */
export const smppPlugin: ProviderPlugin<SmppSettings> = {
  name: PROVIDER,
  capabilities: SMPP_CAPABILITIES,
  settings: SMPP_SETTINGS,
  outcomeRules: SMPP_OUTCOME_RULES,
  createGateway: (options) => createSmppGateway(options),
  describeStatus,
  statusCode,
  senderIdProblem,
};

/** The IntelliSoftware (IntelliSMS) plug-in: see README.md in this folder for the provider's side. */
import type { ProviderPlugin } from '../contract.ts';
import { createIntelliSoftwareGateway, INTELLISOFTWARE_CAPABILITIES, PROVIDER } from './adapter.ts';
import { describeStatus, parseReceived, parseReport } from './inbound.ts';
import { INTELLISOFTWARE_OUTCOME_RULES } from './outcomes.ts';
import { senderIdProblem } from './sender-id.ts';
import { INTELLISOFTWARE_SETTINGS } from './settings.ts';

export const intellisoftwarePlugin: ProviderPlugin = {
  name: PROVIDER,
  capabilities: { ...INTELLISOFTWARE_CAPABILITIES, replyTracking: 'usercontext', scheduling: false },
  settings: INTELLISOFTWARE_SETTINGS,
  outcomeRules: INTELLISOFTWARE_OUTCOME_RULES,
  createGateway: createIntelliSoftwareGateway,
  parseReceived,
  parseReport,
  describeStatus,
  senderIdProblem,
};

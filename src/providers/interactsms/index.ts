/** The InteractSMS (Phonovation) plug-in: see README.md in this folder for the provider's side. */
import type { ProviderPlugin } from '../contract.ts';
import { createInteractSmsGateway, INTERACTSMS_CAPABILITIES, PROVIDER } from './adapter.ts';
import { describeStatus, parseReceived, parseReport, statusCode, verify } from './inbound.ts';
import { INTERACTSMS_OUTCOME_RULES } from './outcomes.ts';
import { senderIdProblem } from './sender-id.ts';
import { INTERACTSMS_SETTINGS } from './settings.ts';

export const interactsmsPlugin: ProviderPlugin = {
  name: PROVIDER,
  capabilities: INTERACTSMS_CAPABILITIES,
  settings: INTERACTSMS_SETTINGS,
  outcomeRules: INTERACTSMS_OUTCOME_RULES,
  createGateway: createInteractSmsGateway,
  parseReceived,
  parseReport,
  verify,
  signatureGap: 'SMS-Verify signs only SMS-From and SMS-Content: a captured request replayed with another SMS-TimeStamp is taken as a new SMS',
  describeStatus,
  statusCode,
  senderIdProblem,
  // Phonovation's gateway in Ireland: a sender it writes with a trunk 0 that answers no tracked SMS is read as an Irish
  // number unless sms.defaultRegion names another country (an answer with its tracking is placed by its SMS's number).
  region: 'IE',
};

/** The Twilio plug-in: see README.md in this folder for the provider's side. */
import type { ProviderPlugin } from '../contract.ts';
import { createTwilioGateway, PROVIDER, TWILIO_CAPABILITIES } from './adapter.ts';
import { acknowledge, describeStatus, parseReceived, parseReport, statusCode, temporaryStatus, verify } from './inbound.ts';
import { TWILIO_OUTCOME_RULES } from './outcomes.ts';
import { senderIdProblem, senderQueue } from './sender-id.ts';
import { TWILIO_SETTINGS } from './settings.ts';

export const twilioPlugin: ProviderPlugin = {
  name: PROVIDER,
  capabilities: TWILIO_CAPABILITIES,
  settings: TWILIO_SETTINGS,
  outcomeRules: TWILIO_OUTCOME_RULES,
  createGateway: createTwilioGateway,
  parseReceived,
  parseReport,
  verify,
  acknowledge,
  describeStatus,
  temporaryStatus,
  statusCode,
  senderIdProblem,
  senderQueue,
  // Twilio's default opt-out and opt-in keywords (Messaging Services without Advanced Opt-Out, which sends no OptOutType).
  keywords: {
    stop: ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'],
    start: ['START', 'YES', 'UNSTOP'],
  },
};

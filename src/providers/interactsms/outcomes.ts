/**
 * InteractSMS's status lines, reported by the adapter as `INTERACT:<n>`. The vendor publishes no
 * code table: only 0 (taken) is known, and the adapter names a refusal by its text (its READING_RULES): about the
 * account, its login, api id, key or token, the IP addresses it may call from, credit, allowance or access
 * `INTERACT:ACCOUNT`, so that a wrong password pauses instead of bouncing the queue; about the number, the sender or
 * the message `INTERACT:REFUSED:<n>`, which bounces. Any
 * other code falls to the generic rules: retried, as an unknown answer must never bounce.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

export const INTERACTSMS_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/INTERACT:0$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  {
    match: /^(request|recipient)\/INTERACT:ACCOUNT$/,
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway refused the relay's account (login, api id, key or token, the IP addresses it may call from, credit, allowance or access)",
  },
  {
    match: /^(request|recipient)\/INTERACT:REFUSED:-?\d+$/,
    action: 'fail',
    category: 'refused',
    reason: 'the SMS gateway refused the number or the message',
  },
];

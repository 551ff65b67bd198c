/**
 * IntelliSoftware's result codes (its HTTP interface documentation, "Response codes"): `ID:` lines,
 * `ERR:` codes and `DELAY:<seconds>`, as the adapter reports them verbatim.
 */
import type { OutcomeRule } from '../contract.ts';
import { REASONS } from '../outcome-reasons.ts';

/** Codes about the relay's account, not the message: every SMS would fail alike. */
const ACCOUNT_CODES = 'LOGIN_INVALID|INSUFFICIENT_CREDIT|DAILY_ALLOWANCE_EXCEEDED|AUTH_PARAMETER_\\w+|CONNECTION_NOT_SECURE';
/**
 * Codes saying the gateway did not get the relay's credentials or a field every request carries (the
 * vendor SDK's `NO_USERNAME`, `NO_PASSWORD`, `PARAMETER_MISSING`): nothing about the number or the text,
 * so every SMS would meet them (a proxy or an http→https redirect that drops the POST body, say).
 */
const REQUEST_CODES = 'NO_USERNAME|NO_PASSWORD|PARAMETER_MISSING';

export const INTELLISOFTWARE_OUTCOME_RULES: readonly OutcomeRule[] = [
  { match: /^recipient\/ID$/, action: 'sent', category: 'sent', reason: REASONS.accepted },
  { match: /^(request|recipient)\/ERR:(GATEWAY_ERROR|INTERNAL_ERROR)$/, action: 'failover', category: 'gateway-error', reason: REASONS.temporary },
  {
    match: /^request\/DELAY:\d+$/,
    action: 'delay',
    category: 'busy',
    reason: 'the SMS gateway is busy',
    waitSeconds: (code) => Number(/^DELAY:(\d+)$/.exec(code)?.[1]),
  },
  {
    match: new RegExp(`^(request|recipient)/ERR:(${ACCOUNT_CODES})$`),
    action: 'pause',
    category: 'account',
    reason: "the relay's SMS gateway account cannot send at the moment (login, credit or allowance)",
  },
  {
    match: new RegExp(`^(request|recipient)/ERR:(${REQUEST_CODES})$`),
    action: 'pause',
    category: 'account',
    reason: "the SMS gateway did not get the relay's credentials or a field every request carries (check gateway.url: a proxy or redirect may drop the form)",
  },
  {
    match: /^(request|recipient)\/ERR:INVALID_NUMBER$/,
    action: 'fail',
    category: 'invalid-number',
    reason: 'the SMS gateway cannot deliver to this number',
  },
  // What remains is about this message: no number or text (NO_TO, NO_TEXT), an invalid parameter of it.
  { match: /^(request|recipient)\/ERR:(NO_\w+|INVALID_REQUEST|PARAMETER_\w+|TOO_MANY_NUMBERS)$/, action: 'fail', category: 'refused', reason: REASONS.refused },
];

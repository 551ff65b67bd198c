import type { NewInbound } from '../../src/store/types.ts';

/** The number the opt-out tests text from. */
export const OPT_OUT_PHONE = '+447700900123';
let sequence = 0;

/** An SMS received from `number` with the keyword `action` (each with an id and gateway id of its own). */
export function keyword(action: 'stop' | 'start', number = OPT_OUT_PHONE): NewInbound {
  sequence += 1;
  return {
    id: `in-${sequence}`,
    provider: 'test',
    providerId: `mo-${sequence}`,
    number,
    text: action.toUpperCase(),
    sentAt: undefined,
    userContext: undefined,
    receivedAt: 3_000 + sequence,
    route: undefined,
    optOut: { action, keyword: action.toUpperCase() },
  };
}

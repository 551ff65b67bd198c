/**
 * An SMPP gateway binding against a URL that fails each bind, for the tests of why (test/providers/smpp-bind-failures):
 * in a module of its own, so that a process started with NODE_EXTRA_CA_CERTS (read at start only) runs it too.
 */
import { outcomeClassifier } from '../../src/dispatch/outcomes.ts';
import type { SmsSubmission } from '../../src/providers/contract.ts';
import { createSmppGateway } from '../../src/providers/smpp/adapter.ts';
import { smppPlugin } from '../../src/providers/smpp/index.ts';
import { REAL_TIMERS, type Timers } from '../../src/timers.ts';
import { collectingSink } from './gateway.ts';
import { captureLog } from './log-lines.ts';
import { waitFor } from './wait.ts';

const { classifyRecipient } = outcomeClassifier(smppPlugin.outcomeRules);
export const CONNECT_TIMEOUT_MS = 1_000;

const sms: SmsSubmission = {
  messageId: 'm-bind-failure',
  recipients: ['+447700900230'],
  text: 'hello',
  encoding: 'gsm7',
  maxParts: 10,
  deliveryReport: true,
};

export type Line = Record<string, unknown>;

/**
 * Binds against `url` until two attempts failed, then sends an SMS (no bind: its outcome is why); `timers` moved 11 s
 * on after the first attempt, so the next failure is the gateway's `still no bind` warning.
 */
export async function failedBinds(url: string) {
  const log = captureLog('info');
  let skew = 0;
  const timers: Timers = { ...REAL_TIMERS, now: () => REAL_TIMERS.now() + skew };
  const gateway = createSmppGateway(
    {
      sharedQueue: false,
      endpoints: [url],
      username: 'smpp-test',
      password: 'smpp-pw',
      accountId: undefined,
      sessions: false,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      responseTimeoutMs: 2_000,
      connectionsPerEndpoint: 1,
      logger: log.logger,
      settings: smppPlugin.settings.schema.parse({}),
      defaultRegion: 'GB',
    },
    timers,
  );
  const lines = () => log.lines.map((line) => JSON.parse(line) as Line);
  const tries = () => lines().filter((line) => line.msg === 'smpp: no bind; trying again');
  try {
    await gateway.start({ inbound: collectingSink().sink });
    await waitFor('a first failed bind', () => tries().length >= 1, 10_000);
    skew = 11_000;
    await waitFor('the still-no-bind warning', () => lines().some((line) => line.msg === 'smpp: still no bind; trying again'), 10_000);
    const outcome = classifyRecipient(await gateway.send(sms, 0), '+447700900230');
    return { lines: lines(), tries: tries(), outcome, health: gateway.health() };
  } finally {
    await gateway.close();
  }
}

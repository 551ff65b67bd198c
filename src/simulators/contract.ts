/**
 * What the relay and the tests see of any provider's simulator: a stand-in gateway that speaks the
 * provider's wire format on the relay's own HTTP port (or its own), written from the provider's
 * documentation without sharing any parsing code with the provider's plug-in.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../log.ts';

export interface SimulatorOptions {
  /** The account the simulator accepts (as the relay's built-in default uses). */
  readonly username: string;
  readonly password: string;
  readonly accountId: string | undefined;
  readonly logger: Logger;
  /** International digits the simulated network refuses at send time (the provider's invalid-number answer). */
  readonly invalidNumbers?: readonly string[] | undefined;
  /** International digits accepted at send time whose delivery report is a failure. */
  readonly undeliverableNumbers?: readonly string[] | undefined;
  /** Wait between attempts of a webhook post not answered 200. */
  readonly webhookRetryMs?: number | undefined;
  /** Delay before the first delivery report of an accepted SMS. */
  readonly reportDelayMs?: number | undefined;
  /** For providers that sign their posts (InteractSMS): the secret and formula it signs with. */
  readonly webhookSecret?: string | undefined;
  /** How the account signs them, where the provider offers a choice (Vonage's signature method). */
  readonly webhookSigning?: string | undefined;
}

/** One SMS a simulator accepted, the same shape for every provider (tests compare them). */
export interface SimulatedSmsRecord {
  /** The id the simulator answered (its delivery reports name it). */
  readonly id: string;
  /** International digits, no '+'. */
  readonly to: string;
  /** Decoded text as the phone shows it. */
  readonly text: string;
  readonly from?: string | undefined;
  /** The reply-tracking value it carried or was given (usercontext, notify id, session id). */
  readonly tracking?: string | undefined;
  /** When it must not be delivered before (Puzzel sendWindow), ms since the epoch. */
  readonly sendAt?: number | undefined;
}

export interface SimulatorMount {
  readonly prefix?: string | undefined;
}

export interface ProviderSimulator {
  /**
   * Adds the simulator's routes to a fastify app: its send API and `/simulator/control`, `/messages`,
   * `/mo`; or, with `mount.prefix` (`/simulator/vonage`), all of them under it (`<prefix>/sms/json`,
   * `<prefix>/control`…), so that several simulators share one port (routes across providers).
   */
  register(app: FastifyInstance, mount?: SimulatorMount): void;
  /** Every SMS accepted, oldest first. */
  readonly records: readonly SimulatedSmsRecord[];
  setWebhooks(webhooks: { readonly moUrl?: string | undefined; readonly drUrl?: string | undefined }): void;
  /**
   * Has the phone `from` (international digits) send `text`; `answering` = the SMS it replies to, whose
   * reply-tracking value the provider's MO then carries. Returns the MO's id.
   */
  reply(from: string, text: string, answering?: SimulatedSmsRecord): string;
  /**
   * A simulator of a provider with a protocol of its own (SMPP) listens on a port of its own: resolves
   * to the URL the provider's adapter connects to (`smpp://127.0.0.1:<port>`). Absent = the relay's HTTP port.
   */
  listen?(): Promise<string>;
  /** Resolves when a webhook post of `kind` was answered 200 `count` times in all. */
  waitForWebhookPosts(kind: 'mo' | 'dr', count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

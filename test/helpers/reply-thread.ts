/**
 * A reply mail of the relay's own, built by its template and kept in the store as the route of a
 * received SMS, so a mail answering it goes through the thread cut over real SMTP.
 */
import { before } from 'node:test';
import { decode as decodeQuotedPrintable } from 'libqp';
import { Templates } from '../../src/mailer/templates.ts';
import { buildReplyMail, replyMailOptions } from '../../src/replies/reply-mail.ts';
import { type RelayWithSimulator, relayWithSimulator } from './relay.ts';

interface StoredReply {
  /** The reply mail's decoded body: what a client quotes. */
  readonly copy: string;
  /** Its Message-ID header, for In-Reply-To and References. */
  readonly replyId: string;
}

/** Builds the relay's reply mail to `text` from `number` (mailbox alice@example.com) and stores it under `context`. */
async function storedReply(suite: RelayWithSimulator, number: string, text: string, context: string, sentAt: string, id: string): Promise<StoredReply> {
  const options = replyMailOptions(suite.relay.config, new Templates());
  const received = { number, text, sentAt, receivedAt: Date.now(), userContext: context };
  const route = { mailbox: 'alice@example.com', conversation: undefined };
  const built = await buildReplyMail(received, route, options, id);
  const copy = decodeQuotedPrintable(built.mail.raw.toString('utf8').split('\r\n\r\n').slice(1).join('\r\n\r\n')).toString('utf8').trim();
  const inbound = `mo-${context}`;
  await suite.relay.relay.store.acceptInbound({
    id: inbound,
    provider: 'intellisoftware',
    providerId: inbound,
    number,
    text,
    sentAt,
    userContext: context,
    receivedAt: received.receivedAt,
    route: { mailbox: route.mailbox, context, mail: { ...built.mail, messageId: inbound }, messageIdHeader: built.messageIdHeader },
  });
  return { copy, replyId: built.messageIdHeader };
}

/**
 * A relay with the simulator for sms.example.com (GB numbers), trusting local senders, that holds the
 * relay's reply mail to `text` from `number` once its suite has started (`reply` is filled then).
 */
export function relayWithStoredReply(
  number: string,
  text: string,
  context: string,
  sentAt: string,
  id: string,
): { suite: RelayWithSimulator; reply: { copy: string; replyId: string } } {
  const suite = relayWithSimulator({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, sms: { domains: ['sms.example.com'], defaultRegion: 'GB' } });
  const reply = { copy: '', replyId: '' };
  before(async () => {
    Object.assign(reply, await storedReply(suite, number, text, context, sentAt, id));
  });
  return { suite, reply };
}

import type { Config } from '../config/load.ts';
import type { TextRules } from './extract.ts';

export interface TextPolicy extends TextRules {
  readonly overLength: 'refuse' | 'truncate';
}

/** The text rules for a mail from `envelopeFrom`: the first `text.senders` entry that matches, over the defaults. */
export function textPolicyFor(text: Config['text'], envelopeFrom: string): TextPolicy {
  const sender = envelopeFrom.toLowerCase();
  const domain = sender.slice(sender.lastIndexOf('@'));
  const own = sender === '' ? undefined : text.senders.find(({ match }) => match.includes(sender) || match.includes(domain));
  return {
    subject: own?.subject ?? text.subject,
    overLength: own?.overLength ?? text.overLength,
    disclaimers: text.disclaimers,
    endMarkers: text.endMarkers,
    startMarkers: text.startMarkers,
  };
}

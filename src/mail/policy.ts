import type { SubjectUse, TextRules } from './extract.ts';

export type OverLength = 'refuse' | 'truncate';

export interface TextPolicy extends TextRules {
  readonly overLength: OverLength;
}

/** The operator's text rules: the defaults, and overrides per envelope sender (`alerts@example.com` or `@example.com`). */
export interface TextSettings extends TextPolicy {
  readonly senders: ReadonlyArray<{
    readonly match: readonly string[];
    readonly subject?: SubjectUse | undefined;
    readonly overLength?: OverLength | undefined;
  }>;
}

/** The text rules for a mail from `envelopeFrom`: the first `text.senders` entry that matches, over the defaults. */
export function textPolicyFor(text: TextSettings, envelopeFrom: string): TextPolicy {
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

/**
 * Writes the text-fidelity corpus: raw .eml replies, forwards, alerts and notes composed the way
 * each client really writes them, each with a .json saying the client, the language and exactly the
 * SMS text a person meant (or that the mail has no new text). Run it to regenerate:
 *
 *   node --import tsx test/mail/corpus/generate.ts
 *
 * The expectations are written here from what the writer meant, never from the relay's output.
 * Every fifth fixture (by sorted name) goes to held-back/: nobody tunes rules on those.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ANA, BOB, type ClientName, outlookBlock, REPLY_CLIENTS, type Reply, reply } from './clients.ts';
import { type Language, LANGUAGES } from './languages.ts';
import { buildMail, divs, escapeHtml, quote } from './mime.ts';

const DIR = fileURLToPath(new URL('./', import.meta.url));

interface Fixture {
  readonly name: string;
  readonly description: string;
  readonly client: string;
  readonly language: string;
  readonly shape: string;
  readonly subject: string;
  readonly parts: Reply;
  /** The SMS text meant; '' with outcome 'no-new-text' for a reply that adds nothing. */
  readonly text: string;
  readonly outcome?: 'no-new-text';
  /** The relay's reply mail this one answers (its body as the relay sent it). */
  readonly answers?: string;
  readonly to?: string;
  readonly inReplyTo?: string;
  readonly from?: string;
}

const fixtures: Fixture[] = [];
const add = (fixture: Fixture) => fixtures.push(fixture);
const lang = (code: string): Language => {
  const found = LANGUAGES.find((language) => language.code === code);
  if (!found) throw new Error(`no language ${code}`);
  return found;
};
const HTML_CAPABLE = new Set<ClientName>(['gmail-web', 'gmail-mobile', 'apple-mail', 'ios-mail', 'thunderbird', 'yahoo', 'proton', 'outlook-desktop', 'outlook-web', 'samsung-email']);

// 1. Top-posted replies: every language, every text, the clients in turn; some sent HTML-only
// (as ticket systems and some webmail settings pass them on).
let turn = 0;
for (const [index, language] of LANGUAGES.entries()) {
  for (const [n, text] of language.texts.entries()) {
    const rounds = n < 2 ? 2 : 1;
    for (let round = 0; round < rounds; round++) {
      const client = REPLY_CLIENTS[(index + n * 3 + round * 5) % REPLY_CLIENTS.length] ?? 'gmail-web';
      const quoted = language.quoted[(n + round) % language.quoted.length] ?? '';
      const subject = `${language.replyPrefix} ${quoted.split('\n')[0]}`;
      const parts = reply(client, { text, quoted, language, subject });
      const htmlOnly = HTML_CAPABLE.has(client) && turn++ % 4 === 3 && !(client === 'outlook-desktop' && text.includes('\n'));
      add({
        name: `reply-${client}-${language.code}-${n}${round ? 'b' : ''}${htmlOnly ? '-html' : ''}`,
        description: `${client} top-posted reply in ${language.code}${htmlOnly ? ', HTML only' : ''}: the quote and what the client wrote around it go`,
        client,
        language: language.code,
        shape: 'reply-top',
        subject,
        parts: htmlOnly ? { ...parts, plain: undefined } : parts,
        text,
      });
    }
  }
}

// 2. Bottom-posted replies.
for (const [index, language] of LANGUAGES.entries()) {
  const client = (['mutt', 'thunderbird', 'gmail-web'] as const)[index % 3] ?? 'mutt';
  const text = language.texts[2] ?? '';
  const quoted = language.quoted[0] ?? '';
  const subject = `${language.replyPrefix} ${quoted}`;
  add({
    name: `bottom-${client}-${language.code}`,
    description: `${client} bottom-posted reply in ${language.code}: attribution and quote above the new text`,
    client,
    language: language.code,
    shape: 'reply-bottom',
    subject,
    parts: { ...reply(client, { text, quoted, language, subject, bottom: true }), html: undefined },
    text,
  });
}

// 3. Inline (interleaved) answers.
for (const code of ['en', 'de', 'fr', 'es', 'nl', 'sv', 'pl', 'ru', 'it', 'cs']) {
  const language = lang(code);
  const client = code.length % 2 === 0 && code < 'm' ? 'thunderbird' : 'mutt';
  const [q1, q2] = [language.quoted[0] ?? '', (language.quoted[1] ?? '').split('\n')[0] ?? ''];
  const [a1, a2] = [language.texts[1] ?? '', language.texts[2] ?? ''];
  const attribution = client === 'mutt' ? '* Ana Silva <ana.silva@example.com> [2026-03-20 08:48 +0100]:' : language.thunderbird;
  add({
    name: `inline-${client}-${code}`,
    description: `${client} inline answers in ${code}: each quoted question goes, the answers stay`,
    client,
    language: code,
    shape: 'reply-inline',
    subject: `${language.replyPrefix} ${q1}`,
    parts: { plain: `${attribution}\n> ${q1}\n\n${a1}\n\n> ${q2}\n\n${a2}\n`, headers: [['User-Agent', client === 'mutt' ? 'NeoMutt/20250113' : 'Mozilla Thunderbird']] },
    text: `${a1}\n\n${a2}`,
  });
}

// 4. Attributions the relay did not know: date first, "---- … wrote ----", wrapped over three lines.
const dateFirst: Array<[string, string]> = [
  ['en', '2026-03-20 8:48 GMT+01:00 Ana Silva <ana.silva@example.com>:'],
  ['pt', '2026-03-20 8:48 GMT-03:00 Ana Silva <ana.silva@example.com>:'],
  ['es', '2026-03-20 8:48 GMT+01:00 Ana Silva <ana.silva@example.com>:'],
  ['it', '2026-03-20 8:48 GMT+01:00 Ana Silva <ana.silva@example.com>:'],
  ['ca', '2026-03-20 8:48 GMT+01:00 Ana Silva <ana.silva@example.com>:'],
  ['ru', '20 марта 2026 г., 8:48 пользователь Ana Silva <ana.silva@example.com> написал:'],
];
for (const [code, attribution] of dateFirst) {
  const language = lang(code);
  const text = language.texts[3] ?? '';
  add({
    name: `attribution-date-first-${code}`,
    description: `Gmail (older builds) attribution that starts with the date and ends in the address and a colon (${code})`,
    client: 'gmail-web',
    language: code,
    shape: 'attribution-unknown',
    subject: `${language.replyPrefix} ${language.quoted[0]}`,
    parts: { ...reply('gmail-web', { text, quoted: language.quoted[0] ?? '', language, subject: '', attribution }), html: undefined },
    text,
  });
}
const dashes: Array<[string, string]> = [
  ['en', 'Ana Silva wrote'],
  ['de', 'Am Di, 20 Mär 2026 08:48:12 +0100 schrieb Ana Silva <ana.silva@example.com>'],
  ['fr', 'Le mar., 20 mars 2026 08:48:12 +0100 Ana Silva <ana.silva@example.com> a écrit'],
  ['nl', 'Ana Silva schreef'],
];
for (const [code, attribution] of dashes) {
  const language = lang(code);
  const text = language.texts[4] ?? '';
  add({
    name: `attribution-dashes-zoho-${code}`,
    description: `Zoho Mail's "---- ${attribution} ----" above an unquoted copy (${code})`,
    client: 'zoho',
    language: code,
    shape: 'attribution-unknown',
    subject: `${language.replyPrefix} ${language.quoted[1]?.split('\n')[0]}`,
    parts: reply('zoho', { text, quoted: language.quoted[1] ?? '', language, subject: '', attribution }),
    text,
  });
}
const wrapped: Array<[string, string, ClientName]> = [
  ['en', 'On Tue, 20 Mar 2026 at 08:48, Ana Silva\n<ana.silva@operations.northern-logistics.example.com>\nwrote:', 'gmail-mobile'],
  ['en', 'On Tuesday, 20 March 2026 at 08:48, Ana Silva (Operations)\n<ana.silva@example.com>\nwrote:', 'gmail-web'],
  ['de', 'Am Di., 20. März 2026 um 08:48 Uhr schrieb Ana Silva\n<ana.silva@betrieb.example.de>\n:', 'gmail-mobile'],
  ['fr', 'Le mar. 20 mars 2026 à 08:48, Ana Silva\n<ana.silva@example.fr>\na écrit :', 'gmail-mobile'],
  ['es', 'El mar, 20 mar 2026 a las 8:48, Ana Silva\n(<ana.silva@example.es>)\nescribió:', 'gmail-web'],
  ['nl', 'Op di 20 mrt 2026 om 08:48 schreef Ana Silva <\nana.silva@example.nl\n>:', 'gmail-mobile'],
  ['pt', 'Em ter., 20 de mar. de 2026 às 08:48, Ana Silva <\nana.silva@example.com.br> escreveu:', 'gmail-mobile'],
];
for (const [index, [code, attribution, client]] of wrapped.entries()) {
  const language = lang(code);
  const text = language.texts[index % 2 === 0 ? 0 : 3] ?? '';
  add({
    name: `attribution-wrapped-${client}-${code}-${index}`,
    description: `attribution wrapped over ${attribution.split('\n').length} lines by ${client} (${code})`,
    client,
    language: code,
    shape: 'attribution-wrapped',
    subject: `${language.replyPrefix} ${language.quoted[0]}`,
    parts: { ...reply(client, { text, quoted: language.quoted[0] ?? '', language, subject: '', attribution }), html: undefined },
    text,
  });
}

// 5. The writer's line just above a quoted attribution (Apple Mail quotes its attribution).
const shortLines: Array<[string, string, ClientName]> = [
  ['en', 'Hello', 'mutt'],
  ['en', 'OK', 'apple-mail'],
  ['de', 'Danke!', 'apple-mail'],
  ['fr', 'Merci, c\'est noté.', 'mutt'],
  ['es', 'Gracias', 'apple-mail'],
  ['sv', 'Tack!', 'apple-mail'],
  ['it', 'Perfetto, grazie.', 'mutt'],
  ['pl', 'Dzięki', 'apple-mail'],
];
for (const [index, [code, text, client]] of shortLines.entries()) {
  const language = lang(code);
  const quoted = language.quoted[0] ?? '';
  const parts: Reply =
    client === 'mutt'
      ? { plain: `${text}\n${quote(`${language.gmail}\n${quoted}`)}\n`, headers: [['User-Agent', 'NeoMutt/20250113']] }
      : { ...reply('apple-mail', { text, quoted, language, subject: '' }), html: undefined };
  add({
    name: `writer-line-above-quoted-attribution-${client}-${code}-${index}`,
    description: `the writer's one line sits right above a quoted attribution ("> … wrote:"): it is the text (${code})`,
    client,
    language: code,
    shape: 'writer-line',
    subject: `${language.replyPrefix} ${quoted}`,
    parts,
    text,
  });
}

// 6. Leftovers: a rule line above or below the quote, wrapped quoted lines that lost their ">".
for (const [index, code] of ['en', 'de', 'es', 'fi'].entries()) {
  const language = lang(code);
  const text = language.texts[1] ?? '';
  const quoted = language.quoted[0] ?? '';
  const plain =
    index % 2 === 0
      ? `${text}\n\n----------\n${language.gmail}\n${quote(quoted)}\n`
      : `${text}\n\n${language.gmail}\n${quote(quoted)}\n----------------------------------------\n`;
  add({
    name: `leftover-rule-line-${code}`,
    description: `a rule line of dashes ${index % 2 === 0 ? 'above' : 'below'} the quote goes with it (${code})`,
    client: 'mutt',
    language: code,
    shape: 'leftover-rule',
    subject: `${language.replyPrefix} ${quoted}`,
    parts: { plain },
    text,
  });
}
const orphans: Array<[string, string]> = [
  ['en', '> Can you check whether the backup job on db2 finished before you leave\ntonight, and whether the disk alarm cleared?\n> Thanks'],
  ['de', '> Kannst du bitte nachsehen, ob die Sicherung auf db2 fertig ist, bevor\ndu heute gehst?'],
  ['fr', '> Peux-tu vérifier que la sauvegarde de db2 est terminée avant de\npartir ce soir ?\n>\n> Merci'],
  ['nl', '> Kun je nakijken of de back-up op db2 klaar is voordat je\nvanavond weggaat?'],
];
for (const [code, quotedBlock] of orphans) {
  const language = lang(code);
  const text = language.texts[0] ?? '';
  add({
    name: `leftover-orphaned-quote-continuation-${code}`,
    description: `a quoted line wrapped by the client, its continuation without ">": it goes with the quote (${code})`,
    client: 'gmail-web',
    language: code,
    shape: 'leftover-orphan',
    subject: `${language.replyPrefix} backup db2`,
    parts: { plain: `${text}\n\n${language.gmail}\n\n${quotedBlock}\n` },
    text,
  });
}

// 7. Device and app lines beyond the common ones; contact-block signatures.
const devices: Array<[string, string]> = [
  ['en', 'Sent from Mailbox for iPhone'],
  ['en', 'Sent via BlackBerry from Vodafone'],
  ['en', 'Sent from my Huawei phone'],
  ['en', 'Sent from Yahoo Mail on Android'],
  ['en', 'Get Outlook for iOS'],
  ['en', 'Sent from my iPad'],
  ['en', 'Sent with BlueMail'],
  ['en', 'Sent from Gmail Mobile'],
  ['fr', 'Envoyé depuis l\'application Mail Orange'],
  ['de', 'Gesendet mit der WEB.DE Mail App'],
  ['de', 'Von meinem Samsung Galaxy Smartphone gesendet.'],
  ['ru', 'Отправлено из мобильной Почты Mail.ru'],
  ['it', 'Inviato dal mio dispositivo Huawei'],
  ['es', 'Enviado desde mi Samsung Galaxy'],
  ['nl', 'Verzonden met BlueMail'],
  ['sv', 'Skickat från Outlook för iOS'],
];
for (const code of ['fi', 'pl', 'hu', 'ru', 'uk', 'ja', 'ko', 'zh', 'ca', 'cs', 'tr', 'da', 'nb', 'pt', 'it']) devices.push([code, lang(code).iphone]);
for (const [index, [code, line]] of devices.entries()) {
  const language = lang(code);
  const text = language.texts[(index % 3) + 1] ?? '';
  const withQuote = index % 2 === 1;
  const plain = withQuote ? `${text}\n\n${line}\n\n${quote(`${language.apple}\n\n${language.quoted[0]}`)}\n` : `${text}\n\n${line}\n`;
  add({
    name: `device-line-${code}-${index}`,
    description: `device/app line "${line}" ends the text${withQuote ? ' (a quote below it)' : ''}`,
    client: 'mobile-app',
    language: code,
    shape: 'device-line',
    subject: withQuote ? `${language.replyPrefix} ${language.quoted[0]}` : 'Status',
    parts: { plain },
    text,
  });
}
const contacts: Array<[string, string]> = [
  ['en', 'Ana Silva\nana.silva@example.com\n+44 20 7946 0321\nwww.example.com'],
  ['en', 'Tom Baker | Site Manager\nM: +44 7700 900456\ntom.baker@example.co.uk'],
  ['de', 'Jan Becker\nLeitung Lager\nTel. +49 30 1234567\nhttps://www.example.de'],
  ['fr', 'Claire Martin\nResponsable logistique\n01 23 45 67 89\nclaire.martin@example.fr'],
  ['nl', 'Pieter de Vries\nT +31 20 123 4567\nwww.example.nl'],
  ['pl', 'Jan Kowalski\nKierownik magazynu\ntel. +48 22 123 45 67\nwww.example.pl'],
  ['es', 'Lucía Gómez\nlucia.gomez@example.es\nMóvil: +34 612 345 678'],
  ['sv', 'Erik Lund\nDrifttekniker\n070-123 45 67\nerik.lund@example.se'],
  ['it', 'Marco Bianchi\nCell. +39 333 123 4567\nmarco.bianchi@example.it\nwww.example.it'],
  ['pt', 'João Costa\n+351 912 345 678\njoao.costa@example.pt'],
];
for (const [index, [code, block]] of contacts.entries()) {
  const language = lang(code);
  const text = language.texts[index % 4] ?? '';
  add({
    name: `contact-signature-${code}-${index}`,
    description: `a signature that is only a contact block (name, title, phone, mail, web) at the end goes (${code})`,
    client: index % 2 ? 'outlook-desktop' : 'thunderbird',
    language: code,
    shape: 'contact-signature',
    subject: 'Update',
    parts: { plain: `${text}\n\n${block}\n` },
    text,
  });
}

// 8. Content the rules must not eat.
const kept: Array<[string, string]> = [
  ['en', 'I answered the ticket.\nSent from my desk, it is much easier than my phone.\nCall me if it is urgent.'],
  ['en', 'Click the arrow >>> next to Settings, then Export.'],
  ['en', 'Price moved 40 > 55 EUR per pallet, still ok?'],
  ['en', 'From tomorrow the gate code is 4471.\nSubject to change after the audit.'],
  ['de', 'Ab morgen gilt der neue Plan.\nVon: 7 Uhr bis 15 Uhr, An: Halle 2.'],
  ['fr', 'Envoyé de Lyon ce matin par transporteur, suivi 8842.'],
];
for (const [index, [code, text]] of kept.entries()) {
  add({
    name: `content-kept-${code}-${index}`,
    description: `words that look like a rule's trigger inside running text stay: ${JSON.stringify(text.slice(0, 50))}`,
    client: 'gmail-web',
    language: code,
    shape: 'content-kept',
    subject: 'Note',
    parts: { plain: `${text}\n`, html: `<div dir="ltr">${divs(text)}</div>\n` },
    text,
  });
}

// 9. Machine mail: runs of "Label: value" (often Date:) ending with contact lines, kept whole.
const alerts: Array<[string, string, string]> = [
  [
    'nagios',
    '** PROBLEM Service Alert: db1/Disk / is CRITICAL **',
    '***** Nagios *****\n\nNotification Type: PROBLEM\n\nService: Disk /\nHost: db1\nAddress: 10.0.4.21\nState: CRITICAL\n\nDate/Time: Fri Mar 20 08:48:12 CET 2026\n\nAdditional Info:\n\nDISK CRITICAL - free space: / 1843 MB (3% inode=91%)\n\nContact: ops-oncall\nPhone: +44 20 7946 0000\nhttps://nagios.example.com/nagios/',
  ],
  [
    'nagios',
    '** RECOVERY Host Alert: sw-core-2 is UP **',
    'Notification Type: RECOVERY\nHost: sw-core-2\nState: UP\nAddress: 10.0.0.2\nInfo: PING OK - Packet loss = 0%, RTA = 0.81 ms\n\nDate/Time: Fri Mar 20 09:02:40 CET 2026\n\nnoc@example.com\n+44 20 7946 0000',
  ],
  [
    'zabbix',
    'Problem: High CPU utilization on web3',
    'Problem started at 08:48:12 on 2026.03.20\nProblem name: High CPU utilization (over 90% for 5m)\nHost: web3\nSeverity: High\nOperational data: Current utilization: 97.3 %\nOriginal problem ID: 48213\n\nZabbix server: zbx.example.com\nOn call: +44 20 7946 0000',
  ],
  [
    'zabbix',
    'Resolved in 4m: Interface eth0 down on fw1',
    'Problem has been resolved at 08:52:30 on 2026.03.20\nProblem name: Interface eth0: Link down\nProblem duration: 4m 18s\nHost: fw1\nSeverity: Average\nOriginal problem ID: 48214',
  ],
  [
    'prometheus',
    '[FIRING:1] NodeFilesystemAlmostFull (node-7 /var critical)',
    'Labels:\n - alertname = NodeFilesystemAlmostFull\n - instance = node-7:9100\n - mountpoint = /var\n - severity = critical\nAnnotations:\n - summary = Filesystem /var on node-7 has 2% left\nStarts at: 2026-03-20 07:48:12 UTC\nSource: https://prometheus.example.com/graph?g0.expr=node_filesystem_avail_bytes\n\nRunbook: https://wiki.example.com/runbooks/disk\nSlack: #ops-alerts',
  ],
  [
    'prometheus',
    '[RESOLVED] KubePodCrashLooping (payments)',
    'Labels:\n - alertname = KubePodCrashLooping\n - namespace = payments\n - pod = api-7d9f8\nDate: 2026-03-20 08:58:00 UTC\nEnds at: 2026-03-20 08:57:41 UTC',
  ],
  [
    'icinga',
    'PROBLEM - mail01 - SMTP is CRITICAL',
    'Host: mail01\nService: SMTP\nState: CRITICAL\nDate: 2026-03-20 08:48:12 +0100\nOutput: connect to address 10.0.1.5 and port 25: Connection refused\n\nComment: [icingaadmin] escalate after 15 min\nContact: NOC\nnoc@example.com\n+49 30 1234567',
  ],
  [
    'voicemail',
    'New voicemail from +44 20 7946 0000',
    'From: +44 20 7946 0000\nTo: Reception (201)\nDate: Friday, 20 March 2026 08:48\nDuration: 0:42\nSubject: Voicemail',
  ],
  [
    'apc-ups',
    'UPS on battery: ups-rack3',
    'Name: ups-rack3\nLocation: Server room 2\nEvent: UPS: On battery power in response to an input power problem.\nDate: 03/20/2026\nTime: 08:48:12\n\nContact: facilities@example.com\nSerial: 5A1234X56789',
  ],
  [
    'grafana',
    '[Alerting] Queue depth high',
    'Alert: Queue depth high\nValue: 12843\nThreshold: 10000\nDashboard: https://grafana.example.com/d/queues\nDate: 2026-03-20 08:48:12\n\nTeam: Platform\nEscalation: +44 7700 900999',
  ],
];
for (const [index, [system, subject, body]] of alerts.entries()) {
  add({
    name: `alert-${system}-${index}`,
    description: `${system} alert: Label: value lines with a date and contact lines at the end, all kept`,
    client: system,
    language: 'en',
    shape: 'machine-alert',
    subject,
    parts: { plain: `${body}\n`, headers: [['Auto-Submitted', 'auto-generated']] },
    text: body,
  });
}

// 10. Forwards: the forwarded body is the content (the marker and forwarded headers go).
const forwards: Array<[string, 'gmail' | 'outlook' | 'apple' | 'outlook-web', string]> = [
  ['en', 'gmail', ''],
  ['en', 'apple', 'FYI, for tonight.'],
  ['de', 'outlook', 'Bitte heute noch erledigen.'],
  ['fr', 'outlook-web', ''],
  ['es', 'outlook', ''],
  ['nl', 'gmail', 'Zie hieronder.'],
  ['da', 'outlook', ''],
  ['pl', 'outlook-web', ''],
  ['it', 'gmail', ''],
  ['pt', 'outlook', 'Urgente.'],
  ['tr', 'gmail', ''],
  ['ru', 'outlook', ''],
  ['zh', 'gmail', ''],
  ['sv', 'outlook-web', ''],
];
for (const [index, [code, style, note]] of forwards.entries()) {
  const language = lang(code);
  const body = language.texts[(index % 3) + 1] ?? '';
  const subject = `${language.forwardPrefix} ${language.quoted[0]}`;
  let plain: string;
  if (style === 'gmail') {
    plain = `${note}\n\n${language.forward}\nFrom: ${ANA}\nDate: Tue, 20 Mar 2026 at 08:48\nSubject: ${language.quoted[0]}\nTo: ${BOB}\n\n\n${body}\n`;
  } else if (style === 'apple') {
    plain = `${note}\n\nBegin forwarded message:\n\nFrom: ${ANA}\nSubject: ${language.quoted[0]}\nDate: 20 March 2026 at 08:48:12 GMT+1\nTo: ${BOB}\n\n${body}\n`;
  } else if (style === 'outlook') {
    plain = `${note}\n\n-----Original Message-----\n${outlookBlock(language, String(language.quoted[0]))}\n\n${body}\n`;
  } else {
    plain = `${note}\n\n________________________________\n${outlookBlock(language, String(language.quoted[0]))}\n\n${body}\n`;
  }
  add({
    name: `forward-${style}-${code}-${index}`,
    description: `${style} forward ("${language.forwardPrefix}") in ${code}: the forwarded body is sent${note ? ' after the note' : ''}`,
    client: style === 'gmail' ? 'gmail-web' : style === 'apple' ? 'apple-mail' : style === 'outlook' ? 'outlook-desktop' : 'outlook-web',
    language: code,
    shape: 'forward',
    subject,
    parts: { plain: plain.replace(/^\n+/, '') },
    text: note ? `${note}\n\n${body}` : body,
  });
}

// 11. Exchange: a sign-off block above a disclaimer the relay does not know word for word.
const exchange: Array<[string, string, string]> = [
  ['en', 'Kind regards,\nAna Silva\nShift Supervisor\nExample Chemicals Ltd', 'This message (including any attachments) is intended only for the use of the individual or entity to which it is addressed and may contain information that is privileged, confidential and exempt from disclosure under applicable law. If you are not the intended recipient, you are hereby notified that any dissemination, distribution or copying of this communication is strictly prohibited.'],
  ['en', 'Best regards,\nTom Baker\nOperations Manager\nNorthwind Logistics plc\nT +44 20 7946 0111', 'Northwind Logistics plc is registered in England and Wales under number 01234567. Registered office: 1 Example Street, London. This email is intended solely for the addressee and may contain confidential information. If you have received it in error, please notify the sender and delete it.'],
  ['de', 'Mit freundlichen Grüßen\nJan Becker\nSchichtleitung\nBeispiel Chemie GmbH', 'Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie bitte sofort den Absender und vernichten Sie diese Mail. Das unerlaubte Kopieren sowie die unbefugte Weitergabe dieser Mail ist nicht gestattet.'],
  ['fr', 'Cordialement,\nClaire Martin\nResponsable d\'exploitation\nExemple SAS', 'Ce message et toutes les pièces jointes sont confidentiels et établis à l\'intention exclusive de ses destinataires. Toute utilisation ou diffusion non autorisée est interdite. Si vous avez reçu ce message par erreur, merci d\'en avertir immédiatement l\'expéditeur.'],
];
for (const [index, [code, signature, disclaimer]] of exchange.entries()) {
  const language = lang(code);
  const text = language.texts[3] ?? '';
  const wrappedDisclaimer = disclaimer.replace(/(.{1,76})(?:\s+|$)/g, '$1\n').trim();
  add({
    name: `exchange-signoff-above-disclaimer-${code}-${index}`,
    description: `Exchange mail: "${signature.split('\n')[0]}" block (name, title, company) above a disclaimer: both go (${code})`,
    client: 'outlook-desktop',
    language: code,
    shape: 'signature-disclaimer',
    subject: 'Shift handover',
    parts: { plain: `${text}\n\n${signature}\n\n${wrappedDisclaimer}\n`, headers: [['X-MS-Exchange-Organization-SCL', '-1']] },
    text,
  });
}

// 12. Nothing new: a reply that only quotes (refused), and subject-only alerts (still sent).
const empties: Array<[string, ClientName, string]> = [
  ['en', 'gmail-web', ''],
  ['de', 'outlook-web', ''],
  ['en', 'apple-mail', ''],
  ['fr', 'thunderbird', ''],
  ['en', 'outlook-desktop', 'Kind regards,\nAna'],
  ['es', 'gmail-mobile', ''],
];
for (const [index, [code, client, signature]] of empties.entries()) {
  const language = lang(code);
  const subject = `${language.replyPrefix} ${language.quoted[0]}`;
  add({
    name: `no-new-text-${client}-${code}-${index}`,
    description: `${client} reply with nothing above the quote${signature ? ' but a sign-off' : ''}: refused, the subject is not sent`,
    client,
    language: code,
    shape: 'no-new-text',
    subject,
    parts: { ...reply(client, { text: signature, quoted: language.quoted[0] ?? '', language, subject }), html: undefined },
    text: '',
    outcome: 'no-new-text',
  });
}
const subjectOnly: Array<[string, string]> = [
  ['Disk full on db1 (98%)', ''],
  ['Door 3 forced open', 'Sent from my iPhone'],
  ['Generator started: mains power lost', '\n\n'],
];
for (const [index, [subject, body]] of subjectOnly.entries()) {
  add({
    name: `subject-only-alert-${index}`,
    description: `alert whose body is ${body.trim() ? 'only a device line' : 'empty'}: the subject is the text`,
    client: index === 1 ? 'ios-mail' : 'alert-script',
    language: 'en',
    shape: 'subject-only',
    subject,
    parts: { plain: body },
    text: subject,
  });
}

// 13. Replies to the relay's own reply mails: thread-first finds the quoted copy of what it sent.
const RELAY_NUMBER = '+44 7700 900123';
const relayBody = (sms: string) =>
  `${sms}\n\n-- \nSMS from ${RELAY_NUMBER}, 2026-03-20T08:47:55Z\nReply to this mail to answer by SMS: only the text above your quote is sent.`;
const relayAttribution = 'On Fri, 20 Mar 2026 at 08:48, +44 7700 900123 <447700900123@sms.example.com> wrote:';
const threadCases: Array<{ code: string; client: string; sms: string; text: string; plain?: string; html?: string }> = [
  { code: 'en', client: 'outlook-desktop', sms: 'Where are you?', text: 'On my way, 10 minutes.' },
  { code: 'de', client: 'outlook-desktop', sms: 'Ist die Pumpe wieder an?', text: 'Ja, seit 8 Uhr.' },
  { code: 'fr', client: 'outlook-web', sms: 'Le camion est arrivé ?', text: 'Pas encore, il est bloqué au péage.' },
  { code: 'es', client: 'outlook-web', sms: '¿Puedes llamarme?', text: 'En cinco minutos.' },
  { code: 'en', client: 'gmail-web', sms: 'OK', text: 'OK, see you at 5 then.' },
  { code: 'en', client: 'gmail-mobile', sms: 'Gate is stuck again', text: 'Calling the technician now.' },
  { code: 'en', client: 'apple-mail', sms: 'Running late', text: 'No problem.' },
  { code: 'en', client: 'ios-mail', sms: 'Alarm in hall 2?', text: 'False alarm, reset it.' },
  { code: 'de', client: 'thunderbird', sms: 'Wer hat heute Bereitschaft?', text: 'Ich, bis 18 Uhr.' },
  { code: 'en', client: 'yahoo', sms: 'Delivery at gate 4', text: 'Thanks, sending someone.' },
  { code: 'en', client: 'proton', sms: 'Is the server back?', text: 'Yes, since 09:10.' },
  { code: 'en', client: 'mutt', sms: 'Need the code for the side door', text: 'It is 4471.' },
  { code: 'el', client: 'outlook-desktop', sms: 'Πού είσαι;', text: 'Έρχομαι σε δέκα λεπτά.' },
  { code: 'ro', client: 'outlook-web', sms: 'Ai ajuns?', text: 'Da, sunt la poartă.' },
  { code: 'vi', client: 'gmail-web', sms: 'Anh đến chưa?', text: 'Sắp đến rồi.' },
  { code: 'he', client: 'outlook-desktop', sms: 'איפה אתה?', text: 'בדרך, עוד עשר דקות.' },
  { code: 'en', client: 'webmail-blockquote', sms: 'Can you cover Saturday?', text: 'Yes, I can do the morning.' },
  { code: 'en', client: 'bluemail', sms: 'Truck 12 broke down near Leeds', text: 'Sending the spare truck.' },
  { code: 'en', client: 'mutt-rewrapped', sms: 'The pressure in line 3 dropped below 2 bar at 08:40 and the backup pump did not start, can you check the breaker in the east cabinet', text: 'Breaker was off, pump running now.' },
  { code: 'en', client: 'mutt-inline', sms: 'Which door? And how many pallets?', text: 'Door 2.\n\n14 pallets.' },
  { code: 'en', client: 'mutt-bottom', sms: 'Meeting moved to 3pm', text: 'Fine by me.' },
  { code: 'nl', client: 'outlook-desktop', sms: 'Is de koeling gerepareerd?', text: 'Ja, monteur is net weg.' },
];
const foreignBlocks: Record<string, [string, string, string, string]> = {
  el: ['Από', 'Στάλθηκε', 'Προς', 'Θέμα'],
  ro: ['De la', 'Trimis', 'Către', 'Subiect'],
  he: ['מאת', 'נשלח', 'אל', 'נושא'],
};
for (const [index, item] of threadCases.entries()) {
  const sent = relayBody(item.sms);
  const subject = `Re: SMS from ${RELAY_NUMBER} [UserContext: t${index}k]`;
  const relayFrom = `${RELAY_NUMBER} <447700900123@sms.example.com>`;
  let parts: Reply;
  const language = LANGUAGES.find((entry) => entry.code === item.code);
  const labels = foreignBlocks[item.code];
  if (labels) {
    const block = `${labels[0]}: ${relayFrom}\n${labels[1]}: 20/03/2026 08:48\n${labels[2]}: ${BOB}\n${labels[3]}: SMS from ${RELAY_NUMBER} [UserContext: t${index}k]`;
    parts = { plain: `${item.text}\n\n${item.client === 'outlook-web' ? '________________________________\n' : ''}${block}\n\n${sent}\n` };
  } else if (item.code === 'vi') {
    parts = { plain: `${item.text}\n\nVào Th 6, 20 thg 3, 2026 vào lúc 08:48 ${RELAY_NUMBER} <447700900123@sms.example.com> đã viết:\n\n${sent}\n` };
  } else if (item.client === 'webmail-blockquote') {
    parts = { html: `<html><body><p>${escapeHtml(item.text)}</p><p>${escapeHtml(relayFrom)} schrieb am 20.03.2026 08:48:</p><blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex"><pre>${escapeHtml(sent)}</pre></blockquote></body></html>` };
  } else if (item.client === 'bluemail') {
    parts = { plain: `${item.text}\n\nOn 20 Mar 2026, at 08:48, ${RELAY_NUMBER} wrote:\n${sent}\n` };
  } else if (item.client === 'mutt-rewrapped') {
    const rewrapped = sent.replace(/(.{1,60})(?:\s+|$)/g, '$1\n').trim();
    parts = { plain: `${item.text}\n\nQuoting ${relayFrom}:\n\n${quote(rewrapped)}\n` };
  } else if (item.client === 'mutt-inline') {
    parts = { plain: `* ${relayFrom} [2026-03-20 08:48]:\n> Which door?\n\nDoor 2.\n\n> And how many pallets?\n\n14 pallets.\n\n> \n> -- \n> SMS from ${RELAY_NUMBER}, 2026-03-20T08:47:55Z\n> Reply to this mail to answer by SMS: only the text above your quote is sent.\n` };
  } else if (item.client === 'mutt-bottom') {
    parts = { plain: `* ${relayFrom} [2026-03-20 08:48]:\n${quote(sent)}\n\n${item.text}\n` };
  } else {
    parts = reply(item.client as ClientName, { text: item.text, quoted: sent, language: language ?? lang('en'), subject: `SMS from ${RELAY_NUMBER}`, attribution: item.client === 'mutt' ? `* ${relayFrom} [2026-03-20 08:48]:` : relayAttribution });
  }
  add({
    name: `thread-${item.client}-${item.code}-${index}`,
    description: `${item.client} reply (${item.code}) to the relay's reply mail "${item.sms}": the quoted copy of what the relay sent is found and cut`,
    client: item.client,
    language: item.code,
    shape: 'thread',
    subject,
    parts,
    text: item.text,
    answers: sent,
    to: '447700900123@sms.example.com',
    inReplyTo: `<019d0a1b-2c3d-7e4f-8a9b-${String(index).padStart(12, '0')}@sms.example.com>`,
  });
}

/** Whitespace as an SMS carries it (README: lines trimmed, inner runs one space, at most one blank line). */
function asOnThePhone(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// Write: sorted by name, every fifth held back.
rmSync(`${DIR}tuning`, { recursive: true, force: true });
rmSync(`${DIR}held-back`, { recursive: true, force: true });
mkdirSync(`${DIR}tuning`);
mkdirSync(`${DIR}held-back`);
const names = new Set<string>();
const sorted = fixtures.toSorted((a, b) => (a.name < b.name ? -1 : 1));
for (const [index, fixture] of sorted.entries()) {
  if (names.has(fixture.name)) throw new Error(`duplicate fixture ${fixture.name}`);
  names.add(fixture.name);
  const folder = index % 5 === 4 ? 'held-back' : 'tuning';
  const transfer = /[\u0400-\u04ff\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af\u0370-\u03ff\u0590-\u05ff]/.test(`${fixture.parts.plain ?? ''}${fixture.parts.html ?? ''}`) ? 'base64' : 'quoted-printable';
  const raw = buildMail(
    {
      headers: [
        ['From', fixture.from ?? BOB],
        ['To', fixture.to ?? '447700900123@sms.example.com'],
        ['Subject', fixture.subject],
        ['Date', 'Fri, 20 Mar 2026 09:02:11 +0100'],
        ['Message-ID', `<${fixture.name}.${index}@mail.example.org>`],
        ...(fixture.inReplyTo ? ([['In-Reply-To', fixture.inReplyTo], ['References', fixture.inReplyTo]] as const) : []),
        ...(fixture.parts.headers ?? []),
      ],
      plain: fixture.parts.plain,
      html: fixture.parts.html,
      transfer,
      flowed: fixture.parts.flowed ?? false,
    },
    index.toString(16).padStart(8, '0'),
  );
  writeFileSync(`${DIR}${folder}/${fixture.name}.eml`, raw);
  const { name: _name, parts: _parts, subject: _subject, to: _to, inReplyTo: _inReplyTo, from: _from, ...expected } = fixture;
  writeFileSync(`${DIR}${folder}/${fixture.name}.json`, `${JSON.stringify({ ...expected, text: asOnThePhone(expected.text) }, null, 2)}\n`);
}
console.log(`${sorted.length} fixtures: ${sorted.length - Math.floor(sorted.length / 5)} tuning, ${Math.floor(sorted.length / 5)} held back`);

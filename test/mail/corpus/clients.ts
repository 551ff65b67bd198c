/**
 * How each mail client writes a reply: where the new text goes, how the mail answered is quoted
 * (attribution, header block, `>` prefixes, HTML elements), which headers it adds. Each function
 * returns the text parts and headers of one reply; generate.ts puts them in a mail.
 */
import type { Language } from './languages.ts';
import { divs, escapeHtml, quote } from './mime.ts';

export const ANA = 'Ana Silva <ana.silva@example.com>';
export const BOB = 'Bob Jones <bob.jones@example.org>';

export interface Reply {
  readonly plain?: string;
  readonly html?: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly flowed?: boolean;
}

/** What a reply needs: the new text, the text answered and its attribution/header block wording. */
export interface ReplyInput {
  readonly text: string;
  readonly quoted: string;
  readonly language: Language;
  readonly subject: string;
  /** Overrides the language's attribution line (date-first, wrapped, Zoho…). */
  readonly attribution?: string;
  /** Bottom-posted: the quote first. */
  readonly bottom?: boolean;
}

export type ClientName =
  | 'gmail-web'
  | 'gmail-mobile'
  | 'apple-mail'
  | 'ios-mail'
  | 'thunderbird'
  | 'yahoo'
  | 'proton'
  | 'outlook-desktop'
  | 'outlook-web'
  | 'mutt'
  | 'samsung-email'
  | 'zoho';

export const REPLY_CLIENTS: readonly ClientName[] = [
  'gmail-web',
  'outlook-desktop',
  'apple-mail',
  'thunderbird',
  'outlook-web',
  'gmail-mobile',
  'ios-mail',
  'yahoo',
  'proton',
  'mutt',
  'samsung-email',
  'zoho',
];

const YAHOO: Record<string, string> = {
  en: 'On Tuesday, March 20, 2026 at 08:48:12 AM GMT+1, Ana Silva <ana.silva@example.com> wrote:',
  de: 'Am Dienstag, 20. März 2026 um 08:48:12 MEZ hat Ana Silva <ana.silva@example.com> Folgendes geschrieben:',
  fr: 'Le mardi 20 mars 2026 à 08:48:12 UTC+1, Ana Silva <ana.silva@example.com> a écrit :',
  es: 'El martes, 20 de marzo de 2026, 08:48:12 CET, Ana Silva <ana.silva@example.com> escribió:',
  it: 'Il martedì 20 marzo 2026 alle ore 08:48:12 CET, Ana Silva <ana.silva@example.com> ha scritto:',
};

export function outlookBlock(language: Language, subject: string, separator = ': '): string {
  const [from, sent, to, subjectLabel, date] = language.outlook;
  const sep = language.code === 'fr' ? ' : ' : separator;
  return [`${from}${sep}${ANA}`, `${sent}${sep}${date}`, `${to}${sep}${BOB}`, `${subjectLabel}${sep}${subject}`].join('\n');
}

function outlookHtmlBlock(language: Language, subject: string): string {
  const [from, sent, to, subjectLabel, date] = language.outlook;
  const sep = language.code === 'fr' ? ' :' : ':';
  return `<b>${from}${sep}</b> ${escapeHtml(ANA)}<br>\n<b>${sent}${sep}</b> ${date}<br>\n<b>${to}${sep}</b> ${escapeHtml(BOB)}<br>\n<b>${subjectLabel}${sep}</b> ${escapeHtml(subject)}`;
}

function paragraphs(text: string): string {
  return text
    .split('\n')
    .map((line) => `<p class="MsoNormal">${line === '' ? '<o:p>&nbsp;</o:p>' : `${escapeHtml(line)}<o:p></o:p>`}</p>`)
    .join('\n');
}

function both(top: string, bottom: string, input: ReplyInput): string {
  return input.bottom ? `${bottom}\n\n${top}\n` : `${top}\n\n${bottom}\n`;
}

export function reply(client: ClientName, input: ReplyInput): Reply {
  const { text, quoted, language } = input;
  const attribution = input.attribution ?? language.gmail;
  switch (client) {
    case 'gmail-web':
      return {
        plain: both(text, `${attribution}\n\n${quote(quoted)}\n>`, input),
        html: `<div dir="ltr">${divs(text)}</div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">${escapeHtml(attribution)}<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">${divs(quoted)}</blockquote></div>\n`,
      };
    case 'gmail-mobile':
      return {
        plain: both(text, `${attribution}\n\n${quote(quoted)}\n>\n`, input),
        html: `<div dir="auto">${escapeHtml(text).replace(/\n/g, '<div dir="auto"><br></div>')}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">${escapeHtml(attribution)}<br></div><blockquote class="gmail_quote" style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">${divs(quoted)}</blockquote></div>\n`,
      };
    case 'apple-mail': {
      const apple = input.attribution ?? language.apple;
      return {
        // Apple Mail quotes its own attribution: it is the first line of the cite.
        plain: both(text, quote(`${apple}\n\n${quoted}`), input),
        html: `<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">${divs(text)}<div><br><blockquote type="cite"><div>${escapeHtml(apple)}</div><br><div><div>${divs(quoted)}</div></div></blockquote></div><br></body></html>`,
        headers: [['X-Mailer', 'Apple Mail (2.3826.400.131.1.6)']],
        flowed: true,
      };
    }
    case 'ios-mail': {
      const apple = input.attribution ?? language.apple;
      return {
        plain: `${text}\n\n${language.iphone}\n\n${quote(`${apple}\n\n${quoted}`)}\n`,
        html: `<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body dir="auto">${divs(text)}<div><br><div dir="ltr">${escapeHtml(language.iphone)}</div><div dir="ltr"><br><blockquote type="cite">${escapeHtml(apple)}<br><br></blockquote></div><blockquote type="cite"><div dir="ltr">${divs(quoted)}</div></blockquote></div></body></html>`,
        headers: [['X-Mailer', 'iPhone Mail (22E240)']],
      };
    }
    case 'thunderbird': {
      const attributionTb = input.attribution ?? language.thunderbird;
      return {
        plain: both(text, `${attributionTb}\n${quote(quoted)}`, input),
        html: `<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\n  </head>\n  <body>\n    <p>${escapeHtml(text).replace(/\n/g, '<br>\n')}</p>\n    <div class="moz-cite-prefix">${escapeHtml(attributionTb)}<br>\n    </div>\n    <blockquote type="cite" cite="mid:0d3a5c8e-1f2b@example.com">${escapeHtml(quoted).replace(/\n/g, '<br>\n')}</blockquote>\n  </body>\n</html>\n`,
        headers: [['User-Agent', 'Mozilla Thunderbird']],
        flowed: true,
      };
    }
    case 'yahoo': {
      const attributionY = input.attribution ?? YAHOO[language.code] ?? YAHOO['en'] ?? '';
      return {
        // Yahoo's text/plain indents the attribution and leaves the quote unprefixed.
        plain: `${text}\n\n    ${attributionY}  \n \n ${quoted.split('\n').join('\n ')}\n`,
        html: `<html><head></head><body><div class="ydp1c2d3e4fyahoo-style-wrap" style="font-family:Helvetica Neue, Helvetica, Arial, sans-serif;font-size:13px;">${divs(text)}<div><br></div></div><div id="ydp5e6f7a8byahoo_quoted_1234567890" class="ydp5e6f7a8byahoo_quoted"><div style="font-family:'Helvetica Neue', Helvetica, Arial, sans-serif;font-size:13px;color:#26282a;"><div>${escapeHtml(attributionY)}</div><div><br></div><div><br></div><div><div dir="ltr">${divs(quoted)}</div></div></div></div></body></html>`,
        headers: [['X-Mailer', 'WebService/1.1.23369 YMailNorrin']],
      };
    }
    case 'proton': {
      const attributionP = input.attribution ?? 'On Tuesday, March 20th, 2026 at 08:48, Ana Silva <ana.silva@example.com> wrote:';
      return {
        plain: `${text}\n\nSent with Proton Mail secure email.\n\n${attributionP}\n\n${quote(quoted)}\n`,
        html: `<div style="font-family: Arial, sans-serif; font-size: 14px;">${divs(text)}</div><div style="font-family: Arial, sans-serif; font-size: 14px;"><br></div>\n<div class="protonmail_signature_block" style="font-family: Arial, sans-serif; font-size: 14px;">\n    <div class="protonmail_signature_block-proton">\n        Sent with <a target="_blank" href="https://proton.me/mail/home">Proton Mail</a> secure email.\n    </div>\n</div>\n<div class="protonmail_quote">\n        ${escapeHtml(attributionP)}<br><br>\n        <blockquote class="protonmail_quote" type="cite">\n            ${divs(quoted)}\n        </blockquote><br>\n    </div>`,
      };
    }
    case 'outlook-desktop':
      return {
        plain: `${text}\n\n${outlookBlock(language, input.subject)}\n\n${quoted}\n`,
        html: `<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt;} --></style></head><body lang="EN-GB" link="#0563C1"><div class="WordSection1">${paragraphs(text)}\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n<div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal">${outlookHtmlBlock(language, input.subject)}<o:p></o:p></p></div></div>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n${paragraphs(quoted)}</div></body></html>`,
        headers: [['X-Mailer', 'Microsoft Outlook 16.0'], ['Thread-Index', 'AQHbmZ0rX1y2Z3a4b5c6d7e8f9g0hA=='], ['Content-Language', `${language.code}`]],
      };
    case 'outlook-web':
      return {
        plain: `${text}\n\n________________________________\n${outlookBlock(language, input.subject)}\n\n${quoted}\n`,
        html: `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head><body dir="ltr"><div class="elementToProof" style="font-family: Aptos, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">${escapeHtml(text).replace(/\n/g, '<br>')}</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">${outlookHtmlBlock(language, input.subject)}</font><div>&nbsp;</div></div><div>${escapeHtml(quoted).replace(/\n/g, '<br>')}</div></body></html>`,
        headers: [['Thread-Index', 'AQHbmZ0rX1y2Z3a4b5c6d7e8f9g0hB=='], ['Content-Language', `${language.code}`]],
      };
    case 'mutt':
      return {
        plain: both(text, `${input.attribution ?? '* Ana Silva <ana.silva@example.com> [2026-03-20 08:48 +0100]:'}\n${quote(quoted)}`, input),
        headers: [['User-Agent', 'NeoMutt/20250113']],
      };
    case 'samsung-email': {
      const [from, sent, to, subjectLabel] = language.outlook;
      return {
        plain: `${text}\n\n\nSent from my Galaxy\n\n\n-------- Original message --------\n${from}: ${ANA} \n${language.code === 'en' ? 'Date' : sent}: 20/03/2026 08:48 (GMT+01:00) \n${to}: ${BOB} \n${subjectLabel}: ${input.subject} \n\n${quoted}\n`,
        html: `<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body><div dir="auto">${escapeHtml(text).replace(/\n/g, '<br>')}</div><div dir="auto"><br></div><div dir="auto"><br></div><div id="composer_signature" dir="auto"><div style="font-size:12px;color:#575757" dir="auto">Sent from my Galaxy</div></div><div dir="auto"><br></div><div><br></div><div align="left" dir="auto" style="font-size:100%;color:#000000"><div>-------- Original message --------</div><div>${from}: ${escapeHtml(ANA)} </div><div>${language.code === 'en' ? 'Date' : sent}: 20/03/2026 08:48 (GMT+01:00) </div><div>${to}: ${escapeHtml(BOB)} </div><div>${subjectLabel}: ${escapeHtml(input.subject)} </div><div><br></div></div>${divs(quoted)}</body></html>`,
      };
    }
    case 'zoho':
      return {
        plain: `${text}\n\n\n\n---- ${input.attribution ?? 'On Tue, 20 Mar 2026 08:48:12 +0100 Ana Silva <ana.silva@example.com> wrote'} ----\n\n${quoted}\n\n\n`,
        headers: [['User-Agent', 'Zoho Mail']],
      };
  }
}

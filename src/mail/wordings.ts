/**
 * The words mail clients write around a person's text, as data: the rules in strip.ts recognise
 * structure (a date or an address ending in a colon above a quote, a run of header lines, a short
 * last line) and use these lists only to tell a client's line from a person's. Adding a language is
 * adding its words here.
 */

/** A regular-expression alternation matching any of `words` literally. */
export function anyOf(words: readonly string[]): string {
  return words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/** Verbs (and their particles) of reply attributions: "wrote", in the languages clients write. */
export const ATTRIBUTION_VERBS: readonly string[] = [
  'wrote', 'writes', 'quoting', 'schrieb', 'schreibt', 'geschrieben', 'skrev', 'écrit', 'escribió', 'scritto', 'escreveu',
  'schreef', 'geschreven', 'napisał', 'napisała', 'napisał(a)', 'pisze', 'kirjoitti', 'írta', 'написал', 'написала',
  'написал(а)', 'пишет', 'пише', 'написав', 'napsal', 'napsala', 'napsal(a)', 'yazdı', 'escriure', 'escrit', 'wrote:',
  '写道', '寫道', 'のメール', '작성', '쓴 글', 'đã viết', 'έγραψε', 'כתב', 'a scris', 'kirjutas', 'rašė', 'rakstīja',
];

/** Header-block labels of the mail replied to or forwarded, by role, in the languages clients write. */
export const HEADER_LABELS = {
  from: [
    'From', 'Von', 'De', 'Van', 'Da', 'Från', 'Fra', 'Od', 'Lähettäjä', 'Feladó', 'От', 'Від', '差出人', '보낸 사람',
    '发件人', '寄件者', 'Kimden', 'De la', 'Από', 'מאת', 'Afzender', 'Nadawca', 'Odesílatel', 'Remitente', 'Mittente',
    'Expéditeur', 'Absender', 'Frá', 'Saatja', 'Nuo', 'No', 'Pošiljatelj', 'Від кого',
  ],
  sent: [
    'Sent', 'Date', 'Gesendet', 'Datum', 'Envoyé', 'Date d\'envoi', 'Enviado', 'Enviado el', 'Verzonden', 'Verstuurd', 'Skickat',
    'Sendt', 'Inviato', 'Data', 'Wysłano', 'Wysłane', 'Lähetetty', 'Päivämäärä', 'Elküldve', 'Dátum', 'Отправлено',
    'Дата', 'Надіслано', '送信日時', '日付', '보낸 날짜', '날짜', '发送时间', '日期', '寄件日期', 'Gönderildi', 'Tarih',
    'Enviat', 'Odesláno', 'Trimis', 'Στάλθηκε', 'Ημερομηνία', 'נשלח', 'תאריך', 'Fecha', 'Sent at',
  ],
  to: [
    'To', 'An', 'À', 'A', 'Para', 'Aan', 'Till', 'Til', 'Do', 'Vastaanottaja', 'Címzett', 'Кому', '宛先', '받는 사람',
    '收件人', '收件者', 'Kime', 'Per a', 'Komu', 'Către', 'Προς', 'אל', 'Cc', 'CC', 'Bcc', 'Kopie', 'Kopia', 'Kopi',
    'Kopio', 'Копия', 'Копія', '抄送', '副本', '참조', 'Bilgi', 'A/c', 'DW', 'Másolatot kap', 'Másolat', 'Κοιν', 'עותק',
    'Per', 'Destinatario', 'Destinatário', 'Ontvanger', 'Mottagare',
  ],
  subject: [
    'Subject', 'Betreff', 'Objet', 'Asunto', 'Oggetto', 'Assunto', 'Onderwerp', 'Ämne', 'Emne', 'Aihe', 'Temat', 'Tárgy',
    'Тема', '件名', '제목', '主题', '主旨', 'Konu', 'Assumpte', 'Předmět', 'Subiect', 'Θέμα', 'נושא', 'Tema', 'Sujet',
    'Efni', 'Teema', 'Priority', 'Importance', 'Wichtigkeit', 'Priorité',
  ],
} as const;

/** Markers above a copy of the mail answered ("-----Original Message-----") or forwarded. */
export const ORIGINAL_MESSAGE = [
  'Original Message', 'Original message', 'Ursprüngliche Nachricht', 'Originalnachricht', 'Message d\'origine', 'Message original',
  'Mensaje original', 'Messaggio originale', 'Mensagem original', 'Oorspronkelijk bericht', 'Origineel bericht',
  'Ursprungligt meddelande', 'Originalmeddelande', 'Oprindelig meddelelse', 'Opprinnelig melding', 'Alkuperäinen viesti',
  'Wiadomość oryginalna', 'Oryginalna wiadomość', 'Eredeti üzenet', 'Исходное сообщение', 'Оригінальне повідомлення',
  'Původní zpráva', 'Özgün ileti', 'Orijinal mesaj', 'Missatge original', '原始邮件', '原始郵件', '元のメッセージ', '원본 메시지',
  'Αρχικό μήνυμα', 'Mesaj original', 'הודעה מקורית',
];

/** Markers of a forwarded message. */
export const FORWARD_MARKERS = [
  'Forwarded message', 'Forwarded Message', 'Begin forwarded message', 'Weitergeleitete Nachricht', 'Anfang der weitergeleiteten Nachricht',
  'Message transféré', 'Début du message réexpédié', 'Début du message transféré', 'Mensaje reenviado', 'Inicio del mensaje reenviado',
  'Messaggio inoltrato', 'Inizio messaggio inoltrato', 'Mensagem encaminhada', 'Início da mensagem reencaminhada',
  'Doorgestuurd bericht', 'Begin doorgestuurd bericht', 'Vidarebefordrat meddelande', 'Videresendt meddelelse',
  'Videresendt melding', 'Välitetty viesti', 'Przekazana wiadomość', 'Wiadomość przekazana dalej', 'Továbbított üzenet',
  'Пересылаемое сообщение', 'Пересланное сообщение', 'Пересланий лист', 'Переслане повідомлення', 'Přeposlaná zpráva',
  'İletilen ileti', 'Missatge reenviat', '転送されたメッセージ', '전달된 메시지', '전달된 메일', '转发的邮件', '轉寄的郵件',
  'Προωθημένο μήνυμα', 'Mesaj redirecționat', 'הודעה שהועברה',
];

/** Subject prefixes clients write for a forward (before the colon). */
export const FORWARD_PREFIXES = [
  'fw', 'fwd', 'wg', 'tr', 'rv', 'i', 'enc', 'doorst', 'vb', 'vl', 'pd', 'pdf', 'ilt', 'İlt', 'fs', 'továbbítás', 'továbbított',
  'пересл', 'fwd.', 'trs', 'reenv', 'wtr', 'přeposl', '转发', '轉寄', '転送', '전달', 'doorgestuurd',
];

/** "VS:" forwards in Danish and Norwegian and replies in Finnish: a forward only with a forward marker. */
export const AMBIGUOUS_PREFIXES = ['vs'];

/** Subject prefixes clients write for a reply (before the colon). */
export const REPLY_PREFIXES = [
  're', 'aw', 'sv', 'vs', 'antw', 'antwort', 'réf', 'ref', 'rif', 'r', 'odp', 'vá', 'ynt', 'сс', 'отв', 'ответ', 'відп', 'ha',
  'atb', 'svar', 'res', 'resp', '回复', '回覆', '답장', 'vast',
];

/**
 * "Sent from my iPhone" and kin: the last line of a mail that begins (or, where the language puts
 * the verb last, ends) with one of these is the client's, not the writer's.
 */
export const DEVICE_LINE_STARTS = [
  'Sent from', 'Sent via', 'Sent with', 'Sent using', 'Sent by', 'Get Outlook for', 'Download Outlook for', 'Von meinem', 'Gesendet von',
  'Gesendet mit', 'Gesendet vom', 'Envoyé de', 'Envoyé depuis', 'Envoyé avec', 'Enviado desde', 'Enviado de', 'Enviado do', 'Enviado con',
  'Enviado com', 'Enviado a partir', 'Verzonden vanaf', 'Verzonden met', 'Verstuurd vanaf', 'Verstuurd met', 'Skickat från',
  'Skickat med', 'Sendt fra', 'Sendt med', 'Inviato da', 'Inviato dal', 'Inviato con', 'Wysłane z', 'Wysłano z', 'Lähetetty',
  'Отправлено с', 'Отправлено из', 'Надіслано з', 'Odesláno z', 'Odesláno ze', 'Enviat des de', 'Enviat amb', 'Enviat des del',
  '发自我的', '从我的', '寄件者：我的', 'Küldve', 'Az iPhone', 'Trimis de pe', 'Στάλθηκε από', 'נשלח מ',
];
export const DEVICE_LINE_ENDS = ['gesendet', 'gesendet.', 'küldve', 'küldve.', 'gönderildi', 'gönderildi.', 'から送信', 'より送信', '에서 보냄', '에서 보냄.', '에서 보냈습니다', 'より'];

/** Closing words that start a signature block (the name, title and company under them go too). */
export const SIGN_OFFS = [
  'regards', 'kind regards', 'best regards', 'warm regards', 'warmest regards', 'with kind regards', 'many regards', 'best wishes',
  'cheers', 'mit freundlichen grüßen', 'mit freundlichen grüssen', 'freundliche grüße', 'viele grüße', 'liebe grüße', 'beste grüße',
  'cordialement', 'bien cordialement', 'bien à vous', 'salutations', 'saludos', 'un saludo', 'saludos cordiales', 'atentamente',
  'cordiali saluti', 'distinti saluti', 'saluti', 'atenciosamente', 'cumprimentos', 'com os melhores cumprimentos',
  'met vriendelijke groet', 'met vriendelijke groeten', 'vriendelijke groet', 'vriendelijke groeten', 'med vänliga hälsningar',
  'vänliga hälsningar', 'mvh', 'med venlig hilsen', 'venlig hilsen', 'med vennlig hilsen', 'vennlig hilsen', 'ystävällisin terveisin',
  'terveisin', 'pozdrawiam', 'z poważaniem', 'üdvözlettel', 'tisztelettel', 'с уважением', 'з повагою', 's pozdravem',
  'saygılarımla', 'salutacions', 'cordialment', 'με εκτίμηση', 'cu stimă', 'best', 'thanks and regards', 'regards and thanks',
];

/** Line openings of the legal text companies append to every mail. */
export const DISCLAIMER_OPENINGS: readonly string[] = [
  'This e-mail and any attachments',
  'This email and any attachments',
  'This message and any attachments',
  'This e-mail is confidential',
  'This email is confidential',
  'CONFIDENTIALITY NOTICE',
  'DISCLAIMER',
  'The information contained in this e-mail',
  'The information contained in this email',
  'The information contained in this message',
  'The information in this e-mail',
  'The information in this email',
  'Please consider the environment before printing',
];

/** Words of a disclaimer paragraph: a long paragraph below a signature with one of these is legal text. */
export const DISCLAIMER_WORDS = [
  'confidential', 'privileged', 'intended recipient', 'intended solely', 'intended only', 'registered in', 'registered office',
  'vertraulich', 'irrtümlich', 'nicht der richtige adressat', 'confidentiel', 'destinataires', 'confidencial', 'riservat',
  'vertrouwelijk', 'konfidentiell', 'fortrolig', 'luottamuksellinen', 'poufn', 'bizalmas', 'конфиденциальн', 'důvěrn', 'gizli',
];

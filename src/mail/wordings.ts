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

/**
 * Turkish's dotted capital İ and dotless small ı as the plain i: a case-insensitive regular expression
 * does not fold them (U+0130 has no simple case folding), so Outlook's "Özgün İleti" would not match
 * "Özgün ileti". One unit for one, so positions in the text stay. Applied to the words and to the text.
 */
export function withTurkishI(text: string): string {
  return text.replace(/[İı]/g, 'i');
}

/** Verbs (and their particles) of reply attributions: "wrote", in the languages clients write. */
export const ATTRIBUTION_VERBS: readonly string[] = [
  'wrote',
  'writes',
  'quoting',
  'schrieb',
  'schreibt',
  'geschrieben',
  'skrev',
  'écrit',
  'escribió',
  'scritto',
  'escreveu',
  'schreef',
  'geschreven',
  'napisał',
  'napisała',
  'napisał(a)',
  'pisze',
  'kirjoitti',
  'írta',
  'написал',
  // The Bat!'s Russian attribution: "Вы писали 7 декабря 2026 г., 5:32:33:".
  'писал',
  'написала',
  'написал(а)',
  'пишет',
  'пише',
  'написав',
  'napsal',
  'napsala',
  'napsal(a)',
  'yazdı',
  'escriure',
  'escrit',
  'wrote:',
  '写道',
  '寫道',
  'のメール',
  // Thunderbird's Japanese attribution: "Bob Jones さんは書きました:".
  'さんは書きました',
  '작성',
  '쓴 글',
  'đã viết',
  'έγραψε',
  'כתב',
  'a scris',
  'kirjutas',
  'rašė',
  'rakstīja',
];

/**
 * The date label of Outlook's header block in the languages it writes: its "Sent" (a verb of sending,
 * or "sent date": 送信日時, 보낸 날짜, تاريخ الإرسال). Only Outlook writes these above a mail's text; a
 * notice's or web form's own date field is "Date" or its word (the rest of HEADER_LABELS.sent).
 */
export const OUTLOOK_SENT_LABELS = [
  'Sent',
  'Gesendet',
  'Envoyé',
  'Enviado',
  'Enviado el',
  'Verzonden',
  'Skickat',
  'Sendt',
  'Inviato',
  'Wysłano',
  'Wysłane',
  'Lähetetty',
  'Elküldve',
  'Отправлено',
  'Надіслано',
  '送信日時',
  '보낸 날짜',
  '发送时间',
  '寄件日期',
  'Gönderildi',
  'Enviat',
  'Odesláno',
  'Trimis',
  'Στάλθηκε',
  'נשלח',
  'تاريخ الإرسال',
  'ارسال شده',
  'Đã gửi',
  'Dikirim',
  'ส่ง',
  'Poslano',
  'Poslato',
  'Odoslané',
  'Изпратено',
  'Išsiųsta',
  'Nosūtīts',
  'Saadetud',
  'Noiz',
  // Malay, Kazakh, Serbian and Macedonian Cyrillic, Albanian, Azerbaijani, Welsh, Irish, Georgian
  'Dihantar',
  'Жіберілді',
  'Послато',
  'Испратено',
  'Dërguar',
  'Göndərilib',
  'Anfonwyd',
  'Seolta',
  'გაგზავნილია',
];

/** Header-block labels of the mail replied to or forwarded, by role, in the languages clients write. */
export const HEADER_LABELS = {
  from: [
    'From',
    'Von',
    'De',
    'Van',
    'Da',
    'Från',
    'Fra',
    'Od',
    'Lähettäjä',
    'Feladó',
    'От',
    'Від',
    '差出人',
    '보낸 사람',
    // Gmail's forwarded header in Korean and Turkish localises only this label
    '보낸사람',
    'Gönderen',
    '发件人',
    '寄件者',
    'Kimden',
    'De la',
    'Από',
    'מאת',
    'Afzender',
    'Nadawca',
    'Odesílatel',
    'Remitente',
    'Mittente',
    'Expéditeur',
    'Absender',
    'Frá',
    'Saatja',
    'Nuo',
    'No',
    'Pošiljatelj',
    'Від кого',
    'من',
    'از',
    'Từ',
    'Dari',
    'จาก',
    'Šalje',
    'Nork',
    // Malay, Kazakh, Serbian and Macedonian Cyrillic, Azerbaijani, Welsh, Georgian (Albanian's "Nga" and
    // Irish's "Ó" are everyday words: their blocks are known by an address and a date, see quoteHeaderStart)
    'Daripada',
    'Кімнен',
    'Од',
    'Kimdən',
    'Oddi wrth',
    'გამგზავნი',
  ],
  sent: [
    ...OUTLOOK_SENT_LABELS,
    'Date',
    'Datum',
    "Date d'envoi",
    'Verstuurd',
    'Data',
    'Päivämäärä',
    'Dátum',
    'Дата',
    '日付',
    '날짜',
    '日期',
    'Tarih',
    'Ημερομηνία',
    'תאריך',
    'Fecha',
    'Sent at',
    // Thunderbird's forwarded header's date in Danish and Norwegian, and in Arabic
    'Dato',
    'التاريخ',
  ],
  to: [
    'To',
    'An',
    'À',
    // Thunderbird's French "To"
    'Pour',
    'A',
    'Para',
    'Aan',
    'Till',
    'Til',
    'Do',
    'Vastaanottaja',
    'Címzett',
    'Кому',
    '宛先',
    '받는 사람',
    '收件人',
    '收件者',
    'Kime',
    'Per a',
    'Komu',
    'Către',
    'Προς',
    'אל',
    'Cc',
    'CC',
    'Bcc',
    'Kopie',
    'Kopia',
    'Kopi',
    'Kopio',
    'Копия',
    'Копія',
    '抄送',
    '副本',
    '참조',
    'Bilgi',
    'A/c',
    'DW',
    'Másolatot kap',
    'Másolat',
    'Κοιν',
    'עותק',
    'Per',
    'Destinatario',
    'Destinatário',
    'Ontvanger',
    'Mottagare',
    'إلى',
    'نسخة',
    'به',
    'Đến',
    'Kepada',
    'ถึง',
    'Prima',
    'Za',
    'Kam',
    'До',
    'Adressaat',
    'Nori',
    // Kazakh, Azerbaijani, Irish, Georgian
    'Кімге',
    'Kimə',
    'Chuig',
    'მიმღები',
  ],
  subject: [
    'Subject',
    'Betreff',
    'Objet',
    'Asunto',
    'Oggetto',
    'Assunto',
    'Onderwerp',
    'Ämne',
    'Emne',
    'Aihe',
    'Temat',
    'Tárgy',
    'Тема',
    '件名',
    '제목',
    '主题',
    '主旨',
    'Konu',
    'Assumpte',
    'Předmět',
    'Subiect',
    'Θέμα',
    'נושא',
    'Tema',
    'Sujet',
    'Efni',
    'Teema',
    'الموضوع',
    'موضوع',
    'Chủ đề',
    'Perihal',
    'Subjek',
    'เรื่อง',
    'Predmet',
    'Zadeva',
    'Tēma',
    'Gaia',
    // Kazakh, Albanian, Azerbaijani, Welsh, Irish, Georgian
    'Тақырып',
    'Subjekti',
    'Mövzu',
    'Pwnc',
    'Ábhar',
    'თემა',
    'Priority',
    'Importance',
    'Wichtigkeit',
    'Priorité',
  ],
} as const;

/** Markers above a copy of the mail answered ("-----Original Message-----") or forwarded. */
export const ORIGINAL_MESSAGE = [
  'Original Message',
  'Original message',
  'Ursprüngliche Nachricht',
  'Originalnachricht',
  "Message d'origine",
  'Message original',
  'Mensaje original',
  'Messaggio originale',
  'Mensagem original',
  'Oorspronkelijk bericht',
  'Origineel bericht',
  'Ursprungligt meddelande',
  'Originalmeddelande',
  'Oprindelig meddelelse',
  'Opprinnelig melding',
  'Alkuperäinen viesti',
  'Wiadomość oryginalna',
  'Oryginalna wiadomość',
  'Eredeti üzenet',
  'Исходное сообщение',
  'Оригінальне повідомлення',
  'Původní zpráva',
  'Özgün ileti',
  'Orijinal mesaj',
  // Outlook's in Chinese (Simplified), Arabic, Slovak, Croatian, Slovenian, Icelandic, Basque
  '邮件原件',
  'رسالة أصلية',
  'Pôvodná správa',
  'Izvorna poruka',
  'Izvirno sporočilo',
  'Upprunaleg skilaboð',
  'Jatorrizko mezua',
  // Outlook's in Malay and Kazakh
  'Mesej Asal',
  'Бастапқы хабар',
  // Outlook's in Arabic (with the article), Persian, Thai, Vietnamese, Lithuanian, Latvian, Estonian, Bulgarian, Serbian
  'الرسالة الأصلية',
  'پیام اصلی',
  'ข้อความต้นฉบับ',
  'Thư gốc',
  'Originalus pranešimas',
  'Sākotnējais ziņojums',
  'Algsõnum',
  'Оригинално съобщение',
  'Originalna poruka',
  'Missatge original',
  '原始邮件',
  '原始郵件',
  '元のメッセージ',
  '원본 메시지',
  'Αρχικό μήνυμα',
  'Mesaj original',
  'הודעה מקורית',
  // T-Online's webmail, Zimbra's in French and German, Seznam.cz
  'Original-Nachricht',
  'Mail original',
  'Ursprüngliche Mail',
  'Původní e-mail',
];

/** Markers of a forwarded message. */
export const FORWARD_MARKERS = [
  'Forwarded message',
  'Forwarded Message',
  'Begin forwarded message',
  'Weitergeleitete Nachricht',
  'Anfang der weitergeleiteten Nachricht',
  'Message transféré',
  'Début du message réexpédié',
  'Début du message transféré',
  'Mensaje reenviado',
  'Inicio del mensaje reenviado',
  'Messaggio inoltrato',
  'Inizio messaggio inoltrato',
  'Mensagem encaminhada',
  'Início da mensagem reencaminhada',
  'Doorgestuurd bericht',
  'Begin doorgestuurd bericht',
  'Vidarebefordrat meddelande',
  'Vidarebefordrat brev',
  'Början av vidarebefordrat meddelande',
  'Videresendt meddelelse',
  'Videresendt melding',
  'Välitetty viesti',
  'Przekazana wiadomość',
  'Wiadomość przekazana dalej',
  'Początek przekazywanej wiadomości',
  'Továbbított üzenet',
  'Пересылаемое сообщение',
  'Пересланное сообщение',
  'Пересланий лист',
  'Переслане повідомлення',
  'Přeposlaná zpráva',
  'İletilen ileti',
  'Missatge reenviat',
  '転送されたメッセージ',
  '전달된 메시지',
  '전달된 메일',
  '转发的邮件',
  '以下为转发的邮件',
  '以下是转发的邮件',
  '开始转发的邮件',
  '轉寄的郵件',
  '以下是轉寄的郵件',
  '開始轉寄的郵件',
  'Προωθημένο μήνυμα',
  'Mesaj redirecționat',
  'הודעה שהועברה',
  // Thunderbird's "-------- Forwarded Message --------" in Japanese, Chinese (Simplified), Turkish, Arabic
  '転送メッセージ',
  '转发的消息',
  'İletilen Mesaj',
  'رسالة مُعاد توجيهها',
  // Zimbra's in French
  'Mail transféré',
];

/**
 * Lotus/HCL Notes' forward marker opens with these words, then the forwarder and a date between runs of
 * dashes: `----- Forwarded by Alice Meyer/ACME on 12/05/2026 05:00 PM -----`.
 */
export const NOTES_FORWARD_MARKERS = ['Forwarded by', 'Weitergeleitet von', 'Transféré par'];

/** Subject prefixes clients write for a forward (before the colon). */
export const FORWARD_PREFIXES = [
  'fw',
  'fwd',
  'wg',
  'tr',
  'rv',
  'i',
  'enc',
  'doorst',
  'vb',
  'vl',
  'pd',
  'pdf',
  'ilt',
  'İlt',
  'fs',
  'továbbítás',
  'továbbított',
  'пересл',
  'fwd.',
  'trs',
  'reenv',
  'wtr',
  'přeposl',
  '转发',
  '轉寄',
  '転送',
  '전달',
  'doorgestuurd',
  // Outlook's in Czech and Slovak, Hungarian, Greek, Hebrew, Arabic, Latvian, Estonian, Welsh
  'př',
  'tov',
  'πρθ',
  'הועבר',
  'העבר',
  'إعادة توجيه',
  'اعادة توجيه',
  'pārs',
  'edasi',
  'yml',
];

/**
 * "VS:" forwards in Danish and Norwegian and replies in Finnish: a forward with a forward marker, or
 * when the header block below it is Danish or Norwegian (Outlook writes a forward's header in its own
 * language, with no marker above it: a Finnish Outlook's reply has "Lähettäjä:", a Danish one's
 * forward "Fra:").
 */
export const AMBIGUOUS_PREFIXES = ['vs'];
/** The From labels of the languages in which "VS:" forwards (Danish, Norwegian). */
export const AMBIGUOUS_FORWARD_FROM_LABELS = ['Fra'];
/**
 * The "Original Message" markers of those languages: Danish and Norwegian Outlook write one above a
 * forward; a marker in any other language under "VS:" (Finnish Outlook's "Alkuperäinen viesti") is a reply's.
 */
export const AMBIGUOUS_FORWARD_MARKERS = ['Oprindelig meddelelse', 'Opprinnelig melding'];

/** Subject prefixes clients write for a reply (before the colon). */
export const REPLY_PREFIXES = [
  're',
  'aw',
  'sv',
  'vs',
  'antw',
  'antwort',
  'réf',
  'ref',
  'rif',
  'r',
  'odp',
  'vá',
  'rép',
  'ynt',
  'сс',
  'отв',
  'ответ',
  'відп',
  'ha',
  'atb',
  'svar',
  'res',
  'resp',
  '回复',
  '回覆',
  '답장',
  'vast',
  // Outlook's in Chinese, Korean, Greek, Hebrew, Arabic, Indonesian
  '答复',
  '회신',
  'απ',
  'σχετ',
  'השב',
  'رد',
  'bls',
  // Vietnamese, Japanese
  'trả lời',
  '返信',
];

/**
 * The words of the tags mail systems put in a subject: a gateway marking mail from outside (Exchange
 * transport rules, Mimecast, Proofpoint: "[EXTERNAL]", "[EXT]", "[CAUTION: External Sender]", in the
 * languages admins write them) and a spam or phishing filter ("[SPAM]", "*** SPAM ***", "[Suspected
 * Phishing]"). A subject's bracketed or starred phrase is such a tag only with one of these words in it:
 * "[Urgent]" and "*not*" are the writer's.
 */
export const SUBJECT_TAG_WORDS = [
  'EXTERNAL',
  'EXT',
  'EXTERN',
  'EXTERNE',
  'EXTERNO',
  'EXTERNA',
  'ESTERNO',
  'ESTERNA',
  'EXTERNÍ',
  'EXTERNÝ',
  'ZEWNĘTRZNY',
  'ZEWNĘTRZNA',
  'ZEWNETRZNY',
  'KÜLSŐ',
  'ULKOINEN',
  'EKSTERN',
  'EXTERNT',
  'ВНЕШНЕЕ',
  'ВНЕШНИЙ',
  'ΕΞΩΤΕΡΙΚΟ',
  '外部',
  'CAUTION',
  'SPAM',
  'Phishing',
  'PHISH',
];

/**
 * Subject prefixes (before the colon) of out-of-office and other automatic replies: Exchange's and
 * Outlook's in the languages they ship ("Automatic reply:", "Automatische Antwort:", "Réponse
 * automatique :" …), their older "Out of Office AutoReply:", Lotus Notes' "AUTO:".
 */
export const AUTO_REPLY_SUBJECTS = [
  'automatic reply',
  'auto reply',
  'autoreply',
  'auto-reply',
  'auto',
  'out of office',
  'out of office autoreply',
  'out of office reply',
  'automatische antwort',
  'abwesenheitsnotiz',
  'réponse automatique',
  'respuesta automática',
  'risposta automatica',
  'resposta automática',
  'automatisch antwoord',
  'autosvar',
  'automatisk svar',
  'automaattinen vastaus',
  'automatyczna odpowiedź',
  'automatikus válasz',
  'automatická odpověď',
  'automatická odpoveď',
  'otomatik yanıt',
  'otomatik yanit',
  'автоматический ответ',
  'автоматична відповідь',
  'αυτόματη απάντηση',
  '自动回复',
  '自動回覆',
  '自動応答',
  '자동 회신',
];

/**
 * "Sent from my iPhone" and kin: the last line of a mail that begins (or, where the language puts
 * the verb last, ends) with one of these is the client's, not the writer's.
 */
export const DEVICE_LINE_STARTS = [
  'Sent from',
  'Sent via',
  'Sent with',
  'Sent using',
  'Sent by',
  'Get Outlook for',
  'Get BlueMail for',
  'Download Outlook for',
  'Von meinem',
  'Gesendet von',
  'Gesendet mit',
  'Gesendet vom',
  'Envoyé de',
  'Envoyé depuis',
  'Envoyé avec',
  'Envoyé à partir',
  'Enviado desde',
  'Enviado de',
  'Enviado do',
  'Enviado con',
  'Enviado com',
  'Enviado a partir',
  'Verzonden vanaf',
  'Verzonden met',
  'Verstuurd vanaf',
  'Verstuurd met',
  'Skickat från',
  'Skickat med',
  'Sendt fra',
  'Sendt med',
  'Inviato da',
  'Inviato dal',
  'Inviato con',
  'Wysłane z',
  'Wysłano z',
  'Lähetetty',
  'Отправлено с',
  'Отправлено из',
  'Надіслано з',
  'Odesláno z',
  'Odesláno ze',
  'Enviat des de',
  'Enviat amb',
  'Enviat des del',
  '发自我的',
  '从我的',
  '從我的',
  '寄件者：我的',
  'Küldve',
  'Az iPhone',
  'Odoslané z',
  'Odoslané zo',
  'Trimis de pe',
  'Trimis din',
  'Được gửi từ',
  'Gửi từ',
  'ส่งจาก',
  'Dikirim dari',
  'Dihantar dari',
  'Poslano s',
  'Poslano sa',
  'Poslano iz',
  'Poslano z',
  'Išsiųsta iš',
  'Nosūtīts no',
  'Saadetud',
  'Изпратено от',
  'Послато са',
  'Послато из',
  'Στάλθηκε από',
  'נשלח מ',
  'أرسلت من',
];
export const DEVICE_LINE_ENDS = [
  'gesendet',
  'gesendet.',
  'küldve',
  'küldve.',
  'gönderildi',
  'gönderildi.',
  'から送信',
  'より送信',
  '에서 보냄',
  '에서 보냄.',
  '에서 보냈습니다',
  'より',
];

/**
 * A device line names the writer's device or app: with a possessive right after its opening ("Sent
 * from my …", "Envoyé de mon …", "发自我的…") or by one of DEVICE_LINE_NAMES. "Sent from sensor 4 in
 * cold room B", "Sent via gateway GW-12 at pump station North" or "Sent from sensor 4 at 10 min past 3"
 * names a place: the alert's text. Compared as whole words.
 */
export const DEVICE_LINE_OWNERS = [
  'my',
  'mon',
  'ma',
  'mi',
  'meu',
  'minha',
  'meinem',
  'meiner',
  'mijn',
  'min',
  'mitt',
  'mia',
  'mio',
  'mój',
  'mojego',
  'mého',
  'mém',
  'моего',
  'моей',
  'мого',
  'моєї',
  'mog',
  'mojega',
  'mano',
  'mana',
  'minu',
  'моя',
  'мог',
  '我的',
  '私の',
];
/**
 * Possessives written after the device they own, at a device line's end ("Στάλθηκε από το iPhone μου",
 * "נשלח מהטלפון שלי", Romanian "Trimis de pe iPhone-ul meu", Indonesian and Malay "Dikirim dari iPhone
 * saya", Vietnamese "Được gửi từ iPhone của tôi", Thai "ส่งจาก iPhone ของฉัน").
 */
export const DEVICE_LINE_OWNERS_AFTER = ['μου', 'שלי', 'meu', 'mea', 'saya', 'của tôi', 'ของฉัน'];
/**
 * Phones, tablets, mail apps, mail services and carriers a device line names, as whole words
 * ("Mac", not "Machine"; "app", not "application"), or as a word's start for DEVICE_LINE_NAME_STEMS.
 * A name followed by a lower-case word outside DEVICE_LINE_NAME_FOLLOWERS names something else
 * ("Edison substation 4", "the mobile crane").
 */
export const DEVICE_LINE_NAMES = [
  'iPhone',
  'iPad',
  'iPod',
  'Apple',
  'Android',
  'iOS',
  'Windows',
  'Mac',
  'BlackBerry',
  'Samsung',
  'Galaxy',
  'Huawei',
  'Honor',
  'Xiaomi',
  'Redmi',
  'OnePlus',
  'Pixel',
  'Nokia',
  'Motorola',
  'Xperia',
  'Oppo',
  'Fairphone',
  'Outlook',
  'Gmail',
  'Mail',
  'Yahoo',
  'AOL',
  'Proton',
  'ProtonMail',
  'BlueMail',
  'Spark',
  'Edison',
  'Airmail',
  'Superhuman',
  'Shortwave',
  'Zoho',
  'Fastmail',
  'Tuta',
  'iCloud',
  'Thunderbird',
  'K-9',
  'FairEmail',
  'TypeApp',
  'GMX',
  'WEB.DE',
  'Verizon',
  'AT&T',
  'T-Mobile',
  'Sprint',
  'Vodafone',
  'smartphone',
  'phone',
  'mobile',
  'tablet',
  'app',
  'Handy',
  'Mobiltelefon',
  'téléphone',
  'teléfono',
  'móvil',
  'celular',
  'telemóvel',
  'telefone',
  'telefono',
  'cellulare',
  'telefoon',
  'mobiel',
  'telefon',
  'mobil',
  'телефон',
  'смартфон',
  'мобильн',
  'τηλέφωνο',
  'κινητό',
  'טלפון',
];
/**
 * The phones whose name alone, as a device line's whole object, is a phone client's stock line even
 * without a possessive ("Sent from iPhone", "Отправлено с iPhone", "iPhoneから送信"): no machine
 * sends an alert from one. Other names are an alert's own last line alone ("Sent from Pixel 7",
 * "Envoyé depuis Windows"), and so is any of these with more words ("Sent from Android SMS Gateway").
 */
export const STOCK_DEVICE_PHONES = ['iPhone', 'iPad', 'Android'];
/** AquaMail's stock line, with a link to its own site below it (AQUAMAIL_LINK_HOSTS). */
export const AQUAMAIL_LINE = 'Sent with AquaMail for Android';
/** AquaMail's own sites, which the link under its line points to. */
export const AQUAMAIL_LINK_HOSTS = ['mobisystems.com', 'aqua-mail.com'];
/**
 * Mail apps whose stock line names them alone or with a phone's platform ("Sent from Yahoo Mail on
 * Android", "Sent from Proton Mail Android", "Sent from Outlook"). Apple's "Mail" alone is a word a
 * machine's line uses too ("Sent from Mail"), so only Windows' "Mail for Windows" is one.
 */
export const STOCK_MAIL_APPS = [
  'Yahoo Mail',
  'Outlook',
  'Mail for Windows',
  'BlueMail',
  'Proton Mail',
  'ProtonMail',
  'Gmail',
  'AOL',
  'AOL Mail',
  'Spark',
  'Edison Mail',
  'Airmail',
  'Fastmail',
  'Thunderbird',
  'K-9 Mail',
  'FairEmail',
  'TypeApp',
  'Tuta',
  'Tutanota',
  'Samsung Email',
];
/**
 * Enterprise (MDM) and Android mail apps' stock lines, each a device line only as this whole
 * sentence: their names are everyday words or a part of one ("Boxer", "Verse"). Nine's "Sent from
 * Nine" and the first Boxer's "Sent from Boxer" are not here: as a whole line they answer a question
 * as often ("Which van brought the parts?" / "Sent from Nine."), and a missed app line costs less than
 * a writer's line lost.
 */
export const STOCK_APP_LINES = ['Sent from Workspace ONE Boxer', 'Sent from VMware Boxer', 'Sent from IBM Verse', AQUAMAIL_LINE];
/** The platforms a mail app's stock line names after it, with "on" or "for" or not ("Yahoo Mail for iPhone"). */
export const STOCK_MAIL_APP_PLATFORMS = ['iPhone', 'iPad', 'Android', 'iOS', 'Windows', 'Mac'];
/**
 * Names of a phone that are a device line's only with the writer's possessive after them
 * (DEVICE_LINE_OWNERS_AFTER), as whole words: Indonesian's and Malay's "HP" (handphone), "Dikirim dari
 * HP saya". Alone it names HP's printers and servers: "Sent from HP LaserJet M607" ends a printer's alert.
 */
export const DEVICE_LINE_OWNED_NAMES = ['HP'];
/**
 * Names that take a language's endings in a device line: Hungarian "iPhone-omról", "Androidról", Finnish
 * "iPhonesta", "iPadista", Russian "мобильной", "телефона"; "iPhon" for the languages whose endings
 * take the place of its "e": Czech and Slovak "iPhonu", Slovenian "iPhona", Croatian "iPhonea".
 */
export const DEVICE_LINE_NAME_STEMS = ['iPhon', 'iPad', 'Android', 'мобильн', 'телефон', 'смартфон'];
/**
 * The "get" of Outlook's app line where the language names the platform before Outlook ("Android 版
 * Outlook を入手", "获取 Android 版 Outlook", "取得 Android 版 Outlook", "Android için Outlook'u edinin",
 * "Android용 Outlook 받기", "Szerezze be az Android Outlook alkalmazást"): without it (or Outlook's
 * aka.ms link) such a line is the writer's ("Please reinstall the Android Outlook app").
 */
export const OUTLOOK_GET_VERBS = ['入手', '获取', '取得', 'edinin', '받기', 'Szerezze be'];
/**
 * The lower-case words that may follow a device's or app's name in a device line: what links it to the
 * next name ("Mail for Windows", "Yahoo Mail on Android", "Outlook für iOS", "mobile device"), and the
 * words that describe the device or app itself ("iPad mini", "iPhone 15 pro", "ProtonMail secure email").
 */
export const DEVICE_LINE_NAME_FOLLOWERS = [
  'device',
  'mini',
  'max',
  'plus',
  'air',
  'secure',
  'for',
  'on',
  'with',
  'by',
  'via',
  'pour',
  'sur',
  'für',
  'mit',
  'auf',
  'för',
  'på',
  'med',
  'voor',
  'op',
  'met',
  'para',
  'con',
  'com',
  'per',
  'su',
  'dla',
  'na',
  'pro',
  'для',
  'на',
  'για',
];

/**
 * Thanks and the short closing words a writer puts above a sign-off ("Thanks" / "BR", "TIA" /
 * "Regards", "Thanks Bob" / "Cheers", "OK" / "Best"), at a line's start: such a line is never a list's
 * item, so the sign-off right under it is one (src/mail/strip.ts, isListItemSignOff).
 */
export const CLOSING_LINE_WORDS = [
  'thanks',
  'thank you',
  'thankyou',
  'thx',
  'tia',
  'many thanks',
  'cheers',
  'danke',
  'vielen dank',
  'besten dank',
  'merci',
  'dzięki',
  'dziękuję',
  'gracias',
  'grazie',
  'obrigado',
  'obrigada',
  'bedankt',
  'dank je',
  'dank u',
  'tack',
  'takk',
  'tak',
  'kiitos',
  'köszönöm',
  'děkuji',
  'díky',
  'спасибо',
  'дякую',
  'ok',
  'okay',
  'done',
];
/** Closing words that start a signature block (the name, title and company under them go too). */
export const SIGN_OFFS = [
  'regards',
  'kind regards',
  'best regards',
  'warm regards',
  'warmest regards',
  'with kind regards',
  'many regards',
  'best wishes',
  'cheers',
  'kindest regards',
  'with best regards',
  'with warm regards',
  'with warmest regards',
  'with regards',
  'with best wishes',
  'warm wishes',
  'all the best',
  'kind rgds',
  'best rgds',
  'rgds',
  'yours sincerely',
  'sincerely yours',
  'sincerely',
  'yours faithfully',
  'faithfully yours',
  'yours truly',
  'very truly yours',
  'truly yours',
  'respectfully',
  'respectfully yours',
  'yours respectfully',
  'mit freundlichen grüßen',
  'mit freundlichen grüssen',
  'freundliche grüße',
  'freundliche grüsse',
  'mit lieben grüßen',
  'mit lieben grüssen',
  'mit herzlichen grüßen',
  'mit herzlichen grüssen',
  'mit vielen grüßen',
  'mit vielen grüssen',
  'viele liebe grüße',
  'viele liebe grüsse',
  'lg',
  'vg',
  'herzlichst',
  'viele grüße',
  'liebe grüße',
  'beste grüße',
  'beste grüsse',
  'viele grüsse',
  'liebe grüsse',
  'herzliche grüße',
  'herzliche grüsse',
  'schöne grüße',
  'schöne grüsse',
  'mit besten grüßen',
  'mit besten grüssen',
  'mit freundlichem gruß',
  'mit freundlichem gruss',
  'grüße',
  'grüsse',
  'gruß',
  'gruss',
  'mfg',
  'hochachtungsvoll',
  'cordialement',
  'bien cordialement',
  'bien à vous',
  'salutations',
  'sincères salutations',
  'salutations distinguées',
  'meilleures salutations',
  'respectueusement',
  'amicalement',
  'bien amicalement',
  'très cordialement',
  'cordialement vôtre',
  'salutations cordiales',
  'meilleures salutations distinguées',
  'cdlt',
  'bàv',
  'bien à toi',
  'sincèrement',
  'saludos',
  'un saludo',
  'saludos cordiales',
  'atentamente',
  'un cordial saludo',
  'un saludo cordial',
  'cordiales saludos',
  'muchos saludos',
  'un abrazo',
  'un fuerte abrazo',
  'abrazos',
  'atte',
  'cordialmente',
  'cordiali saluti',
  'distinti saluti',
  'saluti',
  'un saluto',
  'un caro saluto',
  'un cordiale saluto',
  'saluti cordiali',
  'cari saluti',
  'tanti saluti',
  'in fede',
  'atenciosamente',
  'cumprimentos',
  'com os melhores cumprimentos',
  'melhores cumprimentos',
  'abraço',
  'abraços',
  'um abraço',
  'grande abraço',
  'saudações',
  'att',
  'met vriendelijke groet',
  'met vriendelijke groeten',
  'vriendelijke groet',
  'vriendelijke groeten',
  'hoogachtend',
  'hartelijke groet',
  'hartelijke groeten',
  'met hartelijke groet',
  'met hartelijke groeten',
  'met groet',
  'met beste groet',
  'met beste groeten',
  'beste groet',
  'beste groeten',
  'groet',
  'groeten',
  'groetjes',
  'lieve groet',
  'lieve groetjes',
  'mvg',
  'med vänliga hälsningar',
  'vänliga hälsningar',
  'med vänlig hälsning',
  'högaktningsfullt',
  'hälsningar',
  'hälsning',
  'bästa hälsningar',
  'med bästa hälsningar',
  'varma hälsningar',
  'vänlig hälsning',
  'vänligen',
  'mvh',
  'med venlig hilsen',
  'venlig hilsen',
  'med vennlig hilsen',
  'vennlig hilsen',
  'hilsen',
  'hilsner',
  'beste hilsen',
  'bedste hilsner',
  'venlige hilsner',
  'med venlige hilsner',
  'vennlige hilsener',
  'mange hilsner',
  'vh',
  'ystävällisin terveisin',
  'terveisin',
  'kunnioittavasti',
  'pozdrawiam',
  'z poważaniem',
  'z wyrazami szacunku',
  'serdecznie pozdrawiam',
  'pozdrawiam serdecznie',
  'pozdrowienia',
  'serdeczne pozdrowienia',
  'z pozdrowieniami',
  'łączę pozdrowienia',
  'üdvözlettel',
  'tisztelettel',
  'baráti üdvözlettel',
  'szívélyes üdvözlettel',
  'с уважением',
  'з повагою',
  'с наилучшими пожеланиями',
  'всего доброго',
  'всего наилучшего',
  'з найкращими побажаннями',
  's pozdravem',
  's úctou',
  'saygılarımla',
  'saygılar',
  'iyi çalışmalar',
  'sevgiler',
  'selamlar',
  'salutacions',
  'cordialment',
  'με εκτίμηση',
  'με φιλικούς χαιρετισμούς',
  'cu stimă',
  'cu respect',
  'cu deosebită stimă',
  'best',
  'thanks and regards',
  'regards and thanks',
  'thanks & regards',
  'thanks and best regards',
  'thanks & best regards',
  'thanks and kind regards',
  'thanks & kind regards',
  'with thanks and regards',
  // Hebrew, Arabic (with and without the hamza, as typed), Persian
  'בברכה',
  'בברכה רבה',
  'בכבוד רב',
  'مع أطيب التحيات',
  'مع اطيب التحيات',
  'مع خالص التحيات',
  'مع التحية',
  'مع تحياتي',
  'تحياتي',
  'مع فائق الاحترام',
  'با احترام',
  'ارادتمند',
  // Chinese (a letter's 此致 / 敬礼 on two lines, or one), Japanese's letter closing. Thanks are the
  // writer's, as English "Thanks" is, and are none: Persian با تشکر / با سپاس, Vietnamese "Trân trọng
  // cảm ơn", Japanese よろしくお願いします (thanks in advance).
  '此致',
  '此致敬礼',
  '此致 敬礼',
  '祝好',
  '顺祝商祺',
  '顺颂商祺',
  '敬具',
  // Vietnamese, Thai, Hindi, Indonesian and Malay
  'trân trọng',
  'thân ái',
  'ขอแสดงความนับถือ',
  'ด้วยความเคารพ',
  'सादर',
  'भवदीय',
  'भवदीया',
  'शुभकामनाओं सहित',
  'hormat saya',
  'hormat kami',
  'salam hangat',
  'salam',
];

/**
 * Sign-offs written with a colon after them, as Hungarian letters close ("Üdvözlettel:" above the
 * name): only these, since after any other closing a colon announces what follows ("Best:" above a list).
 */
export const COLON_SIGN_OFFS = ['üdvözlettel', 'tisztelettel', 'baráti üdvözlettel', 'szívélyes üdvözlettel'];

/**
 * Words that make a name under a sign-off a team's or a system's, not a person's ("Monitoring Team",
 * "Network Operations", "Zabbix Server"): an alert from Zabbix signed "Zabbix Server" is not signed by
 * a person whose first name From: gives. Compared in lower case.
 */
export const SYSTEM_NAME_WORDS = [
  'admin',
  'administrator',
  'alerts',
  'alerting',
  'bot',
  'center',
  'centre',
  'daemon',
  'desk',
  'helpdesk',
  'monitor',
  'monitoring',
  'noc',
  'notifications',
  'operations',
  'ops',
  'server',
  'service',
  'services',
  'support',
  'system',
  'systems',
  'team',
];

/** Openings of a postscript: a paragraph under the signature that starts with one is the writer's. */
export const POSTSCRIPTS = ['P.P.S.', 'P.S.', 'P.S', 'PPS', 'PS', 'P.-S.', 'P.D.', 'N.B.', 'NB'];

/**
 * Labels of a signature's `Label: value` lines: contact lines and the company-register lines the law
 * asks of a business letter (Impressum, mentions légales, UK Companies Act). Under a sign-off and a
 * name they are the signature's, not a machine mail's data. Compared without case, dots, dashes and
 * spaces ("Tel.", "E-Mail" and "email" are one).
 */
export const SIGNATURE_LABELS = [
  // contact lines
  'Tel',
  'Tel/Fax',
  'Telephone',
  'Phone',
  'Direct',
  'DDI',
  'Mobile',
  'Mob',
  'Cell',
  'Fax',
  'Email',
  'Mail',
  'Web',
  'Website',
  'Internet',
  'Address',
  'Skype',
  'Teams',
  'T',
  'M',
  'F',
  'E',
  'W',
  'Telefon',
  'Mobil',
  'Mobiltelefon',
  'Handy',
  'Telefax',
  'Adresse',
  'Anschrift',
  'Tél',
  'Téléphone',
  'Portable',
  'Courriel',
  'Site',
  'Site web',
  'Teléfono',
  'Tlf',
  'Tlfno',
  'Móvil',
  'Celular',
  'Correo',
  'Correo electrónico',
  'Página web',
  'Dirección',
  'Telefono',
  'Cellulare',
  'Indirizzo',
  'Telemóvel',
  'Endereço',
  'Telefoon',
  'Mobiel',
  'Adres',
  'E-post',
  'Webb',
  'Adress',
  'Puhelin',
  'Matkapuhelin',
  'Sähköposti',
  'Osoite',
  'Tel. kom',
  'Komórka',
  // company-register lines
  'Sitz',
  'Sitz der Gesellschaft',
  'Registergericht',
  'Handelsregister',
  'Amtsgericht',
  'HRB',
  'Geschäftsführer',
  'Geschäftsführerin',
  'Geschäftsführung',
  'Vorstand',
  'Aufsichtsrat',
  'Vorsitzender des Aufsichtsrats',
  'USt-IdNr',
  'Steuernummer',
  'Registered office',
  'Registered in',
  'Company number',
  'Company no',
  'Company registration',
  'Company registration number',
  'VAT',
  'VAT no',
  'VAT number',
  'Directors',
  'Siège social',
  'RCS',
  'SIRET',
  'SIREN',
  'Capital',
  'Capital social',
  'TVA',
  'Domicilio social',
  'Registro Mercantil',
  'CIF',
  'NIF',
  'Sede legale',
  'Partita IVA',
  'P IVA',
  'KvK',
  'KvK-nummer',
  'BTW',
  'BTW-nummer',
  'Statutaire zetel',
  'Org.nr',
  'Organisationsnummer',
  'Organisasjonsnummer',
  'Säte',
  'CVR',
  'CVR-nr',
  'Y-tunnus',
  'Kotipaikka',
  'NIP',
  'KRS',
  'REGON',
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
  'This e-mail and any files transmitted with it',
  'This email and any files transmitted with it',
  'This message and any files transmitted with it',
  'This message contains confidential information',
  'The information contained in this communication',
  'This communication is confidential',
  'This e-mail contains confidential information',
  'This email contains confidential information',
  'Please consider the environment before printing',
  // German
  'Diese E-Mail enthält vertrauliche',
  'Diese Nachricht enthält vertrauliche',
  'Diese E-Mail kann vertrauliche',
  'Diese E-Mail ist vertraulich',
  'Diese E-Mail und alle Anhänge',
  'Diese E-Mail und etwaige Anhänge',
  'Der Inhalt dieser E-Mail',
  'Die in dieser E-Mail enthaltenen Informationen',
  'Vertraulichkeitshinweis',
  'Bitte denken Sie an die Umwelt, bevor Sie',
  'Bitte denken Sie an die Umwelt bevor Sie',
  'Denken Sie an die Umwelt, bevor Sie',
  // French
  'Ce message et toutes les pièces jointes',
  'Ce message et les pièces jointes',
  'Ce message et ses pièces jointes',
  'Ce courriel et les pièces jointes',
  'Ce courriel et les documents qui lui sont joints',
  'Ce message est confidentiel',
  'Ce courriel est confidentiel',
  'Ce message contient des informations confidentielles',
  'Avis de confidentialité',
  "Pensez à l'environnement avant d'imprimer",
  "Merci de penser à l'environnement avant d'imprimer",
  "Avant d'imprimer, pensez à l'environnement",
  // Spanish
  'Aviso de confidencialidad',
  'Este mensaje y sus archivos adjuntos',
  'Este mensaje y sus anexos',
  'Este correo electrónico y sus archivos adjuntos',
  'Este correo electrónico y sus anexos',
  'Este mensaje es confidencial',
  'Este correo es confidencial',
  'La información contenida en este correo',
  'La información contenida en este mensaje',
  'Antes de imprimir este correo',
  'Antes de imprimir este mensaje',
  // Italian
  'Avviso di riservatezza',
  'Questo messaggio e i suoi allegati',
  'Questo messaggio e gli eventuali allegati',
  'Questa e-mail e i suoi allegati',
  'Questa email e i suoi allegati',
  'Le informazioni contenute in questo messaggio',
  'Le informazioni contenute nella presente',
  'Prima di stampare questa e-mail',
  'Prima di stampare questa email',
  "Rispetta l'ambiente",
  // Portuguese
  'Aviso de confidencialidade',
  'Esta mensagem e os seus anexos',
  'Esta mensagem e quaisquer anexos',
  'Esta mensagem é confidencial',
  'Esta mensagem e seus anexos',
  'As informações contidas nesta mensagem',
  'As informações contidas neste e-mail',
  'Antes de imprimir este e-mail',
  'Antes de imprimir esta mensagem',
  // Dutch
  'De informatie verzonden in dit e-mailbericht',
  'De informatie verzonden met dit e-mailbericht',
  'Dit e-mailbericht is vertrouwelijk',
  'Dit bericht is vertrouwelijk',
  'Dit e-mailbericht en eventuele bijlagen',
  'Dit bericht en eventuele bijlagen',
  'Dit bericht kan informatie bevatten',
  'Denk aan het milieu voordat u',
  // Swedish
  'Detta e-postmeddelande och eventuella bilagor',
  'Detta meddelande och eventuella bilagor',
  'Detta e-postmeddelande är konfidentiellt',
  'Detta meddelande kan innehålla konfidentiell',
  'Tänk på miljön innan du skriver ut',
  // Danish
  'Denne e-mail og eventuelle vedhæftede filer',
  'Denne e-mail er fortrolig',
  'Denne e-mail kan indeholde fortrolig',
  'Tænk på miljøet, før du printer',
  // Norwegian
  'Denne e-posten og eventuelle vedlegg',
  'Denne e-posten er konfidensiell',
  'Denne e-posten kan inneholde konfidensiell',
  'Tenk på miljøet før du skriver ut',
  // Finnish
  'Tämä sähköpostiviesti ja sen liitteet',
  'Tämä sähköpostiviesti on luottamuksellinen',
  'Tämä viesti on luottamuksellinen',
  'Tämä sähköposti voi sisältää luottamuksellista',
  'Ajattele ympäristöä ennen kuin tulostat',
  // Polish
  'Ta wiadomość i jej załączniki',
  'Ta wiadomość jest poufna',
  'Niniejsza wiadomość jest poufna',
  'Treść tej wiadomości',
  'Zanim wydrukujesz tę wiadomość',
  // Hungarian, Russian, Czech, Turkish
  'Ez az e-mail és mellékletei',
  'Ez az üzenet bizalmas',
  'Данное сообщение и все вложения',
  'Это сообщение и все вложения',
  'Данное сообщение является конфиденциальным',
  'Данное сообщение и все приложения к нему',
  'Tento e-mail a jeho přílohy',
  'Tato zpráva je důvěrná',
  'Bu e-posta ve ekleri',
  'Bu e-posta mesajı ve ekleri',
];

/**
 * Headings of a disclaimer that a person might also write above their own text ("IMPORTANT NOTICE:
 * the gate is closed"): they open a disclaimer only when their paragraph is legal text.
 */
export const DISCLAIMER_HEADINGS = [
  // The openings of DISCLAIMER_OPENINGS in capitals, written otherwise ("Disclaimer: I have not checked the logs yet").
  'DISCLAIMER',
  'CONFIDENTIALITY NOTICE',
  'IMPORTANT NOTICE',
  'LEGAL NOTICE',
  'CONFIDENTIALITY',
  'PRIVILEGED AND CONFIDENTIAL',
  'WICHTIGER HINWEIS',
  'RECHTLICHER HINWEIS',
  'VERTRAULICHKEIT',
  'AVIS IMPORTANT',
  'AVERTISSEMENT',
  'CONFIDENTIALITÉ',
  'AVISO IMPORTANTE',
  'AVISO LEGAL',
  'CONFIDENCIALIDAD',
  'AVVISO IMPORTANTE',
  'RISERVATEZZA',
  'CONFIDENCIALIDADE',
  'BELANGRIJKE MEDEDELING',
  'VERTROUWELIJKHEID',
  'VIKTIGT MEDDELANDE',
  'VIGTIG MEDDELELSE',
  'VIKTIG MELDING',
  'TÄRKEÄ TIEDOTE',
  'WAŻNA INFORMACJA',
  'POUFNOŚĆ',
];

/**
 * Words of a disclaimer paragraph: a long paragraph below a signature with one of these is legal text.
 * Compared without case, from a word's start (in Hebrew and Arabic after one or two of the one-letter
 * words they attach, ATTACHED_ONE_LETTER_WORDS; in scripts without word spaces, anywhere): a stem
 * ("confidenci", "poufn") takes the word's endings, never a word it is inside of. Where a language's
 * word for "secret" or "recipient" is an everyday one, or opens everyday words (Arabic سري in سريع,
 * Korean 비밀 in 비밀번호, Romanian "destinatarul coletului"), only its legal phrase is listed
 * ("intended recipient", معلومات سرية, 기밀 정보, "destinatarul vizat").
 */
export const DISCLAIMER_WORDS = [
  'confidential',
  'privileged',
  'intended recipient',
  'intended solely',
  'intended only',
  'registered in',
  'registered office',
  'vertraulich',
  'irrtümlich',
  'nicht der richtige adressat',
  'adressat',
  'confidentiel',
  'destinataire',
  'confidenci',
  'riservat',
  'vertrouwelijk',
  'geadresseerde',
  'konfidentiell',
  'fortrolig',
  'luottamukselli',
  'poufn',
  'prawnie chronion',
  'adresat',
  'bizalmas',
  'конфиденциальн',
  'důvěrn',
  // Turkish: "gizli" alone is any hidden thing ("gizli klasör"); a disclaimer says the mail "is confidential"
  'gizlidir',
  'gizli bilgi',
  'gizli olup',
  'yetkili alıcı',
  '機密',
  '机密',
  '保密',
  // Romanian (ț written with a comma or, by older keyboards, a cedilla)
  'confidențial',
  'confidenţial',
  'destinatarul vizat',
  'destinatarului vizat',
  'destinat exclusiv',
  'destinate exclusiv',
  // Greek ("απόρρητος" alone is any secret: a password is; "confidential and intended …" is the mail)
  'εμπιστευτικ',
  'απόρρητες πληροφορίες',
  'απόρρητων πληροφοριών',
  'απόρρητα και προορίζονται',
  'απόρρητο και προορίζεται',
  // Hebrew (סודי and חסוי alone are any secret, a caller's hidden number); with the one-letter words
  // Hebrew attaches (ATTACHED_ONE_LETTER_WORDS): "המידע החסוי", "לנמען בלבד", "הנמען המיועד"
  'מידע חסוי',
  'מידע החסוי',
  'מידע סודי',
  'הינו חסוי',
  'הינה חסויה',
  'הינם חסויים',
  'הינן חסויות',
  'נמען בלבד',
  'נמען המיועד',
  // Korean (비밀 alone opens 비밀번호, a password)
  '기밀 정보',
  '기밀정보',
  '비밀 정보',
  '비밀정보',
  '지정된 수신자',
  // Croatian
  'povjerljiv',
  'namijenjen isključivo',
  'namijenjeni isključivo',
  'namijenjena isključivo',
  'isključivo primatelj',
  // Arabic (سري alone opens سريع, quick; "confidential and intended" is the mail's), with the one-letter
  // words Arabic attaches (ATTACHED_ONE_LETTER_WORDS); the article's alif goes after lām: للمستلم
  'معلومات سرية',
  'المعلومات السرية',
  'المستلم المقصود',
  'للمستلم المقصود',
  'سرية ومخصصة',
  'سري ومخصص',
];

/**
 * The one-letter words Hebrew and Arabic write onto the next word, one or two at once: Hebrew's ו (and),
 * ה (the), ב (in), ל (to), כ (as), מ (from), ש (that) ("והמידע", "לנמען"); Arabic's و (and), ف (so),
 * ب (with), ل (for), ك (as) ("ومخصصة", "وللمستلم"). A DISCLAIMER_WORDS phrase in those scripts is found
 * after them; any other letter before it makes another word (أ + سرية is أسرية, "of the family").
 */
export const ATTACHED_ONE_LETTER_WORDS = ['ו', 'ה', 'ב', 'ל', 'כ', 'מ', 'ש', 'و', 'ف', 'ب', 'ل', 'ك'];

/**
 * What a disclaimer calls the mail it is appended to, in its first words ("This e-mail…", "Der
 * Inhalt dieser E-Mail…", "Dit bericht…", "Treść tej wiadomości…", "本邮件…"): with legal words, a
 * last paragraph so opening is a disclaimer in any wording. Compared without case, anywhere in a word.
 */
export const DISCLAIMER_MAIL_WORDS = [
  'e-mail',
  'email',
  'message',
  'communication',
  'transmission',
  'nachricht',
  'courriel',
  'mensaje',
  'correo',
  'mensagem',
  'messaggio',
  'bericht',
  'meddelande',
  'e-post',
  'meddelelse',
  'melding',
  'sähköposti',
  'viesti',
  'wiadomoś',
  'üzenet',
  'сообщени',
  'письм',
  'zpráv',
  'ileti',
  'e-posta',
  'メール',
  '邮件',
  '郵件',
  // Romanian, Greek, Hebrew, Korean, Croatian, Arabic
  'mesaj',
  'μήνυμα',
  'μηνύματ',
  'הודעה',
  'הדואר',
  '메일',
  'poruk',
  'رسالة',
];

/**
 * The first line of the block Google Calendar puts below an invitation's details (its link, why the
 * mail came, what forwarding it allows), in the languages whose wording is known: read only in a mail
 * that carries the invitation itself (a text/calendar part), at a line's start.
 */
export const CALENDAR_FOOTER_OPENINGS = [
  'Invitation from Google Calendar',
  'Einladung von Google Kalender',
  'Invitation de Google Agenda',
  'Invitación de Google Calendar',
  'Uitnodiging van Google Agenda',
  'Invito da Google Calendar',
  'Convite do Google Agenda',
  'Inbjudan från Google Kalender',
  'Invitation fra Google Kalender',
  'Invitasjon fra Google Kalender',
  'Zaproszenie z Kalendarza Google',
];

/**
 * Phrases of footers that a writer's own last sentence may hold too ("You are receiving this because
 * you are on call this week.", "Reply to this email directly if it trips again."): why the mail came,
 * how to answer. Without a rule above them, a footer's only with a link or a footer word beside or
 * below, or with another footer phrase on the line. Compared without case, anywhere in a line.
 */
export const WRITERS_FOOTER_PHRASES = [
  'receiving this',
  'received this message because',
  'received this email because',
  'receiving notifications',
  'reply to this email',
];

/**
 * Phrases of the footers mailing lists and notification services append (Mailman, Listserv, Google
 * Groups, Discourse, GitHub, GitLab, Slack, PagerDuty, Opsgenie, Azure Monitor, Teams, Confluence…),
 * by family: the unsubscribe link, why the mail came, where to change that, how to answer. A short
 * last block that has one and nothing the writer wrote is a footer. Those beyond
 * WRITERS_FOOTER_PHRASES no person writes to a phone ("Please do not reply to this email", "Manage
 * notification settings"), and HTML notifications lose their links in text, so they need no link.
 * Compared without case, anywhere in a line.
 */
export const FOOTER_PHRASES = [
  ...WRITERS_FOOTER_PHRASES,
  // where to change that
  'notification settings',
  'notification preferences',
  'manage notifications',
  'manage all notifications',
  'notifications turned on',
  // how to answer
  'do not reply to this email',
  'do not reply directly',
  'or view it on',
];

/**
 * Words of footers that an alert's own last line may hold too ("Mailing list server down",
 * "Unsubscribe queue backlog"), and a writer's sentence ("add bob@… to the mailing list"): a footer's
 * line only where a template writes them beside a link or an address, or under a rule.
 */
export const FOOTER_WORDS = ['unsubscribe', 'abbestellen', 'abmelden', 'désabonner', 'désinscrire', 'darse de baja', 'mailing list'];

/**
 * The states scripts and monitors print in capitals after what they name ("Database DOWN", "Backup
 * FAILED", "Disk FULL on backup volume"): written so, such a word makes a line a machine's status,
 * never a person's name or title in a signature. English, as the tools print it.
 */
export const STATUS_WORDS = [
  'UP',
  'DOWN',
  'OK',
  'FAIL',
  'FAILED',
  'FAILURE',
  'ERROR',
  'ERRORS',
  'WARN',
  'WARNING',
  'CRITICAL',
  'CRIT',
  'FATAL',
  'UNKNOWN',
  'DEGRADED',
  'FULL',
  'LOW',
  'HIGH',
  'OFFLINE',
  'ONLINE',
  'UNREACHABLE',
  'STOPPED',
  'RUNNING',
  'STARTED',
  'DEAD',
  'ALIVE',
  'SUCCESS',
  'SUCCEEDED',
  'PASS',
  'PASSED',
  'DONE',
  'ABORTED',
  'TIMEOUT',
  'MISSING',
  'PROBLEM',
  'RECOVERY',
  'RECOVERED',
  'RESOLVED',
  'ALARM',
  'ALERT',
  'ACTIVE',
  'INACTIVE',
  'ENABLED',
  'DISABLED',
  'PENDING',
  'SKIPPED',
  'READY',
  'BUSY',
  'IDLE',
];

/**
 * A ticket system's (Zendesk's, Freshdesk's) line above which an answer is written: the line is
 * the system's, and below the newest comment comes the ticket's history.
 */
export const REPLY_ABOVE_MARKERS = [
  'reply above this line',
  'write above this line',
  'respond above this line',
  'oberhalb dieser zeile',
  'au-dessus de cette ligne',
  'encima de esta línea',
];

/**
 * Subjects of the bounces that are no RFC 3464 report, from the null sender or an address: Exchange's
 * NDR ("Undeliverable:", in its shipped languages), Postfix's, Exim's, qmail's, Sendmail's and Gmail's
 * own words. A mail to a reply mail's return path with one of them, and no report, is a bounce that
 * failed it; without one, a mail from `<>` is no bounce all the same (an RFC 3834 auto-reply).
 */
export const BOUNCE_SUBJECTS = [
  'Undeliverable',
  'Unzustellbar',
  'Non remis',
  'Onbestelbaar',
  'No se puede entregar',
  'Non recapitabile',
  'Undelivered Mail Returned to Sender',
  'Mail delivery failed',
  'Mail Delivery Failure',
  'failure notice',
  'Returned mail',
  'Delivery Status Notification (Failure)',
  'Delivery Failure',
];

/**
 * Subjects of delay warnings that are no RFC 3464 report: Exim's and Sendmail's "Warning:", Postfix's
 * "Delayed Mail", Exchange's "Delivery delayed:", Gmail's "(Delay)". The mail is still being tried.
 */
export const DELAY_SUBJECTS = ['Warning:', 'Delayed Mail', 'Delivery Delayed', 'Delivery Status Notification (Delay)'];

/**
 * The words of a delay warning that names no 4.x.x status: Exim's "has not yet been delivered",
 * Postfix's "THIS IS A WARNING ONLY", Sendmail's "Will keep trying", Exchange's "Delivery is delayed",
 * Gmail's "temporary problem"; in German ("noch nicht zugestellt", "wird weiter versucht"), as localised
 * MTAs and Exchange write a delay. A "Warning:" subject without them (a person's) is no delay.
 */
export const DELAY_WORDINGS = [
  'has not yet been delivered',
  'not yet been delivered',
  'this is a warning only',
  'will keep trying',
  'still undelivered',
  'delivery is delayed',
  'delivery has been delayed',
  'temporary problem delivering',
  'delivery attempts will continue',
  'noch nicht zugestellt',
  'wird weiter versucht',
];

/**
 * The one returned-mail marker (Exchange's) that a person's quote writes too, Outlook's "-----Original
 * Message-----": beside an auto-reply's mark it is no bounce's (bounce.ts).
 */
export const PERSONS_QUOTE_MARKER = 'Original message';

/**
 * Lines after which a bounce quotes the mail it returns (qmail's, Exim's, Sendmail's, Exchange's): the
 * reply mail's own text follows, which is no reason of the remote server's.
 */
export const RETURNED_MESSAGE_MARKERS = [
  'Below this line is a copy of the message',
  'This is a copy of the message',
  'This is a copy of the body of the message',
  'Returned mail follows',
  PERSONS_QUOTE_MARKER,
];

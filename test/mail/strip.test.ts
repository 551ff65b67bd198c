import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StripOptions, type StripRules, stripBody, stripText, tidy, withoutControls } from '../../src/mail/strip.ts';
import { finishes } from '../helpers/finishes.ts';

const RULES: StripRules = { endMarkers: ['[EndOfMessage]'], startMarkers: ['[StartOfMessage]'], disclaimers: [] };
const strip = (text: string, rules: Partial<StripRules> = {}, options: StripOptions = {}) => stripBody(text, { ...RULES, ...rules }, options);

describe('stripBody: quoted history', () => {
  it("drops a top-posted reply's attribution and quote", () => {
    assert.equal(strip('On my way\n\nOn Mon, 23 Nov 2026 at 09:14, Alice <alice@example.com> wrote:\n> Server down\n'), 'On my way');
  });

  it('joins an attribution wrapped over two lines', () => {
    assert.equal(strip('Ok\n\nOn Mon, 23 Nov 2026 at 09:14, Alice Smith\n<alice@example.com> wrote:\n\n> Server down\n'), 'Ok');
  });

  it('keeps the new text of a bottom-posted and an interleaved reply', () => {
    assert.equal(strip('Alice wrote:\n> Server down?\n\nYes, rebooting now.\n'), 'Yes, rebooting now.');
    assert.equal(strip('> Disk full?\nYes\n> Which host?\ndb1\n'), 'Yes\ndb1');
  });

  for (const [language, attribution] of [
    ['German', 'Am 23.11.2026 um 09:14 schrieb Hans Müller <hans@example.de>:'],
    ['Swedish', 'Den 23 nov. 2026 kl. 09:14 skrev Anna <anna@example.se>:'],
    ['French', 'Le lun. 23 nov. 2026 à 09:14, Jean <jean@example.fr> a écrit :'],
    ['Spanish', 'El lun, 23 nov 2026 a las 9:14, Ana (<ana@example.es>) escribió:'],
  ] as const) {
    it(`knows the ${language} attribution`, () => {
      assert.equal(strip(`Ja\n\n${attribution}\n> alt\n`), 'Ja');
    });
  }

  it('cuts at an Outlook header block, with or without the rule above it', () => {
    const block = 'From: Alice <alice@example.com>\nSent: Monday, November 23, 2026 9:14 AM\nTo: Bob\nSubject: Server\n\nServer down\n';
    assert.equal(strip(`Will do.\n\n________________________________\n${block}`), 'Will do.');
    assert.equal(strip(`Will do.\n\n${block}`), 'Will do.');
    assert.equal(strip('Will do.\n\n-----Original Message-----\nFrom: Alice\nServer down\n'), 'Will do.');
  });

  it('treats an attribution above unquoted text as the start of a copy', () => {
    assert.equal(strip('Done\n\nOn Mon, 23 Nov 2026, Alice <alice@example.com> wrote:\nServer down\n'), 'Done');
  });
});

describe('stripBody: signatures and device lines', () => {
  it('cuts at "-- " and at "--" whose space was lost', () => {
    assert.equal(strip('Thanks,\nJohn\n-- \nJohn Smith\n+44 20 7946 0000\n'), 'Thanks,\nJohn');
    assert.equal(strip('Call me\n--\nJohn\n'), 'Call me');
  });

  it('keeps what follows a bare "--" when it holds the data lines or is no short signature block; "-- " always cuts', () => {
    const report = 'Daily report\n--\nHosts down: 5\nDisk alerts: 2\nBackups failed: 1';
    assert.equal(strip(report), report);
    const notes = `Minutes\n--\n${'an agreed point of the meeting\n'.repeat(8)}`;
    assert.equal(strip(notes), tidy(notes));
    assert.equal(strip('Call me\n--\nJohn Smith\nACME Ltd\n\nThis e-mail and any attachments are confidential.\n'), 'Call me');
    assert.equal(strip('Call me\n-- \nJohn Smith\nPhone: 020 7946 0000\nMobile: 07700 900123\nE-mail: john@example.com\n'), 'Call me');
  });

  it('keeps a script\'s output below a bare "--" (a separator it echoes); a name, title or contact block below one is a signature', () => {
    for (const output of ['md0: clean\n--\nmd1: DEGRADED, sdb2 failed', 'DB backup FAILED on db1\n--\nexit code 2\nsee /var/log/backup.log']) {
      assert.equal(strip(output), output);
    }
    assert.equal(strip('Call me\n--\nJohn Smith\nHead of Operations\n+44 20 7946 0000\njohn@example.com\n'), 'Call me');
    assert.equal(strip('Window tonight\n--\nOps team\n'), 'Window tonight');
    assert.deepEqual(
      stripText('Call me\n--\nJohn\n', RULES, {}).removed.map(({ reason }) => reason),
      ['signature (below "--", its space lost)'],
    );
  });

  it('cuts at device lines in several languages', () => {
    for (const line of [
      'Sent from my iPhone',
      'Get Outlook for Android',
      'Von meinem iPhone gesendet',
      'Envoyé de mon iPad',
      'Skickat från min iPhone',
      'Inviato da iPhone',
    ]) {
      assert.equal(strip(`Yes\n\n${line}\n`), 'Yes', line);
    }
  });

  it('keeps a "Sent from/via" line naming a machine or place whose words only start like a device, or hold a possessive further on', () => {
    for (const line of [
      'Sent from Machine 3 in hall B',
      'Sent via Mailroom printer 2',
      'Sent from application server db1 in rack 4',
      'Sent from the Appleton warehouse',
      'Sent from Edison substation 4',
      'Sent via PLC 3 on the mobile crane',
      'Sent from sensor 4 at 10 min past 3',
      'Sent via min-max monitor in hall 2',
      'Sent from Handyman van 2',
      'Sent from Spark gap tester 1',
      'Sent from Pixel counter 5 in line B',
    ]) {
      assert.equal(strip(`Temperature 9 C.\n${line}\n`), `Temperature 9 C.\n${line}`, line);
    }
    // A device's or app's name as a whole word, a possessive right after the opening, and the names that take endings still go.
    for (const line of [
      'Sent from Mail for Windows',
      'Sent from Yahoo Mail on Android',
      'Sent with Spark',
      'Sent from Edison',
      'Sent from my Pixel 7',
      'Sent from my Mac',
      'Sent from a mobile device',
      'Az iPhone-omról küldve',
      'Lähetetty iPhonesta',
      'Lähetetty Androidista',
      'Отправлено из мобильной Почты Mail.ru',
      'Отправлено с телефона',
      'Στάλθηκε από το κινητό μου',
      'iPhoneから送信',
      'Enviado desde mi teléfono',
      'Gesendet von meinem Handy',
      // Words that describe the device or app itself follow its name.
      'Sent with ProtonMail secure email.',
      'Sent with Proton Mail secure email.',
      'Sent from iPad mini',
      'Sent from iPad Pro',
      'Sent from iPhone 15 pro',
      'Sent from iPhone max',
      'Sent from iPhone plus',
      'Sent from iPad air',
    ]) {
      assert.equal(strip(`Yes\n\n${line}\n`), 'Yes', line);
    }
  });

  it('cuts at the device line GMX and WEB.DE write (79 characters) and at "Gruß" / "Grüße" alone', () => {
    assert.equal(strip('Passt.\n\nDiese Nachricht wurde von meinem Android-Mobiltelefon mit GMX Mail gesendet.\n'), 'Passt.');
    assert.equal(strip('Passt.\n\nDiese Nachricht wurde von meinem Android-Mobiltelefon mit WEB.DE Mail gesendet.\n'), 'Passt.');
    assert.equal(strip('Danke! Gib Bescheid, wenn db1 wieder läuft.\n\nGruß\n\nAlice\n'), 'Danke! Gib Bescheid, wenn db1 wieder läuft.');
    assert.equal(strip('Passt.\n\nHerzliche Grüße\nAlice\n'), 'Passt.');
  });

  it('cuts at a sign-off near the end, with the name below it', () => {
    assert.equal(strip('Will do\n\nKind regards,\nJohn Smith\nACME Ltd\n'), 'Will do');
  });

  it("cuts a sign-off with contact and register lines under the name, however many; an alert's lines under a sign-off stay", () => {
    const contacts = 'Kind regards,\nJohn Miller\nTel: +44 20 7946 0000\nMobile: +44 7700 900123\nEmail: john@example.com\n';
    assert.equal(strip(`Will do\n\n${contacts}`), 'Will do');
    assert.equal(strip(`Will do\n\n${contacts}Web: www.example.com\nAddress: 1 High Street, London\n`), 'Will do');
    const german =
      'Mit freundlichen Grüßen\n\nHans Müller\nLeiter Technik\n\nACME Anlagenbau GmbH\nTel.: +49 221 123456\nFax: +49 221 123457\nE-Mail: hans@acme.de\n\nSitz der Gesellschaft: Köln\nRegistergericht: Amtsgericht Köln, HRB 12345\n';
    assert.equal(strip(`Kommt morgen.\n\n${german}`), 'Kommt morgen.');
    assert.equal(strip('Merci\n\nCordialement,\nJean Dupont\nTél. : 01 23 45 67 89\nPortable : 06 12 34 56 78\nCourriel : jean@example.fr\n'), 'Merci');
    const alert = 'Check failed\n\nRegards,\nMonitoring\nHost: db1\nState: DOWN\nValue: 95%';
    assert.equal(strip(alert), alert);
  });

  it('keeps a P.S. or an afterthought paragraph below the signature, however long; the sign-off and name go', () => {
    const kept = (afterthought: string) => `Meet at 8.\n\n${afterthought}`;
    for (const afterthought of [
      'Please bring the keys to the north gate.',
      'P.S. bring the keys',
      'PS: bring the keys',
      `PS: bring\n${'the keys and the torch\n'.repeat(7)}`,
    ]) {
      assert.equal(strip(`Meet at 8.\n\nBest,\nBob\n\n${afterthought}`), tidy(kept(afterthought)), afterthought);
      // A P.S. needs no blank line above it; a sentence right under the name is kept with the sign-off (below).
      if (/^P\.?S/.test(afterthought)) assert.equal(strip(`Meet at 8.\n\nBest,\nBob\n${afterthought}`), tidy(kept(afterthought)), afterthought);
    }
    assert.equal(strip('Time: 8\nPlace: north gate\n\nBest,\nBob\n\nPS: bring the keys'), 'Time: 8\nPlace: north gate\n\nPS: bring the keys');
    assert.equal(
      strip('Meet at 8.\n\nKind regards,\nBob Smith\n\nP.S. The code is 4711.\n\nbob@example.com\n+44 20 7946 0000\n'),
      'Meet at 8.\n\nP.S. The code is 4711.',
    );
    assert.equal(strip('Ok\n\nRegards,\nBob\nACME Ltd.\n\nRegistered in England and Wales No. 12345.'), 'Ok');
    for (const sentence of ['Meet there.\n\nCheers\nsee you at the gate.', 'Meet at 8.\n\nBest,\nBob\nPlease bring the keys to the north gate.']) {
      assert.equal(strip(sentence), sentence);
    }
  });

  it('cuts the closings of business mail in its languages with the signature block below (Swiss ss, &, short forms)', () => {
    const block = '\n\nAlice Meyer\nLogistics\nACME Logistics AG, Bahnhofstrasse 1, 8001 Zürich\nTel: +41 44 123 45 67\n';
    const reply = '\n\nOn 05.12.26 17:00, Bob <bob@example.com> wrote:\n> Which gate?\n';
    for (const closing of [
      'Freundliche Grüsse',
      'Mit lieben Grüßen',
      'Viele liebe Grüsse',
      'LG',
      'Thanks & Regards,',
      'Thanks & regards',
      'Thanks and best regards,',
      'With best wishes,',
      'Rgds',
      'Amicalement,',
      'Cdlt',
      'Bàv',
      'Très cordialement,',
      'Hartelijke groet,',
      'Met hartelijke groeten',
      'Groetjes',
      'Mvg',
      'Hälsningar',
      'Bästa hälsningar,',
      'Serdecznie pozdrawiam',
      'Pozdrowienia',
      'Un abrazo,',
      'Atte.',
      'Abraço',
      'Um abraço,',
      'Un saluto',
      'Saluti cordiali',
      'İyi çalışmalar',
      'Saygılar,',
      'С наилучшими пожеланиями',
      'Hilsen',
      'Vh',
      'Med venlige hilsner',
      'Mit freundlichen Grüssen / Thanks & Regards',
    ]) {
      assert.equal(strip(`Gate 4 is closed, use gate 6.\n\n${closing}${block}`), 'Gate 4 is closed, use gate 6.', closing);
      assert.equal(strip(`Gate 4 is closed, use gate 6.\n\n${closing}${block}${reply}`), 'Gate 4 is closed, use gate 6.', `${closing} (reply)`);
    }
  });

  it('keeps a closing word inside a sentence, or with a sentence right under it, as the text', () => {
    for (const text of [
      'Un abrazo para todos, nos vemos el lunes.\nAna',
      'Groetjes aan Piet, de poort is dicht.\nAnna',
      'Hilsen fra Oslo\nKari',
      'İyi çalışmalar dilerim, kapı 6 açık.\nAyşe',
      'Thanks & regards to the night shift for fixing db1.\nBob',
      'Gate 6.\n\nAmicalement\nrendez-vous à la porte 6.',
    ]) {
      assert.equal(strip(text), text);
    }
  });

  it('keeps a sign-off word far from the end, and "Thanks"', () => {
    const long = `Cheers\n${'line\n'.repeat(8)}`;
    assert.equal(strip(long), tidy(long));
    assert.equal(strip('Done\nThanks,\nJohn\n'), 'Done\nThanks,\nJohn');
  });

  it('keeps what machine mail says: "Sent from" a host and "----" rules are content', () => {
    const alert = 'PROBLEM: db1 DOWN\nSent from nagios01 at 10:00\n----\nHost: db1\nState: DOWN';
    assert.equal(strip(alert), alert);
  });
});

describe('stripBody: disclaimers and markers', () => {
  it('drops built-in and configured disclaimers and all below them', () => {
    assert.equal(strip('Pump 3 stopped\n\nCONFIDENTIALITY NOTICE: This e-mail is for the addressee.\nMore legal text\n'), 'Pump 3 stopped');
    assert.equal(strip('Pump 3 stopped\n\nACME GmbH, Registergericht Köln\n', { disclaimers: ['ACME GmbH, Registergericht'] }), 'Pump 3 stopped');
  });

  // Lines are compared without case from their first character on (a line whose first character opens no disclaimer is
  // not lower-cased whole): first characters that lower-case to two, that another character lower-cases to, astral ones,
  // the typographic apostrophe and Outlook's Wingdings leaf are compared as the whole line's lower case compares them.
  it('compares a line with the configured openings in lower case whatever its first character', () => {
    const disclaimers = ['İşbu e-posta gizlidir', 'Kein Vertrag', '𐐀 Deseret notice', '’Twas confidential', 'Σημείωση'];
    for (const line of [
      'İŞBU E-POSTA GIZLIDIR ve',
      '\u212Aein Vertrag kommt zustande',
      '𐐨 deseret notice',
      "'twas confidential",
      'P  ΣΗΜΕΊΩΣΗ: εμπιστευτικό',
    ]) {
      assert.equal(strip(`Pump 3 stopped\n\n${line}\nMore legal text\n`, { disclaimers }), 'Pump 3 stopped', line);
    }
    // An empty opening opens every line, the first one too.
    assert.equal(strip('Pump 3 stopped\n\nKein Vertrag\n', { disclaimers: ['', 'Kein Vertrag'] }), '');
    // … a line whose first character no other opening starts with too.
    assert.equal(strip('Xylophone\n\nKein Vertrag\n', { disclaimers: ['', 'Kein Vertrag'] }), '');
    assert.equal(strip('Pump 3 stopped\n\nEin Vertrag\n', { disclaimers: ['Kein Vertrag'] }), 'Pump 3 stopped\n\nEin Vertrag');
  });

  for (const disclaimer of [
    'Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie nicht der richtige Adressat sind, informieren Sie bitte sofort den Absender.',
    "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention exclusive de ses destinataires.",
    'Ce message et toutes les pièces jointes sont confidentiels.\nPensez à l’environnement avant d’imprimer ce message.',
    'De informatie verzonden in dit e-mailbericht is vertrouwelijk en is uitsluitend bestemd voor de geadresseerde.',
    'AVISO DE CONFIDENCIALIDAD: Este mensaje y sus archivos adjuntos van dirigidos exclusivamente a su destinatario.',
    'Bitte denken Sie an die Umwelt, bevor Sie diese E-Mail ausdrucken.',
    "Pensez à l'environnement avant d'imprimer ce message.",
    'This e-mail and any files transmitted with it are confidential and intended solely for the addressee.',
    'This message contains confidential information and is intended only for the individual named.',
    'IMPORTANT NOTICE: This e-mail and any attachments may contain privileged information. If you are not the intended recipient, please delete it.',
    'CONFIDENTIALITY: This message is intended only for the addressee. If you are not the intended recipient, any use of it is prohibited.',
    'P Please consider the environment before printing this e-mail.',
    'Questo messaggio e i suoi allegati sono riservati.',
    'Esta mensagem é confidencial.',
    'Detta e-postmeddelande och eventuella bilagor är konfidentiella.',
    'Denne e-mail er fortrolig.',
    'Denne e-posten er konfidensiell.',
    'Tämä viesti on luottamuksellinen.',
    'Ta wiadomość jest poufna.',
  ]) {
    it(`drops a disclaimer opening "${disclaimer.slice(0, 40)}…" and all below it`, () => {
      assert.equal(strip(`Delivery at 9.\n\n${disclaimer}\nMore legal text\n`), 'Delivery at 9.');
    });
  }

  it("keeps a person's paragraph under a heading a disclaimer may have: IMPORTANT NOTICE:, CONFIDENTIALITY:", () => {
    for (const text of [
      'Delivery at 9.\n\nIMPORTANT NOTICE: the north gate is closed tonight, use the south gate.',
      'Delivery at 9.\n\nCONFIDENTIALITY: please keep the incident to the team until the review is published at the end of the week, thank you.',
      'Bitte denken Sie an die Umweltauflagen bei der Anlieferung.',
    ]) {
      assert.equal(strip(text), text);
    }
  });

  it("takes a disclaimer's opening only where a block starts, never on a hard-wrapped paragraph's next line", () => {
    for (const text of [
      'Bob, please compare the numbers in the attached log with\nthe information in this email and call me when you are done, the\nvendor is waiting for us.\n\nAlice',
      'Bob, the website team asked us to review the new legal\ndisclaimer for the pump monitoring portal before Friday. Pump 4\nis fine again, no need to go in tonight.',
      'Bob, I know\nthis email is confidential by default, but forward it to the\nvendor anyway, they need the pump 4 trip times for the warranty.',
    ]) {
      assert.equal(strip(text), text);
    }
    // Under a blank line, a rule, or a signature's last line (an Exchange rule appends it so), it goes.
    const legal = 'This email and any attachments are confidential and intended solely for the addressee.';
    assert.equal(strip(`Pump 4 is fine now.\n\nAlice Smith\nOps Lead\n${legal}`), 'Pump 4 is fine now.\n\nAlice Smith\nOps Lead');
    const long = `${legal} If you have received this email in error please notify the system manager.`;
    assert.equal(
      strip(`Pump 4 is fine now.\n\nAlice Smith\nACME Water Ltd | 1 Main Street, London EC1A 1AA\n${long}`),
      'Pump 4 is fine now.\n\nAlice Smith\nACME Water Ltd | 1 Main Street, London EC1A 1AA',
    );
    assert.equal(
      strip(`Pump 4 is fine now.\n\nAlice Smith\n+44 7700 900123\n\n${'_'.repeat(30)}\n${legal}`),
      'Pump 4 is fine now.\n\nAlice Smith\n+44 7700 900123',
    );
  });

  it("drops legal text with a gateway's or a rule's short line below it, or a greeting alone above it; only the writer's own paragraph, sign-off and name, or full name keeps it", () => {
    const body = 'Hi Bob,\n\nPump 4 tripped again at 02:00. Please check the breaker when you are on site.\n\nAlice Smith\nOps Lead';
    const legal =
      'This email and any files transmitted with it are confidential and intended solely for the use of the individual or entity to whom they are addressed. If you have received this email in error please notify the sender immediately and delete it.';
    for (const below of [
      'Thank you.',
      'Thank you for your cooperation.',
      'Think before you print.',
      "Save a tree. Don't print this email unless it's really necessary.",
      'This email has been scanned for viruses and malware by Mimecast Ltd.',
      'CAUTION: This email originated from outside of the organization. Do not click links or open attachments unless you recognise the sender.',
      'This message originated from outside your organisation.',
      'Any views or opinions presented are solely those of the author and do not necessarily represent those of the company.',
      'We take your privacy seriously. Read our privacy notice at https://acme.example/privacy',
      'Acme',
    ]) {
      assert.equal(strip(`${body}\n\n${legal}\n\n${below}`), body, below);
      assert.equal(strip(`${body}\n\nDISCLAIMER: ${legal}\n\n${below}`), body, below);
    }
    for (const greeting of ['Dear Bob,', 'Hi Bob,']) assert.equal(strip(`${greeting}\n\n${legal}`), greeting);
    for (const views of [
      'Disclaimer: The views and opinions expressed in this email are those of the author and do not necessarily reflect the official policy or position of ACME Water Ltd.',
      'Disclaimer: Any views or opinions presented in this email are solely those of the author and do not necessarily represent those of the company.',
    ]) {
      assert.equal(strip(`${body}\n\n${views}`), body, views);
    }
    // The writer's own below it keeps it: a sentence of theirs, a sign-off with a name, a full name.
    for (const below of ['Also pump 4 is down, call me when you read this.', 'Thanks,\nAlice', 'Alice Smith']) {
      assert.equal(strip(`Hi Bob,\n\n${legal}\n\n${below}`), `Hi Bob,\n\n${legal}\n\n${below}`, below);
    }
  });

  it("keeps a writer's paragraph opening as a disclaimer does when their text, sign-off or name is below it, or only a greeting above it", () => {
    const door =
      'This email is confidential, do not forward it to the contractor: the new door code for the pump room is 4711 and the alarm code is 0815, both valid until Friday.';
    for (const text of [
      'Hi Bob,\n\nThis email is confidential: door code 4711.\n\nAlso pump 4 is down, call me when you read this.',
      'Pump 4 tripped at 02:00.\n\nDisclaimer: I have not checked the logs yet.\n\nCall me at 8.',
      'Hi Bob,\n\nThe information in this email is what the vendor sent me: firmware 2.1 fixes the trip.\n\nAlice',
      `Hi Bob,\n\n${door}\n\nThanks,\nAlice`,
      'Hallo Bob,\n\nDiese E-Mail ist vertraulich: Türcode 4711.\n\nPumpe 4 steht, ruf mich an.',
      'Bonjour Bob,\n\nCe message est confidentiel : code porte 4711.\n\nLa pompe 4 est arrêtée, appelle-moi.',
      'Hi all,\n\nIMPORTANT NOTICE: the pump room is closed tonight for maintenance. The contractor needs access from 22:00 to 04:00 and all alarms from that room must be ignored during that time, confidential for now.',
    ]) {
      assert.equal(strip(text), text);
    }
    // The sign-off below goes as a sign-off does; the paragraph it kept stays.
    assert.equal(strip(`Pump 4 is down.\n\n${door}\n\nCheers`), `Pump 4 is down.\n\n${door}`);
    // In a reply, the writer's paragraph under it keeps it; the quote below goes as always.
    assert.equal(
      strip('Disclaimer: I have not checked the logs yet.\n\nRestart it anyway.\n\nOn Mon, 7 Dec 2026 at 11:22, Bob <bob@example.com> wrote:\n> Pump 4 down\n'),
      'Disclaimer: I have not checked the logs yet.\n\nRestart it anyway.',
    );
  });

  it('drops a disclaimer above the mail answered, its translation or a company line below it, and "Disclaimer:" over legal text in any case', () => {
    const legal =
      'This email and any attachments are confidential and intended solely for the addressee. If you have received it in error, please notify the sender.';
    assert.equal(
      strip(`Pump 4 is fine now.\n\nThis email is confidential.\n\nOn Mon, 7 Dec 2026 at 11:22, Bob <bob@example.com> wrote:\n> hi\n`),
      'Pump 4 is fine now.',
    );
    assert.equal(
      strip(
        'Pump 4 is fine now.\n\nDISCLAIMER: Do not forward.\n\nFrom: Bob <bob@example.com>\nSent: Monday, 7 December 2026 11:22\nTo: Alice\nSubject: Pump\n\nhi\n',
      ),
      'Pump 4 is fine now.',
    );
    assert.equal(
      strip(`Pump 4 is fine now.\n\n${legal}\n\nACME Water Ltd\n\nPlease consider the environment before printing this email.`),
      'Pump 4 is fine now.',
    );
    assert.equal(strip(`Pump 4 is fine now.\n\nDisclaimer: ${legal}`), 'Pump 4 is fine now.');
    assert.equal(strip(`Pump 4 is fine now.\n\nDISCLAIMER\n${legal}`), 'Pump 4 is fine now.');
  });

  it('keeps only the text between start and end markers', () => {
    assert.equal(strip('Header junk\n[StartOfMessage]\nThe text\n[EndOfMessage]\nFooter junk'), 'The text');
    assert.equal(strip('Call me [EndOfMessage] footer'), 'Call me');
    assert.equal(strip('Call me #end footer', { endMarkers: ['#end'] }), 'Call me');
  });
});

describe('stripBody: structure over wording (issue #14 shapes)', () => {
  for (const [shape, attribution] of [
    ['date first', '2026-03-20 8:48 GMT+01:00 Ana Silva <ana@example.com>:'],
    ['Finnish', 'Ana Silva (ana@example.com) kirjoitti ti 20.3.2026 klo 8.48:'],
    ['Hungarian', 'Ana Silva <ana@example.com> ezt írta (időpont: 2026. márc. 20., K, 8:48):'],
    ['Russian', 'вт, 20 мар. 2026 г. в 08:48, Ana Silva <ana@example.com>:'],
    ['Japanese', '2026年3月20日(火) 8:48 Ana Silva <ana@example.com>:'],
    ['Korean', '2026년 3월 20일 (화) 오전 8:48, Ana Silva <ana@example.com>님이 작성:'],
    ['Catalan', 'El dt., 20 de març 2026 a les 8:48, Ana Silva (<ana@example.com>) va escriure:'],
    ['wrapped over three lines', 'On Tue, 20 Mar 2026 at 08:48, Ana Silva\n<ana@example.com>\nwrote:'],
  ] as const) {
    it(`knows an attribution by its structure: ${shape}`, () => {
      assert.equal(strip(`Ja\n\n${attribution}\n> alt\n`), 'Ja');
    });
  }

  it('knows "---- Ana wrote ----" above an unquoted copy', () => {
    assert.equal(strip('On it.\n\n---- Ana Silva wrote ----\n\nIs the gate open?\n'), 'On it.');
  });

  for (const [language, block] of [
    ['French', 'De : Ana <ana@example.fr>\nEnvoyé : mardi 20 mars 2026 08:48\nÀ : Bob\nObjet : RE : Usine'],
    ['Polish', 'Od: Ana <ana@example.pl>\nWysłano: wtorek, 20 marca 2026 08:48\nDo: Bob\nTemat: Magazyn'],
    ['Russian', 'От: Ana <ana@example.ru>\nОтправлено: 20 марта 2026 г. 8:48\nКому: Bob\nТема: Склад'],
    ['Japanese', '差出人: Ana <ana@example.jp>\n送信日時: 2026年3月20日 8:48\n宛先: Bob\n件名: 倉庫'],
    ['Chinese', '发件人: Ana <ana@example.cn>\n发送时间: 2026年3月20日 8:48\n收件人: Bob\n主题: 仓库'],
    ['Arabic', 'من: Ana <ana@example.com>\nتاريخ الإرسال: الأربعاء، 3 ديسمبر 2026 10:12\nإلى: Ali <a@example.com>\nالموضوع: الخادم'],
    ['Persian', 'از: Ana <ana@example.com>\nارسال شده: چهارشنبه، 3 دسامبر 2026 10:12\nبه: Ali <a@example.com>\nموضوع: سرور'],
    ['Vietnamese', 'Từ: Ana <ana@example.vn>\nĐã gửi: Thứ Ba, 20 tháng 3, 2026 08:48\nĐến: Bob\nChủ đề: Kho'],
    ['Indonesian', 'Dari: Ana <ana@example.id>\nDikirim: Selasa, 20 Maret 2026 08.48\nKepada: Bob\nPerihal: Gudang'],
    ['Thai', 'จาก: Ana <ana@example.th>\nส่ง: 20 มีนาคม 2026 8:48\nถึง: Bob\nเรื่อง: คลังสินค้า'],
    ['Slovak', 'Od: Ana <ana@example.sk>\nOdoslané: utorok 20. marca 2026 8:48\nKomu: Bob\nPredmet: Sklad'],
    ['Slovenian', 'Od: Ana <ana@example.si>\nPoslano: torek, 20. marec 2026 8:48\nZa: Bob\nZadeva: Skladišče'],
    ['Croatian', 'Šalje: Ana <ana@example.hr>\nPoslano: utorak, 20. ožujka 2026. 8:48\nPrima: Bob\nPredmet: Skladište'],
    ['Bulgarian', 'От: Ana <ana@example.bg>\nИзпратено: вторник, 20 март 2026 г. 8:48\nДо: Bob\nТема: Склад'],
    ['Lithuanian', 'Nuo: Ana <ana@example.lt>\nIšsiųsta: 2026 m. kovo 20 d. 8:48\nKam: Bob\nTema: Sandėlis'],
    ['Latvian', 'No: Ana <ana@example.lv>\nNosūtīts: otrdiena, 2026. gada 20. marts 8:48\nKam: Bob\nTēma: Noliktava'],
    ['Estonian', 'Saatja: Ana <ana@example.ee>\nSaadetud: teisipäev, 20. märts 2026 8:48\nAdressaat: Bob\nTeema: Ladu'],
  ] as const) {
    it(`cuts at a ${language} header block`, () => {
      assert.equal(strip(`Oui.\n\n${block}\n\nold text\n`), 'Oui.');
    });
  }

  it("cuts at Lotus Notes' older header, whose labels stand alone on their lines without colons", () => {
    const copy = 'Subject\nMeeting\n\nCan we meet at 3pm?\n';
    assert.equal(strip(`OK.\n\n"Finance Team" <finance@acme.example>\n03.12.2026 17:02\nTo\nHans Weber <hans@acme.example>\ncc\n\n${copy}`), 'OK.');
    // The sender as name and address on two lines, a US date, German labels.
    assert.equal(
      strip(`OK.\n\nFinance Team\n<finance@acme.example>\n12/03/2026 05:02 PM\nAn\nHans Weber/ACME@ACME\nKopie\n\nBetreff\nTreffen\n\nUm 15 Uhr?\n`),
      'OK.',
    );
    // Without a Subject label below, or with the writer's own line right above the date, it is text.
    const agenda = 'OK.\n\nPlan for\n03.12.2026 17:02\nTo\ndo: the backups\n';
    assert.equal(strip(agenda), tidy(agenda));
    const written = 'OK.\n\nSee the list:\n03.12.2026 17:02\nTo\nHans\nSubject\nMeeting\n';
    assert.equal(strip(written), tidy(written));
  });

  it('reads a Notes column line whose gap of blanks runs into another space (U+00A0) in one pass', () => {
    // Far past any real line: looking for Notes' right column from each blank of the run took minutes on it.
    const module = new URL('../../src/mail/strip.ts', import.meta.url).href;
    const text = finishes(`
      import { stripBody } from ${JSON.stringify(module)};
      const line = '03/20/2026 08:48 AM' + ' '.repeat(500000) + '\\u00a0To';
      console.log(JSON.stringify(stripBody('OK.\\n\\nFinance Team\\n' + line + '\\nHans\\n', { endMarkers: [], startMarkers: [], disclaimers: [] })));
    `);
    assert.equal(JSON.parse(text), 'OK.\n\nFinance Team\n03/20/2026 08:48 AM To\nHans');
    // The column after a gap that ends in a tab is still read: the header is cut.
    assert.equal(strip(`OK.\n\nFinance Team\n03.12.2026 17:02  \tTo\nHans Weber\n\nSubject\nMeeting\n`), 'OK.');
  });

  it("never drops the writer's line right above a quoted attribution", () => {
    assert.equal(strip('Hello\n> On Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\n> > old\n'), 'Hello');
  });

  it('removes a rule line and an orphaned quote continuation with the quote', () => {
    assert.equal(strip('Yes.\n\n----------\nOn Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\n> old\n'), 'Yes.');
    assert.equal(strip('Yes.\n\n> Can you check whether the backup job on db2 finished before you leave\ntonight?\n> Thanks\n'), 'Yes.');
  });

  it('drops device lines only at the end: "Sent from my desk, …" in running text stays', () => {
    assert.equal(strip('On it.\n\nSent from Mailbox for iPhone\n'), 'On it.');
    assert.equal(strip('Готово.\n\nОтправлено с iPhone\n'), 'Готово.');
    const running = 'I answered.\nSent from my desk, it is much easier than my phone.\nCall me.';
    assert.equal(strip(running), running);
    assert.equal(strip('Use the arrow >>> next to Settings.'), 'Use the arrow >>> next to Settings.');
  });

  it('drops device lines of scripts without word spaces and with attached one-letter words', () => {
    for (const device of ['发自我的iPhone', '发自我的华为手机', '从我的iPhone发送', '從我的 iPhone 傳送', 'נשלח מה-iPhone שלי', 'נשלח מהטלפון שלי']) {
      assert.equal(strip(`בסדר.\n\n${device}\n`), 'בסדר.', device);
    }
    // Arabic vowel signs are optional: with or without them it is the same line.
    assert.equal(strip('قادم.\n\nأُرسلت من الـ iPhone\n'), 'قادم.');
    assert.equal(strip('قادم.\n\nأرسلت من الـ iPhone\n'), 'قادم.');
    // A start that ends in a spaced script's word still needs a word end after it.
    assert.equal(strip('On it.\n\nSent fromage\n'), 'On it.\n\nSent fromage');
  });

  it('classifies lines alike with a bidi mark at their start, and keeps the marks of the lines it keeps', () => {
    const rlm = '\u200f';
    assert.equal(strip(`${rlm}אני בדרך.\n\n${rlm}Sent from my iPhone\n`), `${rlm}אני בדרך.`);
    assert.equal(strip(`${rlm}אני בדרך.\n\n${rlm}-- \n${rlm}דן כהן\n${rlm}מנהל מערכות\n`), `${rlm}אני בדרך.`);
    const header = ['מאת: Bob <bob@example.org>', 'נשלח: יום רביעי 3 דצמבר 2026 10:12', 'אל: Dan <d@example.com>', 'נושא: שרת'];
    assert.equal(strip(`${rlm}בוצע.\n\n${header.map((line) => rlm + line).join('\n')}\n\nהשרת נפל.\n`), `${rlm}בוצע.`);
    assert.equal(strip(`Done.\n\n\u200e\u2067From: Bob <bob@example.org>\n\u200eSent: Monday\n\u200eTo: Dan\n\u200eSubject: Server\n\nServer down.`), 'Done.');
  });

  it('drops a contact-block signature and a sign-off block above a disclaimer it does not know', () => {
    assert.equal(strip('On it.\n\nAna Silva\nana@example.com\n+44 20 7946 0321\nwww.example.com\n'), 'On it.');
    const legal =
      'This message is intended only for the addressee and may contain privileged or confidential information. If you are not the intended recipient, delete it.';
    assert.equal(strip(`On it.\n\nKind regards,\nAna Silva\nShift Supervisor\nExample Ltd\n\n${legal.replace(/(.{60}) /g, '$1\n')}\n`), 'On it.');
  });

  it('keeps machine mail whole: Label: value runs with a date and contact lines at the end', () => {
    const alert = 'Host: db1\nState: CRITICAL\nDate: 2026-03-20 08:48\n\nContact: ops\n+44 20 7946 0000\nnoc@example.com';
    assert.equal(strip(alert), alert);
    const voicemail = 'From: +44 20 7946 0000\nTo: Reception\nDate: 20 March 2026 08:48\nDuration: 0:42';
    assert.equal(strip(voicemail), voicemail);
  });

  it("keeps a forward's body: only its marker and forwarded header lines go", () => {
    const forward =
      'FYI\n\n---------- Forwarded message ---------\nFrom: Ana <ana@example.com>\nDate: Tue, 20 Mar 2026\nSubject: Gate\nTo: Bob\n\nThe gate is stuck.\n';
    assert.equal(strip(forward, {}, { forward: true }), 'FYI\n\nThe gate is stuck.');
    assert.equal(
      strip('-----Original Message-----\nVon: Ana\nGesendet: Dienstag\nAn: Bob\nBetreff: Tor\n\nDas Tor klemmt.\n', {}, { forward: true }),
      'Das Tor klemmt.',
    );
  });
});

describe('stripBody: forwards', () => {
  it('Apple Mail\'s ">"-quoted forward below its marker is the content; a quote inside it stays a quote', () => {
    const forward =
      '\nBegin forwarded message:\n\n> From: Ana <ana@example.com>\n> Subject: Gate\n> Date: 20 March 2026 at 08:48:00 GMT\n> To: Bob\n>\n> The gate is stuck.\n>\n>> Is the gate open?\n';
    assert.equal(strip(forward, {}, { forward: true }), 'The gate is stuck.');
    assert.equal(strip(`See below.\n${forward}\nCall me.`, {}, { forward: true }), 'See below.\n\nThe gate is stuck.\n\nCall me.');
  });
});

describe('withoutControls', () => {
  it('removes C0 and C1 controls and terminal colour sequences, makes vertical tab and form feed a space, keeps line breaks and tabs', () => {
    assert.equal(withoutControls('ab\x07c\x1bd\r\n\x1b[1;31mred\x1b[0m\tx\fy\vz\x00\x7f\x85\n'), 'abcd\r\nred\tx y z\n');
    const text = 'Grüße 👍\nHost: db1';
    assert.equal(withoutControls(text), text);
  });
});

describe('tidy', () => {
  it('trims lines, collapses inner runs and blank lines, keeps line breaks', () => {
    assert.equal(tidy('\r\n  Host:\t\tdb1  \r\n\r\n\r\n\r\nState:   DOWN \n\n'), 'Host: db1\n\nState: DOWN');
  });
  it('a no-break or other Unicode space beside spaces is part of the run: one space', () => {
    assert.equal(tidy('Done \u00a0 ok\u2009\u00a0now'), 'Done ok now');
  });
  it('a line that shows nothing (zero-width space, soft hyphen, bidi marks) is blank; a text of such lines is empty', () => {
    assert.equal(tidy('Hello\n\u200b\n \u00ad \n\u200e\nWorld'), 'Hello\n\nWorld');
    assert.equal(tidy('\u200e\n\u200f\n\ufeff\u2060'), '');
    assert.equal(tidy('\u200fשלום'), '\u200fשלום');
  });
  it("tidy text tidied again is the same text (the mail reader tidies stripText's text only where a tag or marker came out)", () => {
    // Every blank, line end and invisible character tidy reads, at line edges, inside lines and between them, in twos.
    const pieces = ['', ' ', '\t', '\u00a0', '\u2009', '\u3000', '\u200b', '\u00ad', '\u200e', '\ufeff', '\u2028', '\r', '\n', '\r\n', 'a', 'b c', '\u05e9'];
    for (const first of pieces)
      for (const second of pieces)
        for (const text of [`${first}${second}`, `x${first}\n${second}y`, `${first}x\n\n\n${second}\n`, `x\n${first}\n${second}\ny`]) {
          assert.equal(tidy(tidy(text)), tidy(text), JSON.stringify(text));
        }
  });
});

describe('stripText: list and notification footers', () => {
  const removedBy = (text: string, options: StripOptions = { reply: false }) => {
    const stripped = stripText(text, RULES, options);
    return { text: stripped.text, reasons: stripped.removed.map(({ reason }) => reason), quoteRemoved: stripped.quoteRemoved };
  };
  const FOOTER = 'mailing-list or notification footer';

  it('removes a last block of footer lines under a rule of any kind, a reply or not', () => {
    const github =
      'Fixed in v1.2.3, please upgrade.\n\n—\nReply to this email directly, view it on GitHub<https://github.com/acme/relay/issues/42#issuecomment-1>, or unsubscribe<https://github.com/notifications/unsubscribe-auth/AAAA>.\nYou are receiving this because you were mentioned.Message ID: <acme/relay/issues/42/1@github.com>\n';
    assert.deepEqual(removedBy(github, { reply: true }), { text: 'Fixed in v1.2.3, please upgrade.', reasons: [FOOTER], quoteRemoved: false });
    const groups =
      'Anna takes the pager from Monday.\n\n---\nYou received this message because you are subscribed to the Google Groups "oncall" group.\nTo unsubscribe from this group and stop receiving emails from it, send an email to oncall+unsubscribe@googlegroups.com.\nTo view this discussion visit https://groups.google.com/d/msgid/oncall/abc.\n';
    assert.deepEqual(removedBy(groups), { text: 'Anna takes the pager from Monday.', reasons: [FOOTER], quoteRemoved: false });
    const discourse =
      'The nightly backup job failed again on host nas2.\n\n---\n\n[Visit Topic](https://forum.example.com/t/backup/123/2) or reply to this email to respond.\n\nTo unsubscribe from these emails, [click here](https://forum.example.com/email/unsubscribe/abc).\n';
    assert.equal(removedBy(discourse).text, 'The nightly backup job failed again on host nas2.');
    const listserv =
      'The campus network will be down Saturday 06:00-08:00.\n\n############################\n\nTo unsubscribe from the IT-ANNOUNCE list, click the following link:\nhttps://listserv.example.edu/scripts/wa.exe?SUBED1=IT-ANNOUNCE&A=1\n';
    assert.equal(removedBy(listserv).text, 'The campus network will be down Saturday 06:00-08:00.');
  });

  it("removes footer lines ending an alert without a rule, and keeps the alert's own lines and links", () => {
    const pagerduty =
      'You have 1 TRIGGERED incident.\n\nService: Database\nUrgency: high\nAssigned to: Bob\n\nAcknowledge: https://acme.pagerduty.com/incidents/P1/ack\n\nUnsubscribe: https://acme.pagerduty.com/unsubscribe?t=xyz\n';
    assert.equal(
      removedBy(pagerduty).text,
      'You have 1 TRIGGERED incident.\n\nService: Database\nUrgency: high\nAssigned to: Bob\n\nAcknowledge: https://acme.pagerduty.com/incidents/P1/ack',
    );
    const azure =
      "Alert rule HighCPU\nValue 97.3\nView the alert in Azure Monitor\nYou're receiving this notification as a member of the action group ops-ag. To unsubscribe from emails directed to this action group, click here.\nMicrosoft Corporation, One Microsoft Way, Redmond, WA 98052\n";
    assert.equal(removedBy(azure).text, 'Alert rule HighCPU\nValue 97.3\nView the alert in Azure Monitor');
    const opsgenie = 'Message db1 down\nPriority P1\n\nAcknowledge | Close\n\nYou are receiving this email because you are on call. Unsubscribe\n';
    assert.equal(removedBy(opsgenie).text, 'Message db1 down\nPriority P1\n\nAcknowledge | Close');
    const links = 'Disk full on nas2.\nHost: nas2\nValue: 97%\nGraph: https://grafana.example.com/d/disk\nRunbook: https://wiki.example.com/disk-full\n';
    assert.deepEqual(removedBy(links), { text: links.trim(), reasons: [], quoteRemoved: false });
    const sentences = 'Disk full on nas2.\n\n---\nPlease reply to this email when it is fixed.\nThe backup waits for it.\n';
    assert.equal(removedBy(sentences).text, sentences.trim());
  });

  it("keeps the writer's last sentence with a footer's word around their own words, or a footer's phrase with no link or footer word to back it", () => {
    for (const last of [
      'Please add bob@example.com to the on-call mailing list.',
      'Please add bob@example.com to the on-call mailing list',
      'Bob wants to join the mailing list, his address is bob@example.com',
      'Unsubscribe me from the night alarms from Monday, I move to days: alice@example.com',
      'Reply to this email directly if it trips again.',
      'You are receiving this because you are on call this week.',
    ]) {
      for (const text of [`Pump 4 is fine now.\n\n${last}`, `Pump 4 is fine now.\n\n${last}\n\nAlice`]) {
        assert.deepEqual(removedBy(text), { text, reasons: [], quoteRemoved: false });
      }
    }
    // The templates' own lines, without a rule above them, still go.
    for (const footer of [
      'Reply to this email directly, view it on GitHub<https://github.com/acme/relay/issues/42>, or unsubscribe<https://github.com/notifications/unsubscribe-auth/AAAA>.\nYou are receiving this because you were mentioned.',
      'You received this message because you are subscribed to the Google Groups "oncall" group.\nTo unsubscribe from this group and stop receiving emails from it, send an email to oncall+unsubscribe@googlegroups.com.',
      'If you no longer want these mails, unsubscribe here: https://alerts.example.com/u?t=1',
    ]) {
      assert.deepEqual(removedBy(`Pump 4 is fine now.\n\n${footer}`), { text: 'Pump 4 is fine now.', reasons: [FOOTER], quoteRemoved: false });
    }
  });

  it("drops, without a rule or a link (HTML's text has none), the footer phrases no person writes, two phrases on a line, and a footer word beside a link", () => {
    for (const footer of [
      'This is an automated message. Please do not reply to this email.',
      'Please do not reply to this email, this mailbox is not monitored.',
      'Do not reply to this email. This message was sent from an unmonitored mailbox.',
      'Do not reply directly to this message.',
      'You are receiving this because you are a member of the ops action group. Manage notification preferences in the Azure portal.',
      'Manage notification settings in Grafana.',
      'You are receiving this email because you have notifications turned on. Manage notification settings',
      'Stop watching space • Manage notifications\nThis message was sent by Atlassian Confluence 8.5.4',
      'Reply to this email directly or view it on GitHub.',
      'If you no longer wish to receive these emails, you may unsubscribe at any time: https://acme.example/u/abc',
      'You can unsubscribe by clicking this link: https://acme.example/u/abc',
    ]) {
      assert.deepEqual(removedBy(`Pump 4 is fine now.\n\n${footer}`), { text: 'Pump 4 is fine now.', reasons: [FOOTER], quoteRemoved: false }, footer);
    }
  });

  it("keeps an alert's last line that only holds a footer's word, without a link or a rule", () => {
    for (const alert of [
      'CRITICAL\nHost: lists01\nMailing list server down',
      'WARNING\nUnsubscribe queue backlog: 5000',
      'Job failed on erp2.\nThe abmelden step timed out.',
    ]) {
      assert.deepEqual(removedBy(alert), { text: alert, reasons: [], quoteRemoved: false });
    }
  });

  it('names a footer under "-- " or an Outlook-like rule a footer, not a signature or the mail answered', () => {
    const mailman =
      'Power work on rack 4 at 22:00.\n\n_______________________________________________\nops-team mailing list\nops-team@lists.example.com\nhttps://lists.example.com/mailman/listinfo/ops-team\n';
    assert.deepEqual(removedBy(mailman), { text: 'Power work on rack 4 at 22:00.', reasons: [FOOTER], quoteRemoved: false });
    const slack =
      "Ann\n#ops: db1 lag is 300 s, please check\n\n________________________________________________________________\n\n@2026 Slack Technologies, LLC, a Salesforce company\n500 Howard Street, San Francisco, CA 94105\nYou're receiving this email because you have notifications turned on. Change your notification preferences ( https://acme.slack.com/account/notifications ).\n";
    assert.deepEqual(removedBy(slack), { text: 'Ann\n#ops: db1 lag is 300 s, please check', reasons: [FOOTER], quoteRemoved: false });
    const gitlab =
      "Your pipeline has failed.\n\n-- \nYou're receiving this email because of your account on gitlab.example.com.\nManage all notifications: https://gitlab.example.com/-/profile/notifications\nHelp: https://gitlab.example.com/help\n";
    assert.deepEqual(removedBy(gitlab), { text: 'Your pipeline has failed.', reasons: [FOOTER], quoteRemoved: false });
    assert.deepEqual(removedBy('Will do.\n\n-- \nAna Silva\nOps\n').reasons, ['signature (below "-- ")']);
  });

  it('counts the lines of a removed block as written: the final line break of the body adds none (preview says "2 lines" for "-- " and a name)', () => {
    for (const body of ['Hello there\n-- \nsig\n', 'Hello there\r\n-- \r\nsig\r\n\r\n', 'Hello there\n-- \nsig']) {
      assert.deepEqual(
        stripText(body, RULES, { reply: false }).removed.map(({ reason, lines }) => [reason, lines]),
        [['signature (below "-- ")', 2]],
        JSON.stringify(body),
      );
    }
  });

  it("removes a ticket system's reply-above marker and the ticket's older comments below the newest", () => {
    const zendesk =
      '##- Please type your reply above this line -##\n\nYour request (4711) has been updated.\n\n----------------------------------------------\n\nSam Agent (Acme Support)\n\nDec 5, 2026, 07:01 CET\n\nThe technician will arrive at 10:00.\n\n----------------------------------------------\n\nPat User\n\nDec 4, 2026, 16:12 CET\n\nThe printer on floor 3 shows error 50.2.\n';
    assert.deepEqual(removedBy(zendesk), {
      text: 'Your request (4711) has been updated.\n\n----------------------------------------------\n\nSam Agent (Acme Support)\n\nDec 5, 2026, 07:01 CET\n\nThe technician will arrive at 10:00.',
      reasons: ["ticket system's reply-above marker", "ticket's older comments"],
      quoteRemoved: false,
    });
  });

  it("names the block below Outlook's rule in an invitation that answers none no quote of a mail answered", () => {
    const rule = '_'.repeat(80);
    const invitation = `Bitte Rack 4 vorher leeren.\n\n${rule}\nMicrosoft Teams meeting\nJoin on your computer, mobile app or room device\nClick here to join the meeting\nMeeting ID: 123 456 789 012\nPasscode: aBcDeF\n${rule}\n`;
    assert.deepEqual(removedBy(invitation, { reply: false, invitation: true }), {
      text: 'Bitte Rack 4 vorher leeren.',
      reasons: ["Outlook rule and the block below it (an invitation's online-meeting join details)"],
      quoteRemoved: false,
    });
    assert.deepEqual(removedBy(invitation, { reply: true, invitation: true }).reasons, [
      "Outlook rule and the block below it (an invitation's online-meeting join details)",
    ]);
  });

  it("keeps an alert's lines below a rule of underscores in a reply (an alert threaded under the one it follows); cuts an Outlook reply's quote", () => {
    const rule = '_'.repeat(40);
    const icinga = `***** Icinga *****\nNotification Type: RECOVERY\n${rule}\nHost: db1\nState: UP\nAddress: 10.0.0.5\n`;
    assert.deepEqual(removedBy(icinga, { reply: true }), { text: icinga.trimEnd(), reasons: [], quoteRemoved: false });
    const outlook = `Done, db1 is back.\n\n${rule}\nFrom: Ops <ops@example.com>\nSent: Tuesday, 20 March 2026 08:48\nTo: Ana <ana@example.com>\nSubject: db1 down\n\nCan you restart db1?\n`;
    assert.equal(removedBy(outlook, { reply: true }).text, 'Done, db1 is back.');
    const attributed = `Done.\n\n${rule}\nOn Tue, 20 Mar 2026 at 08:48, Ana <ana@example.com> wrote:\n> Can you restart db1?\n`;
    assert.equal(removedBy(attributed, { reply: true }).text, 'Done.');
  });

  it("keeps a notice's time window in a reply: a From label with a date or time alone is no sender", () => {
    for (const notice of [
      'Планирано одржавање сервера\n\nОд: 07.12.2026 22:00\nДо: 08.12.2026 02:00\nТема: надоградња базе\n\nСервис неће бити доступан.',
      'Planirano održavanje servera\n\nOd: 07.12.2026 22:00\nDo: 08.12.2026 02:00\nTema: nadogradnja baze\n\nServis neće biti dostupan.',
      'Одржување\nОд: 22:00\nДо: 02:00\nТема: база\nСервер: db1',
    ]) {
      assert.deepEqual(removedBy(notice, { reply: true }), { text: notice, reasons: [], quoteRemoved: false });
    }
  });

  it("keeps a notice's own header labels in a reply when they date nothing with a year and name no address; a mail's header still ends the text", () => {
    for (const notice of [
      'Rhybudd\nOddi wrth: synhwyrydd 4\nAnfonwyd: 10:05\nPwnc: tymheredd uchel\nGwerth: -5 C',
      'Xəbərdarlıq\nKimdən: sensor 4\nGöndərilib: 10:05\nMövzu: yüksək temperatur',
    ]) {
      assert.deepEqual(removedBy(notice, { reply: true }), { text: notice, reasons: [], quoteRemoved: false });
    }
    const welsh = 'Iawn, diolch.\n\nOddi wrth: Ana <ana@example.com>\nAnfonwyd: 20 Mawrth 2026 08:48\nPwnc: db1\n\nHen destun.';
    assert.equal(removedBy(welsh, { reply: true }).text, 'Iawn, diolch.');
  });

  it("ends a reply's text at a mail's header block dated with a year of any calendar and digits: Hijri 1448, Persian ۱۴۰۵", () => {
    const copy = '\n\nServer db1 is down since 10:05.\nPlease check the disks.';
    const headers: Array<[string, string]> = [
      ['في الطريق', 'من: Ahmed\nتاريخ الإرسال: الاثنين، 26 جمادى الآخرة 1448 02:00 م\nإلى: Ops Team\nالموضوع: Server down'],
      ['On my way.', 'From: Bob\nSent: ۱۴۰۵/۰۹/۱۶ ۱۴:۰۰\nTo: Ops\nSubject: Server down'],
      ['On my way.', 'From: Bob\nSent: ۱۶ آذر ۱۴۰۵ ۱۴:۰۰\nTo: Ops\nSubject: Server down'],
    ];
    for (const [text, header] of headers) assert.equal(removedBy(`${text}\n\n${header}${copy}`, { reply: true }).text, text, header);
  });

  it("reads as a year only one of the calendars mail is dated in, not a room's, an extension's or a sensor's four digits", () => {
    const attribution = 'On Mon, 23 Nov 2026 at 09:14, Alice <alice@example.com> wrote:\n> x';
    assert.equal(removedBy(`Meet in room 1234\n${attribution}`).text, 'Meet in room 1234');
    assert.equal(removedBy('Call me on ext 4521\nAlice <alice@example.com> wrote:\n> x').text, 'Call me on ext 4521');
    const alert = 'Alarm\nFrom: sensor 4021\nSent: 10:05\nSubject: temperature high\nValue: -5 C';
    assert.equal(removedBy(alert, { reply: true }).text, alert, "an alert's own labels with a sensor's number are its text");
    // Thai's Buddhist year, in Thai digits, still dates a header block.
    const thai = 'กำลังไป\n\nจาก: Somchai Jaidee\nส่ง: วันจันทร์ที่ ๗ ธันวาคม ๒๕๖๙ 14:00\nถึง: Ops Team\nเรื่อง: Server down\n\nServer db1 is down.';
    assert.equal(removedBy(thai, { reply: true }).text, 'กำลังไป');
  });

  it('cuts in a reply all below a rule of underscores that is no label lines: a header block in a language the labels lack, wrapped, spaced out, or old text alone', () => {
    const rule = '_'.repeat(32);
    const below = {
      hindi: 'प्रेषक: Ana <ana@example.com>\nभेजा गया: मंगलवार, 20 मार्च 2026 8:48\nप्रति: ops@example.com\nविषय: db1\n\nपुराना पाठ.',
      swahili: 'Kutoka: Ana <ana@example.com>\nImetumwa: 20 Machi 2026 8:48\nKwa: ops@example.com\nMada: db1\n\nMaandishi ya zamani.',
      armenian: 'Ումից: Ana <ana@example.com>\nՈւղարկված է: 20 մարտի 2026 8:48\nՈւմ: ops@example.com\nԹեմա: db1\n\nՀին տեքստ.',
      wrappedFrom:
        'From: Operations Team Distribution List Europe Middle East and Africa\n<ops@example.com>\nSent: Tuesday, March 20, 2026 8:48 AM\nTo: ops@example.com\nSubject: db1\n\nOld text.',
      spacedOut: 'From: Ana <ana@example.com>\n\nSent: Tuesday, March 20, 2026 8:48 AM\n\nTo: ops@example.com\n\nSubject: db1\n\nOld text.',
      oldText: 'Old quoted text without a header.\nMore of it.',
    };
    for (const [name, quote] of Object.entries(below)) {
      assert.deepEqual(
        removedBy(`Done.\n\n${rule}\n${quote}\n`, { reply: true }),
        { text: 'Done.', reasons: ['Outlook rule above the mail answered'], quoteRemoved: true },
        name,
      );
      // In a mail that answers none the rule is a separator.
      assert.equal(removedBy(`Done.\n\n${rule}\n${quote}\n`).text, `Done.\n\n${rule}\n${quote}`, name);
    }
  });

  it('keeps what stands below a rule of underscores in a mail that answers none and carries no invitation: a separator', () => {
    const rule = '_'.repeat(40);
    const nagios = `***** Nagios *****\nNotification Type: PROBLEM\n${rule}\nHost: db1\nState: DOWN\n`;
    assert.deepEqual(removedBy(nagios), { text: nagios.trimEnd(), reasons: [], quoteRemoved: false });
    const cron = `Backup report for db1\n${rule}\ndb1: FAILED (exit 2)\ndb2: ok\n`;
    assert.equal(removedBy(cron).text, cron.trimEnd());
    // Above a quoted mail's header block it still goes with it.
    const forwarded = `See below.\n\n${rule}\nFrom: Alice <alice@example.com>\nSent: Monday, November 23, 2026 9:14 AM\nTo: Bob\nSubject: Server\n\nServer down\n`;
    assert.equal(removedBy(forwarded).text, 'See below.');
  });

  it("removes Google Calendar's footer below an invitation, only in a mail that carries the invitation", () => {
    const details = 'Wartungsfenster Rack 4\nWann: Do., 10. Dez. 2026 10:00 - 11:00 MEZ\nWo: RZ Köln';
    const german = `${details}\n\nEinladung von Google Kalender: https://calendar.google.com/calendar/\n\nSie erhalten diese E-Mail, weil Sie Gast bei diesem Termin sind. Um keine Updates mehr zu erhalten, melden Sie sich ab: https://calendar.google.com/x\n`;
    assert.deepEqual(removedBy(german, { reply: false, invitation: true }), {
      text: details,
      reasons: ["calendar's footer below an invitation"],
      quoteRemoved: false,
    });
    const english =
      'Maintenance rack 4\n\nInvitation from Google Calendar: https://calendar.google.com/calendar/\n\nYou are receiving this email because you are an attendee on the event.\n\nForwarding this invitation could allow any recipient to send a response to the organizer, be added to the guest list, invite others regardless of their own invitation status, or modify your RSVP.\n\nLearn more https://support.google.com/calendar/answer/37135#forwarding\n';
    assert.equal(removedBy(english, { reply: false, invitation: true }).text, 'Maintenance rack 4');
    // Without the invitation the line is someone's text, a pasted one or a sentence about it.
    assert.equal(removedBy(german).text, tidy(german));
  });

  it("removes a Mailman digest's subscription notes and keeps its messages, header lines and all", () => {
    const notes =
      'Send ops-team mailing list submissions to\n\tops-team@lists.example.com\n\nTo subscribe or unsubscribe via the World Wide Web, visit\n\thttps://lists.example.com/mailman/listinfo/ops-team\nor, via email, send a message with subject or body \'help\' to\n\tops-team-request@lists.example.com\n\nYou can reach the person managing the list at\n\tops-team-owner@lists.example.com\n\nWhen replying, please edit your Subject line so it is more specific\nthan "Re: Contents of ops-team digest..."\n\n';
    const message =
      'Message: 1\nDate: Fri, 4 Dec 2026 10:00:00 +0000\nFrom: Ann <ann@example.com>\nTo: ops-team@lists.example.com\nSubject: rack 4 power work\n\nPower work on rack 4 at 22:00.\n\n------------------------------\n\nMessage: 2\nDate: Fri, 4 Dec 2026 11:00:00 +0000\nFrom: Bob <bob@example.com>\nTo: ops-team@lists.example.com\nSubject: Re: rack 4 power work\n\nI will be on site.';
    const footer =
      '\n\n------------------------------\n\n_______________________________________________\nops-team mailing list\nops-team@lists.example.com\nhttps://lists.example.com/mailman/listinfo/ops-team\n\n\nEnd of ops-team Digest, Vol 12, Issue 3\n***************************************\n';
    assert.deepEqual(removedBy(notes + message + footer), {
      text: message,
      reasons: ['mailing-list digest header', FOOTER],
      quoteRemoved: false,
    });
  });
});

describe("stripText: machine mail's last line", () => {
  const alert = 'PROBLEM: backup failed\n\nHost: srv-backup01\nState: CRITICAL\nSince: 10:05\nJob: nightly-full\n\n';

  it("keeps the alert's own last line, whatever device it names", () => {
    for (const last of [
      'Sent via Windows Task Scheduler on SRV-BACKUP01',
      'Sent from Windows Server 2019',
      'Sent from Android SMS Gateway',
      'Sent from Home Assistant app',
      'Sent from Mac Studio build agent',
      'Sent via T-Mobile IoT',
      'Sent from Samsung SmartThings',
      'Sent from Pixel 7',
      'Sent from nagios01',
      'Sent from my Raspberry Pi',
      'Sent from my monitoring server',
      'Sent from Galaxy Tab A in the cold room',
      'Sent from the Android tablet in cold room B',
      'Sent from Mail',
      'Sent from Apple Xserve',
      'Sent from iPad kiosk 3',
      'Envoyé depuis Windows',
      'Sent from iPhone test rig 2',
      'Sent from Outlook add-in on SRV-MAIL01',
    ]) {
      assert.equal(strip(alert + last), alert + last, last);
    }
  });

  it("drops a phone client's stock line under Label: value lines typed on the phone", () => {
    for (const last of [
      'Sent from my iPhone',
      'Von meinem iPhone gesendet',
      'Envoyé de mon iPhone',
      'Get Outlook for Android<https://aka.ms/ghei36>',
      // A phone's or mail app's name as the line's whole object, without a possessive.
      'Sent from iPhone',
      'Отправлено с iPhone',
      'iPhoneから送信',
      'Gesendet von iPhone',
      'Sent from iPad',
      'Sent from Android',
      'Sent from Yahoo Mail on Android',
      'Sent from Yahoo Mail for iPhone',
      'Sent from Outlook',
      'Sent from Mail for Windows',
      'Sent from BlueMail',
      'Sent from Proton Mail Android',
    ]) {
      assert.equal(strip(alert + last), alert.trim(), last);
    }
  });
});

describe('stripText: a short sign-off among list items', () => {
  it('keeps a list whose item is a sign-off word, under a name-like line', () => {
    for (const list of [
      'Samsung\nApple\nLG\nSony',
      'Shortlist for the lobby screens:\nSamsung\nLG\nSony',
      'Condition of the returned units:\n\nUnit 12\nVG\nScreen Scratched',
      'Ranking of the offers:\n\nWorst\nBest\nAcme Ltd',
    ]) {
      assert.equal(strip(list), list);
    }
  });

  it('drops a sign-off that opens its paragraph or follows a sentence', () => {
    assert.equal(strip('See you at 8.\n\nLG\nAnna'), 'See you at 8.');
    assert.equal(strip('Estimados, el servidor vuelve mañana.\n\nAtte.\nJuan Pérez\nSoporte TI'), 'Estimados, el servidor vuelve mañana.');
    assert.equal(strip('Palvelin on taas ylhäällä.\nVH\nMatti Virtanen\nIT-tuki'), 'Palvelin on taas ylhäällä.');
    assert.equal(strip('Ok, I will call the carrier\nRgds\nTom'), 'Ok, I will call the carrier');
  });

  it('keeps a list whose sign-off word is an item right under a line announcing it, or right under a question in capitals', () => {
    for (const list of ['Which network?\nATT\nVerizon', 'Shortlist:\nLG\nSony']) {
      assert.equal(strip(list), list);
    }
  });

  it("drops a closing of several words, and a sign-off under the writer's thanks, whatever the line above looks like", () => {
    const signed: Array<[string, string]> = [
      ['Can you restart db1?\n\nThanks\nBest regards\nJohn Smith\nHead of IT', 'Can you restart db1?\n\nThanks'],
      ['Can you restart db1?\n\nThank You\nKind Regards\nJohn Smith', 'Can you restart db1?\n\nThank You'],
      ['Kannst du db1 neu starten?\n\nDanke\nMit freundlichen Grüßen\nHans Müller\nIT-Leitung', 'Kannst du db1 neu starten?\n\nDanke'],
      ['Kannst du db1 neu starten?\n\nVielen Dank\nViele Grüße\nHans Müller', 'Kannst du db1 neu starten?\n\nVielen Dank'],
      ['Please call the carrier.\nOK\nBest regards\nAnna Smith', 'Please call the carrier.\nOK'],
      ['Restarted db1\nDone\nRegards\nBob Jones', 'Restarted db1\nDone'],
      ['Can you restart db1?\nAnna\nBest regards\nAnna Smith', 'Can you restart db1?\nAnna'],
      ['Merci de redémarrer db1\n\nMerci\nCordialement\nJean Dupont', 'Merci de redémarrer db1\n\nMerci'],
      ['Proszę o restart db1\n\nDzięki\nPozdrawiam\nJan Kowalski', 'Proszę o restart db1\n\nDzięki'],
      ['Can you restart db1 ASAP\nThanks In Advance\nKind regards\nJohn Smith', 'Can you restart db1 ASAP\nThanks In Advance'],
      ['Please restart db1\nThanks Bob\nCheers\nAlice Smith', 'Please restart db1\nThanks Bob'],
      ['Restart db1 tonight\n\nTIA\nRegards\nAlice Smith\nIT Operations\n+44 20 7946 0000', 'Restart db1 tonight\n\nTIA'],
    ];
    for (const [text, sent] of signed) assert.equal(strip(text), sent, text);
  });

  it("drops a one-word sign-off below a blank line, right under a question, or under a line of the writer's own", () => {
    const signed: Array<[string, string]> = [
      ['Can you restart db1 tonight?\n\nBest,\nAlice Smith\nIT Operations\n+44 20 7946 0000', 'Can you restart db1 tonight?'],
      ['Could you check the disks on db1?\n\nCheers\nAlice', 'Could you check the disks on db1?'],
      ['Kannst du bitte db1 neu starten?\n\nLG\nAnna', 'Kannst du bitte db1 neu starten?'],
      ['Is the rack back up?\nBest\nAlice', 'Is the rack back up?'],
      ['Details below:\n\nBest,\nAlice Smith\nIT Operations\n+44 20 7946 0000', 'Details below:'],
      // A list whose first item is a sign-off word below a blank line is cut with it: a signature sent whole is the commoner loss.
      ['Ranking of the offers:\n\nBest\nAcme Ltd\nWorst\nGlobex', 'Ranking of the offers:'],
    ];
    for (const closing of [
      'Dankeschön',
      'Ta',
      'Thanx',
      'Appreciated',
      'Ciao',
      'Talk Soon',
      'Take Care',
      'Happy Friday',
      'Merry Christmas',
      'Gute Besserung',
      'Schönes Wochenende',
    ]) {
      signed.push([`Please restart db1 tonight.\n\n${closing}\nBest\nAlice Smith\nIT Operations`, `Please restart db1 tonight.\n\n${closing}`]);
    }
    for (const [text, sent] of signed) assert.equal(strip(text), sent, text);
  });
});

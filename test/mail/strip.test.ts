import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StripRules, stripBody, tidy } from '../../src/mail/strip.ts';

const RULES: StripRules = { endMarkers: ['[EndOfMessage]'], startMarkers: ['[StartOfMessage]'], disclaimers: [] };
const strip = (text: string, rules: Partial<StripRules> = {}) => stripBody(text, { ...RULES, ...rules });

describe('stripBody: quoted history', () => {
  it('drops a top-posted reply\'s attribution and quote', () => {
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

  it('cuts at device lines in several languages', () => {
    for (const line of ['Sent from my iPhone', 'Get Outlook for Android', 'Von meinem iPhone gesendet', 'Envoyé de mon iPad', 'Skickat från min iPhone', 'Inviato da iPhone']) {
      assert.equal(strip(`Yes\n\n${line}\n`), 'Yes', line);
    }
  });

  it('cuts at a sign-off near the end, with the name below it', () => {
    assert.equal(strip('Will do\n\nKind regards,\nJohn Smith\nACME Ltd\n'), 'Will do');
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

  it('keeps only the text between start and end markers', () => {
    assert.equal(strip('Header junk\n[StartOfMessage]\nThe text\n[EndOfMessage]\nFooter junk'), 'The text');
    assert.equal(strip('Call me [EndOfMessage] footer'), 'Call me');
    assert.equal(strip('Call me #end footer', { endMarkers: ['#end'] }), 'Call me');
  });
});

describe('tidy', () => {
  it('trims lines, collapses inner runs and blank lines, keeps line breaks', () => {
    assert.equal(tidy('\r\n  Host:\t\tdb1  \r\n\r\n\r\n\r\nState:   DOWN \n\n'), 'Host: db1\n\nState: DOWN');
  });
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';
import { gatewayYaml, relayEnvironment, removeDir, runCommand, type Simulator, startSimulator, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { queuedId, sendMail } from '../helpers/smtp.ts';

const USER = 'mailuser';
/** As written in mail.url (`%40` is `@`): the relay logs in with the decoded password. */
const WRITTEN_PASSWORD = 'Smart%40host-Secret-77';
const PASSWORD = 'Smart@host-Secret-77';
const base64 = (text: string) => Buffer.from(text).toString('base64');

/** Every form of the login the relay sends, none of which may reach a log line, the store, `status` or `log`. */
const LOGIN_FORMS = {
  'the password': PASSWORD,
  'the password as written in mail.url': WRITTEN_PASSWORD,
  "AUTH LOGIN's password line": base64(PASSWORD),
  "AUTH PLAIN's credentials": base64(`\u0000${USER}\u0000${PASSWORD}`),
};

/**
 * How the fake smarthost quotes the login it refuses, as some servers and appliances do: the client's
 * AUTH PLAIN line, the credentials it decoded from it, or (offering LOGIN only) the password line.
 */
type Echo = 'plain line' | 'decoded' | 'login line';

/** The gateway every relay here sends to (none of these mails is an SMS): one for the file. */
let gateway: Simulator;
before(async () => {
  gateway = await startSimulator();
});
after(async () => {
  await gateway.close();
});

/** A relay with `gateway` and the smarthost at `mailUrl`, and the id of a mail to its postmaster, which goes there. */
async function mailToPostmaster(gateway: object, mailUrl: string) {
  const dir = tempDir();
  const yaml = {
    ...gateway,
    smtp: { trustedNetworks: ['127.0.0.1/32'] },
    sms: { domains: ['sms.example.com'], defaultRegion: 'GB' },
    mail: { url: mailUrl, postmaster: 'ops@example.com', retryMinDelay: '1s' },
  };
  const env = relayEnvironment(dir, yaml);
  const { logger, lines } = captureLog('debug');
  const relay = await startTestRelay(yaml, {}, dir, {}, logger);
  const sent = await sendMail(relay.relay.smtpPort, { from: 'alice@example.com', to: ['postmaster@sms.example.com'], body: 'to the postmaster' });
  return { dir, env, lines, relay, id: queuedId(sent.data) };
}

/** A fake smarthost on a local port: greets, then hands each line the relay sends to `answer` for a new session. */
async function fakeSmarthost(
  session: () => (line: string, say: (line: string) => void, end: () => void) => void,
): Promise<{ readonly server: Server; readonly port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    const say = (line: string) => socket.write(`${line}\r\n`);
    const answer = session();
    say('220 smarthost.test ESMTP');
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end).replace(/\r$/, '');
        buffered = buffered.slice(end + 1);
        answer(line, say, () => socket.end());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** A smarthost that answers every AUTH with a 535 quoting what the relay sent. */
function echoingSmarthost(echo: Echo): Promise<{ readonly server: Server; readonly port: number }> {
  return fakeSmarthost(() => (line, say, end) => {
    const verb = line.split(' ')[0]?.toUpperCase();
    if (verb === 'EHLO') say(`250-smarthost.test\r\n250 AUTH ${echo === 'login line' ? 'LOGIN' : 'PLAIN LOGIN'}`);
    else if (verb === 'AUTH' && echo === 'login line') say('334 VXNlcm5hbWU6');
    else if (verb === 'AUTH' && echo === 'plain line') say(`535 5.7.8 Authentication failed for [${line}]`);
    else if (verb === 'AUTH')
      say(
        `535 5.7.8 Authentication failed: ${Buffer.from(line.split(' ')[2] ?? '', 'base64')
          .toString('utf8')
          .replaceAll('\u0000', ' / ')}`,
      );
    else if (verb === 'QUIT') {
      say('221 bye');
      end();
    } else if (line === base64(USER)) say('334 UGFzc3dvcmQ6');
    else say(`535 5.7.8 bad credentials ${line}`);
  });
}

describe("a smarthost that quotes the relay's login in its refusal", () => {
  for (const echo of ['plain line', 'decoded', 'login line'] as const) {
    test(`(${echo}): mail.url's password, in clear or as the AUTH base64, reaches no log line, store file, smsrelay status or smsrelay log`, async () => {
      const smarthost = await echoingSmarthost(echo);
      const { dir, env, lines, relay, id } = await mailToPostmaster(gatewayYaml(gateway.url), `smtp://${USER}:${WRITTEN_PASSWORD}@127.0.0.1:${smarthost.port}`);
      try {
        const refused = await waitFor('the refused login in the log', () => lines.find((line) => line.includes('535 5.7.8')));
        assert.match(refused, /\*\*\*/, 'the quoted login is cut, the rest of the answer kept');
        const status = runCommand(dir, env, 'status');
        const history = runCommand(dir, env, 'log', id);
        assert.match(history.stdout, /535 5\.7\.8/, `the history says what the smarthost answered: ${history.stdout}${history.stderr}`);
        const dataDir = join(dir, 'data');
        const storeFiles = readdirSync(dataDir, { recursive: true, encoding: 'utf8' })
          .filter((name) => /\.(db|sqlite)(-wal)?$/.test(name))
          .map((name) => readFileSync(join(dataDir, name)).toString('latin1'));
        assert.ok(storeFiles.length > 0, 'the store files are read');
        assertNeverLogged([...lines, status.stdout, status.stderr, history.stdout, history.stderr, ...storeFiles], LOGIN_FORMS);
      } finally {
        await relay.stop();
        smarthost.server.close();
        removeDir(dir);
      }
    });
  }
});

/** A smarthost that takes every mail, its 250 to DATA saying `accepted`. */
function acceptingSmarthost(accepted: string): Promise<{ readonly server: Server; readonly port: number }> {
  return fakeSmarthost(() => {
    let inData = false;
    return (line, say, end) => {
      if (inData) {
        if (line === '.') {
          inData = false;
          say(`250 2.0.0 ${accepted}`);
        }
        return;
      }
      const verb = line.split(/[ :]/)[0]?.toUpperCase();
      if (verb === 'EHLO') say('250 smarthost.test');
      else if (verb === 'DATA') {
        inData = true;
        say('354 go on');
      } else if (verb === 'QUIT') {
        say('221 bye');
        end();
      } else say('250 ok');
    };
  });
}

describe('the smarthost is cut only of the secrets it is sent', () => {
  test("a URL password sent to the gateways alone (gateway.publicUrl's) is a word the smarthost's answer keeps", async () => {
    const gateway = await startSimulator();
    const word = 'delivered';
    const smarthost = await acceptingSmarthost(`${word} to the mailbox`);
    const { dir, env, lines, relay, id } = await mailToPostmaster(
      gatewayYaml(gateway.url, { publicUrl: `https://hook:${word}@relay.example.com` }),
      `smtp://127.0.0.1:${smarthost.port}`,
    );
    try {
      await waitFor('the smarthost took the mail', () => lines.find((line) => line.includes('to the mailbox')));
      const history = runCommand(dir, env, 'log', id);
      assert.match(history.stdout, new RegExp(`${word} to the mailbox`), `the history keeps the smarthost's words: ${history.stdout}${history.stderr}`);
    } finally {
      await relay.stop();
      smarthost.server.close();
      await gateway.close();
      removeDir(dir);
    }
  });
});

describe("mail.url's password in clear is cut from the smarthost's answers where it stands as itself, not in other words", () => {
  /** The history of a mail the smarthost took with `accepted`, the relay logging in with `password` (as written in mail.url). */
  async function acceptedAs(password: string, accepted: string): Promise<{ readonly history: string; readonly logged: string }> {
    const smarthost = await acceptingSmarthost(`taken: ${accepted}`);
    const { dir, env, lines, relay, id } = await mailToPostmaster(gatewayYaml(gateway.url), `smtp://${USER}:${password}@127.0.0.1:${smarthost.port}`);
    try {
      const logged = await waitFor('the smarthost took the mail', () => lines.find((line) => line.includes('taken: ')));
      const history = runCommand(dir, env, 'log', id);
      return { history: `${history.stdout}${history.stderr}`, logged };
    } finally {
      await relay.stop();
      smarthost.server.close();
      removeDir(dir);
    }
  }

  test('a short password (mail): its other case and the words holding it are kept, the word itself cut', async () => {
    const { history, logged } = await acceptedAs('mail', 'Mail for the mailbox of a Gmail user queued as mail');
    const kept = 'Mail for the mailbox of a Gmail user queued as \\*\\*\\*';
    assert.match(history, new RegExp(kept), `the history: ${history}`);
    assert.match(logged, new RegExp(kept), `the log line: ${logged}`);
  });

  test('a password holding punctuation (p@ss, written p%40ss) is cut beside punctuation, not glued to a letter nor in another case', async () => {
    const { history, logged } = await acceptedAs('p%40ss', 'queued: p@ss, (p@ss) xp@ss p@ssy P@SS');
    const kept = 'queued: \\*\\*\\*, \\(\\*\\*\\*\\) xp@ss p@ssy P@SS';
    assert.match(history, new RegExp(kept), `the history: ${history}`);
    assert.match(logged, new RegExp(kept), `the log line: ${logged}`);
  });
});

describe('the credentials a smarthost decoded, quoted with their NULs escaped, are cut where the password stands after an escape', () => {
  /** The log line and history of a mail whose login the smarthost answers with `answer` of the credentials it decoded. */
  async function refusedWith(password: string, answer: (credentials: string) => string, logged: string) {
    const smarthost = await fakeSmarthost(() => (line, say, end) => {
      const verb = line.split(' ')[0]?.toUpperCase();
      if (verb === 'EHLO') say('250-smarthost.test\r\n250 AUTH PLAIN');
      else if (verb === 'AUTH') say(answer(Buffer.from(line.split(' ')[2] ?? '', 'base64').toString('utf8')));
      else if (verb === 'QUIT') {
        say('221 bye');
        end();
      } else say('250 ok');
    });
    const { dir, env, lines, relay, id } = await mailToPostmaster(gatewayYaml(gateway.url), `smtp://${USER}:${password}@127.0.0.1:${smarthost.port}`);
    try {
      const line = await waitFor('the refusal', () => lines.find((said) => said.includes(logged)));
      const history = runCommand(dir, env, 'log', id);
      return { line, history: `${history.stdout}${history.stderr}` };
    } finally {
      await relay.stop();
      smarthost.server.close();
      removeDir(dir);
    }
  }

  test("a 535 quoting them as Python's bytes (b'\\x00mailuser\\x00Secret1234'): the password after \\x00 is cut", async () => {
    const { line, history } = await refusedWith(
      'Secret1234',
      (credentials) => `535 5.7.8 Authentication failed for b'${credentials.replaceAll('\u0000', '\\x00')}'`,
      '535 5.7.8',
    );
    assert.match(line, /b'\\\\x00mailuser\\\\x00\*\*\*'/, `the log line: ${line}`);
    assert.match(history, /b'\\x00mailuser\\x00\*\*\*'/, `the history: ${history}`);
  });

  for (const password of ['Secret1234', 'pa%22ss%5Cword']) {
    test(`a line that is no SMTP reply, raw NULs the relay writes as JSON (\\u0000), password ${password}: cut`, async () => {
      const { line, history } = await refusedWith(password, (credentials) => `auth failed: ${credentials}`, 'no SMTP reply');
      for (const [where, text] of [
        ['log line', line],
        ['history', history],
      ] as const) {
        assert.ok(text.includes('mailuser') && text.includes('***'), `the ${where}: ${text}`);
        for (const clear of [decodeURIComponent(password), JSON.stringify(decodeURIComponent(password)).slice(1, -1)]) {
          assert.ok(!text.includes(clear), `the ${where} shows ${clear}: ${text}`);
        }
      }
    });
  }
});

describe('a password in a script written without spaces between words is cut beside letters of that script', () => {
  test('你好世界 in 密码你好世界错误, and Thai รหัสผ่าน in ผิดรหัสผ่านครับ', async () => {
    for (const [password, accepted, kept] of [
      ['你好世界', '密码你好世界错误', '密码\\*\\*\\*错误'],
      ['รหัสผ่าน', 'ผิดรหัสผ่านครับ', 'ผิด\\*\\*\\*ครับ'],
    ] as const) {
      const smarthost = await acceptingSmarthost(`taken: ${accepted}`);
      const { dir, env, lines, relay, id } = await mailToPostmaster(
        gatewayYaml(gateway.url),
        `smtp://${USER}:${encodeURIComponent(password)}@127.0.0.1:${smarthost.port}`,
      );
      try {
        const logged = await waitFor('the smarthost took the mail', () => lines.find((line) => line.includes('taken: ')));
        const history = runCommand(dir, env, 'log', id);
        assert.match(logged, new RegExp(kept), `the log line: ${logged}`);
        assert.match(`${history.stdout}${history.stderr}`, new RegExp(kept), `the history: ${history.stdout}`);
      } finally {
        await relay.stop();
        smarthost.server.close();
        removeDir(dir);
      }
    }
  });
});

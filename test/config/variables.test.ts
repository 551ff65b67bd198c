import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, removeDir, tempDir } from '../helpers/relay.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function dir(): string {
  const made = tempDir('smsrelay-variables-');
  dirs.push(made);
  return made;
}

/**
 * `smsrelay <command>` in `cwd` with only these variables (and PATH, the data directory, free ports):
 * its exit code, its output and the `smsrelay: config:` lines it wrote on stderr.
 */
function run(command: readonly string[], cwd: string, env: Record<string, string>) {
  const result = spawnSync(process.execPath, [BIN, ...command], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SMSRELAY_DATA_DIR: join(cwd, 'data'), SMSRELAY_SMTP_PORT: '0', SMSRELAY_HTTP_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 60_000, // a start on a loaded 2-core machine
  });
  const lines = result.stderr
    .split('\n')
    .filter((line) => line.startsWith('smsrelay: config: '))
    .map((line) => line.slice('smsrelay: config: '.length));
  return { status: result.status, lines, stdout: result.stdout, stderr: result.stderr };
}

const CHECK = [['config', 'check']] as const;
/** Both ways a configuration is judged: `config check` and `start`. */
const BOTH = [['config', 'check'], ['start']] as const;

/** Each of `commands` refusing the configuration with these lines, exit 78. */
function assertRefused(cwd: string, env: Record<string, string>, expected: readonly string[], commands: readonly (readonly string[])[] = CHECK): void {
  for (const command of commands) {
    const { status, lines, stderr } = run(command, cwd, env);
    assert.equal(status, 78, `${command.join(' ')} with ${JSON.stringify(env)}: ${stderr}`);
    assert.deepEqual(lines, expected, `${command.join(' ')}: ${stderr}`);
  }
}

describe('variables set to nothing', () => {
  test("every comma-list variable set to nothing (or blanks, or commas alone) is refused as empty, as the file's '' is, at config check and start", () => {
    const cwd = dir();
    for (const name of ['SMSRELAY_ALLOWED_SENDER_IDS', 'SMSRELAY_HTTP_ALLOWED_HOSTS', 'SMSRELAY_SMS_DOMAINS']) {
      for (const value of ['', '  ', ' , ']) {
        const refusal = `${name}="${value}": write a value: it must not be empty; unset it for the default`;
        assertRefused(cwd, { [name]: value }, [refusal], value === '' ? BOTH : CHECK);
      }
    }
  });

  test('an empty item in a comma list (two commas, one at an end) is refused naming its place, never dropped', () => {
    const cwd = dir();
    assertRefused(
      cwd,
      { SMSRELAY_SMS_DOMAINS: 'a.example,,b.example' },
      ['SMSRELAY_SMS_DOMAINS="a.example,,b.example": item 2 of 3 is empty; write the items separated by single commas, none at either end'],
      BOTH,
    );
    assertRefused(cwd, { SMSRELAY_ALLOWED_SENDER_IDS: ',Acme, ' }, [
      'SMSRELAY_ALLOWED_SENDER_IDS=",Acme, ": items 1, 3 of 3 are empty; write the items separated by single commas, none at either end',
    ]);
    const taken = run(['config', 'check'], cwd, { SMSRELAY_HTTP_ALLOWED_HOSTS: 'a.example , b.example' });
    assert.equal(taken.status, 0, taken.stderr);
  });

  test('an empty secret variable is said to be empty (="" and the empty-value line), with or without a settings file; a set one stays masked', () => {
    const withFile = dir();
    writeFileSync(join(withFile, 'smsrelay.yaml'), '');
    for (const cwd of [dir(), withFile]) {
      assertRefused(
        cwd,
        { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_USERNAME: 'acme', SMSRELAY_GATEWAY_PASSWORD: '' },
        ['SMSRELAY_GATEWAY_PASSWORD="": write a value: it must not be empty (required for the intellisoftware gateway)'],
        BOTH,
      );
      // A non-secret one alike: never told to set the variable that is set.
      assertRefused(cwd, { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_USERNAME: '', SMSRELAY_GATEWAY_PASSWORD: 'pa55word' }, [
        'SMSRELAY_GATEWAY_USERNAME="": write a value: it must not be empty (required for the intellisoftware gateway)',
      ]);
      assertRefused(
        cwd,
        {
          SMSRELAY_GATEWAY: 'twilio',
          SMSRELAY_GATEWAY_USERNAME: 'u',
          SMSRELAY_GATEWAY_PASSWORD: 'pa55word',
          SMSRELAY_GATEWAY_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
          SMSRELAY_GATEWAY_AUTH_TOKEN: '',
          SMSRELAY_GATEWAY_MESSAGING_SERVICE_SID: 'MG0123456789abcdef0123456789abcdef',
        },
        ['SMSRELAY_GATEWAY_AUTH_TOKEN="": write a value: it must not be empty'],
      );
      for (const variable of ['SMSRELAY_WEBHOOK_TOKEN', 'SMSRELAY_PREVIOUS_WEBHOOK_TOKEN']) {
        assertRefused(cwd, { [variable]: '' }, [`${variable}="": write a value: it must not be empty`], BOTH);
      }
      assertRefused(cwd, { SMSRELAY_WEBHOOK_TOKEN: 'short-secret' }, ['SMSRELAY_WEBHOOK_TOKEN="***": expected a token of at least 16 characters']);
    }
  });

  test('config check shows an empty secret it accepts as "" (it hides nothing), a set one as "***"', () => {
    const cwd = dir();
    for (const [password, shown] of [
      ['', '""'],
      ['pa55word-not-shown', '"***"'],
    ] as const) {
      const { status, stdout, stderr } = run(['config', 'check'], cwd, { SMSRELAY_GATEWAY_PASSWORD: password });
      assert.equal(status, 0, stderr);
      assert.ok(stdout.includes(`"password": ${shown}`), stdout);
      assert.doesNotMatch(stdout, /pa55word/);
    }
  });

  test("a provider's secret variable is masked by its setting's name wherever a line names it (another provider's, ignored), as config check masks it", () => {
    const cwd = dir();
    const { status, lines, stderr } = run(['config', 'check'], cwd, {
      SMSRELAY_GATEWAY_SIGNATURE_SECRET: 'TOPSECRET-1',
      SMSRELAY_GATEWAY_WEBHOOK_SECRET: 'TOPSECRET-2',
    });
    assert.equal(status, 0, stderr);
    assert.doesNotMatch(stderr, /TOPSECRET/);
    assert.deepEqual(lines.toSorted(), [
      'SMSRELAY_GATEWAY_SIGNATURE_SECRET="***": a setting of the vonage gateway, not used with simulator; ignored',
      'SMSRELAY_GATEWAY_WEBHOOK_SECRET="***": a setting of the interactsms gateway, not used with simulator; ignored',
    ]);
  });
});

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, DURATION_SETTINGS, loadConfig } from '../../src/config/load.ts';
import { configSchema, MAX_SPAN_MS, MAX_WAIT_MS } from '../../src/config/schema.ts';
import { querySecrets } from '../../src/config/secrets.ts';
import { hashPassword } from '../../src/policy/passwords.ts';
import { twilioPlugin } from '../../src/providers/twilio/index.ts';
import { removeDir, tempDir } from '../helpers/relay.ts';
import { secretParts, yamlSpecialSecrets } from '../helpers/yaml-secrets.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function dirWith(yaml?: string): string {
  const dir = tempDir('smsrelay-config-');
  dirs.push(dir);
  if (yaml !== undefined) writeFileSync(join(dir, 'smsrelay.yaml'), yaml);
  return dir;
}

function problems(env: Record<string, string>, yaml?: string): readonly string[] {
  try {
    loadConfig(env, dirWith(yaml));
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected the configuration to be refused');
}

describe('config', () => {
  test('the web console with the PostgreSQL store starts: console.users and store.url together are a valid configuration', async () => {
    const hash = await hashPassword('a long console password');
    const { config } = loadConfig(
      { SMSRELAY_DATABASE_URL: 'postgres://relay:secret@127.0.0.1:5432/smsrelay' },
      dirWith(`console:\n  users:\n    - {name: olivia, passwordHash: "${hash}", role: operator}\n`),
    );
    assert.equal(config.store.url, 'postgres://relay:secret@127.0.0.1:5432/smsrelay');
    assert.deepEqual(
      config.console.users.map((user) => user.name),
      ['olivia'],
    );
  });

  test("sms.maxParts set above every configured provider's limit is refused at start, naming the limit; the default is not: it is lowered to their highest, a value a file may hold", () => {
    assert.deepEqual(
      problems({}, 'sms:\n  maxParts: 255\n').map((problem) => problem.replace(/^.*smsrelay\.yaml: /, '')),
      ['sms.maxParts: 255 parts can never be sent: intellisoftware at most 6 parts per SMS; set at most 6'],
    );
    assert.equal(loadConfig({}, dirWith('sms:\n  maxParts: 6\n')).config.sms.maxParts, 6);
    assert.equal(loadConfig({ SMSRELAY_GATEWAY: 'interactsms-simulator' }, dirWith()).config.sms.maxParts, 1);
  });

  test('a dotted file key, as the docs name a setting (log.level), is refused with how to write it nested', () => {
    const refused = (yaml: string) => problems({}, yaml).map((problem) => problem.replace(/^.*smsrelay\.yaml: /, ''));
    assert.deepEqual(refused('log.level: debug\n'), [
      'log.level: unknown setting: a key with a dot is not read as a path; write it nested: log: {level: …} (or level indented under log:)',
    ]);
    assert.deepEqual(refused('smtp:\n  tls.key: k.pem\n'), [
      'smtp.tls.key: unknown setting: a key with a dot is not read as a path; write it nested: tls: {key: …} (or key indented under tls:)',
    ]);
  });

  test('store.retention shorter than delivery.resubmissionWindow is a warning: folds within the window become duplicates', () => {
    const warned = (retention: string) =>
      loadConfig({}, dirWith(`store:\n  retention: ${retention}\n`)).warnings.filter((warning) => warning.includes('resubmissionWindow'));
    assert.equal(warned('5m').length, 1);
    assert.match(warned('5m')[0] ?? '', /a resend within the window may be texted again \(a duplicate, never a lost SMS\)/);
    assert.deepEqual(warned('10m'), []);
  });

  test('embedded defaults need no file and no environment', () => {
    const dir = dirWith();
    const { config, warnings } = loadConfig({}, dir);
    assert.deepEqual(warnings, []);
    assert.equal(config.smtp.host, '127.0.0.1');
    assert.equal(config.smtp.port, 2525);
    assert.equal(config.http.host, '127.0.0.1');
    assert.equal(config.http.port, 8080);
    assert.deepEqual(config.sms.domains, ['sms.localhost']);
    assert.equal(config.sms.defaultRegion, undefined);
    assert.deepEqual([config.gateway.provider, config.gateway.simulated], ['intellisoftware', true]);
    assert.equal(config.mail.url, undefined);
    assert.equal(config.dataDir, join(dir, 'data'));
    assert.equal(config.smtp.maxMessageBytes, 10 * 1024 * 1024);
    assert.equal(config.smtp.maxRecipients, 100);
    assert.equal(config.mail.from, 'MAILER-DAEMON@sms.localhost');
  });

  test('every documented SMSRELAY_* variable lands where it should', () => {
    const { config, warnings } = loadConfig(
      {
        SMSRELAY_SMTP_HOST: '0.0.0.0',
        SMSRELAY_SMTP_PORT: '2626',
        SMSRELAY_HTTP_HOST: '::1',
        SMSRELAY_HTTP_PORT: '9090',
        SMSRELAY_SMS_DOMAINS: 'sms.example.com, text.example.org',
        SMSRELAY_DEFAULT_REGION: 'gb',
        SMSRELAY_GATEWAY: 'intellisoftware',
        SMSRELAY_GATEWAY_URL: 'https://gw.example.com',
        SMSRELAY_GATEWAY_BACKUP_URL: 'https://gw2.example.com',
        SMSRELAY_GATEWAY_USERNAME: 'acme',
        SMSRELAY_GATEWAY_PASSWORD: 's3cret',
        SMSRELAY_MAIL_URL: 'smtp://mail.example.com:587',
        SMSRELAY_DATA_DIR: '/var/lib/smsrelay',
      },
      dirWith(),
    );
    assert.deepEqual(warnings, []);
    assert.equal(config.smtp.host, '0.0.0.0');
    assert.equal(config.smtp.port, 2626);
    assert.equal(config.http.host, '::1');
    assert.equal(config.http.port, 9090);
    assert.deepEqual(config.sms.domains, ['sms.example.com', 'text.example.org']);
    assert.equal(config.sms.defaultRegion, 'GB');
    assert.equal(config.gateway.provider, 'intellisoftware');
    assert.equal(config.gateway.url, 'https://gw.example.com');
    assert.equal(config.gateway.backupUrl, 'https://gw2.example.com');
    assert.equal(config.gateway.username, 'acme');
    assert.equal(config.gateway.password, 's3cret');
    assert.equal(config.mail.url, 'smtp://mail.example.com:587');
    assert.equal(config.dataDir, '/var/lib/smsrelay');
    assert.equal(config.mail.from, 'MAILER-DAEMON@sms.example.com');
  });

  test("mail.postmaster: SMSRELAY_MAIL_POSTMASTER sets it; unset, the Maildir's postmaster@<first SMS domain> without a smarthost and none with one; an SMS domain's address (a loop) is refused", () => {
    const smarthost = { SMSRELAY_MAIL_URL: 'smtp://mail.example.com:25', SMSRELAY_SMS_DOMAINS: 'sms.example.com, text.example.org' };
    assert.equal(loadConfig({ ...smarthost, SMSRELAY_MAIL_POSTMASTER: 'ops@example.com' }, dirWith()).config.mail.postmaster, 'ops@example.com');
    assert.equal(loadConfig(smarthost, dirWith()).config.mail.postmaster, undefined);
    assert.equal(loadConfig({ SMSRELAY_SMS_DOMAINS: 'sms.example.com' }, dirWith()).config.mail.postmaster, 'postmaster@sms.example.com');
    assert.deepEqual(problems({ ...smarthost, SMSRELAY_MAIL_POSTMASTER: 'ops@Text.Example.org' }), [
      `SMSRELAY_MAIL_POSTMASTER="ops@Text.Example.org": an address at an SMS domain comes back to this relay (a loop); name the mailbox that reads the postmaster's mail`,
    ]);
  });

  test('IntelliSoftware defaults to the provider public hosts, primary and backup', () => {
    const { config } = loadConfig({ SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' }, dirWith());
    assert.equal(config.gateway.url, 'https://www.intellisoftware.co.uk');
    assert.equal(config.gateway.backupUrl, 'https://www.intellisoftware2.co.uk');
  });

  test('the environment wins over the file; the file sets what the environment cannot', () => {
    const { config } = loadConfig(
      { SMSRELAY_SMTP_PORT: '2700' },
      dirWith('smtp:\n  port: 2600\n  maxRecipients: 5\n  idleTimeout: 90s\ndelivery:\n  maxAge: 2h\n'),
    );
    assert.equal(config.smtp.port, 2700);
    assert.equal(config.smtp.maxRecipients, 5);
    assert.equal(config.smtp.idleTimeout, 90_000);
    assert.equal(config.delivery.maxAge, 2 * 3600_000);
  });

  test('an unknown SMSRELAY_* variable is a warning naming the variable meant', () => {
    const { config, warnings } = loadConfig(
      { SMSRELAY_SMTP_PROT: '1', SMSRELAY_GATEWAY_SERVICEID: 'x', SMSRELAY_BOGUS: '1', SMSRELAY_SMTP_PORT: '2601' },
      dirWith('smtp:\n  maxRecipients: 5\n'),
    );
    assert.equal(config.smtp.port, 2601);
    assert.deepEqual(warnings.toSorted(), [
      'SMSRELAY_BOGUS: unknown variable, ignored',
      'SMSRELAY_GATEWAY_SERVICEID: unknown variable, ignored; did you mean SMSRELAY_GATEWAY_SERVICE_ID?',
      'SMSRELAY_SMTP_PROT: unknown variable, ignored; did you mean SMSRELAY_SMTP_PORT?',
    ]);
  });

  test('an unknown file key stops start-up, naming the key meant: a mistyped sms.domain never runs on the default domain', () => {
    const lines = problems(
      {},
      'sms:\n  domain: sms.example.com\nsmpt:\n  port: 25\naccounts:\n  - username: erp\n    passwordHash: x\n    perMinut: 5\nwhatever: 1\n',
    );
    assert.deepEqual(lines.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')).toSorted(), [
      'smsrelay.yaml: accounts.0.passwordHash: expected a hash made by `smsrelay hash-password`',
      'smsrelay.yaml: accounts.0.perMinut: unknown setting; did you mean perMinute?',
      'smsrelay.yaml: smpt: unknown setting; did you mean smtp?',
      'smsrelay.yaml: sms.domain: unknown setting; did you mean domains?',
      `smsrelay.yaml: whatever: unknown setting (known here: ${Object.keys(configSchema.shape).join(', ')})`,
    ]);
  });

  test('a setting of another provider (left from a switch) is only a warning, naming the provider the configuration selects', () => {
    const { warnings } = loadConfig({ SMSRELAY_GATEWAY_API_ID: '42' }, dirWith('gateway:\n  provider: simulator\n  serviceId: 1000\n'));
    assert.deepEqual(warnings.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')).toSorted(), [
      'SMSRELAY_GATEWAY_API_ID="42": a setting of the interactsms gateway, not used with simulator; ignored',
      'smsrelay.yaml: gateway.serviceId: a setting of the puzzel gateway, not used with simulator; ignored',
    ]);
    // A provider's simulator is named as written, not by the plug-in behind it.
    const simulated = loadConfig({}, dirWith('gateway:\n  provider: puzzel-simulator\n  apiId: 42\n')).warnings;
    assert.deepEqual(
      simulated.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')),
      ['smsrelay.yaml: gateway.apiId: a setting of the interactsms gateway, not used with puzzel-simulator; ignored'],
    );
  });

  test('plain hints say what to write: GB for UK, a list, a duration with its unit, one of the choices', () => {
    assert.deepEqual(problems({ SMSRELAY_DEFAULT_REGION: 'UK' }), ['SMSRELAY_DEFAULT_REGION="UK": UK is not an ISO country code: use GB']);
    const lines = problems(
      { SMSRELAY_GATEWAY: 'intelisoftware' },
      'delivery:\n  maxAge: 24\n  retryMinDelay: soon\ntext:\n  subject: prepnd\npolicy:\n  premiumBlocklist: yes please\nnetworks:\n  - name: erp\n    cidr: 10.1.0.0/16\n    destinations: [UK]\naccounts:\n  username: erp\nsmtp: 5\nsms:\n  lists:\n    oncall@sms.localhost: 7\n  maxParts: many\n',
    );
    assert.deepEqual(lines.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')).toSorted(), [
      'SMSRELAY_GATEWAY="intelisoftware": expected one of simulator, intellisoftware, puzzel, interactsms, twilio, vonage, smpp, intellisoftware-simulator, puzzel-simulator, interactsms-simulator, twilio-simulator, vonage-simulator, smpp-simulator (did you mean intellisoftware?)',
      'smsrelay.yaml: accounts: write a list of accounts, each starting "- username: …"',
      'smsrelay.yaml: delivery.maxAge: write a duration such as 30s, 5m or 24h (a number needs its unit: 24s, 24m…)',
      'smsrelay.yaml: delivery.retryMinDelay: write a duration such as 30s, 5m or 24h, not "soon"',
      'smsrelay.yaml: networks.0.destinations.0: UK is not an ISO country code: use GB',
      'smsrelay.yaml: policy.premiumBlocklist: write true or false',
      'smsrelay.yaml: sms.lists.oncall@sms.localhost: write a list: ["+447700900123", "07700 900124"]',
      'smsrelay.yaml: sms.maxParts: write a whole number above 0',
      'smsrelay.yaml: smtp: write its settings indented under it, one "key: value" per line',
      'smsrelay.yaml: text.subject: write one of: fallback, prepend, never (did you mean prepend?)',
    ]);
  });

  test('a single value where a list is expected is a list of one', () => {
    const { config } = loadConfig({}, dirWith('sms:\n  domains: sms.example.com\nsmtp:\n  trustedNetworks: 10.0.0.0/8\npolicy:\n  blockedPrefixes: "+4490"\n'));
    assert.deepEqual(config.sms.domains, ['sms.example.com']);
    assert.deepEqual(config.smtp.trustedNetworks, ['10.0.0.0/8']);
    assert.deepEqual(config.policy.blockedPrefixes, ['+4490']);
  });

  test('a start or end marker of spaces alone (it would cut every text at its first run of spaces) is refused; one holding spaces is kept as written', () => {
    const lines = problems({}, 'text:\n  endMarkers: ["  "]\n  startMarkers: ["", "\\t"]\n');
    assert.deepEqual(lines.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')).toSorted(), [
      'smsrelay.yaml: text.endMarkers.0: write a marker with at least one visible character, such as [EndOfMessage]',
      'smsrelay.yaml: text.startMarkers.0: write a marker with at least one visible character, such as [EndOfMessage]',
      'smsrelay.yaml: text.startMarkers.1: write a marker with at least one visible character, such as [EndOfMessage]',
    ]);
    const { config } = loadConfig({}, dirWith('text:\n  endMarkers: ["-- end --"]\n'));
    assert.deepEqual(config.text.endMarkers, ['-- end --']);
  });

  test('the webhook token and default mailbox come from the environment; a short token is refused without being shown', () => {
    const { config } = loadConfig({ SMSRELAY_WEBHOOK_TOKEN: 'a-long-enough-secret', SMSRELAY_DEFAULT_MAILBOX: 'ops@example.com' }, dirWith(''));
    assert.equal(config.inbound.webhookToken, 'a-long-enough-secret');
    assert.equal(config.inbound.defaultMailbox, 'ops@example.com');
    const [line, ...rest] = problems({ SMSRELAY_WEBHOOK_TOKEN: 'short' }, '');
    assert.equal(rest.length, 0);
    assert.equal(line, 'SMSRELAY_WEBHOOK_TOKEN="***": expected a token of at least 16 characters');
  });

  test('bad values stop start-up with one line per problem, naming where each came from', () => {
    const lines = problems(
      { SMSRELAY_SMTP_PORT: 'abc', SMSRELAY_DEFAULT_REGION: 'XX', SMSRELAY_GATEWAY: 'carrier-pigeon', SMSRELAY_MAIL_URL: 'mail.example.com' },
      'smtp:\n  maxRecipients: 0\n',
    );
    assert.equal(lines.length, 5, lines.join('\n'));
    assert.match(lines.find((line) => line.startsWith('SMSRELAY_SMTP_PORT="abc"')) ?? '', /port/);
    assert.match(lines.find((line) => line.startsWith('SMSRELAY_DEFAULT_REGION="XX"')) ?? '', /country code/);
    assert.match(lines.find((line) => line.startsWith('SMSRELAY_GATEWAY="carrier-pigeon"')) ?? '', /intellisoftware/);
    assert.match(lines.find((line) => line.startsWith('SMSRELAY_MAIL_URL=')) ?? '', /smtp:\/\//);
    assert.match(lines.find((line) => line.includes('smtp.maxRecipients')) ?? '', /above 0/);
  });

  test('a gateway password never travels in clear, and never shows in a message', () => {
    const lines = problems({
      SMSRELAY_GATEWAY: 'intellisoftware',
      SMSRELAY_GATEWAY_URL: 'http://gw.example.com',
      SMSRELAY_GATEWAY_USERNAME: 'u',
      SMSRELAY_GATEWAY_PASSWORD: 'hunter2',
    });
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^SMSRELAY_GATEWAY_URL="http:\/\/gw\.example\.com": plain http .* use https/);
    // Loopback (a local simulator, an SSH tunnel) may use http.
    loadConfig(
      { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_URL: 'http://127.0.0.1:9999', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' },
      dirWith(),
    );
    const missing = problems({ SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_PASSWORD: 'hunter2', SMSRELAY_SMTP_PORT: 'x' });
    assert.ok(
      missing.some((line) => /^SMSRELAY_GATEWAY_USERNAME: required for the intellisoftware gateway/.test(line)),
      missing.join('\n'),
    );
    assert.ok(missing.every((line) => !line.includes('hunter2')));
  });

  test('http.allowedHosts takes host names, from the file or SMSRELAY_HTTP_ALLOWED_HOSTS; a URL, a port or a path is refused naming the value', () => {
    const { config } = loadConfig({ SMSRELAY_HTTP_ALLOWED_HOSTS: 'Relay.Example.com, sms.example.org.' }, dirWith());
    assert.deepEqual(config.http.allowedHosts, ['relay.example.com', 'sms.example.org']);
    for (const value of ['https://relay.example.com', 'relay.example.com:8443', 'relay.example.com/hooks', 'relay example']) {
      assert.deepEqual(
        problems({ SMSRELAY_HTTP_ALLOWED_HOSTS: value }),
        [
          `SMSRELAY_HTTP_ALLOWED_HOSTS="${value}": "${value}" is no host name: write the name alone, such as relay.example.com (no scheme, port or path: any port is answered)`,
        ],
        value,
      );
    }
    assert.match(
      problems({}, 'http:\n  allowedHosts: [ "http://x.example" ]\n')[0] ?? '',
      /smsrelay\.yaml: http\.allowedHosts\.0: "http:\/\/x\.example" is no host name/,
    );
  });

  test('plain http to any loopback address (all of 127.0.0.0/8, ::1, localhost) may carry the gateway password', () => {
    const account = { SMSRELAY_GATEWAY: 'intellisoftware', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' };
    for (const url of ['http://127.0.0.2:9999', 'http://127.255.0.1', 'http://[::1]:9999', 'http://LOCALHOST:9999', 'http://[::ffff:127.0.0.3]']) {
      assert.equal(loadConfig({ ...account, SMSRELAY_GATEWAY_URL: url }, dirWith()).config.gateway.url, url, url);
    }
    for (const url of ['http://128.0.0.1', 'http://[::2]', 'http://127.0.0.1.example.com', 'http://localhost.example.com']) {
      assert.match(problems({ ...account, SMSRELAY_GATEWAY_URL: url })[0] ?? '', /plain http would send the gateway password in clear/, url);
    }
  });

  test('an SMPP password never travels in clear but to loopback or over a link declared protected', () => {
    const account = { SMSRELAY_GATEWAY: 'smpp', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'hunter2' };
    assert.deepEqual(problems({ ...account, SMSRELAY_SMPP_HOST: 'smsc.example.com' }), [
      'SMSRELAY_SMPP_HOST="smsc.example.com": without TLS the gateway password would go in clear; set gateway.tls: true (SMSRELAY_SMPP_TLS=true), or gateway.protectedLink: true (SMSRELAY_SMPP_PROTECTED_LINK=true) when a VPN or private line protects the link',
    ]);
    const [line, ...more] = problems({}, 'gateway:\n  provider: smpp\n  host: 10.1.2.3\n  tls: false\n  username: u\n  password: hunter2\n');
    assert.deepEqual(more, []);
    assert.match(line ?? '', /smsrelay\.yaml: gateway\.host: without TLS .* set gateway\.tls: true/);
    // An account the routes name is held to the same rule, with its own keys.
    const routed = problems(
      {},
      'gateway:\n  routes:\n    - {name: all, match: ["*"], providers: [smpp]}\n  providers:\n    smpp: {host: smsc.example.com, username: u, password: hunter2}\n',
    );
    assert.ok(
      routed.some((found) => /gateway\.providers\.smpp\.host: without TLS .* set gateway\.providers\.smpp\.tls: true/.test(found)),
      routed.join('\n'),
    );
    for (const allowed of [
      { SMSRELAY_SMPP_HOST: 'smsc.example.com', SMSRELAY_SMPP_TLS: 'true' },
      { SMSRELAY_SMPP_HOST: 'smsc.example.com', SMSRELAY_SMPP_PROTECTED_LINK: 'true' },
      { SMSRELAY_SMPP_HOST: '127.0.0.5' },
      { SMSRELAY_SMPP_HOST: '::1' },
      { SMSRELAY_SMPP_HOST: 'localhost' },
    ]) {
      assert.equal(loadConfig({ ...account, ...allowed }, dirWith()).config.gateway.provider, 'smpp', JSON.stringify(allowed));
    }
  });

  test('each provider needs its own account settings; its simulator needs none', () => {
    const puzzel = problems({ SMSRELAY_GATEWAY: 'puzzel', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' });
    assert.deepEqual(puzzel, ['SMSRELAY_GATEWAY_SERVICE_ID: required for the puzzel gateway (or gateway.serviceId in smsrelay.yaml)']);
    const interact = problems({ SMSRELAY_GATEWAY: 'interactsms', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' });
    assert.deepEqual(interact, ['SMSRELAY_GATEWAY_API_ID: required for the interactsms gateway (or gateway.apiId in smsrelay.yaml)']);
    const { config } = loadConfig(
      { SMSRELAY_GATEWAY: 'puzzel', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p', SMSRELAY_GATEWAY_SERVICE_ID: '1000' },
      dirWith(''),
    );
    assert.deepEqual(
      [config.gateway.provider, config.gateway.simulated, config.gateway.accountId, config.gateway.url],
      ['puzzel', false, '1000', 'https://smsgw.puzzel.com'],
    );
    const simulated = loadConfig({ SMSRELAY_GATEWAY: 'interactsms-simulator' }, dirWith('')).config.gateway;
    assert.deepEqual([simulated.provider, simulated.simulated], ['interactsms', true]);
  });

  test('accounts need a hash, not a password; an implicit-TLS port needs a key and certificate', () => {
    const lines = problems({}, 'accounts:\n  - username: erp\n    passwordHash: hunter2\nsmtp:\n  tlsPort: 465\n');
    assert.deepEqual(
      lines.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')),
      [
        'smsrelay.yaml: accounts.0.passwordHash: expected a hash made by `smsrelay hash-password`',
        'smsrelay.yaml: smtp.tlsPort: needs smtp.tls (a key and a certificate)',
      ],
    );
  });

  test('bad smtp.tls files are config problems naming the setting, the file and the fix; an expired certificate is a warning', () => {
    const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
    const tlsProblems = (key: string, cert: string) =>
      problems({}, `smtp:\n  tls: { key: ${key}, cert: ${cert} }\n`).map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml'));
    const [key, cert] = [fixture('key.pem'), fixture('cert.pem')];
    assert.deepEqual(tlsProblems(key, fixture('smarthost-ip.pem')), [
      `smsrelay.yaml: smtp.tls.cert: ${fixture('smarthost-ip.pem')} is the certificate of another key than ${key}; name the certificate issued for this key (or the key of this certificate)`,
    ]);
    assert.deepEqual(tlsProblems(`${key}.missing`, cert), [`smsrelay.yaml: smtp.tls.key: ${key}.missing: no such file; name the PEM file`]);
    assert.deepEqual(tlsProblems(fixture('README.md'), cert), [
      `smsrelay.yaml: smtp.tls.key: ${fixture('README.md')} holds no PEM private key (-----BEGIN PRIVATE KEY-----); name the key file`,
    ]);
    assert.deepEqual(tlsProblems(key, fixture('README.md')), [
      `smsrelay.yaml: smtp.tls.cert: ${fixture('README.md')} holds no PEM certificate (-----BEGIN CERTIFICATE-----); name the certificate file`,
    ]);
    assert.deepEqual(tlsProblems(cert, key), [
      `smsrelay.yaml: smtp.tls.key: ${cert} holds a certificate and ${key} a private key: the two are swapped; exchange them`,
    ]);
    assert.deepEqual(tlsProblems(dirname(key), cert), [`smsrelay.yaml: smtp.tls.key: ${dirname(key)} is a directory; name the PEM file in it`]);
    const expired = loadConfig({}, dirWith(`smtp:\n  tls: { key: ${key}, cert: ${fixture('expired-cert.pem')} }\n`));
    assert.deepEqual(
      expired.warnings.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')),
      [
        `smsrelay.yaml: smtp.tls.cert: ${fixture('expired-cert.pem')}: the certificate expired on 2020-01-01: clients that check certificates refuse it; renew it, then send SIGHUP`,
      ],
    );
    assert.deepEqual(loadConfig({}, dirWith(`smtp:\n  tls: { key: ${key}, cert: ${cert} }\n`)).warnings, []);
  });

  test('a network with host bits set is refused naming the network it probably means; a bad one is quoted; trusting everyone is warned about', () => {
    assert.deepEqual(
      problems({}, 'smtp:\n  trustedNetworks: [127.0.0.1/8, "2001:db8::1/32", 10.0.0.0/33]\nnetworks:\n  - {name: lab, cidr: [192.0.2.7/24]}\n').map((line) =>
        line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml'),
      ),
      [
        'smsrelay.yaml: smtp.trustedNetworks.0: "127.0.0.1/8" has host bits set: write the network 127.0.0.0/8, or 127.0.0.1/32 for the one address',
        'smsrelay.yaml: smtp.trustedNetworks.1: "2001:db8::1/32" has host bits set: write the network 2001:db8::/32, or 2001:db8::1/128 for the one address',
        'smsrelay.yaml: smtp.trustedNetworks.2: "10.0.0.0/33" is no IP address or network; write one such as 10.0.0.0/8 or ::1/128',
        'smsrelay.yaml: networks.0.cidr.0: "192.0.2.7/24" has host bits set: write the network 192.0.2.0/24, or 192.0.2.7/32 for the one address',
      ],
    );
    const open = loadConfig({}, dirWith('smtp:\n  trustedNetworks: [0.0.0.0/0, "::/0", 127.0.0.0/8]\n'));
    assert.deepEqual(
      open.warnings.map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')),
      [
        'smsrelay.yaml: smtp.trustedNetworks.0: 0.0.0.0/0 trusts every IPv4 address: anyone who reaches the SMTP port sends SMS without AUTH and without limits (an open relay); list only your own networks',
        'smsrelay.yaml: smtp.trustedNetworks.1: ::/0 trusts every IPv6 address: anyone who reaches the SMTP port sends SMS without AUTH and without limits (an open relay); list only your own networks',
      ],
    );
  });

  test('an IPv6 listener address in brackets is refused saying to drop them; a port written in hex or with an exponent in the file is refused as in a variable', () => {
    assert.deepEqual(problems({ SMSRELAY_SMTP_HOST: '[::1]' }), ['SMSRELAY_SMTP_HOST="[::1]": write the address without brackets: ::1']);
    assert.deepEqual(
      problems({}, 'smtp:\n  port: 0x7A31\n  tlsPort: 1e3\nhttp:\n  port: 0o17\n').map((line) => line.replace(/^\S*smsrelay\.yaml/, 'smsrelay.yaml')),
      [
        'smsrelay.yaml: smtp.port: expected a port number from 0 to 65535',
        'smsrelay.yaml: smtp.tlsPort: expected a port number from 0 to 65535',
        'smsrelay.yaml: http.port: expected a port number from 0 to 65535',
      ],
    );
    assert.equal(loadConfig({}, dirWith('smtp:\n  host: "::1"\n  port: 31281\n')).config.smtp.port, 31281);
  });

  test('distribution lists are normalised to E.164 once, and bad members are refused', () => {
    const { config } = loadConfig(
      { SMSRELAY_SMS_DOMAINS: 'sms.example.com', SMSRELAY_DEFAULT_REGION: 'GB' },
      dirWith('sms:\n  lists:\n    OnCall@sms.example.com: ["07700 900123", "+447700900124", "00447700900123"]\n'),
    );
    assert.deepEqual(config.sms.lists['oncall@sms.example.com'], ['+447700900123', '+447700900124']);
    const lines = problems(
      { SMSRELAY_SMS_DOMAINS: 'sms.example.com' },
      'sms:\n  lists:\n    oncall@sms.example.com: ["07700900123"]\n    ops@elsewhere.com: ["+447700900124"]\n',
    );
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines.join('\n'), /sms\.lists\.oncall@sms\.example\.com\.0: .*SMSRELAY_DEFAULT_REGION/);
    assert.match(lines.join('\n'), /ops@elsewhere\.com: a list address must be/);
  });

  test('a list member that could be a number abroad or at home is refused at start, naming the setting, the member and both readings', () => {
    const { config } = loadConfig({ SMSRELAY_DEFAULT_REGION: 'IT' }, dirWith('sms:\n  lists:\n    oncall@sms.localhost: ["3471234567", "33612345678"]\n'));
    assert.deepEqual(config.sms.lists['oncall@sms.localhost'], ['+393471234567', '+33612345678']);
    const ambiguous = problems({ SMSRELAY_DEFAULT_REGION: 'MX' }, 'sms:\n  lists:\n    oncall@sms.localhost: ["5512345678", "4366466580"]\n');
    assert.equal(ambiguous.length, 1, ambiguous.join('\n'));
    assert.match(
      ambiguous[0] ?? '',
      /sms\.lists\.oncall@sms\.localhost\.1: "4366466580" could be \+43 664 66580 \(Austria\) or \+52 436 646 6580 \(Mexico\): write \+ and the country code$/,
    );
  });

  test('a list with more distinct numbers than smtp.maxNumbersPerMail is refused, naming both; one written several ways fits', () => {
    const lines = problems(
      {},
      'smtp:\n  maxNumbersPerMail: 2\nsms:\n  lists:\n    big@sms.localhost: ["+447700900121", "+447700900122", "+447700900123"]\n    dup@sms.localhost: ["+447700900121", "00447700900121", "447700900122"]\n',
    );
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      /smsrelay\.yaml: sms\.lists\.big@sms\.localhost: 3 numbers, more than smtp\.maxNumbersPerMail \(2\) lets one mail go to; split the list or raise smtp\.maxNumbersPerMail$/,
    );
  });

  test('two accounts with one username are refused naming both entries (the last replaced the first unseen); names differing in case are two accounts, as SMTP AUTH tells them apart', async () => {
    const hash = await hashPassword('a long account password');
    const lines = problems(
      {},
      `accounts:\n  - {username: erp, passwordHash: "${hash}"}\n  - {username: ERP, passwordHash: "${hash}"}\n  - {username: erp, passwordHash: "${hash}"}\n`,
    );
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      /smsrelay\.yaml: accounts\.2\.username: "erp" is the username of accounts entry 0 too \(.*smsrelay\.yaml: accounts\.0\.username\); give each account its own$/,
    );
    const { config } = loadConfig({}, dirWith(`accounts:\n  - {username: erp, passwordHash: "${hash}"}\n  - {username: ERP, passwordHash: "${hash}"}\n`));
    assert.deepEqual(
      config.accounts.map((account) => account.username),
      ['erp', 'ERP'],
    );
  });

  test('two lists whose addresses differ only in case are refused naming both (one address: the first was dropped)', () => {
    const lines = problems({}, "sms:\n  lists:\n    oncall@sms.localhost: ['+447700900123']\n    OnCall@SMS.localhost: ['+447700900124']\n");
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      /smsrelay\.yaml: sms\.lists\.OnCall@SMS\.localhost: the same address as list oncall@sms\.localhost \(.*smsrelay\.yaml: sms\.lists\.oncall@sms\.localhost\): addresses are compared without case and in Unicode NFC, a domain in its A-labels without a final dot; merge the two$/,
    );
  });

  test('two lists whose names differ only in Unicode normalisation (NFD and NFC) are refused naming both: RCPT finds one', () => {
    const lines = problems({}, 'sms:\n  lists:\n    "e\u0301quipe@sms.localhost": [\'+447700900123\']\n    "\u00e9quipe@sms.localhost": [\'+447700900124\']\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /sms\.lists\.\u00e9quipe@sms\.localhost: the same address as list e\u0301quipe@sms\.localhost/);
  });

  test('a list at an SMS domain written in Unicode or with a final dot is taken, keyed as RCPT finds it; the same list in both forms is one address', () => {
    const domains = '  domains: ["smsé.example", "sms.example.com."]\n';
    const { config } = loadConfig(
      {},
      dirWith(`sms:\n${domains}  lists:\n    "OnCall@Smsé.example": ["+447700900123"]\n    "ops@sms.example.com.": ["+447700900124"]\n`),
    );
    assert.deepEqual(Object.keys(config.sms.lists), ['oncall@xn--sms-dma.example', 'ops@sms.example.com']);
    const lines = problems({}, `sms:\n${domains}  lists:\n    "oncall@smsé.example": ["+447700900123"]\n    "oncall@xn--sms-dma.example": ["+447700900124"]\n`);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /sms\.lists\.oncall@xn--sms-dma\.example: the same address as list oncall@smsé\.example/);
  });

  test("a list at a phone number's address, at postmaster or at sms.subjectAddress is refused naming both settings; sms.subjectAddress at postmaster or in digits is refused", () => {
    const lines = problems(
      { SMSRELAY_DEFAULT_REGION: 'GB' },
      "sms:\n  subjectAddress: OnCall\n  lists:\n    PostMaster@sms.localhost: ['+447700900124']\n    oncall@sms.localhost: ['+447700900125']\n    447700900123@sms.localhost: ['+447700900126']\n    07700900127@sms.localhost: ['+447700900126']\n    ops@sms.localhost: ['+447700900126']\n",
    ).map((line) => line.replace(/^.*smsrelay\.yaml: /, ''));
    assert.deepEqual(lines, [
      "sms.lists.PostMaster@sms.localhost: the postmaster's address (RFC 5321 §4.5.1), whose mail goes to mail.postmaster: no mail would reach the list; name it otherwise",
      'sms.lists.oncall@sms.localhost: the address of sms.subjectAddress (oncall), which reads the numbers from the subject: no mail would reach the list; name it otherwise',
      'sms.lists.447700900123@sms.localhost: the address of a phone number: mail for that number would go to the list; name it with letters',
      'sms.lists.07700900127@sms.localhost: the address of a phone number: mail for that number would go to the list; name it with letters',
    ]);
    for (const subjectAddress of ['postmaster', '447700900123', '12345']) {
      const [line, ...more] = problems({}, `sms:\n  subjectAddress: "${subjectAddress}"\n`);
      assert.deepEqual(more, []);
      assert.match(
        line ?? '',
        /smsrelay\.yaml: sms\.subjectAddress: the (postmaster's address .*: no mail would reach it|address of a phone number); name it with letters, such as sendsms$/,
        subjectAddress,
      );
    }
    assert.equal(
      loadConfig({}, dirWith("sms:\n  subjectAddress: sms2\n  lists:\n    ops1@sms.localhost: ['+447700900126']\n")).config.sms.subjectAddress,
      'sms2',
    );
  });

  test("a list no mail would reach (every member premium-rate or blocked, at the relay's own mail.from) or that takes another address's mail (no-reply@) is refused; a premium or blocked member among others is a warning", () => {
    const lines = problems(
      {},
      "policy:\n  blockedPrefixes: ['+4477009008']\nsms:\n  lists:\n    premium@sms.localhost: ['+449098790000', '+447700900804']\n    MAILER-DAEMON@sms.localhost: ['+447700900702']\n    No-Reply@sms.localhost: ['+447700900701']\n    ops@sms.localhost: ['+447700900701']\n",
    ).map((line) => line.replace(/^\S*smsrelay\.yaml: /, ''));
    assert.deepEqual(lines, [
      'sms.lists.premium@sms.localhost: every member is refused (+4490******00 is a premium-rate number; this relay does not text those (policy.premiumBlocklist); numbers starting +4477009008 are blocked on this relay (policy.blockedPrefixes)): no mail would reach the list; change its members or the policy',
      "sms.lists.MAILER-DAEMON@sms.localhost: the relay's own address (mail.from, MAILER-DAEMON@sms.localhost), the sender of its bounces and reports, which takes no mail: no mail would reach the list; name it otherwise",
      'sms.lists.No-Reply@sms.localhost: the no-reply address (no-reply@), which refuses the replies to the SMS of short codes and sender names: the list would take them; name it otherwise',
    ]);
    // A name no RCPT reaches, quoted or not (a blank, a control, <, >, a quote, a backslash, %, !, :, a dot at an end or doubled): no mail would reach it.
    const yamlOf = (names: readonly string[]) =>
      `sms:\n  lists:\n${names.map((name, index) => `    ${JSON.stringify(`${name}@sms.localhost`)}: ["+4477009005${String(index + 30).padStart(2, '0')}"]\n`).join('')}`;
    const unreachable = problems(
      {},
      yamlOf([
        'on call',
        'ops%night',
        'ops!day',
        'ops..team',
        '.ops',
        'a\tb',
        'ops:x',
        'ops"x',
        'ops\\x',
        'ops<x',
        'postmaster.',
        'sendsms.',
        'no-reply.',
        '..',
        'ärzte.team+x',
      ]),
    ).map((line) => line.replace(/^\S*smsrelay\.yaml: /, ''));
    const never = (local: string, instead: string) =>
      `sms.lists.${local}@sms.localhost: no client can name "${local}" (RFC 5321: a blank, a control character, <, >, a quote, a backslash, %, !, : or a dot at either end or doubled), which RCPT refuses: no mail would reach the list; name it ${instead}`;
    assert.deepEqual(unreachable, [
      never('on call', 'e.g. on-call@sms.localhost'),
      never('ops%night', 'e.g. ops-night@sms.localhost'),
      never('ops!day', 'e.g. ops-day@sms.localhost'),
      never('ops..team', 'e.g. ops.team@sms.localhost'),
      never('.ops', 'e.g. ops@sms.localhost'),
      never('a\tb', 'e.g. a-b@sms.localhost'),
      never('ops:x', 'e.g. ops-x@sms.localhost'),
      never('ops"x', 'e.g. ops-x@sms.localhost'),
      never('ops\\x', 'e.g. ops-x@sms.localhost'),
      never('ops<x', 'e.g. ops-x@sms.localhost'),
      // The name suggested is no address the relay keeps for itself.
      never('postmaster.', 'e.g. postmaster-list@sms.localhost'),
      never('sendsms.', 'e.g. sendsms-list@sms.localhost'),
      never('no-reply.', 'e.g. no-reply-list@sms.localhost'),
      never('..', 'e.g. list@sms.localhost'),
    ]);
    // RFC 5322's other specials: a lenient client reaches the list unquoted (smtp-server takes them), a strict one quotes them. A warning.
    const lenient = loadConfig({}, dirWith(yamlOf(['ops(db)', 'ops[1]', 'ops;x', 'ops,db']))).warnings.filter((line) => line.includes('in quotes'));
    const quoted = (local: string, instead: string) =>
      `sms.lists.${local}@sms.localhost: a strict client (Postfix) writes "${local}" in quotes (RFC 5322 specials: ( ) [ ] ; ,), which RCPT refuses as relaying: only a lenient client reaches the list; name it e.g. ${instead}@sms.localhost`;
    assert.deepEqual(
      lenient.map((line) => line.replace(/^\S*smsrelay\.yaml: /, '')),
      [quoted('ops(db)', 'ops-db'), quoted('ops[1]', 'ops-1'), quoted('ops;x', 'ops-x'), quoted('ops,db', 'ops-db')],
    );
    const { warnings, config } = loadConfig({}, dirWith("sms:\n  lists:\n    oncall@sms.localhost: ['+447700900601', '+449098790000']\n"));
    assert.deepEqual(config.sms.lists['oncall@sms.localhost'], ['+447700900601', '+449098790000']);
    assert.deepEqual(
      warnings.map((line) => line.replace(/^\S*smsrelay\.yaml: /, '')),
      [
        'sms.lists.oncall@sms.localhost.1: +4490******00 is a premium-rate number; this relay does not text those (policy.premiumBlocklist): mail to the list is sent to its other members, never to this one, and each mail bounces it to its sender; remove it from the list',
      ],
    );
  });

  test("a list's member written as two short codes is refused as 2 numbers or one where no release took it; one an earlier release took as one number keeps it, warned of, so the relay starts after the upgrade", () => {
    for (const region of ['GB', 'NZ', 'AT']) {
      const yaml = `sms:\n  defaultRegion: ${region}\n  lists:\n    team@sms.localhost: ['81234 85678', '+447700900601']\n`;
      assert.deepEqual(
        problems({}, yaml).map((line) => line.replace(/^\S*smsrelay\.yaml: /, '')),
        ['sms.lists.team@sms.localhost.0: "81234 85678" could be 2 numbers or one: write each number without blanks, and "," between numbers'],
        region,
      );
    }
    // A number in its country's groups is that number.
    const { config } = loadConfig({}, dirWith("sms:\n  defaultRegion: DE\n  lists:\n    team@sms.localhost: ['01512 3456789', '+49 1512 3456788']\n"));
    assert.deepEqual(config.sms.lists['team@sms.localhost'], ['+4915123456789', '+4915123456788']);
    // Taken whole before (a German landline; a British mobile with its country code but no +): kept, each warned of by name.
    const earlier = loadConfig({}, dirWith("sms:\n  defaultRegion: DE\n  lists:\n    team@sms.localhost: ['81234 85678', '447911 123456']\n"));
    assert.deepEqual(earlier.config.sms.lists['team@sms.localhost'], ['+498123485678', '+447911123456']);
    assert.deepEqual(
      earlier.warnings.map((line) => line.replace(/^\S*smsrelay\.yaml: /, '')),
      ['81234 85678', '447911 123456'].map(
        (member, index) =>
          `sms.lists.team@sms.localhost.${index}: "${member}" could be 2 numbers or one: write each number without blanks, and "," between numbers; taken as ${index === 0 ? '+498123485678' : '+447911123456'}, as before: write it so (without blanks, or with its +) if that is the number meant`,
      ),
    );
  });

  test('settings that contradict each other are refused naming both: simulatorNetworks without the address the relay reaches its simulator from, a retry minimum above its maximum, a maxParts of an account or network above every provider, a default mailbox at an SMS domain', async () => {
    const lines = (env: Record<string, string>, yaml: string) => problems(env, yaml).map((line) => line.replace(/^\S*smsrelay\.yaml: /, ''));
    assert.deepEqual(lines({}, 'http:\n  simulatorNetworks: [10.0.0.0/8]\n'), [
      'http.simulatorNetworks: leaves out 127.0.0.1, from where the relay sends to the intellisoftware simulator: it would refuse every SMS (403); add 127.0.0.1/32',
    ]);
    assert.deepEqual(lines({ SMSRELAY_HTTP_HOST: '::1' }, 'http:\n  simulatorNetworks: [127.0.0.0/8]\n'), [
      'http.simulatorNetworks: leaves out ::1, from where the relay sends to the intellisoftware simulator: it would refuse every SMS (403); add ::1/128',
    ]);
    assert.equal(loadConfig({ SMSRELAY_HTTP_HOST: 'localhost' }, dirWith('http:\n  simulatorNetworks: ["::1/128"]\n')).config.http.host, 'localhost');
    assert.equal(
      loadConfig({ SMSRELAY_GATEWAY: 'smpp-simulator' }, dirWith('http:\n  simulatorNetworks: [10.0.0.0/8]\n')).config.gateway.provider,
      'smpp',
      'the SMPP simulator listens on a port of its own',
    );
    assert.deepEqual(lines({}, 'delivery:\n  retryMinDelay: 20m\n  retryMaxDelay: 15m\nmail:\n  retryMinDelay: 1m\n  retryMaxDelay: 30s\n'), [
      'delivery.retryMinDelay: longer than delivery.retryMaxDelay (15m), the most a retry waits; lower it or raise delivery.retryMaxDelay',
      'mail.retryMinDelay: longer than mail.retryMaxDelay (30s), the most a retry waits; lower it or raise mail.retryMaxDelay',
    ]);
    // One end written past the other's default moves that default with it: nothing refused that the operator did not write.
    const moved = loadConfig({}, dirWith('delivery:\n  retryMinDelay: 20m\nmail:\n  retryMaxDelay: 5s\n')).config;
    assert.deepEqual([moved.delivery.retryMinDelay, moved.delivery.retryMaxDelay], [20 * 60_000, 20 * 60_000]);
    assert.deepEqual([moved.mail.retryMinDelay, moved.mail.retryMaxDelay], [5_000, 5_000]);
    const hash = await hashPassword('a long account password');
    assert.deepEqual(
      lines({}, `accounts:\n  - {username: erp, passwordHash: "${hash}", maxParts: 50}\nnetworks:\n  - {name: lab, cidr: [10.0.0.0/8], maxParts: 7}\n`),
      [
        'accounts.0.maxParts: 50 parts can never be sent: intellisoftware at most 6 parts per SMS; set at most 6',
        'networks.0.maxParts: 7 parts can never be sent: intellisoftware at most 6 parts per SMS; set at most 6',
      ],
    );
    assert.deepEqual(problems({ SMSRELAY_DEFAULT_MAILBOX: 'ops@SMS.localhost' }), [
      'SMSRELAY_DEFAULT_MAILBOX="ops@SMS.localhost": an address at an SMS domain comes back to this relay (a loop); name the mailbox that reads the SMS that answer no conversation',
    ]);
  });

  test('odd settings are warned about: a delay notice never sent before the bounce, accounts no remote client can use, accounts and networks that may write as anyone, trusted networks that together take in everyone', async () => {
    const warnings = (env: Record<string, string>, yaml: string) =>
      loadConfig(env, dirWith(yaml)).warnings.map((line) => line.replace(/^\S*smsrelay\.yaml: /, ''));
    assert.deepEqual(warnings({}, 'delivery:\n  delayNotice: 24h\n'), [
      'delivery.delayNotice: not shorter than delivery.maxAge (1d): an SMS is bounced before it is late enough for a delay notice, so none is ever sent',
    ]);
    // A short maxAge alone (the notice at its default) means no notice, as the operator chose: nothing to warn about.
    assert.deepEqual(warnings({}, 'delivery:\n  maxAge: 1h\n'), []);
    const hash = await hashPassword('a long account password');
    const accounts = `accounts:\n  - {username: erp, passwordHash: "${hash}", senders: ["@erp.example.com"]}\n`;
    for (const host of ['0.0.0.0', '::', '192.0.2.2', 'relay.lan']) {
      assert.deepEqual(warnings({ SMSRELAY_SMTP_HOST: host }, accounts), [
        `accounts: no client on another host can use them: SMSRELAY_SMTP_HOST="${host}" takes other hosts' connections, but AUTH is offered only over TLS or from loopback and smtp.tls is not set; set smtp.tls`,
      ]);
    }
    for (const host of ['127.0.0.1', '::1', 'localhost'])
      assert.deepEqual(warnings({ SMSRELAY_SMTP_HOST: host }, accounts), [], `on ${host}, AUTH works without TLS`);
    assert.deepEqual(warnings({}, accounts), [], 'on loopback, AUTH works without TLS');
    // Without senders, an account's or network's From and Reply-To may name any mailbox and so take over its conversations.
    const anyone =
      "so its mail may write any address in From and Reply-To and so continue or move any mailbox's conversation with a phone, the phone's answers then going to it; set senders to the addresses it sends from";
    assert.deepEqual(
      warnings(
        {},
        `accounts:\n  - {username: erp, passwordHash: "${hash}"}\n  - {username: crm, passwordHash: "${hash}", senders: [crm@example.com]}\nnetworks:\n  - {name: lab, cidr: [10.0.0.0/8]}\n`,
      ),
      [`accounts.0: account erp sets no senders, ${anyone}`, `networks.0: network lab sets no senders, ${anyone}`],
    );
    const open = 'anyone who reaches the SMTP port sends SMS without AUTH and without limits (an open relay); list only your own networks';
    assert.deepEqual(warnings({}, 'smtp:\n  trustedNetworks: [0.0.0.0/1, 128.0.0.0/1, 10.0.0.0/8]\n'), [
      `smtp.trustedNetworks: 0.0.0.0/1, 128.0.0.0/1, 10.0.0.0/8 together trust every IPv4 address: ${open}`,
    ]);
    assert.deepEqual(warnings({}, 'smtp:\n  trustedNetworks: ["::ffff:0:0/96"]\n'), [
      `smtp.trustedNetworks.0: ::ffff:0:0/96 trusts every IPv4 address: ${open}`,
    ]);
    assert.deepEqual(warnings({}, 'smtp:\n  trustedNetworks: ["::/0"]\n'), [`smtp.trustedNetworks.0: ::/0 trusts every IPv4 and IPv6 address: ${open}`]);
    assert.deepEqual(warnings({}, 'smtp:\n  trustedNetworks: [0.0.0.0/1, 128.0.0.0/2, "::/1", "8000::/1"]\n'), [
      `smtp.trustedNetworks.2: ::/1 trusts every IPv4 address: ${open}`,
      `smtp.trustedNetworks: 0.0.0.0/1, 128.0.0.0/2, ::/1, 8000::/1 together trust every IPv6 address: ${open}`,
    ]);
    assert.deepEqual(warnings({}, 'smtp:\n  trustedNetworks: [0.0.0.0/1, 192.0.0.0/2]\n'), [], 'a gap (128.0.0.0/2) left');
  });

  test('a broken YAML file is reported with its line', () => {
    const lines = problems({}, 'smtp:\n  port: [1,\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /smsrelay\.yaml:\d+: /);
  });

  test("anchors, aliases and tags are faults in the relay's words, naming the setting, its line and the fix, never the name they carry (a password's rest)", () => {
    const said = (yaml: string) =>
      problems({}, `gateway:\n  provider: intellisoftware\n  username: acme\n${yaml}`).map((line) => line.replace(/^\S*smsrelay\.yaml/, ''));
    const quoteIt = "write it in single quotes ('…', a ' inside written twice)";
    const alias = `a value starting with * is read by YAML as an alias (a repeat of an earlier value marked &name), and no such &name comes before it: ${quoteIt}`;
    const anchor = `a value starting with & is read by YAML as an anchor (a name for the value after it, for an alias *name to repeat), and no alias repeats it: ${quoteIt}`;
    const tag = `a value starting with ! is read by YAML as a tag (a type for the value after it), one the settings cannot take: ${quoteIt}`;
    // The package throws reading it, its message quoting the name.
    assert.deepEqual(said('  password: *Xk9$2pQ-r7\n'), [`:4: gateway.password: ${alias}`]);
    assert.deepEqual(said('  password:\n    - a\n    - *Xk9pQ\n'), [`:6: gateway.password.1: ${alias}`]);
    // A key of a {…} on one line may be the value's text: its setting is named up to it.
    assert.deepEqual(said('  password: [a, {b: *Xk9pQ}]\n'), [`:4: gateway.password: ${alias}`]);
    assert.deepEqual(said('  password: {Xk9pQr7, Xk9pQr7}\n'), [':4: gateway.password: a key in its {…} given twice, at lines 4 and 4: keep one']);
    // Read without a word as an empty value (before a value it is a warning: the next test).
    assert.deepEqual(said('  password: &Xk9$2pQ-r7\n'), [`:4: gateway.password: ${anchor}`]);
    // A warning only in the package: the value read without the tag, or empty.
    assert.deepEqual(said('  password: !Xk9pQr7 tagged\n'), [`:4: gateway.password: ${tag}`]);
    assert.deepEqual(said('  password: !Xk9pQr7\n'), [`:4: gateway.password: ${tag}`]);
    assert.deepEqual(said('  password: !!int Xk9pQr7\n'), [`:4: gateway.password: ${tag}`]);
    // Whatever the package makes of the rest of the line, the value's first character is said, not a token of it.
    assert.deepEqual(said('  password: *Xk9 pQ r7\n'), [
      `:4: gateway.password: a value starting with * is read by YAML as an alias (a repeat of an earlier value marked &name), not as text: ${quoteIt}`,
    ]);
    assert.deepEqual(said('  password: |Xk9 pQ r7\n'), [
      `:4: gateway.password: a value starting with | is read by YAML as a block of text on the lines below it, not as text: ${quoteIt}`,
    ]);
    assert.deepEqual(said("  password: 'Xk9pQr7\nhttp:\n  port: 8080\n"), [
      ":4: gateway.password: a value starting with ' is not closed by a ' on its line (it runs on to the end of the file): a ' inside single quotes is written twice ('it''s')",
    ]);
    assert.deepEqual(said("  password: 'Xk9'pQ'r7\n"), [
      ":4: gateway.password: a value starting with ' is read by YAML as quoted text, which ends at the next ': a ' inside single quotes is written twice ('it''s')",
    ]);
    assert.deepEqual(said('  password: &a [*a]\n'), [
      ':4: gateway.password: an alias (*name) inside the very value it repeats, which would never end: write the value out',
    ]);
    // A few lines that repeat to millions of values: the package's limit, said without its words.
    const laughs = 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n';
    assert.deepEqual(
      problems({}, laughs).map((line) => line.replace(/^\S*smsrelay\.yaml/, '')),
      [': its aliases (*name) repeat more than the YAML library reads (its limit against a file that would fill the memory): write the values out'],
    );
    // An anchor an alias repeats is YAML the settings may use.
    const shared = loadConfig({}, dirWith('sms:\n  domains: &domains [sms.example.com]\nhttp:\n  allowedHosts: *domains\n')).config;
    assert.deepEqual([shared.sms.domains, shared.http.allowedHosts], [['sms.example.com'], ['sms.example.com']]);
    assert.equal(loadConfig({}, dirWith('sms:\n  defaultRegion: !!str GB\n')).config.sms.defaultRegion, 'GB', 'a tag YAML knows, fitting its value');
  });

  test("an anchor no alias repeats before a value loads as before (the docs' example with anchors left in it), with a warning naming its setting and line, never the anchor nor the value", () => {
    const example = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../docs/configuration.md'), 'utf8');
    const yaml = /## Example\n\n```yaml\n([\s\S]*?)```/.exec(example)?.[1] ?? assert.fail('the docs example');
    const anchored = `${yaml.replace('defaultRegion: GB', 'defaultRegion: &region GB')}smtp:\n  port: &chosen 2526\n`;
    assert.notEqual(anchored, yaml, 'the example still sets defaultRegion: GB');
    const { config, warnings } = loadConfig({}, dirWith(anchored));
    assert.equal(config.sms.defaultRegion, 'GB');
    assert.equal(config.smtp.port, 2526);
    const unused =
      'an anchor (&name) that no alias (*name) repeats stands before the value, which is read without it: remove the anchor, or quote the value if & is part of it';
    const said = warnings.filter((line) => line.includes('anchor')).map((line) => line.replace(/^\S*smsrelay\.yaml/, ''));
    assert.deepEqual(said, [`:3: sms.defaultRegion: ${unused}`, `:13: smtp.port: ${unused}`]);
    for (const secret of ['region', 'GB', 'chosen', '2526']) assert.ok(!said.join('\n').includes(secret), said.join('\n'));
    // A password written `&… …` loads as what follows the space (as it did), said so, without its text.
    const split = loadConfig({}, dirWith('gateway:\n  provider: intellisoftware\n  username: acme\n  password: &Xk9 pQ-r7\n'));
    assert.deepEqual(
      split.warnings.map((line) => line.replace(/^\S*smsrelay\.yaml/, '')),
      [`:4: gateway.password: ${unused}`],
    );
  });

  test('a password whose first character YAML reserves is never said by a config problem or warning, and never loads as another value unwarned (300 generated)', () => {
    const dir = dirWith();
    const shapes = [
      (secret: string) => `gateway:\n  provider: intellisoftware\n  username: acme\n  password: ${secret}\n`,
      (secret: string) => `gateway:\n  provider: intellisoftware\n  password: ${secret}\n  username: acme\nhttp:\n  port: 8080\n`,
      (secret: string) => `gateway: { provider: intellisoftware, username: acme, password: ${secret} }\n`,
    ];
    for (const [index, secret] of yamlSpecialSecrets(300).entries()) {
      const shape = shapes[index % shapes.length] ?? assert.fail();
      writeFileSync(join(dir, 'smsrelay.yaml'), shape(secret));
      let said: readonly string[];
      let loaded: unknown;
      try {
        const { config, warnings } = loadConfig({}, dir);
        said = warnings;
        loaded = config.gateway.settings.password;
      } catch (error) {
        assert.ok(error instanceof ConfigError, `${JSON.stringify(secret)}: a ${(error as Error).name}, not a ConfigError`);
        said = error.problems;
      }
      const text = said.join('\n');
      for (const part of secretParts(secret)) assert.ok(!text.includes(part), `${JSON.stringify(secret)} said: ${text}`);
      // Only a value YAML reads as quoted text loads as other than written (its quotes are YAML's), or one after an
      // anchor no alias repeats, with a warning saying so.
      const anchorSaid = secret.startsWith('&') && said.some((line) => line.includes('an anchor (&name) that no alias'));
      if (loaded !== undefined) {
        assert.ok(loaded === secret || `'"`.includes(secret.charAt(0)) || anchorSaid, `${JSON.stringify(secret)} loaded as another value`);
      }
    }
  });

  test('the result is frozen all the way down', () => {
    const { config } = loadConfig({}, dirWith('sms:\n  lists:\n    a@sms.localhost: ["+447700900123"]\n'));
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.smtp));
    assert.ok(Object.isFrozen(config.sms.domains));
    assert.ok(Object.isFrozen(config.sms.lists));
    assert.throws(() => {
      (config.smtp as { port: number }).port = 1;
    }, TypeError);
  });

  test('shutdownTimeout: 20 s by default, SMSRELAY_SHUTDOWN_TIMEOUT or the file sets it, a bad value names the variable', () => {
    assert.equal(loadConfig({}, dirWith()).config.shutdownTimeout, 20_000);
    assert.equal(loadConfig({ SMSRELAY_SHUTDOWN_TIMEOUT: '45s' }, dirWith('shutdownTimeout: 5s\n')).config.shutdownTimeout, 45_000);
    assert.equal(loadConfig({}, dirWith('shutdownTimeout: 5s\n')).config.shutdownTimeout, 5_000);
    const [line, ...more] = problems({ SMSRELAY_SHUTDOWN_TIMEOUT: 'soon' });
    assert.deepEqual(more, []);
    assert.match(line ?? '', /^SMSRELAY_SHUTDOWN_TIMEOUT="soon".*duration/);
  });

  test('sms.domains takes an IDN written in Unicode as its A-labels and an absolute name without its dot; what is no name is refused saying what to write', () => {
    const file = loadConfig({}, dirWith('sms:\n  domains: ["Smsé.example", "sms.example.org.", "ｓｍｓ.localhost"]\n')).config;
    assert.deepEqual(file.sms.domains, ['xn--sms-dma.example', 'sms.example.org', 'sms.localhost']);
    assert.deepEqual(loadConfig({ SMSRELAY_SMS_DOMAINS: 'sms.example.org., smsé.example' }, dirWith()).config.sms.domains, [
      'sms.example.org',
      'xn--sms-dma.example',
    ]);
    const [list, ...more] = problems({}, 'sms:\n  domains: ["a.example, b.example"]\n');
    assert.deepEqual(more, []);
    assert.match(list ?? '', /smsrelay\.yaml: sms\.domains\.0: "a\.example, b\.example" is a list written as one name: write \[a\.example, b\.example\]$/);
    assert.match(problems({}, 'sms:\n  domains: ["[127.0.0.1]"]\n')[0] ?? '', /"\[127\.0\.0\.1\]" is an address literal: an SMS domain is a name/);
    assert.match(problems({ SMSRELAY_SMS_DOMAINS: 'sms_x.example' })[0] ?? '', /never "_"/);
    assert.match(problems({ SMSRELAY_SMS_DOMAINS: 'not a domain' })[0] ?? '', /expected a domain name such as sms\.example\.com/);
  });

  test('an empty variable counts as set: refused where an empty value is, as the same value in the file is, never silently the default', () => {
    assert.deepEqual(problems({ SMSRELAY_DATA_DIR: '' }), ['SMSRELAY_DATA_DIR="": write a value: it must not be empty']);
    assert.deepEqual(problems({ SMSRELAY_SMTP_PORT: '' }), ['SMSRELAY_SMTP_PORT="": expected a port number from 0 to 65535']);
    assert.deepEqual(problems({ SMSRELAY_SHUTDOWN_TIMEOUT: ' ' }), ['SMSRELAY_SHUTDOWN_TIMEOUT=" ": write a duration such as 30s, 5m or 24h, not ""']);
    assert.deepEqual(problems({ SMSRELAY_SMS_DOMAINS: '' }), ['SMSRELAY_SMS_DOMAINS="": write a value: it must not be empty; unset it for the default']);
    assert.deepEqual(problems({ SMSRELAY_LOG_LEVEL: '' }), ['SMSRELAY_LOG_LEVEL="": write one of: fatal, error, warn, info, debug, trace, silent']);
    // Every URL setting alike: said to be empty, not masked as "***" and told the form a URL takes.
    for (const name of ['SMSRELAY_DATABASE_URL', 'SMSRELAY_MAIL_URL', 'SMSRELAY_GATEWAY_URL', 'SMSRELAY_GATEWAY_BACKUP_URL', 'SMSRELAY_GATEWAY_PUBLIC_URL']) {
      for (const value of ['', ' ']) assert.deepEqual(problems({ [name]: value }), [`${name}="${value}": write a value: it must not be empty`], name);
    }
    assert.match(problems({}, 'store:\n  url: ""\n').join('\n'), /^\S*smsrelay\.yaml: store\.url: write a value: it must not be empty$/);
    // The console's address too: one problem, not a second one about a path.
    for (const value of ['""', '" "']) {
      assert.match(
        problems({}, `console:\n  publicUrl: ${value}\n`).join('\n'),
        /^\S*smsrelay\.yaml: console\.publicUrl: write a value: it must not be empty$/,
      );
    }
    // A provider's own settings alike: a coerced number read an empty variable as 0.
    const smpp = {
      SMSRELAY_GATEWAY: 'smpp',
      SMSRELAY_GATEWAY_USERNAME: 'u',
      SMSRELAY_GATEWAY_PASSWORD: 'p',
      SMSRELAY_SMPP_HOST: 'smsc.example.com',
      SMSRELAY_SMPP_TLS: 'true',
    };
    assert.deepEqual(problems({ ...smpp, SMSRELAY_SMPP_DATA_CODING: '' }), ['SMSRELAY_SMPP_DATA_CODING="": expected 0 or 1']);
    assert.equal(loadConfig({ ...smpp, SMSRELAY_SMPP_DATA_CODING: '1' }, dirWith()).config.gateway.settings.dataCoding, 1);
  });

  test('ports are decimal digits only: 0x10, 1e3, -1 and an empty value are refused', () => {
    for (const value of ['0x10', '1e3', '-1', '', '70000', '2525.5']) {
      assert.deepEqual(problems({ SMSRELAY_HTTP_PORT: value }), [`SMSRELAY_HTTP_PORT="${value}": expected a port number from 0 to 65535`], value);
    }
    const [line, ...more] = problems({}, 'smtp:\n  port: "0x10"\n');
    assert.deepEqual(more, []);
    assert.match(line ?? '', /smsrelay\.yaml: smtp\.port: expected a port number from 0 to 65535$/);
    assert.equal(loadConfig({ SMSRELAY_HTTP_PORT: '2631' }, dirWith('smtp:\n  port: "2632"\n')).config.smtp.port, 2632);
    assert.equal(loadConfig({ SMSRELAY_HTTP_PORT: '2631' }, dirWith()).config.http.port, 2631);
  });

  test('a wrong file value that a variable overrides is a warning naming both, not silence', () => {
    const dir = dirWith('smtp:\n  port: abc\n');
    const { config, warnings } = loadConfig({ SMSRELAY_SMTP_PORT: '2631' }, dir);
    assert.equal(config.smtp.port, 2631);
    assert.deepEqual(warnings, [
      `${join(dir, 'smsrelay.yaml')}: smtp.port: expected a port number from 0 to 65535; overridden by SMSRELAY_SMTP_PORT for now: correct it or remove it`,
    ]);
    assert.deepEqual(loadConfig({ SMSRELAY_SMTP_PORT: '2631' }, dirWith('smtp:\n  port: 2632\n')).warnings, [], 'a good file value overridden is no warning');
  });

  test('a file section of the wrong shape is refused whatever variables set in it: never replaced by theirs unseen', () => {
    for (const [yaml, env] of [
      ['sms: [a]\n', { SMSRELAY_SMS_DOMAINS: 'x.test' }],
      ['sms:\n', { SMSRELAY_SMS_DOMAINS: 'x.test' }],
      ['smtp:\n  - port: 2526\n  - maxRecipients: 5\n', { SMSRELAY_SMTP_PORT: '2631' }],
      ['smtp: 2526\n', { SMSRELAY_SMTP_HOST: '127.0.0.1' }],
    ] as const) {
      const [line, ...more] = problems(env, yaml);
      assert.deepEqual(more, [], yaml);
      assert.match(line ?? '', /smsrelay\.yaml: (sms|smtp): write its settings indented under it/, yaml);
    }
  });

  test('one problem is one line: an empty provider, a value of the wrong type; a JSON variable that is no JSON says so, with a JSON example, its secrets unshown', () => {
    const routesExample = 'write it as JSON, e.g. [{"match": ["+47"], "providers": ["puzzel", "twilio"]}]';
    const providersExample = 'write it as JSON, e.g. {"puzzel": {"username": "…", "password": "…"}}';
    assert.deepEqual(problems({ SMSRELAY_GATEWAY: '' }), ['SMSRELAY_GATEWAY="": expected a provider name']);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_ROUTES: '' }), [`SMSRELAY_GATEWAY_ROUTES="": empty; ${routesExample}`]);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_ROUTES: '{bad' }), [`SMSRELAY_GATEWAY_ROUTES="{bad": not valid JSON; ${routesExample}`]);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_ROUTES: '{}' }), [`SMSRELAY_GATEWAY_ROUTES="{}": expected a JSON list; ${routesExample}`]);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_ROUTES: '[]' }), [`SMSRELAY_GATEWAY_ROUTES="[]": an empty list; ${routesExample}`]);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_PROVIDERS: 'pa55word' }), [`SMSRELAY_GATEWAY_PROVIDERS="***": not valid JSON; ${providersExample}`]);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_PROVIDERS: '[]' }), [`SMSRELAY_GATEWAY_PROVIDERS="***": expected a JSON mapping; ${providersExample}`]);
    const [line, ...more] = problems({}, 'gateway:\n  routes: ""\n');
    assert.deepEqual(more, [], 'the type, not its length too');
    assert.match(line ?? '', /smsrelay\.yaml: gateway\.routes: write a list of routes/);
  });

  test('two listeners on one port are refused at validation, naming both settings (not blamed on another program), also where a host name or another way of writing the address makes them one', () => {
    assert.deepEqual(problems({ SMSRELAY_SMTP_PORT: '2631', SMSRELAY_HTTP_PORT: '2631' }), [
      'SMSRELAY_HTTP_PORT="2631": the same port as smtp.port (SMSRELAY_SMTP_PORT="2631"); give each listener its own port',
    ]);
    const [line, ...more] = problems({}, 'smtp:\n  host: 0.0.0.0\n  port: 2631\nhttp:\n  host: 127.0.0.1\n  port: 2631\n');
    assert.deepEqual(more, []);
    assert.match(line ?? '', /smsrelay\.yaml: http\.port: the same port as smtp\.port \(.*smsrelay\.yaml: smtp\.port\); give each listener its own port$/);
    // A name may stand for the other's address (localhost for 127.0.0.1), as one address may be written two ways.
    assert.deepEqual(problems({ SMSRELAY_SMTP_HOST: 'localhost', SMSRELAY_SMTP_PORT: '2631', SMSRELAY_HTTP_PORT: '2631' }), [
      'SMSRELAY_HTTP_PORT="2631": the same port as smtp.port (SMSRELAY_SMTP_PORT="2631"); give each listener its own port',
    ]);
    assert.deepEqual(problems({ SMSRELAY_SMTP_HOST: '::1', SMSRELAY_HTTP_HOST: '0:0:0:0:0:0:0:1', SMSRELAY_SMTP_PORT: '2631', SMSRELAY_HTTP_PORT: '2631' }), [
      'SMSRELAY_HTTP_PORT="2631": the same port as smtp.port (SMSRELAY_SMTP_PORT="2631"); give each listener its own port',
    ]);
    assert.equal(loadConfig({ SMSRELAY_SMTP_PORT: '0', SMSRELAY_HTTP_PORT: '0' }, dirWith()).config.http.port, 0, 'port 0 is any free port, each its own');
    assert.equal(
      loadConfig({}, dirWith('smtp:\n  host: 127.0.0.1\n  port: 2631\nhttp:\n  host: 127.0.0.2\n  port: 2631\n')).config.http.port,
      2631,
      'other addresses',
    );
  });

  test('a setting nobody wrote is named as its default and where to set it, never as a key of a file that does not exist or does not hold it; a port clash is about the setting written', () => {
    // No file: the default is no key of smsrelay.yaml, and the line is about the variable the operator set.
    assert.deepEqual(problems({ SMSRELAY_SMTP_PORT: '8080' }), [
      'SMSRELAY_SMTP_PORT="8080": the same port as http.port (the default, 8080; set SMSRELAY_HTTP_PORT or http.port in smsrelay.yaml); give each listener its own port',
    ]);
    assert.deepEqual(problems({ SMSRELAY_HTTP_PORT: '2525' }), [
      'SMSRELAY_HTTP_PORT="2525": the same port as smtp.port (the default, 2525; set SMSRELAY_SMTP_PORT or smtp.port in smsrelay.yaml); give each listener its own port',
    ]);
    // A file that holds other keys: its name is where to set the default one, not where it was read.
    const clash = problems({}, 'smtp:\n  port: 8080\n').find((line) => line.includes('same port'));
    assert.match(
      clash ?? '',
      /\/smsrelay\.yaml: smtp\.port: the same port as http\.port \(the default, 8080; set SMSRELAY_HTTP_PORT or http\.port in \/.*\/smsrelay\.yaml\); give each listener its own port$/,
    );
    // Any other problem that names a default: a list, written in brackets.
    const [networks, ...more] = problems({ SMSRELAY_HTTP_HOST: '192.0.2.7', SMSRELAY_WEBHOOK_TOKEN: 'a-webhook-token-of-24-chars' });
    assert.deepEqual(more, []);
    assert.match(
      networks ?? '',
      /^http\.simulatorNetworks \(the default, \[127\.0\.0\.0\/8, ::1\/128\]; set http\.simulatorNetworks in smsrelay\.yaml\): leaves out 192\.0\.2\.7/,
    );
  });

  test('store.retention: keep (the default) erases nothing; any age a duration may be is taken, 0 is refused naming what to write', () => {
    assert.equal(loadConfig({}, dirWith('store:\n  retention: keep\n')).config.store.retention, undefined);
    assert.equal(loadConfig({}, dirWith()).config.store.retention, undefined);
    assert.equal(loadConfig({}, dirWith('store:\n  retention: 1h\n')).config.store.retention, 3_600_000);
    // Shorter than the hourly sweep still means something (erased at the next sweep): a config that ran before still runs.
    assert.equal(loadConfig({}, dirWith('store:\n  retention: 10m\n')).config.store.retention, 600_000);
    const [line, ...more] = problems({}, 'store:\n  retention: 0s\n');
    assert.deepEqual(more, []);
    // An older release took 0s, plausibly meaning off: the answer must not advise a tiny age that erases everything.
    assert.match(line ?? '', /\/smsrelay\.yaml: store\.retention: write an age above 0 \(30d\), or keep to erase nothing$/);
    assert.equal(loadConfig({}, dirWith('store:\n  retention: 50ms\n')).config.store.retention, 50, 'an age above 0, however short');
  });

  test("every duration setting has a maximum: beyond a timer's longest wait (or ten years for an age) it is refused, naming where it came from", () => {
    // Past 2^31-1 ms Node fires a timer after 1 ms: a stop that should wait 1000 days cut sessions at once.
    assert.deepEqual(problems({ SMSRELAY_SHUTDOWN_TIMEOUT: '1000d' }), [
      'SMSRELAY_SHUTDOWN_TIMEOUT="1000d": "1000d" is too long: write at most 24d (the longest a timer can wait)',
    ]);
    const [fromFile, ...others] = problems({}, 'shutdownTimeout: 25d\n');
    assert.deepEqual(others, []);
    assert.match(fromFile ?? '', /\/smsrelay\.yaml: shutdownTimeout: "25d" is too long: write at most 24d \(the longest a timer can wait\)$/);
    assert.equal(loadConfig({ SMSRELAY_SHUTDOWN_TIMEOUT: '24d' }, dirWith()).config.shutdownTimeout, MAX_WAIT_MS);
    assert.equal(loadConfig({}, dirWith('store:\n  retention: 365d\n')).config.store.retention, 365 * 86_400_000, 'an age may be longer than a timer');
    assert.ok(DURATION_SETTINGS.size >= 20);
    for (const setting of DURATION_SETTINGS) {
      const [section, key] = setting.split('.');
      const yaml = key === undefined ? `${section}: 4000d\n` : `${section}:\n  ${key}: 4000d\n`;
      const [line, ...more] = problems({}, yaml);
      assert.deepEqual(more, [], setting);
      assert.match(line ?? '', new RegExp(`/smsrelay\\.yaml: ${setting}: "4000d" is too long: write at most (24d|3650d) `), setting);
    }
    assert.equal(MAX_SPAN_MS, 3650 * 86_400_000);
  });

  test("a URL setting's problem shows none of its credentials or query values, whether it parses as a URL or not", () => {
    const lines = [
      ...problems({ SMSRELAY_GATEWAY_URL: 'u:TOPSECRET@gw.example.com' }),
      ...problems({ SMSRELAY_MAIL_URL: 'u:TOPSECRET@mail.example.com:25' }),
      ...problems({ SMSRELAY_MAIL_URL: 'smtp://u:TOPSECRET@mail.example.com:99999' }),
      ...problems({ SMSRELAY_DATABASE_URL: 'u:TOPSECRET@db.example.com/relay' }),
      ...problems({ SMSRELAY_DATABASE_URL: 'postgres://u:TOPSECRET@db.example.com/relay?foo=TOPSECRET2' }),
      ...problems({ SMSRELAY_DATABASE_URL: 'postgres://u:TOP@SE:CRET@db.example.com/relay?sslmode=bogus#TOPSECRET3' }),
      ...problems({}, "console:\n  publicUrl: 'https://u:TOPSECRET@console.example.com/x'\n"),
    ];
    assert.equal(lines.length, 7);
    for (const line of lines) assert.doesNotMatch(line, /TOPSECRET|SE:CRET/, line);
    assert.deepEqual(lines.slice(0, 6), [
      'SMSRELAY_GATEWAY_URL="***": expected an http:// or https:// URL',
      'SMSRELAY_MAIL_URL="***": expected smtp://host:port or smtps://host:port',
      'SMSRELAY_MAIL_URL="smtp://***@mail.example.com:99999": the port 99999 is out of range: give a port from 1 to 65535',
      'SMSRELAY_DATABASE_URL="***": expected postgres://user:password@host:port/database',
      'SMSRELAY_DATABASE_URL="postgres://u:***@db.example.com/relay?foo=***": unknown URL parameter "foo" (known: sslmode, sslrootcert, host)',
      'SMSRELAY_DATABASE_URL="postgres://u:***@db.example.com/relay?sslmode=***#***": unknown sslmode "bogus"; use one of disable, require, verify-ca, verify-full',
    ]);
    assert.deepEqual(problems({ SMSRELAY_GATEWAY_URL: 'https://[::1]:70000/send' }), [
      'SMSRELAY_GATEWAY_URL="https://[::1]:70000/send": the port 70000 is out of range: give a port from 1 to 65535',
    ]);
    assert.match(lines[6] ?? '', /console\.publicUrl: write only the scheme and host \(https:\/\/\*\*\*@console\.example\.com\), not a path/);
  });

  test("a URL's port out of range (0, or past 65535) is said as such only when it is the URL's only fault, store.url's too", () => {
    const said = (env: Record<string, string>) => problems(env).map((line) => line.slice(line.indexOf('": ') + 3));
    const range = (port: string) => [`the port ${port} is out of range: give a port from 1 to 65535`];
    assert.deepEqual(said({ SMSRELAY_MAIL_URL: 'smtp://mail.example.com:0' }), range('0'));
    assert.deepEqual(said({ SMSRELAY_MAIL_URL: 'smtps://u:p@mail.example.com:99999' }), range('99999'));
    assert.deepEqual(said({ SMSRELAY_GATEWAY_URL: 'http://gw.example.com:0/send' }), range('0'));
    // Another fault besides the port: the URL's form is what is wrong first.
    assert.deepEqual(said({ SMSRELAY_MAIL_URL: 'smtp://mail example.com:99999' }), ['expected smtp://host:port or smtps://host:port']);
    assert.deepEqual(said({ SMSRELAY_MAIL_URL: 'http://mail.example.com:99999' }), ['expected smtp://host:port or smtps://host:port']);
    assert.deepEqual(said({ SMSRELAY_GATEWAY_URL: 'https://gw.exa mple.com:70000/send' }), ['expected an http:// or https:// URL']);
    assert.deepEqual(said({ SMSRELAY_DATABASE_URL: 'postgres://u:p@db.example.com:99999/relay' }), range('99999'));
    assert.deepEqual(said({ SMSRELAY_DATABASE_URL: 'postgresql://u:p@db.example.com:0/relay' }), range('0'));
    assert.deepEqual(said({ SMSRELAY_DATABASE_URL: 'postgres://u:p@db.example.com:99999/' }), [
      'the URL names no database: expected postgres://user:password@host:port/database',
    ]);
    assert.deepEqual(said({ SMSRELAY_DATABASE_URL: 'mysql://u:p@db.example.com:99999/relay' }), [
      'expected postgres://user:password@host:port/database, not a mysql:// URL',
    ]);
  });

  test('an SMPP system_id over 15 or password over 8 octets is a config problem naming the setting and its source (exit 78), not a crash at start', () => {
    const smpp = { SMSRELAY_GATEWAY: 'smpp', SMSRELAY_SMPP_HOST: '127.0.0.1' };
    assert.deepEqual(problems({ ...smpp, SMSRELAY_GATEWAY_USERNAME: 'a'.repeat(16), SMSRELAY_GATEWAY_PASSWORD: 'TOPSECRET9' }), [
      `SMSRELAY_GATEWAY_USERNAME="${'a'.repeat(16)}": an SMPP system_id is at most 15 characters (octets); write the one the provider gave the account`,
      'SMSRELAY_GATEWAY_PASSWORD="***": an SMPP password is at most 8 characters (octets); write the one the provider gave the account',
    ]);
    const [routed, ...more] = problems(
      {},
      'gateway:\n  routes:\n    - {name: all, match: ["*"], providers: [smpp]}\n  providers:\n    smpp: {host: 127.0.0.1, username: u, password: "pässwort"}\n',
    );
    assert.deepEqual(more, []);
    assert.match(routed ?? '', /\/smsrelay\.yaml: gateway\.providers\.smpp\.password: an SMPP password is at most 8 characters \(octets\)/, 'ä is two octets');
    const { config } = loadConfig({ ...smpp, SMSRELAY_GATEWAY_USERNAME: 'a'.repeat(15), SMSRELAY_GATEWAY_PASSWORD: '12345678' }, dirWith());
    assert.equal(config.gateway.password, '12345678');
  });

  test('mail.dkim.privateKeyFile must hold an RSA private key DKIM can sign with: a missing file, a certificate, an EC or a short key is refused naming the setting and the file', () => {
    const dir = dirWith();
    const pem = (name: string, text: string | Buffer): string => {
      writeFileSync(join(dir, name), text);
      return name;
    };
    const rsa = pem('dkim.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const short = pem('short.pem', generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey.export({ type: 'pkcs1', format: 'pem' }));
    const ec = pem('ec.pem', generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const cert = pem('cert.pem', readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../fixtures/tls/cert.pem')));
    const refusal = (file: string): string => {
      writeFileSync(join(dir, 'smsrelay.yaml'), `mail:\n  dkim: {selector: sms2026, privateKeyFile: ${file}}\n`);
      try {
        loadConfig({}, dir);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.problems.length, 1, file);
        return (error.problems[0] ?? '').replaceAll(`${dir}/`, '');
      }
      return 'taken';
    };
    assert.equal(refusal(rsa), 'taken');
    assert.equal(refusal('/nonexistent.pem'), 'smsrelay.yaml: mail.dkim.privateKeyFile: /nonexistent.pem: no such file; name the PEM file');
    assert.match(refusal(cert), /^smsrelay\.yaml: mail\.dkim\.privateKeyFile: cert\.pem holds no PEM private key .*; name the DKIM key file$/);
    assert.match(refusal(ec), /^smsrelay\.yaml: mail\.dkim\.privateKeyFile: ec\.pem holds an ec key: DKIM signing here is rsa-sha256; make an RSA key/);
    assert.match(refusal(short), /^smsrelay\.yaml: mail\.dkim\.privateKeyFile: short\.pem holds a 512-bit RSA key: receivers ignore DKIM keys under 1024 bits/);
  });

  test('a passphrase-protected key (PKCS#8 ENCRYPTED PRIVATE KEY or the traditional Proc-Type: 4,ENCRYPTED) is refused as encrypted with the command that writes it plain, for mail.dkim and smtp.tls', () => {
    const dir = dirWith();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const encrypted = {
      'pkcs8-enc.pem': privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'secret' }),
      'trad-enc.pem': privateKey.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'secret' }),
      'crlf-enc.pem': String(privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'secret' })).replaceAll('\n', '\r\n'),
    };
    const cert = fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url));
    for (const [name, pem] of Object.entries(encrypted)) {
      writeFileSync(join(dir, name), pem);
      const fix = `holds an encrypted (passphrase-protected) private key: the relay takes no passphrase; write it unencrypted (openssl pkey -in ${join(dir, name)} -out plain.pem)`;
      for (const [yaml, setting] of [
        [`mail:\n  dkim: {selector: sms2026, privateKeyFile: ${join(dir, name)}}\n`, 'mail.dkim.privateKeyFile'],
        [`smtp:\n  tls: { key: ${join(dir, name)}, cert: ${cert} }\n`, 'smtp.tls.key'],
      ] as const) {
        const lines = problems({}, yaml);
        assert.equal(lines.length, 1, `${name} ${setting}: ${lines.join('; ')}`);
        assert.ok(lines[0]?.includes(`${setting}: `) && lines[0].includes(fix), `${name} ${setting}: ${lines[0]}`);
      }
    }
  });

  test('smtp.hostname is a host name or an address literal: empty, blank, a line break or other text is refused, not put into the banner', () => {
    for (const written of ["''", "'   '", '"relay\\r\\n250 fake"', "'relay example'", 'relay..example.com', '"[300.1.2.3]"', '"[IPv6:192.0.2.1]"']) {
      assert.deepEqual(
        problems({}, `smtp:\n  hostname: ${written}\n`).map((line) => line.replace(/^.*smsrelay\.yaml: /, '')),
        ["smtp.hostname: expected a host name such as relay.example.com or an address literal such as [192.0.2.1]; leave it unset for the machine's name"],
        written,
      );
    }
    for (const name of ['relay.example.com', 'Relay-1', 'relay_1.example.com', '[192.0.2.1]', '[IPv6:2001:db8::1]']) {
      assert.equal(loadConfig({}, dirWith(`smtp:\n  hostname: "${name}"\n`)).config.smtp.hostname, name);
    }
    // An absolute name is the same host, written in the greeting without the root's dot.
    assert.equal(loadConfig({}, dirWith('smtp:\n  hostname: relay.example.com.\n')).config.smtp.hostname, 'relay.example.com');
  });

  test('whole numbers are decimal digits or YAML integers, never a boolean, 0x10 or 1e3; a duration needs its unit from the file as from a variable', () => {
    const strip = (lines: readonly string[]): string[] => lines.map((line) => line.replace(/^.*smsrelay\.yaml: /, ''));
    assert.deepEqual(strip(problems({}, 'smtp:\n  maxMessageBytes: true\n')), ['smtp.maxMessageBytes: write a whole number above 0']);
    assert.deepEqual(strip(problems({}, 'smtp:\n  maxRecipients: 0x10\n')), ['smtp.maxRecipients: write a whole number above 0']);
    assert.deepEqual(strip(problems({}, 'store:\n  minFreeMegabytes: 1e3\n')), [
      'store.minFreeMegabytes: write a whole number of MB, or 0 to turn the check off',
    ]);
    assert.deepEqual(strip(problems({}, 'sms:\n  maxParts: 2.5\n')), ['sms.maxParts: write a whole number above 0']);
    const smpp = { SMSRELAY_GATEWAY: 'smpp', SMSRELAY_SMPP_HOST: '127.0.0.1', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' };
    assert.deepEqual(problems({ ...smpp, SMSRELAY_SMPP_PORT: '0x10' }), ['SMSRELAY_SMPP_PORT="0x10": write a whole number from 1 to 65535']);
    assert.deepEqual(problems({ ...smpp, SMSRELAY_SMPP_WINDOW_SIZE: '1e1' }), ['SMSRELAY_SMPP_WINDOW_SIZE="1e1": write a whole number from 1 to 100']);
    assert.deepEqual(strip(problems({}, 'gateway:\n  provider: smpp\n  host: 127.0.0.1\n  username: u\n  password: p\n  submitTimeout: 5000\n')), [
      'gateway.submitTimeout: write a duration with its unit, such as 30s (a number needs its unit: 5000s, 5000ms…)',
    ]);
    const { config } = loadConfig({ ...smpp, SMSRELAY_SMPP_PORT: '2775', SMSRELAY_SMPP_SUBMIT_TIMEOUT: '5s' }, dirWith('smtp:\n  maxMessageBytes: 1000\n'));
    assert.equal(config.gateway.settings['port'], 2775);
    assert.equal(config.gateway.settings['submitTimeout'], 5_000);
    assert.equal(config.smtp.maxMessageBytes, 1000);
  });

  test("Twilio's SIDs written with upper-case hex digits start the relay in the lower case Twilio issues, one warning each giving the value to write", () => {
    const env = {
      SMSRELAY_GATEWAY: 'twilio',
      SMSRELAY_GATEWAY_USERNAME: 'u',
      SMSRELAY_GATEWAY_PASSWORD: 'p',
      SMSRELAY_GATEWAY_AUTH_TOKEN: 't',
      SMSRELAY_GATEWAY_ACCOUNT_SID: `AC${'0123456789ABCDEF'.repeat(2)}`,
      SMSRELAY_GATEWAY_MESSAGING_SERVICE_SID: `MG${'AB12'.repeat(8)}`,
    };
    const { config, warnings } = loadConfig(env, dirWith());
    assert.deepEqual(config.gateway.settings, {
      accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
      authToken: 't',
      messagingServiceSid: `MG${'ab12'.repeat(8)}`,
    });
    // The variable's value is shown once (where the warning names the variable), the value to write once.
    assert.deepEqual(warnings, [
      `SMSRELAY_GATEWAY_ACCOUNT_SID="AC${'0123456789ABCDEF'.repeat(2)}": taken as "AC${'0123456789abcdef'.repeat(2)}", the form the twilio gateway uses; write that`,
      `SMSRELAY_GATEWAY_MESSAGING_SERVICE_SID="MG${'AB12'.repeat(8)}": taken as "MG${'ab12'.repeat(8)}", the form the twilio gateway uses; write that`,
    ]);
    assert.deepEqual(
      loadConfig({ ...env, SMSRELAY_GATEWAY_ACCOUNT_SID: `AC${'0'.repeat(32)}`, SMSRELAY_GATEWAY_MESSAGING_SERVICE_SID: `MG${'1'.repeat(32)}` }, dirWith())
        .warnings,
      [],
    );
  });

  test('one line per problem, each saying what to write: a flag, an overflowing port, a lower-case country, a provider named twice in a route', () => {
    const strip = (lines: readonly string[]): string[] => lines.map((line) => line.replace(/^.*smsrelay\.yaml: /, ''));
    const smpp = { SMSRELAY_GATEWAY: 'smpp', SMSRELAY_SMPP_HOST: '127.0.0.1', SMSRELAY_GATEWAY_USERNAME: 'u', SMSRELAY_GATEWAY_PASSWORD: 'p' };
    assert.deepEqual(problems({ ...smpp, SMSRELAY_SMPP_TLS: 'maybe' }), ['SMSRELAY_SMPP_TLS="maybe": write true or false']);
    // An account two routes name is checked for each: its problem is still one line.
    const twoRoutes = [
      'gateway:',
      '  routes:',
      '    - {name: norway, match: ["+47"], providers: [puzzel, twilio]}',
      '    - {name: rest, match: "*", providers: [twilio]}',
      '  providers:',
      '    puzzel: {username: acme, password: change-me, serviceId: 4242}',
      '    twilio: {accountSid: AC0123456789abcdef0123456789abcdef, authToken: the-auth-token, messagingServiceSid: MGbad}',
    ].join('\n');
    assert.deepEqual(strip(problems({}, `${twoRoutes}\n`)), [
      'gateway.providers.twilio.messagingServiceSid: expected a Messaging Service SID (MG followed by 32 hex digits)',
    ]);
    // Upper-case hex digits are the same SID: taken in the lower case Twilio issues, with one warning giving it.
    const upperCase = `MG${'AB12'.repeat(8)}`;
    const routed = loadConfig({}, dirWith(twoRoutes.replace('MGbad', `${upperCase}, username: u, password: p`)));
    const twilio = routed.config.gateway.routes?.flatMap((route) => route.providers).find((provider) => provider.provider === 'twilio');
    assert.equal((twilio?.settings as { messagingServiceSid?: string } | undefined)?.messagingServiceSid, upperCase.toLowerCase().replace(/^mg/, 'MG'));
    assert.deepEqual(
      routed.warnings.map((line) => line.replace(/^\S*smsrelay\.yaml: /, '')),
      [`gateway.providers.twilio.messagingServiceSid: taken as "MG${'ab12'.repeat(8)}", the form the twilio gateway uses; write that`],
    );
    assert.equal(twilioPlugin.senderIdProblem(upperCase), undefined, "a mail's X-SMS-From naming it is taken too (the adapter lower-cases it)");
    assert.deepEqual(problems({ SMSRELAY_SMTP_PORT: '99999999999999999999999' }), [
      'SMSRELAY_SMTP_PORT="99999999999999999999999": expected a port number from 0 to 65535',
    ]);
    assert.deepEqual(strip(problems({}, 'networks:\n  - {name: lan, cidr: [10.0.0.0/8], destinations: [uk, "+44x"]}\n')), [
      'networks.0.destinations.0: UK is not an ISO country code: use GB',
      'networks.0.destinations.1: expected a country code such as GB or a prefix such as +4477',
    ]);
    // YAML reads an unquoted +353 as the number 353: every prefix or number list says to quote it, as gateway.routes does.
    assert.deepEqual(
      strip(
        problems(
          {},
          'policy:\n  blockedPrefixes: [+44909]\nsms:\n  allowedSenderIds: [Acme, +447700900123]\nnetworks:\n  - {name: lab, cidr: [10.0.0.0/8], destinations: [GB, +353], senderIds: [+4477009001]}\n',
        ),
      ).toSorted(),
      [
        'networks.0.destinations.1: write the prefix in quotes: "+353" (YAML read it as the number 353)',
        'networks.0.senderIds.0: write the number in quotes: "+4477009001" (YAML read it as the number 4477009001)',
        'policy.blockedPrefixes.0: write the prefix in quotes: "+44909" (YAML read it as the number 44909)',
        'sms.allowedSenderIds.1: write the number in quotes: "+447700900123" (YAML read it as the number 447700900123)',
      ],
    );
    assert.deepEqual(strip(problems({}, "gateway:\n  routes:\n    - {match: ['*'], providers: [simulator, simulator]}\n")), [
      'gateway.routes.0: route * names simulator twice',
    ]);
  });

  test('policy.alertStormWindow takes off (its default); a blank dataDir is refused from the file as from the variable; one part is one part', () => {
    const strip = (lines: readonly string[]): string[] => lines.map((line) => line.replace(/^.*smsrelay\.yaml: /, ''));
    assert.equal(loadConfig({}, dirWith('policy:\n  alertStormWindow: off\n')).config.policy.alertStormWindow, undefined);
    assert.equal(loadConfig({}, dirWith('policy:\n  alertStormWindow: 10m\n')).config.policy.alertStormWindow, 600_000);
    assert.deepEqual(strip(problems({}, "dataDir: '   '\n")), ['dataDir: write a value: it must not be empty']);
    assert.deepEqual(strip(problems({}, 'gateway:\n  provider: interactsms-simulator\nsms:\n  maxParts: 2\n')), [
      'sms.maxParts: 2 parts can never be sent: interactsms at most 1 part per SMS; set at most 1',
    ]);
  });

  test('every duration setting has a minimum: 0s is refused at start and by config check, naming the setting, its source and the least to write', () => {
    assert.ok(DURATION_SETTINGS.size >= 20);
    for (const setting of DURATION_SETTINGS) {
      const [section, key] = setting.split('.');
      const yaml = key === undefined ? `${section}: 0s\n` : `${section}:\n  ${key}: 0s\n`;
      const [line, ...more] = problems({}, yaml);
      assert.deepEqual(more, [], setting);
      const minimum = setting === 'store.retention' ? 'write an age above 0' : 'write at least \\d+(ms|s|m)\\b';
      assert.match(line ?? '', new RegExp(`/smsrelay\\.yaml: ${setting}: ${minimum}`), setting);
      // Each reason fits what the setting is: only a wait is a busy loop.
      if (/busy loop/.test(line ?? '')) assert.match(setting, /Delay$|Interval$|failoverRecovery$/, setting);
    }
    assert.deepEqual(problems({ SMSRELAY_SHUTDOWN_TIMEOUT: '0s' }), [
      'SMSRELAY_SHUTDOWN_TIMEOUT="0s": write at least 100ms: a shorter timeout gives up before what it waits for can happen',
    ]);
    // A retry at once hammered a failing gateway (1,024 requests in 5 s); a response timeout of 0 sent one SMS 7 times.
    assert.deepEqual(
      problems({}, 'delivery:\n  retryMinDelay: 0s\n  retryMaxDelay: 50ms\n  maxAge: 500ms\ngateway:\n  responseTimeout: 0.5s\n  connectTimeout: 999ms\n').map(
        (line) => line.replace(/^.*smsrelay\.yaml: /, ''),
      ),
      [
        'gateway.connectTimeout: write at least 1s: below a second a connection to a gateway across a network fails before it can be made',
        'gateway.responseTimeout: write at least 1s: below a second a request times out before its answer can come, and the SMS is sent again',
        'delivery.retryMinDelay: write at least 100ms: a shorter wait is none, a busy loop',
        'delivery.retryMaxDelay: write at least 100ms: a shorter wait is none, a busy loop',
        'delivery.maxAge: write at least 1s: an SMS needs a moment for its first attempt (0s expired it unsent)',
      ],
    );
    const { config } = loadConfig({}, dirWith('delivery:\n  retryMinDelay: 100ms\n  maxAge: 1s\ngateway:\n  responseTimeout: 1s\n'));
    assert.equal(config.delivery.retryMinDelay, 100);
    assert.equal(config.delivery.maxAge, 1_000);
    assert.equal(config.gateway.responseTimeout, 1_000);
  });

  test('smtp.idleTimeout has a minimum: 0 would never close a connection that says nothing', () => {
    const [line, ...more] = problems({}, 'smtp:\n  idleTimeout: 0s\n');
    assert.deepEqual(more, []);
    assert.match(
      line ?? '',
      /\/smsrelay\.yaml: smtp\.idleTimeout: write at least 10s: a connection that says nothing must be closed some time \(0 would never close it\)$/,
    );
    assert.equal(loadConfig({}, dirWith('smtp:\n  idleTimeout: 10s\n')).config.smtp.idleTimeout, 10_000);
  });

  test('console session timeouts have minimums: 0s or a few seconds would sign everyone out at once', () => {
    const [idle, ...moreIdle] = problems({}, 'console:\n  sessionIdleTimeout: 0s\n');
    assert.deepEqual(moreIdle, []);
    assert.match(
      idle ?? '',
      /\/smsrelay\.yaml: console\.sessionIdleTimeout: write at least 1m: a session must outlast the time a person spends on a page \(0s would end it at once\)$/,
    );
    const [age, ...moreAge] = problems({}, 'console:\n  sessionMaxAge: 30s\n');
    assert.deepEqual(moreAge, []);
    assert.match(age ?? '', /\/smsrelay\.yaml: console\.sessionMaxAge: write at least 5m: a sign-in must last long enough to find a message and act on it$/);
    const { config } = loadConfig({}, dirWith('console:\n  sessionIdleTimeout: 1m\n  sessionMaxAge: 5m\n'));
    assert.equal(config.console.sessionIdleTimeout, 60_000);
    assert.equal(config.console.sessionMaxAge, 300_000);
  });
});

describe('webhook authentication and the HTTP settings', () => {
  test('an HTTP port beyond loopback with unauthenticated webhooks is refused, naming inbound.webhookToken and the fix', () => {
    const [line, ...more] = problems({ SMSRELAY_HTTP_HOST: '0.0.0.0' });
    assert.deepEqual(more, []);
    assert.match(
      line ?? '',
      /^SMSRELAY_HTTP_HOST="0\.0\.0\.0": .*webhooks of intellisoftware .*set inbound\.webhookToken .*SMSRELAY_WEBHOOK_TOKEN.*127\.0\.0\.1/,
    );
  });

  test('the previous webhook token comes from the environment beside the current one; alone it is refused, naming the fix', () => {
    const { config } = loadConfig({ SMSRELAY_WEBHOOK_TOKEN: 'the-new-webhook-secret', SMSRELAY_PREVIOUS_WEBHOOK_TOKEN: 'the-old-webhook-secret' }, dirWith());
    assert.equal(config.inbound.previousWebhookToken, 'the-old-webhook-secret');
    assert.deepEqual(problems({ SMSRELAY_PREVIOUS_WEBHOOK_TOKEN: 'the-old-webhook-secret' }), [
      'SMSRELAY_PREVIOUS_WEBHOOK_TOKEN="***": taken only beside the current token while it is changed; set inbound.webhookToken (SMSRELAY_WEBHOOK_TOKEN) to the new token, or unset this one',
    ]);
  });

  test('a webhook token with characters a URL reads otherwise (openssl rand -base64) is taken, with one warning line naming the setting and the fix', () => {
    const { config, warnings } = loadConfig(
      { SMSRELAY_WEBHOOK_TOKEN: 'Ab+cd/ef=gh0123456789', SMSRELAY_PREVIOUS_WEBHOOK_TOKEN: 'the-old-webhook-secret' },
      dirWith(),
    );
    assert.equal(config.inbound.webhookToken, 'Ab+cd/ef=gh0123456789');
    assert.equal(warnings.length, 1, 'the previous token is URL-safe');
    assert.match(
      warnings[0] ?? '',
      /^SMSRELAY_WEBHOOK_TOKEN="\*\*\*": holds characters a URL reads otherwise .*write it percent-encoded \(`\+` %2B, `\/` %2F, `=` %3D/,
    );
    assert.doesNotMatch(warnings[0] ?? '', /Ab\+cd/, 'the token itself is not shown');
    assert.match(warnings[0] ?? '', /in the webhook URLs of intellisoftware write it percent-encoded/);
    assert.deepEqual(loadConfig({ SMSRELAY_WEBHOOK_TOKEN: 'Ab-cd_ef.gh~0123456789' }, dirWith()).warnings, []);
  });

  test('a webhook token that travels in a header (Puzzel with inbound.webhookTokenHeader) is not warned of; in a URL it is', () => {
    const env = { SMSRELAY_WEBHOOK_TOKEN: 'Ab+cd/ef=gh0123456789' };
    const puzzel = 'gateway:\n  provider: puzzel-simulator\n';
    assert.deepEqual(loadConfig(env, dirWith(`${puzzel}inbound:\n  webhookTokenHeader: X-Api-Key\n`)).warnings, []);
    // Without the header Puzzel may take it in the URL (its "fixed query parameter"), and Twilio always does.
    assert.match(loadConfig(env, dirWith(puzzel)).warnings.join('\n'), /in the webhook URLs of puzzel write it percent-encoded/);
    const routes = [
      'gateway:',
      '  routes:',
      '    - {name: norway, match: ["+47"], providers: [puzzel]}',
      '    - {name: rest, match: "*", providers: [twilio]}',
      '  providers:',
      '    puzzel: {username: acme, password: change-me, serviceId: 4242}',
      `    twilio: {accountSid: AC0123456789abcdef0123456789abcdef, authToken: the-auth-token, messagingServiceSid: MG${'ab12'.repeat(8)}, username: u, password: p}`,
      'inbound:',
      '  webhookTokenHeader: X-Api-Key',
      '',
    ].join('\n');
    const [routed, ...more] = loadConfig(env, dirWith(routes)).warnings.filter((line) => line.includes('percent-encoded'));
    assert.deepEqual(more, []);
    assert.match(routed ?? '', /in the webhook URLs of twilio write it/, 'Puzzel sends it in the header');
  });

  test('with the token, or on loopback, or with every provider signing its webhooks, it starts', () => {
    assert.equal(loadConfig({ SMSRELAY_HTTP_HOST: '0.0.0.0', SMSRELAY_WEBHOOK_TOKEN: 'a-long-enough-webhook-secret' }, dirWith()).config.http.host, '0.0.0.0');
    assert.equal(loadConfig({ SMSRELAY_HTTP_HOST: '::1' }, dirWith()).config.http.host, '::1');
    const signed = 'http:\n  host: 0.0.0.0\ngateway:\n  provider: vonage-simulator\n  from: ACME\n  signatureSecret: vonagesecret\n  signatureMethod: sha256\n';
    assert.equal(loadConfig({}, dirWith(signed)).config.gateway.provider, 'vonage');
  });

  test('InteractSMS relying on its signature alone beyond loopback starts with a warning: the signature leaves the timestamp out, so it stops no replay', () => {
    const yaml = (host: string) =>
      `http:\n  host: ${host}\ngateway:\n  provider: interactsms-simulator\n  apiId: 1234\n  webhookSecret: IntWebhookSecret-xyz\n`;
    const dir = dirWith(yaml('0.0.0.0'));
    assert.deepEqual(loadConfig({}, dir).warnings, [
      `${join(dir, 'smsrelay.yaml')}: http.host: the webhooks of interactsms are reachable from other hosts and rely on its signature alone, but its SMS-Verify signs only SMS-From and SMS-Content: a captured request replayed with another SMS-TimeStamp is taken as a new SMS; set inbound.webhookToken (SMSRELAY_WEBHOOK_TOKEN) too and give interactsms its webhook URLs with ?token=…`,
    ]);
    assert.deepEqual(loadConfig({ SMSRELAY_WEBHOOK_TOKEN: 'a-long-enough-webhook-secret' }, dirWith(yaml('0.0.0.0'))).warnings, [], 'with the token too');
    assert.deepEqual(loadConfig({}, dirWith(yaml('127.0.0.1'))).warnings, [], 'on loopback');
  });

  test('console.publicUrl with a path is refused, naming the setting, its source and the fix; its origin alone is taken', () => {
    const [line, ...more] = problems({}, 'console:\n  publicUrl: https://ops.example.com/smsrelay/console\n');
    assert.deepEqual(more, []);
    assert.match(
      line ?? '',
      /\/smsrelay\.yaml: console\.publicUrl: write only the scheme and host \(https:\/\/ops\.example\.com\), not a path: .*a proxy must forward \/console\/ to it as it is/,
    );
    assert.equal(problems({}, 'console:\n  publicUrl: https://ops.example.com/?a=1\n').length, 1, 'a query is no origin either');
    for (const origin of ['https://ops.example.com', 'https://ops.example.com/', 'http://127.0.0.1:8080']) {
      assert.equal(loadConfig({}, dirWith(`console:\n  publicUrl: ${origin}\n`)).config.console.publicUrl, origin);
    }
  });

  test('console.trustedProxies, the old name of http.trustedProxies, still sets it with a warning naming the new one; both at once are refused', () => {
    const dir = dirWith('console:\n  trustedProxies: [127.0.0.1/32]\n');
    const { config, warnings } = loadConfig({}, dir);
    assert.deepEqual(config.http.trustedProxies, ['127.0.0.1/32']);
    assert.deepEqual(config.console.trustedProxies, ['127.0.0.1/32']);
    assert.deepEqual(warnings, [
      `${join(dir, 'smsrelay.yaml')}: console.trustedProxies: the old name of http.trustedProxies, read as it for now; rename it to http.trustedProxies`,
    ]);
    const renamed = loadConfig({}, dirWith('http:\n  trustedProxies: [10.0.0.1/32]\n'));
    assert.deepEqual(renamed.config.console.trustedProxies, ['10.0.0.1/32']);
    assert.deepEqual(renamed.warnings, []);
    const [line] = problems({}, 'http:\n  trustedProxies: [10.0.0.1/32]\nconsole:\n  trustedProxies: [127.0.0.1/32]\n');
    assert.match(line ?? '', /console\.trustedProxies: the old name of http\.trustedProxies/);
  });
});

describe("a gateway URL's query values cut from a gateway's words (querySecrets)", () => {
  test('a parameter is secret by a whole word of its name, not by letters inside another word; a long value whatever its name', () => {
    const url =
      'https://gw.example.com/send?apikey=k1x&access_token=t2y&X-Api-Key=h3z&authToken=a4w&countrycode=GB44&keyword=STOP&format=json&region=eu&ref=abcdefgh12';
    const secrets = querySecrets(url);
    for (const value of ['k1x', 't2y', 'h3z', 'a4w', 'abcdefgh12']) assert.ok(secrets.includes(value), value);
    for (const value of ['GB44', 'STOP', 'json', 'eu']) assert.ok(!secrets.includes(value), value);
  });
});

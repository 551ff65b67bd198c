import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { settingsDiffering, settingsDigest } from '../../src/cluster/settings.ts';
import { loadConfig } from '../../src/config/load.ts';
import { gatewayYaml, relayEnvironment, removeDir, tempDir } from '../helpers/relay.ts';

const dir = tempDir();
after(() => removeDir(dir));

const HASH = 'scrypt$16384$8$1$c2FsdA==$aGFzaA==';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
/** A key file in `dir`, its content as given. */
const keyFile = (name: string, content: string) => {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
};
const pkcs8 = keyFile('pkcs8.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const pkcs1 = keyFile('pkcs1.pem', privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
const crlf = keyFile('crlf.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '\r\n'));
const other = keyFile('other.pem', otherKey.export({ type: 'pkcs8', format: 'pem' }).toString());

interface Settings {
  readonly header?: string;
  readonly key?: string;
  readonly accounts?: readonly string[];
  readonly allowedNetworks?: readonly string[];
  readonly publicUrl?: string;
  readonly password?: string;
  readonly gatewayUrl?: string;
}

/** The digests of a relay's configuration written with these settings, the rest the same. */
function digest(settings: Settings = {}): string {
  const yaml = {
    ...gatewayYaml(settings.gatewayUrl ?? 'http://127.0.0.1:39500/api', {
      ...(settings.publicUrl ? { publicUrl: settings.publicUrl } : {}),
      ...(settings.password ? { password: settings.password } : {}),
    }),
    sms: { domains: ['sms.example.com'] },
    inbound: {
      webhookToken: 'current-token-0123456789',
      webhookTokenHeader: settings.header ?? 'X-Api-Key',
      ...(settings.allowedNetworks ? { allowedNetworks: settings.allowedNetworks } : {}),
    },
    mail: { url: 'smtp://127.0.0.1:25', dkim: { selector: 's1', privateKeyFile: settings.key ?? pkcs8 } },
    accounts: (settings.accounts ?? ['a', 'b']).map((username) => ({ username, passwordHash: HASH })),
  };
  return settingsDigest(loadConfig(relayEnvironment(dir, yaml), dir).config);
}

test('relays with equal settings written otherwise are told of no difference: a header in another case, the DKIM key in another form or line ends, accounts or networks in another order or form, a public URL with a trailing slash, a gateway URL its requests go to alike', () => {
  const networks = ['203.0.113.0/24', '2001:db8::/32'];
  const common: Settings = { allowedNetworks: networks, publicUrl: 'https://sms.example.com' };
  const base = digest(common);
  const told = (
    [
      ['the header in lower case', { header: 'x-api-key' }],
      ['the key as PKCS#1', { key: pkcs1 }],
      ['the key with CRLF line ends', { key: crlf }],
      ['the accounts in another order', { accounts: ['b', 'a'] }],
      ['the networks in another order and form', { allowedNetworks: ['2001:0DB8:0:0::/32', '203.0.113.0/24'] }],
      ['the public URL with a trailing slash', { publicUrl: 'https://sms.example.com/' }],
      // The requests go to http://127.0.0.1:39500/api/… from each (http-endpoint.ts, sentTo).
      ['the gateway URL with a trailing slash', { gatewayUrl: 'http://127.0.0.1:39500/api/' }],
      ['the gateway URL with its scheme in capitals', { gatewayUrl: 'HTTP://127.0.0.1:39500/api' }],
    ] as ReadonlyArray<readonly [string, Settings]>
  ).map(([what, settings]) => [what, settingsDiffering(digest({ ...common, ...settings }), base)] as const);
  assert.deepEqual(
    told.filter(([, differing]) => differing.length > 0),
    [],
    'each is the same setting',
  );
});

test('relays are told of another DKIM key, other allowed networks, another public URL and another gateway secret (a signing secret), by name', () => {
  const base = digest({ allowedNetworks: ['203.0.113.0/24'] });
  for (const [setting, settings] of [
    ['mail.dkim', { key: other, allowedNetworks: ['203.0.113.0/24'] }],
    ['inbound.allowedNetworks', { allowedNetworks: ['198.51.100.0/24'] }],
    ['gateway.publicUrl', { publicUrl: 'https://sms.example.com', allowedNetworks: ['203.0.113.0/24'] }],
    ['gateway secrets', { password: 'another-secret', allowedNetworks: ['203.0.113.0/24'] }],
    ['gateway accounts', { gatewayUrl: 'http://127.0.0.1:39500/api/v2', allowedNetworks: ['203.0.113.0/24'] }],
  ] as const) {
    assert.deepEqual(settingsDiffering(digest(settings), base), [setting]);
  }
  assert.ok(!base.includes('another-secret') && !digest({ password: 'another-secret' }).includes('another-secret'), 'never the secret');
});

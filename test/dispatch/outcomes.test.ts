import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { outcomeClassifier, type Where } from '../../src/dispatch/outcomes.ts';
import type { ProviderPlugin } from '../../src/providers/contract.ts';
import { intellisoftwarePlugin } from '../../src/providers/intellisoftware/index.ts';
import { interactsmsPlugin } from '../../src/providers/interactsms/index.ts';
import { TLS_CERTIFICATE_CODES } from '../../src/providers/outcome-reasons.ts';
import { puzzelPlugin } from '../../src/providers/puzzel/index.ts';
import { smppPlugin } from '../../src/providers/smpp/index.ts';
import { twilioPlugin } from '../../src/providers/twilio/index.ts';
import { vonagePlugin } from '../../src/providers/vonage/index.ts';
import { assertNeverLogged, captureLog } from '../helpers/log-lines.ts';

const { classify, classifyRecipient } = outcomeClassifier(intellisoftwarePlugin.outcomeRules);

describe('outcome table', () => {
  const cases: Array<[Parameters<typeof classify>[0], string, string]> = [
    ['connect', 'ECONNREFUSED', 'failover'],
    ['connect', 'UND_ERR_CONNECT_TIMEOUT', 'failover'],
    ['connect', 'ENOTFOUND', 'failover'],
    ['response', 'RESPONSE_TIMEOUT', 'ambiguous'],
    ['response', 'UND_ERR_SOCKET', 'ambiguous'],
    ['request', 'ERR:GATEWAY_ERROR', 'failover'],
    ['request', 'ERR:INTERNAL_ERROR', 'failover'],
    ['request', 'HTTP_503', 'failover'],
    ['request', 'UNPARSEABLE', 'ambiguous'],
    ['request', 'DELAY:5', 'delay'],
    ['request', 'HTTP_429', 'retry'],
    ['request', 'ERR:LOGIN_INVALID', 'pause'],
    ['request', 'ERR:INSUFFICIENT_CREDIT', 'pause'],
    ['request', 'ERR:DAILY_ALLOWANCE_EXCEEDED', 'pause'],
    ['request', 'HTTP_404', 'pause'],
    ['request', 'HTTP_301', 'pause'],
    ['request', 'HTTP_302', 'pause'],
    ['request', 'HTTP_401', 'pause'],
    ['request', 'HTTP_405', 'pause'],
    ['request', 'HTTP_400', 'retry'],
    ['request', 'HTTP_413', 'retry'],
    ['request', 'HTTP_422', 'retry'],
    ['request', 'ERR:INVALID_NUMBER', 'fail'],
    ['recipient', 'ERR:INVALID_NUMBER', 'fail'],
    ['request', 'ERR:NO_TEXT', 'fail'],
    ['request', 'ERR:NO_TO', 'fail'],
    ['request', 'ERR:NO_USERNAME', 'pause'],
    ['request', 'ERR:NO_PASSWORD', 'pause'],
    ['recipient', 'ERR:NO_PASSWORD', 'pause'],
    ['request', 'ERR:PARAMETER_MISSING', 'pause'],
    ['request', 'ERR:INVALID_REQUEST', 'fail'],
    ['request', 'ERR:PARAMETER_INVALID', 'fail'],
    ['recipient', 'MISSING_RESULT', 'ambiguous'],
    ['recipient', 'UNPARSEABLE', 'ambiguous'],
    ['request', 'ERR:SOMETHING_NEW', 'retry'],
  ];
  for (const [where, code, action] of cases) {
    test(`${where}/${code} → ${action}`, () => {
      const classified = classify(where, code);
      assert.equal(classified.action, action);
      assert.equal(classified.code, code);
      assert.ok(classified.reason.length > 10, 'every outcome has plain words for the sender');
    });
  }

  test('each transport failure says what happened: an untrusted certificate, a reset or dropped connection, a timeout', () => {
    const said = (where: Where, code: string) => [classify(where, code).action, classify(where, code).category];
    assert.deepEqual(said('connect', 'DEPTH_ZERO_SELF_SIGNED_CERT'), ['failover', 'tls-certificate']);
    assert.deepEqual(said('connect', 'ERR_TLS_CERT_ALTNAME_INVALID'), ['failover', 'tls-certificate']);
    assert.deepEqual(said('connect', 'CERT_HAS_EXPIRED'), ['failover', 'tls-certificate']);
    assert.deepEqual(said('connect', 'ECONNREFUSED'), ['failover', 'unreachable']);
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'SMPP_BIND_DROPPED']) {
      assert.deepEqual(said('response', code), ['ambiguous', 'connection-lost'], code);
      assert.doesNotMatch(classify('response', code).reason, /in time/, code);
    }
    assert.match(classify('response', 'RESPONSE_TIMEOUT').reason, /did not answer in time/);
  });

  test("every certificate code Node names gets the certificate advice: an HTTP gateway's naming its URL, an SMSC's naming gateway.host (SMPP's own rule, not the generic one)", () => {
    const smpp = outcomeClassifier(smppPlugin.outcomeRules);
    for (const code of ['CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'CERT_CHAIN_TOO_LONG', ...TLS_CERTIFICATE_CODES]) {
      const http = classify('connect', code);
      assert.deepEqual([http.action, http.category], ['failover', 'tls-certificate'], code);
      assert.match(http.reason, /check the gateway URL/, code);
      const smsc = smpp.classify('connect', code);
      assert.deepEqual([smsc.action, smsc.category], ['failover', 'tls-certificate'], code);
      assert.match(smsc.reason, /the SMSC's TLS certificate is not trusted.*gateway\.host/, code);
    }
    // A code outside the list is an unreachable host to both, never certificate advice.
    assert.equal(classify('connect', 'CERT_SOMETHING_NEW').category, 'unreachable');
    assert.equal(smpp.classify('connect', 'CERT_SOMETHING_NEW').category, 'unreachable');
  });

  test('DELAY:n carries the wait', () => {
    assert.equal(classify('request', 'DELAY:7').waitSeconds, 7);
  });

  test('per-recipient answers: accepted carries the provider id, a missing line is ambiguous', () => {
    const result = {
      kind: 'answered',
      results: [
        { number: '+447700900123', code: 'ID', providerId: 'ID42' },
        { number: '+447700900124', code: 'ERR:INVALID_NUMBER' },
      ],
    } as const;
    assert.deepEqual(classifyRecipient(result, '+447700900123'), {
      action: 'sent',
      category: 'sent',
      reason: 'accepted by the SMS gateway',
      code: 'ID',
      providerId: 'ID42',
    });
    assert.equal(classifyRecipient(result, '+447700900124').action, 'fail');
    assert.equal(classifyRecipient(result, '+447700900125').action, 'ambiguous');
  });
});

describe("a number's answer", () => {
  test('carries the ids of its own answer only; the code alone carries none', () => {
    const taken = (providerId: string) =>
      classifyRecipient({ kind: 'answered', results: [{ number: '+447700900123', code: 'ID', providerId }] }, '+447700900123');
    assert.equal(taken('first').providerId, 'first');
    assert.equal(taken('second').providerId, 'second');
    const tracked = classifyRecipient({ kind: 'answered', results: [{ number: '+447700900123', code: 'ID', trackingId: 'T1' }] }, '+447700900123');
    assert.deepEqual([tracked.providerId, tracked.trackingId], [undefined, 'T1']);
    assert.equal(classifyRecipient({ kind: 'answered', results: [{ number: '+447700900123', code: 'ID' }] }, '+447700900123').providerId, undefined);
    assert.equal(classify('recipient', 'ID').providerId, undefined);
  });

  test("none for the number (an adapter's answer without its entry): what the answer listed instead is its words, other numbers masked", () => {
    const missing = classifyRecipient({ kind: 'answered', results: [{ number: '+447700900999', code: 'ID', providerId: 'x' }] }, '+447700900123');
    assert.deepEqual([missing.code, missing.action, missing.detail], ['MISSING_RESULT', 'ambiguous', 'results for +4477******99 ID']);
    assert.equal(classifyRecipient({ kind: 'answered', results: [] }, '+447700900123').detail, 'no result for any number');
  });
});

describe('every provider: an answer nobody classified is retried, never bounced', () => {
  const unknown: Array<[ProviderPlugin, Where, string]> = [
    [interactsmsPlugin, 'recipient', 'INTERACT:-1'],
    [interactsmsPlugin, 'recipient', 'INTERACT:42'],
    [puzzelPlugin, 'recipient', 'PUZZEL:42'],
    [vonagePlugin, 'recipient', 'VONAGE:42'],
    [twilioPlugin, 'recipient', 'TWILIO:29999'],
    [intellisoftwarePlugin, 'recipient', 'ERR:SOMETHING_NEW'],
  ];
  for (const [plugin, where, code] of unknown) {
    test(`${plugin.name}: ${where}/${code} → retry`, () => {
      const classified = outcomeClassifier(plugin.outcomeRules).classify(where, code);
      assert.equal(classified.action, 'retry');
      assert.equal(classified.category, 'unclassified');
    });
  }
});

test('Puzzel: 3 and 4 (an action or service the account may not use) pause the account, as 2 does; 5 bounces', () => {
  const { classify: puzzel } = outcomeClassifier(puzzelPlugin.outcomeRules);
  for (const code of ['PUZZEL:2', 'PUZZEL:3', 'PUZZEL:4']) assert.equal(puzzel('recipient', code).action, 'pause', code);
  assert.equal(puzzel('recipient', 'PUZZEL:5').action, 'fail');
});

test("Vonage: 23 (the relay's callback URL refused) pauses the account, as bad credentials do, naming gateway.publicUrl", () => {
  const { classify: vonage } = outcomeClassifier(vonagePlugin.outcomeRules);
  const classified = vonage('recipient', 'VONAGE:23');
  assert.deepEqual([classified.action, classified.category], ['pause', 'account']);
  assert.match(classified.reason, /gateway\.publicUrl/);
  assert.match(classified.fix ?? '', /gateway\.publicUrl/);
});

test("Vonage: each account status pauses with its own fix in Vonage's meaning; only 4 (Invalid Credentials) names the credentials", () => {
  const { classify: vonage } = outcomeClassifier(vonagePlugin.outcomeRules);
  for (const [code, fix] of [
    ['4', /gateway\.username .*gateway\.password/],
    ['8', /Vonage support/],
    ['9', /top up/],
    ['11', /enable the SMS API|SMPP/],
    ['14', /^ask Vonage support to stop requiring signed requests for the API key/],
    ['32', /^ask Vonage support to stop requiring signed requests for the API key/],
  ] as const) {
    const classified = vonage('recipient', `VONAGE:${code}`);
    assert.deepEqual([classified.action, classified.category], ['pause', 'account'], code);
    assert.match(classified.fix ?? '', fix, code);
    if (code !== '4') assert.doesNotMatch(classified.fix ?? '', /credentials|gateway\.password/, code);
  }
  // Vonage's documented meanings, then the relay's reading; and no dashboard switch, which Vonage documents none of:
  // its support sets signed requests.
  for (const [code, meaning] of [
    ['14', /^the SMS gateway could not verify the request's signature \(Invalid Signature\); the relay signs no request/],
    ['32', /^a signed request may not also present an api_secret \(Signature And API Secret Disallowed\); the relay signs no request/],
  ] as const) {
    const classified = vonage('recipient', `VONAGE:${code}`);
    assert.match(classified.reason, meaning, code);
    assert.doesNotMatch(classified.fix ?? '', /dashboard/, code);
  }
});

describe("a gateway's answer the echo reading cannot read", () => {
  const { classifyRecipient: refusedBy } = outcomeClassifier(intellisoftwarePlugin.outcomeRules, ['kQ9/vX2-secret']);
  const refused = (detail: string) => refusedBy({ kind: 'refused', code: 'ERR:LOGIN_INVALID', detail }, '447700900123', 'Your code is 4821');

  test('a numeric reference of hundreds of digits is classified, the secret still cut', () => {
    // entities gives NaN for it, which String.fromCodePoint threw on: the batch's outcomes were lost and its SMS sent again.
    const classified = refused(`bad kQ9/vX2-secret: &#${'9'.repeat(309)}`);
    assert.equal(classified.action, 'pause');
    assert.equal(classified.detail, `${`bad ***: &#${'9'.repeat(309)}`.slice(0, 197)}...`);
  });

  test('a reading that fails cuts the whole answer rather than throwing, and says so once at debug, by its kind only', () => {
    const { logger, lines } = captureLog('debug');
    const { classifyRecipient } = outcomeClassifier(intellisoftwarePlugin.outcomeRules, ['kQ9/vX2-secret'], logger);
    const fromCodePoint = String.fromCodePoint;
    String.fromCodePoint = () => {
      throw new RangeError('a reading no test foresaw kQ9/vX2-secret');
    };
    try {
      for (let index = 0; index < 2; index++) {
        const classified = classifyRecipient({ kind: 'refused', code: 'ERR:LOGIN_INVALID', detail: 'login kQ9/vX2&#45;secret refused' }, '447700900123');
        assert.equal(classified.action, 'pause');
        assert.equal(classified.detail, '***');
      }
    } finally {
      String.fromCodePoint = fromCodePoint;
    }
    assert.equal(lines.length, 1, 'said once');
    const line = JSON.parse(lines[0] ?? '{}') as { level: unknown; errorType: unknown };
    assert.equal(line.level, 'debug');
    assert.equal(line.errorType, 'RangeError');
    assertNeverLogged(lines, { "the error's words": 'no test foresaw', 'the secret': 'kQ9/vX2' });
  });
});

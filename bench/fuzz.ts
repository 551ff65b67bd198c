/**
 * `node --import tsx bench/fuzz.ts`: the SMTP/MIME fuzzer of test/smtp/fuzz.test.ts at a larger scale,
 * against one relay in this process (real sockets) and a standalone simulated gateway. Prints
 * cases/s, the end-of-DATA reply histogram and every broken promise (hang, missing or malformed
 * reply), and exits 1 if there was one.
 *
 *   FUZZ_CASES=20000        how many cases (default 20,000)
 *   FUZZ_SEED=0x5eedf022    the seed (default the test's)
 *   FUZZ_FIRST=0            the first case index
 *   FUZZ_CONCURRENCY=4      connections driven at once
 *   FUZZ_CASE=1234          run only this case and print it byte for byte with the relay's replies
 *   FUZZ_LONG_TEXT=0        keep SMS texts under ~15,000 characters (see GenerateOptions.longText)
 *   TEST_LOG_LEVEL=info     the relay's log
 */
import { FUZZ_SEED, type CaseOutcome, describeCase, formatSummary, fuzzCase, fuzzRelayYaml, FuzzDriver, runFuzz, show } from '../test/helpers/fuzz-cases.ts';
import { gatewayYaml, removeDir, startSimulator, startTestRelay } from '../test/helpers/relay.ts';
import { sendMail } from '../test/helpers/smtp.ts';

const seed = Number(process.env.FUZZ_SEED ?? FUZZ_SEED) >>> 0;
const cases = Number(process.env.FUZZ_CASES ?? 20_000);
const first = Number(process.env.FUZZ_FIRST ?? 0);
const concurrency = Number(process.env.FUZZ_CONCURRENCY ?? 4);
const only = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE);
const generate = { longText: process.env.FUZZ_LONG_TEXT !== '0' };

const gateway = await startSimulator();
const relay = await startTestRelay(fuzzRelayYaml(gatewayYaml(gateway.url)));
const port = relay.relay.smtpPort;
let failed = false;
try {
  if (only !== undefined) {
    const theCase = fuzzCase(seed, only, generate);
    console.log(describeCase(theCase, 100_000));
    const outcome = await new FuzzDriver({ port }).run(theCase);
    for (const reply of outcome.replies) console.log(`  S: ${show(reply.lines.join('\r\n'), 1000)}`);
    console.log(outcome.problems.length === 0 ? 'no problem' : `PROBLEMS:\n  ${outcome.problems.join('\n  ')}`);
    failed = outcome.problems.length > 0;
  } else {
    let done = 0;
    const progressEvery = Math.max(1000, Math.floor(cases / 20));
    const started = performance.now();
    const summary = await runFuzz({
      port,
      seed,
      cases,
      first,
      concurrency,
      generate,
      onOutcome: (outcome: CaseOutcome) => {
        done += 1;
        if (outcome.problems.length > 0) console.log(`case ${outcome.fuzzCase.index} (${outcome.fuzzCase.label}): ${outcome.problems.join('; ')}`);
        if (done % progressEvery === 0) {
          const seconds = (performance.now() - started) / 1000;
          console.log(`${done}/${cases} cases, ${(done / seconds).toFixed(0)} cases/s`);
        }
      },
    });
    console.log(formatSummary(summary).join('\n'));
    const after = await sendMail(port, { to: ['447700900999@sms.localhost'], body: 'still alive after the fuzz run' });
    const health = await fetch(`http://127.0.0.1:${relay.relay.httpPort}/healthz`);
    const healthBody = (await health.json()) as { status?: string };
    console.log(`after the run: a plain mail got ${after.data?.code ?? after.mail.code}, /healthz ${health.status} ${healthBody.status}`);
    failed = summary.failures.length > 0 || after.data?.code !== 250 || healthBody.status !== 'ok';
  }
} finally {
  await relay.stop();
  await gateway.close();
  removeDir(relay.dir);
}
process.exitCode = failed ? 1 : 0;

/**
 * The baseline the relay is measured against: a bare smtp-server that parses each mail with
 * mailparser's simpleParser and answers 250 — what any Node SMTP service does at minimum, with no
 * store, no fsync and no gateway. Like the relay for trusted networks, it greets at once (without
 * smtp-server's 100 ms early-talker pause), so a connection per mail compares like with like.
 * Prints its port on stdout.
 */
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { applySmtpServerPatches, type ClientOptions } from '../src/smtp/patches.ts';

applySmtpServerPatches();
// Typed as the patches read it: a renamed option fails to compile here, not silently in a bench run.
const greetAtOnce: ClientOptions = { isTrusted: () => true };
const server = new SMTPServer({
  ...greetAtOnce,
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  disableReverseLookup: true,
  logger: false,
  onData(stream, _session, callback) {
    simpleParser(stream).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  },
});
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

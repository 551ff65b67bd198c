import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * Narrow adjustments to smtp-server's internals, applied once. Each is covered by tests that fail if
 * a newer smtp-server changes the behaviour it relies on (test/smtp/intake.test.ts); package.json pins
 * smtp-server to an exact version for the same reason: an upgrade is a deliberate step with those
 * tests run, never a side effect of `npm install`.
 */

const ENHANCED_CODE = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s;

/**
 * smtp-server derives the RFC 3463 enhanced status code from the basic code alone (550 → 5.1.1),
 * and a handler error cannot carry its own. Senders act on the difference between 5.1.3 (bad
 * number), 5.7.1 (relaying denied) and 5.3.4 (too long), so a reply text that starts with an
 * enhanced code keeps it and gets no second one.
 */
function keepHandlerEnhancedCodes(): void {
  const send = SMTPConnection.prototype.send;
  SMTPConnection.prototype.send = function sendWithOwnEnhancedCode(code, data, context) {
    if (typeof data === 'string' && ENHANCED_CODE.test(data)) {
      send.call(this, code, data, false);
      return;
    }
    send.call(this, code, data, context);
  };
}

/**
 * smtp-server waits a hard-coded 100 ms before the greeting to catch clients that talk too soon (a
 * spam-bot tell). For clients in trusted networks — the monitoring system or ERP next door, sending
 * one mail per connection — that pause caps a session near 10 mails/s and buys nothing. The server
 * marks them with `skipGreetingDelay(address)`; everyone else keeps the pause.
 */
function skipGreetingDelayForTrusted(): void {
  const init = SMTPConnection.prototype.init;
  SMTPConnection.prototype.init = function initWithoutDelayForTrusted() {
    const options = this._server.options as { skipGreetingDelay?: (address: string) => boolean; maxClients?: number };
    if (!options.skipGreetingDelay?.(this.remoteAddress)) {
      init.call(this);
      return;
    }
    this._setListeners(() => {
      if (options.maxClients && this._server.connections.size > options.maxClients) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      this.connectionReady();
    });
  };
}

let applied = false;

export function applySmtpServerPatches(): void {
  if (applied) return;
  applied = true;
  keepHandlerEnhancedCodes();
  skipGreetingDelayForTrusted();
}

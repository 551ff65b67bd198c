import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Structured JSON lines on stdout. Every line about a message carries `msgId` (the relay's message
 * id) so one grep follows a message from SMTP through the gateway and back. Phone numbers are logged
 * masked at every level (see `maskNumber`): debug is turned on to chase a fault, often with the logs
 * shipped elsewhere, and the msgId leads to the full number in the store (`smsrelay log`).
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', '*.password', 'config.gateway.password'], censor: '***' },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

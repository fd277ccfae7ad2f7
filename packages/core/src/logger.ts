import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line: credentials, signatures and raw bodies. */
const REDACT = [
  'secret', '*.secret', 'apiKey', '*.apiKey', 'password', '*.password', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'headers["x-shopify-hmac-sha256"]',
  'headers["x-recharge-hmac-sha256"]', 'headers["x-recharge-webhook-signature"]', 'writeKey', '*.writeKey',
  'body', '*.body', 'rawBody', '*.rawBody',
];

export function createLogger(service: string, level = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

import { pino, type Logger } from 'pino';
import { redactSecrets } from './redaction.ts';

export type { Logger };
export { REDACTED, SECRET_KEYS, redactSecrets } from './redaction.ts';

/**
 * The one logger factory every service and command uses, so they all redact the same way: what a
 * call logs, the base bindings and every child logger's bindings go through `redactSecrets`.
 */
export function createLogger(service: string, level = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => redactSecrets(object),
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  // pino applies no formatter to a child's bindings; children inherit this override (they are
  // created with Object.create(parent)), so bindings at any depth of children are redacted.
  type ChildFn = (this: unknown, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions) => unknown;
  const child = logger.child as unknown as ChildFn;
  const redactedChild: ChildFn = function (this: unknown, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  };
  logger.child = redactedChild as unknown as typeof logger.child;
  return logger;
}

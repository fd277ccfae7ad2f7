/**
 * Every error the pipeline raises on purpose carries a stable code and a `retryable` fact.
 * Callers decide on retry or dead-letter by reading `retryable`, never by matching messages.
 */
export class PipelineError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, opts: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }
}

/** Invalid configuration: every problem found, reported at once at start-up. */
export class ConfigError extends PipelineError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof PipelineError && err.retryable;
}

import { PipelineError } from '@cio-pipeline/core';

/** The command line was wrong: unknown command, missing value, bad flag. Exit code 2. */
export class UsageError extends PipelineError {
  constructor(message: string) {
    super('SCHEMAS_USAGE', message);
  }
}

/** A checked-in input (subjects.yaml, tracking-plan.yaml, an .avsc file) is malformed. Exit code 2. */
export class SchemaInputError extends PipelineError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('SCHEMAS_INPUT_INVALID', message, opts);
  }
}

/**
 * The registry could not be reached or answered with an error. 5xx and transport failures are
 * retryable; a 4xx says the request itself was wrong. Exit code 2.
 */
export class RegistryError extends PipelineError {
  readonly status: number | undefined;
  /** Confluent-style `error_code` (e.g. 40401 subject not found, 409 incompatible), when given. */
  readonly registryCode: number | undefined;
  constructor(message: string, opts: { status?: number; registryCode?: number; cause?: unknown } = {}) {
    super('SCHEMAS_REGISTRY', message, {
      retryable: opts.status === undefined || opts.status >= 500,
      cause: opts.cause,
      details: { status: opts.status, registryCode: opts.registryCode },
    });
    this.status = opts.status;
    this.registryCode = opts.registryCode;
  }
}

import { PipelineError, type ErrorCatalog } from '@cio-pipeline/core';

/** Every code the schemas tool raises (each exits with code 2); docs/errors.md is generated from this. */
export const SCHEMAS_ERRORS = {
  SCHEMAS_USAGE: {
    retryable: false,
    meaning: 'The command line was wrong: unknown command, missing value, bad flag.',
    action: 'Run `npm run schemas -- --help`.',
  },
  SCHEMAS_INPUT_INVALID: {
    retryable: false,
    meaning: 'A checked-in input (subjects.yaml, an .avsc file) is malformed. An invalid tracking-plan.yaml fails with core\'s TRACKING_PLAN_INVALID.',
    action: 'Fix the file named in the message.',
  },
  SCHEMAS_REGISTRY: {
    retryable: 'depends',
    meaning: 'The registry could not be reached or answered with an error (5xx and transport failures are retryable, 4xx are not).',
    action: 'Check SCHEMA_REGISTRY_URL; on 409 the change is incompatible: see `npm run schemas -- check`.',
  },
} as const satisfies ErrorCatalog;

export type SchemasErrorCode = keyof typeof SCHEMAS_ERRORS;
export const SCHEMAS_ERROR_CODES = Object.keys(SCHEMAS_ERRORS) as SchemasErrorCode[];

/** The command line was wrong: unknown command, missing value, bad flag. Exit code 2. */
export class UsageError extends PipelineError {
  constructor(message: string) {
    super('SCHEMAS_USAGE', message);
  }
}

/** A checked-in input (subjects.yaml, an .avsc file) is malformed. Exit code 2. */
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

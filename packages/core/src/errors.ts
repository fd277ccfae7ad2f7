/**
 * Every error the pipeline raises on purpose carries a stable code and a `retryable` fact.
 * Callers decide on retry or dead-letter by reading `retryable` or the class, never by matching messages.
 *
 * Each package keeps a closed catalog of its codes (its `errors.ts`); docs/errors.md is generated
 * from those catalogs (`node scripts/errors-doc.ts`) and a test fails on a code thrown but not listed.
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

/** What docs/errors.md says about one code. */
export interface ErrorCodeDoc {
  /** The HTTP status a client sees, for codes that end up in an HTTP answer. */
  readonly status?: number;
  /** Whether trying again later can succeed (the error's `retryable`, or "depends"). */
  readonly retryable: boolean | 'depends';
  readonly meaning: string;
  readonly action: string;
}

/** A package's closed list of codes, keyed by code. */
export type ErrorCatalog = Readonly<Record<string, ErrorCodeDoc>>;

/** The codes of @cio-pipeline/core: configuration, serde, readers and the tracking plan every service shares. */
export const CORE_ERRORS = {
  CONFIG_INVALID: { retryable: false, meaning: 'The environment holds invalid or missing settings; every problem is listed at once.', action: 'Fix the listed variables and start the service again.' },
  END_NOT_REACHED: { retryable: false, meaning: 'A reader (state restore, backfill, replay) did not reach the end offsets it measured at start within its time budget.', action: 'Check broker health and consumer lag of the partitions named in the error, then restart or raise the timeout.' },
  SERDE_CORRUPT: { retryable: false, meaning: 'A record is not in the schema-registry wire format, or its body does not decode with its writer schema.', action: 'Find the producer that wrote it; the consumer quarantines or dead-letters the record.' },
  SERDE_INCOMPATIBLE: { retryable: false, meaning: 'The writer schema of a record cannot be read with the schema this code was built with.', action: 'Register only compatible schema changes (`npm run schemas -- check`), then replay the affected records.' },
  SERDE_NOT_INITIALISED: { retryable: false, meaning: 'A serde was used to encode before init() looked up its schema: a programming error.', action: 'Call init() at start-up before producing.' },
  SERDE_SCHEMA_UNAVAILABLE: { retryable: true, meaning: 'The schema registry could not be reached, or the subject is not registered yet.', action: 'Check SCHEMA_REGISTRY_URL and the registry; run `make schemas-register` if the subject is missing. Consumers retry.' },
  SERDE_UNKNOWN_SCHEMA: { retryable: false, meaning: 'A record names a writer schema id the registry does not know (404).', action: 'The record was written against another registry; it is quarantined or dead-lettered, not retried.' },
  TRACKING_PLAN_INVALID: { retryable: false, meaning: 'The tracking plan (NORMALIZER_TRACKING_PLAN for the normalizer, schemas/tracking-plan.yaml for `schemas docs`) cannot be read or is invalid; every problem is listed by its path.', action: 'Fix schemas/tracking-plan.yaml (`npm run schemas -- docs --check` validates it) and restart.' },
} as const satisfies ErrorCatalog;

export type CoreErrorCode = keyof typeof CORE_ERRORS;
export const CORE_ERROR_CODES = Object.keys(CORE_ERRORS) as CoreErrorCode[];

/** Invalid configuration: every problem found, reported at once at start-up. */
export class ConfigError extends PipelineError {
  declare readonly code: 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof PipelineError && err.retryable;
}

import { inspect } from 'node:util';

/** How long to keep asking, how often, and which thrown errors only mean "not yet". */
export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** An error the probe throws that means "not yet" (a server still starting); others fail at once. */
  retryOn?: (err: unknown) => boolean;
  /** Extra facts for the failure message, asked for only when it fails (a service's output). */
  context?: () => string;
}

/** A wait that ran out: names what it waited for and the last value or error it saw. */
export class EventuallyTimeoutError extends Error {
  readonly code = 'TEST_EVENTUALLY_TIMEOUT';
}

const DEFAULTS = { timeoutMs: 10_000, intervalMs: 50 };

/**
 * The one polling helper of the tests. Asks `probe` until `done` holds on its answer (or, without
 * `done`, until the probe answers true), and resolves with that answer. Never a blind sleep: it
 * returns as soon as the condition holds.
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, opts?: EventuallyOptions): Promise<void>;
export async function eventually<T>(what: string, probe: () => T | Promise<T>, done: (value: T) => boolean, opts?: EventuallyOptions): Promise<T>;
export async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  doneOrOpts?: ((value: T) => boolean) | EventuallyOptions,
  maybeOpts?: EventuallyOptions,
): Promise<T | void> {
  const done = typeof doneOrOpts === 'function' ? doneOrOpts : (v: T) => v === true;
  const opts = { ...DEFAULTS, ...(typeof doneOrOpts === 'function' ? maybeOpts : doneOrOpts) };
  const deadline = Date.now() + opts.timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return value;
      last = { value };
    } catch (error) {
      if (!opts.retryOn?.(error)) throw error;
      last = { error };
    }
    if (Date.now() >= deadline) {
      const extra = opts.context?.() ?? '';
      throw new EventuallyTimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${what}; ${describe(last)}${extra ? `\n${extra}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}

function describe(last: { value: unknown } | { error: unknown } | undefined): string {
  if (last === undefined) return 'no answer yet';
  const shown = (x: unknown): string => inspect(x, { depth: 3, maxArrayLength: 10, maxStringLength: 300, breakLength: Infinity });
  return 'error' in last ? `last error: ${last.error instanceof Error ? last.error.message : shown(last.error)}` : `last value: ${shown(last.value)}`;
}

/** For probes that reach a server which may not listen yet: any error is "not yet". */
export const anyError = (): boolean => true;

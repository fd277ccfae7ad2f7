import { describe, expect, it } from 'vitest';
import { anyError, eventually, EventuallyTimeoutError } from './eventually.ts';

describe('eventually', () => {
  it('resolves with the first answer that satisfies the condition', async () => {
    let n = 0;
    expect(await eventually('the third answer', () => ++n, (v) => v >= 3, { intervalMs: 1 })).toBe(3);
  });

  it('waits for a boolean check to turn true', async () => {
    let n = 0;
    await eventually('the check to hold', () => ++n === 2, { intervalMs: 1 });
    expect(n).toBe(2);
  });

  it('fails naming what it waited for and the last value it saw', async () => {
    const failure = await eventually('five items', () => [1, 2], (v) => v.length === 5, { timeoutMs: 20, intervalMs: 1, context: () => 'service output: ok' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EventuallyTimeoutError);
    expect((failure as EventuallyTimeoutError).code).toBe('TEST_EVENTUALLY_TIMEOUT');
    expect((failure as Error).message).toMatch(/^timed out after 20 ms waiting for five items; last value: \[ 1, 2 \]\nservice output: ok$/);
  });

  it('fails at once on a probe error it was not told to retry', async () => {
    let calls = 0;
    const failure = await eventually('a broken probe', () => { calls++; throw new Error('boom'); }, { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect((failure as Error).message).toBe('boom');
    expect(calls).toBe(1);
  });

  it('retries errors it was told mean "not yet", and reports the last one', async () => {
    const failure = await eventually('a server', () => { throw new Error('ECONNREFUSED'); }, { timeoutMs: 20, intervalMs: 1, retryOn: anyError }).catch((e: unknown) => e);
    expect((failure as Error).message).toBe('timed out after 20 ms waiting for a server; last error: ECONNREFUSED');
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { deadLetterRetryDelay, retryDelay } from '../../src/dispatch/backoff.ts';
import { ConfigHalt } from '../../src/dispatch/config-halt.ts';
import { Pressure } from '../../src/dispatch/pressure.ts';
import { CioAuthError, CioRetryableError } from '../../src/errors.ts';

const settings = { retryBaseMs: 100, retryMaxMs: 1000 };

afterEach(() => {
  vi.useRealTimers();
});

describe('retryDelay', () => {
  it('grows exponentially with equal jitter, capped at the maximum', () => {
    expect(retryDelay(settings, 1, undefined, Infinity, () => 0)).toBe(50);
    expect(retryDelay(settings, 1, undefined, Infinity, () => 1)).toBe(100);
    expect(retryDelay(settings, 3, undefined, Infinity, () => 1)).toBe(400);
    expect(retryDelay(settings, 30, undefined, Infinity, () => 1)).toBe(1000);
  });

  it('never waits past the park deadline, and treats Retry-After as a floor', () => {
    expect(retryDelay(settings, 5, undefined, 30, () => 1)).toBe(30);
    expect(retryDelay(settings, 1, 5000, 10, () => 0)).toBe(5000);
    expect(retryDelay(settings, 1, 5000, 10, () => 1)).toBeGreaterThan(5000);
  });

  it('spaces dead-letter write attempts the same way, capped', () => {
    expect(deadLetterRetryDelay(settings, 1)).toBe(200);
    expect(deadLetterRetryDelay(settings, 40)).toBe(1000);
  });
});

describe('Pressure', () => {
  it('turns on above the high mark and off only at the low mark', () => {
    const changes: boolean[] = [];
    const p = new Pressure(10, 5, (on) => changes.push(on));
    p.update(10);
    p.update(11);
    p.update(6);
    expect(p.isOn()).toBe(true);
    p.update(5);
    expect(changes).toEqual([true, false]);
  });
});

describe('ConfigHalt', () => {
  it('halts once, probes on its interval, and resumes on a probe that is not refused', () => {
    vi.useFakeTimers();
    let now = 1000;
    const probe = vi.fn();
    const failures: number[] = [];
    const recovered: number[] = [];
    const halt = new ConfigHalt({
      probeIntervalMs: 50, probe, now: () => now,
      onAuthFailure: (_e, info) => failures.push(info.probes),
      onAuthRecovered: (info) => recovered.push(info.haltedForMs),
    });
    halt.halt(new CioAuthError(401));
    halt.halt(new CioAuthError(401));
    expect(halt.isHalted()).toBe(true);
    vi.advanceTimersByTime(50);
    expect(probe).toHaveBeenCalledOnce();
    expect(halt.judgeProbe([{ ok: false, error: new CioAuthError(403) }])).toBeUndefined();
    expect(failures).toEqual([0, 1]);
    vi.advanceTimersByTime(50);
    expect(probe).toHaveBeenCalledTimes(2);
    expect(halt.judgeProbe([{ ok: false, error: new CioRetryableError(503, 'down') }])).toBeUndefined();
    expect(halt.isHalted()).toBe(true);
    now = 1700;
    expect(halt.judgeProbe([{ ok: true }])).toBe(700);
    expect(halt.isHalted()).toBe(false);
    expect(recovered).toEqual([700]);
    halt.stop();
  });

  it('stops probing once stopped', () => {
    vi.useFakeTimers();
    const probe = vi.fn();
    const halt = new ConfigHalt({ probeIntervalMs: 10, probe, now: () => 0 });
    halt.halt(new CioAuthError(401));
    halt.stop();
    vi.advanceTimersByTime(100);
    expect(probe).not.toHaveBeenCalled();
  });
});

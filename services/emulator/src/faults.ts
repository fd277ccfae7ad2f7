import { applyFaultPatch, defaultFaults, type ErrorStatus, type FaultSettings } from './config.ts';
import { mulberry32 } from '@cio-pipeline/core';

export { mulberry32 };

export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'invalid_credentials' }
  | { kind: 'rate_limited'; retryAfterSec: number | undefined }
  | { kind: 'error'; status: ErrorStatus }
  | { kind: 'timeout' }
  | { kind: 'reset' };

const NONE: FaultDecision = { kind: 'none' };

/**
 * Decides, per API request and in arrival order, which fault (if any) it suffers.
 * Random faults draw from one seeded PRNG (one draw per request that reaches that stage, a second
 * only to pick an error status), so the same seed and the same request sequence replay exactly.
 */
export class FaultInjector {
  private settings: FaultSettings;
  private random: () => number;
  private tokens = 0;
  private lastRefillMs = 0;
  private readonly initialSeed: number;

  constructor(initial: FaultSettings) {
    this.settings = { ...initial, error_statuses: [...initial.error_statuses] };
    this.initialSeed = initial.seed;
    this.random = mulberry32(initial.seed);
    this.resetBucket();
  }

  get current(): FaultSettings {
    return { ...this.settings, error_statuses: [...this.settings.error_statuses] };
  }

  get latencyMs(): number {
    return this.settings.latency_ms;
  }

  /** Applies a partial patch; a patch naming `seed` restarts the PRNG even if the value is unchanged. */
  update(patch: unknown): string[] {
    const { faults, problems } = applyFaultPatch(this.settings, patch);
    if (problems.length > 0) return problems;
    const rateChanged = faults.rate_limit_per_sec !== this.settings.rate_limit_per_sec;
    this.settings = faults;
    if (typeof patch === 'object' && patch !== null && 'seed' in patch) this.random = mulberry32(faults.seed);
    if (rateChanged) this.resetBucket();
    return [];
  }

  /** Back to no faults at all, PRNG restarted from the start-up seed. */
  reset(): void {
    this.settings = defaultFaults(this.initialSeed);
    this.random = mulberry32(this.initialSeed);
    this.resetBucket();
  }

  /** Called for authenticated-or-not API requests, after the body is read. */
  decide(authorized: boolean, nowMs: number): FaultDecision {
    const s = this.settings;
    if (s.invalid_credentials || !authorized) return { kind: 'invalid_credentials' };
    if (s.rate_limit_per_sec > 0 && !this.take(nowMs)) {
      const retryAfterSec = s.retry_after ? Math.max(1, Math.ceil((1 - this.tokens) / s.rate_limit_per_sec)) : undefined;
      return { kind: 'rate_limited', retryAfterSec };
    }
    if (s.timeout_rate === 0 && s.reset_rate === 0 && s.error_rate === 0) return NONE;
    const r = this.random();
    if (r < s.timeout_rate) return { kind: 'timeout' };
    if (r < s.timeout_rate + s.reset_rate) return { kind: 'reset' };
    if (r < s.timeout_rate + s.reset_rate + s.error_rate) {
      const statuses = s.error_statuses;
      const status = statuses[Math.floor(this.random() * statuses.length)] ?? 500;
      return { kind: 'error', status };
    }
    return NONE;
  }

  private resetBucket(): void {
    this.tokens = this.settings.rate_limit_per_sec;
    this.lastRefillMs = performance.now();
  }

  private take(nowMs: number): boolean {
    const rate = this.settings.rate_limit_per_sec;
    const capacity = Math.max(1, rate);
    this.tokens = Math.min(capacity, this.tokens + ((nowMs - this.lastRefillMs) * rate) / 1000);
    this.lastRefillMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

import type { Logger } from '@cio-pipeline/core';
import type { ItemResult } from '../cio-client.ts';
import { CioConfigError, CioRetryableError } from '../errors.ts';
import type { SinkMetrics } from '../metrics.ts';

export interface ConfigHaltOptions {
  /** While halted, how often to probe with one real item. */
  probeIntervalMs: number;
  /** Sends one probe; its results come back through judgeProbe. */
  probe: () => void;
  onAuthFailure?: (error: CioConfigError, info: { haltedSince: number; probes: number }) => void;
  onAuthRecovered?: (info: { haltedForMs: number }) => void;
  metrics?: SinkMetrics;
  logger?: Logger;
  now: () => number;
}

/**
 * Halt-and-probe on a configuration fault (401/403/404): nothing is sent, dead-lettered or
 * committed while Customer.io refuses our credentials or endpoint; a probe every interval tells
 * when it is fixed. The events were never at fault, so they keep their place.
 */
export class ConfigHalt {
  private readonly o: ConfigHaltOptions;
  private halted: { since: number; error: CioConfigError; probes: number; timer: NodeJS.Timeout | undefined } | undefined;
  private stopped = false;

  constructor(opts: ConfigHaltOptions) {
    this.o = opts;
  }

  isHalted(): boolean {
    return this.halted !== undefined;
  }

  halt(error: CioConfigError): void {
    if (this.halted) return;
    this.halted = { since: this.o.now(), error, probes: 0, timer: undefined };
    this.o.metrics?.authHalted.set(1);
    this.o.logger?.fatal({ code: error.code, status: error.status }, 'Customer.io refused our configuration: delivery halted, offsets held');
    this.o.onAuthFailure?.(error, { haltedSince: this.halted.since, probes: 0 });
    this.scheduleProbe();
  }

  /** Tries again after the interval (no candidate to probe with, or the token went elsewhere). */
  scheduleProbe(): void {
    const h = this.halted;
    if (!h || this.stopped) return;
    if (h.timer) clearTimeout(h.timer);
    h.timer = setTimeout(() => {
      h.timer = undefined;
      this.o.probe();
    }, this.o.probeIntervalMs);
  }

  /**
   * Reads a probe's results: still refused, still unreachable (probe later), or fixed. Answers how
   * long delivery was halted when it resumes, else undefined.
   */
  judgeProbe(results: readonly ItemResult[]): number | undefined {
    if (!this.halted) return undefined;
    const configFault = results.find((r): r is { ok: false; error: CioConfigError } => !r.ok && r.error instanceof CioConfigError);
    if (configFault) {
      this.probeFailed(configFault.error);
      return undefined;
    }
    if (results.every((r) => !r.ok && r.error instanceof CioRetryableError)) {
      this.scheduleProbe();
      return undefined;
    }
    return this.resume();
  }

  stop(): void {
    this.stopped = true;
    if (this.halted?.timer) clearTimeout(this.halted.timer);
  }

  private probeFailed(error: CioConfigError): void {
    const h = this.halted!;
    h.probes++;
    h.error = error;
    this.o.logger?.fatal({ code: error.code, status: error.status, probes: h.probes, haltedForMs: this.o.now() - h.since }, 'Customer.io still refuses our configuration');
    this.o.onAuthFailure?.(error, { haltedSince: h.since, probes: h.probes });
    this.scheduleProbe();
  }

  private resume(): number {
    const h = this.halted!;
    if (h.timer) clearTimeout(h.timer);
    this.halted = undefined;
    const haltedFor = this.o.now() - h.since;
    this.o.metrics?.authHalted.set(0);
    this.o.logger?.warn({ haltedForMs: haltedFor }, 'Customer.io accepts our configuration again: delivery resumed');
    this.o.onAuthRecovered?.({ haltedForMs: haltedFor });
    return haltedFor;
  }
}

/** Fault injection for the processor's integration tests: one failure at a named step, once. */

/** One failure at `step`, struck only while armed, and only once per arming. */
export class Fault<Step extends string> {
  armed = false;
  fired = 0;
  /** For the fenced producer: what the broker answered the fenced commit. */
  fencedBy: Error | null = null;
  readonly step: Step | null;
  constructor(step: Step | null) {
    this.step = step;
  }
  strike(step: Step): boolean {
    if (!this.armed || this.step !== step) return false;
    this.armed = false;
    this.fired++;
    return true;
  }
}

/** `target` with some members replaced; everything else is the real object's. */
export function override<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (Object.hasOwn(overrides, prop)) return (overrides as Record<string | symbol, unknown>)[prop];
      const value = Reflect.get(t, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}

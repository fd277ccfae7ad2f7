import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, DecisionCause, Drop } from '../stages/candidate.ts';
import type { Conflict } from './identity-graph.ts';
import type { KeyedEvent } from './state-stage.ts';

/** A candidate held (anonymous, or behind a person's gate): `until` its deadline, `key` the person when known. */
export interface HeldOutcome {
  cause: DecisionCause;
  until: number | null;
  key: string | null;
}

/**
 * What one apply() or expire() decided, each decision tagged with the candidate it was made for
 * (`deciding`), so every event out, drop and hold can be told in its raw record's audit record.
 * A decision made inside another's (a held event released by an identify) is the inner candidate's;
 * events derived along the way (identify, merge, rollup) belong to whoever is being decided.
 */
export class Decisions {
  readonly emit: KeyedEvent[] = [];
  readonly drops: Drop[] = [];
  readonly conflicts: Conflict[] = [];
  readonly held: HeldOutcome[] = [];
  /** Undefined outside any candidate, or for one without an origin (held before audit existed). */
  private cause: DecisionCause | undefined;

  /** Runs `decide` on behalf of `c`; `later` when it ends an earlier hold of `c`. */
  deciding(c: CandidateEvent, later: boolean, decide: () => void): void {
    const outer = this.cause;
    this.cause = c.origin && { origin: c.origin, later, candidate: c };
    try {
      decide();
    } finally {
      this.cause = outer;
    }
  }

  push(key: string, event: CanonicalEvent): void {
    this.emit.push(this.cause ? { key, event, cause: this.cause } : { key, event });
  }

  drop(d: Drop): void {
    this.drops.push(this.cause ? { ...d, cause: this.cause } : d);
  }

  hold(until: number | null, key: string | null): void {
    if (this.cause) this.held.push({ cause: this.cause, until, key });
  }
}

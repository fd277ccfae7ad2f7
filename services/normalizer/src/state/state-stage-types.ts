import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, DecisionCause, Drop } from '../stages/candidate.ts';
import type { ChangelogRecord } from './changelog.ts';
import type { HeldOutcome } from './decisions.ts';
import type { ChangelogOffsets } from './disk/disk-store.ts';
import type { Conflict } from './identity-graph.ts';
import type { StateStores } from './state-stores.ts';

/** What the state stages answer and promise (state-stage.ts builds them). */
export interface KeyedEvent {
  /** Kafka key: the canonical customer id, else the anonymous id. */
  key: string;
  event: CanonicalEvent;
  /** Whose outcome it is (derived events count for the record that caused them). */
  cause?: DecisionCause;
}

export interface StateResult {
  /** In emission order; per key this is the order Customer.io must see. */
  emit: KeyedEvent[];
  drops: Drop[];
  conflicts: Conflict[];
  held: HeldOutcome[];
  /** Changelog records to write in the same transaction as `emit`. */
  changes: ChangelogRecord[];
}

export interface StateStage {
  /** Runs a batch through identity -> dedupe -> order guard -> hold/forward -> rollup. Also releases holds due at `now`. */
  apply(candidates: readonly CandidateEvent[], now: number): StateResult;
  /** Periodic sweep: holds past their deadline, expired dedupe keys, cart/checkout state and moment identifiers. */
  expire(now: number): StateResult;
  /**
   * Rebuilds every store from changelog records (any order of topics; per key, offset order). Only
   * while no apply()/expire() is open (neither committed nor rolled back): a rollback would put
   * back what the records changed.
   */
  restore(records: Iterable<ChangelogRecord>): void;
  /**
   * The transaction carrying the oldest open apply()/expire() (or the records restored since the
   * last commit) committed: its changes stay for good. Several may be open, each applied on top of
   * the ones before; they commit in the order they were applied. With a local store this takes the
   * oldest one's changes out of a rollback's reach at once and writes them to disk behind earlier
   * commits, with the changelog `positions` they bring the store to (`<topic>:<partition>` -> next
   * offset); the promise resolves when they are on disk, and nothing else need wait for it.
   */
  commit(positions?: ChangelogOffsets): void | Promise<void>;
  /**
   * Undoes every open apply()/expire(), newest first: the oldest one's transaction failed, and the
   * later ones were decided on its changes.
   */
  rollback(): void;
  stats(): { identityNodes: number; identityClusters: number; dedupeKeys: number; heldEvents: number };
  readonly stores: StateStores;
}


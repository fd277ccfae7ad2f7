import type { Logger } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { StrippedIdentify } from '../attribute-strip.ts';
import type { BatchSender } from '../cio-client.ts';
import type { DeadLetterReasonCode } from '../dead-letter-reasons.ts';
import type { CioConfigError, CioRejectedError } from '../errors.ts';
import type { DeliveryItem } from '../mapping.ts';
import type { SinkMetrics } from '../metrics.ts';
import type { TokenBucket } from '../token-bucket.ts';

/** One canonical record as the consumer hands it to the dispatcher. */
export interface SinkRecord {
  topic?: string;
  partition: number;
  offset: string | bigint;
  key: string;
  event: CanonicalEvent;
  /** The record value as read, for the dead-letter record. */
  raw: Buffer;
}

/** `attribute_rejected`: only the attributes Customer.io refused; the rest of the identify was re-sent. */
export type DeadLetterReason = Exclude<DeadLetterReasonCode, 'undecodable'>;

export interface DeadLetterInfo {
  reason: DeadLetterReason;
  /** HTTP status of the last attempt (null: transport error, never sent, or not mappable). */
  status: number | null;
  /** Customer.io's error body or the transport error; null for a parked event never tried. */
  error: string | null;
  /** The request item as JSON (null when the event could not be mapped). */
  requestItem: string | null;
  attempts: number;
  firstAttemptAt: number | null;
}

/** Customer.io's final answer for one event, as its receipt records it (see dispatch/answers.ts). */
export interface FinalAnswer {
  outcome: 'delivered' | 'rejected';
  /** HTTP status of the final answer (null: never sent, or a transport error). */
  status: number | null;
  /** Customer.io's error body for a rejection; for a stripped identify, what was refused. */
  answer: string | null;
  attempts: number;
}

export interface PartitionOffset {
  partition: number;
  /** Next offset to read (Kafka commit semantics), decimal string. */
  offset: string;
}

/** One offset of a partition, finished or not (an Entry, or a skipped record). */
export interface Slot {
  offset: bigint;
  done: boolean;
}

/** A partition's offsets in arrival order; the committable offset is the first unfinished one. */
export interface PartitionState {
  partition: number;
  entries: Slot[];
  head: number;
  lastOffset: bigint;
  /** Entries of this partition inside a request or a dead-letter write. */
  busy: number;
  revoking: boolean;
}

/** One accepted event, from intake until delivered, dead-lettered or dropped on revoke. */
export interface Entry extends Slot {
  rec: SinkRecord;
  part: PartitionState;
  item: DeliveryItem | undefined;
  /** Set when the event cannot be sent at all (unmappable, too large). */
  invalid: CioRejectedError | undefined;
  dropped: boolean;
  busy: boolean;
  attempts: number;
  firstAttemptAt: number | null;
  /** Attributes Customer.io refused (and that were dead-lettered) before the rest was re-sent. */
  refused?: { attributes: string[]; status: number | null; error: string };
}

export interface DispatcherOptions {
  sender: BatchSender;
  /** Canonical event -> request item; a thrown CioRejectedError (MappingError) dead-letters the event. */
  prepare: (event: CanonicalEvent) => DeliveryItem;
  /**
   * A rejected identify that names some of its attributes: the identify without them (re-sent at
   * once, the key keeps its place) and what was taken out (dead-lettered). Null: dead-letter it all.
   */
  stripRejected?: (item: DeliveryItem, error: CioRejectedError) => StrippedIdentify | null;
  /** Writes one dead letter durably; offsets advance only after it resolves. Retried on failure. */
  deadLetter: (record: SinkRecord, info: DeadLetterInfo) => Promise<void>;
  /**
   * Called synchronously when an event is finished, before its offset can be committed: what a
   * receipt records. Must not throw or block (the sink buffers receipts and flushes before commits).
   */
  onFinished?: (record: SinkRecord, answer: FinalAnswer) => void;
  /** Shared rate limit; the dispatcher takes one token per batch it starts. */
  bucket?: TokenBucket;
  concurrency: number;
  maxBatchItems: number;
  /** Strict upper bound of a v2 batch body in bytes. */
  maxBatchBytes: number;
  /** Items above this are rejected without sending (v2: 32 KB). */
  maxItemBytes?: number;
  /** Accepted-but-unfinished events above which onPressure(true) fires. */
  maxInFlightEvents: number;
  /** onPressure(false) fires at or below this; default half of maxInFlightEvents. */
  resumeBelowEvents?: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** A key failing (retryably) for this long is parked: its queued events go to the DLQ. */
  parkAfterMs: number;
  /** While halted on a config fault, how often to probe with one real item. */
  authProbeIntervalMs?: number;
  onAuthFailure?: (error: CioConfigError, info: { haltedSince: number; probes: number }) => void;
  onAuthRecovered?: (info: { haltedForMs: number }) => void;
  onPressure?: (paused: boolean) => void;
  metrics?: SinkMetrics;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
}

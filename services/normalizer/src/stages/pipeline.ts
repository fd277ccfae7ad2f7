import { SerdeError, type Logger } from '@cio-pipeline/core';
import type { KafkaMessage } from 'kafkajs';
import { decodeReason, type RawDecoder } from '../kafka/raw-decoder.ts';
import type { QuarantineReasonCode } from '../quarantine-reasons.ts';
import type { StateResult, StateStage } from '../state/state-stage.ts';
import { originOf, type CandidateEvent, type Drop, type QuarantineVerdict, type SourceCoordinates, type SourceName } from './candidate.ts';
import type { RecordSeen, StatelessPipeline } from './stateless.ts';

/** A raw record the normalizer will not publish, with why and its bytes for a later replay. */
export interface Quarantined {
  source: SourceName;
  at: SourceCoordinates;
  original: Buffer;
  verdict: QuarantineVerdict;
}

/**
 * What the stateless steps (1-8) made of one raw record: decoded or not, quarantined, dropped,
 * or candidates for the state stages. Pure in the record (and the registry's schemas), so records
 * can be worked on in any order or in parallel, then folded in offset order.
 */
export interface RecordResult {
  at: SourceCoordinates;
  /** Null when the record did not decode. */
  source: SourceName | null;
  quarantined: Quarantined | null;
  drops: Drop[];
  /** Each with the record's `origin`, so the state stage's decisions can be told per record. */
  candidates: CandidateEvent[];
  /** What the record names (source event, identifiers), for its audit record; empty when it did not decode. */
  seen: RecordSeen;
}

/** What one chunk of raw records became. Nothing in it is written or counted yet. */
export interface ChunkResult {
  /** Per raw record (tombstones left out), in offset order. */
  records: RecordResult[];
  /** The source of every record that decoded, for the `in` counter. */
  decoded: SourceName[];
  quarantined: Quarantined[];
  /** Drops decided by the stateless stages, per record source. */
  drops: Array<{ source: SourceName; drops: Drop[] }>;
  /** Events the stateless stages accepted with warnings (browse events outside the plan). */
  warned: Array<{ source: SourceName; warnings: string[] }>;
  /** Events out, drops and conflicts of the state stages, and the changelog records they wrote. */
  state: StateResult;
}

export interface PipelineParts {
  decoder: RawDecoder;
  stateless: StatelessPipeline;
  state: StateStage;
  logger: Logger;
}

/**
 * Steps 1-8 for one raw record, without the state: what the record workers run
 * (stages/record-worker.ts), and the pipeline itself when it runs in-thread.
 */
export function createRecordStage(parts: Pick<PipelineParts, 'decoder' | 'stateless' | 'logger'>) {
  const log = parts.logger.child({ component: 'pipeline' });

  /** Steps 1-8 for one raw record. */
  async function runRecord(topic: string, partition: number, message: KafkaMessage & { value: Buffer }): Promise<RecordResult> {
    const at: SourceCoordinates = { topic, partition, offset: message.offset, key: message.key ?? null };
    const original = message.value;
    const unseen: RecordSeen = { sourceEvent: null, identifiers: [], orderIds: [], messageId: null };
    const quarantined = (source: SourceName, verdict: QuarantineVerdict): RecordResult => ({ at, source: null, quarantined: { source, at, original, verdict }, drops: [], candidates: [], seen: unseen });

    // 1. decode
    let decoded;
    try {
      decoded = await parts.decoder.decode(topic, original);
    } catch (err) {
      // A registry outage is retried (the chunk fails and is re-delivered); bad bytes are quarantined.
      if (!(err instanceof SerdeError) || err.retryable) throw err;
      return quarantined(parts.decoder.sourceOf(topic), { event_name: null, tier: null, reasons: [{ code: decodeReason(err), field: null, message: err.message }] });
    }
    const source = decoded.source;

    // 2-8. map, name, coerce, validate, filter, enrich, stamp
    let stateless;
    try {
      stateless = parts.stateless.process({ ...decoded, coordinates: at, receivedAt: decoded.envelope.received_at });
    } catch (err) {
      // A record the stages cannot handle (a bug, not bad data) must not stall its partition:
      // it is quarantined with the error, and replays once the code is fixed.
      log.error({ err, topic, partition, offset: message.offset }, 'stage failed on a record; quarantined');
      const reasons = [{ code: 'processing_error' satisfies QuarantineReasonCode, field: null, message: (err as Error).message }];
      return { ...quarantined(source, { event_name: null, tier: null, reasons }), source };
    }
    const origin = originOf(at, stateless.seen.sourceEvent);
    // The stages' candidates are fresh objects: tagging them in place costs no copy.
    for (const c of stateless.candidates) c.origin = origin;
    return {
      at, source,
      quarantined: stateless.quarantine ? { source, at, original, verdict: stateless.quarantine } : null,
      drops: stateless.drops,
      candidates: stateless.candidates,
      seen: stateless.seen,
    };
  }

  return { runRecord };
}

/**
 * The normalizer's pipeline, top to bottom, for one chunk of one raw partition:
 *
 *   1. decode    with the writer's schema from the registry        kafka/raw-decoder.ts
 *   2. map       the source's payload to drafts                     stages/sources/*.ts
 *   3. name      fold event and property names to snake_case        core tracking-plan/names.ts
 *   4. coerce    prices, ids, skus, currencies, timestamps          stages/coerce.ts
 *   5. validate  against the tracking plan, by tier                 stages/validate.ts
 *   6. filter    bots and internal traffic                          stages/bot-filter.ts
 *   7. enrich    categories and subscription eligibility            stages/enrich.ts
 *   8. stamp     versions and the deterministic event id            stages/materialize.ts
 *   9. state     identity, dedupe, order guards, holds, rollups     state/state-stage.ts
 *
 * Steps 2-8 are pure (stages/stateless.ts). Step 9 changes the state; the caller keeps those
 * changes only if the chunk's transaction commits (kafka/transactional-processor.ts). Steps 1-8 may
 * run on worker threads (stages/record-workers.ts); `foldChunk` takes their results in offset order.
 */
export function createPipeline(parts: PipelineParts) {
  const { runRecord } = createRecordStage(parts);

  /** Folds a chunk's records (steps 1-8 done, here or on worker threads) in offset order, then step 9. */
  function foldChunk(records: RecordResult[], now: number): ChunkResult {
    const result: Omit<ChunkResult, 'state'> = { records, decoded: [], quarantined: [], drops: [], warned: [] };
    const candidates: CandidateEvent[] = [];
    for (const record of records) {
      if (record.quarantined) result.quarantined.push(record.quarantined);
      if (record.source === null) continue;
      result.decoded.push(record.source);
      if (record.drops.length > 0) result.drops.push({ source: record.source, drops: record.drops });
      const warnings = record.candidates.flatMap((c) => c.event.validation_warnings);
      if (warnings.length > 0) result.warned.push({ source: record.source, warnings });
      candidates.push(...record.candidates);
    }

    // 9. state: identity -> dedupe -> order guard -> hold or forward -> rollup
    return { ...result, state: parts.state.apply(candidates, now) };
  }

  /** Steps 1-9 for a chunk, all in this thread (tests and tools; the service may use workers for 1-8). */
  async function runChunk(topic: string, partition: number, messages: readonly KafkaMessage[], now: number): Promise<ChunkResult> {
    const records: RecordResult[] = [];
    for (const message of messages) {
      // A tombstone on a raw topic carries no event.
      if (message.value !== null) records.push(await runRecord(topic, partition, message as KafkaMessage & { value: Buffer }));
    }
    return foldChunk(records, now);
  }

  /** Held events whose time has come, expired keys and moment identifiers. */
  function sweep(now: number): StateResult {
    return parts.state.expire(now);
  }

  return { runRecord, foldChunk, runChunk, sweep };
}

export type Pipeline = ReturnType<typeof createPipeline>;

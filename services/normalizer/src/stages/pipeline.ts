import { SerdeError, type Logger } from '@cio-pipeline/core';
import type { KafkaMessage } from 'kafkajs';
import { decodeReason, type RawDecoder } from '../kafka/raw-decoder.ts';
import type { QuarantineReasonCode } from '../quarantine-reasons.ts';
import type { StateResult, StateStage } from '../state/state-stage.ts';
import type { CandidateEvent, Drop, QuarantineVerdict, SourceCoordinates, SourceName } from './candidate.ts';
import type { StatelessPipeline } from './stateless.ts';

/** A raw record the normalizer will not publish, with why and its bytes for a later replay. */
export interface Quarantined {
  source: SourceName;
  at: SourceCoordinates;
  original: Buffer;
  verdict: QuarantineVerdict;
}

/** What one chunk of raw records became. Nothing in it is written or counted yet. */
export interface ChunkResult {
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
 * The normalizer's pipeline, top to bottom, for one chunk of one raw partition:
 *
 *   1. decode    with the writer's schema from the registry        kafka/raw-decoder.ts
 *   2. map       the source's payload to drafts                     stages/sources/*.ts
 *   3. name      fold event and property names to snake_case        stages/names.ts
 *   4. coerce    prices, ids, skus, currencies, timestamps          stages/coerce.ts
 *   5. validate  against the tracking plan, by tier                 stages/validate.ts
 *   6. filter    bots and internal traffic                          stages/bot-filter.ts
 *   7. enrich    categories and subscription eligibility            stages/enrich.ts
 *   8. stamp     versions and the deterministic event id            stages/materialize.ts
 *   9. state     identity, dedupe, order guards, holds, rollups     state/state-stage.ts
 *
 * Steps 2-8 are pure (stages/stateless.ts). Step 9 changes the state; the caller keeps those
 * changes only if the chunk's transaction commits (kafka/transactional-processor.ts).
 */
export function createPipeline(parts: PipelineParts) {
  const log = parts.logger.child({ component: 'pipeline' });

  async function runChunk(topic: string, partition: number, messages: readonly KafkaMessage[], now: number): Promise<ChunkResult> {
    const result: Omit<ChunkResult, 'state'> = { decoded: [], quarantined: [], drops: [], warned: [] };
    const candidates: CandidateEvent[] = [];
    for (const message of messages) {
      if (message.value === null) continue; // a tombstone on a raw topic carries no event
      const at: SourceCoordinates = { topic, partition, offset: message.offset, key: message.key ?? null };
      const original = message.value;

      // 1. decode
      let decoded;
      try {
        decoded = await parts.decoder.decode(topic, original);
      } catch (err) {
        // A registry outage is retried (the chunk fails and is re-delivered); bad bytes are quarantined.
        if (!(err instanceof SerdeError) || err.retryable) throw err;
        const reasons = [{ code: decodeReason(err), field: null, message: err.message }];
        result.quarantined.push({ source: parts.decoder.sourceOf(topic), at, original, verdict: { event_name: null, tier: null, reasons } });
        continue;
      }
      const source = decoded.source;
      result.decoded.push(source);

      // 2-8. map, name, coerce, validate, filter, enrich, stamp
      let stateless;
      try {
        stateless = parts.stateless.process({ ...decoded, coordinates: at, receivedAt: decoded.envelope.received_at });
      } catch (err) {
        // A record the stages cannot handle (a bug, not bad data) must not stall its partition:
        // it is quarantined with the error, and replays once the code is fixed.
        log.error({ err, topic, partition, offset: message.offset }, 'stage failed on a record; quarantined');
        const reasons = [{ code: 'processing_error' satisfies QuarantineReasonCode, field: null, message: (err as Error).message }];
        result.quarantined.push({ source, at, original, verdict: { event_name: null, tier: null, reasons } });
        continue;
      }
      if (stateless.quarantine) result.quarantined.push({ source, at, original, verdict: stateless.quarantine });
      if (stateless.drops.length > 0) result.drops.push({ source, drops: stateless.drops });
      const warnings = stateless.candidates.flatMap((c) => c.event.validation_warnings);
      if (warnings.length > 0) result.warned.push({ source, warnings });
      candidates.push(...stateless.candidates);
    }

    // 9. state: identity -> dedupe -> order guard -> hold or forward -> rollup
    return { ...result, state: parts.state.apply(candidates, now) };
  }

  /** Held events whose time has come, expired keys and moment identifiers. */
  function sweep(now: number): StateResult {
    return parts.state.expire(now);
  }

  return { runChunk, sweep };
}

export type Pipeline = ReturnType<typeof createPipeline>;

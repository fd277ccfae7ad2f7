import type { Message } from 'kafkajs';
import type { AvroSerde, Logger } from '@cio-pipeline/core';
import type { AuditRecord, CanonicalEvent, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import { auditChunk, auditSweep, type KeyedAudit } from '../audit/audit-records.ts';
import type { Drop } from '../stages/candidate.ts';
import type { ChunkResult, Quarantined } from '../stages/pipeline.ts';
import type { NormalizerMetrics } from '../metrics.ts';
import type { Conflict } from '../state/identity-graph.ts';
import type { StateResult } from '../state/state-stage.ts';
import type { ChangelogTables } from './changelog-tables.ts';

/** A unit of work's records, by topic, and what to count once its transaction committed. */
export interface Outputs {
  canonical: Message[];
  quarantine: Message[];
  conflicts: Message[];
  /** One per raw record, and one per held event whose hold ended (topic pipeline.audit). */
  audit: Message[];
  changelog: Array<{ topic: string; messages: Message[] }>;
  /** Counters and logs of the outcome: they tell what happened, so they wait for the commit. */
  afterCommit: Array<() => void>;
}

export interface OutputParts {
  canonicalSerde: AvroSerde<CanonicalEvent>;
  quarantineSerde: AvroSerde<QuarantineRecord>;
  /** Null when audit records are switched off (NORMALIZER_AUDIT=off). */
  auditSerde: AvroSerde<AuditRecord> | null;
  /** Partitions of the audit topic, when known: with one, records name it and skip the key hash. */
  auditPartitions?: number;
  tables: ChangelogTables;
  metrics: NormalizerMetrics;
  logger: Logger;
  trackingVersion: string;
  now: () => number;
}

export function emptyOutputs(): Outputs {
  return { canonical: [], quarantine: [], conflicts: [], audit: [], changelog: [], afterCommit: [] };
}

/**
 * Turns what a chunk or a sweep became into Kafka records (encoded with the registry's schemas)
 * and the counters that follow its commit. Encoding may throw (a registry outage): the unit of
 * work then fails and its state changes are rolled back.
 */
export function createOutputWriter(parts: OutputParts) {
  const m = parts.metrics;
  const log = parts.logger.child({ component: 'outputs' });

  function addChunk(outputs: Outputs, chunk: ChunkResult): void {
    for (const source of chunk.decoded) outputs.afterCommit.push(() => m.in.inc({ source }));
    for (const q of chunk.quarantined) addQuarantined(outputs, q);
    for (const { source, drops } of chunk.drops) countDrops(outputs, source, drops);
    for (const { source, warnings } of chunk.warned) {
      outputs.afterCommit.push(() => {
        for (const w of warnings) m.warnings.inc({ source, warning: w.split(':')[0] ?? w });
      });
    }
    addDecisions(outputs, chunk.state);
    if (parts.auditSerde !== null) addAudit(outputs, parts.auditSerde, auditChunk(chunk, parts.now()));
  }

  /** A sweep's outputs: the state's decisions, and the audit of the holds it ended. */
  function addState(outputs: Outputs, state: StateResult): void {
    addDecisions(outputs, state);
    if (parts.auditSerde !== null) addAudit(outputs, parts.auditSerde, auditSweep(state, parts.now()));
  }

  function addAudit(outputs: Outputs, serde: AvroSerde<AuditRecord>, audits: readonly KeyedAudit[]): void {
    // KafkaJS's partitioner hashes each key with 64-bit Long objects: measurable at a record per
    // raw record, and pointless when there is one partition to choose.
    if (parts.auditPartitions === 1) for (const { key, record } of audits) outputs.audit.push({ key, value: serde.encode(record), partition: 0 });
    else for (const { key, record } of audits) outputs.audit.push({ key, value: serde.encode(record) });
  }

  function addDecisions(outputs: Outputs, state: StateResult): void {
    for (const { key, event } of state.emit) {
      outputs.canonical.push({ key, value: parts.canonicalSerde.encode(event) });
      outputs.afterCommit.push(() => m.out.inc({ source: m.sourceLabel(event.source), event: m.eventLabel(event.name) }));
    }
    // State drops name their own source: a chunk mixes sources, a sweep has none of its own.
    countDrops(outputs, 'other', state.drops);
    for (const conflict of state.conflicts) {
      outputs.conflicts.push(conflictMessage(conflict));
      // A refusal comes with every event of a client past the limit (one user id, a new anonymous
      // id each time): the record and the counter tell it, a warning per event would flood the log.
      outputs.afterCommit.push(conflict.rule === 'identifier_limit'
        ? () => {
          m.linksRefused.inc({ kind: conflict.identifier_type });
          log.debug({ conflict }, 'identity link refused: the person has the most identifiers allowed');
        }
        : () => {
          m.conflicts.inc({ kind: conflict.identifier_type });
          log.warn({ conflict }, 'identity conflict recorded, not merged');
        });
    }
    outputs.changelog = parts.tables.toMessages(state.changes);
  }

  function addQuarantined(outputs: Outputs, { source, at, original, verdict }: Quarantined): void {
    const record: QuarantineRecord = {
      quarantined_at: parts.now(),
      source,
      source_topic: at.topic,
      source_partition: at.partition,
      source_offset: at.offset,
      source_key: at.key,
      event_name: verdict.event_name,
      tier: verdict.tier,
      tracking_version: parts.trackingVersion,
      reasons: verdict.reasons,
      original,
    };
    outputs.quarantine.push({ key: at.key, value: parts.quarantineSerde.encode(record) });
    outputs.afterCommit.push(() => {
      for (const reason of verdict.reasons) m.quarantined.inc({ source, reason: reason.code, event: m.eventLabel(verdict.event_name) });
      log.info({ source, topic: at.topic, partition: at.partition, offset: at.offset, event: verdict.event_name, reasons: verdict.reasons.map((r) => r.code) }, 'quarantined');
    });
  }

  /** `source` labels only drops that do not name their own (a record's drops in the stateless stages). */
  function countDrops(outputs: Outputs, source: string, drops: readonly Drop[]): void {
    if (drops.length === 0) return;
    outputs.afterCommit.push(() => {
      for (const d of drops) m.dropped.inc({ source: m.sourceLabel(d.source ?? source), reason: d.reason, event: m.eventLabel(d.event_name) });
    });
  }

  return { addChunk, addState };
}

export type OutputWriter = ReturnType<typeof createOutputWriter>;

function conflictMessage(conflict: Conflict): Message {
  return { key: `${conflict.identifier_type}:${conflict.identifier}`, value: JSON.stringify(conflict) };
}

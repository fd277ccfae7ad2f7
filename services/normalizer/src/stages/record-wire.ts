import type { KafkaMessage } from 'kafkajs';
import { avroType, loadAvroSchema } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { NormalizerConfig } from '../config.ts';
import type { RecordResult } from './pipeline.ts';

/** What a record worker needs to build steps 1-8 for itself. Plain data (structured-cloned once). */
export interface RecordWorkerSetup {
  stages: Readonly<NormalizerConfig>;
  registryUrl: string;
  topicPrefix: string;
  logLevel: string;
}

/**
 * A slice of one partition's records, in offset order, tombstones left out. The values travel in
 * one transferred buffer (record i is bytes[bounds[i], bounds[i+1])): no copy per record.
 */
export interface RecordTask {
  id: number;
  topic: string;
  partition: number;
  offsets: string[];
  bytes: ArrayBuffer;
  bounds: ArrayBuffer;
}

export interface WorkerFailure {
  name: string;
  code: string | null;
  message: string;
  retryable: boolean;
}

/**
 * A slice's results. Candidates' events travel Avro-encoded in one transferred buffer (event j is
 * events[bounds[j], bounds[j+1]), `event` null in `results`): copying them as objects between
 * threads cost about as much CPU as the stateless stages themselves; Avro is a few times cheaper.
 */
export interface WireResults {
  results: RecordResult[];
  events: ArrayBuffer;
  bounds: ArrayBuffer;
}

export type WorkerReply =
  | { ready: true }
  | ({ id: number } & WireResults)
  | { id: number; error: WorkerFailure };

const NO_BYTES = Buffer.alloc(0);
const canonical = avroType(loadAvroSchema('canonical-event'));

/**
 * A slice's results as a worker sends them back: events Avro-encoded, and without each record's
 * own bytes and key (a Buffer viewing the transferred slice would be cloned with its whole backing
 * buffer); the main thread still holds both and puts them back (`fromWire`).
 */
export function toWire(results: readonly RecordResult[]): WireResults {
  const encoded: Buffer[] = [];
  const wire = results.map((result): RecordResult => {
    const at = { ...result.at, key: null };
    const candidates = result.candidates.map((c) => {
      let bytes: Buffer | null = null;
      try {
        bytes = canonical.toBuffer(c.event);
      } catch {
        // Not encodable (the output encoder will say why): this one goes over as an object.
      }
      encoded.push(bytes ?? NO_BYTES);
      return bytes ? { ...c, event: null as unknown as CanonicalEvent } : c;
    });
    return { ...result, at, candidates, quarantined: result.quarantined ? { ...result.quarantined, at, original: NO_BYTES } : null };
  });
  const bounds = new Uint32Array(encoded.length + 1);
  for (let j = 0; j < encoded.length; j++) bounds[j + 1] = bounds[j]! + encoded[j]!.length;
  const events = new Uint8Array(bounds[encoded.length]!);
  for (let j = 0; j < encoded.length; j++) events.set(encoded[j]!, bounds[j]);
  return { results: wire, events: events.buffer, bounds: bounds.buffer };
}

/** The results of `toWire(results)` for `messages` (the slice's records with a value, in order). */
export function fromWire(wire: WireResults, messages: ReadonlyArray<KafkaMessage & { value: Buffer }>): RecordResult[] {
  const events = Buffer.from(wire.events);
  const bounds = new Uint32Array(wire.bounds);
  let j = 0;
  return wire.results.map((result, i) => {
    const message = messages[i]!;
    const at = { ...result.at, key: message.key ?? null };
    const candidates = result.candidates.map((c) => {
      const event = c.event === null ? canonical.fromBuffer(events.subarray(bounds[j]!, bounds[j + 1]!)) as CanonicalEvent : c.event;
      j++;
      return { ...c, event };
    });
    return { ...result, at, candidates, quarantined: result.quarantined ? { ...result.quarantined, at, original: message.value } : null };
  });
}

/** Packs the values of `messages` (none null) into one buffer to transfer. */
export function packValues(messages: ReadonlyArray<KafkaMessage & { value: Buffer }>): { bytes: ArrayBuffer; bounds: ArrayBuffer } {
  const bounds = new Uint32Array(messages.length + 1);
  for (let i = 0; i < messages.length; i++) bounds[i + 1] = bounds[i]! + messages[i]!.value.length;
  const bytes = new Uint8Array(bounds[messages.length]!);
  for (let i = 0; i < messages.length; i++) bytes.set(messages[i]!.value, bounds[i]);
  return { bytes: bytes.buffer, bounds: bounds.buffer };
}

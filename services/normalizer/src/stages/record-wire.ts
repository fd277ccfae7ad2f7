import type { KafkaMessage } from 'kafkajs';
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

export type WorkerReply =
  | { ready: true }
  | { id: number; results: RecordResult[] }
  | { id: number; error: WorkerFailure };

const NO_BYTES = Buffer.alloc(0);

/**
 * A record's result as a worker sends it back: without the record's own bytes and key. A Buffer
 * viewing the transferred slice would be cloned with its whole backing buffer; the main thread
 * still holds both and puts them back (`fromWire`).
 */
export function toWire(result: RecordResult): RecordResult {
  const at = { ...result.at, key: null };
  return { ...result, at, quarantined: result.quarantined ? { ...result.quarantined, at, original: NO_BYTES } : null };
}

export function fromWire(result: RecordResult, message: KafkaMessage & { value: Buffer }): RecordResult {
  const at = { ...result.at, key: message.key ?? null };
  return { ...result, at, quarantined: result.quarantined ? { ...result.quarantined, at, original: message.value } : null };
}

/** Packs the values of `messages` (none null) into one buffer to transfer. */
export function packValues(messages: ReadonlyArray<KafkaMessage & { value: Buffer }>): { bytes: ArrayBuffer; bounds: ArrayBuffer } {
  const bounds = new Uint32Array(messages.length + 1);
  for (let i = 0; i < messages.length; i++) bounds[i + 1] = bounds[i]! + messages[i]!.value.length;
  const bytes = new Uint8Array(bounds[messages.length]!);
  for (let i = 0; i < messages.length; i++) bytes.set(messages[i]!.value, bounds[i]);
  return { bytes: bytes.buffer, bounds: bounds.buffer };
}

import type { KafkaMessage } from 'kafkajs';
import { avroType, loadAvroSchema } from '@cio-pipeline/core';
import type { CanonicalEvent, QuarantineReason } from '@cio-pipeline/core/generated/avro-types';
import type { NormalizerConfig } from '../config.ts';
import { originOf, type CandidateEvent, type Drop, type IdentifierSet, type QuarantineVerdict, type SourceCoordinates, type SourceName } from './candidate.ts';
import type { Quarantined, RecordResult } from './pipeline.ts';
import type { RecordSeen } from './stateless.ts';

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
 * A slice's results, as the worker sends them back. Neither form carries a record's own bytes or
 * key, nor its coordinates: the main thread still holds the slice and puts them back (`fromWire`).
 * - `packed`, the usual form: every result, events included, in one Avro buffer, transferred.
 *   Structured-cloning the results cost about 7 µs a record between the two threads, and each
 *   event was encoded on its own besides; one Avro value costs a fraction of that.
 * - `results`: a slice with something the Avro form cannot carry (an event the output encoder will
 *   refuse, and quarantine with its reason): structured-cloned, each event Avro-encoded where it
 *   can be (event j is events[bounds[j], bounds[j+1]), `event` null in `results`), else as is.
 */
export type WireResults =
  | { packed: ArrayBuffer }
  | { results: RecordResult[]; events: ArrayBuffer; bounds: ArrayBuffer };

export type WorkerReply =
  | { ready: true }
  | ({ id: number } & WireResults)
  | { id: number; error: WorkerFailure };

const NO_BYTES = Buffer.alloc(0);
const canonicalSchema = loadAvroSchema('canonical-event');
const canonical = avroType(canonicalSchema);

const optionalString = { type: ['null', 'string'], default: null };
/** An IdentifierSet: a map keeps absent identifiers absent (a record would bring them back as null). */
const identifierSet = { type: 'map', values: 'string' };

/**
 * A RecordResult without its coordinates. Not a registry schema: it never leaves the process, and
 * both threads run the same code. Optional fields default to null, which `fromPacked` turns back
 * into absent properties.
 */
const packedResults = avroType({
  type: 'array',
  items: {
    type: 'record', name: 'RecordResultWire', namespace: 'io.ciopipeline.normalizer.wire',
    fields: [
      { name: 'source', ...optionalString },
      {
        name: 'quarantined', default: null, type: ['null', {
          type: 'record', name: 'QuarantinedWire', fields: [
            { name: 'source', type: 'string' },
            { name: 'verdict', type: {
              type: 'record', name: 'VerdictWire', fields: [
                { name: 'event_name', ...optionalString },
                { name: 'tier', type: ['null', 'int'], default: null },
                { name: 'reasons', type: { type: 'array', items: {
                  type: 'record', name: 'ReasonWire', fields: [{ name: 'code', type: 'string' }, { name: 'field', ...optionalString }, { name: 'message', type: 'string' }],
                } } },
              ],
            } },
          ],
        }],
      },
      { name: 'drops', type: { type: 'array', items: {
        type: 'record', name: 'DropWire', fields: [{ name: 'reason', type: 'string' }, { name: 'event_name', ...optionalString }, { name: 'source', ...optionalString }, { name: 'detail', ...optionalString }],
      } } },
      { name: 'candidates', type: { type: 'array', items: {
        type: 'record', name: 'CandidateWire', fields: [
          { name: 'event', type: canonicalSchema },
          { name: 'identifiers', type: identifierSet },
          { name: 'assertsLinks', type: 'boolean' },
          { name: 'dedupeKey', type: 'string' },
          { name: 'anonymousPolicy', type: 'string' },
          { name: 'cartSnapshot', default: null, type: ['null', {
            type: 'record', name: 'CartSnapshotWire', fields: [{ name: 'cart_id', type: 'string' }, { name: 'line_key', type: 'string' }, { name: 'quantity', type: 'double' }],
          }] },
        ],
      } } },
      { name: 'seen', type: {
        type: 'record', name: 'RecordSeenWire', fields: [
          { name: 'sourceEvent', ...optionalString },
          { name: 'identifiers', type: { type: 'array', items: identifierSet } },
          { name: 'orderIds', type: { type: 'array', items: 'string' } },
          { name: 'messageId', ...optionalString },
        ],
      } },
    ],
  },
});

/** What `packedResults` reads back: the RecordResult fields it carries, optional ones as null. */
interface ResultWire {
  source: SourceName | null;
  quarantined: { source: SourceName; verdict: { event_name: string | null; tier: number | null; reasons: Array<{ code: string; field: string | null; message: string }> } } | null;
  drops: Array<{ reason: Drop['reason']; event_name: string | null; source: string | null; detail: string | null }>;
  candidates: Array<{ event: CanonicalEvent; identifiers: IdentifierSet; assertsLinks: boolean; dedupeKey: string; anonymousPolicy: CandidateEvent['anonymousPolicy']; cartSnapshot: NonNullable<CandidateEvent['cartSnapshot']> | null }>;
  seen: RecordSeen;
}

/**
 * The fields `packedResults` carries, checked against the types by the compiler: an Avro record
 * writer skips properties its schema does not name, so a field added to a result (or to what it
 * holds) without its place in the schema would vanish between the threads. Left out on purpose:
 * what the main thread puts back (coordinates, bytes, origin) and what only the state stage sets.
 */
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Carried<T, Left extends keyof T> = Exclude<keyof T, Left>;
const CARRIED: [
  Exactly<Carried<RecordResult, 'at'>, 'source' | 'quarantined' | 'drops' | 'candidates' | 'seen'>,
  Exactly<Carried<Quarantined, 'at' | 'original'>, 'source' | 'verdict'>,
  Exactly<keyof QuarantineVerdict, 'event_name' | 'tier' | 'reasons'>,
  Exactly<keyof QuarantineReason, 'code' | 'field' | 'message'>,
  Exactly<Carried<Drop, 'cause'>, 'reason' | 'event_name' | 'source' | 'detail'>,
  Exactly<Carried<CandidateEvent, 'origin'>, 'event' | 'identifiers' | 'assertsLinks' | 'dedupeKey' | 'anonymousPolicy' | 'cartSnapshot'>,
  Exactly<keyof NonNullable<CandidateEvent['cartSnapshot']>, 'cart_id' | 'line_key' | 'quantity'>,
  Exactly<keyof RecordSeen, 'sourceEvent' | 'identifiers' | 'orderIds' | 'messageId'>,
] = [true, true, true, true, true, true, true, true];
void CARRIED;

/** The worker's encoding buffer, grown to the largest slice seen. */
let scratch = Buffer.allocUnsafe(1 << 20);

/** A slice's results as a worker sends them back (see WireResults). */
export function toWire(results: readonly RecordResult[]): WireResults {
  let length: number;
  try {
    length = packedResults.encode(results, scratch, 0);
    if (length < 0) {
      scratch = Buffer.allocUnsafe(Math.ceil((scratch.length - length) * 1.25));
      length = packedResults.encode(results, scratch, 0);
    }
  } catch {
    return asObjects(results);
  }
  const packed = new Uint8Array(length);
  packed.set(scratch.subarray(0, length));
  return { packed: packed.buffer };
}

function asObjects(results: readonly RecordResult[]): WireResults {
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

/**
 * The results of `toWire(results)` for `messages` (the slice's records with a value, in order, of
 * `topic` and `partition`), each with its coordinates, bytes and key, and its candidates sharing
 * one origin as on the thread that ran them.
 */
export function fromWire(wire: WireResults, topic: string, partition: number, messages: ReadonlyArray<KafkaMessage & { value: Buffer }>): RecordResult[] {
  return 'packed' in wire ? fromPacked(wire.packed, topic, partition, messages) : fromObjects(wire, topic, partition, messages);
}

function fromPacked(packed: ArrayBuffer, topic: string, partition: number, messages: ReadonlyArray<KafkaMessage & { value: Buffer }>): RecordResult[] {
  const wire = packedResults.fromBuffer(Buffer.from(packed)) as ResultWire[];
  return wire.map((w, i): RecordResult => {
    const message = messages[i]!;
    const at: SourceCoordinates = { topic, partition, offset: message.offset, key: message.key ?? null };
    const origin = originOf(at, w.seen.sourceEvent);
    const q = w.quarantined;
    return {
      at,
      source: w.source,
      quarantined: q === null ? null : {
        source: q.source, at, original: message.value,
        verdict: { event_name: q.verdict.event_name, tier: q.verdict.tier, reasons: q.verdict.reasons.map((r) => ({ code: r.code, field: r.field, message: r.message })) },
      },
      drops: w.drops.map((d) => {
        const drop: Drop = { reason: d.reason };
        if (d.event_name !== null) drop.event_name = d.event_name;
        if (d.source !== null) drop.source = d.source;
        if (d.detail !== null) drop.detail = d.detail;
        return drop;
      }),
      candidates: w.candidates.map((c) => {
        const candidate: CandidateEvent = { event: c.event, identifiers: c.identifiers, assertsLinks: c.assertsLinks, dedupeKey: c.dedupeKey, anonymousPolicy: c.anonymousPolicy, origin };
        if (c.cartSnapshot !== null) candidate.cartSnapshot = { cart_id: c.cartSnapshot.cart_id, line_key: c.cartSnapshot.line_key, quantity: c.cartSnapshot.quantity };
        return candidate;
      }),
      seen: { sourceEvent: w.seen.sourceEvent, identifiers: w.seen.identifiers, orderIds: w.seen.orderIds, messageId: w.seen.messageId },
    };
  });
}

function fromObjects(wire: Extract<WireResults, { results: RecordResult[] }>, topic: string, partition: number, messages: ReadonlyArray<KafkaMessage & { value: Buffer }>): RecordResult[] {
  const events = Buffer.from(wire.events);
  const bounds = new Uint32Array(wire.bounds);
  let j = 0;
  return wire.results.map((result, i) => {
    const message = messages[i]!;
    const at: SourceCoordinates = { topic, partition, offset: message.offset, key: message.key ?? null };
    // The record's candidates share one origin (structured clone keeps that): one put back for all.
    const origin = result.candidates.length > 0 ? originOf(at, result.seen.sourceEvent) : undefined;
    const candidates = result.candidates.map((c) => {
      const event = c.event === null ? canonical.fromBuffer(events.subarray(bounds[j]!, bounds[j + 1]!)) as CanonicalEvent : c.event;
      j++;
      return { ...c, event, origin };
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

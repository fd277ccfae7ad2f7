import { randomUUID } from 'node:crypto';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import {
  AvroSerde, ConsumerPositions, createRegistry, inTimeWindow, loadAvroSchema, measureEnds, partitionKey, SerdeError, valueSubject,
  type Logger, type TimeWindow,
} from '@cio-pipeline/core';
import type { CanonicalEvent, DeadLetter } from '@cio-pipeline/core/generated/avro-types';

/**
 * Replays sink.dlq: reads it from the beginning up to its end as measured at start (records the
 * sink dead-letters meanwhile, e.g. a replayed event rejected again, are left for the next run),
 * filters, and produces each match's `original` canonical bytes back to events.canonical under its
 * original key. The event then takes the normal ordered path; its deterministic id makes a replay
 * of something Customer.io already has a no-op there.
 *
 * An `attribute_rejected` letter is the one exception: the rest of its identify was delivered
 * when it was refused, and later identifies may have changed those attributes since. Its replay is
 * an identify with only the attributes the letter holds (`refusedOnly`), so it cannot set the
 * others back to what they were.
 */

/** `since`/`until` bound dead_lettered_at: since inclusive, until exclusive (core's TimeWindow). */
export interface ReplayFilter extends TimeWindow {
  reason?: string;
  /** Matches `event_name`. */
  event?: string;
}

export interface ReplayProgress {
  /** DLQ records read so far (of `total`). */
  read: number;
  total: number;
  matched: number;
  replayed: number;
  errors: number;
}

export interface ReplayOptions {
  kafka: Kafka;
  registryUrl: string;
  topics: { dlq: string; canonical: string };
  filter: ReplayFilter;
  dryRun: boolean;
  logger: Logger;
  /** Fails if the read does not move for this long. */
  idleTimeoutMs?: number;
  onProgress?: (p: ReplayProgress) => void;
}

export type ReplaySummary = ReplayProgress;

export function matchesFilter(letter: Pick<DeadLetter, 'reason' | 'event_name' | 'dead_lettered_at'>, f: ReplayFilter): boolean {
  if (f.reason !== undefined && letter.reason !== f.reason) return false;
  if (f.event !== undefined && letter.event_name !== f.event) return false;
  return inTimeWindow(letter.dead_lettered_at, f);
}

export async function replayDeadLetters(o: ReplayOptions): Promise<ReplaySummary> {
  const { kafka, topics, logger } = o;
  const admin = kafka.admin();
  await admin.connect();
  const ends = await measureEnds(admin, [topics.dlq]).finally(() => admin.disconnect());
  let total = 0;
  for (const { low, end } of ends.values()) total += Number(end - low);
  const progress: ReplayProgress = { read: 0, total, matched: 0, replayed: 0, errors: 0 };
  o.onProgress?.({ ...progress });
  if (ends.size === 0) return progress;

  const registry = createRegistry(o.registryUrl);
  const serde = new AvroSerde<DeadLetter>({ registry, registryUrl: o.registryUrl, subject: valueSubject(topics.dlq), schema: loadAvroSchema('dlq-record') });
  let producer: Producer | undefined;
  if (!o.dryRun) {
    // The default (murmur2) partitioner, as the normalizer's: a replayed event lands in its key's partition.
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  }
  // Only attribute_rejected letters are rebuilt; the schema is looked up when the first one is.
  const canonical = new AvroSerde<CanonicalEvent>({ registry, registryUrl: o.registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  let canonicalReady: Promise<number> | null = null;
  const replayed = async (letter: DeadLetter): Promise<Buffer> => {
    if (letter.reason !== 'attribute_rejected') return letter.original;
    canonicalReady ??= canonical.init({ register: false }).catch((err: unknown) => {
      canonicalReady = null;
      throw err;
    });
    await canonicalReady;
    return canonical.encode(refusedOnly((await canonical.decode(letter.original)).value, letter.request_item));
  };
  const groupId = `sink-replay-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 250 });
  // Done when the consumer's position reaches each partition's end measured at start (markers
  // and aborted records included), never because the read went quiet.
  const positions = new ConsumerPositions();
  positions.follow(consumer);
  const finished = positions.reach(ends, `reading ${topics.dlq} to its end`, { stallMs: o.idleTimeoutMs ?? 60_000 });
  finished.catch(() => undefined); // awaited below; a failure meanwhile is not an unhandled rejection

  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.dlq], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const end = ends.get(partitionKey(batch.topic, batch.partition))?.end;
        if (end === undefined) return;
        const out: Array<{ key: string | null; value: Buffer }> = [];
        // Counted only once the batch is done: a failed send makes kafkajs retry the whole batch.
        const seen = { read: 0, matched: 0, errors: 0 };
        let last: bigint | undefined;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset >= end) break;
          last = offset;
          seen.read++;
          if (message.value === null) continue;
          let letter: DeadLetter;
          try {
            letter = (await serde.decode(message.value)).value;
          } catch (err) {
            // A registry hiccup is not the record's fault: fail the batch, kafkajs retries it.
            if (err instanceof SerdeError && err.retryable) throw err;
            seen.errors++;
            logger.error({ err, partition: batch.partition, offset: message.offset }, 'DLQ record does not decode; skipped');
            continue;
          }
          if (!matchesFilter(letter, o.filter)) continue;
          seen.matched++;
          if (!producer) continue;
          let value: Buffer;
          try {
            value = await replayed(letter);
          } catch (err) {
            if (err instanceof SerdeError && err.retryable) throw err;
            seen.errors++;
            logger.error({ err, partition: batch.partition, offset: message.offset, event_id: letter.event_id }, 'dead letter cannot be rebuilt for replay; skipped');
            continue;
          }
          out.push({ key: letter.customer_key === '' ? null : letter.customer_key, value });
        }
        if (producer && out.length > 0) {
          // acks=all before counting: "replayed" means events.canonical holds it.
          await producer.send({ topic: topics.canonical, acks: -1, messages: out });
        }
        progress.read += seen.read;
        progress.matched += seen.matched;
        progress.errors += seen.errors;
        progress.replayed += out.length;
        if (last !== undefined) resolveOffset(last.toString());
        o.onProgress?.({ ...progress });
        await heartbeat();
      },
    });
    await finished;
  } finally {
    positions.fail(new Error('replay ended')); // clears the wait's timer if the read failed early
    await consumer.disconnect().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    // The group was only a vehicle for reading; don't leave it behind.
    const cleanup = kafka.admin();
    await cleanup.connect().then(() => cleanup.deleteGroups([groupId])).catch(() => undefined);
    await cleanup.disconnect().catch(() => undefined);
  }
  return progress;
}

type AttributeValue = CanonicalEvent['attributes'][string];

/**
 * The identify of an `attribute_rejected` letter with only the attributes Customer.io refused
 * (the letter's `request_item`, `{"attributes": {...}}`). The email and anonymous id travel as
 * attributes too: each is kept only if it was refused, or, for the email, if it is how the person
 * is identified (no customer id).
 */
export function refusedOnly(event: CanonicalEvent, requestItem: string | null): CanonicalEvent {
  let refused: unknown;
  try {
    refused = (JSON.parse(requestItem ?? '') as { attributes?: unknown }).attributes;
  } catch {
    refused = undefined;
  }
  if (typeof refused !== 'object' || refused === null || Array.isArray(refused)) {
    throw new Error('an attribute_rejected letter without the refused attributes in request_item');
  }
  const attributes: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(refused)) {
    if (key === 'email' || key === 'anonymous_id') continue;
    if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') attributes[key] = value;
  }
  return {
    ...event,
    attributes,
    email: 'email' in refused || event.customer_id === null ? event.email : null,
    anonymous_id: 'anonymous_id' in refused ? event.anonymous_id : null,
  };
}

/**
 * The narrow Kafka surface the services use. KafkaJS is in maintenance mode and untested upstream
 * past Kafka 2.4; keeping it behind these few functions keeps a future client swap contained, and
 * the integration tests are what prove it works against Kafka 4.x.
 */
import { createRequire } from 'node:module';
import kafkajs, { Kafka, logLevel, type Admin, type ITopicConfig, type LogEntry, type RetryOptions } from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import type { Logger } from './logger.ts';

export interface KafkaOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /**
   * Optional overrides of the client's connection, request and retry timing. A service that must
   * answer within a deadline (ingest) bounds them so a failed write gives up before its caller does.
   */
  connectionTimeout?: number;
  requestTimeout?: number;
  retry?: RetryOptions;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

let warningFilterInstalled = false;

/**
 * KafkaJS schedules its request-queue check with `setTimeout(0 - Date.now())` when nothing is
 * pending; Node 24 warns about the negative delay on every connection. The timer fires at once,
 * as intended, so only that one warning is filtered; every other warning is still printed.
 */
function filterKafkaJsTimerWarning(): void {
  if (warningFilterInstalled) return;
  warningFilterInstalled = true;
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    for (const listener of listeners) listener(warning);
  });
}

/**
 * KafkaJS ships only gzip, which costs ingest most of its throughput; Snappy (pure JS) is the
 * usual cheap codec. Registered for every client, since consumers must decode what ingest writes.
 */
let codecsRegistered = false;
function registerCodecs(): void {
  // KafkaJS's own Snappy entry is a stub that throws "not implemented": replace it once.
  if (codecsRegistered) return;
  codecsRegistered = true;
  // Through the default export: Node's ESM loader does not see these two as named CJS exports.
  kafkajs.CompressionCodecs[kafkajs.CompressionTypes.Snappy] = SnappyCodec;
}

/** How long a client reuses a transaction coordinator it looked up (see cacheCoordinatorLookups). */
export const COORDINATOR_CACHE_MS = 2_000;
/** FindCoordinator's key type for a transactional id (0 is a consumer group). */
const TRANSACTION_COORDINATOR = 1;

interface CachedCoordinator { nodeId: number; until: number }
interface CoordinatorLookup { groupId: string; coordinatorType?: number }
interface ClusterLike {
  findBroker(args: { nodeId: number }): Promise<{ nodeId: number }>;
  findGroupCoordinator(args: CoordinatorLookup): Promise<{ nodeId: number }>;
}

/**
 * KafkaJS sends a FindCoordinator request before every transactional call: 4 of the 9 sequential
 * round trips of each of the normalizer's transactions, the biggest share of its latency
 * (docs/benchmarks.md). Three of them look up the transaction coordinator (for AddPartitionsToTxn,
 * AddOffsetsToTxn and EndTxn); the Java client keeps it until a request to it fails. Here each
 * client (one KafkaJS Cluster per producer) reuses that answer for COORDINATOR_CACHE_MS; a cached
 * coordinator the client cannot reach, or any failed lookup, falls back to KafkaJS's own lookup.
 * A coordinator that moved answers NOT_COORDINATOR, never a wrong result, and the normalizer starts
 * a fresh producer (a fresh cache) after any failed transaction. Group coordinator lookups
 * (TxnOffsetCommit, consumers, admin) are not cached. Nothing about transactions, fencing or
 * ordering changes, only how often the coordinator is asked for.
 */
export function cacheCoordinatorLookups(proto: ClusterLike, ttlMs = COORDINATOR_CACHE_MS, now: () => number = Date.now): void {
  const marker = Symbol.for('cio-pipeline.coordinator-cache');
  const patched = proto as ClusterLike & { [marker]?: true };
  if (patched[marker]) return;
  patched[marker] = true;
  const original = proto.findGroupCoordinator;
  const caches = new WeakMap<object, Map<string, CachedCoordinator>>();
  proto.findGroupCoordinator = async function (this: ClusterLike, args: CoordinatorLookup) {
    // Group coordinators (consumer joins, offset commits, admin calls) are looked up as before.
    if (args.coordinatorType !== TRANSACTION_COORDINATOR) return original.call(this, args);
    let cache = caches.get(this);
    if (!cache) caches.set(this, (cache = new Map()));
    const key = `${args.coordinatorType ?? 0}:${args.groupId}`;
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      try {
        return await this.findBroker({ nodeId: hit.nodeId });
      } catch {
        cache.delete(key); // gone from the cluster: look it up again
      }
    }
    try {
      const broker = await original.call(this, args);
      cache.set(key, { nodeId: broker.nodeId, until: now() + ttlMs });
      return broker;
    } catch (err) {
      cache.delete(key);
      throw err;
    }
  };
}

let coordinatorCacheInstalled = false;
function installCoordinatorCache(): void {
  if (coordinatorCacheInstalled) return;
  coordinatorCacheInstalled = true;
  // KafkaJS's Cluster class, not exported by its index (2.2.4 in the lockfile, its last release).
  // Should a future version move it, clients simply look coordinators up every time again.
  let Cluster: { prototype?: Partial<ClusterLike> } | undefined;
  try {
    Cluster = createRequire(import.meta.url)('kafkajs/src/cluster/index.js') as { prototype?: Partial<ClusterLike> };
  } catch {
    return;
  }
  const proto = Cluster?.prototype;
  if (typeof proto?.findGroupCoordinator === 'function' && typeof proto.findBroker === 'function') cacheCoordinatorLookups(proto as ClusterLike);
}

export function createKafka(opts: KafkaOptions): Kafka {
  filterKafkaJsTimerWarning();
  registerCodecs();
  installCoordinatorCache();
  const log = opts.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    logLevel: logLevel.WARN,
    retry: opts.retry ?? { initialRetryTime: 100, retries: 8 },
    ...(opts.connectionTimeout === undefined ? {} : { connectionTimeout: opts.connectionTimeout }),
    ...(opts.requestTimeout === undefined ? {} : { requestTimeout: opts.requestTimeout }),
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      // "The group coordinator is not available" is expected while a fresh KRaft broker creates
      // __consumer_offsets; KafkaJS retries it, so it is not worth a warning.
      // "Limiting retries for the idempotent producer may invalidate EoS" is printed at every start:
      // retries are bounded on purpose (a caller must get an answer in time) and the transactional
      // and idempotent guarantees we rely on do not depend on unbounded retries.
      if (/coordinator is not available|This server does not host this topic-partition|Limiting retries for the idempotent producer/i.test(String(message))) {
        log.debug({ namespace: entry.namespace, ...extra }, String(message));
        return;
      }
      log[LEVELS[entry.level] ?? 'info']({ namespace: entry.namespace, ...extra }, String(message));
    },
  });
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  compacted?: boolean;
  /** Extra topic-level settings, e.g. `max.message.bytes`. */
  config?: Readonly<Record<string, string>>;
}

/** Creates missing topics (idempotent); compacted ones get cleanup.policy=compact. */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing: ITopicConfig[] = specs
    .filter((s) => !existing.has(s.topic))
    .map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions ?? 3,
      replicationFactor: -1,
      configEntries: [
        ...(s.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
        ...Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
      ],
    }));
  if (missing.length > 0) {
    try {
      // Not KafkaJS's waitForLeaders: on Kafka 4 (KRaft) a new topic's metadata can answer
      // UNKNOWN_TOPIC_OR_PARTITION for a moment, which KafkaJS does not retry; we wait ourselves.
      await admin.createTopics({ topics: missing, waitForLeaders: false });
    } catch (err) {
      // Another instance may have created them between listTopics and createTopics.
      if (!isTopicAlreadyExists(err)) throw err;
    }
  }
  await waitForLeaders(admin, specs.map((s) => s.topic));
}

/** Kafka's TOPIC_ALREADY_EXISTS, as KafkaJS reports it: one protocol error or an aggregate of them. */
export function isTopicAlreadyExists(err: unknown): boolean {
  const e = err as { type?: unknown; errors?: unknown };
  if (e?.type === 'TOPIC_ALREADY_EXISTS') return true;
  return Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every((inner) => isTopicAlreadyExists(inner));
}

/**
 * Waits until every partition of the topics has a leader. A topic another process has just
 * created exists before its partitions are served, and a consumer that subscribes in that window
 * fails with "This server does not host this topic-partition".
 */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      const waiting = meta.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0)).map((t) => t.name);
      if (waiting.length === 0) {
        // Metadata can name a leader before that broker serves the partition (KRaft): a
        // ListOffsets that succeeds on every topic is the real sign.
        for (const topic of topics) await admin.fetchTopicOffsets(topic);
        return;
      }
      last = `no leader yet for ${waiting.join(', ')}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`topics not ready after ${timeoutMs} ms: ${last}`);
}

declare module 'kafkajs' {
  interface AdminConfig {
    /**
     * fetchTopicOffsets answers each partition's high watermark (everything written, open
     * transactions included) instead of its last stable offset. Added by scripts/patch-kafkajs.ts.
     */
    readUncommitted?: boolean;
  }
  interface ConsumerConfig {
    /**
     * While `active`, a fetched data batch whose first record has header `header` = `value` reaches
     * eachBatch as one stand-in message (key and value null, no headers) at the batch's last offset:
     * its records are never decoded. Added by scripts/patch-kafkajs.ts.
     */
    skipBatches?: { header: string; value: Buffer; active: boolean };
  }
}

export { Kafka };
export type { Admin };

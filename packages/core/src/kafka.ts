/**
 * The narrow Kafka surface the services use. KafkaJS is in maintenance mode and untested upstream
 * past Kafka 2.4; keeping it behind these few functions keeps a future client swap contained, and
 * the integration tests are what prove it works against Kafka 4.x.
 */
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

export function createKafka(opts: KafkaOptions): Kafka {
  filterKafkaJsTimerWarning();
  registerCodecs();
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

export { Kafka };
export type { Admin };

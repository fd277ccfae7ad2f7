/**
 * Driving the normalizer through a real broker at volume: producing a synthetic raw stream, running
 * the service as a child process (so it can be SIGKILLed like a crashed pod), waiting until its
 * group has committed every input offset, and reading what it wrote, read_committed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  AvroSerde, createRegistry, fetchTopicOffsets, loadAvroSchema, rawTopics, readTopicToEnd, valueSubject,
  type Kafka, type RawEnvelope, type RawSource, type Topics,
} from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { AssignerProtocol, type Consumer } from 'kafkajs';
import type { SyntheticRecord } from './synthetic-stream.ts';
import { eventually } from '../../../test/support/eventually.ts';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const PLAN_PATH = `${REPO}schemas/tracking-plan.yaml`;

/** The journey fixtures and the synthetic stream are dated in 2026: no test may depend on today's date. */
export const FUTURE_TOLERANCE_MS = String(10 * 365 * 86_400_000);

/** Per raw source: its topic and a serde under the prefix's subject (core's raw-topic table). */
function rawSerdes(registryUrl: string, topics: Topics): Map<RawSource, { topic: string; serde: AvroSerde<RawEnvelope> }> {
  const registry = createRegistry(registryUrl);
  return new Map(rawTopics(topics).map((t) => [t.source, {
    topic: t.topic,
    serde: new AvroSerde<RawEnvelope>({ registry, registryUrl, subject: valueSubject(t.topic), schema: loadAvroSchema(t.schema) }),
  }]));
}

/**
 * Registers the raw schemas under the prefix's subjects. Call it before starting a normalizer child
 * that registers them too: two clients setting a subject's compatibility at the same moment make
 * the registry answer 409.
 */
export async function registerRawSchemas(registryUrl: string, topics: Topics): Promise<void> {
  for (const { serde } of rawSerdes(registryUrl, topics).values()) await serde.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
}

/**
 * Produces the records to the raw topics (Avro, under the prefix's subjects), in order. With
 * `registered`, only looks the schemas up (see registerRawSchemas); else registers them first.
 */
export async function produceStream(kafka: Kafka, registryUrl: string, topics: Topics, records: readonly SyntheticRecord[], opts: { registered?: boolean } = {}): Promise<void> {
  const serdes = rawSerdes(registryUrl, topics);
  const used = new Set(records.map((r) => r.source));
  for (const [source, { serde }] of serdes) {
    if (!used.has(source)) continue;
    if (opts.registered) await serde.init({ register: false });
    else await serde.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 2000) {
      const bySource = new Map<RawSource, Array<{ key: string; value: Buffer }>>();
      for (const r of records.slice(i, i + 2000)) {
        const messages = bySource.get(r.source) ?? [];
        messages.push({ key: r.key, value: serdes.get(r.source)!.serde.encode(r.value) });
        bySource.set(r.source, messages);
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...bySource].map(([source, messages]) => ({ topic: serdes.get(source)!.topic, messages })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface NormalizerProcess {
  child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string>;
  /** What it printed (warn and above), for a failure message. */
  output(): string;
  /** SIGTERM: finish the transaction in flight, then exit. */
  stop(): Promise<number | string>;
  /** SIGKILL: a crash at an arbitrary point. */
  kill(): Promise<number | string>;
  /** Sum of a counter on its /metrics (needs LOG_LEVEL=info, which logs the ops port). */
  counter(name: string): Promise<number>;
}

/** `node services/normalizer/src/main.ts` with the given environment on top of a test default. */
export function spawnNormalizer(env: Record<string, string>): NormalizerProcess {
  const child = spawn(process.execPath, ['services/normalizer/src/main.ts'], {
    cwd: REPO,
    env: {
      PATH: process.env['PATH'] ?? '',
      NORMALIZER_OPS_PORT: '0',
      LOG_LEVEL: 'warn',
      NORMALIZER_TRACKING_PLAN: PLAN_PATH,
      NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
      // A killed member's partitions move on after this; the broker's minimum keeps restarts quick.
      NORMALIZER_SESSION_TIMEOUT_MS: '6000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const signal = (s: NodeJS.Signals) => async (): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
    return exited;
  };
  const counter = async (name: string): Promise<number> => {
    const port = /"opsPort":(\d+)/.exec(out)?.[1];
    if (port === undefined) throw new Error('no ops port logged yet (LOG_LEVEL must be info)');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  };
  return { child, exited, output: () => out, stop: signal('SIGTERM'), kill: signal('SIGKILL'), counter };
}

/** Sum of the high watermarks of a topic (records, aborted ones and transaction markers included). */
export async function endOffsetSum(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await fetchTopicOffsets(admin, topic)).reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Committed offsets of the group as a share of the raw topics' ends: 1 when every input record is done. */
export async function groupProgress(kafka: Kafka, groupId: string, rawTopics: readonly string[]): Promise<{ committed: number; total: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let committed = 0;
    let total = 0;
    const offsets = await admin.fetchOffsets({ groupId, topics: [...rawTopics] });
    for (const topic of rawTopics) {
      const ends = await fetchTopicOffsets(admin, topic);
      const done = offsets.find((o) => o.topic === topic)?.partitions ?? [];
      for (const p of ends) {
        total += Number(p.high);
        const c = Number(done.find((d) => d.partition === p.partition)?.offset ?? -1);
        committed += Math.max(c, 0);
      }
    }
    return { committed, total };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until the group is stable with `members` members, each holding at least one partition: the
 * moment a joining instance can no longer miss records produced after it.
 */
export async function waitForMembers(kafka: Kafka, groupId: string, members: number, timeoutMs: number, context: () => string = () => ''): Promise<void> {
  await eventually(`group ${groupId} stable with ${members} members, each assigned partitions`, async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [group] = (await admin.describeGroups([groupId])).groups;
      if (group === undefined || group.state !== 'Stable') return [];
      return group.members.map((m) => {
        const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
        return Object.values(assignment?.assignment ?? {}).reduce((n, partitions) => n + partitions.length, 0);
      });
    } finally {
      await admin.disconnect();
    }
  }, (assigned) => assigned.length === members && assigned.every((n) => n > 0), { timeoutMs, intervalMs: 250, retryOn: retriable, context });
}

/** A retriable broker answer (a leader moving, a coordinator loading) is "not yet", not a failure. */
export const retriable = (err: unknown): boolean => (err as { retriable?: boolean }).retriable === true;

/** Waits until the group has committed every record of the raw topics. */
export async function waitForGroupDone(kafka: Kafka, groupId: string, rawTopics: readonly string[], timeoutMs: number, context: () => string = () => '', intervalMs = 500): Promise<void> {
  await eventually(`group ${groupId} to commit every input record`, () => groupProgress(kafka, groupId, rawTopics), (p) => p.total > 0 && p.committed === p.total, {
    timeoutMs, intervalMs, retryOn: retriable, context,
  });
}

export interface CanonicalRead {
  key: string | null;
  partition: number;
  event: CanonicalEvent;
}

/** Everything committed to the canonical topic, decoded, per partition in offset order. */
export async function readCanonical(kafka: Kafka, registryUrl: string, topic: string): Promise<CanonicalRead[]> {
  const serde = new AvroSerde<CanonicalEvent>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topic), schema: loadAvroSchema('canonical-event') });
  const out: CanonicalRead[] = [];
  await readTopicToEnd(kafka, topic, async (m, partition) => {
    if (m.value === null) return;
    out.push({ key: m.key?.toString('utf8') ?? null, partition, event: (await serde.decode(m.value)).value });
  });
  return out;
}

/** Ids seen more than once, and expected ids not seen, for a readable assertion. */
export function compareIds(actual: readonly string[], expected: ReadonlySet<string>): { duplicates: string[]; missing: string[]; unexpected: string[] } {
  const seen = new Map<string, number>();
  for (const id of actual) seen.set(id, (seen.get(id) ?? 0) + 1);
  return {
    duplicates: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
    missing: [...expected].filter((id) => !seen.has(id)),
    unexpected: [...seen.keys()].filter((id) => !expected.has(id)),
  };
}

/**
 * Follows a topic from its beginning, read_committed, for the life of a test: what has arrived so
 * far, and a wait for a condition on it.
 */
export class TopicTail<T> {
  readonly records: Array<{ key: string | null; partition: number; value: T }> = [];
  private readonly consumer: Consumer;
  private readonly topic: string;
  private readonly decode: (value: Buffer) => Promise<T> | T;
  private failure: Error | null = null;

  private constructor(kafka: Kafka, topic: string, decode: (value: Buffer) => Promise<T> | T) {
    this.topic = topic;
    this.decode = decode;
    this.consumer = kafka.consumer({ groupId: `tail-${topic}-${Math.random().toString(36).slice(2, 10)}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  }

  static async start<T>(kafka: Kafka, topic: string, decode: (value: Buffer) => Promise<T> | T): Promise<TopicTail<T>> {
    const tail = new TopicTail(kafka, topic, decode);
    await tail.consumer.connect();
    await tail.consumer.subscribe({ topic, fromBeginning: true });
    void tail.consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (m.value === null) continue;
          tail.records.push({ key: m.key?.toString('utf8') ?? null, partition: batch.partition, value: await tail.decode(m.value) });
        }
      },
    }).catch((err: unknown) => { tail.failure = err as Error; });
    return tail;
  }

  /** Resolves once `check` holds on what arrived, then waits `settleMs` more so late extras show too. */
  async until(check: (records: TopicTail<T>['records']) => boolean, opts: { timeoutMs?: number; settleMs?: number } = {}): Promise<TopicTail<T>['records']> {
    await eventually(`the condition on ${this.topic}`, () => {
      if (this.failure) throw this.failure;
      return check(this.records);
    }, { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 50, context: () => `${this.records.length} records so far` });
    if (opts.settleMs) await new Promise((r) => setTimeout(r, opts.settleMs));
    return this.records;
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
  }
}

/** A canonical-topic decoder for TopicTail. */
export function canonicalDecoder(registryUrl: string, topic: string): (value: Buffer) => Promise<CanonicalEvent> {
  const serde = new AvroSerde<CanonicalEvent>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topic), schema: loadAvroSchema('canonical-event') });
  return async (value) => (await serde.decode(value)).value;
}

/**
 * Reads the three places an event's fate is written (events.canonical: valid; events.quarantine:
 * invalid at the normalizer; sink.dlq: rejected by Customer.io, or parked) in a consumer group of
 * its own, read_committed, and feeds the verdicts to the alert rules.
 *
 * Time: each verdict is stamped with its record's Kafka timestamp, i.e. when the normalizer or the
 * sink reached it (arrival time in the pipeline), clamped to now; windows slide on the wall clock.
 *  - Not event time (occurred_at): a backfill or a source's retry of day-old events would fall
 *    outside every window and never alert, though it is exactly the invalid data the journeys see now.
 *  - Not the monitor's own read time: after a restart or lag, a backlog would land in one bucket and
 *    fire (or hide) alerts that describe the monitor, not the data. Verdicts older than the window
 *    are skipped, so a replay from the beginning counts only the current window.
 */
import {
  AvroSerde, PipelineError, createRegistry, ensureTopics, loadAvroSchema, valueSubject,
  type Kafka, type Logger,
} from '@cio-pipeline/core';
import type { CanonicalEvent, DeadLetter, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { InvalidShareEvaluator, type AlertTransition, type Observation, type Verdict } from './alert-rules.ts';
import type { MonitorConfig } from './config.ts';
import type { MonitorMetrics } from './metrics.ts';
import type { Notifier } from './webhook-notifier.ts';

type Registry = ReturnType<typeof createRegistry>;

export interface MonitorOptions {
  config: Readonly<MonitorConfig>;
  kafka: Kafka;
  registry: Registry;
  logger: Logger;
  metrics: MonitorMetrics;
  notifier: Notifier;
  now?: () => number;
  /** Called when the consumer crashed for good (KafkaJS gave up restarting it). */
  onFatal?: (err: unknown) => void;
}

function tierLabel(tier: number | null | undefined): string {
  return tier === null || tier === undefined ? 'unknown' : String(tier);
}

export class InvalidDataMonitor {
  readonly evaluator: InvalidShareEvaluator;
  private readonly o: MonitorOptions;
  private readonly now: () => number;
  private readonly canonical: AvroSerde<CanonicalEvent>;
  private readonly quarantine: AvroSerde<QuarantineRecord>;
  private readonly dlq: AvroSerde<DeadLetter>;
  private consumer: Consumer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private joined = false;
  private crashed = false;

  constructor(opts: MonitorOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.evaluator = new InvalidShareEvaluator(opts.config.rules);
    const { topics } = opts.config.kafka;
    const common = { registry: opts.registry, registryUrl: opts.config.schemaRegistryUrl };
    // Decoding fetches each writer schema by id from the registry: no init() (no registration) needed.
    this.canonical = new AvroSerde({ ...common, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
    this.quarantine = new AvroSerde({ ...common, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
    this.dlq = new AvroSerde({ ...common, subject: valueSubject(topics.dlq), schema: loadAvroSchema('dlq-record') });
    // Ungrouped rules have exactly one series: show them as not firing before the first event.
    for (const rule of opts.config.rules) {
      if (rule.groupBy.length === 0) opts.metrics.alertFiring.set({ rule: rule.name, group: 'all' }, 0);
    }
  }

  ready(): boolean {
    return this.joined && !this.crashed;
  }

  async start(): Promise<void> {
    const { kafka, config, logger } = this.o;
    const { topics } = config.kafka;
    const inputs = [topics.canonical, topics.quarantine, topics.dlq];
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Same defaults as the normalizer and sink, so whichever starts first makes the same topics.
      await ensureTopics(admin, inputs.map((topic) => ({ topic })));
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId: config.kafka.groupId, readUncommitted: false });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined = true;
      this.crashed = false;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      logger.error({ err: payload.error, restart: payload.restart }, 'monitor consumer crashed');
      // Not consuming until KafkaJS's restart rejoins (GROUP_JOIN), or for good.
      this.joined = false;
      if (!payload.restart) {
        this.crashed = true;
        this.o.onFatal?.(payload.error);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: inputs, fromBeginning: config.kafka.fromBeginning });
    await consumer.run({
      // Offsets are resolved one by one: auto-resolve would also mark messages skipped by a break.
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) break;
          await this.handle(batch.topic, message);
          resolveOffset(message.offset);
        }
        await heartbeat();
        this.evaluate();
      },
    });
    this.timer = setInterval(() => this.evaluate(), config.evalIntervalMs);
    this.timer.unref();
    logger.info({ topics: inputs, groupId: config.kafka.groupId, rules: config.rules.map((r) => r.name) }, 'monitor started');
  }

  async stop(opts: { notifyTimeoutMs?: number } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const consumer = this.consumer;
    this.consumer = null;
    this.joined = false;
    if (consumer) await consumer.disconnect();
    // Give alerts in flight a bounded chance to reach the chat.
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.o.notifier.idle(),
      new Promise<void>((resolve) => { timeout = setTimeout(resolve, opts.notifyTimeoutMs ?? 10_000); }),
    ]);
    clearTimeout(timeout);
  }

  /** Counts one verdict (exposed for tests and replays). */
  observe(obs: Observation): void {
    this.o.metrics.events.inc({ source: obs.source, tier: obs.tier, verdict: obs.verdict });
    this.evaluator.observe(obs, this.now());
  }

  /** Recomputes every series, publishes the gauges, and acts on alert transitions. */
  evaluate(): AlertTransition[] {
    const { metrics, logger, notifier } = this.o;
    const { snapshots, transitions } = this.evaluator.evaluate(this.now());
    for (const s of snapshots) {
      const labels = { rule: s.rule, group: s.group };
      metrics.invalidShare.set(labels, s.share);
      metrics.windowEvents.set(labels, s.total);
      metrics.alertFiring.set(labels, s.state === 'firing' ? 1 : 0);
    }
    for (const t of transitions) {
      const fields = { rule: t.rule, group: t.group, share: t.share, invalid: t.invalid, total: t.total, threshold: t.threshold, clearBelow: t.clearBelow, windowMs: t.windowMs };
      if (t.state === 'firing') logger.error(fields, 'invalid-data alert firing');
      else logger.info(fields, 'invalid-data alert resolved');
      metrics.alertTransitions.inc({ rule: t.rule, group: t.group, state: t.state });
      void notifier.notify(t);
    }
    return transitions;
  }

  private async handle(topic: string, message: KafkaMessage): Promise<void> {
    if (message.value === null) return;
    const stamped = Number(message.timestamp);
    const at = Number.isFinite(stamped) && stamped > 0 ? Math.min(stamped, this.now()) : this.now();
    const { topics } = this.o.config.kafka;
    try {
      if (topic === topics.canonical) {
        const { value } = await this.canonical.decode(message.value);
        this.observe({ at, source: value.source, tier: tierLabel(value.tier), event: value.name, verdict: 'valid' });
      } else if (topic === topics.quarantine) {
        const { value } = await this.quarantine.decode(message.value);
        this.observe({ at, source: value.source, tier: tierLabel(value.tier), event: value.event_name, verdict: 'quarantined' });
      } else if (topic === topics.dlq) {
        const { value } = await this.dlq.decode(message.value);
        // 'rejected' is invalid data; anything else ('parked') is a delivery problem, counted apart.
        const verdict: Verdict = value.reason === 'rejected' ? 'rejected' : 'parked';
        // The dead letter names the event but not its source or tier: the original canonical record does.
        let source = 'unknown';
        let tier = 'unknown';
        try {
          const original = (await this.canonical.decode(value.original)).value;
          source = original.source;
          tier = tierLabel(original.tier);
        } catch (err) {
          if (err instanceof PipelineError && err.retryable) throw err;
          this.decodeFailed(topic, err, message, 'original');
        }
        this.observe({ at, source, tier, event: value.event_name, verdict });
      }
    } catch (err) {
      // The registry being unreachable is worth waiting for (KafkaJS retries the batch);
      // a corrupt or unreadable record is skipped and counted, so it cannot stall the monitor.
      if (!(err instanceof PipelineError) || err.retryable) throw err;
      this.decodeFailed(topic, err, message, 'value');
    }
  }

  private decodeFailed(topic: string, err: unknown, message: KafkaMessage, part: string): void {
    const code = err instanceof PipelineError ? err.code : 'UNKNOWN';
    this.o.metrics.decodeErrors.inc({ topic, code });
    this.o.logger.warn({ topic, offset: message.offset, part, code, problem: (err as Error).message }, 'record skipped: cannot decode');
  }
}

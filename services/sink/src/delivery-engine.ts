import type { Logger } from '@cio-pipeline/core';
import { stripRejectedAttributes } from './attribute-strip.ts';
import { CioClient } from './cio-client.ts';
import type { SinkConfig } from './config.ts';
import type { CioConfigError } from './errors.ts';
import { KeyOrderedDispatcher, type DeadLetterInfo, type FinalAnswer, type SinkRecord } from './key-ordered-dispatcher.ts';
import { mapEvent } from './mapping.ts';
import { createSinkMetrics, statusLabel, type SinkMetrics } from './metrics.ts';
import { TokenBucket } from './token-bucket.ts';
import { SINK_USER_AGENT } from './user-agent.ts';

export interface DeliveryEngine {
  dispatcher: KeyOrderedDispatcher;
  client: CioClient;
  bucket: TokenBucket;
  metrics: SinkMetrics;
  /** Stops the dispatcher (after drain, if the caller drained), closes the bucket and the HTTP pool. */
  close(): Promise<void>;
}

export interface DeliveryEngineDeps {
  /** Durable write to sink.dlq (see toDeadLetter); offsets advance only after it resolves. */
  deadLetter: (record: SinkRecord, info: DeadLetterInfo) => Promise<void>;
  /** Each finished event's final answer, before its offset may be committed (receipts). */
  onFinished?: (record: SinkRecord, answer: FinalAnswer) => void;
  logger?: Logger;
  metrics?: SinkMetrics;
  onAuthFailure?: (error: CioConfigError, info: { haltedSince: number; probes: number }) => void;
  onAuthRecovered?: (info: { haltedForMs: number }) => void;
  onPressure?: (paused: boolean) => void;
}

/** Wires the rate limit, the Customer.io client, the dispatcher and the metrics from the config. */
export function createDeliveryEngine(config: SinkConfig, deps: DeliveryEngineDeps): DeliveryEngine {
  const d = config.delivery;
  let metrics: SinkMetrics | undefined = deps.metrics;
  const bucket = new TokenBucket({ ratePerSec: d.rateLimitPerSec, onWait: () => metrics?.rateLimitWaits.inc() });
  metrics ??= createSinkMetrics({ rateLimit: () => bucket.currentRate() });
  const m = metrics;
  const client = new CioClient({
    baseUrl: config.cio.trackUrl,
    siteId: config.cio.siteId,
    apiKey: config.cio.apiKey,
    timeoutMs: config.cio.requestTimeoutMs,
    connections: Math.max(8, d.concurrency * 2),
    bucket,
    logger: deps.logger,
    userAgent: SINK_USER_AGENT,
    onResponse: (status, api) => m.requests.inc({ status: statusLabel(status), api }),
  });
  const api = config.cio.api;
  const dispatcher = new KeyOrderedDispatcher({
    sender: client,
    prepare: (event) => mapEvent(event, api),
    stripRejected: stripRejectedAttributes,
    deadLetter: deps.deadLetter,
    onFinished: deps.onFinished,
    bucket,
    concurrency: d.concurrency,
    maxBatchItems: d.maxBatchItems,
    maxBatchBytes: d.maxBatchBytes,
    maxItemBytes: d.maxItemBytes,
    maxInFlightEvents: d.maxInFlightEvents,
    retryBaseMs: d.retryBaseMs,
    retryMaxMs: d.retryMaxMs,
    parkAfterMs: d.parkAfterMs,
    authProbeIntervalMs: d.authProbeIntervalMs,
    onAuthFailure: deps.onAuthFailure,
    onAuthRecovered: deps.onAuthRecovered,
    onPressure: deps.onPressure,
    metrics: m,
    logger: deps.logger,
  });
  return {
    dispatcher,
    client,
    bucket,
    metrics: m,
    async close() {
      await dispatcher.stop();
      bucket.close();
      await client.close();
    },
  };
}

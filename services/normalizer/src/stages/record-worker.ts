/**
 * A record worker thread: steps 1-8 (decode with the registry, then the pure stateless stages) for
 * slices of raw records that the main thread sends (stages/record-workers.ts). Everything here is
 * the worker's own: the plan, the product table, a registry client and its schema cache.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { createLogger, createRegistry, loadTrackingPlan, topicNames } from '@cio-pipeline/core';
import type { KafkaMessage } from 'kafkajs';
import { RawDecoder } from '../kafka/raw-decoder.ts';
import { EMPTY_PRODUCT_TABLE, loadProductTable } from './enrich.ts';
import { createRecordStage, type RecordResult } from './pipeline.ts';
import { createStatelessPipeline, pipelineOptionsFromConfig } from './stateless.ts';
import { toWire, type RecordTask, type RecordWorkerSetup, type WorkerReply } from './record-wire.ts';

const setup = workerData as RecordWorkerSetup;
const port = parentPort!;
const logger = createLogger('normalizer', setup.logLevel).child({ component: 'record-worker', thread: threadId });
const plan = loadTrackingPlan(setup.stages.trackingPlanPath);
const productTable = setup.stages.productTablePath ? loadProductTable(setup.stages.productTablePath) : EMPTY_PRODUCT_TABLE;
const stateless = createStatelessPipeline({ plan, options: pipelineOptionsFromConfig(setup.stages, productTable) });
const decoder = new RawDecoder(createRegistry(setup.registryUrl), setup.registryUrl, topicNames(setup.topicPrefix));
const { runRecord } = createRecordStage({ decoder, stateless, logger });

async function run(task: RecordTask): Promise<RecordResult[]> {
  const bytes = new Uint8Array(task.bytes);
  const bounds = new Uint32Array(task.bounds);
  const results: RecordResult[] = [];
  for (let i = 0; i < task.offsets.length; i++) {
    const value = Buffer.from(bytes.buffer, bounds[i]!, bounds[i + 1]! - bounds[i]!);
    // The key stays on the main thread, which puts it back into the result (record-wire.ts).
    const message = { offset: task.offsets[i]!, key: null, value } as unknown as KafkaMessage & { value: Buffer };
    results.push(await runRecord(task.topic, task.partition, message));
  }
  return results;
}

port.on('message', (task: RecordTask) => {
  run(task).then(
    (results) => {
      const wire = toWire(results);
      port.postMessage({ id: task.id, ...wire } satisfies WorkerReply, 'packed' in wire ? [wire.packed] : [wire.events, wire.bounds]);
    },
    (err: unknown) => {
      const e = err as { name?: string; code?: string; message?: string; retryable?: boolean };
      port.postMessage({ id: task.id, error: { name: e?.name ?? 'Error', code: e?.code ?? null, message: e?.message ?? String(err), retryable: e?.retryable === true } } satisfies WorkerReply);
    },
  );
});
port.postMessage({ ready: true } satisfies WorkerReply);

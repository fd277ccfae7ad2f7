/**
 * The receipts worker (a worker thread of the sink): produces encoded receipt batches to
 * sink.receipt-batches with a KafkaJS producer of its own, so the delivery thread pays neither
 * KafkaJS's per-request work nor the batch's CRC. Messages: see receipt-worker-client.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Partitioners } from 'kafkajs';
import { createKafka, createLogger } from '@cio-pipeline/core';
import { DeadLetterProducer } from './dlq-producer.ts';
import type { ReceiptWorkerSettings, ToWorker } from './receipt-worker-client.ts';

const settings = workerData as ReceiptWorkerSettings;
const port = parentPort!;
const logger = createLogger('sink', settings.logLevel).child({ thread: 'receipts' });

try {
  const kafka = createKafka({ brokers: settings.brokers, clientId: settings.clientId, logger, retry: { initialRetryTime: 100, maxRetryTime: settings.retryMaxMs, retries: 20 } });
  const producer = new DeadLetterProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), logger);
  await producer.connect();
  // One batch at a time, in order: the client's acknowledgements are a prefix of what it sent.
  let chain = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    chain = chain.then(async () => {
      if (msg.type === 'close') {
        await producer.close();
        port.postMessage({ type: 'closed' });
        port.close();
        return;
      }
      try {
        // Values arrive as copies (Uint8Array); no key: a batch holds many customers' receipts.
        const messages = msg.values.map((v) => ({ key: null, value: Buffer.from(v.buffer, v.byteOffset, v.byteLength) }));
        await producer.send({ topic: settings.topic, acks: -1, messages });
        port.postMessage({ type: 'sent', id: msg.id });
      } catch (err) {
        port.postMessage({ type: 'failed', id: msg.id, message: (err as Error).message });
      }
    });
  });
  port.postMessage({ type: 'ready' });
} catch (err) {
  port.postMessage({ type: 'start-failed', message: (err as Error).message, retryable: (err as { retryable?: boolean }).retryable === true });
}

/**
 * The receipts worker (a worker thread of the sink): Avro-encodes delivery receipts and produces them
 * to sink.receipts with a KafkaJS producer of its own. KafkaJS spends ~10 µs of CPU per record it
 * produces, as much as the sink spends delivering an event, so on the delivery thread receipts cost
 * about half the sink's throughput where its CPU sets the pace (bench/sink.bench.ts); here they cost
 * the delivery thread only a structured clone per receipt. Messages: see receipt-worker-client.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Partitioners } from 'kafkajs';
import { AvroSerde, createKafka, createLogger, createRegistry, loadAvroSchema } from '@cio-pipeline/core';
import type { DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';
import { DeadLetterProducer } from './dlq-producer.ts';
import type { ReceiptWorkerSettings, ToWorker } from './receipt-worker-client.ts';

const settings = workerData as ReceiptWorkerSettings;
const port = parentPort!;
const logger = createLogger('sink', settings.logLevel).child({ thread: 'receipts' });

async function start(): Promise<{ serde: AvroSerde<DeliveryReceipt>; producer: DeadLetterProducer }> {
  const registry = createRegistry(settings.registryUrl);
  const serde = new AvroSerde<DeliveryReceipt>({ registry, registryUrl: settings.registryUrl, subject: settings.subject, schema: loadAvroSchema('delivery-receipt') });
  // A registry briefly unavailable at start-up should not cost a crash loop (as for sink.dlq's schema).
  for (let attempt = 1; ; attempt++) {
    try {
      if (settings.autoRegister) await serde.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
      else await serde.init({ register: false });
      break;
    } catch (err) {
      if (attempt >= 6 || (err as { retryable?: boolean }).retryable !== true) throw err;
      logger.warn({ err, attempt }, 'sink.receipts schema unavailable; retrying');
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
  const kafka = createKafka({ brokers: settings.brokers, clientId: settings.clientId, logger, retry: { initialRetryTime: 100, maxRetryTime: settings.retryMaxMs, retries: 20 } });
  const producer = new DeadLetterProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), logger);
  await producer.connect();
  return { serde, producer };
}

try {
  const { serde, producer } = await start();
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
        await producer.send({ topic: settings.topic, acks: -1, messages: msg.receipts.map((r) => ({ key: r.key, value: serde.encode(r.receipt) })) });
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

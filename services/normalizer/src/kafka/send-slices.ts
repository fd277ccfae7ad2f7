import type { Message } from 'kafkajs';

/** Bytes of records per sendBatch, under the broker's 1 MB per record batch even if all go to one partition. */
export const MAX_SEND_BYTES = 768 * 1024;
/**
 * Records per sendBatch. KafkaJS groups a send's records by partition by copying the group for
 * each record (quadratic): 7,000 small changelog records in one send cost more CPU than the
 * extra round trip of cutting them in four.
 */
export const MAX_SEND_RECORDS = 2_000;

type TopicMessages = { topic: string; messages: Message[] };

/** Cuts a transaction's records into sends of at most `maxBytes` (keys and values) and `maxRecords`, order kept. */
export function sendSlices(topicMessages: readonly TopicMessages[], maxBytes: number, maxRecords = MAX_SEND_RECORDS): TopicMessages[][] {
  const slices: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  let count = 0;
  for (const { topic, messages } of topicMessages) {
    let run: Message[] = [];
    for (const m of messages) {
      const size = sizeOf(m.key) + sizeOf(m.value) + 64;
      if ((bytes + size > maxBytes || count === maxRecords) && count > 0) {
        if (run.length > 0) current.push({ topic, messages: run });
        slices.push(current);
        current = [];
        run = [];
        bytes = 0;
        count = 0;
      }
      run.push(m);
      bytes += size;
      count++;
    }
    if (run.length > 0) current.push({ topic, messages: run });
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

function sizeOf(v: Message['key'] | Message['value']): number {
  return v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

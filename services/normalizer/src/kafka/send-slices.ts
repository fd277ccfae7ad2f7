import type { Message } from 'kafkajs';

/**
 * Bytes of one topic's records per send. KafkaJS sends one record batch per partition, and the
 * broker refuses a batch over 1 MB (`max.message.bytes`); a topic's records in one send bound any of
 * its partitions' batches, even if all go to one partition. Other topics' records are other batches.
 */
export const MAX_TOPIC_BYTES_PER_SEND = 768 * 1024;
/** Bytes of records per send, all topics together: one produce request (the broker takes up to 100 MB). */
export const MAX_SEND_BYTES = 4 * 1024 * 1024;
/** What a record adds to its batch beside its key and value (lengths, attributes, deltas, headers), generously. */
const RECORD_OVERHEAD_BYTES = 64;

type TopicMessages = { topic: string; messages: Message[] };

export interface SendLimits {
  topicBytes: number;
  sendBytes: number;
}

/**
 * Cuts a transaction's records into sends, order kept, each topic's share of a send under
 * `topicBytes` and the whole send under `sendBytes`. Each send is one round trip, and a unit's sends
 * go one after another: bounding each topic rather than the send puts a unit's events, audit
 * records and changelogs in one request where the old total bound of 768 KB took two.
 */
export function sendSlices(topicMessages: readonly TopicMessages[], limits: SendLimits = { topicBytes: MAX_TOPIC_BYTES_PER_SEND, sendBytes: MAX_SEND_BYTES }): TopicMessages[][] {
  const slices: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let sendBytes = 0;
  for (const { topic, messages } of topicMessages) {
    let run: Message[] = [];
    let topicBytes = 0;
    for (const m of messages) {
      const size = sizeOf(m.key) + sizeOf(m.value) + RECORD_OVERHEAD_BYTES;
      if (sendBytes > 0 && (topicBytes + size > limits.topicBytes || sendBytes + size > limits.sendBytes)) {
        if (run.length > 0) current.push({ topic, messages: run });
        slices.push(current);
        current = [];
        run = [];
        sendBytes = 0;
        topicBytes = 0;
      }
      run.push(m);
      topicBytes += size;
      sendBytes += size;
    }
    if (run.length > 0) current.push({ topic, messages: run });
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

function sizeOf(v: Message['key'] | Message['value']): number {
  return v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

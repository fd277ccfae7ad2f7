import type { Message } from 'kafkajs';

/** Bytes of records per sendBatch, under the broker's 1 MB per record batch even if all go to one partition. */
export const MAX_SEND_BYTES = 768 * 1024;

type TopicMessages = { topic: string; messages: Message[] };

/** Cuts a transaction's records into sends of at most `maxBytes` (keys and values), order kept. */
export function sendSlices(topicMessages: readonly TopicMessages[], maxBytes: number): TopicMessages[][] {
  const slices: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  for (const { topic, messages } of topicMessages) {
    let run: Message[] = [];
    for (const m of messages) {
      const size = sizeOf(m.key) + sizeOf(m.value) + 64;
      if (bytes + size > maxBytes && bytes > 0) {
        if (run.length > 0) current.push({ topic, messages: run });
        slices.push(current);
        current = [];
        run = [];
        bytes = 0;
      }
      run.push(m);
      bytes += size;
    }
    if (run.length > 0) current.push({ topic, messages: run });
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

function sizeOf(v: Message['key'] | Message['value']): number {
  return v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

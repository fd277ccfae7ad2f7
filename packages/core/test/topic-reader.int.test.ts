/**
 * readTopicToEnd through the real broker: it ends when the consumer's position reaches each
 * partition's end measured at start, so it neither stops one record short nor on a quiet period.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readTopicToEnd } from '../src/topic-reader.ts';
import { createTestTopics, testKafka, uniqueName } from '../../../test/support/kafka.ts';

const kafka = testKafka();
const cleanups: Array<() => Promise<void>> = [];
/** Two of these do not fit in one fetch (1 MB per partition). */
const big = (tag: string): string => tag + 'x'.repeat(600 * 1024);

afterAll(async () => {
  for (const c of cleanups) await c();
});

async function topic(): Promise<string> {
  const name = uniqueName('read-to-end');
  cleanups.push(await createTestTopics(kafka, [{ topic: name, partitions: 1 }]));
  return name;
}

async function readAll(name: string, onMessage?: (value: string) => Promise<void>): Promise<string[]> {
  const values: string[] = [];
  const read = await readTopicToEnd(kafka, name, async (m) => {
    const value = m.value?.toString('utf8') ?? '';
    await onMessage?.(value);
    values.push(value.slice(0, 20));
  });
  expect(read).toBe(values.length);
  return values;
}

describe('readTopicToEnd', () => {
  it('reads the last record of a non-transactional topic when a fetch stops one record short of it', async () => {
    // Regression: the read counted a partition done at "last offset + 2 >= end". A fetch is cut at
    // 1 MB per partition: here it brings offsets 0 and 1, and offset 2 needs a second fetch.
    const name = await topic();
    const producer = kafka.producer();
    await producer.connect();
    for (const value of ['small', big('big-1'), big('big-2')]) await producer.send({ topic: name, acks: -1, messages: [{ value }] });
    await producer.disconnect();
    const values = await readAll(name);
    expect(values.map((v) => v.replace(/x+$/, ''))).toEqual(['small', 'big-1', 'big-2']);
  });

  it('ends behind committed and aborted transactions, and not while the caller pauses longer than a quiet period', async () => {
    const name = await topic();
    const producer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // The second transaction's record comes in a later fetch than the first's.
    for (const batch of [['a', big('b')], [big('c')]]) {
      const tx = await producer.transaction();
      await tx.send({ topic: name, acks: -1, messages: batch.map((value) => ({ value })) });
      await tx.commit();
    }
    const aborted = await producer.transaction();
    await aborted.send({ topic: name, acks: -1, messages: [{ value: 'never' }, { value: 'seen' }] });
    await aborted.abort();
    await producer.disconnect();
    // The caller stalls for longer than the old 3 s quiet period on the first record.
    const values = await readAll(name, async (v) => {
      if (v === 'a') await new Promise((r) => setTimeout(r, 3_500));
    });
    expect(values.map((v) => v.replace(/x+$/, ''))).toEqual(['a', 'b', 'c']);
  });

  it('leaves records written after the read began for the next read', async () => {
    const name = await topic();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: name, acks: -1, messages: [{ value: 'before-1' }, { value: 'before-2' }] });
    const values = await readAll(name, async (v) => {
      if (v === 'before-1') await producer.send({ topic: name, acks: -1, messages: [{ value: 'after' }] });
    });
    await producer.disconnect();
    expect(values).toEqual(['before-1', 'before-2']);
  });

  it('fails loudly when the caller fails, instead of retrying the batch forever', async () => {
    const name = await topic();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: name, acks: -1, messages: [{ value: 'one' }] });
    await producer.disconnect();
    await expect(readTopicToEnd(kafka, name, () => { throw new Error('cannot handle it'); })).rejects.toThrow('cannot handle it');
  });
});

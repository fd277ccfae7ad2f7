import type { Consumer, Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@cio-pipeline/core';
import { ChangelogTables } from '../src/kafka/changelog-tables.ts';
import { TransactionalProcessor, type ProcessorOptions } from '../src/kafka/transactional-processor.ts';

/**
 * A consumer KafkaJS gives up on (CRASH with restart=false) never consumes again. The normalizer
 * must then end (main.ts exits non-zero for the supervisor) instead of staying alive and never
 * ready; a crash KafkaJS restarts itself is left to KafkaJS. No broker: a stand-in for the few
 * consumer calls made, and the CRASH event as KafkaJS emits it. Also here: what a join starts.
 */
type Listener = (e: { payload: Record<string, unknown> }) => void;

interface Seek { topic: string; partition: number; offset: string }

function fakeKafka(): { kafka: Kafka; emit: (event: string, payload: Record<string, unknown>) => void; connected: string[]; seeks: Seek[]; disconnects: () => number } {
  const listeners = new Map<string, Listener[]>();
  /** Transactional ids of the producers connected. */
  const connected: string[] = [];
  const seeks: Seek[] = [];
  let disconnects = 0;
  const consumer = {
    events: { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join', END_BATCH_PROCESS: 'consumer.end_batch_process' },
    on: (event: string, listener: Listener) => {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return () => undefined;
    },
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async () => undefined,
    seek: (seek: Seek) => void seeks.push(seek),
    disconnect: async () => void disconnects++,
  } as unknown as Consumer;
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    deleteGroups: async () => undefined,
    fetchTopicOffsets: async () => [], // empty changelogs: the restore is done at once
  };
  const producer = (config: { transactionalId: string }) => ({
    connect: async () => void connected.push(config.transactionalId),
    disconnect: async () => undefined,
  });
  const kafka = { consumer: () => consumer, admin: () => admin, producer } as unknown as Kafka;
  const emit = (event: string, payload: Record<string, unknown>): void => {
    for (const l of listeners.get(event) ?? []) l({ payload });
  };
  return { kafka, emit, connected, seeks, disconnects: () => disconnects };
}

const logger = createLogger('consumer-crash-test', 'silent');

describe('normalizer consumers that KafkaJS gives up on', () => {
  it('the transactional processor reports not ready and calls onFatal only for a crash KafkaJS will not restart', async () => {
    const { kafka, emit } = fakeKafka();
    const fatal: Error[] = [];
    const processor = new TransactionalProcessor({
      kafka, groupId: 'g', topics: { raw: ['raw.app'], canonical: 'c', quarantine: 'q', conflicts: 'x' }, logger,
      maxRecordsPerTransaction: 500, sweepIntervalMs: 60_000, catchUpTimeoutMs: 1_000,
      onFatal: (err: Error) => fatal.push(err),
    } as unknown as ProcessorOptions);
    await processor.start();
    emit('consumer.group_join', { memberAssignment: { 'raw.app': [0] } });
    expect(processor.isReady()).toBe(true);

    // Retriable: KafkaJS restarts the runner and the next join makes it ready again.
    emit('consumer.crash', { error: new Error('retriable'), restart: true });
    expect(processor.isReady()).toBe(false);
    expect(fatal).toEqual([]);
    emit('consumer.group_join', { memberAssignment: { 'raw.app': [0] } });
    expect(processor.isReady()).toBe(true);

    const error = new Error('not retriable');
    emit('consumer.crash', { error, restart: false });
    expect(processor.isReady()).toBe(false);
    expect(fatal).toEqual([error]);
    await processor.stop();

    // A crash reported while stopping is not a reason to exit non-zero.
    emit('consumer.crash', { error: new Error('after stop'), restart: false });
    expect(fatal).toHaveLength(1);
  });

  it('each newly assigned partition\'s transactional producer starts at assignment, before any record', async () => {
    const { kafka, emit, connected } = fakeKafka();
    const processor = new TransactionalProcessor({
      kafka, groupId: 'g', topics: { raw: ['raw.app', 'raw.shopify'], canonical: 'c', quarantine: 'q', conflicts: 'x' }, logger,
      maxRecordsPerTransaction: 500, sweepIntervalMs: 60_000, catchUpTimeoutMs: 1_000,
    } as unknown as ProcessorOptions);
    await processor.start();
    emit('consumer.group_join', { memberAssignment: { 'raw.app': [0, 2], 'raw.shopify': [1] } });
    await new Promise((r) => setImmediate(r));
    expect(connected.toSorted()).toEqual(['g-raw.app:0', 'g-raw.app:2', 'g-raw.shopify:1']);
    // A rebalance that keeps two and adds one starts only the new one.
    emit('consumer.group_join', { memberAssignment: { 'raw.app': [0, 1, 2] } });
    await new Promise((r) => setImmediate(r));
    expect(connected.toSorted()).toEqual(['g-raw.app:0', 'g-raw.app:1', 'g-raw.app:2', 'g-raw.shopify:1']);
    await processor.stop();
  });

  it('the changelog tail calls onFatal for a crash after the restore, not for one KafkaJS restarts', async () => {
    const { kafka, emit } = fakeKafka();
    const fatal: Error[] = [];
    const tables = new ChangelogTables({
      kafka, topics: { identity: 'i', dedupe: 'd', journey: 'j' }, instanceId: 'a', groupId: 'g', logger,
      onFatal: (err) => fatal.push(err),
    });
    await tables.restore(() => undefined, { timeoutMs: 1_000 });
    emit('consumer.crash', { error: new Error('retriable'), restart: true });
    expect(fatal).toEqual([]);
    const error = new Error('not retriable');
    emit('consumer.crash', { error, restart: false });
    expect(fatal).toEqual([error]);
    await tables.stop();
  });

  it('the changelog tail seeks at every join to where it was, since KafkaJS forgets it there', async () => {
    const { kafka, emit, seeks } = fakeKafka();
    const tables = new ChangelogTables({ kafka, topics: { identity: 'i', dedupe: 'd', journey: 'j' }, instanceId: 'a', groupId: 'g', logger });
    await tables.restore(() => undefined, { timeoutMs: 1_000, from: new Map([['i:0', 5n], ['d:1', 7n]]) });
    emit('consumer.group_join', { memberAssignment: { i: [0, 1], d: [1] } });
    // Partitions never read start where KafkaJS starts them (the beginning): no seek.
    expect(seeks).toEqual([{ topic: 'i', partition: 0, offset: '5' }, { topic: 'd', partition: 1, offset: '7' }]);
    // A restart after a crash, or a rejoin: the same again.
    emit('consumer.crash', { error: new Error('retriable'), restart: true });
    emit('consumer.group_join', { memberAssignment: { i: [0, 1], d: [1] } });
    expect(seeks).toHaveLength(4);
    await tables.stop();
  });

  it('the changelog tail, once stopped, cancels the restart KafkaJS arms for a crash', async () => {
    const { kafka, emit, disconnects } = fakeKafka();
    const tables = new ChangelogTables({ kafka, topics: { identity: 'i', dedupe: 'd', journey: 'j' }, instanceId: 'a', groupId: 'g', logger });
    await tables.restore(() => undefined, { timeoutMs: 1_000 });
    await tables.stop();
    expect(disconnects()).toBe(1);
    emit('consumer.crash', { error: new Error('retriable'), restart: true });
    await new Promise((r) => setImmediate(r));
    expect(disconnects()).toBe(2);
  });
});

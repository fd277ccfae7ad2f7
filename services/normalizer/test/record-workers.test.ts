/**
 * The record worker pool on its own, without a registry: records that are not in the registry's
 * wire format are quarantined by the workers (no registry call), so their results show that bytes,
 * keys and offset order survive the trip; a wire-format record whose schema cannot be fetched shows
 * that a registry outage comes back as a retryable SerdeError; a worker killed with records in hand
 * fails that chunk and is replaced.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { SerdeError, createLogger } from '@cio-pipeline/core';
import { loadServiceConfig } from '../src/service-config.ts';
import { RecordWorkerCrashedError, RecordWorkerPool } from '../src/stages/record-workers.ts';
import { PLAN_PATH } from './helpers.ts';

const logger = createLogger('test', 'silent');
// A loopback port nothing listens on: a registry that is down.
const config = loadServiceConfig({ NORMALIZER_TRACKING_PLAN: PLAN_PATH, SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9/apis/ccompat/v7' });
const setup = { stages: config.stages, registryUrl: config.registryUrl, topicPrefix: '', logLevel: 'silent' };

function message(offset: number, value: Buffer | null, key: string | null = `k${offset}`): KafkaMessage {
  return { offset: String(offset), key: key === null ? null : Buffer.from(key), value, timestamp: '0', attributes: 0, headers: {} } as KafkaMessage;
}

let pool: RecordWorkerPool | null = null;
afterEach(async () => {
  await pool?.close();
  pool = null;
});

describe('record workers', () => {
  it('returns one result per record in offset order across workers, with each record\'s own bytes and key', async () => {
    pool = new RecordWorkerPool(2, setup, logger);
    await pool.ready();
    const messages = Array.from({ length: 101 }, (_, i) => message(1000 + i, i === 50 ? null : Buffer.from(`not avro ${i}`), i === 7 ? null : `k${i}`));
    const results = await pool.run('raw.app', 2, messages);
    expect(results).toHaveLength(100); // the tombstone carries no event
    const expected = messages.filter((m) => m.value !== null);
    results.forEach((r, i) => {
      const m = expected[i]!;
      expect(r.at).toEqual({ topic: 'raw.app', partition: 2, offset: m.offset, key: m.key });
      expect(r.source).toBeNull();
      expect(Buffer.isBuffer(r.quarantined!.original)).toBe(true);
      expect(r.quarantined!.original.toString()).toBe(m.value!.toString());
      expect(r.quarantined!.at).toEqual(r.at);
      expect(r.quarantined!.verdict.reasons.map((x) => x.code)).toEqual(['corrupt_record']);
    });
  });

  it('gives a registry outage in a worker back as a retryable SerdeError', async () => {
    pool = new RecordWorkerPool(1, setup, logger);
    const wire = Buffer.from([0, 0, 0, 0, 42, 2, 3]); // magic byte, schema id 42, a body
    const err = await pool.run('raw.app', 0, [message(1, wire)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerdeError);
    expect(err).toMatchObject({ code: 'SERDE_SCHEMA_UNAVAILABLE', retryable: true });
  });

  it('fails the chunk a killed worker held, and runs the next one on a new worker', async () => {
    pool = new RecordWorkerPool(1, setup, logger);
    const messages = Array.from({ length: 2000 }, (_, i) => message(i, Buffer.from(`not avro ${i}`)));
    // Still building its stages when it is killed: it cannot have answered.
    const running = pool.run('raw.app', 0, messages);
    const killed = pool.threads()[0]!;
    await killed.terminate();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordWorkerCrashedError);
    expect(err).toMatchObject({ code: 'RECORD_WORKER_CRASHED', retryable: true });
    await expect.poll(() => pool!.threads()[0] !== killed, { timeout: 10_000 }).toBe(true);
    const again = await pool.run('raw.app', 0, messages);
    expect(again.map((r) => r.at.offset)).toEqual(messages.map((m) => m.offset));
  });
});

/** Per-test Kafka resources: random topics and groups, cleaned up after the test. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createKafka, createLogger, ensureTopics, type Kafka, type TopicSpec } from '@cio-pipeline/core';

export function stackInfo(): { brokers: string; registryUrl: string } {
  return inject('stack');
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export const quietLogger = createLogger('test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

export function testKafka(clientId = uniqueName('test')): Kafka {
  return createKafka({ brokers: stackInfo().brokers.split(','), clientId, logger: quietLogger });
}

/** Creates topics for one test and returns a function that deletes them. */
export async function createTestTopics(kafka: Kafka, specs: TopicSpec[]): Promise<() => Promise<void>> {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, specs);
  await admin.disconnect();
  return async () => {
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: specs.map((s) => s.topic) }).catch(() => undefined);
    await cleanup.disconnect();
  };
}

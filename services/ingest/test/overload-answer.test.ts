import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { KafkaUnavailableError } from '../src/errors.ts';
import type { RawRecord } from '../src/raw-writer.ts';
import { FakeWriter, startHarness, type Harness } from './helpers.ts';

/** Refuses its first `failures` writes as Kafka being unavailable, then accepts. */
class FlakyWriter extends FakeWriter {
  private failures: number;
  constructor(failures: number) {
    super();
    this.failures = failures;
  }
  override async write(records: RawRecord[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      this.calls++;
      throw new KafkaUnavailableError('broker down');
    }
    return super.write(records);
  }
}

let h: Harness;
const writer = new FlakyWriter(1);
beforeAll(async () => {
  h = await startHarness({ retryAfterS: 1 }, { writer });
});
afterAll(() => h.close());

describe('the overload answer the real analytics-node honours', () => {
  it('a 429 with Retry-After is retried after the wait even with maxRetries 0, so the event lands', async () => {
    // With maxRetries 0, analytics-node drops a batch answered 503 at once; a 429 with Retry-After
    // is retried without counting against maxRetries.
    const analytics = new Analytics({ writeKey: 'wk_ios_123', host: h.url, flushAt: 1, maxRetries: 0 });
    const errors: unknown[] = [];
    analytics.on('error', (err) => errors.push(err));
    analytics.track({ userId: 'u-429', event: 'Product Viewed', messageId: 'm-429', properties: { sku: 'S1' } });
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);
    expect(writer.calls).toBe(2);
    expect(writer.written.map((r) => (r.value as RawAppMessage).message_id)).toEqual(['m-429']);
    const metrics = await h.metrics.registry.metrics();
    expect(metrics).toMatch(/ingest_requests_total\{source="app",status="429",reason="kafka_unavailable"\} 1/);
  });
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { BatchSender, ItemResult } from '../src/cio-client.ts';
import type { DeliveryItem } from '../src/mapping.ts';
import type { SinkRecord } from '../src/key-ordered-dispatcher.ts';

/** One sample of a service's /metrics (shared by every service's tests). */
export { metricValue } from '../../../test/support/metrics.ts';

let seq = 0;

/** A valid-looking ULID that encodes a counter, so tests can read back which event it was. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export function ulid(n: number): string {
  let out = '';
  for (let v = n; out.length < 23; v = Math.floor(v / 32)) out = CROCKFORD[v % 32]! + out;
  return `01J${out}`;
}

export function makeEvent(overrides: Partial<CanonicalEvent> = {}): CanonicalEvent {
  seq++;
  return {
    event_id: ulid(seq),
    kind: 'event',
    name: 'product_viewed',
    customer_id: 'cust-1',
    anonymous_id: null,
    email: null,
    occurred_at: 1_700_000_000_123,
    received_at: 1_700_000_001_000,
    source: 'app',
    source_event_id: `src-${seq}`,
    source_type: 'track',
    tracking_version: '1',
    schema_version: 1,
    tier: 2,
    validation_warnings: [],
    commerce: null,
    properties: {},
    attributes: {},
    merge: null,
    ...overrides,
  };
}

/** Records with their key and a `seq` property the fake senders read back. */
export function makeRecord(partition: number, offset: number, key: string, extra: Partial<CanonicalEvent> = {}): SinkRecord {
  const event = makeEvent({ customer_id: key, properties: { seq: offset, key }, ...extra });
  return { topic: 'events.canonical', partition, offset: String(offset), key, event, raw: Buffer.from(JSON.stringify(event)) };
}

/** Parses what a v2 item carries back into (key, seq). */
export function itemInfo(item: DeliveryItem): { key: string; seq: number; json: Record<string, unknown> } {
  const json = JSON.parse(item.json) as { attributes?: { key?: string; seq?: number } };
  return { key: String(json.attributes?.key), seq: Number(json.attributes?.seq), json: json as Record<string, unknown> };
}

/**
 * A fake Customer.io that checks the dispatcher's promises as it goes: no batch holds two items of
 * one key, and no key has two items in flight at once.
 */
export class FakeSender implements BatchSender {
  readonly delivered = new Map<string, number[]>();
  readonly batches: DeliveryItem[][] = [];
  readonly violations: string[] = [];
  private readonly inFlight = new Set<string>();
  decide: (item: DeliveryItem, attempt: number) => ItemResult = () => ({ ok: true });
  latency: () => Promise<void> = () => Promise.resolve();
  private readonly attempts = new Map<string, number>();

  async sendBatch(items: readonly DeliveryItem[]): Promise<ItemResult[]> {
    this.batches.push([...items]);
    const keys = items.map((i) => itemInfo(i).key);
    if (new Set(keys).size !== keys.length) this.violations.push(`batch with duplicate keys: ${keys.join(',')}`);
    for (const k of keys) {
      if (this.inFlight.has(k)) this.violations.push(`key ${k} sent while in flight`);
      this.inFlight.add(k);
    }
    await this.latency();
    const results = items.map((item) => {
      const n = (this.attempts.get(item.json) ?? 0) + 1;
      this.attempts.set(item.json, n);
      const r = this.decide(item, n);
      if (r.ok) {
        const { key, seq: s } = itemInfo(item);
        const list = this.delivered.get(key) ?? [];
        list.push(s);
        this.delivered.set(key, list);
      }
      return r;
    });
    for (const k of keys) this.inFlight.delete(k);
    return results;
  }
}

export type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>;

/** A loopback HTTP server the test controls. */
export async function startServer(handler: Handler): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void Promise.resolve(handler(req, Buffer.concat(chunks).toString('utf8'), res)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


/**
 * Avro encoding in the registry wire format, as every service writes each record (AvroSerde.encode):
 * today's encoder (one scratch buffer, the exact bytes copied out once) against the way it encoded
 * before, in the same process: avsc's toBuffer (a fresh zero-filled buffer per record), then a copy
 * behind the 5-byte header. Three record shapes: a browse event, an order with line items, an audit
 * record. Both ways must write the same bytes (checked first).
 *
 *   node bench/serde.bench.ts
 *
 * Env: BENCH_SERDE_RECORDS (200000 per round), BENCH_SERDE_ROUNDS (5, the two encoders' rounds interleaved; the best of each counts).
 * Prints `RESULT {json}`; writes bench/results/serde.md. No broker or registry needed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { AvroSerde, avroType, loadAvroSchema, type SchemaName } from '@cio-pipeline/core';
import type { AuditRecord, CanonicalEvent, LineItem } from '@cio-pipeline/core/generated/avro-types';

const RECORDS = Number(process.env['BENCH_SERDE_RECORDS'] ?? 200_000);
const ROUNDS = Number(process.env['BENCH_SERDE_ROUNDS'] ?? 5);
const SCHEMA_ID = 42;

const browse: CanonicalEvent = {
  event_id: '01JDX0000000000000000000AB', kind: 'event', name: 'product_viewed', customer_id: 'cust-10442', anonymous_id: 'anon-5f3c9a1e',
  email: 'shopper@example.com', occurred_at: 1_764_700_000_000, received_at: 1_764_700_000_050, source: 'app', source_event_id: 'm-000123',
  source_type: 'track', tracking_version: '1.0.0', schema_version: 1, tier: 2, validation_warnings: [], commerce: null,
  properties: { sku: 'TEA-EARL-100', url: 'https://shop.example.com/products/earl-grey', category: 'tea' }, attributes: {}, merge: null,
};

const item = (n: number): LineItem => ({
  product_id: `prod-${n}`, variant_id: `var-${n}`, sku: `TEA-${n}`, name: 'Earl Grey, loose leaf, 100 g', price: 12.5, quantity: 2,
  category: 'tea', subscription_eligible: true, brand: 'Example Teas', variant: '100 g', coupon: null, position: n, url: `https://shop.example.com/p/${n}`, image_url: null,
});

/** An order of three line items. */
const order: CanonicalEvent = {
  ...browse, name: 'order_completed', tier: 1, properties: {},
  commerce: {
    order_id: '5904832711894301745', checkout_id: 'chk-88123', cart_id: null, product_id: null, variant_id: null, sku: null, subscription_id: null,
    charge_id: null, price: null, quantity: null, value: 57.5, total: 57.5, subtotal: 50, tax: 4, discount: 0, currency: 'USD', revenue: 50,
    shipping: 3.5, coupon: null, items: [item(1), item(2), item(3)],
  },
};

function stubRegistry(): SchemaRegistry {
  return { getRegistryIdBySchema: async () => SCHEMA_ID } as unknown as SchemaRegistry;
}

async function serdeFor<T>(schemaName: SchemaName): Promise<AvroSerde<T>> {
  const serde = new AvroSerde<T>({ registry: stubRegistry(), registryUrl: 'http://127.0.0.1:1', subject: `${schemaName}-value`, schema: loadAvroSchema(schemaName) });
  await serde.init({ register: false });
  return serde;
}

/** How AvroSerde.encode wrote a record before: toBuffer, then a second buffer with the header. */
function previousEncode(type: ReturnType<typeof avroType>, value: unknown): Buffer {
  const body = type.toBuffer(value);
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = 0;
  out.writeInt32BE(SCHEMA_ID, 1);
  body.copy(out, 5);
  return out;
}

/** Best ns per record of each encoder, their rounds interleaved so a noisy spell hits both. */
function bestOfRounds(previous: () => Buffer, current: () => Buffer): { previousNs: number; currentNs: number } {
  const best = { previousNs: Infinity, currentNs: Infinity };
  const time = (encode: () => Buffer): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < RECORDS; i++) encode();
    return Number(process.hrtime.bigint() - started) / RECORDS;
  };
  for (let round = 0; round < ROUNDS; round++) {
    best.previousNs = Math.min(best.previousNs, time(previous));
    best.currentNs = Math.min(best.currentNs, time(current));
  }
  return best;
}

const canonicalSerde = await serdeFor<CanonicalEvent>('canonical-event');
const auditSerde = await serdeFor<AuditRecord>('audit-record');
const auditType = avroType(loadAvroSchema('audit-record'));
const audit: AuditRecord = {
  audited_at: 1_764_700_000_100, source: 'app', source_topic: 'raw.app-events', source_partition: 2, source_offset: '1048576',
  source_event: 'm-000123', event_name: 'product_viewed', occurred_at: 1_764_700_000_000, outcome: 'emitted', reasons: [],
  event_ids: ['01JDX0000000000000000000AB'], customer_key: 'cust-10442', held_until: null,
  identifiers: [{ type: 'customer_id', value: 'cust-10442' }, { type: 'anonymous_id', value: 'anon-5f3c9a1e' }, { type: 'email', value: 'shopper@example.com' }],
};
const cases = [
  { shape: 'browse event', serde: canonicalSerde, type: avroType(loadAvroSchema('canonical-event')), value: browse },
  { shape: 'order event', serde: canonicalSerde, type: avroType(loadAvroSchema('canonical-event')), value: order },
  { shape: 'audit record', serde: auditSerde as AvroSerde<unknown>, type: auditType, value: audit },
];

const rows: Array<{ shape: string; bytes: number; previousNs: number; currentNs: number; ratio: number }> = [];
for (const c of cases) {
  const current = (c.serde as AvroSerde<unknown>).encode(c.value);
  if (!current.equals(previousEncode(c.type, c.value))) throw new Error(`${c.shape}: the two encoders wrote different bytes`);
  const { previousNs, currentNs } = bestOfRounds(() => previousEncode(c.type, c.value), () => (c.serde as AvroSerde<unknown>).encode(c.value));
  rows.push({ shape: c.shape, bytes: current.length, previousNs, currentNs, ratio: previousNs / currentNs });
}

for (const r of rows) process.stdout.write(`RESULT ${JSON.stringify({ variant: r.shape, ...r })}\n`);
const md = [
  `Run ${new Date().toISOString()} on Node ${process.version}, ${os.cpus().length} CPUs; ${RECORDS} records per round, best of ${ROUNDS} rounds, both encoders in the same process.`,
  '',
  '| record | bytes | toBuffer then copy, ns | AvroSerde.encode, ns | speed-up |',
  '|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.shape} | ${r.bytes} | ${r.previousNs.toFixed(0)} | ${r.currentNs.toFixed(0)} | ${r.ratio.toFixed(2)}x |`),
  '',
].join('\n');
process.stdout.write(`\n${md}`);
await mkdir(new URL('results/', import.meta.url), { recursive: true });
await writeFile(new URL('results/serde.md', import.meta.url), md);

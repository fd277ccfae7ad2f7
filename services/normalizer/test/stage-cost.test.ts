import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avroType, loadAvroSchema } from '@cio-pipeline/core';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { BotFilter } from '../src/stages/bot-filter.ts';
import {
  flattenUntyped, toBoolean, toCurrency, toEmail, toIdString, toInteger, toLineItems, toNumber, toPlainString, toTimestampMs,
} from '../src/stages/coerce.ts';
import { parseJsonLossless } from '../src/stages/json.ts';
import { foldName } from '@cio-pipeline/core';
import type { StatelessInput } from '../src/stages/stateless.ts';
import { pipeline, plan, RECEIVED_AT, rechargeInput, shopifyInput } from './helpers.ts';

/**
 * Issue #13: the stateless stages on attacker-controlled input (runs of '.', '@' and whitespace,
 * U+FDFA, deep nesting, huge numbers), every message up to ingest's 32 KB limit:
 * - they never throw, and what they accept always encodes as a canonical event;
 * - they cost at most 5 ms of CPU per KB of input at the 99.9th percentile.
 *
 * CPU is process.cpuUsage around each call, the cheapest of three runs per input, over a thousand
 * inputs, judged at the percentile, so that a garbage collection on a loaded machine does not decide
 * the verdict. Measured: the stages' 99.9th percentile is under 0.3 ms/KB end to end and under
 * 0.7 ms/KB per field step (NFKC folding of U+FDFA is the dearest); the old quadratic email regex
 * put the field steps' percentile at 40-55 ms/KB.
 */

const MAX_MESSAGE_BYTES = 32 * 1024;
const CPU_MS_PER_KB = 5;
/** Messages under a KB are judged as one KB: the budget is per byte, not per call overhead. */
const MIN_KB = 1;

const RUN_UNITS = ['.', '@', ' ', '\t', '\n', '\u00a0', '\u3000', '\u2028', '\uFDFA', 'a', 'Z', '0', '9', '_', '-', '"', '\\', '[', '{', '\u00e9', '\u{1F600}'];

/** Runs of hostile characters, concatenated, at most `max` UTF-16 units. */
const hostileString = (max: number): fc.Arbitrary<string> =>
  fc.array(fc.tuple(fc.constantFrom(...RUN_UNITS), fc.integer({ min: 1, max })), { minLength: 1, maxLength: 5 })
    .map((runs) => runs.map(([unit, n]) => unit.repeat(n)).join('').slice(0, max));

/** The shapes the old code was slow or broken on, as JSON text. */
const craftedJson = (max: number): fc.Arbitrary<string> => fc.oneof(
  fc.integer({ min: 1, max }).map((n) => JSON.stringify(`a@${'.'.repeat(n)}@`)),
  fc.integer({ min: 1, max }).map((n) => JSON.stringify(`${'@'.repeat(n)}.`)),
  fc.integer({ min: 1, max }).map((n) => JSON.stringify('\uFDFA'.repeat(Math.ceil(n / 3)))),
  fc.integer({ min: 1, max: Math.max(1, Math.floor(max / 2)) }).map((d) => `${'['.repeat(d)}1${']'.repeat(d)}`),
);

/** Any JSON value an attacker might put in a field, as JSON text. */
const hostileJson = (max: number): fc.Arbitrary<string> => fc.oneof(
  { arbitrary: hostileString(max).map((s) => JSON.stringify(s)), weight: 4 },
  { arbitrary: craftedJson(max), weight: 4 },
  { arbitrary: fc.integer({ min: 1, max }).map((n) => '9'.repeat(n)), weight: 1 }, // integers of thousands of digits
  { arbitrary: fc.integer({ min: 1, max: 999_999 }).map((e) => `1e${e}`), weight: 1 }, // out of double range
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), weight: 1 },
  { arbitrary: fc.constantFrom('null', 'true', '{}', '[]', '""'), weight: 1 },
);

/** Field values: one field gets the big budget, the others stay small, so the message fits 32 KB. */
const fields = (count: number): fc.Arbitrary<string[]> =>
  fc.tuple(fc.nat({ max: count - 1 }), fc.array(hostileJson(64), { minLength: count, maxLength: count }), hostileJson(30_000))
    .map(([big, small, huge]) => small.map((v, i) => (i === big ? huge : v)));

const appEnvelope = (body: string, type: string, userAgent: string): RawAppMessage => ({
  ingest_id: 'ing-p', received_at: RECEIVED_AT, write_key_id: 'store-app', type, message_id: 'm-p', message_id_generated: false,
  timestamp: null, sent_at: null, ip: '198.51.100.9', user_agent: userAgent, body: Buffer.from(body), rejection: null,
});

const appMessage: fc.Arbitrary<StatelessInput> = fc.tuple(
  fc.constantFrom('track', 'identify', 'page', 'screen', 'alias', 'group'),
  fields(9),
  fc.array(fc.tuple(hostileString(200), hostileJson(64)), { maxLength: 4 }),
).map(([type, [event, userId, anonymousId, email, ua, timestamp, createdAt, name, sku], extra]) => {
  const props = [`"sku":${sku}`, `"price":${name}`, ...extra.map(([k, v]) => `${JSON.stringify(k)}:${v}`)].join(',');
  const body = `{"type":"${type}","messageId":"m-p","event":${event},"userId":${userId},"anonymousId":${anonymousId},`
    + `"timestamp":${timestamp},"previousId":${anonymousId},"context":{"userAgent":${ua},"ip":${ua},"traits":{"email":${email}}},`
    + `"traits":{"email":${email},"created_at":${createdAt},"first_name":${name},"verified_email":${name}},"properties":{${props}}}`;
  const envelope = appEnvelope(body, type, 'curl/8.5.0');
  return { source: 'app', envelope, schemaVersion: 1, coordinates: { topic: 'raw.app', partition: 0, offset: '0', key: null }, receivedAt: RECEIVED_AT };
});

const shopifyOrder: fc.Arbitrary<StatelessInput> = fields(10).map(([id, email, total, currency, sku, title, price, quantity, ua, createdAt]) =>
  shopifyInput('orders/create', `{"id":${id},"email":${email},"total_price":${total},"currency":${currency},"created_at":${createdAt},`
    + `"customer":{"id":${id},"email":${email}},"client_details":{"user_agent":${ua},"browser_ip":${ua}},`
    + `"line_items":[{"sku":${sku},"title":${title},"price":${price},"quantity":${quantity},"product_id":${id}}]}`));

const rechargeCharge: fc.Arbitrary<StatelessInput> = fields(7).map(([id, email, total, currency, sku, price, createdAt]) =>
  rechargeInput('charge/paid', `{"charge":{"id":${id},"email":${email},"total_price":${total},"currency":${currency},"processed_at":${createdAt},`
    + `"customer":{"id":${id},"email":${email}},"line_items":[{"sku":${sku},"price":${price},"quantity":1}]}}`));

const anyInput = fc.oneof(appMessage, shopifyOrder, rechargeCharge).filter((input) => input.envelope.body.length <= MAX_MESSAGE_BYTES);

const stages = pipeline();
const canonical = avroType(loadAvroSchema('canonical-event'));

/**
 * The cheapest of three runs: the work is deterministic, so the minimum is its cost and a
 * garbage collection or JIT pause that lands on one run is not (a quadratic regex is slow on all).
 */
function cpuMsPerKb(input: StatelessInput): number {
  const kb = Math.max(MIN_KB, input.envelope.body.length / 1024);
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = process.cpuUsage();
    stages.process(input);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best / kb;
}

/** Each field-level step a stage runs on a raw value, fed one hostile value directly. */
const botFilter = new BotFilter(plan.botFilter, { ipRanges: ['10.0.0.0/8'], emailDomains: ['tea-example.com'], dropTier1: false });
const FIELD_STEPS: ReadonlyArray<readonly [string, (raw: string) => unknown]> = [
  ['toEmail', toEmail], ['toIdString', toIdString], ['toNumber', toNumber], ['toInteger', toInteger], ['toBoolean', toBoolean],
  ['toTimestampMs', toTimestampMs], ['toCurrency', toCurrency], ['toPlainString', toPlainString], ['foldName', foldName],
  ['resolveEventName', (raw) => plan.resolveEventName(raw)], ['resolvePropertyName', (raw) => plan.resolvePropertyName('order_completed', raw)],
  ['classify', (raw) => botFilter.classify({ ip: raw, userAgent: raw, email: raw })],
  ['parse+flatten', (raw) => flattenUntyped('p', parseJsonLossless(`{"v":${JSON.stringify(raw)},"n":[${/^[1-9][0-9]*$/.test(raw) ? raw : 0}]}`), {})],
  ['toLineItems', (raw) => toLineItems([{ sku: raw, name: raw, price: raw, quantity: raw, position: raw, url: raw }])],
];

const fieldValue: fc.Arbitrary<string> = fc.oneof(
  hostileString(MAX_MESSAGE_BYTES),
  fc.integer({ min: 1, max: MAX_MESSAGE_BYTES - 3 }).map((n) => `a@${'.'.repeat(n)}@`),
  fc.integer({ min: 1, max: MAX_MESSAGE_BYTES - 3 }).map((n) => `${'@'.repeat(n)}.x`),
  fc.integer({ min: 1, max: Math.floor(MAX_MESSAGE_BYTES / 3) }).map((n) => '\uFDFA'.repeat(n)),
  fc.integer({ min: 1, max: MAX_MESSAGE_BYTES }).map((n) => '9'.repeat(n)),
).filter((v) => Buffer.byteLength(v) <= MAX_MESSAGE_BYTES);

function stepCpuMsPerKb(step: (raw: string) => unknown, raw: string): number {
  const kb = Math.max(MIN_KB, Buffer.byteLength(raw) / 1024);
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = process.cpuUsage();
    step(raw);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best / kb;
}

describe('stateless stages on hostile input (#13)', () => {
  it('never throw, and every event they accept encodes as a canonical event', () => {
    fc.assert(fc.property(anyInput, (input) => {
      const out = stages.process(input);
      for (const c of out.candidates) canonical.toBuffer(c.event);
      for (const r of out.quarantine?.reasons ?? []) expect(r.message.length).toBeLessThan(1_000);
    }), { numRuns: 400 });
  });

  it(`cost at most ${CPU_MS_PER_KB} ms of CPU per KB at the 99.9th percentile`, () => {
    const seed = Date.now();
    const inputs = fc.sample(anyInput, { numRuns: 1_000, seed });
    for (const input of inputs.slice(0, 200)) stages.process(input); // warm the JIT first
    const costs = inputs.map(cpuMsPerKb).sort((a, b) => a - b);
    const p999 = costs[Math.ceil(costs.length * 0.999) - 1]!;
    expect(p999, `seed ${seed}; worst ${costs.slice(-5).map((c) => c.toFixed(2)).join(', ')} ms/KB`).toBeLessThanOrEqual(CPU_MS_PER_KB);
  });

  it(`each field step costs at most ${CPU_MS_PER_KB} ms of CPU per KB at the 99.9th percentile, and never throws`, () => {
    const seed = Date.now();
    const cases = fc.sample(fc.tuple(fc.constantFrom(...FIELD_STEPS), fieldValue), { numRuns: 1_000, seed });
    for (const [[, step], raw] of cases.slice(0, 100)) step(raw); // warm the JIT first
    const costs = cases.map(([[name, step], raw]) => ({ name, cost: stepCpuMsPerKb(step, raw) })).sort((a, b) => a.cost - b.cost);
    const p999 = costs[Math.ceil(costs.length * 0.999) - 1]!;
    expect(p999.cost, `seed ${seed}; worst ${costs.slice(-3).map((c) => `${c.name} ${c.cost.toFixed(2)}`).join(', ')} ms/KB`).toBeLessThanOrEqual(CPU_MS_PER_KB);
  });
});

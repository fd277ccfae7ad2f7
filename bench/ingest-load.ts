/**
 * The ingest benchmark's load generator, in its own process so the server under test is measured
 * alone (its CPU and resident memory): concurrent undici clients send single app events or
 * 100-event batches for a fixed time and print one JSON result line.
 *   node bench/ingest-load.ts <url> <single|batch|pool-plain|pool-gzip> <clients> <seconds>
 * `pool-plain` and `pool-gzip` send the same pre-built batches (built before the clock starts, so
 * the client's own JSON and gzip work is not in the figure), uncompressed or gzipped.
 */
import { gzipSync } from 'node:zlib';
import { Client } from 'undici';

const [url, workloadArg, clientsArg, secondsArg] = process.argv.slice(2);
const workload = workloadArg === 'batch' || workloadArg === 'pool-plain' || workloadArg === 'pool-gzip' ? workloadArg : 'single';
const clients = Number(clientsArg ?? 64);
const seconds = Number(secondsArg ?? 5);
const AUTH = `Basic ${Buffer.from('bench-write-key:').toString('base64')}`;
const BATCH_SIZE = 100;

function message(i: number, client: number): Record<string, unknown> {
  return {
    type: 'track',
    userId: `cus_${client}_${i % 500}`,
    messageId: `bench-${client}-${i}-${Math.random().toString(36).slice(2)}`,
    event: 'Product Viewed',
    properties: { product_id: 8123456789012, sku: 'TEA-SENCHA-100', price: '24.00', currency: 'USD', order_id: '5904832711894301745' },
    timestamp: new Date().toISOString(),
    context: { ip: '203.0.113.24', userAgent: 'bench' },
  };
}

/** The same 256 batches for both pool workloads; compressed as a client SDK would (zlib defaults). */
const POOL_SIZE = 256;
const pool = workload.startsWith('pool-')
  ? Array.from({ length: POOL_SIZE }, (_, b) => {
    const text = JSON.stringify({ sentAt: new Date().toISOString(), batch: Array.from({ length: BATCH_SIZE }, (_, i) => message(b * BATCH_SIZE + i, b % 64)) });
    return workload === 'pool-gzip' ? gzipSync(text) : Buffer.from(text);
  })
  : [];
const poolHeaders = { authorization: AUTH, 'content-type': 'application/json', ...(workload === 'pool-gzip' ? { 'content-encoding': 'gzip' } : {}) };

const deadline = performance.now() + seconds * 1000;
const started = performance.now();
let events = 0;
let requests = 0;
let non200 = 0;
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  const client = new Client(url!, { pipelining: 1 });
  let i = 0;
  try {
    while (performance.now() < deadline) {
      if (workload === 'pool-plain' || workload === 'pool-gzip') {
        const res = await client.request({ path: '/v1/batch', method: 'POST', headers: poolHeaders, body: pool[(c * 7 + i++) % POOL_SIZE]! });
        await res.body.dump();
        requests++;
        if (res.statusCode === 200) events += BATCH_SIZE;
        else non200++;
        continue;
      }
      const body = workload === 'single'
        ? JSON.stringify(message(i++, c))
        : JSON.stringify({ sentAt: new Date().toISOString(), batch: Array.from({ length: BATCH_SIZE }, () => message(i++, c)) });
      const res = await client.request({ path: workload === 'single' ? '/v1/track' : '/v1/batch', method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body });
      await res.body.dump();
      requests++;
      if (res.statusCode === 200) events += workload === 'single' ? 1 : BATCH_SIZE;
      else non200++;
    }
  } finally {
    await client.close();
  }
}));
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ events, requests, non200, seconds: elapsed })}\n`);

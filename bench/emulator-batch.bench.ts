/**
 * Throughput of the Customer.io emulator's POST /api/v2/batch with faults off.
 * Runs the emulator as a child process (so client and server get their own core), sends
 * 100-item event batches from a few concurrent clients over an undici Pool, prints items/s and
 * appends a Markdown row to bench/results/emulator.md.
 *
 *   node bench/emulator-batch.bench.ts [--duration=5] [--concurrency=8] [--connections=4] [--batch=100] [--people=1000]
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    connections: { type: 'string', default: '4' },
    batch: { type: 'string', default: '100' },
    people: { type: 'string', default: '1000' },
  },
});
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
const connections = Number(values.connections);
const batchSize = Number(values.batch);
const people = Number(values.people);
const AUTH = `Basic ${Buffer.from('site:key').toString('base64')}`;

const ULID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Unique, valid ULIDs from a counter: exercises dedupe without ever hitting a duplicate. */
function ulid(n: number): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    s = ULID_ALPHABET[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return `01JBENCH00${s}`;
}

let seq = 0;
function batchBody(): string {
  const items = new Array(batchSize);
  for (let i = 0; i < batchSize; i++) {
    const n = seq++;
    items[i] = {
      type: 'person',
      identifiers: { id: `bench-user-${n % people}` },
      action: 'event',
      name: 'Order Completed',
      id: ulid(n),
      timestamp: 1_700_000_000 + (n % 86_400),
      attributes: { order_id: `o-${n}`, total: 19.99, currency: 'EUR', items: 2 },
    };
  }
  return JSON.stringify({ batch: items });
}

async function startEmulator(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(root, 'services/emulator/src/main.ts')], {
    env: { ...process.env, EMULATOR_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: string };
        if (parsed.url) resolve(parsed.url);
      } catch {
        // not a log line
      }
    });
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

const emulator = await startEmulator();
const pool = new Pool(emulator.url, { connections, pipelining: 1 });
const latencies: number[] = [];
let items = 0;
let requests = 0;
let failures = 0;

async function send(): Promise<void> {
  const body = batchBody();
  const t0 = performance.now();
  const res = await pool.request({
    path: '/api/v2/batch',
    method: 'POST',
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body,
  });
  await res.body.text();
  latencies.push(performance.now() - t0);
  requests++;
  if (res.statusCode === 200) items += batchSize;
  else failures++;
}

async function client(until: number): Promise<void> {
  while (performance.now() < until) await send();
}

try {
  // Warm-up (JIT, connections), not counted.
  await Promise.all(Array.from({ length: concurrency }, () => client(performance.now() + 500)));
  items = 0;
  requests = 0;
  failures = 0;
  latencies.length = 0;

  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => client(start + durationMs)));
  const elapsedSec = (performance.now() - start) / 1000;

  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(1);
  const itemsPerSec = Math.round(items / elapsedSec);
  const reqPerSec = Math.round(requests / elapsedSec);
  console.log(`emulator /api/v2/batch: ${itemsPerSec} items/s (${reqPerSec} req/s of ${batchSize} items), p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, non-200 ${failures}, ${elapsedSec.toFixed(1)} s, ${concurrency} clients / ${connections} connections, ${availableParallelism()} CPUs`);

  const file = join(root, 'bench/results/emulator.md');
  mkdirSync(dirname(file), { recursive: true });
  if (!existsSync(file)) {
    appendFileSync(file, '# Emulator /api/v2/batch throughput\n\n`node bench/emulator-batch.bench.ts` (faults off, emulator in a child process).\n\n| date | node | CPUs | batch | clients | connections | seconds | items/s | req/s | p50 ms | p99 ms | non-200 |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n');
  }
  appendFileSync(file, `| ${new Date().toISOString()} | ${process.version} | ${availableParallelism()} | ${batchSize} | ${concurrency} | ${connections} | ${elapsedSec.toFixed(1)} | ${itemsPerSec} | ${reqPerSec} | ${pct(0.5)} | ${pct(0.99)} | ${failures} |\n`);
} finally {
  await pool.close();
  emulator.stop();
}

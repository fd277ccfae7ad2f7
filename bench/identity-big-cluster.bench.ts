/**
 * One person with thousands of identifiers: a shared device, or a script reusing one user id with
 * a new anonymous id per request. Each event learns one more anonymous id for the person and
 * resolves it, in units of 100 events, each committed. The cost per event, in memory and on the
 * local disk store, as the person grows to 1,000, 10,000 and 30,000 identifiers with no limit, and
 * on disk with the default limit of identifiers per person (links past it refused, so the cost
 * stops growing); the ratio is disk against memory in the same run. Before 2026-12-05 the disk
 * index decoded every member on every lookup (5.9 ms an event at 30,000 members).
 *   node bench/identity-big-cluster.bench.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STATE_DEFAULTS } from '../services/normalizer/src/state/config.ts';
import { createDiskStoreConfig } from '../services/normalizer/src/state/disk/config.ts';
import { IdentityGraph } from '../services/normalizer/src/state/identity-graph.ts';
import { LocalState } from '../services/normalizer/src/state/local-state.ts';

const STEPS = [1_000, 10_000, 30_000];
const UNIT = 100;
const ctx = { event_id: 'e', source: 'app', occurred_at: 0 };

/** Microseconds per event between the previous step and each step. */
async function run(where: 'memory' | 'disk', maxIdentifiers: number): Promise<number[]> {
  const dir = mkdtempSync(join(os.tmpdir(), 'big-cluster-'));
  const local = where === 'disk' ? await LocalState.open(createDiskStoreConfig({ dir, readCacheEntries: 100_000 })) : null;
  const graph = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: ['email'], maxIdentifiers }, local?.identityIndex());
  const out: number[] = [];
  let n = 0;
  try {
    for (const step of STEPS) {
      const from = n;
      const t0 = performance.now();
      while (n < step) {
        graph.beginBatch();
        local?.beginLayer();
        for (let k = 0; k < UNIT && n < step; k++, n++) {
          graph.learn({ customer_id: 'cus_1', anonymous_id: `anon-${n}` }, ctx);
          graph.resolve({ anonymous_id: `anon-${n}` });
        }
        graph.takeChanges();
        graph.commitOldest();
        await local?.commit();
      }
      out.push(((performance.now() - t0) * 1000) / (step - from));
    }
  } finally {
    await local?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const LIMIT = STATE_DEFAULTS.maxIdentifiersPerPerson;
const memory = await run('memory', Number.MAX_SAFE_INTEGER);
const disk = await run('disk', Number.MAX_SAFE_INTEGER);
const limited = await run('disk', LIMIT);
const rows = STEPS.map((step, i) => `| ${i === 0 ? 0 : STEPS[i - 1]} to ${step} | ${memory[i]!.toFixed(1)} | ${disk[i]!.toFixed(1)} | ${(disk[i]! / memory[i]!).toFixed(0)} | ${limited[i]!.toFixed(1)} | ${(limited[i]! / memory[i]!).toFixed(0)} |`);
const table = [
  '# One person with thousands of identifiers',
  '',
  `Run ${new Date().toISOString()} on Node ${process.version}, ${os.cpus().length} CPUs; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}. Each event learns one more anonymous id for one customer and resolves it; units of ${UNIT} events, each committed. Memory and disk with no limit of identifiers per person; the last two columns on disk with the default limit (${LIMIT}): the links past it are refused.`,
  '',
  `| identifiers the events link | memory µs per event | disk µs per event | disk / memory | disk, limit ${LIMIT}, µs per event | limited disk / memory |`,
  '|---|---:|---:|---:|---:|---:|',
  ...rows,
  '',
].join('\n');
process.stdout.write(`${table}\n`);
writeFileSync(fileURLToPath(new URL('./results/identity-big-cluster.md', import.meta.url)), table);

/**
 * `make bench`: runs every benchmark in bench/ one after another (never in parallel: the machine
 * has two cores and each benchmark measures itself against a baseline in the same run).
 * Each writes its Markdown table to bench/results/<name>.md.
 *   node bench/run.ts [name ...]     e.g. node bench/run.ts sink normalizer
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_OPTIONS } from '../scripts/service-node-options.ts';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const all = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
const selected = wanted.length === 0 ? all : all.filter((f) => wanted.some((w) => f.startsWith(w)));
if (selected.length === 0) {
  process.stderr.write(`no benchmark matches ${wanted.join(', ')}; have: ${all.join(', ')}\n`);
  process.exit(2);
}
let failed = 0;
for (const file of selected) {
  process.stdout.write(`\n=== ${file}\n`);
  // Ingest runs its server in the bench process: give it the flag the service runs with.
  const flags = file.startsWith('ingest') ? [SERVICE_NODE_OPTIONS.ingest] : [];
  const result = spawnSync(process.execPath, [...flags, join(here, file)], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    process.stdout.write(`=== ${file} failed (exit ${result.status})\n`);
  }
}
process.stdout.write(`\n${selected.length - failed} benchmarks ran, ${failed} failed; tables in bench/results/\n`);
process.exit(failed === 0 ? 0 : 1);

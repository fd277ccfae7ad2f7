/**
 * Identity graph restore: how long a normalizer instance takes to rebuild its identity graph from
 * the compacted `identity` changelog, and the memory it then holds. Target: 1,000,000 links in well
 * under 30 s and < 1 GB RSS.
 *
 *   node bench/identity-restore.bench.ts            # 1,000,000 node records
 *   BENCH_LINKS=3000000 node bench/identity-restore.bench.ts
 *
 * Records are streamed as a consumer would hand them over (Buffer values, one at a time), shaped
 * like real clusters: 5 identifiers per person (customer_id, email, Shopify id, anonymous id, cart
 * token), plus a fallback flag for 1 in 10 people. Then learns 100,000 new links on top, to show the
 * restored graph is live.
 */
import { IdentityGraph } from '../services/normalizer/src/state/identity-graph.ts';
import type { ChangelogRecord } from '../services/normalizer/src/state/changelog.ts';

// A script, not a service: its knob comes straight from the environment.
const links = Number(process.env['BENCH_LINKS'] ?? 1_000_000);
const perPerson = 5;
const people = Math.ceil(links / perPerson);

function* changelog(): Generator<ChangelogRecord> {
  for (let p = 0; p < people; p++) {
    const cluster = Buffer.from(`customer_id:cus_${p}`);
    const nodes = [
      `customer_id:cus_${p}`, `email:shopper${p}@example.com`, `shopify_customer_id:73019283${String(p).padStart(11, '0')}`,
      `anonymous_id:anon-${p.toString(36)}-${(p * 7919).toString(36)}`, `cart_token:Z2NwLXVzLWVhc3Qx${p.toString(36).padStart(10, '0')}`,
    ];
    for (const n of nodes) yield { topic: 'identity', key: `n:${n}`, value: cluster };
    if (p % 10 === 0) yield { topic: 'identity', key: `fb:email:shopper${p}@example.com`, value: Buffer.from('1') };
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

const rssBefore = process.memoryUsage().rss;
const graph = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: ['email', 'shopify_customer_id'] });
const t0 = performance.now();
graph.restore(changelog());
const restoreMs = performance.now() - t0;
const rssAfter = process.memoryUsage().rss;

// Spot checks: the restored graph answers as the writer's did.
for (const p of [0, Math.floor(people / 2), people - 1]) {
  const got = graph.resolve({ email: `shopper${p}@example.com` }).canonical;
  if (got !== `cus_${p}`) throw new Error(`restore check failed for person ${p}: ${got}`);
}

const t1 = performance.now();
const learnCount = 100_000;
for (let i = 0; i < learnCount; i++) {
  const p = i % people;
  graph.beginBatch();
  graph.learn({ customer_id: `cus_${p}`, anonymous_id: `new-device-${i}` }, { event_id: String(i), source: 'app', occurred_at: 0 });
  graph.takeChanges();
}
const learnMs = performance.now() - t1;

console.log(JSON.stringify({
  node_records: graph.nodeCount - learnCount,
  clusters: graph.clusterCount,
  restore_seconds: +(restoreMs / 1000).toFixed(2),
  restore_records_per_second: Math.round((graph.nodeCount - learnCount) / (restoreMs / 1000)),
  rss_before: mb(rssBefore),
  rss_after_restore: mb(rssAfter),
  heap_used: mb(process.memoryUsage().heapUsed),
  learn_links_per_second: Math.round(learnCount / (learnMs / 1000)),
}, null, 2));

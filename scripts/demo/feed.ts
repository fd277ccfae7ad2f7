/**
 * The live demo's traffic: shopper journeys with the usual defects, sent to ingest until stopped.
 *   node scripts/demo/feed.ts [--ingest URL] [--shoppers-per-second N] [--limit N] [--run ID]
 *
 * Progress on stderr. Exit 0 done (or stopped), 2 bad usage.
 */
import { commandLineOrExit, exitWithUsageError } from '@cio-pipeline/core/command-line';
import { botTraffic, journey, shopper } from './journeys.ts';
import { sendInOrder } from './ingest-client.ts';

const USAGE = `usage: feed.ts [--ingest URL] [--shoppers-per-second N] [--limit N] [--run ID]
  --ingest URL               ingest's base URL (default http://127.0.0.1:8080)
  --shoppers-per-second N    new shoppers a second, > 0 (default 2)
  --limit N                  stop after N shoppers; 0 runs until stopped (default 0)
  --run ID                   tag in every shopper's id, so runs do not collide (default: random)`;

function usageError(problem: string): never {
  return exitWithUsageError('demo-feed', problem);
}
const { values } = commandLineOrExit({ name: 'demo-feed', usage: USAGE }, process.argv.slice(2), {
  ingest: { type: 'string', default: 'http://127.0.0.1:8080' },
  'shoppers-per-second': { type: 'string', default: '2' },
  limit: { type: 'string', default: '0' },
  run: { type: 'string', default: `demo${Date.now().toString(36).slice(-4)}` },
});
const rate = Number(values['shoppers-per-second']);
const limit = Number(values.limit);
if (!Number.isFinite(rate) || rate <= 0) usageError(`--shoppers-per-second must be a number above 0, got "${values['shoppers-per-second']}"`);
if (!Number.isInteger(limit) || limit < 0) usageError(`--limit must be a whole number, 0 or more, got "${values.limit}"`);
if (!URL.canParse(values.ingest)) usageError(`--ingest must be a URL, got "${values.ingest}"`);
let stopped = false;
process.on('SIGINT', () => { stopped = true; });
process.on('SIGTERM', () => { stopped = true; });

const counts = { shoppers: 0, deliveries: 0, accepted: 0, refused: 0 };
let i = 0;
const inFlight = new Set<Promise<void>>();
while (!stopped && (limit === 0 || i < limit)) {
  const index = i++;
  // A deterministic mix per shopper: most buy, some abandon, some duplicates and late webhooks.
  const roll = (n: number) => (index * 7919 + n * 104729) % 100;
  const deliveries = journey(shopper(index, values.run), {
    start: Date.now() - 30 * 60_000,
    purchase: roll(1) < 65,
    duplicateOrder: roll(2) < 10,
    lateCheckout: roll(3) < 10,
    appOrder: roll(4) < 50,
    subscriptionCharge: roll(5) < 20,
    invalidCheckout: roll(6) < 2,
  });
  if (roll(7) < 15) deliveries.push(botTraffic(index, Date.now()));
  const work = sendInOrder(values.ingest, deliveries).then((results) => {
    counts.shoppers++;
    for (const r of results) {
      counts.deliveries++;
      if (r.status === 200) counts.accepted++;
      else counts.refused++;
    }
  });
  inFlight.add(work);
  void work.finally(() => inFlight.delete(work));
  if (index % 50 === 49) process.stderr.write(`[demo-feed] ${JSON.stringify(counts)}\n`);
  await new Promise((r) => setTimeout(r, 1000 / rate));
}
await Promise.all(inFlight);
process.stderr.write(`[demo-feed] done ${JSON.stringify(counts)}\n`);

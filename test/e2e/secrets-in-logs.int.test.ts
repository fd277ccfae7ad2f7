/**
 * No secret in any log line of any service (issue 13). Every service runs as a real process at
 * debug level, with secrets made up for this run; the end-to-end journeys go through (webhooks,
 * app batches, a purchase delivered to the emulator, an alert posted to the webhook), along with
 * requests refused for a bad signature, a bad key or a bad body. Then every line each service
 * printed is searched for each secret, and for the encodings that carry one (Basic auth). Trace
 * explains every raw record of those journeys too, so its lines at debug level are searched as well.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/local-stack.ts';
import { appBatchDelivery, journey, rechargeDelivery, shopifyDelivery, shopper, type Delivery, type Secrets } from '../../scripts/demo/journeys.ts';
import { send, sendInOrder } from '../../scripts/demo/ingest-client.ts';
import { uniqueName } from '../support/kafka.ts';
import { eventually } from '../support/eventually.ts';
import { startPipeline, type PipelineStack } from '../support/pipeline-stack.ts';

const token = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;

describe('secrets never reach the logs', () => {
  const run = uniqueName('secrets').replace(/-/g, '');
  const secrets: Secrets = { shopify: token('shpss'), recharge: token('rcsec'), writeKey: token('wk') };
  const cioApiKey = token('cioKey');
  const webhookToken = token('hook');
  const lines = new Map<string, string[]>();
  const alerts: string[] = [];
  let webhook: Server;
  let stack: PipelineStack;

  /** Each secret as it is configured, and as it travels (Basic auth is base64 of `user:password`). */
  const forbidden = (): Record<string, string> => ({
    'Shopify webhook secret': secrets.shopify,
    'Recharge webhook secret': secrets.recharge,
    'write key': secrets.writeKey,
    'write key as Basic auth': Buffer.from(`${secrets.writeKey}:`).toString('base64'),
    'Customer.io API key': cioApiKey,
    'Customer.io API key as Basic auth': Buffer.from(`site:${cioApiKey}`).toString('base64'),
    'webhook URL token': webhookToken,
  });

  beforeAll(async () => {
    const webhookPort = await freePort();
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        alerts.push(body);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => webhook.listen(webhookPort, '127.0.0.1', r));
    stack = await startPipeline(run, {
      SHOPIFY_WEBHOOK_SECRETS: secrets.shopify, RECHARGE_WEBHOOK_SECRETS: secrets.recharge, APP_WRITE_KEYS: `web:${secrets.writeKey}`,
    }, {
      logLevel: 'debug',
      cioApiKey,
      onLine: (service, line) => {
        if (!lines.has(service)) lines.set(service, []);
        lines.get(service)!.push(line);
      },
      monitor: {
        MONITOR_WEBHOOK_URL: `http://127.0.0.1:${webhookPort}/services/T0/B0/${webhookToken}`, MONITOR_EVAL_INTERVAL_MS: '200',
        MONITOR_RULES: JSON.stringify([{ name: 'checkout-and-purchase', events: ['checkout_started', 'order_completed'], threshold: 0.01, window_ms: 900_000, min_events: 5 }]),
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()));
  });

  async function deliver(deliveries: Delivery[], status = 200): Promise<void> {
    const results = await sendInOrder(stack.ingestUrl, deliveries);
    expect(results.map((r) => `${r.delivery.label}: ${r.status}`)).toEqual(deliveries.map((d) => `${d.label}: ${status}`));
  }

  it('runs the journeys at debug level, and no service logs a secret', async () => {
    const start = Date.now() - 3600_000;
    const buyer = shopper(1, run);
    await deliver(journey(buyer, { start, purchase: true, appOrder: true, duplicateOrder: true, subscriptionCharge: true }, secrets));
    // Refused requests: a wrong signature or key (401), and a body that is not JSON under a valid key.
    const wrong: Secrets = { shopify: 'not-the-secret', recharge: 'not-the-secret', writeKey: 'not-the-key' };
    await deliver([
      shopifyDelivery('orders/create', '{"id": 1}', wrong, { label: 'forged shopify' }),
      rechargeDelivery('charge/paid', { charge: { id: 1 } }, wrong),
      appBatchDelivery([{ type: 'track', event: 'x', userId: 'u' }], wrong, 'app batch with a wrong key'),
    ], 401);
    const unparseable = { ...appBatchDelivery([], secrets, 'unparseable batch'), body: '{"batch": [' };
    expect((await send(stack.ingestUrl, unparseable)).status).toBe(400);
    // Invalid checkouts raise the alert, so the monitor calls its webhook.
    const alerted = [20, 21, 22, 23, 24, 25].map((i) => shopper(i, run));
    await deliver(alerted.flatMap((s) => journey(s, { start, purchase: false, invalidCheckout: true }, secrets).slice(0, 1)));

    await stack.arrived(buyer.customerId, (p) => p.events.some((e) => e.name === 'order_completed'));
    await eventually('a firing alert at the webhook', () => alerts.some((a) => /FIRING/.test(a)), { timeoutMs: 60_000, intervalMs: 300 });
    // Trace explains every raw record of these journeys (and prints its own lines at debug level).
    await stack.explainedByTrace(alerted.map((s) => s.customerId));
    // Stopping prints the shutdown lines too.
    for (const s of stack.services) await s.stop();

    // Every service printed at debug level, so the search below had something to search.
    for (const name of ['ingest', 'normalizer', 'sink', 'monitor', 'emulator']) {
      expect(lines.get(name)?.length ?? 0, `${name} printed nothing`).toBeGreaterThan(0);
    }
    expect([...lines.values()].flat().some((l) => l.includes('"level":"debug"')), 'no debug line at all').toBe(true);
    // A line that would carry a secret was printed, with the secret censored: the capture is whole.
    expect(lines.get('sink')!.some((l) => l.includes('"apiKey":"[redacted]"')), 'the sink logs its configuration at debug').toBe(true);
    const leaks: string[] = [];
    for (const [service, printed] of lines) {
      for (const line of printed) {
        for (const [what, value] of Object.entries(forbidden())) {
          if (line.includes(value)) leaks.push(`${service} logged the ${what}: ${line.slice(0, 300)}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});

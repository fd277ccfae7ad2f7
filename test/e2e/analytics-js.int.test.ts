/**
 * analytics.js (`@segment/analytics-next`, the published browser build) in headless Chromium, on a
 * store page served from a loopback origin that ingest's CORS setting allows, through the whole
 * pipeline into the Customer.io emulator. It posts text/plain bodies with the write key in the body
 * and Basic auth (so every call is preflighted) to the short paths /v1/p, /v1/t, /v1/i, /v1/g,
 * /v1/a, and /v1/b when batching.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/local-stack.ts';
import { startStorePage, type StorePage } from '../support/analytics-js-page.ts';
import { uniqueName } from '../support/kafka.ts';
import { startPipeline, type CioPerson, type PipelineStack } from '../support/pipeline-stack.ts';

// Not skipped when missing: a silent skip would hide that analytics.js is untested.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// A shopper's Chrome: headless Chromium's own agent says "HeadlessChrome", which the bot filter drops.
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const WRITE_KEY = 'wk-browser';

const run = uniqueName('ajs').replace(/-/g, '');
let stack: PipelineStack;
let store: StorePage;
let browser: Browser;
let pageOrigin = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run make system-deps (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const pagePort = await freePort();
  pageOrigin = `http://127.0.0.1:${pagePort}`;
  store = await startStorePage(pagePort);
  stack = await startPipeline(run, { APP_WRITE_KEYS: `web:${WRITE_KEY}`, INGEST_CORS_ORIGINS: pageOrigin });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await store?.close();
});

interface Seen { method: string; path: string; status: number; allowOrigin: string | null }

/** Opens the store page and records every answer from ingest and every request that failed. */
async function openStore(context: BrowserContext, origin: string): Promise<{ page: Page; seen: Seen[]; failed: string[]; errors: string[] }> {
  const page = await context.newPage();
  const seen: Seen[] = [];
  const failed: string[] = [];
  const errors: string[] = [];
  const ingest = new URL(stack.ingestUrl);
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.host !== ingest.host) return;
    seen.push({ method: res.request().method(), path: url.pathname, status: res.status(), allowOrigin: res.headers()['access-control-allow-origin'] ?? null });
  });
  page.on('requestfailed', (req) => {
    if (new URL(req.url()).host === ingest.host) failed.push(new URL(req.url()).pathname);
  });
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${origin}/`);
  return { page, seen, failed, errors };
}

/** Loads analytics.js with the settings a store would put in its Segment.io integration. */
async function loadAnalytics(page: Page, batching: boolean): Promise<void> {
  const apiHost = `${new URL(stack.ingestUrl).host}/v1`;
  await page.evaluate(
    async ({ writeKey, apiHost, batching, cdnURL }) => {
      const w = globalThis as unknown as { AnalyticsNext: { AnalyticsBrowser: { load: (s: unknown, o?: unknown) => Promise<[unknown, unknown]> } }; analytics: unknown };
      const segment = { apiKey: writeKey, apiHost, protocol: 'http', ...(batching ? { deliveryStrategy: { strategy: 'batching', config: { size: 10, timeout: 200 } } } : {}) };
      const [analytics] = await w.AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL, cdnSettings: { integrations: { 'Segment.io': segment } } });
      w.analytics = analytics;
    },
    { writeKey: WRITE_KEY, apiHost, batching, cdnURL: new URL(page.url()).origin },
  );
}

type Call = [method: 'page' | 'track' | 'identify' | 'group' | 'alias', ...args: unknown[]];

/** Runs analytics.js calls in order, each awaited as a store's code would. */
async function calls(page: Page, list: Call[]): Promise<void> {
  await page.evaluate(async (list) => {
    const a = (globalThis as unknown as { analytics: Record<string, (...args: unknown[]) => Promise<unknown>> }).analytics;
    for (const [method, ...args] of list) await a[method]!(...args);
  }, list);
}

const names = (p: CioPerson): string[] => p.events.map((e) => e.name);

describe('analytics.js in Chromium', () => {
  it('short paths, text/plain and CORS from an allowed origin: the shopper lands whole in Customer.io', async () => {
    const userId = `js-${run}`;
    const context = await browser.newContext({ userAgent: USER_AGENT });
    try {
      const shop = await openStore(context, pageOrigin);
      await loadAnalytics(shop.page, false);
      await calls(shop.page, [
        ['page', 'Catalog', 'Teas', { path: '/teas', title: 'Teas' }],
        ['track', 'Product Viewed', { sku: 'TEA-JS-1', price: 8.5, currency: 'EUR' }],
        // Sign-up: alias links the anonymous id (analytics.js sends it as previousId) to the new user id.
        ['alias', userId],
        ['identify', userId, { email: `jess.${run}@example.com`, first_name: 'Jess' }],
        ['group', 'tea-club', { name: 'Tea Club' }],
      ]);
      const anonymousId = await shop.page.evaluate(() => (globalThis as unknown as { analytics: { user: () => { anonymousId: () => string } } }).analytics.user().anonymousId());

      // Batching mode on the next page: the same shopper (analytics.js keeps ids in the browser).
      const cart = await openStore(context, pageOrigin);
      await loadAnalytics(cart.page, true);
      await calls(cart.page, [['track', 'Added To Cart', { sku: 'TEA-JS-1', quantity: 2, price: 8.5, currency: 'EUR' }]]);
      await expect.poll(() => cart.seen.some((s) => s.path === '/v1/b'), { timeout: 15_000 }).toBe(true);

      const seen = [...shop.seen, ...cart.seen];
      expect(seen.map((s) => s.path).sort()).toEqual(['/v1/a', '/v1/b', '/v1/g', '/v1/i', '/v1/p', '/v1/t']);
      for (const s of seen) expect(s, s.path).toEqual({ method: 'POST', path: s.path, status: 200, allowOrigin: pageOrigin });
      expect([...shop.failed, ...cart.failed]).toEqual([]);
      expect([...shop.errors, ...cart.errors]).toEqual([]);

      const p = await stack.settled(userId, (x) => ['page_viewed', 'product_viewed', 'added_to_cart'].every((n) => names(x).includes(n)) && x.attributes['first_name'] !== undefined);
      expect(p.id).toBe(userId);
      expect(p.email).toBe(`jess.${run}@example.com`);
      expect(p.anonymous_ids).toEqual([anonymousId]);
      expect(p.attributes).toEqual({ first_name: 'Jess' });
      expect([...names(p)].sort()).toEqual(['added_to_cart', 'page_viewed', 'product_viewed']);
      const byName = (n: string) => p.events.find((e) => e.name === n)!.data;
      expect(byName('page_viewed')).toMatchObject({ name: 'Teas', category: 'Catalog', path: '/teas', title: 'Teas', url: `${pageOrigin}/` });
      expect(byName('product_viewed')).toEqual({ sku: 'TEA-JS-1', price: 8.5, currency: 'EUR' });
      expect(byName('added_to_cart')).toEqual({ sku: 'TEA-JS-1', quantity: 2, price: 8.5, currency: 'EUR' });
    } finally {
      await context.close();
    }
  });

  it('refuses a page from an origin the CORS setting does not name', async () => {
    const context = await browser.newContext({ userAgent: USER_AGENT });
    try {
      // Same page and port, another origin: `localhost` is not `127.0.0.1` to a browser.
      const elsewhere = pageOrigin.replace('127.0.0.1', 'localhost');
      const shop = await openStore(context, elsewhere);
      await loadAnalytics(shop.page, false);
      void shop.page.evaluate(() => (globalThis as unknown as { analytics: { track: (e: string) => Promise<unknown> } }).analytics.track('Product Viewed'));
      await expect.poll(() => shop.failed.includes('/v1/t'), { timeout: 15_000 }).toBe(true);
      expect(shop.seen.filter((s) => s.status === 200)).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('trace', () => {
  it('explains every raw record of these journeys: each with its verdict, each event sent with Customer.io\'s answer', async () => {
    await stack.explainedByTrace();
  }, 120_000);
});

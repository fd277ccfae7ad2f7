import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, ulid, type Harness } from './emulator-harness.ts';

// Not skipped when missing: a silent skip would hide that the page is untested.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const XSS_ATTR = '<img src=x onerror="window.__xss=1">';
const XSS_EVENT = '<script>window.__xss=2</script>';

let h: Harness;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  h = await startEmulator();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('inspector page in a browser', () => {
  it('shows the person, identifiers, attributes, the event timeline and rejected requests; renders data as text', async () => {
    // A scripted journey: anonymous browsing, identify, events over v1 and v2, and some rejects.
    expect((await h.api('POST', '/api/v1/events', { name: 'Product Viewed', anonymous_id: 'anon-b' })).status).toBe(200);
    expect((await h.api('PUT', '/api/v1/customers/u-browser', { email: 'Browser@Example.com', plan: 'gold', note: XSS_ATTR, anonymous_id: 'anon-b' })).status).toBe(200);
    expect((await h.api('POST', '/api/v1/customers/u-browser/events', { name: 'Added To Cart', id: ulid(1), data: { sku: 'S1' } })).status).toBe(200);
    const batch = await h.api('POST', '/api/v2/batch', {
      batch: [
        { type: 'person', identifiers: { id: 'u-browser' }, action: 'event', name: 'Order Completed', attributes: { total: 42 } },
        { type: 'person', identifiers: { id: 'u-browser' }, action: 'event', name: XSS_EVENT },
        { type: 'person', identifiers: { id: 'u-browser' }, action: 'event', name: 'x', id: 'not-a-ulid' },
      ],
    });
    expect(batch.status).toBe(207);
    expect((await h.api('POST', '/api/v1/customers/u-browser/events', { name: '' })).status).toBe(400);
    expect((await h.api('PUT', '/api/v1/customers/someone-else', { a: 1 })).status).toBe(200);

    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    try {
      await page.goto(`${h.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });

      const person = page.locator('[data-person-id="u-browser"]');
      await expect(person.count()).resolves.toBe(1);
      await expect(person.getAttribute('data-person-email')).resolves.toBe('Browser@Example.com');
      const names = await person.locator('[data-event-name]').evaluateAll((els) => els.map((e) => e.getAttribute('data-event-name')));
      expect(names).toEqual(['Product Viewed', 'Added To Cart', 'Order Completed', XSS_EVENT]);
      const visible = await person.innerText();
      expect(visible).toContain('plan');
      expect(visible).toContain('gold');
      expect(visible).toContain(XSS_ATTR);
      expect(visible).toContain('anon-b');
      expect(await page.locator('[data-person-id="someone-else"]').count()).toBe(1);

      const rejected = page.locator('[data-testid="rejected-requests"] tbody tr');
      const rows = await rejected.allInnerTexts();
      expect(rows.some((r) => r.includes('name cannot be blank') && r.includes('400'))).toBe(true);
      expect(rows.some((r) => r.includes('207') && r.includes('ULID'))).toBe(true);

      // Sent data stayed text: no injected element, no script ran.
      expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator('main img, main script').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('renders a person whose event is nested 5,000 deep (cut at a fixed depth), with no page error', async () => {
    await h.post('/_emulator/reset', {});
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    expect((await h.api('POST', '/api/v1/customers/u-deep/events', undefined, { raw: `{"name":"Deep","data":{"v":${deep}}}` })).status).toBe(200);
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      await page.goto(`${h.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });
      const person = page.locator('[data-person-id="u-deep"]');
      await expect(person.locator('[data-event-name="Deep"]').count()).resolves.toBe(1);
      expect(await person.innerText()).toContain('nested deeper than 64 levels');
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('links each person and anonymous id to the monitor\'s trace view when EMULATOR_TRACE_URL is set, the id as a query value', async () => {
    const traced = await startEmulator({ traceUrl: 'http://127.0.0.1:9103/trace/view' });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      const evilId = 'u-"><img src=x onerror=alert(1)>&x=1#frag';
      expect((await traced.api('PUT', `/api/v1/customers/${encodeURIComponent(evilId)}`, { email: 'evil@example.com' })).status).toBe(200);
      expect((await traced.api('POST', '/api/v1/events', { name: 'Product Viewed', anonymous_id: 'anon-t' })).status).toBe(200);
      await page.goto(`${traced.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });
      const link = page.locator(`[data-person-id="${evilId.replace(/"/g, '\\"')}"] [data-testid="trace-link"]`);
      const href = await link.getAttribute('href');
      const u = new URL(href!);
      expect(u.origin + u.pathname).toBe('http://127.0.0.1:9103/trace/view');
      expect([...u.searchParams]).toEqual([['id', evilId]]);
      expect(u.hash).toBe('');
      expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
      const anon = new URL((await page.locator('[data-anonymous-id="anon-t"] [data-testid="trace-link"]').getAttribute('href'))!);
      expect(anon.searchParams.get('id')).toBe('anon-t');
      expect(await page.locator('main img').count()).toBe(0);
      expect(pageErrors).toEqual([]);
      // Without the setting, no link at all.
      await page.goto(`${h.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });
      expect(await page.locator('[data-testid="trace-link"]').count()).toBe(0);
    } finally {
      await page.close();
      await traced.close();
    }
  });
});

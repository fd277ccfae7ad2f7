import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@cio-pipeline/core';
import type { AlertTransition } from '../src/alert-rules.ts';
import { createMonitorMetrics } from '../src/metrics.ts';
import { WebhookNotifier, slackBody } from '../src/webhook-notifier.ts';

const firing: AlertTransition = {
  rule: 'checkout-and-purchase', group: 'all', state: 'firing', invalid: 12, total: 400, share: 0.03,
  threshold: 0.01, clearBelow: 0.008, windowMs: 900_000, minEvents: 20, at: Date.parse('2025-01-02T03:04:05Z'),
};

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { logger: createLogger('monitor-test', 'debug', sink), lines };
}

interface Hook { url: string; bodies: unknown[]; close(): Promise<void> }

/** A loopback webhook answering with the given statuses in turn (the last one repeats). */
async function startHook(statuses: number[], handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<Hook> {
  const bodies: unknown[] = [];
  let calls = 0;
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => { data += c.toString(); });
    req.on('end', () => {
      if (handler?.(req, res)) return;
      bodies.push(JSON.parse(data));
      const status = statuses[Math.min(calls++, statuses.length - 1)]!;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/s3cr3t-token`,
    bodies,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('slackBody', () => {
  it('is a Slack incoming-webhook body: text fallback plus mrkdwn blocks', () => {
    const body = slackBody(firing);
    expect(body.text).toBe(':rotating_light: FIRING: invalid data checkout-and-purchase: 3.0% invalid (12 of 400 events) over the last 15 min, above the 1.0% threshold');
    expect(body.blocks[0]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: body.text } });
    expect(body.blocks[1]).toMatchObject({ type: 'context', elements: [{ type: 'mrkdwn', text: expect.stringContaining('2025-01-02T03:04:05.000Z') }] });
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);

    const resolved = slackBody({ ...firing, state: 'resolved', group: 'source=shopify,tier=1', invalid: 3, total: 1000, share: 0.003 });
    expect(resolved.text).toBe(':white_check_mark: RESOLVED: invalid data checkout-and-purchase (source=shopify,tier=1): 0.30% invalid (3 of 1000 events) over the last 15 min, back at or below 0.80%');
  });
});

describe('WebhookNotifier', () => {
  let hooks: Hook[] = [];
  afterEach(async () => {
    for (const h of hooks) await h.close();
    hooks = [];
  });

  it('retries 5xx and 429 with backoff, then delivers; logs the host, never the secret path', async () => {
    const hook = await startHook([503, 429, 200]);
    hooks.push(hook);
    const { logger, lines } = captureLogger();
    const metrics = createMonitorMetrics();
    const waits: number[] = [];
    const n = new WebhookNotifier({
      url: hook.url, timeoutMs: 2_000, maxAttempts: 4, backoffBaseMs: 100, backoffMaxMs: 1_000, logger, metrics,
      sleep: async (ms) => { waits.push(ms); },
    });
    expect(await n.notify(firing)).toBe(true);
    expect(hook.bodies).toHaveLength(3);
    expect(hook.bodies[2]).toEqual(slackBody(firing));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(100);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits[1]).toBeLessThanOrEqual(200);
    const log = lines.join('');
    expect(log).toContain('127.0.0.1');
    expect(log).not.toContain('s3cr3t-token');
    expect((await metrics.webhookDeliveries.get()).values).toEqual([expect.objectContaining({ labels: { outcome: 'delivered' }, value: 1 })]);
  });

  it('gives up after maxAttempts, and at once on a 4xx, without throwing', async () => {
    const down = await startHook([500]);
    const gone = await startHook([404]);
    hooks.push(down, gone);
    const { logger, lines } = captureLogger();
    const opts = { timeoutMs: 2_000, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 5, logger };
    expect(await new WebhookNotifier({ ...opts, url: down.url }).notify(firing)).toBe(false);
    expect(down.bodies).toHaveLength(3);
    expect(await new WebhookNotifier({ ...opts, url: gone.url }).notify(firing)).toBe(false);
    expect(gone.bodies).toHaveLength(1);
    expect(lines.join('')).toContain('giving up');
    expect(lines.join('')).not.toContain('s3cr3t-token');
  });

  it('never follows a redirect: the target gets nothing and the alert is given up at once (issue 13)', async () => {
    const target = await startHook([200]);
    hooks.push(target);
    for (const status of [302, 307, 308]) {
      const redirecting = await startHook([status], (_req, res) => {
        res.writeHead(status, { location: target.url }).end();
        return true;
      });
      hooks.push(redirecting);
      const { logger, lines } = captureLogger();
      const metrics = createMonitorMetrics();
      const n = new WebhookNotifier({ url: redirecting.url, timeoutMs: 2_000, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 5, logger, metrics });
      expect(await n.notify(firing), `HTTP ${status}`).toBe(false);
      expect(target.bodies, `HTTP ${status}`).toEqual([]);
      expect(lines.join('')).toContain('redirects are not followed');
      expect(lines.join('')).not.toContain('s3cr3t-token');
      expect((await metrics.webhookDeliveries.get()).values).toEqual([expect.objectContaining({ labels: { outcome: 'failed' }, value: 1 })]);
    }
  });

  it('survives an unreachable host and a hanging one (timeout)', async () => {
    const hanging = await startHook([200], () => true); // never answers
    hooks.push(hanging);
    const { logger } = captureLogger();
    const refused = new WebhookNotifier({ url: 'http://127.0.0.1:1/hook', timeoutMs: 500, maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 5, logger });
    expect(await refused.notify(firing)).toBe(false);
    const slow = new WebhookNotifier({ url: hanging.url, timeoutMs: 200, maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 5, logger });
    const started = Date.now();
    expect(await slow.notify(firing)).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('delivers in order: a resolved notice never overtakes the firing one still retrying', async () => {
    const hook = await startHook([500, 200]);
    hooks.push(hook);
    const { logger } = captureLogger();
    const n = new WebhookNotifier({ url: hook.url, timeoutMs: 2_000, maxAttempts: 3, backoffBaseMs: 20, backoffMaxMs: 40, logger });
    const a = n.notify(firing);
    const b = n.notify({ ...firing, state: 'resolved' });
    expect(await Promise.all([a, b])).toEqual([true, true]);
    await n.idle();
    expect(hook.bodies.map((x) => (x as { text: string }).text.split(':')[1])).toEqual(['rotating_light', 'rotating_light', 'white_check_mark']);
  });

  it('without a URL it only counts the skip', async () => {
    const metrics = createMonitorMetrics();
    const n = new WebhookNotifier({ url: null, timeoutMs: 1, maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 1, logger: captureLogger().logger, metrics });
    expect(await n.notify(firing)).toBe(false);
    expect((await metrics.webhookDeliveries.get()).values[0]).toMatchObject({ labels: { outcome: 'skipped' }, value: 1 });
  });
});

import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { OPS_PATHS, createOpsServer, handleOpsRequest, type OpsEndpoints, type OpsServer } from '../src/index.ts';

let server: OpsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(endpoints: OpsEndpoints): Promise<string> {
  server = createOpsServer(endpoints);
  return `http://127.0.0.1:${await server.listen(0)}`;
}

describe('ops endpoints', () => {
  it('answers /healthz, /readyz and /metrics, and 404 elsewhere', async () => {
    const metrics = new Registry();
    new Counter({ name: 'things_total', help: 'things', registers: [metrics] }).inc(3);
    const base = await serve({ metrics, ready: () => true });
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz?verbose`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('things_total 3');
    expect((await fetch(`${base}/other`)).status).toBe(404);
  });

  it('answers 503 with the reason and Retry-After when not ready, failing or silent', async () => {
    let answer: () => unknown = () => ({ ready: false, reason: 'draining' });
    const base = await serve({ metrics: new Registry(), ready: () => answer() as boolean, retryAfterS: 5, readyTimeoutMs: 50 });
    const draining = await fetch(`${base}/readyz`);
    expect(draining.status).toBe(503);
    expect(draining.headers.get('retry-after')).toBe('5');
    expect(await draining.json()).toEqual({ ready: false, reason: 'draining' });
    answer = () => Promise.reject(new Error('broker down'));
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ready: false, reason: 'broker down' });
    answer = () => { throw new Error('sync throw'); };
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ready: false, reason: 'sync throw' });
    answer = () => new Promise(() => undefined);
    const silent = await fetch(`${base}/readyz`);
    expect(silent.status).toBe(503);
    expect(await silent.json()).toEqual({ ready: false, reason: 'no answer within 50 ms' });
  });

  it('answers GET and HEAD, and 405 with Allow to any other method', async () => {
    const base = await serve({ metrics: new Registry(), ready: () => true });
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('refreshes gauges before a scrape', async () => {
    let scrapes = 0;
    const base = await serve({ metrics: new Registry(), ready: () => true, beforeScrape: () => void scrapes++ });
    await fetch(`${base}/metrics`);
    await fetch(`${base}/healthz`);
    expect(scrapes).toBe(1);
  });

  it('mounts on another server for its OPS_PATHS only', async () => {
    const endpoints: OpsEndpoints = { metrics: new Registry(), ready: () => true };
    const app = createServer((req, res) => {
      if (OPS_PATHS.has((req.url ?? '/').split('?')[0]!)) return handleOpsRequest(endpoints, req, res);
      res.writeHead(418).end();
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const { port } = app.address() as { port: number };
    try {
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/v1/track`)).status).toBe(418);
    } finally {
      await new Promise((r) => app.close(r));
    }
  });
});

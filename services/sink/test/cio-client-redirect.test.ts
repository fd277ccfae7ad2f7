import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CioClient } from '../src/cio-client.ts';
import { CioConfigError } from '../src/errors.ts';
import { mapEvent, type DeliveryItem } from '../src/mapping.ts';
import { refuseRedirect, redirectPolicyFor } from '../src/redirect-policy.ts';
import { SINK_USER_AGENT } from '../src/user-agent.ts';
import { makeEvent, startServer } from './helpers.ts';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  agent: string | undefined;
  body: string;
}

/** A loopback "region": records what reaches it, answers with `answer`. */
async function region(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const srv = await startServer((req, body, res) => {
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, agent: req.headers['user-agent'], body });
    answer(req, res);
  });
  closers.push(srv.close);
  return { ...srv, seen };
}

const ok = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
};
const redirectTo = (status: number, base: () => string) => (req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { location: base() + req.url });
  res.end();
};

function client(baseUrl: string): CioClient {
  const c = new CioClient({ baseUrl, siteId: 'site', apiKey: 'key', timeoutMs: 2000, userAgent: SINK_USER_AGENT });
  closers.push(() => c.close());
  return c;
}

const items = (n: number, api: 'v1' | 'v2' = 'v2'): DeliveryItem[] =>
  Array.from({ length: n }, (_, i) => mapEvent(makeEvent({ customer_id: `c${i}`, properties: { i } }), api));

const AUTH = `Basic ${Buffer.from('site:key').toString('base64')}`;

describe('CioClient redirects (an account in the other region)', () => {
  it('follows a 307 with method, body and credentials; the next call asks the original host again', async () => {
    const eu = await region(ok);
    const us = await region(redirectTo(307, () => eu.url));
    const c = client(us.url);
    const batch = items(2);
    expect(await c.sendBatch(batch)).toEqual([{ ok: true, status: 200 }, { ok: true, status: 200 }]);
    expect(eu.seen).toHaveLength(1);
    expect(eu.seen[0]).toMatchObject({ method: 'POST', url: '/api/v2/batch', auth: AUTH, body: `{"batch":[${batch.map((i) => i.json).join(',')}]}` });
    await c.sendBatch(items(1));
    expect(us.seen).toHaveLength(2);
    expect(c.baseUrl).toBe(us.url);
  });

  it('after a 308 (or 301) sends straight to the new host, keeping a path prefix', async () => {
    const eu = await region(ok);
    const us = await region((req, res) => {
      res.writeHead(308, { location: `${eu.url}/eu${req.url!.slice('/cio'.length)}` });
      res.end();
    });
    const c = client(`${us.url}/cio`);
    for (const item of items(3, 'v1')) expect(await c.sendBatch([item])).toEqual([{ ok: true, status: 200 }]);
    expect(us.seen).toHaveLength(1);
    expect(eu.seen.map((s) => s.url.startsWith('/eu/api/v1/customers/'))).toEqual([true, true, true]);
    expect(eu.seen.every((s) => s.auth === AUTH && s.method === 'POST')).toBe(true);
    expect(c.baseUrl).toBe(`${eu.url}/eu`);
  });

  it('after a 301 at the root, later calls of any path go to the new origin', async () => {
    const eu = await region(ok);
    const us = await region(redirectTo(301, () => eu.url));
    const c = client(us.url);
    for (const item of items(3, 'v1')) expect(await c.sendBatch([item])).toEqual([{ ok: true, status: 200 }]);
    expect(us.seen).toHaveLength(1);
    expect(new Set(eu.seen.map((s) => s.url)).size).toBe(3);
    expect(eu.seen.every((s) => /^\/api\/v1\/customers\/c\d\/events$/.test(s.url))).toBe(true);
    expect(c.baseUrl).toBe(eu.url);
  });

  it('refuses a redirect outside Customer.io and the configured host: a config fault for every item, never a rejection', async () => {
    const elsewhere = await region(ok);
    // "localhost" is another host than the configured 127.0.0.1, as any foreign host would be.
    const us = await region(redirectTo(302, () => elsewhere.url.replace('127.0.0.1', 'localhost')));
    const c = client(us.url);
    const results = await c.sendBatch(items(3));
    for (const r of results) {
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(CioConfigError);
        expect(r.error).toMatchObject({ code: 'CIO_REDIRECT', status: 302 });
      }
    }
    expect(elsewhere.seen).toEqual([]);
  });

  it('halts on a redirect it does not follow (303, no Location, a loop)', async () => {
    const see = await region((_req, res) => {
      res.writeHead(303, { location: '/api/v2/batch' });
      res.end();
    });
    const [r1] = await client(see.url).sendBatch(items(1));
    expect(r1).toMatchObject({ ok: false, error: { code: 'CIO_REDIRECT', status: 303 } });
    const bare = await region((_req, res) => {
      res.writeHead(307);
      res.end();
    });
    const [r2] = await client(bare.url).sendBatch(items(1));
    expect(r2).toMatchObject({ ok: false, error: { code: 'CIO_REDIRECT', status: 307 } });
    const loop = await region((req, res) => {
      res.writeHead(307, { location: req.url! });
      res.end();
    });
    const [r3] = await client(loop.url).sendBatch(items(1));
    expect(r3).toMatchObject({ ok: false, error: { code: 'CIO_REDIRECT' } });
    expect(loop.seen).toHaveLength(5);
  });

  it('names the project and its version in User-Agent', async () => {
    const srv = await region(ok);
    await client(srv.url).sendBatch(items(1));
    expect(srv.seen[0]!.agent).toMatch(/^cio-pipeline-sink\/\d+\.\d+\.\d+ /);
  });
});

describe('redirect policy', () => {
  const customerIo = redirectPolicyFor('https://track.customer.io');
  const emulator = redirectPolicyFor('http://127.0.0.1:8090');
  it("trusts Customer.io's hosts over https only, and the configured host", () => {
    expect(refuseRedirect(new URL('https://track-eu.customer.io/api/v2/batch'), customerIo)).toBeNull();
    expect(refuseRedirect(new URL('http://track-eu.customer.io/api/v2/batch'), customerIo)).toMatch(/plain http/);
    expect(refuseRedirect(new URL('https://customer.io.evil.example/'), customerIo)).toMatch(/outside/);
    expect(refuseRedirect(new URL('https://evilcustomer.io/'), customerIo)).toMatch(/outside/);
    expect(refuseRedirect(new URL('https://user:pw@track.customer.io/'), customerIo)).toMatch(/credentials/);
    expect(refuseRedirect(new URL('http://127.0.0.1:9999/x'), emulator)).toBeNull();
    expect(refuseRedirect(new URL('http://127.0.0.1:9999/x'), customerIo)).toMatch(/outside/);
  });
});

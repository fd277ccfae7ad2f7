import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { defaultFaults, loadConfig } from '../src/config.ts';
import { FaultInjector, mulberry32 } from '../src/faults.ts';
import { startEmulator, type Harness, type RequestJson } from './emulator-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startEmulator();
});
afterAll(() => h.close());
beforeEach(async () => {
  await h.post('/_emulator/reset', {});
});

const configure = async (patch: Record<string, unknown>) => {
  const res = await h.post('/_emulator/config', patch);
  expect(res.status).toBe(200);
};
const event = (id: string, name = 'e') => h.api('POST', `/api/v1/customers/${id}/events`, { name });
const eventCount = async () => (await h.get<Array<{ events: unknown[] }>>('/_emulator/people')).reduce((n, p) => n + p.events.length, 0);

describe('PRNG and fault decisions', () => {
  it('mulberry32 replays under a seed and differs across seeds', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('error share follows error_rate over many decisions', () => {
    const f = new FaultInjector({ ...defaultFaults(3), error_rate: 0.3 });
    let errors = 0;
    for (let i = 0; i < 20_000; i++) if (f.decide(true, 0).kind === 'error') errors++;
    expect(errors / 20_000).toBeGreaterThan(0.28);
    expect(errors / 20_000).toBeLessThan(0.32);
  });
});

describe('rate limit', () => {
  it('past the bucket: 429 with Retry-After, no side effects; recovers after waiting', async () => {
    await configure({ rate_limit_per_sec: 3 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await event('u1', `e${i}`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers.get('retry-after');
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(4);
    expect(retryAfter).toBe('1');
    expect(await eventCount()).toBe(statuses.filter((s) => s === 200).length);
    const log = await h.get<RequestJson[]>('/_emulator/requests');
    expect(log.filter((r) => r.status === 429).every((r) => r.fault === 'rate_limit')).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await event('u1')).status).toBe(200);
  });

  it('without Retry-After when retry_after is false', async () => {
    await configure({ rate_limit_per_sec: 1, retry_after: false });
    expect((await event('u1')).status).toBe(200);
    const res = await event('u1');
    expect(res.status).toBe(429);
    expect(res.headers.has('retry-after')).toBe(false);
    expect(await res.json()).toEqual({ meta: { error: 'rate limit exceeded' } });
  });
});

describe('latency', () => {
  it('delays every API request, never the inspection API', async () => {
    await configure({ latency_ms: 300 });
    let t = performance.now();
    expect((await event('u1')).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
    t = performance.now();
    expect((await h.api('PUT', '/api/v1/customers/u1', {}, { auth: null })).status).toBe(401);
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
    t = performance.now();
    await h.get('/_emulator/people');
    expect(performance.now() - t).toBeLessThan(200);
  });
});

describe('5xx errors', () => {
  it('share and statuses replay exactly under a seed; failed requests store nothing', async () => {
    const run = async () => {
      await h.post('/_emulator/reset', {});
      await configure({ error_rate: 0.5, error_statuses: [500, 503], seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await event('u1', `e${i}`)).status);
      return statuses;
    };
    const first = await run();
    const stored = await eventCount();
    const second = await run();
    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 500, 503]));
    const failed = first.filter((s) => s !== 200).length;
    expect(failed).toBeGreaterThan(15);
    expect(failed).toBeLessThan(45);
    expect(stored).toBe(60 - failed);

    // Naming the seed restarts the PRNG mid-run; another seed gives another sequence.
    const replay = async (seed: number) => {
      await configure({ seed });
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await event('u1')).status);
      return statuses;
    };
    expect(await replay(42)).toEqual(first);
    expect(await replay(43)).not.toEqual(first);
  });

  it('v2 error bodies use the v2 shape', async () => {
    await configure({ error_rate: 1, error_statuses: [502] });
    const res = await h.api('POST', '/api/v2/batch', { batch: [] });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({ errors: [{ reason: 'server_error', field: '', message: 'emulated 502 error' }] });
  });
});

describe('timeouts and resets', () => {
  it('timeout: no answer until the client gives up; nothing stored', async () => {
    await configure({ timeout_rate: 1 });
    const t = performance.now();
    const err = await h.api('POST', '/api/v1/customers/u1/events', { name: 'lost' }, { signal: AbortSignal.timeout(400) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(performance.now() - t).toBeGreaterThanOrEqual(390);
    expect(await eventCount()).toBe(0);
    const log = await h.get<RequestJson[]>('/_emulator/requests');
    expect(log.at(-1)).toMatchObject({ status: 0, fault: 'timeout' });
    await configure({ timeout_rate: 0 });
    expect((await event('u1')).status).toBe(200);
  }, 15_000);

  it('reset: the socket is destroyed; nothing stored', async () => {
    await configure({ reset_rate: 1 });
    const err = await event('u1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(await eventCount()).toBe(0);
    expect((await h.get<RequestJson[]>('/_emulator/requests')).at(-1)).toMatchObject({ status: 0, fault: 'reset' });
  });
});

describe('invalid credentials switch and scope', () => {
  it('makes every API request 401 even with the right credentials', async () => {
    await configure({ invalid_credentials: true });
    const res = await event('u1');
    expect(res.status).toBe(401);
    expect(await eventCount()).toBe(0);
    await configure({ invalid_credentials: false });
    expect((await event('u1')).status).toBe(200);
  });

  it('faults never touch /_emulator/* or /healthz', async () => {
    await configure({ error_rate: 1, latency_ms: 0, invalid_credentials: true });
    expect((await fetch(`${h.url}/_emulator/people`)).status).toBe(200);
    expect((await fetch(`${h.url}/_emulator/requests`)).status).toBe(200);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });
});

describe('another region', () => {
  it('redirects authorized Track API calls to the configured region, path and query kept; stores nothing', async () => {
    await configure({ redirect_to: 'https://track-eu.customer.io/', redirect_status: 301 });
    const res = await fetch(`${h.url}/api/v1/customers/u1/events?x=1`, {
      method: 'POST',
      redirect: 'manual',
      headers: { authorization: `Basic ${Buffer.from('site:key').toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e' }),
    });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('https://track-eu.customer.io/api/v1/customers/u1/events?x=1');
    expect(await eventCount()).toBe(0);
    expect((await h.get<RequestJson[]>('/_emulator/requests')).at(-1)).toMatchObject({ status: 301, fault: 'redirect' });
    // Wrong credentials are refused before any redirect.
    expect((await h.api('POST', '/api/v1/customers/u1/events', { name: 'e' }, { auth: null })).status).toBe(401);
    await configure({ redirect_to: null });
    expect((await event('u1')).status).toBe(200);
  });

  it('validates the redirect settings', async () => {
    const res = await h.post('/_emulator/config', { redirect_to: 'ftp://x', redirect_status: 303 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: string[] }).errors).toHaveLength(2);
  });
});

describe('config endpoint', () => {
  it('GET returns the settings; POST validates and reports every problem', async () => {
    expect(await h.get('/_emulator/config')).toEqual(defaultFaults(1));
    const res = await h.post('/_emulator/config', { error_rate: 2, error_statuses: [418], latency_ms: -1, bogus: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: string[] };
    expect(body.errors).toHaveLength(4);
    expect(await h.get('/_emulator/config')).toEqual(defaultFaults(1));
  });

  it('reset clears faults, data and the request log', async () => {
    await event('u1');
    await configure({ error_rate: 1, rate_limit_per_sec: 5 });
    expect((await h.post('/_emulator/reset', {})).status).toBe(200);
    expect(await h.get('/_emulator/config')).toEqual(defaultFaults(1));
    expect(await h.get('/_emulator/people')).toEqual([]);
    expect(await h.get('/_emulator/requests')).toEqual([]);
    expect((await event('u1')).status).toBe(200);
  });
});

describe('start-up flags', () => {
  it('env fault flags are parsed and applied from the first request', async () => {
    const config = loadConfig({ EMULATOR_ERROR_RATE: '1', EMULATOR_ERROR_STATUSES: '503', EMULATOR_SEED: '9', EMULATOR_PORT: '0' });
    expect(config.faults).toMatchObject({ error_rate: 1, error_statuses: [503], seed: 9 });
    const other = await startEmulator(config);
    try {
      expect((await other.api('POST', '/api/v1/customers/u1/events', { name: 'x' })).status).toBe(503);
    } finally {
      await other.close();
    }
  });

  it('reports every bad env value at once', () => {
    let caught: unknown;
    try {
      loadConfig({ EMULATOR_PORT: 'x', EMULATOR_ERROR_RATE: '3', EMULATOR_ERROR_STATUSES: '418', EMULATOR_RETRY_AFTER: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.length).toBeGreaterThanOrEqual(4);
  });
});

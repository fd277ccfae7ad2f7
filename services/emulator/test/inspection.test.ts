import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Harness, type PersonJson, type RequestJson } from './emulator-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startEmulator({ requestLogLimit: 5 });
});
afterAll(() => h.close());
beforeEach(async () => {
  await h.post('/_emulator/reset', {});
});

describe('inspection API', () => {
  it('GET /healthz', async () => {
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /_emulator/people/{key} by id, email (any case), cio_id; 404 otherwise', async () => {
    await h.api('PUT', '/api/v1/customers/u1', { email: 'Mia@x.io' });
    const byId = await h.get<PersonJson>('/_emulator/people/u1');
    expect(await h.get<PersonJson>('/_emulator/people/MIA%40X.IO')).toEqual(byId);
    expect(await h.get<PersonJson>(`/_emulator/people/${byId.cio_id}`)).toEqual(byId);
    expect(await h.get<PersonJson>(`/_emulator/people/cio_${byId.cio_id}`)).toEqual(byId);
    expect((await fetch(`${h.url}/_emulator/people/nobody`)).status).toBe(404);
  });

  it('GET /_emulator/people lists people in creation order', async () => {
    await h.api('POST', '/api/v2/batch', { batch: ['b', 'a', 'c'].map((id) => ({ type: 'person', identifiers: { id }, action: 'identify' })) });
    expect((await h.get<PersonJson[]>('/_emulator/people')).map((p) => p.id)).toEqual(['b', 'a', 'c']);
  });

  it('GET /_emulator/requests: method, path, status, error, item_count; bounded with a total count', async () => {
    await h.api('PUT', '/api/v1/customers/u1', {});
    await h.api('POST', '/api/v1/customers/u1/events', { name: '' });
    await h.api('POST', '/api/v2/batch', { batch: [{ type: 'person', identifiers: { id: 'u1' }, action: 'event', name: 'x' }] });
    let log = await h.get<RequestJson[]>('/_emulator/requests');
    expect(log).toEqual([
      { at: expect.any(String), method: 'PUT', path: '/api/v1/customers/u1', status: 200 },
      expect.objectContaining({ method: 'POST', path: '/api/v1/customers/u1/events', status: 400, error: 'name cannot be blank' }),
      { at: expect.any(String), method: 'POST', path: '/api/v2/batch', status: 200, item_count: 1 },
    ]);
    for (let i = 0; i < 5; i++) await h.api('PUT', `/api/v1/customers/n${i}`, {});
    const res = await fetch(`${h.url}/_emulator/requests`);
    expect(res.headers.get('x-total-count')).toBe('8');
    log = (await res.json()) as RequestJson[];
    expect(log.map((r) => r.path)).toEqual([0, 1, 2, 3, 4].map((i) => `/api/v1/customers/n${i}`));
    const stats = await h.get<{ requests_total: number; requests_retained: number; people: number }>('/_emulator/stats');
    expect(stats).toMatchObject({ requests_total: 8, requests_retained: 5, people: 6 });
  });

  it('the rejected filter keeps only non-200 answers', async () => {
    await h.api('PUT', '/api/v1/customers/u1', {});
    await h.api('PUT', '/api/v1/customers/u1', {}, { auth: null });
    const rejected = await h.get<RequestJson[]>('/_emulator/requests?rejected=1');
    expect(rejected.map((r) => r.status)).toEqual([401]);
  });

  it('serves a self-contained inspector page with a strict CSP', async () => {
    const res = await fetch(`${h.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'sha256-[^']+'/);
    const html = await res.text();
    expect(html).not.toMatch(/\s(src|href)=/);
    expect(html).toContain('/_emulator/people');
  });

  it('unknown paths are 404', async () => {
    expect((await fetch(`${h.url}/nope`)).status).toBe(404);
    expect((await fetch(`${h.url}/_emulator/nope`)).status).toBe(404);
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pad, sizedJson, startEmulator, ulid, type Harness, type PersonJson } from './emulator-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startEmulator();
});
afterAll(() => h.close());
beforeEach(async () => {
  await h.post('/_emulator/reset', {});
});

const person = (key: string) => h.get<PersonJson>(`/_emulator/people/${encodeURIComponent(key)}`);
const identify = (key: string, body: unknown) => h.api('PUT', `/api/v1/customers/${encodeURIComponent(key)}`, body);
const track = (key: string, body: unknown) => h.api('POST', `/api/v1/customers/${encodeURIComponent(key)}/events`, body);

describe('auth', () => {
  it('answers 401 without or with wrong credentials, and changes nothing', async () => {
    const none = await h.api('PUT', '/api/v1/customers/u1', { a: 1 }, { auth: null });
    expect(none.status).toBe(401);
    const wrong = await h.api('PUT', '/api/v1/customers/u1', { a: 1 }, { auth: `Basic ${Buffer.from('site:nope').toString('base64')}` });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ meta: { error: 'Unauthorized request' } });
    expect(await h.get('/_emulator/people')).toEqual([]);
  });

  it('accepts the right credentials', async () => {
    const res = await identify('u1', {});
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });
});

describe('identify (PUT /api/v1/customers/{identifier})', () => {
  it('creates then updates a person; the exact inspection shape', async () => {
    expect((await identify('u1', { email: 'Ann@Example.com', plan: 'pro', created_at: 1700000000 })).status).toBe(200);
    expect((await identify('u1', { plan: 'max', age: 40 })).status).toBe(200);
    const p = await person('u1');
    expect(Object.keys(p).sort()).toEqual(['anonymous_ids', 'attributes', 'cio_id', 'email', 'events', 'id'].sort());
    expect(p).toMatchObject({ id: 'u1', email: 'Ann@Example.com', anonymous_ids: [], attributes: { plan: 'max', age: 40, created_at: 1700000000 }, events: [] });
    expect(p.cio_id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('infers the identifier type: email (case-insensitive), cio_<x>, id; URL-decoded', async () => {
    await identify('bob@example.com', { plan: 'a' });
    await identify('BOB@EXAMPLE.COM', { tier: 2 });
    const people = await h.get<PersonJson[]>('/_emulator/people');
    expect(people).toHaveLength(1);
    expect(people[0]).toMatchObject({ id: null, email: 'bob@example.com', attributes: { plan: 'a', tier: 2 } });
    const cio = people[0]!.cio_id;
    expect((await identify(`cio_${cio}`, { id: 'b-1' })).status).toBe(200);
    expect(await person('b-1')).toMatchObject({ cio_id: cio, email: 'bob@example.com' });
    expect((await h.api('PUT', '/api/v1/customers/a%2Fb%20c', {})).status).toBe(200);
    expect((await person('a/b c')).id).toBe('a/b c');
  });

  it('rejects an unknown cio_id and a blank one', async () => {
    expect((await identify('cio_doesnotexist', { a: 1 })).status).toBe(404);
    expect((await h.api('PUT', '/api/v1/customers/cio_', {})).status).toBe(400);
  });

  it('gives the same cio_id for the same journey (deterministic)', async () => {
    await identify('same', {});
    const first = (await person('same')).cio_id;
    await h.post('/_emulator/reset', {});
    await identify('same', {});
    expect((await person('same')).cio_id).toBe(first);
  });

  it('_update: true never creates a person', async () => {
    expect((await identify('ghost', { _update: true, a: 1 })).status).toBe(200);
    expect((await fetch(`${h.url}/_emulator/people/ghost`)).status).toBe(404);
  });

  it('null or "" removes an attribute', async () => {
    await identify('u1', { a: 1, b: 2 });
    await identify('u1', { a: null, b: '' });
    expect((await person('u1')).attributes).toEqual({});
  });

  it('id: 150 bytes accepted, 151 rejected (bytes, not characters)', async () => {
    expect((await identify(pad(150), {})).status).toBe(200);
    const over = await identify(pad(151), {});
    expect(over.status).toBe(400);
    expect(await over.json()).toEqual({ meta: { errors: ['id must be at most 150 bytes'] } });
    expect((await identify('é'.repeat(75), {})).status).toBe(200);
    expect((await identify('é'.repeat(76), {})).status).toBe(400);
    expect((await identify('u2', { id: pad(151) })).status).toBe(400);
  });

  it('attribute name: 150 bytes accepted, 151 rejected', async () => {
    expect((await identify('u1', { [pad(150)]: 1 })).status).toBe(200);
    const res = await identify('u1', { [pad(151)]: 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { meta: { errors: string[] } };
    expect(body.meta.errors[0]).toContain('attribute name must be at most 150 bytes');
  });

  it('attribute value: 1000 bytes accepted, 1001 rejected (strings and JSON values)', async () => {
    expect((await identify('u1', { v: pad(1000) })).status).toBe(200);
    const res = await identify('u1', { v: pad(1001) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { meta: { errors: string[] } }).meta.errors[0]).toContain('attribute value must be at most 1000 bytes');
    const obj1000 = sizedJson(1000, (n) => ({ k: pad(n) }));
    expect((await identify('u1', { o: obj1000 })).status).toBe(200);
    expect((await identify('u1', { o: sizedJson(1001, (n) => ({ k: pad(n) })) })).status).toBe(400);
    expect((await person('u1')).attributes.v).toBe(pad(1000));
  });

  it('300 attributes in one call accepted, 301 rejected with the documented message', async () => {
    const attrs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`, i]));
    expect((await identify('u1', { email: 'u1@x.io', ...attrs(300) })).status).toBe(200);
    const res = await identify('u2', attrs(301));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ meta: { error: 'cannot identify more than 300 attributes in one request' } });
    expect((await fetch(`${h.url}/_emulator/people/u2`)).status).toBe(404);
  });

  it('caps a person at 300 attributes across calls', async () => {
    const attrs = (from: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${from + i}`, 1]));
    expect((await identify('u1', attrs(0, 200))).status).toBe(200);
    expect((await identify('u1', attrs(200, 100))).status).toBe(200);
    const res = await identify('u1', attrs(300, 1));
    expect(res.status).toBe(400);
    expect(Object.keys((await person('u1')).attributes)).toHaveLength(300);
  });

  it('rejects a malformed email and a non-object body', async () => {
    expect((await identify('u1', { email: 'not-an-email' })).status).toBe(400);
    expect((await h.api('PUT', '/api/v1/customers/u1', undefined, { raw: '[1,2]' })).status).toBe(400);
    expect((await h.api('PUT', '/api/v1/customers/u1', undefined, { raw: '{nope' })).status).toBe(400);
  });

  it('does not move an email another person owns (200 with a warning in the log)', async () => {
    await identify('u1', { email: 'shared@x.io' });
    expect((await identify('u2', { email: 'SHARED@x.io' })).status).toBe(200);
    expect((await person('u2')).email).toBeNull();
    expect((await person('shared@x.io')).id).toBe('u1');
    const log = await h.get<Array<{ warnings?: string[] }>>('/_emulator/requests');
    expect(log.at(-1)?.warnings?.[0]).toContain('belongs to another person');
  });
});

describe('events (POST /api/v1/customers/{identifier}/events)', () => {
  it('stores events in received order with the stored shape; unknown id creates the person', async () => {
    expect((await track('u9', { name: 'first', data: { a: 1 }, timestamp: 1700000000 })).status).toBe(200);
    expect((await track('u9', { name: 'second', type: 'page', id: ulid(1) })).status).toBe(200);
    const p = await person('u9');
    expect(p.events.map((e) => e.name)).toEqual(['first', 'second']);
    expect(p.events[0]).toMatchObject({ name: 'first', id: null, timestamp: 1700000000, data: { a: 1 } });
    expect(Object.keys(p.events[0]!).sort()).toEqual(['data', 'id', 'name', 'received_at', 'timestamp']);
    expect(Number.isNaN(Date.parse(p.events[0]!.received_at))).toBe(false);
    const ext = await h.get<PersonJson>('/_emulator/people/u9?extended=1');
    expect(ext.events.map((e) => e.type)).toEqual(['event', 'page']);
  });

  it('to an email attaches case-insensitively', async () => {
    await identify('u1', { email: 'cat@x.io' });
    await track('CAT@x.io', { name: 'purchase' });
    expect((await person('u1')).events.map((e) => e.name)).toEqual(['purchase']);
  });

  it('blank name: meta.error "name cannot be blank"', async () => {
    for (const name of ['', '   ', undefined]) {
      const res = await track('u1', { name });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ meta: { error: 'name cannot be blank' } });
    }
  });

  it('name: 100 bytes accepted, 101 rejected', async () => {
    expect((await track('u1', { name: pad(100) })).status).toBe(200);
    const res = await track('u1', { name: pad(101) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ meta: { errors: ['name: name must be at most 100 bytes'] } });
    expect((await track('u1', { name: 'ü'.repeat(51) })).status).toBe(400);
  });

  it('data: 100,000 bytes of JSON accepted, 100,001 rejected', async () => {
    const ok = sizedJson(100_000, (n) => ({ blob: pad(n) }));
    expect((await track('u1', { name: 'big', data: ok })).status).toBe(200);
    const over = sizedJson(100_001, (n) => ({ blob: pad(n) }));
    const res = await track('u1', { name: 'big', data: over });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { meta: { errors: string[] } }).meta.errors[0]).toContain('at most 100000 bytes');
    expect((await person('u1')).events).toHaveLength(1);
  });

  it('id must be a ULID', async () => {
    for (const id of ['not-a-ulid', '81HZX000000000000000000000', '01HZX0000000000000000000I0', ulid(1).slice(1), 42]) {
      const res = await track('u1', { name: 'x', id });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { meta: { errors: string[] } }).meta.errors[0]).toContain('ULID');
    }
    expect((await track('u1', { name: 'x', id: ulid(7).toLowerCase() })).status).toBe(200);
  });

  it('rejects a bad type and a millisecond timestamp', async () => {
    expect((await track('u1', { name: 'x', type: 'click' })).status).toBe(400);
    expect((await track('u1', { name: 'x', timestamp: 1_700_000_000_000 })).status).toBe(400);
    expect((await track('u1', { name: 'x', timestamp: '1700000000' })).status).toBe(400);
  });

  it('dedupes by id: a repeat answers 200 and is not stored twice (across people and endpoints)', async () => {
    const id = ulid(99);
    expect((await track('u1', { name: 'order', id })).status).toBe(200);
    expect((await track('u1', { name: 'order', id })).status).toBe(200);
    expect((await track('u2', { name: 'order', id: id.toLowerCase() })).status).toBe(200);
    const batch = await h.api('POST', '/api/v2/batch', { batch: [{ type: 'person', identifiers: { id: 'u1' }, action: 'event', name: 'order', id }] });
    expect(batch.status).toBe(200);
    expect((await person('u1')).events).toHaveLength(1);
    expect((await fetch(`${h.url}/_emulator/people/u2`)).status).toBe(404);
  });

  it('unknown cio_id is a 404', async () => {
    expect((await track('cio_nobody', { name: 'x' })).status).toBe(404);
  });
});

describe('anonymous events (POST /api/v1/events)', () => {
  it('wait for an identify with the anonymous_id, then attach in received order', async () => {
    expect((await h.api('POST', '/api/v1/events', { name: 'viewed', anonymous_id: 'anon-1' })).status).toBe(200);
    expect((await h.api('POST', '/api/v1/events', { name: 'added', anonymous_id: 'anon-1' })).status).toBe(200);
    await h.api('POST', '/api/v1/events', { name: 'other', anonymous_id: 'anon-2' });
    await track('u1', { name: 'logged_in' });
    const waiting = await h.get<Array<{ anonymous_id: string; events: Array<{ name: string }> }>>('/_emulator/anonymous');
    expect(waiting.map((w) => [w.anonymous_id, w.events.map((e) => e.name)])).toEqual([['anon-1', ['viewed', 'added']], ['anon-2', ['other']]]);

    expect((await identify('u1', { anonymous_id: 'anon-1' })).status).toBe(200);
    const p = await person('u1');
    expect(p.anonymous_ids).toEqual(['anon-1']);
    expect(p.events.map((e) => e.name)).toEqual(['viewed', 'added', 'logged_in']);
    // Later anonymous events with a known anonymous_id go straight to the person.
    await h.api('POST', '/api/v1/events', { name: 'later', anonymous_id: 'anon-1' });
    expect((await person('u1')).events.map((e) => e.name)).toEqual(['viewed', 'added', 'logged_in', 'later']);
    const left = await h.get<Array<{ anonymous_id: string }>>('/_emulator/anonymous');
    expect(left.map((w) => w.anonymous_id)).toEqual(['anon-2']);
  });

  it('validates like person events', async () => {
    expect((await h.api('POST', '/api/v1/events', { name: ' ', anonymous_id: 'a' })).status).toBe(400);
    expect((await h.api('POST', '/api/v1/events', { name: 'x', anonymous_id: 5 })).status).toBe(400);
  });
});

describe('merge (POST /api/v1/merge_customers)', () => {
  it('moves events, attributes and anonymous ids to the primary and deletes the secondary', async () => {
    await identify('p1', { plan: 'pro', shared: 'primary' });
    await track('p1', { name: 'a' });
    await h.api('POST', '/api/v1/events', { name: 'anon', anonymous_id: 'x1' });
    await identify('s@x.io', { shared: 'secondary', only_secondary: true, anonymous_id: 'x1' });
    await track('s@x.io', { name: 'b' });
    await track('p1', { name: 'c' });
    const res = await h.api('POST', '/api/v1/merge_customers', { primary: { id: 'p1' }, secondary: { email: 's@x.io' } });
    expect(res.status).toBe(200);
    const p = await person('p1');
    expect(p.attributes).toEqual({ plan: 'pro', shared: 'primary', only_secondary: true });
    expect(p.anonymous_ids).toEqual(['x1']);
    expect(p.email).toBe('s@x.io');
    expect(p.events.map((e) => e.name)).toEqual(['a', 'anon', 'b', 'c']);
    expect(await h.get<PersonJson[]>('/_emulator/people')).toHaveLength(1);
  });

  it('primary must exist (400 meta.error); each side needs exactly one identifier', async () => {
    await identify('s1', {});
    const missing = await h.api('POST', '/api/v1/merge_customers', { primary: { id: 'nobody' }, secondary: { id: 's1' } });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ meta: { error: 'primary person not found' } });
    const two = await h.api('POST', '/api/v1/merge_customers', { primary: { id: 's1', email: 'a@b.c' }, secondary: { id: 's1' } });
    expect(two.status).toBe(400);
    expect(((await two.json()) as { meta: { error: string } }).meta.error).toContain('exactly one');
    const none = await h.api('POST', '/api/v1/merge_customers', { primary: {}, secondary: { id: 's1' } });
    expect(none.status).toBe(400);
    expect((await person('s1')).id).toBe('s1');
  });
});

describe('delete, devices, suppression', () => {
  it('DELETE removes a person (200 also when absent)', async () => {
    await identify('u1', {});
    expect((await h.api('DELETE', '/api/v1/customers/u1')).status).toBe(200);
    expect((await fetch(`${h.url}/_emulator/people/u1`)).status).toBe(404);
    expect((await h.api('DELETE', '/api/v1/customers/u1')).status).toBe(200);
  });

  it('PUT devices validates with meta.errors and stores the device', async () => {
    const bad = await h.api('PUT', '/api/v1/customers/u1/devices', { device: { platform: 'windows' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ meta: { errors: ['device.id is required', 'device.platform must be ios or android'] } });
    expect((await h.api('PUT', '/api/v1/customers/u1/devices', { device: { id: 'tok', platform: 'ios', last_used: 1700000000 } })).status).toBe(200);
    const p = await h.get<{ devices: Array<{ id: string }> }>('/_emulator/people/u1?extended=1');
    expect(p.devices.map((d) => d.id)).toEqual(['tok']);
    expect((await h.api('DELETE', '/api/v1/customers/u1/devices/tok')).status).toBe(200);
    expect((await h.get<{ devices: unknown[] }>('/_emulator/people/u1?extended=1')).devices).toEqual([]);
  });

  it('suppress and unsuppress flip the flag', async () => {
    await identify('u1', {});
    expect((await h.api('POST', '/api/v1/customers/u1/suppress')).status).toBe(200);
    expect((await h.get<{ suppressed: boolean }>('/_emulator/people/u1?extended=1')).suppressed).toBe(true);
    expect((await h.api('POST', '/api/v1/customers/u1/unsuppress')).status).toBe(200);
    expect((await h.get<{ suppressed: boolean }>('/_emulator/people/u1?extended=1')).suppressed).toBe(false);
  });

  it('unknown routes 404 and wrong methods 405', async () => {
    expect((await h.api('GET', '/api/v1/nothing')).status).toBe(404);
    expect((await h.api('GET', '/api/v1/customers/u1')).status).toBe(405);
    expect((await h.api('GET', '/api/v1/accounts/region')).status).toBe(200);
  });
});

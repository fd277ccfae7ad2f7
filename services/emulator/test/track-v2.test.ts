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
const batch = (items: unknown[]) => h.api('POST', '/api/v2/batch', { batch: items });
const entity = (item: unknown) => h.api('POST', '/api/v2/entity', item);
const ev = (id: string, name: string, extra: Record<string, unknown> = {}) => ({ type: 'person', identifiers: { id }, action: 'event', name, ...extra });

type BatchErrors = { errors: Array<{ batch_index?: number; reason: string; field: string; message: string }> };

describe('POST /api/v2/entity', () => {
  it('identify then event: 200 {}', async () => {
    const r1 = await entity({ type: 'person', identifiers: { email: 'Zoe@x.io' }, action: 'identify', attributes: { plan: 'pro', id: 'z1' } });
    expect(r1.status).toBe(200);
    expect(await r1.json()).toEqual({});
    expect((await entity({ type: 'person', identifiers: { id: 'z1' }, action: 'event', name: 'paid', attributes: { total: 5 }, timestamp: 1700000000 })).status).toBe(200);
    const p = await person('zoe@x.io');
    expect(p).toMatchObject({ id: 'z1', email: 'Zoe@x.io', attributes: { plan: 'pro' } });
    expect(p.events).toEqual([expect.objectContaining({ name: 'paid', data: { total: 5 }, timestamp: 1700000000, id: null })]);
  });

  it('an invalid item is a 400 with {errors:[{reason, field, message}]}, no meta wrapper', async () => {
    const res = await entity({ type: 'person', identifiers: { id: 'u1' }, action: 'event', name: '' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [{ reason: 'required', field: 'name', message: 'name cannot be blank' }] });
  });

  it('item of exactly 32 KB accepted, one byte over rejected', async () => {
    const make = (n: number) => ev('u1', 'big', { attributes: { blob: pad(n) } });
    const atLimit = sizedJson(32 * 1024, make);
    expect((await entity(atLimit)).status).toBe(200);
    const over = sizedJson(32 * 1024 + 1, make);
    const res = await entity(over);
    expect(res.status).toBe(400);
    expect(((await res.json()) as BatchErrors).errors[0]!.reason).toBe('too_large');
    expect((await person('u1')).events).toHaveLength(1);
  });

  it('broken JSON is a 400', async () => {
    const res = await h.api('POST', '/api/v2/entity', undefined, { raw: '{"type":' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as BatchErrors).errors[0]!.reason).toBe('invalid_json');
  });
});

describe('POST /api/v2/batch', () => {
  it('all valid: 200 {}, applied in order', async () => {
    const res = await batch([
      { type: 'person', identifiers: { id: 'u1' }, action: 'identify', attributes: { a: 1 } },
      ev('u1', 'one'),
      { ...ev('u1', 'two'), action: 'page' },
      { ...ev('u1', 'three'), action: 'screen' },
    ]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const p = await h.get<PersonJson>('/_emulator/people/u1?extended=1');
    expect(p.events.map((e) => [e.name, e.type])).toEqual([['one', 'event'], ['two', 'page'], ['three', 'screen']]);
  });

  it('207 partial failure: errors carry batch_index; valid items are applied in order', async () => {
    const res = await batch([
      ev('u1', 'ok-0'),
      ev('u1', pad(101)),
      { type: 'person', identifiers: { id: 'u1', email: 'a@b.c' }, action: 'event', name: 'two-ids' },
      ev('u1', 'ok-3'),
      ev('u1', 'bad-id', { id: 'nope' }),
      { type: 'person', identifiers: { id: 'u1' }, action: 'fly' },
      ev('u1', 'ok-6'),
    ]);
    expect(res.status).toBe(207);
    const body = (await res.json()) as BatchErrors;
    expect(body.errors.map((e) => [e.batch_index, e.field, e.reason])).toEqual([
      [1, 'name', 'too_long'],
      [2, 'identifiers', 'invalid_value'],
      [4, 'id', 'invalid_value'],
      [5, 'action', 'invalid_value'],
    ]);
    for (const e of body.errors) expect(typeof e.message).toBe('string');
    expect((await person('u1')).events.map((e) => e.name)).toEqual(['ok-0', 'ok-3', 'ok-6']);
    const log = await h.get<Array<{ status: number; item_count: number; error: string }>>('/_emulator/requests');
    expect(log.at(-1)).toMatchObject({ status: 207, item_count: 7 });
    expect(log.at(-1)!.error).toContain('4 of 7 items invalid');
  });

  it('identifiers: exactly one of id|email|cio_id|phone', async () => {
    const res = await batch([
      { type: 'person', identifiers: {}, action: 'identify' },
      { type: 'person', identifiers: { foo: 'x' }, action: 'identify' },
      { type: 'person', identifiers: { id: pad(151) }, action: 'identify' },
      { type: 'person', identifiers: { email: 'nope' }, action: 'identify' },
      { type: 'person', identifiers: { cio_id: 'unknown' }, action: 'identify' },
      { type: 'person', identifiers: { phone: '+4912345' }, action: 'identify', attributes: { a: 1 } },
      { type: 'person', identifiers: { id: pad(150) }, action: 'identify' },
      { type: 'person', identifiers: { id: 42 }, action: 'identify' },
      { type: 'object', identifiers: { id: 'x' }, action: 'identify' },
      { identifiers: { id: 'x' }, action: 'identify' },
    ]);
    expect(res.status).toBe(207);
    const body = (await res.json()) as BatchErrors;
    expect(body.errors.map((e) => [e.batch_index, e.reason])).toEqual([
      [0, 'invalid_value'],
      [1, 'invalid_value'],
      [2, 'too_long'],
      [3, 'invalid_value'],
      [4, 'not_found'],
      [8, 'unsupported'],
      [9, 'required'],
    ]);
    expect((await person('+4912345')).attributes).toEqual({ a: 1 });
    expect((await person('42')).id).toBe('42');
  });

  it('attribute limits per item: name 150/151, value 1000/1001, 300/301 attributes', async () => {
    const attrs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const res = await batch([
      { type: 'person', identifiers: { id: 'a' }, action: 'identify', attributes: { [pad(150)]: 1, v: pad(1000) } },
      { type: 'person', identifiers: { id: 'b' }, action: 'identify', attributes: { [pad(151)]: 1 } },
      { type: 'person', identifiers: { id: 'c' }, action: 'identify', attributes: { v: pad(1001) } },
      { type: 'person', identifiers: { id: 'd' }, action: 'identify', attributes: attrs(300) },
      { type: 'person', identifiers: { id: 'e' }, action: 'identify', attributes: attrs(301) },
    ]);
    expect(res.status).toBe(207);
    const body = (await res.json()) as BatchErrors;
    expect(body.errors.map((e) => [e.batch_index, e.reason])).toEqual([[1, 'too_long'], [2, 'too_large'], [4, 'too_many']]);
    expect(body.errors[2]!.message).toBe('cannot identify more than 300 attributes in one request');
    expect((await h.get<PersonJson[]>('/_emulator/people')).map((p) => p.id)).toEqual(['a', 'd']);
  });

  it('event item limits: name 100 ok, blank rejected, ULID ids, dedupe within and across batches', async () => {
    const res = await batch([
      ev('u1', pad(100), { id: ulid(1) }),
      ev('u1', '  '),
      ev('u1', 'dup', { id: ulid(1) }),
      ev('u1', 'second', { id: ulid(2) }),
      ev('u1', 'ts', { timestamp: 1.5 }),
    ]);
    expect(res.status).toBe(207);
    expect(((await res.json()) as BatchErrors).errors.map((e) => [e.batch_index, e.field, e.reason])).toEqual([
      [1, 'name', 'required'],
      [4, 'timestamp', 'invalid_value'],
    ]);
    expect((await batch([ev('u1', 'again', { id: ulid(2) })])).status).toBe(200);
    expect((await person('u1')).events.map((e) => e.id)).toEqual([ulid(1), ulid(2)]);
  });

  it('an item over 32 KB is invalid on its own; the rest is applied', async () => {
    const make = (n: number) => ev('u1', 'big', { attributes: { blob: pad(n) } });
    const res = await batch([ev('u1', 'small'), sizedJson(32 * 1024 + 1, make), sizedJson(32 * 1024, make)]);
    expect(res.status).toBe(207);
    expect(((await res.json()) as BatchErrors).errors).toEqual([{ batch_index: 1, reason: 'too_large', field: '', message: 'item must be at most 32768 bytes' }]);
    expect((await person('u1')).events.map((e) => e.name)).toEqual(['small', 'big']);
  });

  it('body just under 500 KB accepted; 500 KB rejects the whole request (nothing applied)', async () => {
    const limit = 500 * 1024;
    const make = (total: number) => {
      // 22 items of ~23 KB, the last grown to hit the exact total while staying under 32 KB.
      const items = Array.from({ length: 22 }, (_, i) => ev('u1', `e${i}`, { attributes: { blob: pad(23_000) } }));
      const base = Buffer.byteLength(JSON.stringify({ batch: items }));
      items[21] = ev('u1', 'e21', { attributes: { blob: pad(23_000 + total - base) } });
      const text = JSON.stringify({ batch: items });
      expect(Buffer.byteLength(text)).toBe(total);
      return text;
    };
    const under = await h.api('POST', '/api/v2/batch', undefined, { raw: make(limit - 1) });
    expect(under.status).toBe(200);
    expect((await person('u1')).events).toHaveLength(22);
    await h.post('/_emulator/reset', {});
    const at = await h.api('POST', '/api/v2/batch', undefined, { raw: make(limit) });
    expect(at.status).toBe(400);
    expect(await at.json()).toEqual({ errors: [{ reason: 'too_large', field: '', message: 'batch body must be smaller than 512000 bytes' }] });
    expect(await h.get('/_emulator/people')).toEqual([]);
  });

  it('whole-request problems are 400 without batch_index', async () => {
    for (const raw of ['{"batch":', '{"items":[]}', '[]', '{"batch":{}}']) {
      const res = await h.api('POST', '/api/v2/batch', undefined, { raw });
      expect(res.status).toBe(400);
      const body = (await res.json()) as BatchErrors;
      expect(body.errors[0]).not.toHaveProperty('batch_index');
      expect(Object.keys(body.errors[0]!).sort()).toEqual(['field', 'message', 'reason']);
    }
  });

  it('anonymous event (no identifiers, anonymous_id) waits and attaches on identify', async () => {
    const res = await batch([
      { type: 'person', anonymous_id: 'anon-9', action: 'event', name: 'browse' },
      { type: 'person', anonymous_id: 'anon-9', action: 'page', name: '/cart' },
      ev('u1', 'own'),
      { type: 'person', identifiers: { id: 'u1' }, action: 'identify', anonymous_id: 'anon-9' },
    ]);
    expect(res.status).toBe(200);
    const p = await person('u1');
    expect(p.anonymous_ids).toEqual(['anon-9']);
    expect(p.events.map((e) => e.name)).toEqual(['browse', '/cart', 'own']);
    const noAnon = await batch([{ type: 'person', action: 'event', name: 'x' }]);
    expect(noAnon.status).toBe(207);
  });

  it('merge: primary wins; missing primary invalid; exactly one identifier each side', async () => {
    await batch([ev('p', 'p1'), ev('s', 's1'), { type: 'person', identifiers: { id: 's' }, action: 'identify', attributes: { x: 1 } }]);
    const res = await batch([
      { type: 'person', action: 'merge', primary: { id: 'nobody' }, secondary: { id: 's' } },
      { type: 'person', action: 'merge', primary: { id: 'p', email: 'a@b.c' }, secondary: { id: 's' } },
      { type: 'person', action: 'merge', primary: { id: 'p' }, secondary: { id: 's' } },
    ]);
    expect(res.status).toBe(207);
    expect(((await res.json()) as BatchErrors).errors.map((e) => [e.batch_index, e.field, e.reason])).toEqual([
      [0, 'primary', 'not_found'],
      [1, 'primary', 'invalid_value'],
    ]);
    const people = await h.get<PersonJson[]>('/_emulator/people');
    expect(people.map((p) => p.id)).toEqual(['p']);
    expect(people[0]!.events.map((e) => e.name)).toEqual(['p1', 's1']);
    expect(people[0]!.attributes).toEqual({ x: 1 });
  });

  it('delete, devices, suppress', async () => {
    const res = await batch([
      { type: 'person', identifiers: { id: 'd1' }, action: 'identify' },
      { type: 'person', identifiers: { id: 'd1' }, action: 'add_device', device: { token: 't1', platform: 'android' } },
      { type: 'person', identifiers: { id: 'd1' }, action: 'add_device', device: { platform: 'ios' } },
      { type: 'person', identifiers: { id: 'd1' }, action: 'suppress' },
      { type: 'person', identifiers: { id: 'gone' }, action: 'identify' },
      { type: 'person', identifiers: { id: 'gone' }, action: 'delete' },
    ]);
    expect(res.status).toBe(207);
    expect(((await res.json()) as BatchErrors).errors.map((e) => [e.batch_index, e.field])).toEqual([[2, 'device.token']]);
    const p = await h.get<{ devices: Array<{ id: string }>; suppressed: boolean }>('/_emulator/people/d1?extended=1');
    expect(p.devices.map((d) => d.id)).toEqual(['t1']);
    expect(p.suppressed).toBe(true);
    expect((await fetch(`${h.url}/_emulator/people/gone`)).status).toBe(404);
    expect((await batch([{ type: 'person', identifiers: { id: 'd1' }, action: 'delete_device', device: { token: 't1' } }])).status).toBe(200);
    expect((await h.get<{ devices: unknown[] }>('/_emulator/people/d1?extended=1')).devices).toEqual([]);
  });

  it('401 without credentials; request logged', async () => {
    const res = await h.api('POST', '/api/v2/batch', { batch: [ev('u1', 'x')] }, { auth: null });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ errors: [{ reason: 'unauthorized', field: '', message: 'Unauthorized request' }] });
    expect(await h.get('/_emulator/people')).toEqual([]);
    const log = await h.get<Array<{ status: number }>>('/_emulator/requests');
    expect(log.map((r) => r.status)).toEqual([401]);
  });
});

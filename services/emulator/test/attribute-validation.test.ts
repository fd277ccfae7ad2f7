/**
 * Per-attribute validation as Customer.io does it: every refused attribute is named, so a client can
 * tell which one to drop (an ISO created_at is the common case), and nothing of a refused identify
 * is applied.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pad, startEmulator, type Harness, type PersonJson } from './emulator-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startEmulator();
});
afterAll(() => h.close());
beforeEach(async () => {
  await h.post('/_emulator/reset', {});
});

const people = () => h.get<PersonJson[]>('/_emulator/people');
type V2Errors = { errors: Array<{ batch_index?: number; reason: string; field: string; message: string }> };
type V1Errors = { meta: { errors: string[] } };

describe('v1 identify', () => {
  it('refuses an ISO created_at naming created_at; unix seconds are accepted', async () => {
    const res = await h.api('PUT', '/api/v1/customers/u1', { created_at: '2024-06-01T10:00:00Z', first_name: 'Ann' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ meta: { errors: ['created_at: created_at must be an integer number of unix seconds'] } });
    expect(await people()).toEqual([]);
    expect((await h.api('PUT', '/api/v1/customers/u1', { created_at: 1717236000, first_name: 'Ann' })).status).toBe(200);
    expect((await people())[0]!.attributes).toEqual({ created_at: 1717236000, first_name: 'Ann' });
  });

  it('refuses milliseconds and numeric strings for created_at and _timestamp', async () => {
    for (const body of [{ created_at: 1717236000000 }, { created_at: '1717236000' }, { created_at: 17.5 }]) {
      const res = await h.api('PUT', '/api/v1/customers/u1', body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as V1Errors).meta.errors).toEqual(['created_at: created_at must be an integer number of unix seconds']);
    }
    const ts = await h.api('PUT', '/api/v1/customers/u1', { _timestamp: '2024-06-01', plan: 'x' });
    expect(((await ts.json()) as V1Errors).meta.errors).toEqual(['_timestamp: _timestamp must be an integer number of unix seconds']);
    expect(await people()).toEqual([]);
  });

  it('names every refused attribute as it was sent', async () => {
    const res = await h.api('PUT', '/api/v1/customers/u1', { created_at: 'yesterday', bio: pad(1001), [pad(151)]: 1, ok: 'fine' });
    expect(res.status).toBe(400);
    const messages = ((await res.json()) as V1Errors).meta.errors;
    expect(messages.map((m) => m.slice(0, m.indexOf(': '))).sort()).toEqual(['bio', 'created_at', pad(151)].sort());
  });

  it('removes created_at with null or "" like any attribute', async () => {
    await h.api('PUT', '/api/v1/customers/u1', { created_at: 1717236000, plan: 'x' });
    expect((await h.api('PUT', '/api/v1/customers/u1', { created_at: '' })).status).toBe(200);
    expect((await people())[0]!.attributes).toEqual({ plan: 'x' });
  });
});

describe('v2 identify', () => {
  it('a batch item with an ISO created_at is a 207 naming attributes.created_at; the other items apply', async () => {
    const res = await h.api('POST', '/api/v2/batch', {
      batch: [
        { type: 'person', identifiers: { id: 'a' }, action: 'identify', attributes: { created_at: '2024-06-01T10:00:00Z', first_name: 'Ann' } },
        { type: 'person', identifiers: { id: 'b' }, action: 'identify', attributes: { created_at: 1717236000 } },
      ],
    });
    expect(res.status).toBe(207);
    expect(await res.json()).toEqual({
      errors: [{ batch_index: 0, reason: 'invalid_value', field: 'attributes.created_at', message: 'created_at must be an integer number of unix seconds' }],
    });
    expect((await people()).map((p) => [p.id, p.attributes])).toEqual([['b', { created_at: 1717236000 }]]);
  });

  it('names each refused attribute under attributes.', async () => {
    const res = await h.api('POST', '/api/v2/entity', { type: 'person', identifiers: { id: 'a' }, action: 'identify', attributes: { created_at: 'x', bio: pad(1001) } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as V2Errors).errors.map((e) => e.field).sort()).toEqual(['attributes.bio', 'attributes.created_at']);
  });
});

/**
 * Customer.io's own Node client, unmodified, against the emulator: every v1 call it makes
 * (identify, track, trackAnonymous, mergeCustomers, suppress, unsuppress, destroy) must be
 * understood the way Customer.io understands it. Each person's final state is asserted field by field.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, ulid, type Harness, type PersonJson } from './emulator-harness.ts';

// customerio-node is CommonJS; `require` keeps its classes as published.
const require = createRequire(import.meta.url);
const { TrackClient, RegionUS, IdentifierType } = require('customerio-node') as typeof import('customerio-node');

interface ExtendedPerson extends PersonJson {
  phone: string | null;
  suppressed: boolean;
  devices: unknown[];
}

let h: Harness;
beforeAll(async () => {
  h = await startEmulator();
});
afterAll(() => h?.close());

const person = async (key: string): Promise<ExtendedPerson | null> => {
  const res = await fetch(`${h.url}/_emulator/people/${encodeURIComponent(key)}?extended=1`);
  if (res.status === 404) return null;
  expect(res.status).toBe(200);
  return (await res.json()) as ExtendedPerson;
};

describe('customerio-node 5.x against the emulator', () => {
  it('identify, track, trackAnonymous, mergeCustomers, suppress, unsuppress and destroy land as Customer.io would keep them', async () => {
    // `url` takes the emulator's base; the region is what a store would configure otherwise.
    const cio = new TrackClient('site', 'key', { region: RegionUS, url: `${h.url}/api/v1`, timeout: 5_000 });

    // A shopper browses anonymously, then signs up: the anonymous cart joins her profile.
    await cio.trackAnonymous('anon-ann', { name: 'added_to_cart', id: ulid(1), timestamp: 1_717_236_000, data: { sku: 'TEA-1', price: 12.5 } });
    await cio.identify('ann', { email: 'Ann@Example.com', first_name: 'Ann', plan: 'pro', created_at: 1_717_236_060, anonymous_id: 'anon-ann' });
    await cio.track('ann', { name: 'checkout_started', id: ulid(2), timestamp: 1_717_236_120, data: { total: 12.5, items: [{ sku: 'TEA-1' }] } });

    // A second profile of the same person, merged into the first.
    await cio.identify('ann-old', { email: 'ann.old@example.com', plan: 'free', city: 'Lyon' });
    await cio.track('ann-old', { name: 'newsletter_opened', id: ulid(3), timestamp: 1_717_000_000 });
    await cio.mergeCustomers(IdentifierType.Id, 'ann', IdentifierType.Id, 'ann-old');

    // Suppressed, suppressed then unsuppressed, and deleted.
    await cio.identify('bob', { email: 'bob@example.com' });
    await cio.suppress('bob');
    await cio.identify('cleo', { email: 'cleo@example.com', plan: 'free' });
    await cio.suppress('cleo');
    await cio.unsuppress('cleo');
    await cio.identify('dave', { email: 'dave@example.com' });
    await cio.track('dave', { name: 'product_viewed', id: ulid(4), timestamp: 1_717_236_000 });
    await cio.destroy('dave');

    // A repeated event id is ignored, as Customer.io dedupes by id.
    await cio.track('ann', { name: 'checkout_started', id: ulid(2), timestamp: 1_717_236_120, data: { total: 12.5, items: [{ sku: 'TEA-1' }] } });

    const ann = await person('ann');
    expect(ann).not.toBeNull();
    expect(ann!.cio_id).toMatch(/^[0-9a-f]{16}$/);
    expect(ann!.id).toBe('ann');
    expect(ann!.email).toBe('Ann@Example.com');
    expect(ann!.phone).toBeNull();
    expect(ann!.anonymous_ids).toEqual(['anon-ann']);
    // The primary's values win; the merged profile only fills gaps.
    expect(ann!.attributes).toEqual({ first_name: 'Ann', plan: 'pro', created_at: 1_717_236_060, city: 'Lyon' });
    expect(ann!.suppressed).toBe(false);
    expect(ann!.devices).toEqual([]);
    // Received order: the anonymous cart, the merged profile's event, then checkout.
    expect(ann!.events.map(({ name, id, timestamp, data, type }) => ({ name, id, timestamp, data, type }))).toEqual([
      { name: 'added_to_cart', id: ulid(1), timestamp: 1_717_236_000, data: { sku: 'TEA-1', price: 12.5 }, type: 'event' },
      { name: 'checkout_started', id: ulid(2), timestamp: 1_717_236_120, data: { total: 12.5, items: [{ sku: 'TEA-1' }] }, type: 'event' },
      { name: 'newsletter_opened', id: ulid(3), timestamp: 1_717_000_000, data: {}, type: 'event' },
    ]);
    for (const e of ann!.events) expect(Number.isNaN(Date.parse(e.received_at))).toBe(false);
    // The merged-away profile is gone under both of its identifiers.
    expect(await person('ann-old')).toBeNull();
    expect(await person('ann.old@example.com')).toBeNull();

    const bob = await person('bob');
    expect(bob).toMatchObject({ id: 'bob', email: 'bob@example.com', anonymous_ids: [], attributes: {}, events: [], suppressed: true });
    const cleo = await person('cleo@example.com');
    expect(cleo).toMatchObject({ id: 'cleo', email: 'cleo@example.com', anonymous_ids: [], attributes: { plan: 'free' }, events: [], suppressed: false });
    expect(await person('dave')).toBeNull();

    const everyone = await h.get<PersonJson[]>('/_emulator/people');
    expect(everyone.map((p) => p.id).sort()).toEqual(['ann', 'bob', 'cleo']);
    expect(await h.get<unknown[]>('/_emulator/anonymous')).toEqual([]);
    // Every call the client made was accepted.
    const requests = await h.get<Array<{ method: string; path: string; status: number }>>('/_emulator/requests');
    expect(requests.filter((r) => r.status !== 200)).toEqual([]);
    expect(new Set(requests.map((r) => `${r.method} ${r.path.replace(/customers\/[^/]+/, 'customers/:id')}`))).toEqual(
      new Set([
        'POST /api/v1/events', 'PUT /api/v1/customers/:id', 'POST /api/v1/customers/:id/events', 'POST /api/v1/merge_customers',
        'POST /api/v1/customers/:id/suppress', 'POST /api/v1/customers/:id/unsuppress', 'DELETE /api/v1/customers/:id',
      ]),
    );
  });

  it("surfaces the emulator's refusals as the client's typed errors (an ISO created_at is named)", async () => {
    const cio = new TrackClient('site', 'key', { url: `${h.url}/api/v1` });
    const err = await cio.identify('erin', { created_at: '2024-06-01T10:00:00Z', first_name: 'Erin' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 400 });
    expect(String((err as Error).message)).toContain('created_at');
    expect(await person('erin')).toBeNull();
    const wrongKey = new TrackClient('site', 'nope', { url: `${h.url}/api/v1` });
    expect(await wrongKey.track('erin', { name: 'x' }).catch((e: unknown) => e)).toMatchObject({ statusCode: 401 });
  });
});

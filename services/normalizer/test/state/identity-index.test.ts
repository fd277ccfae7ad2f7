import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDiskStoreConfig } from '../../src/state/disk/config.ts';
import { LocalState } from '../../src/state/local-state.ts';

const dirs: string[] = [];
const open: LocalState[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function local(): Promise<LocalState> {
  const dir = mkdtempSync(join(tmpdir(), 'identity-index-'));
  dirs.push(dir);
  const l = await LocalState.open(createDiskStoreConfig({ dir }));
  open.push(l);
  return l;
}

describe('identity index on disk: member lists', () => {
  it('round-trips members holding separators, colons and digits', async () => {
    const l = await local();
    const index = l.identityIndex();
    const nodes = ['anonymous_id:a\u001fb', 'email:12:x|y@x.io', 'cart_token:', 'customer_id:c1'];
    for (const n of nodes) index.place(`n:${n}`, 'customer_id:c1');
    expect(index.cluster('customer_id:c1')).toMatchObject({ members: nodes, customers: ['c1'], flagged: 0 });
    index.setFlag('fb:email:12:x|y@x.io', true);
    index.place('n:anonymous_id:a\u001fb', null);
    expect(index.cluster('customer_id:c1')).toMatchObject({ members: ['customer_id:c1', 'email:12:x|y@x.io', 'cart_token:'], flagged: 1 });
  });

  for (const [what, raw] of [
    ['no header', '2:ab'],
    ['a flag count that is not a number', 'x|0|2:ab'],
    ['a customers part past the end', '0|9|2:ab'],
    ['a member length past the end', '0|0|9:ab'],
    ['a member without its length', '0|0|2:ab3'],
    ['a member length that is not a number', '0|0|x:ab'],
    ['a customer length past its part', '0|4|9:ab2:cd'],
  ] as const) {
    it(`refuses a damaged list (${what}) instead of looping or inventing members`, async () => {
      const l = await local();
      const index = l.identityIndex();
      l.store.put('~m:customer_id:c1', raw);
      expect(() => index.cluster('customer_id:c1')!.members).toThrow(expect.objectContaining({ code: 'DISK_STORE_CORRUPT' }));
      expect(() => index.sizeOf(index.cluster('customer_id:c1')!)).toThrow(expect.objectContaining({ code: 'DISK_STORE_CORRUPT' }));
    });
  }

  it('answers who a cluster is and its flag count without decoding its members, and adds members by appending', async () => {
    const l = await local();
    const index = l.identityIndex();
    index.place('n:customer_id:c2', 'customer_id:c2');
    for (let i = 0; i < 1_000; i++) index.place(`n:anonymous_id:a${i}`, 'customer_id:c2');
    index.place('n:customer_id:c1', 'customer_id:c2');
    index.setFlag('fa:anonymous_id:a7', true);
    const c = index.cluster('customer_id:c2')!;
    expect([c.customers, c.flagged]).toEqual([['c1', 'c2'], 1]);
    // The members part is read only when asked for.
    const raw = l.store.get('~m:customer_id:c2')!;
    l.store.put('~m:customer_id:c2', `${raw.slice(0, -3)}99:x`);
    const damaged = index.cluster('customer_id:c2')!;
    expect(damaged.customers).toEqual(['c1', 'c2']);
    expect(() => damaged.members).toThrow(expect.objectContaining({ code: 'DISK_STORE_CORRUPT' }));
    l.store.put('~m:customer_id:c2', raw);
    expect(index.sizeOf(index.cluster('customer_id:c2')!)).toBe(1_002);
    expect(index.cluster('customer_id:c2')!.members).toHaveLength(1_002);
  });
});

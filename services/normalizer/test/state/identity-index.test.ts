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
    ['no count', '2:ab'],
    ['a length past the end', '0|9:ab'],
    ['no length', '0|2:ab3'],
    ['a length that is not a number', '0|x:ab'],
  ] as const) {
    it(`refuses a damaged list (${what}) instead of looping or inventing members`, async () => {
      const l = await local();
      const index = l.identityIndex();
      l.store.put('~m:customer_id:c1', raw);
      expect(() => index.cluster('customer_id:c1')).toThrow(expect.objectContaining({ code: 'DISK_STORE_CORRUPT' }));
    });
  }
});

import { describe, expect, it } from 'vitest';
import type { ChangelogRecord } from '../../../src/state/changelog.ts';
import { decodeRestoreBatch, encodeRestoreBatch } from '../../../src/state/cold-restore/restore-wire.ts';

describe('restore batches on the wire', () => {
  it('carries topics, keys, values, tombstones and positions through one buffer unchanged', () => {
    const records: ChangelogRecord[] = [
      { topic: 'identity', key: 'n:email:maya.lindqvist@example.com', value: 'customer_id:cus_48213' },
      { topic: 'dedupe', key: 'd:app:ev-1', value: null },
      { topic: 'journey', key: 'h:anon-ü-🛒', value: Buffer.from('{"ünïcode":"✓"}') },
      { topic: 'identity', key: '', value: '' },
    ];
    const positions = new Map([['state.identity:0', 123_456_789_012n], ['state.dedupe:2', 7n]]);
    const batch = encodeRestoreBatch(records, positions);
    const back = decodeRestoreBatch(structuredClone(batch));
    expect(back.records).toEqual(records.map((r) => ({ ...r, value: r.value === null ? null : r.value.toString() })));
    expect(back.positions).toEqual(positions);
  });

  it('refuses a buffer its count does not account for', () => {
    const batch = encodeRestoreBatch([{ topic: 'dedupe', key: 'd:x', value: '1' }, { topic: 'dedupe', key: 'd:y', value: '2' }], new Map());
    expect(() => decodeRestoreBatch({ ...batch, count: 1 })).toThrow(RangeError);
  });
});

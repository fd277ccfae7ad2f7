import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { depthExceededAt } from '../src/json-depth.ts';

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

describe('depthExceededAt', () => {
  it('agrees with the depth of the parsed value, brackets inside strings not counted', () => {
    const tricky = fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a');
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, fc.string({ unit: tricky }), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(fc.string({ unit: tricky }), tie('node'), { maxKeys: 3 })),
    })).node;
    fc.assert(
      fc.property(value, fc.nat(8), (v, max) => {
        const text = JSON.stringify(v);
        expect(depthExceededAt(text, max) >= 0).toBe(depthOf(v) > max);
      }),
    );
  });

  it('finds the position of the first container past the limit', () => {
    expect(depthExceededAt('{"a":[[1]]}', 2)).toBe(6);
    expect(depthExceededAt('{"a":"[[[[["}', 1)).toBe(-1);
    expect(depthExceededAt('['.repeat(1_000_000), 64)).toBe(64);
  });
});

import fc from 'fast-check';
import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { arrayElements, getIdString, objectMembers, parseJsonBody, withoutMembers } from '../src/lossless-json.ts';

describe('lossless JSON helpers', () => {
  it('reads ids above 2^53 with every digit', () => {
    const { value } = parseJsonBody(Buffer.from('{"order":{"id":5904832711894301745},"s":"x","f":1.50}'));
    expect(getIdString(value, ['order', 'id'])).toBe('5904832711894301745');
    expect(getIdString(value, ['s'])).toBe('x');
    expect(getIdString(value, ['f'])).toBe('1.50');
    expect(getIdString(value, ['missing', 'id'])).toBeNull();
  });

  it('names the problem and its position for broken JSON', () => {
    expect(() => parseJsonBody(Buffer.from('{"a":'))).toThrow(/invalid JSON: .*position 5/);
    expect(() => parseJsonBody(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(/not valid UTF-8/);
    expect(() => parseJsonBody(Buffer.from('['.repeat(100_000)))).toThrow(/invalid JSON/);
  });

  it('finds the exact text of each array element and object member', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 6 }), fc.constantFrom('', ' ', '\n  '), (items, ws) => {
        const text = `{${ws}"pre"${ws}:${ws}[1 ,"]}"]${ws},${ws}"batch"${ws}:${ws}[${ws}${items.map((i) => JSON.stringify(i)).join(`${ws},${ws}`)}${ws}]${ws}}`;
        parseJsonBody(Buffer.from(text)); // valid
        const batch = objectMembers(text).find((m) => m.key === 'batch')!;
        const spans = arrayElements(text, batch.valueStart);
        expect(spans.map(([a, b]) => text.slice(a, b))).toEqual(items.map((i) => JSON.stringify(i)));
      }),
    );
  });

  it('removes one member and keeps every other byte', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string().filter((k) => k !== 'writeKey'), fc.jsonValue(), { maxKeys: 5 }),
        fc.nat(5),
        fc.constantFrom('', ' ', '\n'),
        (obj, at, ws) => {
          const entries = Object.entries(obj).map(([k, v]) => `${JSON.stringify(k)}${ws}:${ws}${JSON.stringify(v)}`);
          const withKey = [...entries];
          withKey.splice(Math.min(at, entries.length), 0, `"writeKey":${ws}"secret"`);
          const text = `${ws}{${ws}${withKey.join(`,${ws}`)}${ws}}`;
          const out = withoutMembers(text, text.indexOf('{'), new Set(['writeKey']));
          expect(out).not.toContain('"secret"');
          expect(() => parse(out)).not.toThrow();
          expect(JSON.stringify(parse(out, null, (s) => s))).toBe(JSON.stringify(parse(`{${entries.join(',')}}`, null, (s) => s)));
          for (const e of entries) expect(out).toContain(e);
        },
      ),
    );
  });

  it('removes every copy of a repeated member and leaves valid JSON', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(null), fc.tuple(fc.string().filter((k) => k !== 'writeKey'), fc.jsonValue())), { maxLength: 6 }),
        fc.constantFrom('', ' ', '\n'),
        (slots, ws) => {
          // null slots are writeKey copies; the others are distinct ordinary members.
          const seen = new Set<string>();
          const members = slots
            .filter((m) => m === null || (!seen.has(m[0]) && seen.add(m[0])))
            .map((m) => (m === null ? `"writeKey"${ws}:${ws}"secret"` : `${JSON.stringify(m[0])}${ws}:${ws}${JSON.stringify(m[1])}`));
          const text = `{${ws}${members.join(`${ws},${ws}`)}${ws}}`;
          const out = withoutMembers(text, 0, new Set(['writeKey']));
          expect(out).not.toContain('"secret"');
          expect(() => parse(out)).not.toThrow();
        },
      ),
    );
    expect(withoutMembers('{"a":1,"writeKey":"k","writeKey":"k"}', 0, new Set(['writeKey']))).toBe('{"a":1}');
    expect(withoutMembers('{"writeKey":"k", "writeKey":"k"}', 0, new Set(['writeKey']))).toBe('{}');
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { isSafeNumber, LosslessNumber, parse } from 'lossless-json';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseJsonLossless, scanJson } from '../src/stages/json.ts';

/** What parseJsonLossless gave before the native fast path: lossless-json on every body. */
function reference(text: string): { value?: unknown; error?: string } {
  try {
    return { value: parse(text, null, (v: string) => (isSafeNumber(v) ? Number(v) : new LosslessNumber(v))) };
  } catch (err) {
    return { error: `body is not valid JSON: ${(err as Error).message}` };
  }
}

function actual(text: string): { value?: unknown; error?: string } {
  try {
    return { value: parseJsonLossless(text) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const fixtures = join(fileURLToPath(new URL('../../../test/fixtures', import.meta.url)));

describe('parseJsonLossless: the native parser where it gives what lossless-json gives', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('gives the same values and errors as lossless-json on edge cases', () => {
    const cases = [
      '{"order_id":5904832711894301745,"total":"99.00"}', // an id above 2^53
      '{"a":123456789012345,"b":1234567890123456}', // 15 digits, then 16
      '{"price":99.000000000000001}', // digits a double cannot hold
      '{"x":1e400,"y":1e-400,"z":1.5E3,"w":-2e+2}', // exponents
      '{"n":-0,"m":0.1,"k":-12.5}',
      '{"a":1,"a":1}', // repeated with the same value
      '{"a":1,"a":2}', // repeated with another value: lossless-json refuses it
      '{"o":{"a":{"b":1},"a":{"b":1}}}',
      '{"o":[{"k":1,"k":"1"}]}',
      '{"__proto__":{"polluted":true},"constructor":1}',
      '{"s":"\\u00e9\\ud83d\\ude42 \\" \\\\ \\/ \\b\\f\\n\\r\\t","lone":"\\ud800"}',
      '{"e":"1e400 inside a string","digits":"12345678901234567890"}',
      '[true,false,null,"true",[],{}]',
      ' \t\r\n{"a" : [ 1 , 2 ] }\n',
      '"just a string"',
      '42',
      '{"a":1,}', '{"a":01}', '{"a":1.}', '[1,]', '{"a":"\u0001"}', '{a:1}', '{"a":tru}', '', ' ', '{"a":1}x', '\ufeff{}', '{"a":-}', '{"a":.5}', '{"a":"\\x"}',
      '{"a":"\\u12"}',
    ];
    for (const text of cases) expect(actual(text), text).toEqual(reference(text));
  });

  it('gives the same values as lossless-json on the fixtures and on generated JSON', () => {
    const files = readdirSync(fixtures, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const file of files) {
      const text = readFileSync(join(fixtures, file), 'utf8');
      expect(actual(text), file).toEqual(reference(text));
    }
    const bigNumber = fc.oneof(fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }).map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(String));
    fc.assert(
      fc.property(fc.json(), bigNumber, fc.boolean(), (json, big, repeat) => {
        // Splice in numbers JSON.stringify never writes (long integers, exponents) and repeated keys.
        const text = json.startsWith('{') && json.length > 2 ? `{"n":${big},${repeat ? '"n":1,' : ''}${json.slice(1)}` : json;
        expect(actual(text)).toEqual(reference(text));
      }),
      { numRuns: 500 },
    );
  });

  it('takes the native parser for an ordinary body, and lossless-json for an id above 2^53', () => {
    const native = vi.spyOn(JSON, 'parse');
    expect(parseJsonLossless('{"type":"track","properties":{"price":"99.00","qty":2}}')).toEqual({ type: 'track', properties: { price: '99.00', qty: 2 } });
    expect(native).toHaveBeenCalledTimes(1);
    const value = parseJsonLossless('{"order_id":5904832711894301745}') as { order_id: LosslessNumber };
    expect(native).toHaveBeenCalledTimes(1);
    expect(value.order_id).toEqual(new LosslessNumber('5904832711894301745'));
  });

  it('scanJson counts members and spots numbers a double cannot hold, outside strings only', () => {
    expect(scanJson('{"a":"x:y","b":[{"c":1}]}')).toEqual({ depth: 3, members: 3, plainNumbers: true });
    expect(scanJson('{"a":"12345678901234567890","t":true,"f":false}').plainNumbers).toBe(true);
    expect(scanJson('{"a":1234567890123456}').plainNumbers).toBe(false);
    expect(scanJson('{"a":1e3}').plainNumbers).toBe(false);
    expect(scanJson('{"a":-1.25,"b":123456789012345}').plainNumbers).toBe(true);
  });
});

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avroType, loadAvroSchema } from '@cio-pipeline/core';
import { toEmail } from '../src/stages/coerce.ts';
import { MAX_JSON_DEPTH, NestingTooDeepError, parseJsonLossless, scanJson } from '../src/stages/json.ts';
import { foldName, MAX_NAME_CHARS, NAME_MEMO_MAX_BYTES, nameMemoSize } from '@cio-pipeline/core';
import { appInput, codes, only, pipeline } from './helpers.ts';

/**
 * Regressions for issue #13's findings in the normalizer: each test fails on the code before the
 * fix. CPU is measured with process.cpuUsage against the issue's budget (5 ms per KB of input),
 * which the old code missed by orders of magnitude, so a loaded machine does not make them flaky.
 */

const CPU_MS_PER_KB = 5;

function cpuMs(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const p = pipeline();

describe('#13 slow email regex', () => {
  it('an address made of dots costs at most the per-KB budget (the old regex took seconds)', () => {
    const hostile = `a@${'.'.repeat(32_000)}@`;
    let result: ReturnType<typeof toEmail> | undefined;
    const ms = cpuMs(() => { result = toEmail(hostile); });
    expect(result?.ok).toBe(false);
    expect(ms).toBeLessThan(CPU_MS_PER_KB * 32);
  });

  it('the same address in an identify is refused as too long, before any matching', () => {
    const out = p.process(appInput({ type: 'identify', messageId: 'm-dots', userId: 'cus_1', traits: { email: `a@${'.'.repeat(32_000)}@` } }));
    expect(codes(out)).toContain('cio_limit_exceeded');
    expect(out.quarantine?.reasons.find((r) => r.field === 'email')?.message).toMatch(/characters/);
  });

  it('property: the scan accepts exactly what the old regex accepted', () => {
    const OLD_EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
    const chars = fc.constantFrom('a', 'B', '.', '@', ' ', '\t', '\u00a0', '-', '\u00e9');
    fc.assert(fc.property(fc.string({ unit: chars, maxLength: 40 }), (s) => {
      const trimmed = s.trim().toLowerCase();
      expect(toEmail(s).ok).toBe(OLD_EMAIL.test(trimmed));
    }), { numRuns: 2000 });
  });
});

describe('#13 unbounded name memo', () => {
  it('keeps the memo within its byte budget however many expanding names arrive', () => {
    // 150 U+FDFA fold to 2,700 letters each: 2,000 such names held 11 MB in a 10,000-entry memo.
    for (let i = 0; i < 2_000; i++) foldName(`${i}${'\uFDFA'.repeat(MAX_NAME_CHARS - 5)}`);
    expect(nameMemoSize().bytes).toBeLessThanOrEqual(NAME_MEMO_MAX_BYTES);
  });

  it('names longer than any plan name are folded but never kept', () => {
    const before = nameMemoSize().entries;
    foldName(`long-${'x'.repeat(MAX_NAME_CHARS)}`);
    expect(nameMemoSize().entries).toBe(before);
  });

  it('crafted 16 KB names do not exhaust a small heap (the old memo kept 40 of them: 24 MB)', () => {
    const namesUrl = new URL('../../../packages/core/src/tracking-plan/names.ts', import.meta.url).href;
    const script = `const { foldName } = await import(${JSON.stringify(namesUrl)});
      for (let i = 0; i < 40; i++) foldName(String(i) + '\\uFDFA'.repeat(16000));`;
    const run = spawnSync(process.execPath, ['--max-old-space-size=16', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('.', import.meta.url)) });
    expect(run.stderr).not.toMatch(/heap out of memory/);
    expect(run.status).toBe(0);
  });
});

describe('#13 deep nesting', () => {
  const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

  it('a property nested 4,000 deep quarantines the record with its reason instead of throwing', () => {
    const body = `{"type":"track","event":"Product Viewed","anonymousId":"a-1","messageId":"m-deep","properties":{"sku":"x","deep":${nested(4_000)}}}`;
    const out = p.process(appInput(body));
    expect(codes(out)).toEqual(['nesting_too_deep']);
    expect(out.candidates).toEqual([]);
  });

  it('nesting up to the limit is accepted', () => {
    const body = `{"type":"track","event":"Product Viewed","anonymousId":"a-1","messageId":"m-ok","properties":{"sku":"x","deep":${nested(MAX_JSON_DEPTH - 2)}}}`;
    expect(only(p.process(appInput(body))).event.name).toBe('product_viewed');
  });

  it('scanJson counts brackets outside strings only', () => {
    expect(scanJson('{"a":"[[[[{{{{","b":[{"c":"\\"]]"}]}').depth).toBe(3);
    expect(scanJson('[]').depth).toBe(1);
    expect(scanJson('"x"').depth).toBe(0);
    expect(() => parseJsonLossless(nested(MAX_JSON_DEPTH + 1))).toThrow(NestingTooDeepError);
    expect(parseJsonLossless(nested(MAX_JSON_DEPTH))).toBeInstanceOf(Array);
  });
});

describe('#13 length limits before normalisation', () => {
  it('a 32 KB event name is refused by its length', () => {
    const out = p.process(appInput({ type: 'track', event: '\uFDFA'.repeat(32_000), anonymousId: 'a-1', messageId: 'm-name' }));
    expect(codes(out)).toContain('cio_limit_exceeded');
  });

  it('a 32 KB property name is kept as sent, not folded', () => {
    const key = `Weird${'\uFDFA'.repeat(10_000)}`;
    const before = nameMemoSize().entries;
    const c = only(p.process(appInput({ type: 'track', event: 'Product Viewed', anonymousId: 'a-1', messageId: 'm-prop', properties: { sku: 'x', [key]: 1 } })));
    expect(c.event.properties[key]).toBe(1);
    expect(nameMemoSize().entries).toBe(before);
  });

  it('identifiers over 150 characters are refused before trimming or matching', () => {
    const out = p.process(appInput({ type: 'track', event: 'Product Viewed', anonymousId: ` ${'a'.repeat(20_000)} `, messageId: 'm-anon', properties: { sku: 'x' } }));
    expect(out.quarantine?.reasons).toContainEqual(expect.objectContaining({ code: 'cio_limit_exceeded', field: 'anonymous_id' }));
  });
});

describe('#13 huge numbers', () => {
  const canonical = avroType(loadAvroSchema('canonical-event'));

  it('a timestamp beyond what a Date can hold is an invalid value, not a thrown RangeError', () => {
    const body = '{"type":"track","event":"Product Viewed","userId":"cus_1","messageId":"m-ts","timestamp":8640000000000001000,"properties":{"sku":"S"}}';
    const c = only(p.process(appInput(body)));
    expect(c.event.validation_warnings).toEqual(['invalid_type:timestamp']);
    expect(() => canonical.toBuffer(c.event)).not.toThrow();
  });

  it('a quantity beyond 32 bits is refused by the stages, not by the encoder after them', () => {
    const body = '{"type":"track","event":"Product Added","userId":"cus_1","messageId":"m-qty","timestamp":"2026-11-20T19:00:00Z","properties":{"sku":"S","quantity":99999999999,"items":[{"sku":"S","quantity":4294967296}]}}';
    const out = p.process(appInput(body));
    expect(out.quarantine?.reasons.map((r) => r.field)).toEqual(['quantity', 'items[0].quantity']);
    const fine = only(p.process(appInput(body.replace('99999999999', '2').replace('4294967296', '2'))));
    expect(() => canonical.toBuffer(fine.event)).not.toThrow();
  });
});

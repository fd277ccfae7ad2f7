import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { describe, expect, it } from 'vitest';
import { checkCompatibility, COMPATIBILITY_LEVELS, findResolutionProblems } from '../src/compatibility.ts';
import type { CompatibilityLevel } from '../src/compatibility.ts';
import { REPO_ROOT } from '../src/config.ts';

type Field = { name: string; type: unknown; default?: unknown; aliases?: string[] };
const rec = (fields: Field[], name = 'Thing'): Schema => ({ type: 'record', name, namespace: 'test', fields } as Schema);

const base: Field[] = [
  { name: 'id', type: 'string' },
  { name: 'email', type: 'string' },
  { name: 'amount', type: 'double' },
];
const v1 = rec(base);
const S = 'test-value';

function check(candidate: Schema, level: CompatibilityLevel, previous: Schema[] = [v1]) {
  return checkCompatibility({ subject: S, candidate, level, previous: previous.map((schema, i) => ({ version: i + 1, schema })) });
}

/** avsc is the ground truth: a resolver exists exactly when the walk finds no problem. */
function avscResolves(writer: Schema, reader: Schema): boolean {
  try {
    avro.Type.forSchema(reader).createResolver(avro.Type.forSchema(writer));
    return true;
  } catch {
    return false;
  }
}

describe('checkCompatibility', () => {
  it('passes an added optional field with a default at every level', () => {
    const v2 = rec([...base, { name: 'note', type: ['null', 'string'], default: null }]);
    for (const level of COMPATIBILITY_LEVELS) {
      const report = check(v2, level);
      expect(report.messages, level).toEqual([]);
      expect(report.compatible, level).toBe(true);
    }
  });

  it('fails FORWARD and FULL when a field without a default is removed, naming the field', () => {
    const v2 = rec(base.filter((f) => f.name !== 'email'));
    expect(check(v2, 'BACKWARD').compatible).toBe(true); // the new reader just ignores it
    for (const level of ['FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'] as const) {
      const report = check(v2, level);
      expect(report.compatible, level).toBe(false);
      expect(report.messages, level).toEqual(['test-value: field "email" removed without a default (breaks readers of version 1)']);
    }
  });

  it('fails BACKWARD when a field is added without a default', () => {
    const v2 = rec([...base, { name: 'x', type: 'string' }]);
    expect(check(v2, 'FORWARD').compatible).toBe(true);
    expect(check(v2, 'BACKWARD').messages).toEqual(['test-value: field "x" added without a default (cannot read data written with version 1)']);
  });

  it('names the field and both versions of a changed type', () => {
    const v2 = rec([base[0]!, base[1]!, { name: 'amount', type: 'string' }]);
    const report = check(v2, 'FULL');
    expect(report.compatible).toBe(false);
    expect(report.messages).toEqual([
      'test-value: field "amount" changed type double -> string (breaks readers of version 1; cannot read data written with version 1)',
    ]);
  });

  it('allows promotions only in the direction readers can follow', () => {
    const intV = rec([{ name: 'n', type: 'int' }]);
    const longV = rec([{ name: 'n', type: 'long' }]);
    expect(check(longV, 'BACKWARD', [intV]).compatible).toBe(true);
    expect(check(longV, 'FORWARD', [intV]).messages).toEqual(['test-value: field "n" changed type int -> long (breaks readers of version 1)']);
  });

  it('names the path of a change inside a nested record, array and nullable union', () => {
    const canonical = (totalType: unknown, priceType: unknown): Schema => rec([
      { name: 'event_id', type: 'string' },
      {
        name: 'commerce', default: null, type: ['null', {
          type: 'record', name: 'Commerce', fields: [
            { name: 'total', type: ['null', totalType], default: null },
            { name: 'items', default: [], type: { type: 'array', items: { type: 'record', name: 'Item', fields: [{ name: 'price', type: priceType }] } } },
          ],
        }],
      },
    ]);
    const report = check(canonical('string', 'double'), 'FULL_TRANSITIVE', [canonical('double', 'double')]);
    expect(report.messages).toEqual([
      'test-value: field "commerce.total" changed type null | double -> null | string (breaks readers of version 1; cannot read data written with version 1)',
    ]);
    const items = check(canonical('double', 'string'), 'BACKWARD', [canonical('double', 'double')]);
    expect(items.messages).toEqual(['test-value: field "commerce.items[].price" changed type double -> string (cannot read data written with version 1)']);
  });

  it('checks transitive levels against every version and names the ones broken', () => {
    // v1 has no email; v2 adds it with a default; v3 drops the default: v3 cannot read v1 data.
    const a = rec([{ name: 'id', type: 'string' }]);
    const b = rec([{ name: 'id', type: 'string' }, { name: 'email', type: 'string', default: '' }]);
    const c = rec([{ name: 'id', type: 'string' }, { name: 'email', type: 'string' }]);
    expect(check(c, 'BACKWARD', [a, b]).compatible).toBe(true);
    const report = check(c, 'BACKWARD_TRANSITIVE', [a, b]);
    expect(report.checkedVersions).toEqual([1, 2]);
    expect(report.messages).toEqual(['test-value: field "email" added without a default (cannot read data written with version 1)']);
  });

  it('reports enum symbols removed, and accepts added ones only with an enum default', () => {
    const e = (symbols: string[], dflt?: string): Schema => rec([{ name: 'status', type: { type: 'enum', name: 'Status', symbols, ...(dflt ? { default: dflt } : {}) } }]);
    expect(check(e(['A']), 'BACKWARD', [e(['A', 'B'])]).messages).toEqual([
      'test-value: field "status": enum symbol "B" removed (and the enum has no default) (cannot read data written with version 1)',
    ]);
    expect(check(e(['A', 'B', 'C']), 'FORWARD', [e(['A', 'B'])]).messages).toEqual([
      'test-value: field "status": enum symbol "C" added but the old enum has no default (breaks readers of version 1)',
    ]);
    expect(check(e(['A', 'B', 'C']), 'FULL', [e(['A', 'B'], 'A')]).compatible).toBe(true);
  });

  it('reports a union that lost a branch readers still need', () => {
    const nullable = rec([{ name: 'email', type: ['null', 'string'], default: null }]);
    const required = rec([{ name: 'email', type: 'string' }]);
    expect(check(required, 'BACKWARD', [nullable]).messages).toEqual([
      'test-value: field "email" changed type null | string -> string (cannot read data written with version 1)',
    ]);
    expect(check(required, 'FORWARD', [nullable]).compatible).toBe(true);
    const widened = rec([{ name: 'v', type: ['null', 'string', 'double'], default: null }]);
    expect(check(widened, 'BACKWARD', [nullable]).compatible).toBe(true);
  });

  it('reads a renamed field through its alias, and reports a rename without one', () => {
    const renamed = rec([base[0]!, { name: 'email_address', type: 'string', aliases: ['email'] }, base[2]!]);
    expect(check(renamed, 'BACKWARD').compatible).toBe(true);
    const renamedRecord = rec(base, 'Other');
    expect(check(renamedRecord, 'BACKWARD').messages).toEqual([
      'test-value: the schema\'s record renamed test.Thing -> test.Other without an alias (cannot read data written with version 1)',
    ]);
  });

  it('has nothing to check against for a new subject or at level NONE', () => {
    expect(check(rec([{ name: 'z', type: 'int' }]), 'FULL_TRANSITIVE', []).compatible).toBe(true);
    expect(check(rec([{ name: 'z', type: 'int' }]), 'NONE').compatible).toBe(true);
  });

  it('agrees with avsc on every case above and on the project schemas', () => {
    const schemas: Schema[] = [
      v1,
      rec(base.filter((f) => f.name !== 'email')),
      rec([...base, { name: 'x', type: 'string' }]),
      rec([...base, { name: 'note', type: ['null', 'string'], default: null }]),
      rec([base[0]!, base[1]!, { name: 'amount', type: 'string' }]),
      rec([base[0]!, base[1]!, { name: 'amount', type: ['null', 'double'], default: null }]),
      rec([base[0]!, base[1]!, { name: 'amount', type: 'float' }]),
      rec([base[0]!, { name: 'email', type: 'bytes' }, base[2]!]),
      rec([{ name: 'status', type: { type: 'enum', name: 'Status', symbols: ['A', 'B'] } }]),
      rec([{ name: 'status', type: { type: 'enum', name: 'Status', symbols: ['A'] } }]),
      rec([{ name: 'status', type: { type: 'map', values: ['null', 'string'] }, default: {} }]),
      rec([{ name: 'status', type: { type: 'map', values: 'string' }, default: {} }]),
    ];
    for (const w of schemas) {
      for (const r of schemas) {
        const problems = findResolutionProblems(w, r);
        expect(problems.length === 0, `${JSON.stringify(w)} -> ${JSON.stringify(r)}: ${JSON.stringify(problems)}`).toBe(avscResolves(w, r));
        expect(problems.every((p) => p.kind !== 'unexplained'), JSON.stringify(problems)).toBe(true);
      }
    }
  });

  it('passes every checked-in schema against itself at its strictest level', () => {
    const dir = join(REPO_ROOT, 'schemas', 'avro');
    for (const file of ['canonical-event.avsc', 'raw-app.avsc', 'raw-shopify.avsc', 'raw-subscriptions.avsc', 'quarantine-record.avsc', 'dlq-record.avsc']) {
      const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Schema;
      expect(check(schema, 'FULL_TRANSITIVE', [schema]).messages, file).toEqual([]);
    }
  });
});

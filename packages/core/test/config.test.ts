import { describe, expect, it } from 'vitest';
import { ConfigError, EnvReader } from '../src/index.ts';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('EnvReader', () => {
  it('reads each kind of value, falling back on unset and empty variables', () => {
    const r = new EnvReader({ S: 'x', EMPTY: '', L: ' a, b ,,c ', I: '42', N: '0.5', B: 'Yes', O: 'eu', U: 'http://h:1/p' });
    expect(r.string('S')).toBe('x');
    expect(r.string('EMPTY', 'fb')).toBe('fb');
    expect(r.optionalString('EMPTY')).toBeUndefined();
    expect(r.optionalString('S')).toBe('x');
    expect(r.list('L')).toEqual(['a', 'b', 'c']);
    expect(r.list('NONE', ['d'])).toEqual(['d']);
    expect(r.int('I', 1)).toBe(42);
    expect(r.int('NONE', 7)).toBe(7);
    expect(r.number('N', 1)).toBe(0.5);
    expect(r.bool('B', false)).toBe(true);
    expect(r.bool('NONE', true)).toBe(true);
    expect(r.oneOf('O', ['us', 'eu'] as const, 'us')).toBe('eu');
    expect(r.url('U')).toBe('http://h:1/p');
    expect(r.done({ ok: true })).toEqual({ ok: true });
  });

  it('collects every problem and throws them in one ConfigError', () => {
    const problems = problemsOf(() => {
      const r = new EnvReader({ I: '1.5', LOW: '0', HIGH: '99', N: 'abc', B: 'maybe', O: 'mars', U: 'not a url' });
      r.string('REQUIRED');
      r.int('I', 1);
      r.int('LOW', 5, { min: 1 });
      r.number('HIGH', 5, { max: 10 });
      r.number('N', 1);
      r.bool('B', false);
      r.oneOf('O', ['us', 'eu'] as const, 'us');
      r.url('U');
      r.problem('A and B disagree');
      return r.done({});
    });
    expect(problems).toEqual([
      'REQUIRED is required',
      'I must be an integer, got "1.5"',
      'LOW must be >= 1, got 0',
      'HIGH must be <= 10, got 99',
      'N must be a number, got "abc"',
      'B must be true or false, got "maybe"',
      'O must be one of us, eu, got "mars"',
      'U must be a URL, got "not a url"',
      'A and B disagree',
    ]);
  });

  it('lists the problems one per line in the error message, with the CONFIG_INVALID code', () => {
    const err = new ConfigError(['A is required', 'B must be an integer']);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('invalid configuration:\n  - A is required\n  - B must be an integer');
  });

  it('freezes the result at every depth', () => {
    const config = new EnvReader({}).done({ a: { b: [1, { c: 2 }] } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.a)).toBe(true);
    expect(Object.isFrozen(config.a.b)).toBe(true);
    expect(Object.isFrozen(config.a.b[1])).toBe(true);
  });
});

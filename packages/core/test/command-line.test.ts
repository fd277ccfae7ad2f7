import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/index.ts';

const OPTIONS = { reason: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } } as const;

describe('parseCommandLine', () => {
  it('returns the flags, with their defaults', () => {
    const line = parseCommandLine(['--reason', 'parked'], OPTIONS);
    expect(line).toEqual({ kind: 'parsed', values: { reason: 'parked', 'dry-run': false }, positionals: [] });
  });

  it('answers help for --help or -h, whatever else is given', () => {
    expect(parseCommandLine(['--help'], OPTIONS)).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--reason', 'x', '-h'], OPTIONS)).toEqual({ kind: 'help' });
  });

  it('names an unknown flag, a missing value and a stray argument as usage errors', () => {
    const unknown = parseCommandLine(['--nope'], OPTIONS);
    expect(unknown.kind).toBe('usage-error');
    expect(unknown.kind === 'usage-error' && unknown.problem).toMatch(/--nope/);
    const missing = parseCommandLine(['--reason'], OPTIONS);
    expect(missing.kind === 'usage-error' && missing.problem).toMatch(/--reason/);
    expect(parseCommandLine(['extra'], OPTIONS)).toEqual({ kind: 'usage-error', problem: 'unexpected argument "extra"' });
  });

  it('passes positionals through when the command takes them', () => {
    expect(parseCommandLine(['check', '--reason', 'r'], OPTIONS, { positionals: true })).toEqual({
      kind: 'parsed', values: { reason: 'r', 'dry-run': false }, positionals: ['check'],
    });
  });
});

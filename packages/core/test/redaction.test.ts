import { describe, expect, it } from 'vitest';
import { REDACTED, REDACT_MAX_DEPTH, redactSecrets } from '../src/redaction.ts';

describe('redactSecrets', () => {
  it('replaces secret keys at any depth and in arrays, whatever their case', () => {
    const input = { a: { ApiKey: 'k', list: [{ token: 't', name: 'n' }] }, authorization: 'Basic x', keep: 1 };
    expect(redactSecrets(input)).toEqual({ a: { ApiKey: REDACTED, list: [{ token: REDACTED, name: 'n' }] }, authorization: REDACTED, keep: 1 });
  });

  it('never changes the caller object, and returns it as is when nothing is secret', () => {
    const input = { a: { secret: 's' } };
    const out = redactSecrets(input);
    expect(input.a.secret).toBe('s');
    expect(out).not.toBe(input);
    const clean = { a: { b: [1, 2] } };
    expect(redactSecrets(clean)).toBe(clean);
  });

  it('redacts a URL under webhook only', () => {
    expect(redactSecrets({ webhook: { url: 'https://hooks/x', host: 'hooks' }, link: { url: 'https://ok' } })).toEqual({
      webhook: { url: REDACTED, host: 'hooks' },
      link: { url: 'https://ok' },
    });
  });

  it('keeps empty secrets visible as empty (a missing credential is worth seeing) and leaves class instances alone', () => {
    const err = new Error('x');
    expect(redactSecrets({ password: '', token: null, err })).toEqual({ password: '', token: null, err });
  });

  it('stops at its depth bound on cyclic input', () => {
    const cyclic: Record<string, unknown> = { secret: 's' };
    cyclic['self'] = cyclic;
    const out = redactSecrets(cyclic) as Record<string, unknown>;
    expect(out['secret']).toBe(REDACTED);
    // Past the bound the walk hands back the original object: it ends, and copies only that far.
    let node = out;
    let steps = 0;
    while (node !== cyclic && steps <= REDACT_MAX_DEPTH + 1) {
      node = node['self'] as Record<string, unknown>;
      steps++;
    }
    expect(node).toBe(cyclic);
    expect(steps).toBeGreaterThan(1);
  });
});

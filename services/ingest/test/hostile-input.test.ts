/** Issue #13, odd request bodies: every one gets a clear answer, and what is stored is valid JSON. */
import { parse } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { basic, post, startHarness, type Harness } from './helpers.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const fresh = (): void => {
  h.writer.written = [];
};
const storedBodies = (): string[] => h.writer.written.map((r) => (r.value as RawAppMessage).body.toString('utf8'));

describe('repeated writeKey members', () => {
  it.each([
    ['/v1/track', '{"userId":"u","event":"A","writeKey":"wk_web_456","writeKey":"wk_web_456"}'],
    ['/v1/track', '{"writeKey":"wk_web_456", "writeKey":"wk_web_456", "userId":"u","event":"A"}'],
    ['/v1/batch', '{"batch":[{"type":"track","userId":"u","event":"A","writeKey":"wk_web_456","writeKey":"wk_web_456"}],"writeKey":"wk_web_456"}'],
  ])('%s %s: 200, and the stored message is valid JSON without the key', async (path, body) => {
    fresh();
    const res = await post(`${h.url}${path}`, body);
    expect(res.status, res.text).toBe(200);
    expect(storedBodies()).toHaveLength(1);
    for (const stored of storedBodies()) {
      expect(() => parse(stored)).not.toThrow();
      expect(stored).not.toContain('writeKey');
      expect(parse(stored)).toMatchObject({ userId: 'u', event: 'A' });
    }
  });

  it('a Basic-auth call with repeated writeKey members is stored valid too', async () => {
    fresh();
    const res = await post(`${h.url}/v1/track`, '{"userId":"u","event":"A","writeKey":"x","writeKey":"x"}', { authorization: basic('wk_ios_123') });
    expect(res.status, res.text).toBe(200);
    expect(() => parse(storedBodies()[0]!)).not.toThrow();
  });
});

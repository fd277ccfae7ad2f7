/**
 * A record that yields no event still names its sender in its audit record, so `trace` tells the
 * person about it: a message ingest rejected, and a call type the pipeline ignores (`group`).
 */
import { describe, expect, it } from 'vitest';
import { appInput, pipeline } from './helpers.ts';

describe('the sender of a record that yields no event', () => {
  it('a rejected message names its user, anonymous id and email, and is still quarantined with its reason', () => {
    const input = appInput(
      { type: 'track', event: 'Huge', userId: 'u-42', anonymousId: 'anon-42', context: { traits: { email: 'Ada@Example.COM' } } },
      { rejection: { code: 'message_too_large', field: null, message: 'over 32 KB' } },
    );
    const out = pipeline().process(input);
    expect(out.quarantine?.reasons.map((r) => r.code)).toEqual(['message_too_large']);
    expect(out.candidates).toEqual([]);
    expect(out.seen.identifiers).toEqual([{ customer_id: 'u-42', anonymous_id: 'anon-42', email: 'ada@example.com' }]);
  });

  it('an ignored group call names its user, and is dropped as ignored', () => {
    // A numeric id above 2^53 keeps its digits.
    const out = pipeline().process(appInput('{"type":"group","groupId":"tea-club","userId":12345678901234567890}'));
    expect(out.drops.map((d) => d.reason)).toEqual(['ignored_topic']);
    expect(out.seen.identifiers).toEqual([{ customer_id: '12345678901234567890' }]);
  });

  it('names no one when the body does not parse or the ids are not ids', () => {
    const broken = pipeline().process(appInput({ type: 'track' }, { body: Buffer.from('{"type":"track","userId":'), rejection: { code: 'unparseable_body', field: null, message: 'bad JSON' } }));
    expect(broken.seen.identifiers).toEqual([]);
    const long = pipeline().process(appInput({ type: 'group', userId: 'x'.repeat(151), anonymousId: { nested: true } }));
    expect(long.seen.identifiers).toEqual([]);
  });
});

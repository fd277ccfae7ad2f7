import { describe, expect, it } from 'vitest';
import { AddressPenalty } from '../src/address-penalty.ts';

describe('AddressPenalty', () => {
  it('blocks an address past its refusals per second, for the block time only, and forgets quiet ones', () => {
    let now = 0;
    const p = new AddressPenalty({ maxRefusalsPerS: 2, blockMs: 5000, now: () => now });
    expect([p.recordRefusal('a'), p.recordRefusal('a')]).toEqual([false, false]);
    now = 1000; // a new window: the count starts again
    expect([p.recordRefusal('a'), p.recordRefusal('a'), p.recordRefusal('a')]).toEqual([false, false, true]);
    expect(p.isBlocked('a')).toBe(true);
    expect(p.isBlocked('b')).toBe(false);
    now = 5999;
    expect(p.isBlocked('a')).toBe(true);
    now = 6000;
    expect(p.isBlocked('a')).toBe(false);
    p.sweep();
    expect(p.tracked).toBe(0);
    p.stop();
  });

  it('is off with a limit of 0', () => {
    const p = new AddressPenalty({ maxRefusalsPerS: 0, blockMs: 5000 });
    for (let i = 0; i < 100; i++) p.recordRefusal('a');
    expect(p.isBlocked('a')).toBe(false);
    expect(p.tracked).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import type { Acceptance } from '../../scripts/chaos/load.ts';
import { describeVerdict, judge, type EmulatorPerson } from '../../scripts/chaos/verdict.ts';

const RUN = 'r1';
const T0 = Date.parse('2026-12-02T04:00:00.000Z');

function person(id: string, seqs: number[], receivedAt: (i: number) => number = (i) => T0 + 1000 + i * 10): EmulatorPerson {
  return { id, events: seqs.map((seq, i) => ({ name: 'product_viewed', id: `${id}-${seq}-${i}`, data: { chaos_run: RUN, chaos_seq: seq }, received_at: new Date(receivedAt(i)).toISOString() })) };
}

function accepted(id: string, seqs: number[], at = T0): Acceptance[] {
  return seqs.map((seq) => ({ person: id, seq, acceptedAt: at + seq, attempts: 1 }));
}

describe('the chaos verdict', () => {
  it('passes when every accepted event arrived once and in order', () => {
    const v = judge(accepted('a', [1, 2, 3]), [person('a', [1, 2, 3])], RUN, [], T0);
    expect(v).toMatchObject({ ok: true, accepted: 3, delivered: 3, lost: 0, duplicated: 0, reordered: 0 });
  });

  it('names a lost, a duplicated and a reordered event', () => {
    const v = judge(accepted('a', [1, 2, 3, 4]), [person('a', [1, 3, 2, 2])], RUN, [], T0);
    expect(v.ok).toBe(false);
    expect(v.examples).toEqual({ lost: ['a #4'], duplicated: ['a #2'], reordered: ['a #2 after #3'] });
  });

  it('ignores other runs and people the emulator holds (make dev feeds its own shoppers)', () => {
    const other: EmulatorPerson = { id: 'cus_demo_1', events: [{ name: 'order_completed', id: 'x', data: { order_id: '1' }, received_at: new Date(T0).toISOString() }] };
    const older = { id: 'a', events: [{ name: 'product_viewed', id: 'y', data: { chaos_run: 'old', chaos_seq: 9 }, received_at: new Date(T0).toISOString() }] };
    const v = judge(accepted('a', [1]), [other, older, person('a', [1])], RUN, [], T0);
    expect(v).toMatchObject({ ok: true, delivered: 1 });
  });

  it('measures recovery from the component answering again to the first delivery of an event sent after the kill', () => {
    // Killed at T0+500, back at T0+2000. Event 1 was sent before the kill and delivered at
    // T0+2100 (a backlog); event 2 was sent after it and delivered at T0+2600.
    const sent: Acceptance[] = [{ person: 'a', seq: 1, acceptedAt: T0 + 100, attempts: 1 }, { person: 'a', seq: 2, acceptedAt: T0 + 900, attempts: 3 }];
    const got = person('a', [1, 2], (i) => (i === 0 ? T0 + 2100 : T0 + 2600));
    const v = judge(sent, [got], RUN, [{ target: 'sink', killedAt: T0 + 500, upAt: T0 + 2000 }], T0);
    expect(v.recoveries).toEqual([{ target: 'sink', atS: 0.5, downMs: 1500, recoveryMs: 600 }]);
    expect(describeVerdict(v, { passed: v.ok, retries: { 0: 2 }, durationS: 3 })).toMatch(/^PASS[\s\S]*sink\s+at 0\.5 s: down 1\.50 s, recovered 0\.60 s/);
  });

  it('leaves recovery unmeasured when nothing sent after the kill was delivered', () => {
    const v = judge(accepted('a', [1]), [person('a', [1])], RUN, [{ target: 'normalizer', killedAt: T0 + 5000, upAt: T0 + 6000 }], T0);
    expect(v.recoveries[0]!.recoveryMs).toBeNull();
  });
});

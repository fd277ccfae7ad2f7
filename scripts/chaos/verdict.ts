/**
 * The verdict, from what the sender knows (every event ingest accepted, and when) and what the
 * Customer.io emulator holds (each person's events in the order they were received). Pure.
 */
import type { Acceptance } from './load.ts';
import type { Target } from './options.ts';

export interface EmulatorEvent { name: string; id: string | null; data: Record<string, unknown>; received_at: string }
export interface EmulatorPerson { id: string | null; events: EmulatorEvent[] }

export interface FaultRecord {
  target: Target;
  killedAt: number;
  /** When the component answered again (a service's /healthz, the broker's metadata). */
  upAt: number | null;
}

export interface Recovery {
  target: Target;
  atS: number;
  /** Kill to answering again. */
  downMs: number | null;
  /** From answering again to the first delivery of an event accepted after the kill. */
  recoveryMs: number | null;
}

export interface Verdict {
  ok: boolean;
  accepted: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** A few examples of each problem, for a human to start from. */
  examples: { lost: string[]; duplicated: string[]; reordered: string[] };
  recoveries: Recovery[];
}

const EXAMPLES = 5;

/** `person -> [seq in received order]` for the chaos run's events. */
export function deliveredSequences(people: EmulatorPerson[], run: string): Map<string, Array<{ seq: number; at: number }>> {
  const out = new Map<string, Array<{ seq: number; at: number }>>();
  for (const p of people) {
    for (const e of p.events) {
      if (e.data['chaos_run'] !== run || p.id === null) continue;
      const seq = Number(e.data['chaos_seq']);
      const list = out.get(p.id) ?? [];
      list.push({ seq, at: Date.parse(e.received_at) });
      out.set(p.id, list);
    }
  }
  return out;
}

export function judge(accepted: Acceptance[], people: EmulatorPerson[], run: string, faults: FaultRecord[], startedAt: number): Verdict {
  const delivered = deliveredSequences(people, run);
  const lost: string[] = [];
  const duplicated: string[] = [];
  const reordered: string[] = [];
  let deliveredCount = 0;
  for (const [person, list] of delivered) {
    deliveredCount += list.length;
    const seen = new Set<number>();
    let highest = 0;
    for (const { seq } of list) {
      if (seen.has(seq)) {
        duplicated.push(`${person} #${seq}`);
        continue;
      }
      seen.add(seq);
      if (seq < highest) reordered.push(`${person} #${seq} after #${highest}`);
      highest = Math.max(highest, seq);
    }
  }
  for (const a of accepted) {
    if (!delivered.get(a.person)?.some((d) => d.seq === a.seq)) lost.push(`${a.person} #${a.seq}`);
  }

  const acceptedAt = new Map(accepted.map((a) => [`${a.person}#${a.seq}`, a.acceptedAt]));
  const deliveries = [...delivered].flatMap(([person, list]) => list.map((d) => ({ at: d.at, acceptedAt: acceptedAt.get(`${person}#${d.seq}`) ?? Number.NaN })));
  const recoveries = faults.map((f): Recovery => {
    const first = f.upAt === null ? undefined : deliveries
      .filter((d) => d.acceptedAt > f.killedAt && d.at >= f.upAt!)
      .reduce<number | undefined>((min, d) => (min === undefined || d.at < min ? d.at : min), undefined);
    return {
      target: f.target,
      atS: Math.round((f.killedAt - startedAt) / 100) / 10,
      downMs: f.upAt === null ? null : f.upAt - f.killedAt,
      recoveryMs: first === undefined || f.upAt === null ? null : first - f.upAt,
    };
  });
  return {
    ok: lost.length === 0 && duplicated.length === 0 && reordered.length === 0,
    accepted: accepted.length,
    delivered: deliveredCount,
    lost: lost.length,
    duplicated: duplicated.length,
    reordered: reordered.length,
    examples: { lost: lost.slice(0, EXAMPLES), duplicated: duplicated.slice(0, EXAMPLES), reordered: reordered.slice(0, EXAMPLES) },
    recoveries,
  };
}

/** The human summary. */
export function describeVerdict(v: Verdict, extra: { passed: boolean; retries: Record<string, number>; durationS: number }): string {
  const lines = [
    `${extra.passed ? 'PASS' : 'FAIL'}: ${v.accepted} events accepted by ingest in ${extra.durationS.toFixed(1)} s, ${v.delivered} delivered to the emulator`,
    `  lost ${v.lost}, duplicated ${v.duplicated}, out of order ${v.reordered}`,
    `  client retries by answer (0 = no answer): ${JSON.stringify(extra.retries)}`,
  ];
  for (const [what, list] of Object.entries(v.examples)) if (list.length > 0) lines.push(`  ${what}, e.g.: ${list.join('; ')}`);
  if (v.recoveries.length > 0) lines.push('  faults (kill -9 at; down until answering; then to the first event delivered):');
  for (const r of v.recoveries) {
    const ms = (x: number | null) => (x === null ? 'n/a' : `${(x / 1000).toFixed(2)} s`);
    lines.push(`    ${r.target.padEnd(10)} at ${r.atS.toFixed(1)} s: down ${ms(r.downMs)}, recovered ${ms(r.recoveryMs)}`);
  }
  return lines.join('\n');
}

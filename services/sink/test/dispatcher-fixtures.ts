/**
 * What the dispatcher's tests share: records that carry their key and a unique seq, a dispatcher
 * with fast test timings that collects its dead letters, and the offset invariant check.
 */
import type { ItemResult } from '../src/cio-client.ts';
import { CioRejectedError, CioRetryableError } from '../src/errors.ts';
import { KeyOrderedDispatcher, type DeadLetterInfo, type DispatcherOptions, type SinkRecord } from '../src/key-ordered-dispatcher.ts';
import { mapEvent } from '../src/mapping.ts';
import { makeEvent } from './helpers.ts';

const running: KeyOrderedDispatcher[] = [];

/** Stops every dispatcher `make` created (call from afterEach). */
export async function stopAll(): Promise<void> {
  for (const d of running.splice(0).reverse()) await d.stop();
}

/** A record whose event carries its key and a globally unique seq the fakes read back. */
export function rec(partition: number, offset: number, key: string, seq: number, props: Record<string, string | number | boolean | null> = {}): SinkRecord {
  const event = makeEvent({ customer_id: key, properties: { key, seq, ...props } });
  return { topic: 'events.canonical', partition, offset: String(offset), key, event, raw: Buffer.from(`raw-${seq}`) };
}

/** Builds records from (key, partition) picks, with per-partition increasing offsets. */
export function buildRecords(picks: ReadonlyArray<readonly [number, number]>): SinkRecord[] {
  const next = new Map<number, number>();
  return picks.map(([k, p], i) => {
    const off = next.get(p) ?? 100;
    next.set(p, off + 1 + (i % 2)); // gaps, as transaction markers leave
    return rec(p, off, `k${k}`, i);
  });
}

export interface Dead {
  rec: SinkRecord;
  info: DeadLetterInfo;
}

export function make(sender: DispatcherOptions['sender'], overrides: Partial<DispatcherOptions> = {}): { d: KeyOrderedDispatcher; dead: Dead[] } {
  const dead: Dead[] = [];
  const d = new KeyOrderedDispatcher({
    sender,
    prepare: (e) => mapEvent(e, 'v2'),
    deadLetter: async (r, info) => {
      dead.push({ rec: r, info });
    },
    concurrency: 4,
    maxBatchItems: 50,
    maxBatchBytes: 500_000,
    maxInFlightEvents: 100_000,
    retryBaseMs: 5,
    retryMaxMs: 40,
    parkAfterMs: 60_000,
    authProbeIntervalMs: 40,
    ...overrides,
  });
  running.push(d);
  return { d, dead };
}

export const rejected = (): ItemResult => ({ ok: false, error: new CioRejectedError(207, '{"errors":[{"reason":"invalid"}]}') });
export const retryable = (retryAfterMs?: number): ItemResult => ({ ok: false, error: new CioRetryableError(503, 'unavailable', { retryAfterMs }) });

/** Checks the offset invariant: everything below each committable offset is finished. */
export function checkOffsets(d: KeyOrderedDispatcher, records: SinkRecord[], finished: Set<number>, last: Map<number, bigint>): void {
  for (const { partition, offset } of d.committableOffsets()) {
    const c = BigInt(offset);
    const prev = last.get(partition);
    if (prev !== undefined && c < prev) throw new Error(`partition ${partition} went back from ${prev} to ${c}`);
    last.set(partition, c);
    for (const r of records) {
      if (r.partition === partition && BigInt(r.offset) < c && !finished.has(r.event.properties.seq as number)) {
        throw new Error(`partition ${partition} committable ${c} skips unfinished offset ${r.offset}`);
      }
    }
  }
}

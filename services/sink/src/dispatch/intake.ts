import { CioRejectedError } from '../errors.ts';
import type { DispatcherOptions, Entry, PartitionState, SinkRecord } from './types.ts';

/**
 * A record as an entry ready to queue: mapped to its request item, or marked invalid (unmappable,
 * too large) so it goes to the DLQ without being sent. Anything thrown but a rejection propagates.
 */
export function prepareEntry(rec: SinkRecord, offset: bigint, part: PartitionState, prepare: DispatcherOptions['prepare'], maxItemBytes: number): Entry {
  const entry: Entry = {
    rec, offset, part, item: undefined, invalid: undefined, done: false, dropped: false, busy: false, attempts: 0, firstAttemptAt: null,
  };
  try {
    entry.item = prepare(rec.event);
    if (entry.item.api === 'v2' && entry.item.bytes > maxItemBytes) {
      entry.invalid = new CioRejectedError(null, JSON.stringify({ errors: [{ reason: 'too_large', message: `item is ${entry.item.bytes} bytes, limit ${maxItemBytes}` }] }));
    }
  } catch (err) {
    if (!(err instanceof CioRejectedError)) throw err;
    entry.invalid = err;
  }
  return entry;
}

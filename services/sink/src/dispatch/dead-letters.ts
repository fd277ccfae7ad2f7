import { deadLetterRetryDelay } from './backoff.ts';
import type { CioRejectedError, CioRetryableError } from '../errors.ts';
import { statusLabel } from '../metrics.ts';
import type { DeadLetterInfo, DispatcherOptions, Entry, SinkRecord } from './types.ts';

type Settings = Pick<DispatcherOptions, 'deadLetter' | 'retryBaseMs' | 'retryMaxMs' | 'metrics' | 'logger'>;

/**
 * Writes one dead letter, retrying (the broker may be away) until it succeeds or `stopped()` turns
 * true. False: not written, so the event stays unfinished and its offset uncommitted.
 */
export async function writeDeadLetterWithRetry(s: Settings, record: SinkRecord, info: DeadLetterInfo, stopped: () => boolean): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await s.deadLetter(record, info);
      s.metrics?.deadLettered.inc({ status: statusLabel(info.status), reason: info.reason });
      return true;
    } catch (err) {
      s.logger?.error({ err, attempt, event_id: record.event.event_id }, 'dead-letter write failed; retrying');
      if (stopped()) return false;
      await new Promise((resolve) => setTimeout(resolve, deadLetterRetryDelay(s, attempt)));
      if (stopped()) return false;
    }
  }
}

/** Customer.io refused the event (or it could never be sent). */
export function rejectedInfo(entry: Entry, error: CioRejectedError): DeadLetterInfo {
  return { reason: 'rejected', status: error.status, error: error.body || error.message, requestItem: entry.item?.json ?? null, attempts: entry.attempts, firstAttemptAt: entry.firstAttemptAt };
}

/** Only the refused attributes of an identify; the rest is re-sent. */
export function attributeRejectedInfo(entry: Entry, error: CioRejectedError, removed: Record<string, unknown>): DeadLetterInfo {
  return { reason: 'attribute_rejected', status: error.status, error: error.body || error.message, requestItem: JSON.stringify({ attributes: removed }), attempts: entry.attempts, firstAttemptAt: entry.firstAttemptAt };
}

/** The key kept failing past the bound; an event never tried carries no status or error. */
export function parkedInfo(entry: Entry, error: CioRetryableError): DeadLetterInfo {
  const tried = entry.attempts > 0;
  return {
    reason: 'parked',
    status: tried ? error.status : null,
    error: tried ? error.body || error.message : null,
    requestItem: entry.item?.json ?? null,
    attempts: entry.attempts,
    firstAttemptAt: entry.firstAttemptAt,
  };
}

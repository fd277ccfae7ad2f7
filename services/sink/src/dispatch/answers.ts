import type { CioRejectedError } from '../errors.ts';
import type { DeadLetterInfo, Entry, FinalAnswer } from './types.ts';

/** Receipts keep Customer.io's answer trimmed: enough to diagnose, never a whole 207 body. */
const MAX_ANSWER_CHARS = 2_000;

function trim(text: string): string {
  return text.length > MAX_ANSWER_CHARS ? `${text.slice(0, MAX_ANSWER_CHARS)}…` : text;
}

/**
 * Delivered. An identify delivered after some attributes were refused says so: the receipt tells
 * what actually reached Customer.io, not just "delivered".
 */
export function deliveredAnswer(entry: Entry, status: number | undefined): FinalAnswer {
  const refused = entry.refused;
  const answer = refused ? trim(`attributes refused and dead-lettered (${refused.attributes.join(', ')}), the rest delivered: ${refused.error}`) : null;
  return { outcome: 'delivered', status: status ?? null, answer, attempts: entry.attempts };
}

/** Dead-lettered: rejected, unsendable, or parked after failing too long. */
export function rejectedAnswer(info: DeadLetterInfo): FinalAnswer {
  const error = info.error ?? (info.reason === 'parked' ? 'parked before it was sent' : null);
  const answer = error === null ? null : trim(info.reason === 'rejected' ? error : `${info.reason}: ${error}`);
  return { outcome: 'rejected', status: info.status, answer, attempts: info.attempts };
}

/** Remembers the refused attributes on the entry, for its delivered receipt. */
export function noteRefused(entry: Entry, error: CioRejectedError, removed: Record<string, unknown>): void {
  const attributes = [...(entry.refused?.attributes ?? []), ...Object.keys(removed)];
  entry.refused = { attributes, status: error.status, error: error.body || error.message };
}

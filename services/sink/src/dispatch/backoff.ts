/** Retry timing for keys that failed retryably and for dead-letter writes. Pure: tested alone. */

export interface BackoffSettings {
  retryBaseMs: number;
  retryMaxMs: number;
}

/**
 * Exponential backoff with equal jitter; Retry-After is a floor, not a suggestion. Without one,
 * the last attempt happens at the park deadline (`remainingMs`) rather than after it.
 */
export function retryDelay(s: BackoffSettings, attempts: number, retryAfterMs: number | undefined, remainingMs: number, random: () => number): number {
  const exp = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exp / 2 + (random() * exp) / 2;
  if (retryAfterMs !== undefined) return retryAfterMs + random() * Math.min(s.retryBaseMs, retryAfterMs * 0.1 + 1);
  return Math.max(0, Math.min(jittered, remainingMs));
}

/** A failed dead-letter write is Kafka's trouble, not Customer.io's: retry at Kafka's reconnect pace. */
export const DEAD_LETTER_RETRY_MAX_MS = 2_000;

/** Before the next attempt at a dead-letter write (the broker may be away for a while). */
export function deadLetterRetryDelay(s: BackoffSettings, attempt: number): number {
  return Math.min(s.retryMaxMs, DEAD_LETTER_RETRY_MAX_MS, s.retryBaseMs * 2 ** Math.min(attempt, 16));
}

/**
 * The load: N people, each sending M numbered events through ingest one after another (a client
 * keeps its own order by waiting for each answer), all people at once, paced to a total rate.
 * A refused connection, a timeout, a 5xx or a 429 is retried as a real client would: after the
 * answer's Retry-After (capped), or a short growing backoff when there was no answer.
 */

export interface LoadPlan {
  run: string;
  people: number;
  events: number;
  rate: number;
  ingestUrl: string;
  writeKey: string;
  maxRetryAfterS: number;
}

export interface Acceptance {
  person: string;
  seq: number;
  /** When ingest answered 200 (epoch ms). */
  acceptedAt: number;
  attempts: number;
}

export interface LoadResult {
  accepted: Acceptance[];
  /** Events ingest refused with a 4xx other than 429: a set-up problem (wrong key), never retried. */
  rejected: Array<{ person: string; seq: number; status: number; body: string }>;
  /** Answers that were retried, by status (0: no answer). */
  retries: Record<string, number>;
}

export const CHAOS_EVENT = 'Product Viewed';

export function personId(run: string, index: number): string {
  return `chaos-${run}-${index}`;
}

/** The event a person sends as number `seq`: its messageId makes a resend the same event. */
export function trackBody(run: string, person: string, seq: number, at: number): string {
  return JSON.stringify({
    userId: person,
    event: CHAOS_EVENT,
    messageId: `${person}-${seq}`,
    timestamp: new Date(at).toISOString(),
    properties: { sku: 'CHAOS-1', chaos_run: run, chaos_seq: seq },
  });
}

/** Spreads sends over time: each take() waits for the next free slot at `rate` per second. */
class Pacer {
  private next = Date.now();
  private readonly intervalMs: number;
  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }
  async take(): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.next);
    this.next = slot + this.intervalMs;
    if (slot > now) await delay(slot - now);
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runLoad(plan: LoadPlan, log: (line: string) => void, stopped: () => boolean = () => false): Promise<LoadResult> {
  const pacer = new Pacer(1000 / plan.rate);
  const result: LoadResult = { accepted: [], rejected: [], retries: {} };
  const auth = `Basic ${Buffer.from(`${plan.writeKey}:`).toString('base64')}`;
  const started = Date.now();
  const total = plan.people * plan.events;
  const progress = setInterval(() => {
    log(`sent ${result.accepted.length}/${total} after ${((Date.now() - started) / 1000).toFixed(0)} s; retried ${JSON.stringify(result.retries)}`);
  }, 5000);

  async function sendOne(person: string, seq: number): Promise<boolean> {
    const body = trackBody(plan.run, person, seq, started + seq);
    let backoffMs = 100;
    for (let attempt = 1; !stopped(); attempt++) {
      let status = 0;
      let retryAfter: string | null = null;
      let text = '';
      try {
        const res = await fetch(`${plan.ingestUrl}/v1/track`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch { /* no answer: refused, reset or timed out */ }
      if (status >= 200 && status < 300) {
        result.accepted.push({ person, seq, acceptedAt: Date.now(), attempts: attempt });
        return true;
      }
      if (status >= 400 && status < 500 && status !== 429 && status !== 408) {
        result.rejected.push({ person, seq, status, body: text.slice(0, 300) });
        return false;
      }
      result.retries[String(status)] = (result.retries[String(status)] ?? 0) + 1;
      const waitMs = retryAfter !== null && Number(retryAfter) > 0
        ? Math.min(Number(retryAfter), plan.maxRetryAfterS) * 1000
        : backoffMs;
      backoffMs = Math.min(backoffMs * 2, 2000);
      // Jitter, so people do not retry in lockstep.
      await delay(waitMs * (0.75 + Math.random() * 0.5));
    }
    return false;
  }

  async function personLoop(index: number): Promise<void> {
    const person = personId(plan.run, index);
    for (let seq = 1; seq <= plan.events && !stopped(); seq++) {
      await pacer.take();
      // A person whose event was refused stops: sending on would only confuse the order verdict.
      if (!(await sendOne(person, seq))) return;
    }
  }

  try {
    await Promise.all(Array.from({ length: plan.people }, (_, i) => personLoop(i)));
  } finally {
    clearInterval(progress);
  }
  return result;
}

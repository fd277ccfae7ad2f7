/** Sends deliveries to ingest the way the sources do: retrying 503s after Retry-After. */
import type { Delivery } from './journeys.ts';

export interface SendResult {
  delivery: Delivery;
  status: number;
  attempts: number;
}

export async function send(baseUrl: string, d: Delivery, opts: { maxAttempts?: number } = {}): Promise<SendResult> {
  const maxAttempts = opts.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    let retryAfterS = 1;
    try {
      const res = await fetch(new URL(d.path, baseUrl), { method: 'POST', headers: d.headers, body: d.body, signal: AbortSignal.timeout(10_000) });
      status = res.status;
      retryAfterS = Number(res.headers.get('retry-after') ?? '1') || 1;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    // Like Shopify and Recharge: anything but 2xx is a failure worth retrying, except a 4xx verdict.
    const retry = status === 0 || status === 429 || status >= 500;
    if (!retry || attempt >= maxAttempts) return { delivery: d, status, attempts: attempt };
    await new Promise((r) => setTimeout(r, Math.min(retryAfterS * 1000, 5000)));
  }
}

/** Sends deliveries in order (a source delivers one shopper's events one after another). */
export async function sendInOrder(baseUrl: string, deliveries: readonly Delivery[]): Promise<SendResult[]> {
  const results: SendResult[] = [];
  for (const d of deliveries) results.push(await send(baseUrl, d));
  return results;
}

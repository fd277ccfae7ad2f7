import type { IncomingHttpHeaders } from 'node:http';
import { header } from './request-context.ts';

/**
 * CORS for the app routes, so analytics.js in a store's pages can post to ingest. Only configured
 * origins get an answer a browser accepts; webhooks and ops routes never answer cross-origin.
 */

/** A browser may cache a preflight answer this long (Chromium caps it at 2 h). */
const PREFLIGHT_MAX_AGE_S = 7200;
/** What analytics.js sends (it adds X-Retry-Count on retries) and what ingest reads. */
const ALLOWED_HEADERS = 'content-type, content-encoding, authorization, x-retry-count';
/** A header list as a browser sends it in Access-Control-Request-Headers. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

/**
 * `https://shop.example.com,http://127.0.0.1:3000`: each an origin as browsers send it (scheme, host,
 * port; no path). Problems are reported without failing fast, as the config reader wants.
 */
export function parseCorsOrigins(items: readonly string[], problem: (message: string) => void): string[] {
  const out: string[] = [];
  for (const [i, item] of items.entries()) {
    let url: URL | null = null;
    try {
      url = new URL(item);
    } catch {
      url = null;
    }
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== item.replace(/\/$/, '')) {
      problem(`INGEST_CORS_ORIGINS item ${i + 1} must be an origin like https://shop.example.com (scheme, host, optional port; no path), got ${JSON.stringify(item.slice(0, 100))}`);
      continue;
    }
    out.push(url.origin);
  }
  return out;
}

export type CorsVerdict =
  /** No Origin header: not a browser's cross-origin request; nothing to add. */
  | { kind: 'none' }
  | { kind: 'allowed'; headers: Record<string, string> }
  | { kind: 'refused'; origin: string };

export function corsVerdict(headers: IncomingHttpHeaders, allowed: ReadonlySet<string>): CorsVerdict {
  const origin = header(headers, 'origin');
  if (origin === undefined) return { kind: 'none' };
  if (!allowed.has(origin)) return { kind: 'refused', origin };
  return { kind: 'allowed', headers: { 'access-control-allow-origin': origin, 'access-control-expose-headers': 'Retry-After', vary: 'Origin' } };
}

/**
 * Headers of the answer to a preflight (OPTIONS) from an allowed origin. The requested headers are
 * allowed as asked (the origin is trusted; the write key still authenticates), so a client adding a
 * header of its own does not lose its events to a CORS failure.
 */
export function preflightHeaders(requestHeaders: IncomingHttpHeaders, allowedOriginHeaders: Record<string, string>): Record<string, string> {
  const requested = header(requestHeaders, 'access-control-request-headers')?.trim();
  return {
    ...allowedOriginHeaders,
    'access-control-allow-methods': 'POST, OPTIONS',
    'access-control-allow-headers': requested !== undefined && requested.length <= 500 && HEADER_LIST.test(requested) ? requested : ALLOWED_HEADERS,
    'access-control-max-age': String(PREFLIGHT_MAX_AGE_S),
  };
}

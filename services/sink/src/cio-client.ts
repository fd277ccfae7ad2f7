import { Pool } from 'undici';
import type { Logger } from '@cio-pipeline/core';
import { CioAuthError, CioConfigError, CioRejectedError, CioRetryableError, MappingError, isRetryableStatus, type CioError, type CioFieldError } from './errors.ts';
import type { DeliveryItem, V1Delivery, V2Delivery } from './mapping.ts';
import { FOLLOWED_REDIRECTS, MAX_REDIRECTS, PERMANENT_REDIRECTS, redirectPolicyFor, refuseRedirect, type RedirectPolicy } from './redirect-policy.ts';
import type { TokenBucket } from './token-bucket.ts';

/** The outcome of one item of a batch. */
/** `status`: the HTTP status of the answer that accepted the item (a receipt records it). */
export type ItemResult = { ok: true; status?: number } | { ok: false; error: CioError };

/** What the dispatcher needs from a Customer.io client (a fake in tests, CioClient in production). */
export interface BatchSender {
  /**
   * Delivers the items and answers one result per item, in order; never throws for HTTP or
   * network trouble. `tokenHeld`: the caller already took a rate-limit token for the first request.
   */
  sendBatch(items: readonly DeliveryItem[], opts?: { tokenHeld?: boolean }): Promise<ItemResult[]>;
}

export interface CioClientOptions {
  /** Track API base, e.g. https://track.customer.io or http://127.0.0.1:8090 (a path prefix is kept). */
  baseUrl: string;
  siteId: string;
  apiKey: string;
  timeoutMs: number;
  /** Keep-alive connections to the track host. */
  connections?: number;
  /** Shared rate limit; every HTTP request takes a token. */
  bucket?: TokenBucket;
  logger?: Logger;
  /** Called for every HTTP answer (status) or transport failure (null), for metrics. */
  onResponse?: (status: number | null, api: 'v1' | 'v2') => void;
  /** Sent on every request, e.g. `cio-pipeline-sink/0.1.0`. */
  userAgent?: string;
  /** Where redirects may be followed; default: Customer.io's hosts plus the base URL's host. */
  redirectPolicy?: RedirectPolicy;
}

interface HttpAnswer {
  status: number;
  body: string;
  retryAfter: string | undefined;
  location: string | undefined;
}

const MAX_ERROR_BODY = 8 * 1024;
const V2_BATCH_PATH = '/api/v2/batch';
/** A 207 item whose fate the answer does not tell. */
const UNSURE = Symbol('unsure');
const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

/** Customer.io Track API client: v2 /batch with per-item results, or v1 calls one request per item. */
export class CioClient implements BatchSender {
  readonly #auth: string;
  /** One keep-alive pool per origin: the configured one, plus any a redirect led to. */
  readonly #pools = new Map<string, Pool>();
  readonly #connections: number;
  /** Where requests go: origin and path prefix. A permanent redirect moves it. */
  #base: URL;
  readonly #timeoutMs: number;
  readonly #userAgent: string | undefined;
  readonly #redirects: RedirectPolicy;
  readonly #bucket: TokenBucket | undefined;
  readonly #logger: Logger | undefined;
  readonly #onResponse: CioClientOptions['onResponse'];

  constructor(opts: CioClientOptions) {
    this.#base = baseOf(new URL(opts.baseUrl));
    this.#auth = `Basic ${Buffer.from(`${opts.siteId}:${opts.apiKey}`).toString('base64')}`;
    this.#connections = opts.connections ?? 32;
    this.#timeoutMs = opts.timeoutMs;
    this.#userAgent = opts.userAgent;
    this.#redirects = opts.redirectPolicy ?? redirectPolicyFor(opts.baseUrl);
    this.#bucket = opts.bucket;
    this.#logger = opts.logger;
    this.#onResponse = opts.onResponse;
  }

  async sendBatch(items: readonly DeliveryItem[], opts: { tokenHeld?: boolean } = {}): Promise<ItemResult[]> {
    if (items.length === 0) {
      if (opts.tokenHeld) this.#bucket?.refund();
      return [];
    }
    const token = { held: opts.tokenHeld === true };
    if (items.every((i) => i.api === 'v2')) return this.#sendV2(items as V2Delivery[], token);
    if (items.every((i) => i.api === 'v1')) {
      const results = await Promise.all((items as V1Delivery[]).map((item) => this.#sendV1(item, token)));
      if (token.held) this.#bucket?.refund(); // every item was refused before sending
      return results;
    }
    throw new Error('a batch mixes v1 and v2 items');
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
    this.#pools.clear();
  }

  /** Where requests go now (after any permanent redirect). */
  get baseUrl(): string {
    return this.#base.href.replace(/\/+$/, '');
  }

  #poolFor(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.#connections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** One v2 batch; a whole-request 400 is narrowed down by halving until the bad item is alone. */
  async #sendV2(items: V2Delivery[], token: { held: boolean }): Promise<ItemResult[]> {
    const body = `{"batch":[${items.map((i) => i.json).join(',')}]}`;
    const answer = await this.#request('POST', this.#target(V2_BATCH_PATH), V2_BATCH_PATH, body, token, 'v2');
    if (answer instanceof CioRetryableError || answer instanceof CioConfigError) return items.map(() => ({ ok: false, error: answer }));
    const { status } = answer;
    if (status === 207) return this.#settleMultiStatus(items, answer.body, token);
    if (status >= 200 && status < 300) return items.map(() => ({ ok: true, status }));
    const fault = classify(answer);
    if (fault) return items.map(() => ({ ok: false, error: fault }));
    // Whole request refused as invalid: one item alone is that item's rejection; otherwise split.
    if (items.length === 1) return [{ ok: false, error: new CioRejectedError(status, answer.body) }];
    this.#logger?.debug({ status, items: items.length }, 'batch refused as a whole; splitting to find the invalid items');
    const mid = Math.ceil(items.length / 2);
    const [left, right] = await Promise.all([this.#sendV2(items.slice(0, mid), token), this.#sendV2(items.slice(mid), token)]);
    return [...left, ...right];
  }

  /**
   * A 207's per-item results. Items it leaves unsure (an error entry named no usable batch_index,
   * so any item without an indexed error may be the one refused) are re-sent in smaller batches,
   * like a whole-request 400, until each is accepted or refused on its own. Re-sending an item
   * Customer.io already took is the lesser risk (events carry deterministic ids, identify and
   * delete are idempotent) than counting a refused item as delivered.
   */
  async #settleMultiStatus(items: V2Delivery[], body: string, token: { held: boolean }): Promise<ItemResult[]> {
    const results = this.#multiStatus(items.length, body);
    const unsure = results.flatMap((r, i) => (r === UNSURE ? [i] : []));
    if (unsure.length === 0) return results as ItemResult[];
    this.#logger?.warn({ items: items.length, unsure: unsure.length }, '207 error without a usable batch_index; re-sending the unsure items in smaller batches');
    // Each pass is smaller (a strict subset, or halves), and a lone item's error is its own: it ends.
    const mid = Math.ceil(unsure.length / 2);
    const groups = unsure.length < items.length ? [unsure] : [unsure.slice(0, mid), unsure.slice(mid)];
    const answers = await Promise.all(groups.map((g) => this.#sendV2(g.map((i) => items[i]!), token)));
    groups.forEach((g, n) => g.forEach((i, k) => (results[i] = answers[n]![k]!)));
    return results as ItemResult[];
  }

  /** UNSURE: the item has no error of its own, but an error entry could not be placed. */
  #multiStatus(count: number, body: string): Array<ItemResult | typeof UNSURE> {
    let errors: CioFieldError[];
    try {
      const parsed = JSON.parse(body) as { errors?: unknown };
      if (!Array.isArray(parsed.errors)) throw new Error('no errors array');
      errors = parsed.errors as CioFieldError[];
    } catch {
      // We cannot tell which items failed; resending is safe (event ids are deterministic ULIDs).
      const err = new CioRetryableError(207, 'unreadable 207 body', { body: body.slice(0, MAX_ERROR_BODY) });
      return Array.from({ length: count }, () => ({ ok: false, error: err }));
    }
    const byIndex = new Map<number, CioFieldError[]>();
    let unplaced = false;
    for (const e of errors) {
      const i = e?.batch_index;
      // Missing, not an integer or out of range: it refuses some item, we cannot tell which.
      const at = typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < count ? i : count === 1 ? 0 : null;
      if (at === null) {
        unplaced = true;
        continue;
      }
      const list = byIndex.get(at) ?? [];
      list.push(e);
      byIndex.set(at, list);
    }
    return Array.from({ length: count }, (_, i) => {
      const errs = byIndex.get(i);
      if (errs) return { ok: false, error: new CioRejectedError(207, JSON.stringify({ errors: errs })) };
      return unplaced ? UNSURE : { ok: true, status: 207 };
    });
  }

  async #sendV1(item: V1Delivery, token: { held: boolean }): Promise<ItemResult> {
    const target = this.#target(item.path);
    // Behind mapping's own check: URL parsing must not move an item to another endpoint (dot
    // segments). That is the item's fault, not the configuration's, so never a halt.
    if (target.pathname + target.search !== this.#prefix() + item.path) {
      const why = `path ${JSON.stringify(item.path)} would be requested as ${JSON.stringify(target.pathname + target.search)}`;
      return { ok: false, error: new MappingError(`${item.method} ${why}`, 'unaddressable_id') };
    }
    const answer = await this.#request(item.method, target, item.path, item.body, token, 'v1');
    if (answer instanceof CioRetryableError || answer instanceof CioConfigError) return { ok: false, error: answer };
    if (answer.status >= 200 && answer.status < 300) return { ok: true, status: answer.status };
    const fault = classify(answer);
    if (fault) return { ok: false, error: fault };
    return { ok: false, error: new CioRejectedError(answer.status, answer.body) };
  }

  /**
   * One call, following Customer.io's redirects (method, body and credentials kept) within the
   * redirect policy. A redirect we may not follow halts delivery like a 401: it is our
   * configuration (region, URL) that is wrong, never the data, so nothing is dead-lettered.
   */
  async #request(method: string, first: URL, path: string, body: string | undefined, token: { held: boolean }, api: 'v1' | 'v2'): Promise<HttpAnswer | CioRetryableError | CioConfigError> {
    let target = first;
    for (let hop = 0; ; hop++) {
      if (token.held) token.held = false;
      else if (this.#bucket) await this.#bucket.take(); // every hop is a request Customer.io counts
      const answer = await this.#send(method, target, body, api);
      if (answer instanceof CioRetryableError || answer.status < 300 || answer.status > 399) return answer;
      const refused = (why: string): CioConfigError =>
        new CioConfigError(answer.status, `Customer.io answered ${answer.status} and ${why}: check CIO_REGION / CIO_TRACK_URL`, 'CIO_REDIRECT');
      if (!FOLLOWED_REDIRECTS.has(answer.status)) return refused('that redirect is not followed');
      if (hop + 1 >= MAX_REDIRECTS) return refused(`more than ${MAX_REDIRECTS} redirects followed`);
      if (answer.location === undefined) return refused('no Location header');
      let next: URL;
      try {
        next = new URL(answer.location, target);
      } catch {
        return refused('an unreadable Location header');
      }
      const why = refuseRedirect(next, this.#redirects);
      if (why !== null) return refused(why);
      if (PERMANENT_REDIRECTS.has(answer.status)) this.#moveBase(path, next);
      target = next;
    }
  }

  /** The base's path prefix, without its trailing '/'. */
  #prefix(): string {
    return this.#base.pathname.replace(/\/+$/, '');
  }

  /** Where API `path` goes now: under the base, as the URL parser reads it. */
  #target(path: string): URL {
    return new URL(this.#prefix() + path, this.#base);
  }

  /** A permanent redirect of API `path` to `to`: later requests go to the new origin and prefix. */
  #moveBase(path: string, to: URL): void {
    if (!to.pathname.endsWith(path)) return; // not a plain move of the whole API; follow per request
    const moved = new URL(to.origin);
    moved.pathname = `${to.pathname.slice(0, to.pathname.length - path.length)}/`;
    if (moved.href === this.#base.href) return;
    this.#logger?.warn({ from: this.#base.origin, to: moved.origin }, 'Customer.io moved the track API permanently (another region?): sending there from now on; set CIO_REGION to match');
    this.#base = moved;
  }

  async #send(method: string, target: URL, body: string | undefined, api: 'v1' | 'v2'): Promise<HttpAnswer | CioRetryableError> {
    const headers: Record<string, string> = { authorization: this.#auth, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#userAgent !== undefined) headers['user-agent'] = this.#userAgent;
    let answer: HttpAnswer;
    try {
      const res = await this.#poolFor(target.origin).request({
        method: method as 'POST',
        path: target.pathname + target.search,
        headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await readCapped(res.body, res.statusCode >= 200 && res.statusCode < 300 && res.statusCode !== 207 ? 0 : MAX_ERROR_BODY * 64);
      answer = { status: res.statusCode, body: text, retryAfter: header(res.headers['retry-after']), location: header(res.headers.location) };
    } catch (err) {
      this.#onResponse?.(null, api);
      const e = err as { name?: string; code?: string; message?: string };
      const timeout = e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT';
      return new CioRetryableError(null, `${timeout ? 'timeout' : 'network error'} calling Customer.io: ${e.code ?? e.name ?? ''} ${e.message ?? ''}`.trim(), {
        cause: err,
        code: timeout ? 'CIO_TIMEOUT' : 'CIO_NETWORK',
      });
    }
    this.#onResponse?.(answer.status, api);
    if (answer.status === 429) this.#bucket?.throttled();
    if (isRetryableStatus(answer.status)) {
      return new CioRetryableError(answer.status, `Customer.io answered ${answer.status}`, {
        retryAfterMs: parseRetryAfter(answer.retryAfter),
        body: answer.body.slice(0, MAX_ERROR_BODY),
      });
    }
    return answer;
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Origin plus path prefix, always ending in '/'. */
function baseOf(url: URL): URL {
  const out = new URL(url.origin);
  out.pathname = `${url.pathname.replace(/\/+$/, '')}/`;
  return out;
}

/** Config faults; anything else non-2xx that is not retryable is the data's fault. */
function classify(answer: HttpAnswer): CioConfigError | undefined {
  if (answer.status === 401 || answer.status === 403) return new CioAuthError(answer.status);
  // A wrong base URL would otherwise dead-letter the whole stream.
  if (answer.status === 404 || answer.status === 405) {
    return new CioConfigError(answer.status, `Customer.io answered ${answer.status}: check CIO_TRACK_URL / CIO_REGION`, 'CIO_ENDPOINT');
  }
  return undefined;
}

/** Retry-After as delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.min(MAX_RETRY_AFTER_MS, Math.round(Number(v) * 1000));
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

/** Reads the body (to free the connection) but keeps at most `limit` characters. */
async function readCapped(body: AsyncIterable<Buffer | string> & { dump?: () => Promise<void> }, limit: number): Promise<string> {
  if (limit === 0 && typeof body.dump === 'function') {
    await body.dump();
    return '';
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (size < limit) chunks.push(b);
    size += b.length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

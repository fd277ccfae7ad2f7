import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * The operations endpoints every service exposes: /healthz (the process is alive), /readyz (its
 * dependencies answer) and /metrics (Prometheus text). Most services serve them on a port of their
 * own (`createOpsServer`); ingest mounts the same handler on its public port (`handleOpsRequest`).
 */
export const OPS_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/** Ready or not; a reason (e.g. "draining") is shown in the /readyz body. */
export type Readiness = boolean | { ready: boolean; reason?: string };

export interface OpsEndpoints {
  metrics: Registry;
  /** What /readyz answers; a throw, a rejection or no answer within readyTimeoutMs is "not ready". */
  ready: () => Readiness | Promise<Readiness>;
  /** A probe must not hang on a dependency that does not answer. Default 2000 ms. */
  readyTimeoutMs?: number;
  /** Sent as Retry-After with a 503 from /readyz, for clients and balancers that honour it. */
  retryAfterS?: number;
  /** Called before each /metrics answer, to refresh gauges that mirror state. */
  beforeScrape?: () => void;
  /** A service's own GET endpoints on its ops port (e.g. the monitor's /trace), by path. */
  routes?: Readonly<Record<string, OpsRoute>>;
}

/** One of a service's own GET endpoints; it answers the request. */
export type OpsRoute = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void;

export interface OpsServer {
  server: Server;
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json';
const DEFAULT_READY_TIMEOUT_MS = 2000;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
}

/** The request path without its query string. */
export function requestPath(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] as string;
}

/**
 * Answers a request for one of OPS_PATHS (the caller has checked the path). GET and HEAD only;
 * any other method gets 405 with Allow.
 */
export function handleOpsRequest(endpoints: OpsEndpoints, req: IncomingMessage, res: ServerResponse): void {
  const path = requestPath(req);
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${path} accepts GET only` } }, { allow: 'GET, HEAD' });
    return;
  }
  if (path === '/healthz') {
    sendJson(res, 200, { status: 'ok' });
    return;
  }
  if (path === '/readyz') {
    void readiness(endpoints).then(({ ready, reason }) => {
      const retry: Record<string, string> = !ready && endpoints.retryAfterS !== undefined ? { 'retry-after': String(endpoints.retryAfterS) } : {};
      sendJson(res, ready ? 200 : 503, reason === undefined ? { ready } : { ready, reason }, retry);
    });
    return;
  }
  endpoints.beforeScrape?.();
  endpoints.metrics.metrics().then(
    (text) => res.writeHead(200, { 'content-type': endpoints.metrics.contentType }).end(text),
    (err: Error) => sendJson(res, 500, { error: { code: 'metrics_failed', message: err.message } }),
  );
}

/** Never rejects: a failing or silent check is "not ready". */
async function readiness(endpoints: OpsEndpoints): Promise<{ ready: boolean; reason?: string }> {
  const timeoutMs = endpoints.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      Promise.resolve().then(() => endpoints.ready()),
      new Promise<Readiness>((resolve) => {
        timer = setTimeout(() => resolve({ ready: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
      }),
    ]);
    return typeof answer === 'boolean' ? { ready: answer } : answer;
  } catch (err) {
    return { ready: false, reason: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** A server of its own for the ops endpoints and the service's routes; every other path is 404. */
export function createOpsServer(endpoints: OpsEndpoints): OpsServer {
  const server = createServer((req, res) => {
    const path = requestPath(req);
    if (OPS_PATHS.has(path)) {
      handleOpsRequest(endpoints, req, res);
      return;
    }
    const route = endpoints.routes && Object.hasOwn(endpoints.routes, path) ? endpoints.routes[path] : undefined;
    if (route && req.method === 'GET') {
      const q = (req.url ?? '').indexOf('?');
      route(req, res, new URLSearchParams(q < 0 ? '' : (req.url ?? '').slice(q + 1)));
      return;
    }
    req.resume();
    res.writeHead(404).end();
  });
  return {
    server,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection must not hold the stop up.
        server.closeIdleConnections();
      }),
  };
}

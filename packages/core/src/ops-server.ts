import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * The operations endpoints every service exposes: /healthz (the process is alive), /readyz (its
 * dependencies answer) and /metrics (Prometheus text).
 */
export interface OpsServer {
  server: Server;
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

/** A service's own GET endpoint on its ops port (e.g. the monitor's /trace); it answers the request. */
export type OpsRoute = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void;

export function createOpsServer(opts: { metrics: Registry; ready: () => boolean | Promise<boolean>; routes?: Readonly<Record<string, OpsRoute>> }): OpsServer {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      Promise.resolve(opts.ready()).then(
        (ok) => res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: ok })),
        () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"ready":false}'),
      );
      return;
    }
    if (path === '/metrics') {
      opts.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    const route = opts.routes && Object.hasOwn(opts.routes, path) ? opts.routes[path] : undefined;
    if (route) {
      route(req, res, new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
      return;
    }
    res.writeHead(404).end();
  });
  return {
    server,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

import { createServer, type Server } from 'node:http';
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

export function createOpsServer(opts: { metrics: Registry; ready: () => boolean | Promise<boolean> }): OpsServer {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
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

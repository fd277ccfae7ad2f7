/**
 * A store's page for analytics.js tests: serves a blank page and the published analytics.js build
 * (`@segment/analytics-next`'s UMD bundle and its lazy chunks) from loopback, with no CDN involved.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { dirname, join, normalize } from 'node:path';

const require = createRequire(import.meta.url);
const UMD = join(dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd');
const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>Tea shop</title><script src="/analytics.js"></script></head><body>tea shop</body></html>';

export interface StorePage {
  server: Server;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port`: `/` the page, `/analytics.js` the bundle, chunks where analytics.js looks for them. */
export async function startStorePage(port: number): Promise<StorePage> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/' || path.endsWith('.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    // analytics.js loads its chunks from `<cdnURL>/analytics-next/bundles/`; the page is the CDN.
    const file = path === '/analytics.js' ? 'index.js' : path.startsWith('/analytics-next/bundles/') ? path.slice('/analytics-next/bundles/'.length) : null;
    const full = file === null ? null : normalize(join(UMD, file));
    if (full === null || !full.startsWith(UMD) || !existsSync(full)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
    createReadStream(full).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

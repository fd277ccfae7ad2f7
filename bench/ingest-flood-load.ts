/**
 * The flood for bench/ingest-flood.bench.ts: unauthenticated requests as fast as this process can
 * send them, from its own loopback addresses (127.0.0.2 onwards; the authenticated load uses
 * 127.0.0.1), over many concurrent connections, bounded in count and time. Each request gets a fresh connection (a refused request's connection is closed by
 * ingest anyway). Prints one JSON result line with the requests sent and the answers by status.
 *   node bench/ingest-flood-load.ts <url> <connections> <seconds> <maxRequests> [addresses]
 */
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';

const [url, connectionsArg, secondsArg, maxArg, addressesArg] = process.argv.slice(2);
const { hostname, port } = new URL(url!);
const connections = Number(connectionsArg ?? 256);
const seconds = Number(secondsArg ?? 5);
const maxRequests = Number(maxArg ?? 2_000_000);
const addresses = Math.min(250, Math.max(1, Number(addressesArg ?? 1)));

const body = '{"id":1,"order_number":1001,"email":"x@example.com","line_items":[]}';
const bodyWithKey = `{"writeKey":"guess",${body.slice(1)}`;
const wrongHmac = createHmac('sha256', 'not-the-secret').update(body).digest('base64');
/** The kinds an attacker without credentials can send: refused from the headers, or after reading a small body. */
const REQUESTS = [
  `POST /v1/batch HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Basic ${Buffer.from('wk_guessed:').toString('base64')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  `POST /webhooks/shopify HTTP/1.1\r\nHost: ${hostname}\r\nX-Shopify-Topic: orders/create\r\nX-Shopify-Hmac-Sha256: ${wrongHmac}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  `POST /v1/track HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: ${bodyWithKey.length}\r\n\r\n${bodyWithKey}`,
  `POST /webhooks/recharge HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
].map((r) => Buffer.from(r, 'latin1'));

const deadline = performance.now() + seconds * 1000;
const started = performance.now();
let sent = 0;
let errors = 0;
const byStatus: Record<string, number> = {};

/** One request on a fresh connection; resolves when answered or closed. */
function once(payload: Buffer, localAddress: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress });
    let head = '';
    let done = false;
    const finish = (status: string): void => {
      if (done) return;
      done = true;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      socket.destroy();
      resolve();
    };
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (m !== null) finish(m[1]!);
    });
    socket.on('error', () => {
      errors++;
      finish('error');
    });
    socket.on('close', () => finish('closed'));
  });
}

await Promise.all(
  Array.from({ length: connections }, async (_, c) => {
    let i = c;
    const source = `127.0.0.${2 + (c % addresses)}`;
    while (performance.now() < deadline && sent < maxRequests) {
      sent++;
      await once(REQUESTS[i++ % REQUESTS.length]!, source);
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ sent, errors, byStatus, seconds: elapsed })}\n`);

/**
 * HTTP at the socket level, for tests that play a hostile client: a request whose body never ends,
 * headers that never finish, a chosen source address on loopback (127.0.0.2 is loopback too).
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { basic } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

export interface RawConnection {
  socket: Socket;
  /** Resolves with the status of the first answer; never rejects (a close without answer gives 0). */
  answered: Promise<number>;
  /** Resolves when the server (or anyone) closed the connection. */
  closed: Promise<void>;
  /** The answer's status once it arrived, 0 when closed without one, null while waiting. */
  readonly answer: number | null;
}

/** Opens a connection and writes `head` (request line and headers, as far as given) and `body`. */
export function openRaw(port: number, head: string, body: string | Buffer = '', localAddress?: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    let received = '';
    let status: number | null = null;
    let settleAnswer: (s: number) => void = () => undefined;
    const answered = new Promise<number>((r) => (settleAnswer = r));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (chunk: Buffer) => {
      if (status !== null) return;
      received += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (m !== null) {
        status = Number(m[1]);
        settleAnswer(status);
      }
    });
    socket.on('error', () => undefined);
    // Closed without an answer counts as answered with 0 (a dropped connection).
    void closed.then(() => {
      status ??= 0;
      settleAnswer(0);
    });
    socket.once('connect', () => {
      socket.write(head);
      if (body.length > 0) socket.write(body);
      resolve({
        socket,
        answered,
        closed,
        get answer() {
          return status;
        },
      });
    });
    socket.once('error', reject);
  });
}

/** A request head with a declared body length, so the server waits for bytes that never come. */
export function requestHead(path: string, headers: Record<string, string>, contentLength: number): string {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${contentLength}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A normal POST from a chosen loopback source address; resolves with status and body text. */
export function postFrom(url: string, body: Buffer | string, headers: Record<string, string>, localAddress: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Rejects when `p` has not settled by the deadline: the thing under test is that an answer comes. */
export async function byDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Requests that look plausible from their headers (or carry a wrong key), then send one body byte. */
const ATTACKS: Array<[string, Record<string, string>]> = [
  ['/webhooks/shopify', { 'X-Shopify-Topic': 'orders/create', 'X-Shopify-Hmac-Sha256': Buffer.alloc(32, 7).toString('base64') }],
  ['/webhooks/recharge', { 'X-Recharge-Webhook-Signature': `t=${Math.floor(Date.now() / 1000)},v1=${'ab'.repeat(32)}` }],
  // No Authorization: the write key may be in the body, so the body has to be read.
  ['/v1/batch', {}],
  ['/v1/track', { authorization: basic('wk_guessed') }],
];

/**
 * Opens `count` unauthenticated connections from 127.0.0.1, each sending headers and one body byte
 * of 20,000 declared (under every endpoint's size cap, so none is refused as too large), and
 * leaves them open. Waves of 250 keep within the listen backlog.
 */
export async function openIdleAttackers(port: number, count: number): Promise<RawConnection[]> {
  const out: RawConnection[] = [];
  while (out.length < count) {
    const wave = Math.min(250, count - out.length);
    out.push(
      ...(await Promise.all(
        Array.from({ length: wave }, (_, i) => {
          const [path, headers] = ATTACKS[(out.length + i) % ATTACKS.length]!;
          return openRaw(port, requestHead(path, headers, 20_000), '{');
        }),
      )),
    );
  }
  return out;
}

/** Resolves once ingest has taken up every attacker: each one is answered, dropped, or holds a request slot. */
export async function untilAttackersSeen(baseUrl: string, attackers: readonly RawConnection[], timeoutMs = 20_000): Promise<void> {
  const takenUp = async (): Promise<number> => (await inflightRequests(baseUrl)) + attackers.filter((c) => c.answer !== null).length;
  await eventually(`ingest to take up all ${attackers.length} attack connections`, takenUp, (n) => n >= attackers.length, { timeoutMs });
}

/** /metrics, fetched from 127.0.0.3: the attackers' address may be blocked. */
export function metricsText(baseUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/metrics`, { localAddress: '127.0.0.3', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

/** ingest_inflight_requests from /metrics. */
export async function inflightRequests(baseUrl: string): Promise<number> {
  return Number(/^ingest_inflight_requests (\d+)/m.exec(await metricsText(baseUrl))?.[1] ?? NaN);
}

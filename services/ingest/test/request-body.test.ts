import { request } from 'node:http';
import { createGunzip, createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { basic, fixture, post, shopifyHeaders, startHarness, type Harness } from './helpers.ts';

const AUTH = { authorization: basic('wk_ios_123'), 'content-type': 'application/json' };
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const fresh = (): void => {
  h.writer.written = [];
  h.writer.calls = 0;
  h.writer.mode = 'ok';
};
const stored = (): Array<[string, string]> => h.writer.written.map((r) => [(r.value as RawAppMessage).message_id, (r.value as RawAppMessage).body.toString()]);

/** Sends `body` in chunks of `size` bytes without Content-Length; resolves with status and JSON. */
function postInChunks(url: string, body: Buffer, size: number, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as unknown) : null }));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += size) req.write(body.subarray(i, i + size));
    req.end();
  });
}

/** gzip of `mb` MiB of zeros, fed one reused MiB at a time. */
async function gzipOfZeros(mb: number): Promise<Buffer> {
  const gzip = createGzip();
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mb; i++) if (!gzip.write(zeros)) await new Promise((r) => gzip.once('drain', r));
  const ended = new Promise((r) => gzip.once('end', r));
  gzip.end();
  await ended;
  return Buffer.concat(out);
}

/** How many bytes `gz` inflates to, counted as it streams (nothing held). */
async function inflatedSize(gz: Buffer): Promise<number> {
  const gunzip = createGunzip();
  let n = 0;
  gunzip.on('data', (c: Buffer) => (n += c.length));
  const ended = new Promise((resolve, reject) => gunzip.once('end', resolve).once('error', reject));
  gunzip.end(gz);
  await ended;
  return n;
}

describe('compressed request bodies', () => {
  it('stores a gzip or deflate batch exactly as the same batch uncompressed', async () => {
    const body = fixture('app/journey-batch.json');
    fresh();
    expect((await post(`${h.url}/v1/batch`, body, AUTH)).status).toBe(200);
    const plain = stored();
    expect(plain).toHaveLength(6);
    for (const [encoding, compressed] of [['gzip', gzipSync(body)], ['x-gzip', gzipSync(body)], ['deflate', deflateSync(body)], ['GZIP', gzipSync(body)]] as const) {
      fresh();
      const res = await post(`${h.url}/v1/batch`, compressed, { ...AUTH, 'content-encoding': encoding });
      expect(res.status, encoding).toBe(200);
      expect(stored(), encoding).toEqual(plain);
    }
    fresh();
    // Streamed in small pieces, as a client writing a gzip stream would.
    expect((await postInChunks(`${h.url}/v1/batch`, gzipSync(body), 97, { ...AUTH, 'content-encoding': 'gzip' })).status).toBe(200);
    expect(stored()).toEqual(plain);
  });

  it('decodes every route: a webhook signed over its JSON and sent gzipped', async () => {
    fresh();
    const body = fixture('shopify/orders-create.json');
    const res = await post(`${h.url}/webhooks/shopify`, gzipSync(body), { ...shopifyHeaders(body, 'orders/create'), 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(h.writer.written).toHaveLength(1);
  });

  it('applies the size limit to the decompressed body', async () => {
    fresh();
    const call = Buffer.from(`{"userId":"u","event":"A","properties":{"p":"${'x'.repeat(40 * 1024)}"}}`);
    const compressed = gzipSync(call);
    expect(compressed.length).toBeLessThan(1024);
    const res = await post(`${h.url}/v1/track`, compressed, { ...AUTH, 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: { reason: 'too_large', message: 'decompressed request body exceeds 32768 bytes' } });
    expect(h.writer.calls).toBe(0);
  });

  it('answers a zip bomb with 413 without inflating it', async () => {
    fresh();
    // About 150 KB on the wire that would inflate to 150 MB (built without holding 150 MB here).
    const bomb = await gzipOfZeros(150);
    expect(bomb.length).toBeLessThan(500 * 1024);
    expect(await inflatedSize(bomb)).toBe(150 * 1024 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    const res = await postInChunks(`${h.url}/v1/batch`, bomb, 64 * 1024, { ...AUTH, 'content-encoding': 'gzip' });
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: { reason: 'too_large' } });
    // Inflating it whole would hold 150 MB; stopping at the cap holds about the cap (500 KB).
    expect(grown).toBeLessThan(32 * 1024 * 1024);
    expect(h.writer.calls).toBe(0);
    // The server still answers normally afterwards.
    expect((await post(`${h.url}/v1/batch`, gzipSync(fixture('app/journey-batch.json')), { ...AUTH, 'content-encoding': 'gzip' })).status).toBe(200);
  });

  it('answers 400 naming the encoding for corrupt, truncated or raw-deflate data, and 415 for an unknown encoding', async () => {
    fresh();
    const body = fixture('app/journey-batch.json');
    const gz = gzipSync(body);
    const cases: Array<[string, Buffer, number, RegExp]> = [
      ['gzip', body, 400, /not valid gzip data/],
      ['gzip', gz.subarray(0, gz.length - 40), 400, /not valid gzip data/],
      ['deflate', gz, 400, /not valid deflate data/],
      ['deflate', deflateRawSync(body), 400, /not valid deflate data/],
      ['br', gz, 415, /Content-Encoding "br" is not supported/],
    ];
    for (const [encoding, data, status, message] of cases) {
      const res = await post(`${h.url}/v1/batch`, data, { ...AUTH, 'content-encoding': encoding });
      expect(res.status, encoding).toBe(status);
      expect((res.json as { error: { message: string } }).error.message, encoding).toMatch(message);
    }
    expect(h.writer.calls).toBe(0);
  });
});

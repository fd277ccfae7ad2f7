/**
 * Regressions for #13: the control API answers only its own host and origin, takes only JSON of a
 * bounded size, renders stored data of any depth, and Track v1 refuses `.` and `..` ids.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { defaultFaults, loadConfig } from '../src/config.ts';
import { TRUNCATED } from '../src/render-depth.ts';
import { AUTH, startEmulator, type Harness, type PersonJson } from './emulator-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startEmulator({ allowedOrigins: ['http://127.0.0.1:3000'] });
});
afterAll(() => h.close());
beforeEach(async () => {
  await h.post('/_emulator/reset', {});
});

interface RawAnswer {
  status: number;
  body: string;
}

/** A request with full control over Host and the other headers (fetch would fix Host itself). */
function raw(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<RawAnswer> {
  const url = new URL(h.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };
const own = () => new URL(h.url).host;
const config = () => h.get<Record<string, unknown>>('/_emulator/config');

describe('DNS rebinding: only allowed Host names', () => {
  it('refuses control and inspection under a foreign Host, and changes nothing', async () => {
    const rebound = { host: `attacker.example:${new URL(h.url).port}` };
    expect((await raw('POST', '/_emulator/config', { ...rebound, ...json }, '{"invalid_credentials":true}')).status).toBe(403);
    expect((await raw('POST', '/_emulator/reset', { ...rebound, ...json }, '{}')).status).toBe(403);
    expect((await raw('GET', '/_emulator/people', rebound)).status).toBe(403);
    expect((await raw('GET', '/', rebound)).status).toBe(403);
    expect(await config()).toEqual(defaultFaults(1));
    for (const host of [own(), `localhost:${new URL(h.url).port}`]) expect((await raw('GET', '/_emulator/people', { host })).status).toBe(200);
  });

  it('takes more host names from EMULATOR_ALLOWED_HOSTS, and refuses bad ones at start-up', () => {
    expect(loadConfig({ EMULATOR_ALLOWED_HOSTS: 'emulator,::1' }).allowedHosts).toEqual(['emulator', '[::1]']);
    expect(loadConfig({}).allowedHosts).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(() => loadConfig({ EMULATOR_ALLOWED_ORIGINS: 'http://x:1/path' })).toThrow(ConfigError);
  });
});

describe('cross-origin writes', () => {
  it('refuses a simple POST from another origin (text/plain or a form), which needs no preflight', async () => {
    const evil = { host: own(), origin: 'http://attacker.example' };
    expect((await raw('POST', '/_emulator/config', { ...evil, 'content-type': 'text/plain' }, '{"invalid_credentials":true}')).status).toBe(403);
    expect((await raw('POST', '/_emulator/reset', { ...evil, 'content-type': 'application/x-www-form-urlencoded' }, 'a=1')).status).toBe(403);
    expect((await raw('POST', '/_emulator/config', { ...evil, ...json }, '{"invalid_credentials":true}')).status).toBe(403);
    expect(await config()).toEqual(defaultFaults(1));
  });

  it('takes only application/json, even without an Origin', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expect((await raw('POST', '/_emulator/config', { host: own(), 'content-type': type }, '{"invalid_credentials":true}')).status).toBe(415);
    }
    expect((await raw('POST', '/_emulator/reset', { host: own() }, '')).status).toBe(415);
    expect(await config()).toEqual(defaultFaults(1));
  });

  it('accepts its own origin and the configured ones', async () => {
    const ok1 = await raw('POST', '/_emulator/config', { host: own(), origin: `http://${own()}`, 'content-type': 'application/json; charset=utf-8' }, '{"latency_ms":1}');
    expect(ok1.status).toBe(200);
    const ok2 = await raw('POST', '/_emulator/config', { host: own(), origin: 'http://127.0.0.1:3000', ...json }, '{"latency_ms":2}');
    expect(ok2.status).toBe(200);
    expect((await config()).latency_ms).toBe(2);
  });
});

describe('control bodies are bounded', () => {
  it('answers 413 to a large body, declared or chunked, and changes nothing', async () => {
    const big = JSON.stringify({ seed: 5, pad: 'x'.repeat(1024 * 1024) });
    expect((await raw('POST', '/_emulator/config', { host: own(), ...json }, big)).status).toBe(413);
    // Without Content-Length: the limit is counted as the body streams in.
    expect((await raw('POST', '/_emulator/config', { host: own(), ...json, 'transfer-encoding': 'chunked' }, big)).status).toBe(413);
    expect((await raw('POST', '/_emulator/reset', { host: own(), ...json }, big)).status).toBe(413);
    expect(await config()).toEqual(defaultFaults(1));
  });
});

describe('rendering at any depth', () => {
  /** JSON text of an array nested `depth` deep (built as text: JSON.stringify itself cannot). */
  const deepText = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  const nested = (depth: number): unknown => JSON.parse(deepText(depth));
  const send = (method: string, path: string, text: string) => h.api(method, path, undefined, { raw: text });

  it('an event nested 5,000 (and 40,000) deep is stored, and the people API still answers, cut at a fixed depth', async () => {
    expect((await send('POST', '/api/v1/customers/u1/events', `{"name":"deep","data":{"v":${deepText(5000)}}}`)).status).toBe(200);
    expect((await send('POST', '/api/v1/customers/u2/events', `{"name":"deeper","data":{"v":${deepText(40_000)}}}`)).status).toBe(200);
    expect((await send('POST', '/api/v1/events', `{"name":"deep","anonymous_id":"a1","data":{"v":${deepText(5000)}}}`)).status).toBe(200);
    const everyone = await h.get<PersonJson[]>('/_emulator/people');
    expect(everyone.map((p) => p.id)).toEqual(['u1', 'u2']);
    const one = await h.get<PersonJson>('/_emulator/people/u1?extended=1');
    let v: unknown = one.events[0]!.data.v;
    let depth = 0;
    while (Array.isArray(v)) {
      v = v[0];
      depth++;
    }
    expect(v).toBe(TRUNCATED);
    expect(depth).toBeGreaterThan(50);
    expect((await fetch(`${h.url}/_emulator/anonymous`)).status).toBe(200);
    // Shallow data is shown as sent.
    await h.api('POST', '/api/v1/customers/u3/events', { name: 'flat', data: { v: nested(10) } });
    expect((await h.get<PersonJson>('/_emulator/people/u3')).events[0]!.data).toEqual({ v: nested(10) });
  });

  it('an attribute or v2 item too deep to measure is refused as too large, never a 500', async () => {
    const attr = await send('PUT', '/api/v1/customers/u1', `{"deep":${deepText(6000)}}`);
    expect(attr.status).toBe(400);
    const item = `{"type":"person","identifiers":{"id":"u1"},"action":"event","name":"e","attributes":{"v":${deepText(20_000)}}}`;
    const res = await send('POST', '/api/v2/batch', `{"batch":[${item}]}`);
    expect(res.status).toBe(207);
    expect((await h.get<PersonJson[]>('/_emulator/people'))).toEqual([]);
  });
});

describe('Track v1 path ids', () => {
  it('refuses "." and ".." ids, encoded or not, and creates nobody', async () => {
    for (const id of ['..', '.', '%2E%2E', '%2e']) {
      const res = await raw('PUT', `/api/v1/customers/${id}`, { host: own(), authorization: AUTH, ...json }, '{"plan":"x"}');
      expect(res.status, id).toBe(400);
      expect(res.body).toContain('identifier cannot be');
    }
    expect((await raw('POST', '/api/v1/customers/../events', { host: own(), authorization: AUTH, ...json }, '{"name":"e"}')).status).toBe(400);
    expect((await raw('DELETE', '/api/v1/customers/u1/devices/%E0%A4%A', { host: own(), authorization: AUTH })).status).toBe(400);
    expect(await h.get<PersonJson[]>('/_emulator/people')).toEqual([]);
    expect((await h.api('PUT', '/api/v1/customers/a..b', { plan: 'x' })).status).toBe(200);
  });
});

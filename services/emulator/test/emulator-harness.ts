import type { RequestLogEntry } from '../src/request-log.ts';
import { createLogger } from '@cio-pipeline/core';
import { loadConfig, type EmulatorConfig } from '../src/config.ts';
import { createEmulator, type Emulator } from '../src/server.ts';

export interface Harness {
  emulator: Emulator;
  url: string;
  /** A Track API call with valid credentials (unless `auth` says otherwise). */
  api(method: string, path: string, body?: unknown, opts?: { auth?: string | null; raw?: string; signal?: AbortSignal }): Promise<Response>;
  get<T = unknown>(path: string): Promise<T>;
  post(path: string, body: unknown): Promise<Response>;
  close(): Promise<void>;
}

export const AUTH = `Basic ${Buffer.from('site:key').toString('base64')}`;

export async function startEmulator(overrides: Partial<EmulatorConfig> = {}): Promise<Harness> {
  const config = { ...loadConfig({}), ...overrides };
  const emulator = createEmulator(config, { logger: createLogger('emulator', 'silent') });
  const { url } = await emulator.listen(0);
  return {
    emulator,
    url,
    api(method, path, body, opts = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const auth = opts.auth === undefined ? AUTH : opts.auth;
      if (auth !== null) headers.authorization = auth;
      const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
      return fetch(url + path, { method, headers, body: payload, signal: opts.signal ?? null });
    },
    async get<T>(path: string) {
      const res = await fetch(url + path);
      if (!res.ok) throw new Error(`GET ${path} -> ${res.status}`);
      return (await res.json()) as T;
    },
    post(path, body) {
      return fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    },
    close: () => emulator.close(),
  };
}

export interface PersonJson {
  cio_id: string;
  id: string | null;
  email: string | null;
  anonymous_ids: string[];
  attributes: Record<string, unknown>;
  events: Array<{ name: string; id: string | null; timestamp: number; data: Record<string, unknown>; received_at: string; type?: string }>;
}

/** The request log entries the inspection API returns. */
export type RequestJson = RequestLogEntry;

/** A valid ULID from a counter (monotonic, deterministic). */
export function ulid(n: number): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let s = '';
  let v = n;
  for (let i = 0; i < 16; i++) {
    s = alphabet[v % 32] + s;
    v = Math.floor(v / 32);
  }
  return `01HZX00000${s}`;
}

/** An exact-size string of `bytes` ASCII bytes. */
export const pad = (bytes: number): string => 'x'.repeat(bytes);

/** Pads `make(n)` so its JSON is exactly `target` bytes. */
export function sizedJson<T>(target: number, make: (padBytes: number) => T): T {
  const base = Buffer.byteLength(JSON.stringify(make(0)));
  const value = make(target - base);
  const got = Buffer.byteLength(JSON.stringify(value));
  if (got !== target) throw new Error(`sizedJson: wanted ${target}, got ${got}`);
  return value;
}

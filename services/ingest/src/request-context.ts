import type { IncomingHttpHeaders } from 'node:http';

/** What a source handler needs from an HTTP request, read fully and within its size cap. */
export interface IngestRequest {
  /** Path without query string. */
  path: string;
  /** Node lower-cases header names, so lookups are case-insensitive. */
  headers: IncomingHttpHeaders;
  body: Buffer;
  receivedAt: number;
  remoteAddress: string | null;
}

/** One header value; a repeated header yields its first value. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  if (Array.isArray(v)) return v[0];
  return v === undefined || v === '' ? undefined : v;
}

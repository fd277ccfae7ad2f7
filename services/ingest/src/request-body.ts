import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { IngestRequestError, badRequest, overloaded, payloadTooLarge } from './errors.ts';
import { header } from './request-context.ts';
import type { SlowBodyGuard } from './slow-body-guard.ts';

export interface BodyLimits {
  /** Largest body accepted, counted after decompression. */
  maxBytes: number;
  retryAfterS: number;
  /** Takes `n` bytes from the shared in-flight budget; false when it is spent (then 503/429). */
  acquire: (n: number) => boolean;
  /** Cuts a body that arrives slower than its minimum rate (408), counting bytes on the wire. */
  slowBodies?: SlowBodyGuard;
}

type Encoding = 'identity' | 'gzip' | 'deflate';

/**
 * Reads a request body, decompressing gzip and deflate (`Content-Encoding`) as it streams. The size
 * cap applies to the decompressed bytes and inflation stops the moment it is passed, so a small
 * zip bomb is a 413 after at most one zlib chunk (16 KB) beyond the cap, never a big allocation.
 * The compressed bytes on the wire are held to the same cap. Corrupt or truncated compressed data
 * is a 400 naming the encoding.
 */
export async function readRequestBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const encoding = contentEncoding(req);
  const declared = req.headers['content-length'];
  // Nothing to read for a body that announces itself over the cap (compressed or not).
  if (declared !== undefined && Number(declared) > limits.maxBytes) throw payloadTooLarge(limits.maxBytes);
  const reading = encoding === 'identity' ? collect(req, req, limits) : collectDecoded(req, encoding, limits);
  return limits.slowBodies ? withinRate(req, reading, limits.slowBodies) : reading;
}

/** Races the read against the guard: a trickling sender loses its slot instead of holding it. */
function withinRate(req: IncomingMessage, reading: Promise<Buffer>, guard: SlowBodyGuard): Promise<Buffer> {
  let cut = (): void => undefined;
  const slow = new Promise<never>((_, reject) => {
    cut = () => reject(new IngestRequestError('INGEST_SLOW_BODY', 408, 'slow_body', `request body arrived slower than ${guard.minBytesPerS} bytes/s`));
  });
  const watched = guard.watch(() => cut());
  const count = (chunk: Buffer): void => watched.add(chunk.length);
  req.on('data', count);
  // The losing read settles later (the caller discards the rest of the body): nobody awaits it.
  reading.catch(() => undefined);
  return Promise.race([reading, slow]).finally(() => {
    watched.done();
    req.off('data', count);
  });
}

function contentEncoding(req: IncomingMessage): Encoding {
  const raw = (header(req.headers, 'content-encoding') ?? 'identity').trim().toLowerCase();
  if (raw === 'identity' || raw === '') return 'identity';
  if (raw === 'gzip' || raw === 'x-gzip') return 'gzip';
  if (raw === 'deflate') return 'deflate';
  throw new IngestRequestError(
    'INGEST_UNSUPPORTED_ENCODING', 415, 'unsupported_encoding',
    `Content-Encoding ${JSON.stringify(raw.slice(0, 40))} is not supported; send gzip, deflate or none`,
  );
}

/** Buffers `source` (the request itself, or its decoder) within the cap and the in-flight budget. */
function collect(req: IncomingMessage, source: Readable, limits: BodyLimits, decoding?: Decoding): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: unknown): void => {
      if (done) return;
      done = true;
      source.off('data', onData);
      decoding?.stop();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.maxBytes) return fail(payloadTooLarge(limits.maxBytes, decoding ? 'decompressed request body' : 'request body'));
      if (!limits.acquire(chunk.length)) return fail(overloaded('overloaded', 'in-flight byte budget spent; retry shortly', limits.retryAfterS));
      chunks.push(chunk);
    };
    source.on('data', onData);
    source.once('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    // `on`, not `once`: a stream can emit more than one error, and an unheard one would crash.
    source.on('error', fail);
    decoding?.onWireOverflow(() => fail(payloadTooLarge(limits.maxBytes)));
    req.on('error', fail);
    // 'close' also follows a complete body; only an incomplete one is an abort.
    req.once('close', () => {
      if (!req.complete) fail(badRequest('aborted', 'client closed the connection before the body ended'));
    });
  });
}

interface Decoding {
  /** Stops feeding and discards the decoder (after a failure). */
  stop(): void;
  onWireOverflow(fn: () => void): void;
}

async function collectDecoded(req: IncomingMessage, encoding: Exclude<Encoding, 'identity'>, limits: BodyLimits): Promise<Buffer> {
  // HTTP's deflate is zlib-wrapped (RFC 9110); raw deflate is refused as invalid data.
  const decoder = encoding === 'gzip' ? createGunzip() : createInflate();
  let wireBytes = 0;
  let overflow = (): void => undefined;
  const decoding: Decoding = {
    stop: () => {
      req.unpipe(decoder);
      decoder.destroy();
    },
    onWireOverflow: (fn) => (overflow = fn),
  };
  req.on('data', (chunk: Buffer) => {
    wireBytes += chunk.length;
    if (wireBytes > limits.maxBytes) overflow();
  });
  req.pipe(decoder);
  try {
    return await collect(req, decoder, limits, decoding);
  } catch (err) {
    throw err instanceof IngestRequestError ? err : badRequest('bad_encoding', `body is not valid ${encoding} data: ${(err as Error).message}`, err);
  }
}

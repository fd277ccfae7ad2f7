import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { OPS_PATHS, handleOpsRequest, topicNames, type Logger, type OpsEndpoints } from '@cio-pipeline/core';
import type { IngestConfig } from './config.ts';
import { corsVerdict, preflightHeaders } from './cors.ts';
import { IngestRequestError, KafkaUnavailableError, RecordEncodingError, badRequest, overloaded, tooManyFromAddress } from './errors.ts';
import { AddressLimit, addressKey } from './address-limit.ts';
import { AddressPenalty } from './address-penalty.ts';
import { InflightBudget } from './inflight-budget.ts';
import type { IngestMetrics } from './metrics.ts';
import type { RawRecord, RawWriter } from './raw-writer.ts';
import { readRequestBody } from './request-body.ts';
import type { IngestRequest } from './request-context.ts';
import { createRouter, type IngestRoute, type Source } from './routes.ts';
import { SlowBodyGuard } from './slow-body-guard.ts';

export type IngestServerConfig = Pick<
  IngestConfig,
  | 'port'
  | 'host'
  | 'shopifySecrets'
  | 'rechargeSecrets'
  | 'rechargeLegacySecrets'
  | 'rechargeToleranceS'
  | 'writeKeys'
  | 'maxCallBytes'
  | 'maxBatchBytes'
  | 'maxWebhookBytes'
  | 'maxInflightBytes'
  | 'maxInflightRequests'
  | 'maxInflightPerAddress'
  | 'maxRefusalsPerAddressPerS'
  | 'refusalBlockMs'
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'minBodyBytesPerS'
  | 'bodyGraceMs'
  | 'kafkaTimeoutMs'
  | 'retryAfterS'
  | 'drainTimeoutMs'
  | 'topicPrefix'
  | 'corsOrigins'
>;

export interface IngestServerDeps {
  config: IngestServerConfig;
  writer: RawWriter;
  logger: Logger;
  metrics: IngestMetrics;
  /** Clock, for tests of signature staleness and clock-skew correction. */
  now?: () => number;
}

export interface IngestServer {
  server: Server;
  /** Starts listening; resolves with the base URL. Port 0 picks a free port. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops accepting, lets requests in flight finish their Kafka writes (bounded), then closes. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** Extra wait beyond the writer's own timeout before the HTTP layer gives up on it (a backstop). */
const WRITE_BACKSTOP_MS = 1000;
const READY_TIMEOUT_MS = 2000;

export function createIngestServer(deps: IngestServerDeps): IngestServer {
  const { config, writer, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const topics = topicNames(config.topicPrefix);
  const budget = new InflightBudget(config.maxInflightBytes, config.maxInflightRequests);
  const perAddress = new AddressLimit(config.maxInflightPerAddress);
  const penalty = new AddressPenalty({ maxRefusalsPerS: config.maxRefusalsPerAddressPerS, blockMs: config.refusalBlockMs });
  const slowBodies = new SlowBodyGuard({ minBytesPerS: config.minBodyBytesPerS, graceMs: config.bodyGraceMs });
  const inflight = new Set<Promise<void>>();
  let draining = false;

  const corsOrigins = new Set(config.corsOrigins);
  const route = createRouter(config, topics, now);
  // Core's ops handler on the public port: the sources' health checks and Prometheus find ingest
  // where they send to it (the Ingress forwards only /webhooks/ and /v1/, infra/k8s/ingress.example.yaml).
  const ops: OpsEndpoints = {
    metrics: metrics.registry,
    ready: async () => {
      if (draining) return { ready: false, reason: 'draining' };
      return (await writer.ready()) ? true : { ready: false, reason: 'kafka unreachable' };
    },
    readyTimeoutMs: READY_TIMEOUT_MS,
    retryAfterS: config.retryAfterS,
    beforeScrape: () => {
      metrics.inflightBytes.set(budget.bytes);
      metrics.inflightRequests.set(budget.requests);
    },
  };

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    if (draining) headers = { ...headers, connection: 'close' };
    res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  }

  function sendError(res: ServerResponse, source: Source, err: IngestRequestError): void {
    if (source === 'app') err = asAppOverload(err);
    metrics.requests.inc({ source, status: String(err.status), reason: err.reason });
    send(res, err.status, { error: { code: err.code, reason: err.reason, message: err.message } }, err.headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (OPS_PATHS.has(path)) return handleOpsRequest(ops, req, res);
    const r = route(path);
    if (r === undefined) {
      req.resume();
      return sendError(res, 'unknown', new IngestRequestError('INGEST_NOT_FOUND', 404, 'not_found', `no endpoint at ${path.slice(0, 200)}`));
    }
    if (r.source === 'app' && !answerCors(req, res)) return;

    if (req.method !== 'POST') {
      const err = new IngestRequestError('INGEST_METHOD_NOT_ALLOWED', 405, 'method_not_allowed', `${path} accepts POST only`, {
        headers: { allow: 'POST' },
      });
      return refuseUnread(req, res, r.source, err);
    }
    if (draining) return refuseUnread(req, res, r.source, overloaded('draining', 'ingest is shutting down; retry shortly', config.retryAfterS));
    try {
      r.checkHeaders(req.headers);
    } catch (err) {
      if (!(err instanceof IngestRequestError)) throw err;
      logRefusal(r.source, err, path, req.socket.remoteAddress ?? null);
      return refuseUnread(req, res, r.source, err);
    }
    // Slots are taken only by requests that passed the header checks, per address first, so one
    // sender holding many slow connections cannot take the slots every other source needs.
    const address = addressKey(req.socket.remoteAddress);
    if (!perAddress.tryAcquire(address)) {
      return refuseUnread(req, res, r.source, tooManyFromAddress(config.retryAfterS));
    }
    if (!budget.tryAcquireRequest()) {
      perAddress.release(address);
      return refuseUnread(req, res, r.source, overloaded('overloaded', 'too many requests in flight; retry shortly', config.retryAfterS));
    }
    let heldBytes = 0;
    // The writer's own promise: the budget stays held until it settles, even after a 503 on timeout,
    // because the records are still in memory until then.
    let pendingWrite: Promise<unknown> | null = null;
    try {
      const body = await readRequestBody(req, {
        maxBytes: r.maxBytes,
        retryAfterS: config.retryAfterS,
        slowBodies,
        acquire: (n) => {
          if (!budget.tryAcquireBytes(n)) return false;
          heldBytes += n;
          return true;
        },
      });
      const request: IngestRequest = {
        path,
        headers: req.headers,
        body,
        receivedAt: now(),
        remoteAddress: req.socket.remoteAddress ?? null,
      };
      let records: RawRecord[];
      try {
        records = r.handle(request);
      } catch (err) {
        if (err instanceof IngestRequestError) logRefusal(r.source, err, path, request.remoteAddress);
        throw err;
      }
      if (records.length > 0) {
        const write = writer.write(records);
        pendingWrite = write.catch(() => undefined);
        await awaitWrite(r.source, records.length, write);
      }
      metrics.requests.inc({ source: r.source, status: '200', reason: 'ok' });
      send(res, 200, { success: true });
    } catch (err) {
      if (err instanceof IngestRequestError) {
        if (!req.complete) {
          // The rest of the body is unwanted: discard what is still coming and close the connection
          // after the answer, instead of reading a huge body through.
          req.resume();
          res.setHeader('connection', 'close');
        }
        return sendError(res, r.source, err);
      }
      logger.error({ err, source: r.source, path }, 'unexpected error handling request');
      metrics.requests.inc({ source: r.source, status: '500', reason: 'internal' });
      send(res, 500, { error: { code: 'INGEST_INTERNAL', reason: 'internal', message: 'internal error' } });
    } finally {
      const release = (): void => {
        budget.releaseBytes(heldBytes);
        budget.releaseRequest();
        perAddress.release(address);
      };
      if (pendingWrite === null) release();
      else void pendingWrite.then(release);
    }
  }

  /**
   * CORS on the app routes: an allowed origin gets its headers on every answer and a preflight is
   * answered here; a browser request from any other origin is refused. False when answered.
   */
  function answerCors(req: IncomingMessage, res: ServerResponse): boolean {
    const verdict = corsVerdict(req.headers, corsOrigins);
    if (verdict.kind === 'refused') {
      req.resume();
      sendError(res, 'app', new IngestRequestError('INGEST_ORIGIN_NOT_ALLOWED', 403, 'origin_not_allowed', `origin ${verdict.origin.slice(0, 200)} is not in INGEST_CORS_ORIGINS`));
      return false;
    }
    if (verdict.kind === 'allowed') for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
    if (req.method !== 'OPTIONS') return true;
    req.resume();
    if (verdict.kind === 'none') {
      sendError(res, 'app', new IngestRequestError('INGEST_METHOD_NOT_ALLOWED', 405, 'method_not_allowed', 'OPTIONS is a CORS preflight and needs an Origin', { headers: { allow: 'POST, OPTIONS' } }));
      return false;
    }
    metrics.requests.inc({ source: 'app', status: '204', reason: 'preflight' });
    res.writeHead(204, preflightHeaders(req.headers, verdict.headers));
    res.end();
    return false;
  }

  /** Answers without reading the body; a body still coming is discarded and the connection closed after the answer. */
  function refuseUnread(req: IncomingMessage, res: ServerResponse, source: Source, err: IngestRequestError): void {
    if (!req.complete) res.setHeader('connection', 'close');
    req.resume();
    sendError(res, source, err);
  }

  function logRefusal(source: Source, err: IngestRequestError, path: string, remote: string | null): void {
    if (err.status !== 401) return;
    // The attempt is worth a log line; the secret, signature and body are not.
    logger.warn({ source, reason: err.reason, path, remote }, 'rejected unauthenticated request');
    if (penalty.recordRefusal(addressKey(remote ?? undefined))) {
      logger.warn({ remote, blockMs: config.refusalBlockMs }, 'address blocked after repeated authentication failures');
    }
  }

  async function awaitWrite(source: IngestRoute['source'], count: number, write: Promise<void>): Promise<void> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const backstop = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new KafkaUnavailableError(`write not confirmed within ${config.kafkaTimeoutMs + WRITE_BACKSTOP_MS} ms`)),
          config.kafkaTimeoutMs + WRITE_BACKSTOP_MS,
        );
      });
      await Promise.race([write, backstop]);
      metrics.kafkaWriteSeconds.observe({ source, outcome: 'ok' }, (performance.now() - started) / 1000);
      metrics.eventsWritten.inc({ source }, count);
    } catch (err) {
      metrics.kafkaWriteSeconds.observe({ source, outcome: 'error' }, (performance.now() - started) / 1000);
      if (err instanceof RecordEncodingError) {
        // The request's fault: a retry would fail the same way, so it must not be told to retry.
        const fields = err.fields.length > 0 ? err.fields.join(', ') : 'a field';
        const hint = err.fields.includes('timestamp') ? ' (timestamp is corrected by sentAt: check both)' : '';
        throw badRequest('unencodable', `message ${err.recordIndex}: ${fields} is out of the range ingest can store${hint}`, err);
      }
      // Whatever else failed, the records are not known to be on Kafka: never 200, and the source retries.
      if (err instanceof KafkaUnavailableError) logger.warn({ source, code: err.code, msg: err.message }, 'Kafka write failed');
      else logger.error({ err, source }, 'raw writer failed');
      throw overloaded('kafka_unavailable', 'events could not be written to Kafka; retry later', config.retryAfterS);
    } finally {
      clearTimeout(timer);
    }
  }


  // Node checks its header and request timeouts only every connectionsCheckingInterval (30 s by
  // default), so a 10 s timeout fired after up to 40 s: check often enough to fire near the setting.
  const shortestTimeoutMs = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  const serverOptions = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(shortestTimeoutMs / 10))),
  };
  const server = createServer(serverOptions, (req, res) => {
    if (penalty.isBlocked(addressKey(req.socket.remoteAddress))) {
      // A request on a connection opened before the block: answered cheaply, and the connection closed.
      return refuseUnread(req, res, 'unknown', tooManyFromAddress(Math.ceil(config.refusalBlockMs / 1000), 'address_blocked'));
    }
    const p = handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'request handler crashed');
      if (!res.headersSent) send(res, 500, { error: { code: 'INGEST_INTERNAL', reason: 'internal', message: 'internal error' } });
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });
  // Before Node's own listener sets up HTTP on the connection: a blocked address costs an accept.
  server.prependListener('connection', (socket: Socket) => {
    if (penalty.isBlocked(addressKey(socket.remoteAddress))) {
      metrics.connectionsDropped.inc({ reason: 'address_blocked' });
      socket.destroy();
    }
  });

  return {
    server,
    listen(port = config.port, host = config.host): Promise<string> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shownHost = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
          resolve(`http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${addr.port}`);
        });
      });
    },
    async close(): Promise<void> {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            logger.warn({ inflight: inflight.size }, 'drain timeout: closing with requests still in flight');
            resolve();
          }, config.drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      slowBodies.stop();
      penalty.stop();
      server.closeAllConnections();
      await closed;
    },
  };
}


/**
 * The overload answer Segment-shaped clients honour: analytics-node reads Retry-After only on a 429
 * (a 5xx goes to its own backoff). Webhook sources keep 503 + Retry-After, which they retry.
 */
function asAppOverload(err: IngestRequestError): IngestRequestError {
  if (err.code !== 'INGEST_OVERLOADED') return err;
  return new IngestRequestError(err.code, 429, err.reason, err.message, { retryable: true, cause: err.cause, headers: { ...err.headers } });
}

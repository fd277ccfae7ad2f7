import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@cio-pipeline/core';
import type { ApiResult } from './api-result.ts';
import { basicAuthChecker } from './auth.ts';
import type { EmulatorConfig } from './config.ts';
import { refuseHost, refuseStateChange, type ControlGuardOptions } from './control-guard.ts';
import { FaultInjector, type FaultDecision } from './faults.ts';
import { readBody, sendHtml, sendJson } from './http-util.ts';
import { INSPECTOR_CSP, inspectorPageHtml } from './inspector-page.ts';
import { RequestLog, type RequestLogEntry } from './request-log.ts';
import { EmulatorStore } from './store.ts';
import { handleV1, type RequestContext } from './track-v1.ts';
import { handleV2 } from './track-v2.ts';
import { LIMITS, MAX_BODY_BYTES } from './validation.ts';

export interface Emulator {
  server: Server;
  /** Listens on `port` (default: the configured one; 0 = any free port) on the configured host. */
  listen(port?: number): Promise<{ url: string }>;
  close(): Promise<void>;
  store: EmulatorStore;
  faults: FaultInjector;
  requestLog: RequestLog;
}

export interface EmulatorDeps {
  logger?: Logger;
}

/** Control bodies are a few settings; anything bigger is refused before it is buffered. */
export const CONTROL_MAX_BODY_BYTES = 64 * 1024;

/** A 207 can list thousands of item errors; the request log keeps enough to diagnose. */
const LOGGED_ITEM_ERRORS = 50;

export function createEmulator(config: EmulatorConfig, deps: EmulatorDeps = {}): Emulator {
  const logger = deps.logger ?? createLogger('emulator', config.logLevel);
  const store = new EmulatorStore(config.siteId, LIMITS.attributesPerPerson);
  const faults = new FaultInjector(config.faults);
  const requestLog = new RequestLog(config.requestLogLimit);
  const isAuthorized = basicAuthChecker(config.siteId, config.apiKey);
  const pendingTimers = new Set<NodeJS.Timeout>();
  const pageHtml = inspectorPageHtml(config.traceUrl);
  const guard: ControlGuardOptions = { allowedHosts: new Set(config.allowedHosts), allowedOrigins: new Set(config.allowedOrigins) };

  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'emulator internal error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    if (path.startsWith('/api/')) return handleApi(req, res, method, path);
    if (path === '/healthz' && method === 'GET') return sendJson(res, 200, { status: 'ok' });
    const foreignHost = refuseHost(req, guard);
    if (foreignHost !== null) return refuse(req, res, foreignHost);
    if (path.startsWith('/_emulator/')) return handleInspection(req, res, method, path, query);
    if ((path === '/' || path === '/index.html') && method === 'GET') {
      return sendHtml(res, pageHtml, { 'content-security-policy': INSPECTOR_CSP, 'cache-control': 'no-store' });
    }
    sendJson(res, 404, { error: 'not found' });
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<void> {
    const at = new Date();
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === null) {
      const message = `request body larger than ${MAX_BODY_BYTES} bytes`;
      requestLog.add({ at: at.toISOString(), method, path, status: 413, error: message });
      sendJson(res, 413, { errors: [{ reason: 'too_large', field: '', message }] }, { connection: 'close' });
      return;
    }
    const authorized = isAuthorized(req.headers.authorization);
    const redirectTo = faults.current.redirect_to;
    if (redirectTo !== null && authorized) {
      // The account lives in the other region: Customer.io sends the caller there, credentials and all.
      const status = faults.current.redirect_status;
      const location = redirectTo + (req.url ?? path);
      requestLog.add({ at: at.toISOString(), method, path, status, error: `redirected to ${location}`, fault: 'redirect' });
      sendJson(res, status, { meta: { error: 'this account is in another region' } }, { location });
      return;
    }
    // Decided on arrival, in arrival order, so a seeded run replays; latency applies to every outcome.
    const decision = faults.decide(authorized, performance.now());
    const latency = faults.latencyMs;
    if (latency > 0) await delay(latency);
    if (res.destroyed) return;
    const v2 = path.startsWith('/api/v2/');
    if (decision.kind !== 'none') return answerFault(req, res, decision, { at: at.toISOString(), method, path }, v2);

    const ctx: RequestContext = {
      method,
      segments: path.split('/').slice(3).filter((s, i, all) => s !== '' || i < all.length - 1),
      text: body.toString('utf8'),
      bodyBytes: body.length,
      receivedAt: at.toISOString(),
      nowSec: Math.floor(at.getTime() / 1000),
    };
    let result: ApiResult;
    if (path.startsWith('/api/v1/')) result = handleV1(store, ctx);
    else if (v2) result = handleV2(store, ctx);
    else result = { status: 404, body: { meta: { error: 'not found' } }, error: 'not found' };

    const entry: RequestLogEntry = { at: ctx.receivedAt, method, path, status: result.status };
    if (result.error !== undefined) entry.error = result.error;
    if (result.itemCount !== undefined) entry.item_count = result.itemCount;
    if (result.warnings !== undefined) entry.warnings = result.warnings;
    if (result.status !== 200) entry.response = trimResponse(result.body);
    requestLog.add(entry);
    if (result.status >= 400) logger.debug({ method, path, status: result.status, error: result.error }, 'rejected');
    sendJson(res, result.status, result.body);
  }

  function answerFault(req: IncomingMessage, res: ServerResponse, decision: FaultDecision, base: Omit<RequestLogEntry, 'status'>, v2: boolean): void {
    const errorBody = (reason: string, message: string): unknown =>
      v2 ? { errors: [{ reason, field: '', message }] } : { meta: { error: message } };
    switch (decision.kind) {
      case 'invalid_credentials': {
        const message = 'Unauthorized request';
        requestLog.add({ ...base, status: 401, error: message, fault: faults.current.invalid_credentials ? 'invalid_credentials' : undefined });
        sendJson(res, 401, errorBody('unauthorized', message), { 'www-authenticate': 'Basic realm="Customer.io Track API"' });
        return;
      }
      case 'rate_limited': {
        const message = 'rate limit exceeded';
        requestLog.add({ ...base, status: 429, error: message, fault: 'rate_limit' });
        const headers: Record<string, string> = decision.retryAfterSec === undefined ? {} : { 'retry-after': String(decision.retryAfterSec) };
        sendJson(res, 429, errorBody('rate_limited', message), headers);
        return;
      }
      case 'error': {
        const message = `emulated ${decision.status} error`;
        requestLog.add({ ...base, status: decision.status, error: message, fault: 'error' });
        sendJson(res, decision.status, errorBody('server_error', message));
        return;
      }
      case 'timeout':
        // Never answered; the socket stays open until the client gives up (or the emulator closes).
        requestLog.add({ ...base, status: 0, error: 'emulated timeout: no response sent', fault: 'timeout' });
        return;
      case 'reset':
        requestLog.add({ ...base, status: 0, error: 'emulated connection reset', fault: 'reset' });
        req.socket.destroy();
        return;
      case 'none':
        return;
    }
  }

  /** Answers a refusal without reading the body; the connection closes so no unread body lingers. */
  function refuse(req: IncomingMessage, res: ServerResponse, refusal: { status: number; error: string }): void {
    logger.warn({ method: req.method, url: req.url, host: req.headers.host, origin: req.headers.origin, status: refusal.status }, 'control request refused');
    sendJson(res, refusal.status, { error: refusal.error }, { connection: 'close' });
  }

  async function handleInspection(req: IncomingMessage, res: ServerResponse, method: string, path: string, query: URLSearchParams): Promise<void> {
    let controlBody: Buffer | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      const refusal = refuseStateChange(req, guard);
      if (refusal !== null) return refuse(req, res, refusal);
      const body = await readBody(req, CONTROL_MAX_BODY_BYTES);
      if (body === null) return refuse(req, res, { status: 413, error: `body larger than ${CONTROL_MAX_BODY_BYTES} bytes` });
      controlBody = body;
    }
    const extended = query.get('extended') === '1' || query.get('extended') === 'true';
    if (path === '/_emulator/people' && method === 'GET') {
      return sendJson(res, 200, store.all().map((p) => store.view(p, extended)));
    }
    if (path.startsWith('/_emulator/people/') && method === 'GET') {
      let key: string;
      try {
        key = decodeURIComponent(path.slice('/_emulator/people/'.length));
      } catch {
        return sendJson(res, 400, { error: 'bad URL encoding' });
      }
      const person = store.lookup(key);
      return person === undefined ? sendJson(res, 404, { error: `no person ${key}` }) : sendJson(res, 200, store.view(person, extended));
    }
    if (path === '/_emulator/anonymous' && method === 'GET') return sendJson(res, 200, store.waitingAnonymous());
    if (path === '/_emulator/requests' && method === 'GET') {
      let entries = requestLog.entries();
      if (query.get('rejected') === '1') entries = entries.filter((e) => e.status !== 200);
      return sendJson(res, 200, entries, {
        'x-total-count': String(requestLog.total),
        'x-retained-count': String(requestLog.retained),
      });
    }
    if (path === '/_emulator/stats' && method === 'GET') {
      return sendJson(res, 200, {
        people: store.personCount,
        events: store.eventCount,
        requests_total: requestLog.total,
        requests_retained: requestLog.retained,
      });
    }
    if (path === '/_emulator/config') {
      if (method === 'GET') return sendJson(res, 200, faults.current);
      if (method === 'POST') {
        let patch: unknown;
        try {
          patch = JSON.parse(controlBody?.toString('utf8') ?? '');
        } catch {
          return sendJson(res, 400, { errors: ['body must be a JSON object'] });
        }
        const problems = faults.update(patch);
        if (problems.length > 0) return sendJson(res, 400, { errors: problems });
        logger.info({ faults: faults.current }, 'fault settings changed');
        return sendJson(res, 200, faults.current);
      }
    }
    if (path === '/_emulator/reset' && method === 'POST') {
      store.reset();
      requestLog.clear();
      faults.reset();
      return sendJson(res, 200, {});
    }
    sendJson(res, 404, { error: 'not found' });
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        pendingTimers.delete(t);
        resolve();
      }, ms);
      pendingTimers.add(t);
    });
  }

  return {
    server,
    store,
    faults,
    requestLog,
    listen(port = config.port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, config.host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ url: `http://${host}:${addr.port}` });
        });
      });
    },
    close() {
      for (const t of pendingTimers) clearTimeout(t);
      pendingTimers.clear();
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        // Hung (timeout-fault) and keep-alive connections would hold close() forever.
        server.closeAllConnections();
      });
    },
  };
}

function trimResponse(body: unknown): unknown {
  if (typeof body === 'object' && body !== null && 'errors' in body && Array.isArray(body.errors) && body.errors.length > LOGGED_ITEM_ERRORS) {
    return { errors: body.errors.slice(0, LOGGED_ITEM_ERRORS), errors_omitted: body.errors.length - LOGGED_ITEM_ERRORS };
  }
  return body;
}

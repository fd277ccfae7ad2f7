import { EnvReader, readLogLevel, type LogLevel } from '@cio-pipeline/core';
import { LOOPBACK_HOSTS } from './control-guard.ts';

export const ERROR_STATUSES = [500, 502, 503, 504] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];
export const REDIRECT_STATUSES = [301, 302, 307, 308] as const;
export type RedirectStatus = (typeof REDIRECT_STATUSES)[number];

/** Fault switches; all off by default. Same shape as the JSON of `GET/POST /_emulator/config`. */
export interface FaultSettings {
  /** Token-bucket rate (requests per second, burst of one second); 0 = unlimited. */
  rate_limit_per_sec: number;
  /** Whether a 429 carries a `Retry-After` header (Customer.io's behaviour is unconfirmed). */
  retry_after: boolean;
  latency_ms: number;
  error_rate: number;
  error_statuses: ErrorStatus[];
  timeout_rate: number;
  reset_rate: number;
  invalid_credentials: boolean;
  /**
   * The account lives in the other region: every authorized Track API call is redirected to this
   * base URL (path and query kept), as Customer.io redirects an EU account calling the US host.
   */
  redirect_to: string | null;
  redirect_status: RedirectStatus;
  seed: number;
}

export interface EmulatorConfig {
  port: number;
  host: string;
  siteId: string;
  apiKey: string;
  /** Faults at start-up (and after `POST /_emulator/config` overrides, until reset). */
  faults: FaultSettings;
  /** Hostnames the inspection and control API answer to (DNS-rebinding guard). */
  allowedHosts: string[];
  /** Origins besides the emulator's own that may change its state (config, reset). */
  allowedOrigins: string[];
  /** How many request-log entries are kept (the total is still counted). */
  requestLogLimit: number;
  /** The monitor's trace view (e.g. http://127.0.0.1:9103/trace/view): the page links each person to it. */
  traceUrl: string | null;
  logLevel: LogLevel;
}

export function defaultFaults(seed = 1): FaultSettings {
  return {
    rate_limit_per_sec: 0,
    retry_after: true,
    latency_ms: 0,
    error_rate: 0,
    error_statuses: [500, 502, 503, 504],
    timeout_rate: 0,
    reset_rate: 0,
    invalid_credentials: false,
    redirect_to: null,
    redirect_status: 307,
    seed,
  };
}

/** Validates a (partial) fault patch; returns problems rather than throwing, so all are reported. */
export function applyFaultPatch(base: FaultSettings, patch: unknown): { faults: FaultSettings; problems: string[] } {
  const problems: string[] = [];
  const out: FaultSettings = { ...base, error_statuses: [...base.error_statuses] };
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    return { faults: out, problems: ['config must be a JSON object'] };
  }
  const p = patch as Record<string, unknown>;
  const known = new Set(Object.keys(out));
  for (const key of Object.keys(p)) if (!known.has(key)) problems.push(`unknown setting "${key}"`);

  const num = (key: 'rate_limit_per_sec' | 'latency_ms' | 'seed', min: number, max: number, integer: boolean): void => {
    if (!(key in p)) return;
    const v = p[key] === null ? 0 : p[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
      return;
    }
    out[key] = v;
  };
  num('rate_limit_per_sec', 0, 1_000_000, false);
  num('latency_ms', 0, 600_000, true);
  num('seed', 0, 0xffffffff, true);
  for (const key of ['error_rate', 'timeout_rate', 'reset_rate'] as const) {
    if (!(key in p)) continue;
    const v = p[key];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) problems.push(`${key} must be a number in [0, 1]`);
    else out[key] = v;
  }
  for (const key of ['retry_after', 'invalid_credentials'] as const) {
    if (!(key in p)) continue;
    const v = p[key];
    if (typeof v !== 'boolean') problems.push(`${key} must be true or false`);
    else out[key] = v;
  }
  if ('error_statuses' in p) {
    const v = p.error_statuses;
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => (ERROR_STATUSES as readonly unknown[]).includes(s))) {
      problems.push(`error_statuses must be a non-empty subset of [${ERROR_STATUSES.join(', ')}]`);
    } else {
      out.error_statuses = [...new Set(v as ErrorStatus[])];
    }
  }
  if ('redirect_to' in p) {
    const v = p.redirect_to;
    if (v === null || v === '') out.redirect_to = null;
    else if (typeof v !== 'string' || !isHttpUrl(v)) problems.push('redirect_to must be an http(s) base URL or null');
    else out.redirect_to = v.replace(/\/+$/, '');
  }
  if ('redirect_status' in p) {
    const v = p.redirect_status;
    if (!(REDIRECT_STATUSES as readonly unknown[]).includes(v)) problems.push(`redirect_status must be one of ${REDIRECT_STATUSES.join(', ')}`);
    else out.redirect_status = v as RedirectStatus;
  }
  if (out.error_rate + out.timeout_rate + out.reset_rate > 1) {
    problems.push('error_rate + timeout_rate + reset_rate must not exceed 1');
  }
  return { faults: out, problems };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export function loadConfig(env: Readonly<Record<string, string | undefined>>): Readonly<EmulatorConfig> {
  const r = new EnvReader(env);
  const seed = r.int('EMULATOR_SEED', 1, { min: 0, max: 0xffffffff });
  const statuses = r.list('EMULATOR_ERROR_STATUSES', ERROR_STATUSES.map(String)).map(Number);
  const { faults, problems } = applyFaultPatch(defaultFaults(seed), {
    rate_limit_per_sec: r.number('EMULATOR_RATE_LIMIT_PER_SEC', 0, { min: 0 }),
    retry_after: r.bool('EMULATOR_RETRY_AFTER', true),
    latency_ms: r.int('EMULATOR_LATENCY_MS', 0, { min: 0, max: 600_000 }),
    error_rate: r.number('EMULATOR_ERROR_RATE', 0, { min: 0, max: 1 }),
    error_statuses: statuses,
    timeout_rate: r.number('EMULATOR_TIMEOUT_RATE', 0, { min: 0, max: 1 }),
    reset_rate: r.number('EMULATOR_RESET_RATE', 0, { min: 0, max: 1 }),
    invalid_credentials: r.bool('EMULATOR_INVALID_CREDENTIALS', false),
    redirect_to: r.optionalString('EMULATOR_REDIRECT_TO') ?? null,
    redirect_status: r.int('EMULATOR_REDIRECT_STATUS', 307),
  });
  for (const problem of problems) r.problem(`EMULATOR faults: ${problem}`);
  const host = r.string('EMULATOR_HOST', '127.0.0.1');
  const allowedHosts = r.list('EMULATOR_ALLOWED_HOSTS', [...LOOPBACK_HOSTS, ...(isWildcard(host) ? [] : [host])]).map((h) => {
    try {
      return new URL(`http://${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}`).hostname;
    } catch {
      r.problem(`EMULATOR_ALLOWED_HOSTS: "${h}" is not a host name`);
      return h;
    }
  });
  const allowedOrigins = r.list('EMULATOR_ALLOWED_ORIGINS', []).map((o) => {
    if (!isHttpUrl(o) || new URL(o).origin !== o) r.problem(`EMULATOR_ALLOWED_ORIGINS: "${o}" is not an origin like http://127.0.0.1:3000`);
    return o;
  });
  const traceUrl = r.optionalString('EMULATOR_TRACE_URL') ?? null;
  if (traceUrl !== null && !isHttpUrl(traceUrl)) r.problem(`EMULATOR_TRACE_URL must be an http(s) URL like http://127.0.0.1:9103/trace/view, got "${traceUrl}"`);
  return r.done({
    port: r.int('EMULATOR_PORT', 8090, { min: 0, max: 65535 }),
    host,
    allowedHosts: [...new Set(allowedHosts)],
    allowedOrigins,
    siteId: r.string('CIO_SITE_ID', 'site'),
    apiKey: r.string('CIO_API_KEY', 'key'),
    faults,
    requestLogLimit: r.int('EMULATOR_REQUEST_LOG_LIMIT', 10_000, { min: 1, max: 10_000_000 }),
    traceUrl,
    logLevel: readLogLevel(r),
  });
}

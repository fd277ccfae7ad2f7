import { existsSync } from 'node:fs';
import {
  EnvReader, readKafkaSettings, readLogLevel, readOpsSettings, readRegistrySettings, readTopicSettings,
  type KafkaSettings, type LogLevel, type Topics,
} from '@cio-pipeline/core';
import { DEFAULT_HYSTERESIS, DEFAULT_RULE_SPECS, GROUP_DIMENSIONS, ruleFromSpec, type AlertRule, type RuleSpec } from './alert-rules.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface MonitorConfig {
  kafka: KafkaSettings & {
    groupId: string;
    topicPrefix: string;
    topics: Topics;
    /** Where a new consumer group starts: the window only counts records stamped within it either way. */
    fromBeginning: boolean;
  };
  schemaRegistryUrl: string;
  rules: AlertRule[];
  evalIntervalMs: number;
  webhook: {
    /** Secret (a Slack webhook URL is its own credential): log webhookHost() instead. */
    url: string | null;
    timeoutMs: number;
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
  };
  /** The trace index (pipeline.audit + sink.receipt-batches + legacy sink.receipts by identifier); off while `dir` is null. */
  trace: {
    dir: string | null;
    /** retention.ms of pipeline.audit and sink.receipt-batches if the monitor is the first to create them. */
    retentionMs: number;
    /** Null: a group of its own per process (every monitor indexes every partition). */
    groupId: string | null;
  };
  /** Reconciliation with the store's orders export for the reconcile_orders gauges; null = off. */
  reconcile: {
    ordersFile: string;
    intervalMs: number;
    /** Days exported: today and the days before it, in `timeZone` (bounds the gauges' series). */
    days: number;
    timeZone: string;
  } | null;
  opsHost: string;
  opsPort: number;
  logLevel: LogLevel;
}

/** Reads MONITOR_* settings; every problem is reported at once, the result is frozen. */
export function loadMonitorConfig(env: Env): Readonly<MonitorConfig> {
  const r = new EnvReader(env);
  const hysteresis = r.number('MONITOR_HYSTERESIS', DEFAULT_HYSTERESIS, { min: 0, max: 0.99 });
  const rulesText = r.optionalString('MONITOR_RULES');
  const rules = parseRules(rulesText, hysteresis, (p) => r.problem(p));
  const webhookUrl = r.optionalString('MONITOR_WEBHOOK_URL') ?? null;
  if (webhookUrl !== null) {
    // The URL itself is a secret, so the message names the problem, not the value.
    try {
      const u = new URL(webhookUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') r.problem('MONITOR_WEBHOOK_URL must be http(s)');
    } catch {
      r.problem('MONITOR_WEBHOOK_URL must be a URL');
    }
  }
  const backoffBaseMs = r.int('MONITOR_WEBHOOK_BACKOFF_MS', 500, { min: 1 });
  const backoffMaxMs = r.int('MONITOR_WEBHOOK_BACKOFF_MAX_MS', 10_000, { min: 1 });
  if (backoffMaxMs < backoffBaseMs) r.problem('MONITOR_WEBHOOK_BACKOFF_MAX_MS must be >= MONITOR_WEBHOOK_BACKOFF_MS');
  const ordersFile = r.optionalString('MONITOR_RECONCILE_ORDERS_FILE');
  if (ordersFile !== undefined && !existsSync(ordersFile)) r.problem(`MONITOR_RECONCILE_ORDERS_FILE ${ordersFile} does not exist`);
  const reconcileIntervalMs = r.int('MONITOR_RECONCILE_INTERVAL_MS', 3_600_000, { min: 10_000 });
  const reconcileDays = r.int('MONITOR_RECONCILE_DAYS', 14, { min: 1, max: 90 });
  const timeZone = r.string('MONITOR_RECONCILE_TIMEZONE', 'UTC');
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    r.problem(`MONITOR_RECONCILE_TIMEZONE must be an IANA zone, got "${timeZone}"`);
  }
  return r.done<MonitorConfig>({
    kafka: {
      ...readKafkaSettings(r, { clientId: 'cio-monitor' }),
      groupId: r.string('MONITOR_GROUP_ID', 'cio-monitor'),
      ...readTopicSettings(r),
      fromBeginning: r.bool('MONITOR_FROM_BEGINNING', false),
    },
    schemaRegistryUrl: readRegistrySettings(r).url,
    rules,
    evalIntervalMs: r.int('MONITOR_EVAL_INTERVAL_MS', 5_000, { min: 10 }),
    webhook: {
      url: webhookUrl,
      timeoutMs: r.int('MONITOR_WEBHOOK_TIMEOUT_MS', 5_000, { min: 1 }),
      maxAttempts: r.int('MONITOR_WEBHOOK_ATTEMPTS', 4, { min: 1, max: 20 }),
      backoffBaseMs,
      backoffMaxMs,
    },
    trace: {
      dir: r.optionalString('MONITOR_TRACE_DIR') ?? null,
      retentionMs: r.int('MONITOR_TRACE_RETENTION_MS', 7 * 24 * 3_600_000, { min: 60_000 }),
      groupId: r.optionalString('MONITOR_TRACE_GROUP_ID') ?? null,
    },
    reconcile: ordersFile === undefined ? null : { ordersFile, intervalMs: reconcileIntervalMs, days: reconcileDays, timeZone },
    ...readOpsSettings(r, { host: 'MONITOR_OPS_HOST', port: 'MONITOR_OPS_PORT' }, 9103),
    logLevel: readLogLevel(r),
  });
}

/** The host of a webhook URL: all of it that may be logged (Slack's path is the credential). */
export function webhookHost(url: string | null): string | null {
  if (url === null) return null;
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}

/** Parses MONITOR_RULES (a JSON array of RuleSpec), or the defaults when unset. */
export function parseRules(text: string | undefined, hysteresis: number, problem: (p: string) => void): AlertRule[] {
  if (text === undefined) return DEFAULT_RULE_SPECS.map((s) => ruleFromSpec(s, hysteresis));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    problem(`MONITOR_RULES is not JSON: ${(err as Error).message}`);
    return [];
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    problem('MONITOR_RULES must be a non-empty JSON array of rules');
    return [];
  }
  const rules: AlertRule[] = [];
  const names = new Set<string>();
  raw.forEach((item: unknown, i) => {
    const where = `MONITOR_RULES[${i}]`;
    const spec = checkSpec(item, where, problem);
    if (!spec) return;
    if (names.has(spec.name)) {
      problem(`${where}: duplicate rule name "${spec.name}"`);
      return;
    }
    names.add(spec.name);
    const rule = ruleFromSpec(spec, hysteresis);
    if (rule.clearBelow > rule.threshold) {
      problem(`${where}: clear_below must be <= threshold`);
      return;
    }
    rules.push(rule);
  });
  return rules;
}

const KNOWN_KEYS = new Set(['name', 'events', 'sources', 'tiers', 'group_by', 'threshold', 'clear_below', 'window_ms', 'buckets', 'min_events']);

function checkSpec(item: unknown, where: string, problem: (p: string) => void): RuleSpec | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    problem(`${where} must be an object`);
    return null;
  }
  const o = item as Record<string, unknown>;
  let ok = true;
  const fail = (msg: string): void => {
    ok = false;
    problem(`${where}: ${msg}`);
  };
  for (const key of Object.keys(o)) if (!KNOWN_KEYS.has(key)) fail(`unknown key "${key}"`);
  if (typeof o['name'] !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(o['name'])) fail('name must be 1-64 characters of letters, digits, _ . : -');
  const strings = (key: string): void => {
    const v = o[key];
    if (v !== undefined && (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string' && s !== ''))) fail(`${key} must be a non-empty array of strings`);
  };
  strings('events');
  strings('sources');
  const tiers = o['tiers'];
  if (tiers !== undefined && (!Array.isArray(tiers) || tiers.length === 0 || !tiers.every((t) => Number.isInteger(t)))) fail('tiers must be a non-empty array of integers');
  const groupBy = o['group_by'];
  if (groupBy !== undefined && (!Array.isArray(groupBy) || !groupBy.every((g) => (GROUP_DIMENSIONS as readonly unknown[]).includes(g)) || new Set(groupBy).size !== groupBy.length)) {
    fail(`group_by must list distinct values of ${GROUP_DIMENSIONS.join(', ')}`);
  }
  const share = (key: string, required: boolean): void => {
    const v = o[key];
    if (v === undefined && !required) return;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) fail(`${key} must be a number in [0, 1)`);
  };
  share('threshold', true);
  share('clear_below', false);
  const int = (key: string, min: number, max: number, required: boolean): void => {
    const v = o[key];
    if (v === undefined && !required) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${key} must be an integer in [${min}, ${max}]`);
  };
  int('window_ms', 100, 7 * 24 * 3_600_000, true);
  int('buckets', 1, 1_000, false);
  int('min_events', 1, Number.MAX_SAFE_INTEGER, false);
  return ok ? (o as unknown as RuleSpec) : null;
}


/** What `npm run trace` takes from the environment: where the monitor is, and how much to say. */
export interface TraceCliConfig {
  /** TRACE_MONITOR_URL; null: the default, http://127.0.0.1:9103 (the monitor's ops port). */
  monitorUrl: string | null;
  /** LOG_LEVEL=debug: unexpected failures with their stack. */
  debug: boolean;
}

/**
 * Apart from the monitor's config on purpose: the command must start fast (issue 16: one person's
 * story within a second), so it loads neither Kafka nor the registry client. Not validated here:
 * --monitor-url overrides the URL, and the command reports a bad one as a usage error.
 */
export function loadTraceCliConfig(env: Readonly<Record<string, string | undefined>>): TraceCliConfig {
  return { monitorUrl: env['TRACE_MONITOR_URL'] ?? null, debug: env['LOG_LEVEL'] === 'debug' };
}

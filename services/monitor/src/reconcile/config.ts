import { EnvReader, readKafkaSettings, readLogLevel, readRegistrySettings, readTopicSettings, type LogLevel, type Topics } from '@cio-pipeline/core';

type Env = Readonly<Record<string, string | undefined>>;

/** What the reconcile command reads from the environment: the same variables as the services. */
export interface ReconcileConfig {
  brokers: string[];
  registryUrl: string;
  topics: Topics;
  logLevel: LogLevel;
}

export function loadReconcileConfig(env: Env): Readonly<ReconcileConfig> {
  const r = new EnvReader(env);
  return r.done<ReconcileConfig>({
    brokers: readKafkaSettings(r, { clientId: 'reconcile' }).brokers,
    registryUrl: readRegistrySettings(r).url,
    topics: readTopicSettings(r).topics,
    logLevel: readLogLevel(r),
  });
}

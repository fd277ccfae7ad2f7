import { DEFAULT_SCHEMA_REGISTRY_URL, EnvReader, topicNames, type Topics } from '@cio-pipeline/core';

type Env = Readonly<Record<string, string | undefined>>;

/** What the reconcile command reads from the environment: the same variables as the services. */
export interface ReconcileConfig {
  brokers: string[];
  registryUrl: string;
  topics: Topics;
  logLevel: string;
}

export function loadReconcileConfig(env: Env): Readonly<ReconcileConfig> {
  const r = new EnvReader(env);
  return r.done<ReconcileConfig>({
    brokers: r.list('KAFKA_BROKERS', ['127.0.0.1:9092']),
    registryUrl: r.url('SCHEMA_REGISTRY_URL', DEFAULT_SCHEMA_REGISTRY_URL),
    topics: topicNames(r.optionalString('TOPIC_PREFIX') ?? ''),
    logLevel: r.string('LOG_LEVEL', 'info'),
  });
}

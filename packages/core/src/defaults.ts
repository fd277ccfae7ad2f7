/**
 * Where the local stack listens (`make dev`, `make stack-up`): every service defaults to it, so
 * running one by hand needs no environment. Apicurio serves the Confluent API under a path.
 */
export const DEFAULT_KAFKA_BROKERS = ['127.0.0.1:9092'] as const;
export const DEFAULT_SCHEMA_REGISTRY_URL = 'http://127.0.0.1:8081/apis/ccompat/v7';

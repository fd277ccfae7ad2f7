import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's schemas/ directory: the source of truth for every contract. */
export const SCHEMAS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../schemas');

export type SchemaName = 'raw-shopify' | 'raw-app' | 'raw-subscriptions' | 'canonical-event' | 'quarantine-record' | 'dlq-record' | 'audit-record' | 'delivery-receipt' | 'delivery-receipt-batch';

const cache = new Map<string, object>();

/** Loads schemas/avro/<name>.avsc (the schema this build reads and writes with). */
export function loadAvroSchema(name: SchemaName): object {
  let schema = cache.get(name);
  if (!schema) {
    schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'avro', `${name}.avsc`), 'utf8')) as object;
    cache.set(name, schema);
  }
  return schema;
}

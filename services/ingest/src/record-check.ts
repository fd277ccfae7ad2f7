import { avroType, loadAvroSchema, rawTopics, topicNames } from '@cio-pipeline/core';
import { RecordEncodingError } from './errors.ts';
import type { RawRecord } from './raw-writer.ts';

/**
 * Checks raw records against their topics' Avro schemas without a registry or a connection, so a
 * value the schema cannot hold is known as the request's fault before anything is queued.
 */
export class RawRecordCheck {
  private readonly types = new Map<string, ReturnType<typeof avroType>>();

  constructor(topicPrefix: string) {
    for (const { topic, schema } of rawTopics(topicNames(topicPrefix))) this.types.set(topic, avroType(loadAvroSchema(schema)));
  }

  /** The first record that does not fit its topic's schema, naming the offending fields; null if all fit. */
  firstUnencodable(records: readonly RawRecord[]): RecordEncodingError | null {
    for (const [i, r] of records.entries()) {
      const type = this.types.get(r.topic);
      if (type === undefined) throw new Error(`no raw schema for topic ${r.topic}`);
      const fields: string[] = [];
      if (!type.isValid(r.value, { errorHook: (path) => fields.push(path.join('.')) })) return new RecordEncodingError(i, fields);
    }
    return null;
  }
}

import { describe, expect, it } from 'vitest';
import { KafkaJSAggregateError, KafkaJSProtocolError } from 'kafkajs';
import { isTopicAlreadyExists } from '@cio-pipeline/core';

/** KafkaJS builds its protocol errors from the broker's error entry: type, code, message. */
const protocolError = (type: string, code: number): KafkaJSProtocolError =>
  new KafkaJSProtocolError({ type, code, message: `broker said ${type}`, retriable: false } as unknown as Error);

describe('isTopicAlreadyExists (ensureTopics tolerates a racing creator by type, not by message)', () => {
  it('is true for TOPIC_ALREADY_EXISTS alone or as every error of an aggregate', () => {
    const exists = protocolError('TOPIC_ALREADY_EXISTS', 36);
    expect(isTopicAlreadyExists(exists)).toBe(true);
    expect(isTopicAlreadyExists(new KafkaJSAggregateError('Topic creation errors', [exists, protocolError('TOPIC_ALREADY_EXISTS', 36)]))).toBe(true);
  });

  it('is false for any other failure, even one whose message says "already exists"', () => {
    const policy = protocolError('POLICY_VIOLATION', 44);
    expect(isTopicAlreadyExists(policy)).toBe(false);
    expect(isTopicAlreadyExists(new KafkaJSAggregateError('Topic creation errors', [protocolError('TOPIC_ALREADY_EXISTS', 36), policy]))).toBe(false);
    expect(isTopicAlreadyExists(new KafkaJSAggregateError('Topic creation errors', []))).toBe(false);
    expect(isTopicAlreadyExists(new Error('topic already exists'))).toBe(false);
    expect(isTopicAlreadyExists(undefined)).toBe(false);
  });
});

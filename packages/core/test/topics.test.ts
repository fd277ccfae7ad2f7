import { describe, expect, it } from 'vitest';
import { topicNames, valueSubject } from '../src/index.ts';

describe('topic names', () => {
  it('puts every topic under the prefix, and none twice', () => {
    const plain = topicNames();
    const prefixed = topicNames('t1.');
    for (const key of Object.keys(plain) as Array<keyof typeof plain>) expect(prefixed[key]).toBe(`t1.${plain[key]}`);
    expect(new Set(Object.values(plain)).size).toBe(Object.keys(plain).length);
    expect(plain).toMatchObject({ rawShopify: 'raw.shopify', rawApp: 'raw.app', rawSubscriptions: 'raw.subscriptions', canonical: 'events.canonical', quarantine: 'events.quarantine', dlq: 'sink.dlq' });
  });

  it('names schema subjects after the topic (TopicNameStrategy)', () => {
    expect(valueSubject('t1.events.canonical')).toBe('t1.events.canonical-value');
  });
});

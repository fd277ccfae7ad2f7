import { ConfigError } from '@cio-pipeline/core';
import { describe, expect, it } from 'vitest';
import { loadNormalizerConfig } from '../src/config.ts';

describe('loadNormalizerConfig', () => {
  it('has defaults and is frozen', () => {
    const c = loadNormalizerConfig({});
    expect(c).toMatchObject({
      trackingPlanPath: 'schemas/tracking-plan.yaml',
      productTablePath: null,
      orderTopics: ['orders/create'],
      futureToleranceMs: 3_600_000,
      timestampFloorMs: Date.parse('2015-01-01T00:00:00Z'),
      internalIpRanges: [],
      internalEmailDomains: [],
      dropInternalTier1: false,
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.orderTopics)).toBe(true);
  });

  it('reads every NORMALIZER_ setting', () => {
    const c = loadNormalizerConfig({
      NORMALIZER_TRACKING_PLAN: '/etc/plan.yaml',
      NORMALIZER_PRODUCT_TABLE: '/etc/products.csv',
      NORMALIZER_ORDER_TOPICS: 'orders/create, Orders/Paid',
      NORMALIZER_FUTURE_TOLERANCE_MS: '60000',
      NORMALIZER_TIMESTAMP_FLOOR: '2020-01-01T00:00:00Z',
      NORMALIZER_INTERNAL_IP_RANGES: '10.0.0.0/8, 2001:db8::/32,203.0.113.7',
      NORMALIZER_INTERNAL_EMAIL_DOMAINS: '@Tea-Example.com,staff.example.org',
      NORMALIZER_DROP_INTERNAL_TIER1: 'true',
    });
    expect(c).toMatchObject({
      trackingPlanPath: '/etc/plan.yaml',
      productTablePath: '/etc/products.csv',
      orderTopics: ['orders/create', 'orders/paid'],
      futureToleranceMs: 60_000,
      timestampFloorMs: Date.parse('2020-01-01T00:00:00Z'),
      internalIpRanges: ['10.0.0.0/8', '2001:db8::/32', '203.0.113.7'],
      internalEmailDomains: ['tea-example.com', 'staff.example.org'],
      dropInternalTier1: true,
    });
  });

  it('reports every problem at once', () => {
    try {
      loadNormalizerConfig({
        NORMALIZER_INTERNAL_IP_RANGES: '10.0.0.0/40,banana',
        NORMALIZER_INTERNAL_EMAIL_DOMAINS: 'not a domain',
        NORMALIZER_ORDER_TOPICS: 'checkouts/create',
        NORMALIZER_FUTURE_TOLERANCE_MS: '-1',
        NORMALIZER_TIMESTAMP_FLOOR: 'long ago',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([
        'NORMALIZER_INTERNAL_IP_RANGES: "10.0.0.0/40" has a prefix length outside 0..32',
        'NORMALIZER_INTERNAL_IP_RANGES: "banana" is not an IPv4 or IPv6 address or CIDR range',
        'NORMALIZER_INTERNAL_EMAIL_DOMAINS: "not a domain" is not a domain',
        'NORMALIZER_ORDER_TOPICS: "checkouts/create" is not a Shopify orders/* topic',
        'NORMALIZER_TIMESTAMP_FLOOR must be an ISO-8601 date, got "long ago"',
        'NORMALIZER_FUTURE_TOLERANCE_MS must be >= 0, got -1',
      ]);
    }
  });
});

import { EnvReader } from '@cio-pipeline/core';
import { parseCidr } from './stages/bot-filter.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface NormalizerConfig {
  /** Path of the tracking plan YAML. */
  trackingPlanPath: string;
  /** Product table (JSON or CSV) for enrichment; none when unset. */
  productTablePath: string | null;
  /** Shopify order topics that become order_completed (orders/create; add orders/paid to emit on payment instead or too). */
  orderTopics: string[];
  /** How far after receipt an event time may lie before it is `timestamp_in_future`. */
  futureToleranceMs: number;
  /** Event times before this (epoch ms) are `timestamp_too_old`. */
  timestampFloorMs: number;
  internalIpRanges: string[];
  internalEmailDomains: string[];
  /** Drop tier 1 events from internal traffic instead of keeping them flagged. */
  dropInternalTier1: boolean;
  logLevel: string;
}

const DEFAULT_FLOOR = '2015-01-01T00:00:00Z';

/** Reads NORMALIZER_* settings; every problem is reported at once, the result is frozen. */
export function loadNormalizerConfig(env: Env): Readonly<NormalizerConfig> {
  const r = new EnvReader(env);
  const internalIpRanges = r.list('NORMALIZER_INTERNAL_IP_RANGES');
  for (const entry of internalIpRanges) {
    const parsed = parseCidr(entry);
    if (typeof parsed === 'string') r.problem(`NORMALIZER_INTERNAL_IP_RANGES: ${parsed}`);
  }
  const internalEmailDomains = r.list('NORMALIZER_INTERNAL_EMAIL_DOMAINS').map((d) => d.toLowerCase().replace(/^@/, ''));
  for (const d of internalEmailDomains) {
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(d)) r.problem(`NORMALIZER_INTERNAL_EMAIL_DOMAINS: "${d}" is not a domain`);
  }
  const orderTopics = r.list('NORMALIZER_ORDER_TOPICS', ['orders/create']).map((t) => t.toLowerCase());
  for (const t of orderTopics) {
    if (!t.startsWith('orders/')) r.problem(`NORMALIZER_ORDER_TOPICS: "${t}" is not a Shopify orders/* topic`);
  }
  const floorText = r.string('NORMALIZER_TIMESTAMP_FLOOR', DEFAULT_FLOOR);
  const timestampFloorMs = Date.parse(floorText);
  if (!Number.isFinite(timestampFloorMs)) r.problem(`NORMALIZER_TIMESTAMP_FLOOR must be an ISO-8601 date, got "${floorText}"`);
  return r.done({
    trackingPlanPath: r.string('NORMALIZER_TRACKING_PLAN', 'schemas/tracking-plan.yaml'),
    productTablePath: r.optionalString('NORMALIZER_PRODUCT_TABLE') ?? null,
    orderTopics,
    futureToleranceMs: r.int('NORMALIZER_FUTURE_TOLERANCE_MS', 3_600_000, { min: 0 }),
    timestampFloorMs: Number.isFinite(timestampFloorMs) ? timestampFloorMs : Date.parse(DEFAULT_FLOOR),
    internalIpRanges,
    internalEmailDomains,
    dropInternalTier1: r.bool('NORMALIZER_DROP_INTERNAL_TIER1', false),
    logLevel: r.string('LOG_LEVEL', 'info'),
  });
}

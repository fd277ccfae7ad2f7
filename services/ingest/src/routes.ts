import type { IncomingHttpHeaders } from 'node:http';
import type { Topics } from '@cio-pipeline/core';
import type { IngestServerConfig } from './http-server.ts';
import type { RawRecord } from './raw-writer.ts';
import { checkRechargeHeaders, rechargeRecords } from './recharge.ts';
import type { IngestRequest } from './request-context.ts';
import { checkWriteKeyHeader, SEGMENT_PATHS, segmentRecords, type SegmentEndpoint } from './segment.ts';
import { checkShopifyHeaders, shopifyRecords } from './shopify.ts';

/** Ingest's route table: which path is which source, its body limit, and how its records are made. */

export type Source = 'shopify' | 'recharge' | 'app' | 'unknown';

export interface IngestRoute {
  source: Exclude<Source, 'unknown'>;
  maxBytes: number;
  /** What the headers alone can refuse (a missing or unknown credential), before the body is read. */
  checkHeaders: (headers: IncomingHttpHeaders) => void;
  handle: (req: IngestRequest) => RawRecord[];
}

/**
 * The route for a request path, or undefined when ingest has no endpoint there. The ops endpoints
 * (/healthz, /readyz, /metrics) are core's handler, answered before this table is asked.
 */
export function createRouter(config: IngestServerConfig, topics: Topics, now: () => number): (path: string) => IngestRoute | undefined {
  const segmentRoute = (endpoint: SegmentEndpoint): IngestRoute => ({
    source: 'app',
    maxBytes: endpoint === 'batch' ? config.maxBatchBytes : config.maxCallBytes,
    checkHeaders: (headers) => checkWriteKeyHeader(headers, config.writeKeys),
    handle: (req) => segmentRecords(req, endpoint, { writeKeys: config.writeKeys, topic: topics.rawApp, maxMessageBytes: config.maxCallBytes }),
  });
  const routes = new Map<string, IngestRoute>([
    [
      '/webhooks/shopify',
      {
        source: 'shopify',
        maxBytes: config.maxWebhookBytes,
        checkHeaders: checkShopifyHeaders,
        handle: (req) => shopifyRecords(req, { secrets: config.shopifySecrets, topic: topics.rawShopify }),
      },
    ],
    ...[...SEGMENT_PATHS].map(([path, endpoint]): [string, IngestRoute] => [path, segmentRoute(endpoint)]),
  ]);
  const rechargeRoute: IngestRoute = {
    source: 'recharge',
    maxBytes: config.maxWebhookBytes,
    checkHeaders: (headers) => checkRechargeHeaders(headers, { legacySecrets: config.rechargeLegacySecrets }),
    handle: (req) =>
      rechargeRecords(req, { secrets: config.rechargeSecrets, legacySecrets: config.rechargeLegacySecrets, toleranceS: config.rechargeToleranceS, topic: topics.rawSubscriptions, now }),
  };

  return (path: string): IngestRoute | undefined => {
    const found = routes.get(path);
    if (found !== undefined) return found;
    // Recharge may be pointed at one URL per topic: /webhooks/recharge/charge/paid.
    if (path === '/webhooks/recharge' || path.startsWith('/webhooks/recharge/')) return rechargeRoute;
    return undefined;
  };
}

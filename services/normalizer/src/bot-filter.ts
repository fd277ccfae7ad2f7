import { BlockList, isIP } from 'node:net';
import type { BotFilterSpec, Tier } from './tracking-plan.ts';
import { WARNING } from './validate.ts';

export interface InternalTraffic {
  /** CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) or single addresses. */
  ipRanges: readonly string[];
  /** Email domains of staff and test accounts (`example-store.com`); subdomains match too. */
  emailDomains: readonly string[];
  /** Drop tier 1 events from internal traffic too (default false: keep them, flagged). */
  dropTier1: boolean;
}

export type TrafficClass = 'bot' | 'internal_traffic' | null;

export type FilterVerdict =
  | { action: 'keep' }
  | { action: 'flag'; warning: string }
  | { action: 'drop'; reason: 'bot' | 'internal_traffic' };

/** Parses `addr` or `addr/prefix`; returns an error message for a malformed entry. */
export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return `"${entry}" is not an IPv4 or IPv6 address or CIDR range`;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    return `"${entry}" has a prefix length outside 0..${max}`;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Classifies traffic by user agent (plan patterns), source IP (configured ranges; IPv4-mapped IPv6
 * addresses match IPv4 ranges) and email domain, and decides by tier what happens to the event.
 */
export class BotFilter {
  private readonly spec: BotFilterSpec;
  private readonly internal: InternalTraffic;
  private readonly ranges = new BlockList();
  private readonly domains: readonly string[];

  constructor(spec: BotFilterSpec, internal: InternalTraffic) {
    this.spec = spec;
    this.internal = internal;
    for (const entry of internal.ipRanges) {
      const parsed = parseCidr(entry);
      if (typeof parsed === 'string') throw new Error(parsed); // config.ts validates first; this is a programming error
      this.ranges.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.domains = internal.emailDomains.map((d) => d.trim().toLowerCase().replace(/^@/, '')).filter((d) => d !== '');
  }

  classify(traffic: { ip: string | null; userAgent: string | null; email?: string | undefined }): TrafficClass {
    const ua = traffic.userAgent;
    if (ua && this.spec.matchers.some((m) => m(ua))) return 'bot';
    if (traffic.ip && this.isInternalIp(traffic.ip)) return 'internal_traffic';
    if (traffic.email && this.isInternalEmail(traffic.email)) return 'internal_traffic';
    return null;
  }

  isInternalIp(ip: string): boolean {
    const address = ip.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, ''); // brackets and zone ids
    const version = isIP(address);
    if (version === 0) return false;
    return this.ranges.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }

  isInternalEmail(email: string): boolean {
    const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
    return this.domains.some((d) => domain === d || domain.endsWith(`.${d}`));
  }

  /**
   * Tiers the plan lists in drop_tiers (browse) are dropped when bot or internal. Other tiers are
   * revenue facts: a bot user agent on an order is flagged, not lost; internal traffic is flagged
   * unless configured to drop.
   */
  decide(tier: Tier, kind: string, cls: TrafficClass): FilterVerdict {
    if (cls === null) return { action: 'keep' };
    const droppable = this.spec.dropTiers.includes(tier) && kind !== 'identify';
    if (droppable) return { action: 'drop', reason: cls };
    if (cls === 'internal_traffic' && this.internal.dropTier1 && kind !== 'identify') return { action: 'drop', reason: cls };
    return { action: 'flag', warning: cls === 'bot' ? WARNING.botTraffic : WARNING.internalTraffic };
  }
}

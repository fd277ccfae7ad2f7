import { BlockList, isIP } from 'node:net';
import { isbot } from 'isbot';
import type { BotFilterSpec, Tier } from '@cio-pipeline/core';
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
 * The longest text an IP literal the filter reads can be, after trimming: 45 characters of IPv6 with
 * an embedded IPv4 tail, two brackets and a zone id (an interface name, at most 15 characters on
 * Linux). The IP comes from the client, so anything longer is not an address and is refused before
 * any regex runs on it.
 */
export const MAX_IP_CHARS = 64;

/**
 * Agents of server-side SDKs and webhook senders: a backend relaying a person's action, never a
 * crawler. isbot flags every agent that is not a browser's, these included, so they are exempt.
 */
const RELAY_AGENTS: readonly RegExp[] = [
  /^analytics-[\w-]+\//i, // Segment's SDKs: analytics-node-next, analytics-python, analytics-ruby, analytics-go...
  /^rudder/i, // RudderStack's SDKs
  /^segment/i,
  /^customer\.io /i, /^customerio-/i,
  /^shopify-captain-hook/i, // Shopify's webhook sender
];

/**
 * User agents longer than this are classified by their first part: real agents stay far below,
 * and a bound keeps the maintained list's regex from running over an attacker's 32 KB.
 */
export const MAX_USER_AGENT_CHARS = 1024;

/** True for an end user's agent that is a bot: isbot's maintained list plus the plan's own patterns. */
export function isBotAgent(userAgent: string, planMatchers: BotFilterSpec['matchers']): boolean {
  const ua = userAgent.length > MAX_USER_AGENT_CHARS ? userAgent.slice(0, MAX_USER_AGENT_CHARS) : userAgent;
  if (planMatchers.some((m) => m(ua))) return true;
  if (RELAY_AGENTS.some((re) => re.test(ua))) return false;
  return isbot(ua);
}

/**
 * Classifies traffic by the end user's agent (isbot and plan patterns; never the agent of the HTTP
 * client that delivered it, which for a server-side SDK is the SDK), source IP (configured ranges; IPv4-mapped IPv6
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
    if (ua && isBotAgent(ua, this.spec.matchers)) return 'bot';
    if (traffic.ip && this.isInternalIp(traffic.ip)) return 'internal_traffic';
    if (traffic.email && this.isInternalEmail(traffic.email)) return 'internal_traffic';
    return null;
  }

  isInternalIp(ip: string): boolean {
    const text = ip.trim();
    if (text.length > MAX_IP_CHARS) return false;
    const address = text.replace(/^\[|\]$/g, '').replace(/%.*$/, ''); // brackets and zone ids
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

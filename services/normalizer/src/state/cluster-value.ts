import { DiskStoreError } from './disk/errors.ts';
import type { Cluster } from './identity-graph.ts';

const CUSTOMER = 'customer_id:';

/**
 * The value of `~m:<label>` in the disk identity index:
 *   `<flag count>|<length of the customers part>|<customers part><members part>`
 * Both parts are lists of `<length>:<string>`: lengths, not a separator, so an identifier may hold
 * any character (a separator in a hostile anonymous id would split it in two). The customer_id
 * values come first, sorted: most lookups want the person and the flag count, and read only them.
 * The members are decoded when asked for, so an event of a person with thousands of identifiers
 * (a shared device, a script reusing one user id) does not cost thousands of steps.
 */
export class DiskCluster implements Cluster {
  readonly id: string;
  readonly customers: string[];
  readonly flagged: number;
  private readonly raw: string;
  private readonly membersAt: number;
  private decoded: string[] | null = null;

  constructor(label: string, raw: string) {
    const header = readHeader(label, raw);
    this.id = label;
    this.raw = raw;
    this.flagged = header.flagged;
    this.membersAt = header.membersAt;
    this.customers = readList(label, raw, header.customersAt, header.membersAt);
  }

  get members(): string[] {
    this.decoded ??= readList(this.id, this.raw, this.membersAt, this.raw.length);
    return this.decoded;
  }

  /** How many members, without making a string of each. */
  get memberCount(): number {
    if (this.decoded !== null) return this.decoded.length;
    let n = 0;
    walkList(this.id, this.raw, this.membersAt, this.raw.length, () => n++);
    return n;
  }
}

export function encodeCluster(flagged: number, customers: readonly string[], members: readonly string[]): string {
  const customersPart = list(customers);
  return `${flagged}|${customersPart.length}|${customersPart}${list(members)}`;
}

/** `raw` with `node` added (last) and `flags` more flags, without decoding its members. */
export function withMember(label: string, raw: string, node: string, flags: number): string {
  const member = `${node.length}:${node}`;
  if (flags === 0 && !node.startsWith(CUSTOMER)) return raw + member;
  const header = readHeader(label, raw);
  if (!node.startsWith(CUSTOMER)) return `${header.flagged + flags}${raw.slice(raw.indexOf('|'))}${member}`;
  const customers = readList(label, raw, header.customersAt, header.membersAt);
  customers.push(node.slice(CUSTOMER.length));
  customers.sort();
  const customersPart = list(customers);
  return `${header.flagged + flags}|${customersPart.length}|${customersPart}${raw.slice(header.membersAt)}${member}`;
}

/** `raw` with its flag count moved by `delta`, without decoding its members. */
export function withFlagCount(label: string, raw: string, delta: number): string {
  const header = readHeader(label, raw);
  return `${header.flagged + delta}${raw.slice(raw.indexOf('|'))}`;
}

function list(items: readonly string[]): string {
  let out = '';
  for (const s of items) out += `${s.length}:${s}`;
  return out;
}

function readHeader(label: string, raw: string): { flagged: number; customersAt: number; membersAt: number } {
  const first = raw.indexOf('|');
  const second = first < 0 ? -1 : raw.indexOf('|', first + 1);
  const length = Number(raw.slice(first + 1, second));
  const membersAt = second + 1 + length;
  const flagged = Number(raw.slice(0, first));
  if (second < 0 || !Number.isSafeInteger(length) || length < 0 || membersAt > raw.length || !Number.isSafeInteger(flagged)) throw corrupt(label);
  return { flagged, customersAt: second + 1, membersAt };
}

function readList(label: string, raw: string, from: number, to: number): string[] {
  const out: string[] = [];
  walkList(label, raw, from, to, (start, end) => out.push(raw.slice(start, end)));
  return out;
}

/** Calls `visit` with where each item of the list in `raw[from, to)` starts and ends. */
function walkList(label: string, raw: string, from: number, to: number, visit: (start: number, end: number) => void): void {
  let at = from;
  while (at < to) {
    const colon = raw.indexOf(':', at);
    const end = colon + 1 + Number(raw.slice(at, colon));
    // Always forward, never past the part: a damaged value fails loudly rather than loop or invent members.
    if (colon < 0 || !(end > colon && end <= to)) throw corrupt(label);
    visit(colon + 1, end);
    at = end;
  }
}

function corrupt(label: string): DiskStoreError {
  return new DiskStoreError('DISK_STORE_CORRUPT', 'an identity member list on disk does not decode', { details: { label } });
}

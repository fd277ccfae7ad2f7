import { ChangelogStore } from './changelog.ts';
import { MEMORY_TABLES, type RecordTable, type TableSource } from './record-table.ts';
import type { Cluster, IdentifierType, IdentityGraph } from './identity-graph.ts';

/**
 * Identifiers that belong to a moment, not to a person: a cart, a checkout, a browser. They come
 * with traffic, so they must go with time, or the graph grows with page views.
 */
export const MOMENT_TYPES: ReadonlySet<IdentifierType> = new Set(['cart_token', 'checkout_token', 'anonymous_id']);

const isMoment = (node: string): boolean => MOMENT_TYPES.has(node.slice(0, node.indexOf(':')) as IdentifierType);

/** A cluster is a person once it holds any identifier that is not a moment (customer_id, email, ...). */
export function isPerson(cluster: Cluster): boolean {
  return cluster.customers.length > 0 || cluster.members.some((m) => !isMoment(m));
}

/**
 * Expiry of moment identifiers (topic `identity`, records `t:<node>` -> last-seen ms).
 *
 * Decisions:
 * - cart and checkout tokens expire TTL after they were last seen, linked to a person or not: a
 *   cart is over long before the TTL, and the person stays reachable by their own identifiers.
 * - an anonymous id expires only if its cluster never became a person; one linked to a person stays
 *   (it is how Customer.io attaches the browsing, and a returning browser resolves through it).
 * - removing a node never splits its cluster: a cluster is a label its members share, not a chain
 *   of links through the removed node, so the remaining members keep their label.
 * - the node goes with its flags (`fb:`, `fa:`), as tombstones in the identity changelog.
 *
 * The seen time is rewritten at most once per `refreshMs` per node (not per event), so a busy token
 * costs one record per refresh, and a token still in use is never older than the refresh interval.
 * The expiry index is a min-heap of (time, node) with lazy deletion: a refresh pushes a new entry
 * and the old one is skipped when it surfaces. It is rebuilt by `load`, so a restore rebuilds it.
 * Each sweep pops at most `maxPerSweep` due entries: bounded work, and bounded tombstones per
 * transaction; the rest is taken by the next sweeps.
 */
export class IdentityExpiry extends ChangelogStore {
  readonly topic = 'identity' as const;
  protected readonly prefixes = ['t:'] as const;
  private readonly seen: RecordTable<number>;
  /** In memory only: on disk the store's expiry index orders the nodes. */
  private readonly queue: ExpiryQueue | null;
  private readonly graph: IdentityGraph;
  private readonly ttlMs: number;
  private readonly refreshMs: number;
  private readonly maxPerSweep: number;

  /** `ttlMs` 0: identifiers never expire (nothing is recorded). */
  constructor(graph: IdentityGraph, opts: { ttlMs: number; maxPerSweep: number; refreshMs?: number }, tables: TableSource = MEMORY_TABLES) {
    super();
    this.persistsItself = tables.onDisk;
    // TTL 0 (never): nothing is due, or the disk sweep would hand back seen times no one removes.
    this.seen = tables.table<number>('t:', { encode: String, decode: Number, expiresAt: (t) => (opts.ttlMs === 0 ? null : t + opts.ttlMs) });
    this.queue = tables.onDisk ? null : new ExpiryQueue();
    this.graph = graph;
    this.ttlMs = opts.ttlMs;
    this.maxPerSweep = opts.maxPerSweep;
    this.refreshMs = opts.refreshMs ?? Math.min(Math.ceil(opts.ttlMs / 10), DAY);
  }

  /** Nodes with a recorded seen time (moment identifiers that may expire). */
  get tracked(): number {
    return this.seen.size;
  }

  /** The recorded seen time of a node, if it is tracked. */
  seenAt(node: string): number | undefined {
    return this.seen.get(node);
  }

  protected read(key: string): string | null {
    const t = this.seen.get(key.slice(2));
    return t === undefined ? null : String(t);
  }

  protected load(key: string, value: string | null): void {
    const node = key.slice(2);
    if (value === null) {
      this.seen.delete(node);
      return;
    }
    const t = Number(value);
    this.seen.set(node, t);
    this.queue?.push(t, node);
  }

  /** Notes that events carried these identifiers at `now` (unknown and non-moment ones are ignored). */
  touch(nodes: Iterable<string>, now: number): void {
    if (this.ttlMs === 0) return;
    for (const node of nodes) {
      if (!isMoment(node)) continue;
      const cluster = this.graph.clusterOf(node);
      if (cluster === undefined) continue;
      const t = this.seen.get(node);
      if (t !== undefined && now - t < this.refreshMs) continue;
      // A person's anonymous id stays for good: nothing to time.
      if (node.startsWith('anonymous_id:') && isPerson(cluster)) continue;
      this.write(`t:${node}`, String(now));
    }
  }

  /** Removes moment identifiers unseen for the TTL (at most `maxPerSweep`); returns how many went. */
  expire(now: number): number {
    if (this.ttlMs === 0) return 0;
    let removed = 0;
    if (this.queue === null) {
      for (const node of this.seen.due(now, this.maxPerSweep)) if (this.remove(node)) removed++;
      return removed;
    }
    for (let work = 0; work < this.maxPerSweep; work++) {
      const head = this.queue.peek();
      if (head === undefined || now - head.t < this.ttlMs) break;
      this.queue.pop();
      // A stale entry: the node was seen again (re-timed) or is gone already.
      if (this.seen.get(head.node) !== head.t) continue;
      if (this.remove(head.node)) removed++;
    }
    return removed;
  }

  /** Drops the node's seen time and, unless it is a person's anonymous id, the node. */
  private remove(node: string): boolean {
    this.write(`t:${node}`, null);
    const cluster = this.graph.clusterOf(node);
    if (cluster === undefined) return false;
    if (node.startsWith('anonymous_id:') && isPerson(cluster)) return false;
    this.graph.forget(node);
    return true;
  }
}

const DAY = 86_400_000;

/** A binary min-heap of (time, node), earliest first. */
class ExpiryQueue {
  private readonly times: number[] = [];
  private readonly nodes: string[] = [];

  peek(): { t: number; node: string } | undefined {
    return this.times.length === 0 ? undefined : { t: this.times[0]!, node: this.nodes[0]! };
  }

  push(t: number, node: string): void {
    let i = this.times.length;
    this.times.push(t);
    this.nodes.push(node);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= t) break;
      this.set(i, this.times[parent]!, this.nodes[parent]!);
      i = parent;
    }
    this.set(i, t, node);
  }

  pop(): void {
    const lastT = this.times.pop()!;
    const lastNode = this.nodes.pop()!;
    const n = this.times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.times[r]! < this.times[l]! ? r : l;
      if (this.times[child]! >= lastT) break;
      this.set(i, this.times[child]!, this.nodes[child]!);
      i = child;
    }
    this.set(i, lastT, lastNode);
  }

  private set(i: number, t: number, node: string): void {
    this.times[i] = t;
    this.nodes[i] = node;
  }
}

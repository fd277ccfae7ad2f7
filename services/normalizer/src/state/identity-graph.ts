import type { IdentifierSet } from '../stages/candidate.ts';
import { ChangelogStore } from './changelog.ts';
import { STATE_DEFAULTS, type FallbackIdentifier } from './config.ts';
import { MemoryIdentityIndex, type IdentityIndex } from './identity-index.ts';

export type IdentifierType = keyof IdentifierSet;

/** Which identifier decides when an event's identifiers point at different people. */
export const IDENTIFIER_PRECEDENCE: readonly IdentifierType[] = [
  'customer_id', 'shopify_customer_id', 'subscription_customer_id', 'email', 'checkout_token', 'cart_token', 'anonymous_id',
];

/** A node id is `<type>:<value>` (types contain no colon, values may). */
export function nodeId(type: IdentifierType, value: string): string {
  return `${type}:${value}`;
}

export function parseNode(node: string): { type: IdentifierType; value: string } {
  const i = node.indexOf(':');
  return { type: node.slice(0, i) as IdentifierType, value: node.slice(i + 1) };
}

/** The Customer.io id a fallback identifier stands for. */
export function fallbackId(node: string): string {
  const { type, value } = parseNode(node);
  if (type === 'email') return value;
  if (type === 'shopify_customer_id') return `shopify:${value}`;
  if (type === 'subscription_customer_id') return `subscription:${value}`;
  return node;
}

/** The merge secondary (`identifier_type` is id or email) for a profile created under a fallback id. */
export function mergeSecondaryOf(node: string): { identifier_type: string; identifier: string } {
  const { type, value } = parseNode(node);
  return type === 'email' ? { identifier_type: 'email', identifier: value } : { identifier_type: 'id', identifier: fallbackId(node) };
}

/** A set of identifiers known to be one person. `id` is an opaque label (a founding node's id, suffixed `#<n>` if that label is taken). */
export interface Cluster {
  id: string;
  members: string[];
  /** customer_id values among the members (one, by the conflict rules; sorted if a restore brings more). */
  customers: string[];
  /** How many `fb:`/`fa:` flags its members hold, as the index counts them; unknown on a cluster the graph makes up. */
  flagged?: number;
}

/**
 * A link the graph did not make as the event asked, on the conflicts topic:
 * - a contested identifier (`keep_first` / `latest_wins`): two customer_ids claim it;
 * - `identifier_limit`: the person already has the most identifiers allowed, so this one is not
 *   linked to them (`not_linked`). The event still goes out under the person it resolves to; the
 *   identifier stays where it was (with nobody, or with its own cluster).
 */
export interface Conflict {
  identifier_type: IdentifierType;
  identifier: string;
  /** The customer the identifier belongs to now (null: nobody with a customer_id). */
  existing_customer_id: string | null;
  /** The customer the event claimed it for (null: a person known by no customer_id). */
  claimed_customer_id: string | null;
  rule: 'keep_first' | 'latest_wins' | 'identifier_limit';
  resolution: 'kept_existing' | 'moved_to_claimant' | 'not_linked';
  /** `identifier_limit` only: the limit, and how many identifiers the person had. */
  limit?: number;
  identifiers?: number;
  event_id: string;
  source: string;
  occurred_at: number;
}

export interface IdentityGraphOptions {
  conflictRule: 'keep_first' | 'latest_wins';
  fallbackIdentifiers: readonly FallbackIdentifier[];
  /** Most identifiers one person may have; links past it are refused and reported (default STATE_DEFAULTS). */
  maxIdentifiers?: number;
}

export interface Resolution {
  /** Canonical id, or null while the person is unknown. */
  canonical: string | null;
  via: 'customer_id' | 'fallback' | 'none';
  cluster: Cluster | undefined;
  /** The node whose fallback id is the canonical id (via = fallback). */
  fallbackNode: string | undefined;
  /** Where unknown events are held / forwarded: the anonymous id, else the strongest identifier. */
  holdNode: string | null;
}

export interface EventContext {
  event_id: string;
  source: string;
  occurred_at: number;
}

/**
 * The identity graph: typed identifiers grouped into clusters (one person each).
 *
 * Records (topic `identity`):
 * - `n:<node>` -> cluster id. A merge relabels the smaller cluster's members (union by size, so
 *   each node is relabelled O(log n) times over its life). Restore is one Map insert per record.
 * - `fb:<node>` -> '1': events went out under this node's fallback id (email / shopify:<id>); when the
 *   cluster later resolves to another canonical id, a merge event folds that profile in.
 * - `fa:<node>` -> '1': events went out anonymously under this node; when the person becomes known,
 *   an identify carrying the anonymous id attaches them.
 * - `t:<node>` (IdentityExpiry, identity-expiry.ts): when a cart/checkout token or anonymous id was
 *   last seen; past the TTL the node goes (`forget`).
 */
export class IdentityGraph extends ChangelogStore {
  readonly topic = 'identity' as const;
  protected readonly prefixes = ['n:', 'fb:', 'fa:'] as const;
  /** Nodes, clusters and flags: in memory, or on the local disk store (identity-index.ts). */
  readonly index: IdentityIndex;
  private readonly conflictRule: 'keep_first' | 'latest_wins';
  private readonly fallbackTypes: readonly FallbackIdentifier[];
  private readonly maxIdentifiers: number;

  constructor(opts: IdentityGraphOptions, index: IdentityIndex = new MemoryIdentityIndex()) {
    super();
    this.index = index;
    this.persistsItself = !(index instanceof MemoryIdentityIndex);
    this.conflictRule = opts.conflictRule;
    this.fallbackTypes = opts.fallbackIdentifiers;
    this.maxIdentifiers = opts.maxIdentifiers ?? STATE_DEFAULTS.maxIdentifiersPerPerson;
  }

  get nodeCount(): number {
    return this.index.nodeCount;
  }

  get clusterCount(): number {
    return this.index.clusterCount;
  }

  clusterOf(node: string): Cluster | undefined {
    return this.index.clusterOf(node);
  }

  protected read(key: string): string | null {
    if (key.startsWith('n:')) return this.index.labelOf(key.slice(2));
    return this.index.hasFlag(key) ? '1' : null;
  }

  protected load(key: string, value: string | null): void {
    if (key.startsWith('n:')) this.index.place(key, value);
    else this.index.setFlag(key, value !== null);
  }

  /** Adds the node (as its own cluster) if unknown. */
  ensureNode(node: string): Cluster {
    const existing = this.index.clusterOf(node);
    if (existing !== undefined) return existing;
    // An expired node's label can live on in its old cluster: a new node must not join it by name.
    let label = node;
    for (let i = 1; this.index.cluster(label) !== undefined; i++) label = `${node}#${i}`;
    this.write(`n:${node}`, label);
    return this.index.clusterOf(node)!;
  }

  /** Removes a node and its flags (tombstones); the rest of its cluster keeps its label. */
  forget(node: string): void {
    if (this.index.clusterOf(node) !== undefined) this.write(`n:${node}`, null);
    this.clearFallback(node);
    this.clearAnonymousForwarded(node);
  }

  /** Folds the smaller cluster into the larger; returns the survivor. */
  private union(x: Cluster, y: Cluster): Cluster {
    if (x.id === y.id) return x;
    // Fresh copies: an earlier union of this learn may have moved members (disk clusters are snapshots).
    const a = this.index.cluster(x.id) ?? emptyCluster(x.id);
    const b = this.index.cluster(y.id) ?? emptyCluster(y.id);
    const [big, small] = a.members.length >= b.members.length ? [a, b] : [b, a];
    for (const m of [...small.members]) this.write(`n:${m}`, big.id);
    return big;
  }

  private move(node: string, to: Cluster): void {
    this.write(`n:${node}`, to.id);
  }

  /**
   * Learns that the identifiers belong to one person. Never fuses two customer_ids: a contested
   * identifier is reported and handled by the conflict rule. Never grows a person past
   * `maxIdentifiers`: a link past it is reported and not made, so a script that sends one user id
   * with a new anonymous id per request cannot make one person cost more with every event.
   * Returns the conflicts and refusals.
   */
  learn(ids: IdentifierSet, ctx: EventContext): Conflict[] {
    const present = presentNodes(ids);
    if (present.length === 0) return [];
    const claimant = ids.customer_id;
    // Each cluster the event touches, read once (on disk each read is two store lookups).
    const existing = new Map<string, Cluster>();
    const clusterOfPresent: Array<Cluster | undefined> = [];
    for (const n of present) {
      const label = this.index.labelOf(n);
      let c = label === null ? undefined : existing.get(label);
      if (label !== null && c === undefined) {
        c = this.index.cluster(label);
        if (c !== undefined) existing.set(label, c);
      }
      clusterOfPresent.push(c);
    }
    const customers = new Set<string>();
    if (claimant !== undefined) customers.add(claimant);
    for (const c of existing.values()) for (const cu of c.customers) customers.add(cu);

    // The customer this event speaks for: its own customer_id, else the strongest identifier's.
    let primary: string | undefined = claimant;
    if (primary === undefined && customers.size > 1) {
      for (const c of clusterOfPresent) {
        const cu = c?.customers[0];
        if (cu !== undefined) { primary = cu; break; }
      }
    }
    // The primary's cluster: one the event touches (its customer_id node is a present node, or a
    // member of the cluster it was found in), or none yet.
    let target: Cluster | undefined;
    if (primary !== undefined) for (const c of existing.values()) if (c.customers.includes(primary)) target = c;
    // The target's members, counted when a link first needs it, then kept as it grows (disk
    // clusters are snapshots): most events add no identifier and count nothing.
    let size: number | undefined;
    const sizeOfTarget = (): number => (size ??= this.index.sizeOf(target!));
    const conflicts: Conflict[] = [];
    // Contested identifiers, and the conflict each was reported with.
    const contested = new Map<string, Conflict>();
    let unions = 0;
    for (const seen of existing.values()) {
      // As it is now: an earlier union in this loop may have emptied it (disk clusters are snapshots).
      const c = unions === 0 ? seen : (this.index.cluster(seen.id) ?? emptyCluster(seen.id));
      const other = c.customers.find((cu) => cu !== primary);
      if (primary !== undefined && other !== undefined && customers.size > 1) {
        for (const n of present) {
          if (this.index.labelOf(n) !== c.id) continue;
          const { type, value } = parseNode(n);
          const conflict: Conflict = {
            identifier_type: type, identifier: value, existing_customer_id: other, claimed_customer_id: primary,
            rule: this.conflictRule, resolution: this.conflictRule === 'latest_wins' ? 'moved_to_claimant' : 'kept_existing',
            event_id: ctx.event_id, source: ctx.source, occurred_at: ctx.occurred_at,
          };
          contested.set(n, conflict);
          conflicts.push(conflict);
        }
        continue;
      }
      if (target === undefined) {
        target = c;
        continue;
      }
      if (target.id === c.id) continue;
      const joining = this.index.sizeOf(c);
      if (sizeOfTarget() + joining > this.maxIdentifiers) {
        for (const n of present) if (this.index.labelOf(n) === c.id) conflicts.push(this.refusal(n, c, primary ?? target.customers[0], sizeOfTarget(), ctx));
        continue;
      }
      size = sizeOfTarget() + joining;
      target = this.union(target, c);
      unions++;
    }
    for (const n of present) {
      if (!contested.has(n) && this.index.labelOf(n) !== null) continue;
      if (contested.has(n) && this.conflictRule === 'keep_first') continue;
      if (target === undefined) {
        target = this.ensureNode(n);
        size = 1;
      } else if (sizeOfTarget() >= this.maxIdentifiers) {
        const conflict = contested.get(n);
        if (conflict !== undefined) conflict.resolution = 'kept_existing'; // latest_wins, but no room: it stayed
        conflicts.push(this.refusal(n, this.index.clusterOf(n), primary ?? target.customers[0], sizeOfTarget(), ctx));
      } else {
        size = sizeOfTarget() + 1;
        this.move(n, target);
      }
    }
    return conflicts;
  }

  /** The report of a link not made: `node` (now in `from`, if anywhere) would have taken the person of `claimed` past the limit. */
  private refusal(node: string, from: Cluster | undefined, claimed: string | undefined, size: number, ctx: EventContext): Conflict {
    const { type, value } = parseNode(node);
    return {
      identifier_type: type, identifier: value,
      existing_customer_id: from?.customers[0] ?? null, claimed_customer_id: claimed ?? null,
      rule: 'identifier_limit', resolution: 'not_linked', limit: this.maxIdentifiers, identifiers: size,
      event_id: ctx.event_id, source: ctx.source, occurred_at: ctx.occurred_at,
    };
  }

  /** Who the identifiers belong to, without learning anything. */
  resolve(ids: IdentifierSet): Resolution {
    const present = presentNodes(ids);
    const holdNode = ids.anonymous_id !== undefined ? nodeId('anonymous_id', ids.anonymous_id) : (present[0] ?? null);
    // An explicit customer_id speaks for the event even if another identifier is contested.
    if (ids.customer_id !== undefined) {
      return { canonical: ids.customer_id, via: 'customer_id', cluster: this.index.clusterOf(nodeId('customer_id', ids.customer_id)), fallbackNode: undefined, holdNode };
    }
    for (const n of present) {
      const c = this.index.clusterOf(n);
      if (c !== undefined && c.customers.length > 0) return { canonical: c.customers[0]!, via: 'customer_id', cluster: c, fallbackNode: undefined, holdNode };
    }
    for (const n of present) {
      const c = this.index.clusterOf(n);
      const fb = this.fallbackNodeOf(c?.members ?? [n], c?.flagged !== 0);
      if (fb !== undefined) return { canonical: fallbackId(fb), via: 'fallback', cluster: c, fallbackNode: fb, holdNode };
    }
    return { canonical: null, via: 'none', cluster: undefined, fallbackNode: undefined, holdNode };
  }

  /**
   * The fallback node of a cluster without customer_id: one already used (sticky, so a profile is
   * not renamed under Customer.io's feet), else the first configured type's smallest value.
   */
  private fallbackNodeOf(members: readonly string[], mayBeFlagged: boolean): string | undefined {
    let used: string | undefined;
    if (mayBeFlagged) for (const m of members) if (this.index.hasFlag(`fb:${m}`) && (used === undefined || m < used)) used = m;
    if (used !== undefined) return used;
    for (const t of this.fallbackTypes) {
      let best: string | undefined;
      for (const m of members) if (m.startsWith(`${t}:`) && (best === undefined || m < best)) best = m;
      if (best !== undefined) return best;
    }
    return undefined;
  }

  /** Records that events went out under the node's fallback id. */
  markFallbackUsed(node: string): void {
    this.ensureNode(node);
    if (!this.index.hasFlag(`fb:${node}`)) this.write(`fb:${node}`, '1');
  }

  /** Records that events went out anonymously under this node. */
  markAnonymousForwarded(node: string): void {
    this.ensureNode(node);
    if (!this.index.hasFlag(`fa:${node}`)) this.write(`fa:${node}`, '1');
  }

  /** Profiles created under fallback ids of this cluster that are not the canonical id: to merge. */
  pendingMerges(cluster: Cluster, canonical: string): string[] {
    if (cluster.flagged === 0) return [];
    return cluster.members.filter((m) => this.index.hasFlag(`fb:${m}`) && fallbackId(m) !== canonical).sort();
  }

  /** Anonymous ids of this cluster whose events went out anonymously and are not attached yet. */
  pendingAttachments(cluster: Cluster): string[] {
    if (cluster.flagged === 0) return [];
    return cluster.members.filter((m) => this.index.hasFlag(`fa:${m}`)).sort();
  }

  clearFallback(node: string): void {
    if (this.index.hasFlag(`fb:${node}`)) this.write(`fb:${node}`, null);
  }

  clearAnonymousForwarded(node: string): void {
    if (this.index.hasFlag(`fa:${node}`)) this.write(`fa:${node}`, null);
  }
}

function emptyCluster(id: string): Cluster {
  return { id, members: [], customers: [] };
}

/** The event's identifier nodes, strongest first. */
export function presentNodes(ids: IdentifierSet): string[] {
  const out: string[] = [];
  for (const t of IDENTIFIER_PRECEDENCE) {
    const v = ids[t];
    if (v !== undefined && v !== '') out.push(nodeId(t, v));
  }
  return out;
}

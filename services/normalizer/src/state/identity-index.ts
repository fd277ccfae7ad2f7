import type { Cluster } from './identity-graph.ts';
import { DiskCluster, encodeCluster, withFlagCount, withMember } from './cluster-value.ts';
import type { DiskStore } from './disk/disk-store.ts';

/**
 * Where the identity graph keeps its nodes, clusters and flags: in memory, or on the local disk
 * store. Both apply the same records the same way (a node joins the end of its cluster's member
 * list and leaves it by swap-remove), so a graph decides identically on either.
 */
export interface IdentityIndex {
  clusterOf(node: string): Cluster | undefined;
  /** The label of the node's cluster (its changelog value), without reading the cluster. */
  labelOf(node: string): string | null;
  cluster(label: string): Cluster | undefined;
  /** How many members a cluster this index gave out has (on disk, without decoding them). */
  sizeOf(cluster: Cluster): number;
  /** `key`: `fb:<node>` or `fa:<node>`, the graph's two flags. */
  hasFlag(key: string): boolean;
  setFlag(key: string, on: boolean): void;
  /**
   * Puts the node of record key `key` (`n:<node>`) in the cluster labelled `label` (created if
   * new), or removes it (null). The record's own key string: on disk it is the store's key, and a
   * string is hashed once, however many lookups use it.
   */
  place(key: string, label: string | null): void;
  readonly nodeCount: number;
  readonly clusterCount: number;
  /** The counters follow the store back to its last commit (disk only). */
  rollback(): void;
}

/** A flag key's bit: the graph's flags are `fb:<node>` (1) and `fa:<node>` (2); its `owns()` lets no other through. */
function flagBit(key: string): number {
  return key.charCodeAt(1) === 0x62 ? 1 : 2;
}

function bitCount(bits: number): number {
  return (bits & 1) + ((bits >> 1) & 1);
}

/**
 * The graph in memory. Each cluster counts the flags on its members (`flagged`), so a person with
 * none (most events) is not scanned member by member for merges and attachments to make.
 */
export class MemoryIdentityIndex implements IdentityIndex {
  private readonly nodes = new Map<string, Cluster>();
  private readonly clusters = new Map<string, Cluster>();
  /** Node -> its flags' bits (flagBit). A node may hold flags before it is placed (a restore's order). */
  private readonly flags = new Map<string, number>();

  get nodeCount(): number {
    return this.nodes.size;
  }

  get clusterCount(): number {
    return this.clusters.size;
  }

  clusterOf(node: string): Cluster | undefined {
    return this.nodes.get(node);
  }

  labelOf(node: string): string | null {
    return this.nodes.get(node)?.id ?? null;
  }

  cluster(label: string): Cluster | undefined {
    return this.clusters.get(label);
  }

  sizeOf(cluster: Cluster): number {
    return cluster.members.length;
  }

  hasFlag(key: string): boolean {
    return ((this.flags.get(key.slice(3)) ?? 0) & flagBit(key)) !== 0;
  }

  setFlag(key: string, on: boolean): void {
    const bit = flagBit(key);
    const node = key.slice(3);
    const bits = this.flags.get(node) ?? 0;
    const next = on ? bits | bit : bits & ~bit;
    if (next === bits) return;
    if (next === 0) this.flags.delete(node);
    else this.flags.set(node, next);
    const cluster = this.nodes.get(node);
    if (cluster !== undefined) cluster.flagged! += on ? 1 : -1;
  }

  place(key: string, label: string | null): void {
    const node = key.slice(2);
    const old = this.nodes.get(node);
    const flags = bitCount(this.flags.get(node) ?? 0);
    if (old !== undefined) {
      if (old.id === label) return;
      removeMember(old, node);
      old.flagged! -= flags;
      if (old.members.length === 0) this.clusters.delete(old.id);
    }
    if (label === null) {
      this.nodes.delete(node);
      return;
    }
    let cluster = this.clusters.get(label);
    if (cluster === undefined) {
      cluster = { id: label, members: [], customers: [], flagged: 0 };
      this.clusters.set(label, cluster);
    }
    addMember(cluster, node);
    cluster.flagged! += flags;
    this.nodes.set(node, cluster);
  }

  rollback(): void {}
}

/** Member lists are local keys (never in the changelog): `~m:<label>` -> see cluster-value.ts. */
const MEMBERS = '~m:';
const COUNTS = '~n:identity';
const EMPTY_CLUSTER = encodeCluster(0, [], []);
/** Starts an `n:` value that carries flag bits; no label starts with it (labels are node ids, `<type>:…`). */
const FLAGGED = '\u0001';

/**
 * The graph on disk. Its values are this process's own (the changelog carries labels and flags as
 * they are); changing their encoding means bumping LOCAL_LAYOUT (local-state.ts).
 * - `n:<node>` -> its label (the changelog record), prefixed with its flags' bits when it holds
 *   any: `\u0001<bits><label>`, or `\u0001<bits>` alone for flags that arrived before the node was
 *   placed (a restore applies partitions in any order). So a flag check reads the key that
 *   resolving the node read already, and a placement knows the node's flags without reading more.
 * - `~m:<label>` -> the cluster's flag count, customer ids and members (cluster-value.ts), so a
 *   merge finds the members to relabel with point reads, a cluster whose members hold no flag
 *   (most) is not read member by member for merges and attachments to make, as in memory, and a
 *   lookup of who a cluster is does not decode its members.
 */
export class DiskIdentityIndex implements IdentityIndex {
  private readonly store: DiskStore;
  private nodes = 0;
  private clusters = 0;
  /** The counters differ from the staged ones; `saveCounts` stages them (LocalState.commit calls it). */
  private countsChanged = false;

  constructor(store: DiskStore) {
    this.store = store;
    this.rollback();
  }

  get nodeCount(): number {
    return this.nodes;
  }

  get clusterCount(): number {
    return this.clusters;
  }

  clusterOf(node: string): Cluster | undefined {
    const label = this.labelOf(node);
    return label === null ? undefined : this.cluster(label);
  }

  labelOf(node: string): string | null {
    return labelIn(this.store.get(`n:${node}`));
  }

  cluster(label: string): Cluster | undefined {
    const raw = this.store.get(MEMBERS + label);
    return raw === null ? undefined : new DiskCluster(label, raw);
  }

  sizeOf(cluster: Cluster): number {
    return cluster instanceof DiskCluster ? cluster.memberCount : cluster.members.length;
  }

  hasFlag(key: string): boolean {
    return (bitsIn(this.store.get(`n:${key.slice(3)}`)) & flagBit(key)) !== 0;
  }

  setFlag(key: string, on: boolean): void {
    const nodeKey = `n:${key.slice(3)}`;
    const raw = this.store.get(nodeKey);
    const bits = bitsIn(raw);
    const next = on ? bits | flagBit(key) : bits & ~flagBit(key);
    if (next === bits) return;
    const label = labelIn(raw);
    this.putNode(nodeKey, label, next);
    if (label === null) return;
    const membersKey = MEMBERS + label;
    this.store.put(membersKey, withFlagCount(label, this.store.get(membersKey)!, on ? 1 : -1));
  }

  place(key: string, label: string | null): void {
    const raw = this.store.get(key);
    const oldLabel = labelIn(raw);
    if (oldLabel === label) return;
    const bits = bitsIn(raw);
    const flags = bitCount(bits);
    const node = key.slice(2);
    if (oldLabel !== null) {
      const old = this.cluster(oldLabel)!;
      removeMember(old, node);
      if (old.members.length === 0) {
        this.store.delete(MEMBERS + oldLabel);
        this.clusters--;
      } else this.store.put(MEMBERS + oldLabel, encodeCluster(old.flagged! - flags, old.customers, old.members));
    }
    this.countsChanged = true;
    this.putNode(key, label, bits);
    if (label === null) {
      this.nodes--;
      return;
    }
    if (oldLabel === null) this.nodes++;
    const membersKey = MEMBERS + label;
    const members = this.store.get(membersKey);
    if (members === null) this.clusters++;
    this.store.put(membersKey, withMember(label, members ?? EMPTY_CLUSTER, node, flags));
  }

  /** Writes a node's label and flag bits; a node with neither has no key. */
  private putNode(key: string, label: string | null, bits: number): void {
    if (bits !== 0) this.store.put(key, `${FLAGGED}${bits}${label ?? ''}`);
    else if (label !== null) this.store.put(key, label);
    else this.store.delete(key);
  }

  /** Stages the counters with the batch (once per commit rather than once per placement). */
  saveCounts(): void {
    if (!this.countsChanged) return;
    this.store.put(COUNTS, `${this.nodes};${this.clusters}`);
    this.countsChanged = false;
  }

  rollback(): void {
    const [nodes, clusters] = (this.store.get(COUNTS) ?? '0;0').split(';');
    this.nodes = Number(nodes);
    this.clusters = Number(clusters);
    this.countsChanged = false;
  }
}

/** The label in an `n:` value (null: absent, or flags of a node not placed). */
function labelIn(raw: string | null): string | null {
  if (raw === null || raw.charCodeAt(0) !== 1) return raw;
  return raw.length > 2 ? raw.slice(2) : null;
}

function bitsIn(raw: string | null): number {
  return raw === null || raw.charCodeAt(0) !== 1 ? 0 : raw.charCodeAt(1) - 0x30;
}

function addMember(c: Cluster, node: string): void {
  c.members.push(node);
  if (node.startsWith('customer_id:')) {
    c.customers.push(node.slice('customer_id:'.length));
    if (c.customers.length > 1) c.customers.sort();
  }
}

function removeMember(c: Cluster, node: string): void {
  const i = c.members.indexOf(node);
  if (i >= 0) {
    c.members[i] = c.members[c.members.length - 1]!;
    c.members.pop();
  }
  if (node.startsWith('customer_id:')) {
    const j = c.customers.indexOf(node.slice('customer_id:'.length));
    if (j >= 0) c.customers.splice(j, 1);
  }
}

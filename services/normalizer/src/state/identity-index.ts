import type { Cluster } from './identity-graph.ts';
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
  /** `key`: `fb:<node>` or `fa:<node>`, the graph's two flags. */
  hasFlag(key: string): boolean;
  setFlag(key: string, on: boolean): void;
  /** Puts `node` in the cluster labelled `label` (created if new), or removes it (null). */
  place(node: string, label: string | null): void;
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

  place(node: string, label: string | null): void {
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

/** Member lists are local keys (never in the changelog): `~m:<label>` -> members joined by US. */
const MEMBERS = '~m:';
const SEP = '\u001f';
const COUNTS = '~n:identity';

/**
 * The graph on disk: `n:<node>` -> label (the changelog record) and `~m:<label>` -> its members, so
 * a merge finds the members to relabel with point reads; flags are their changelog records.
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
    const label = this.store.get(`n:${node}`);
    return label === null ? undefined : this.cluster(label);
  }

  labelOf(node: string): string | null {
    return this.store.get(`n:${node}`);
  }

  cluster(label: string): Cluster | undefined {
    const raw = this.store.get(MEMBERS + label);
    if (raw === null) return undefined;
    const c: Cluster = { id: label, members: [], customers: [] };
    for (const m of raw.split(SEP)) addMember(c, m);
    return c;
  }

  hasFlag(key: string): boolean {
    return this.store.get(key) !== null;
  }

  setFlag(key: string, on: boolean): void {
    if (on) this.store.put(key, '1');
    else this.store.delete(key);
  }

  place(node: string, label: string | null): void {
    // One key string, hashed once for every lookup below.
    const key = `n:${node}`;
    const oldLabel = this.store.get(key);
    if (oldLabel === label) return;
    if (oldLabel !== null) {
      const old = this.cluster(oldLabel)!;
      removeMember(old, node);
      if (old.members.length === 0) {
        this.store.delete(MEMBERS + oldLabel);
        this.clusters--;
      } else this.store.put(MEMBERS + oldLabel, old.members.join(SEP));
    }
    this.countsChanged = true;
    if (label === null) {
      this.store.delete(key);
      this.nodes--;
      return;
    }
    if (oldLabel === null) this.nodes++;
    this.store.put(key, label);
    const membersKey = MEMBERS + label;
    const members = this.store.get(membersKey);
    if (members === null) this.clusters++;
    this.store.put(membersKey, members === null ? node : `${members}${SEP}${node}`);
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

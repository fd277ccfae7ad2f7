import { AnonymousBuffer } from './anonymous-buffer.ts';
import type { StateConfig } from './config.ts';
import { DedupeStore } from './dedupe-store.ts';
import { IdentityExpiry } from './identity-expiry.ts';
import { IdentityGraph } from './identity-graph.ts';
import { OrderGuard } from './order-guard.ts';
import { OrderLedger } from './order-ledger.ts';
import { OrderIdMap } from './order-ids.ts';
import { ProfileRollup } from './profile-rollup.ts';
import type { LocalState } from './local-state.ts';
import { MEMORY_TABLES } from './record-table.ts';

/** Every store of the state stage, each writing its own changelog records. */
export interface StateStores {
  identity: IdentityGraph;
  /** When moment identifiers were last seen, and their removal past the TTL. */
  identityExpiry: IdentityExpiry;
  dedupe: DedupeStore;
  guard: OrderGuard;
  buffer: AnonymousBuffer;
  rollup: ProfileRollup;
  orderIds: OrderIdMap;
  ledger: OrderLedger;
}

/**
 * In memory, or with `local` the stores that grow with shoppers on its disk tables (held events
 * stay in memory, bounded by maxHeldEvents, and are mirrored to disk).
 */
export function createStateStores(config: Readonly<StateConfig>, local: LocalState | null = null): StateStores {
  const tables = local?.tables ?? MEMORY_TABLES;
  const identity = new IdentityGraph({ conflictRule: config.conflictRule, fallbackIdentifiers: config.fallbackIdentifiers, maxIdentifiers: config.maxIdentifiersPerPerson }, local?.identityIndex());
  const orderIds = new OrderIdMap({ windowMs: config.dedupeWindowMs }, tables);
  const ledger = new OrderLedger({ windowMs: config.guardWindowMs }, tables);
  // A purchase booked under an order's name is found by the numeric id the store's refunds use.
  orderIds.follow(ledger);
  return {
    identity,
    identityExpiry: new IdentityExpiry(identity, { ttlMs: config.identityTtlMs, maxPerSweep: config.identityExpiryPerSweep }, tables),
    dedupe: new DedupeStore({ windowMs: config.dedupeWindowMs }, tables),
    guard: new OrderGuard({ rules: config.orderGuards, windowMs: config.guardWindowMs, cartAddEvent: config.cartAddEvent }, tables),
    buffer: new AnonymousBuffer(),
    rollup: new ProfileRollup(tables),
    orderIds,
    ledger,
  };
}

/**
 * The windows the disk tables derive their entries' expiry times from, as one line: a local store
 * written under others is restored from the changelogs (LocalState.open), since an entry keeps
 * the expiry time it was written with.
 */
export function expirySettings(config: Readonly<StateConfig>): string {
  return `identity=${config.identityTtlMs} dedupe=${config.dedupeWindowMs} guard=${config.guardWindowMs}`;
}

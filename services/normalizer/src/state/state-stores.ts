import { AnonymousBuffer } from './anonymous-buffer.ts';
import type { StateConfig } from './config.ts';
import { DedupeStore } from './dedupe-store.ts';
import { IdentityExpiry } from './identity-expiry.ts';
import { IdentityGraph } from './identity-graph.ts';
import { OrderGuard } from './order-guard.ts';
import { OrderLedger } from './order-ledger.ts';
import { OrderIdMap } from './order-ids.ts';
import { ProfileRollup } from './profile-rollup.ts';

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

export function createStateStores(config: Readonly<StateConfig>): StateStores {
  const identity = new IdentityGraph({ conflictRule: config.conflictRule, fallbackIdentifiers: config.fallbackIdentifiers });
  return {
    identity,
    identityExpiry: new IdentityExpiry(identity, { ttlMs: config.identityTtlMs, maxPerSweep: config.identityExpiryPerSweep }),
    dedupe: new DedupeStore({ windowMs: config.dedupeWindowMs }),
    guard: new OrderGuard({ rules: config.orderGuards, windowMs: config.guardWindowMs, cartAddEvent: config.cartAddEvent }),
    buffer: new AnonymousBuffer(),
    rollup: new ProfileRollup(),
    orderIds: new OrderIdMap({ windowMs: config.dedupeWindowMs }),
    ledger: new OrderLedger({ windowMs: config.guardWindowMs }),
  };
}

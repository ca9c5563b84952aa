import {
  InventoryState,
  availability,
  deltaWithout,
  emptyDelta,
  isEmptyDelta,
  type Availability,
  type Delta,
  type ReplicaId,
  type Sku,
  type StoreId,
} from '@scoville/crdt-inventory';

/** A committed change to the merged state, split by store, with who wrote it. */
export interface StateChange {
  store: StoreId;
  delta: Delta;
}

/**
 * The hub's merged state of every store, in memory. Only committed data is
 * applied here (after the Postgres transaction), so reads never show
 * anything that could still be lost.
 */
export class HubState {
  readonly state = new InventoryState();
  private readonly listeners = new Set<(changes: StateChange[]) => void>();
  /** SKU → the stores with a counter for it: built at first use, then kept by `apply` (counters are never removed). */
  private storesBySku: Map<Sku, StoreId[]> | null = null;

  /** Joins committed entries; tells listeners what actually changed, per store. */
  apply(delta: Delta): Delta {
    const counters = this.storesBySku === null ? 0 : this.state.counterCount();
    const effective = this.state.applyDelta(delta);
    if (this.storesBySku !== null && this.state.counterCount() > counters) this.indexNewCounters(delta, this.storesBySku);
    if (!isEmptyDelta(effective) && this.listeners.size > 0) {
      const changes = splitByStore(effective);
      for (const l of this.listeners) l(changes);
    }
    return effective;
  }

  /**
   * The stores that have a counter for `sku` (unordered; do not modify). Cost
   * grows with those stores only, not with every store of the hub: the
   * cross-store checks run this for every SKU.
   */
  storesOf(sku: Sku): readonly StoreId[] {
    if (this.storesBySku === null) {
      const index = new Map<Sku, StoreId[]>();
      for (const store of this.state.storeIds()) for (const k of this.state.skus(store)) addTo(index, k, store);
      this.storesBySku = index;
    }
    return this.storesBySku.get(sku) ?? [];
  }

  /** A delta created counters: index those not yet indexed (rare: a new SKU or store). */
  private indexNewCounters(delta: Delta, index: Map<Sku, StoreId[]>): void {
    const add = (store: StoreId, sku: Sku): void => {
      if (this.state.counter(store, sku) !== undefined && !index.get(sku)?.includes(store)) addTo(index, sku, store);
    };
    for (const e of delta.entries) add(e.store, e.sku);
    for (const t of delta.transfers) add(t.store, t.sku);
    for (const r of delta.reservations) add(r.store, r.sku);
  }

  onChange(listener: (changes: StateChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  availability(store: StoreId, sku: Sku, now: number): Availability {
    return availability(this.state, store, sku, now);
  }

  digest(store: StoreId): string {
    return this.state.digest(store);
  }

  /** A store's full state, optionally without one replica's own entries. */
  storeDelta(store: StoreId, except?: ReplicaId): Delta {
    const d = this.state.toDelta(store);
    return except === undefined ? d : deltaWithout(d, except);
  }
}

function addTo(index: Map<Sku, StoreId[]>, sku: Sku, store: StoreId): void {
  const stores = index.get(sku);
  if (stores === undefined) index.set(sku, [store]);
  else stores.push(store);
}

export function splitByStore(d: Delta): StateChange[] {
  const by = new Map<StoreId, Delta>();
  // A commit's entries come in runs of one store (an agent's batch): one lookup per run.
  let store: StoreId | null = null;
  let x = emptyDelta();
  const to = (s: StoreId): Delta => {
    if (s === store) return x;
    store = s;
    const have = by.get(s);
    if (have !== undefined) return (x = have);
    by.set(s, (x = emptyDelta()));
    return x;
  };
  for (const e of d.entries) to(e.store).entries.push(e);
  for (const t of d.transfers) to(t.store).transfers.push(t);
  for (const r of d.reservations) to(r.store).reservations.push(r);
  const out: StateChange[] = [];
  for (const [s, delta] of by) out.push({ store: s, delta });
  return out;
}

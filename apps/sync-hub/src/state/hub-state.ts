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

  /** Joins committed entries; tells listeners what actually changed, per store. */
  apply(delta: Delta): Delta {
    const effective = this.state.applyDelta(delta);
    if (!isEmptyDelta(effective)) {
      const changes = splitByStore(effective);
      for (const l of this.listeners) l(changes);
    }
    return effective;
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

export function splitByStore(d: Delta): StateChange[] {
  const by = new Map<StoreId, Delta>();
  const get = (s: StoreId) => {
    let x = by.get(s);
    if (!x) by.set(s, (x = emptyDelta()));
    return x;
  };
  for (const e of d.entries) get(e.store).entries.push(e);
  for (const t of d.transfers) get(t.store).transfers.push(t);
  for (const r of d.reservations) get(r.store).reservations.push(r);
  return [...by].map(([store, delta]) => ({ store, delta }));
}

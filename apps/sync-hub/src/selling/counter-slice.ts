import { InventoryState, emptyDelta, type Delta, type Sku, type StoreId } from '@scoville/crdt-inventory';

/**
 * One counter of the committed state as a delta: every replica's P/N, every
 * transfer and the active holds. Joined into a fresh InventoryState it gives
 * a scratch copy of that counter on which the CRDT's own operations can
 * decide (and produce their deltas) without touching the committed state,
 * which only ever changes after a COMMIT.
 */
export function counterSlice(state: InventoryState, store: StoreId, sku: Sku): Delta {
  const out = emptyDelta();
  const c = state.counter(store, sku);
  if (c === undefined) return out;
  const pn = c.pn;
  for (let i = 0; i < pn.length; i += 3) {
    out.entries.push({ store, sku, replica: state.replicaName(pn[i]!), p: pn[i + 1]!, n: pn[i + 2]! });
  }
  const t = c.t;
  if (t !== null) {
    for (let i = 0; i < t.length; i += 3) {
      out.transfers.push({ store, sku, from: state.replicaName(t[i]!), to: state.replicaName(t[i + 1]!), amount: t[i + 2]! });
    }
  }
  for (const h of c.holds ?? []) out.reservations.push({ ...h });
  return out;
}

/** A scratch copy of one counter (see counterSlice). */
export function scratchCounter(state: InventoryState, store: StoreId, sku: Sku): InventoryState {
  const s = new InventoryState();
  s.applyDelta(counterSlice(state, store, sku));
  return s;
}

import type { Counter } from './counter.js';
import { emptyDelta, type Delta } from './delta.js';
import type { Refusal, Result } from './errors.js';
import type { ReplicaId, Sku, StoreId } from './ids.js';
import { checkQty, overflows } from './quantity.js';
import type { InventoryState } from './state.js';

/** Units reserved by active, unexpired holds on a counter (all owners, or one). */
export function heldOn(state: InventoryState, c: Counter | undefined, now: number, owner?: ReplicaId): number {
  if (c?.holds == null) return 0;
  let held = 0;
  for (const h of c.holds) {
    // Held unless provably expired (`expiresAt <= now`): a NaN time must not free rights.
    if (h.status === 'active' && !(h.expiresAt <= now) && (owner === undefined || h.owner === owner)) held += h.qty;
  }
  return held;
}

/**
 * rights(r) = P[r] + Σs T[s→r] − Σs T[r→s] − N[r] − held(r).
 * What replica r may still promise. Negative means r has a deficit (a forced sale).
 */
export function rights(state: InventoryState, store: StoreId, sku: Sku, replica: ReplicaId, now: number): number {
  const c = state.counter(store, sku);
  if (c === undefined) return 0;
  const r = state.knownReplicaNumber(replica);
  if (r < 0) return 0;
  return c.p(r) - c.n(r) + c.netTransfersIn(r) - heldOn(state, c, now, replica);
}

/** ΣP − ΣN for the counter; 0 for an unknown SKU. */
export function onHand(state: InventoryState, store: StoreId, sku: Sku): number {
  return state.counter(store, sku)?.onHand() ?? 0;
}

export interface CounterOp {
  store: StoreId;
  sku: Sku;
  replica: ReplicaId;
  qty: number;
}

/** Adds units (receipt, restock, positive adjustment). Always allowed. */
export function increment(state: InventoryState, op: CounterOp): Result<{ delta: Delta }> {
  const bad = checkQty(op.qty);
  if (bad) return { ok: false, refusal: bad };
  const c = state.counterFor(op.store, op.sku);
  const r = state.replicaNumber(op.replica);
  const p = c.p(r);
  if (overflows(p, op.qty)) return { ok: false, refusal: overflow(op) };
  const n = c.n(r);
  c.mergePN(r, p + op.qty, n);
  state.touch(c);
  const delta = emptyDelta();
  delta.entries.push({ store: op.store, sku: op.sku, replica: op.replica, p: p + op.qty, n });
  return { ok: true, delta };
}

export interface DecrementOp extends CounterOp {
  /** Record the removal even when the replica lacks rights (a physical sale that happened). */
  force?: boolean;
  now: number;
}

/**
 * Removes units (sale, negative adjustment) within the replica's rights.
 * With `force`, records it anyway; the replica's rights then go negative
 * (a deficit) and `forced` tells the caller to raise an oversell alert.
 */
export function decrement(state: InventoryState, op: DecrementOp): Result<{ delta: Delta; forced: boolean }> {
  const bad = checkQty(op.qty);
  if (bad) return { ok: false, refusal: bad };
  const have = rights(state, op.store, op.sku, op.replica, op.now);
  const short = have < op.qty;
  if (short && op.force !== true) return { ok: false, refusal: insufficient(op, have) };
  const c = state.counterFor(op.store, op.sku);
  const r = state.replicaNumber(op.replica);
  const n = c.n(r);
  if (overflows(n, op.qty)) return { ok: false, refusal: overflow(op) };
  const p = c.p(r);
  c.mergePN(r, p, n + op.qty);
  state.touch(c);
  const delta = emptyDelta();
  delta.entries.push({ store: op.store, sku: op.sku, replica: op.replica, p, n: n + op.qty });
  return { ok: true, delta, forced: short };
}

export interface TransferOp {
  store: StoreId;
  sku: Sku;
  from: ReplicaId;
  to: ReplicaId;
  qty: number;
  now: number;
}

/** Hands `qty` of `from`'s rights to `to`. Only `from` may do this, within its rights. */
export function transferRights(state: InventoryState, op: TransferOp): Result<{ delta: Delta }> {
  const bad = checkQty(op.qty);
  if (bad) return { ok: false, refusal: bad };
  if (op.from === op.to) {
    return { ok: false, refusal: { code: 'same_replica', message: `cannot transfer rights from ${op.from} to itself`, replica: op.from } };
  }
  const have = rights(state, op.store, op.sku, op.from, op.now);
  if (have < op.qty) return { ok: false, refusal: insufficient({ ...op, replica: op.from }, have) };
  const c = state.counterFor(op.store, op.sku);
  const f = state.replicaNumber(op.from);
  const t = state.replicaNumber(op.to);
  const before = c.transfer(f, t);
  // Like P and N, the cumulative T[from→to] must stay a safe integer, or
  // rights() stops being exact and can over-promise.
  if (overflows(before, op.qty)) return { ok: false, refusal: overflow({ ...op, replica: op.from }) };
  const amount = before + op.qty;
  c.mergeTransfer(f, t, amount);
  state.touch(c);
  const delta = emptyDelta();
  delta.transfers.push({ store: op.store, sku: op.sku, from: op.from, to: op.to, amount });
  return { ok: true, delta };
}

function insufficient(op: CounterOp, have: number): Refusal {
  return {
    code: 'insufficient_rights',
    message: `replica ${op.replica} may promise ${Math.max(0, have)} of ${op.sku} at ${op.store}, ${op.qty} requested`,
    store: op.store,
    sku: op.sku,
    replica: op.replica,
    requested: op.qty,
    rights: have,
  };
}

function overflow(op: CounterOp): Refusal {
  return {
    code: 'quantity_overflow',
    message: `quantity ${op.qty} would overflow the counter of ${op.sku} at ${op.store}`,
    store: op.store,
    sku: op.sku,
  };
}

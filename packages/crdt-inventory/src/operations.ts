import type { Counter } from './counter.js';
import { emptyDelta, type Delta, type ReservationRecord } from './delta.js';
import type { Refusal, Result } from './errors.js';
import type { ReplicaId, Sku, StoreId } from './ids.js';
import { checkNow, checkQty, overflows } from './quantity.js';
import type { InventoryState } from './state.js';

/**
 * Units in active holds on a counter that have not lapsed by `now` (all
 * owners, or one): what availability() shows as held. For display only;
 * rights() never looks at the time.
 */
export function heldOn(state: InventoryState, c: Counter | undefined, now: number, owner?: ReplicaId): number {
  if (c?.holds == null) return 0;
  let held = 0;
  for (const h of c.holds) {
    // Held unless provably lapsed (`expiresAt <= now`): a NaN time frees nothing.
    if (h.status === 'active' && !(h.expiresAt <= now) && (owner === undefined || h.owner === owner)) held += h.qty;
  }
  return held;
}

/** One owner's active holds in a list: their units and the earliest expiry. */
interface OwnerHolds {
  held: number;
  firstExpiry: number;
}

const NO_HOLDS: OwnerHolds = { held: 0, firstExpiry: Infinity };

/**
 * Per-owner sums of a counter's `holds`, kept per list object: InventoryState
 * only ever appends to a list or replaces it with a new one (records are
 * never changed in place), so a summary covers the first `seen` entries and
 * is extended by the appended ones. Without it every hold at the hub (a
 * rights check, then the hold) walked every active hold on the counter:
 * quadratic over a flash sale (bench/flash-sale.ts).
 */
const summaries = new WeakMap<readonly ReservationRecord[], { seen: number; byOwner: Map<ReplicaId, OwnerHolds> }>();

function ownerHolds(holds: readonly ReservationRecord[], owner: ReplicaId): OwnerHolds {
  let s = summaries.get(holds);
  if (s === undefined || s.seen > holds.length) summaries.set(holds, (s = { seen: 0, byOwner: new Map() }));
  for (; s.seen < holds.length; s.seen++) {
    const h = holds[s.seen]!;
    if (h.status !== 'active') continue;
    let o = s.byOwner.get(h.owner);
    if (o === undefined) s.byOwner.set(h.owner, (o = { held: 0, firstExpiry: Infinity }));
    o.held += h.qty;
    if (h.expiresAt < o.firstExpiry) o.firstExpiry = h.expiresAt;
  }
  return s.byOwner.get(owner) ?? NO_HOLDS;
}

/** Units in every active hold of `owner` on a counter, lapsed or not. */
function activeHeld(c: Counter, owner: ReplicaId): number {
  return c.holds === null ? 0 : ownerHolds(c.holds, owner).held;
}

/** Active holds of `owner` on a counter that have lapsed by `now` (none for a non-finite now). */
function lapsedHolds(c: Counter | undefined, owner: ReplicaId, now: number): ReservationRecord[] {
  if (c?.holds == null) return [];
  if (!(ownerHolds(c.holds, owner).firstExpiry <= now)) return [];
  return c.holds.filter((h) => h.status === 'active' && h.owner === owner && h.expiresAt <= now);
}

/**
 * rights(r) = P[r] + Σs T[s→r] − Σs T[r→s] − N[r] − held(r), where held(r)
 * is every *active* hold of r, whatever the time: a hold stops counting only
 * once r has recorded it expired, released or committed. (Were rights to
 * free lapsed holds by the clock, a clock stepping back would bring a hold
 * back to life after its units were re-sold.) So rights are conservative
 * until the owner records an expiry; operations at `now` do that first
 * (see spendableRights). What replica r may still promise; negative means r
 * has a deficit (a forced sale). An owner known only through its holds (a
 * hold delivered before its P entry) has rights −held.
 *
 * `now` is accepted for existing callers and ignored.
 */
export function rights(state: InventoryState, store: StoreId, sku: Sku, replica: ReplicaId, _now?: number): number {
  const c = state.counter(store, sku);
  if (c === undefined) return 0;
  const r = state.knownReplicaNumber(replica);
  const own = r < 0 ? 0 : c.p(r) - c.n(r) + c.netTransfersIn(r);
  return own - activeHeld(c, replica);
}

/**
 * What an operation of `replica` at `now` may spend: rights() plus the units
 * of its own holds on this counter lapsed by `now`, whose expiry the
 * operation records before it takes the units (in the same delta).
 */
export function spendableRights(state: InventoryState, store: StoreId, sku: Sku, replica: ReplicaId, now: number): number {
  let have = rights(state, store, sku, replica);
  for (const h of lapsedHolds(state.counter(store, sku), replica, now)) have += h.qty;
  return have;
}

/**
 * Records status 'expired' on the owner's own active holds on the counter
 * that have lapsed by `now`, appending them to `delta`. Called by operations
 * that consume the owner's rights, after they have decided to go ahead.
 */
export function recordLapsedHolds(state: InventoryState, store: StoreId, sku: Sku, owner: ReplicaId, now: number, delta: Delta): void {
  for (const h of lapsedHolds(state.counter(store, sku), owner, now)) {
    const expired: ReservationRecord = { ...h, status: 'expired' };
    if (state.mergeReservation(expired)) delta.reservations.push({ ...expired });
  }
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
 * Decides on spendableRights at `now`; when it goes ahead, the delta also
 * records the expiry of the replica's own lapsed holds on this counter.
 * A refusal changes nothing.
 */
export function decrement(state: InventoryState, op: DecrementOp): Result<{ delta: Delta; forced: boolean }> {
  const bad = checkQty(op.qty) ?? checkNow(op.now);
  if (bad) return { ok: false, refusal: bad };
  const have = spendableRights(state, op.store, op.sku, op.replica, op.now);
  const short = have < op.qty;
  if (short && op.force !== true) return { ok: false, refusal: insufficient(op, have) };
  const c = state.counterFor(op.store, op.sku);
  const r = state.replicaNumber(op.replica);
  const n = c.n(r);
  if (overflows(n, op.qty)) return { ok: false, refusal: overflow(op) };
  const p = c.p(r);
  const delta = emptyDelta();
  recordLapsedHolds(state, op.store, op.sku, op.replica, op.now, delta);
  c.mergePN(r, p, n + op.qty);
  state.touch(c);
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

/**
 * Hands `qty` of `from`'s rights to `to`. Only `from` may do this, within its
 * spendable rights at `now` (recording the expiry of its lapsed holds, like
 * decrement).
 */
export function transferRights(state: InventoryState, op: TransferOp): Result<{ delta: Delta }> {
  const bad = checkQty(op.qty) ?? checkNow(op.now);
  if (bad) return { ok: false, refusal: bad };
  if (op.from === op.to) {
    return { ok: false, refusal: { code: 'same_replica', message: `cannot transfer rights from ${op.from} to itself`, replica: op.from } };
  }
  const have = spendableRights(state, op.store, op.sku, op.from, op.now);
  if (have < op.qty) return { ok: false, refusal: insufficient({ ...op, replica: op.from }, have) };
  const c = state.counterFor(op.store, op.sku);
  const f = state.replicaNumber(op.from);
  const t = state.replicaNumber(op.to);
  const before = c.transfer(f, t);
  // Like P and N, the cumulative T[from→to] stays ≤ MAX_TOTAL, so rights()
  // stays exact and peers accept the entry.
  if (overflows(before, op.qty)) return { ok: false, refusal: overflow({ ...op, replica: op.from }) };
  const amount = before + op.qty;
  const delta = emptyDelta();
  recordLapsedHolds(state, op.store, op.sku, op.from, op.now, delta);
  c.mergeTransfer(f, t, amount);
  state.touch(c);
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

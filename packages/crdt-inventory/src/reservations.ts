import { emptyDelta, type Delta, type ReservationRecord } from './delta.js';
import type { Refusal, Result } from './errors.js';
import type { ReplicaId, ReservationId, Sku, StoreId } from './ids.js';
import { checkQty, overflows } from './quantity.js';
import { rights } from './operations.js';
import type { InventoryState } from './state.js';

/** Default hold time: 15 minutes. */
export const DEFAULT_HOLD_TTL_MS = 15 * 60 * 1000;

export interface CreateReservationOp {
  id: ReservationId;
  store: StoreId;
  sku: Sku;
  owner: ReplicaId;
  qty: number;
  expiresAt: number;
  now: number;
}

/** Holds `qty` for a cart. Consumes the owner's rights (held counts against them). */
export function createReservation(
  state: InventoryState,
  op: CreateReservationOp,
): Result<{ delta: Delta; reservation: ReservationRecord }> {
  const bad = checkQty(op.qty);
  if (bad) return { ok: false, refusal: bad };
  if (state.reservation(op.id) !== undefined) {
    return { ok: false, refusal: { code: 'reservation_exists', message: `reservation ${op.id} already exists`, id: op.id } };
  }
  const have = rights(state, op.store, op.sku, op.owner, op.now);
  if (have < op.qty) {
    return {
      ok: false,
      refusal: {
        code: 'insufficient_rights',
        message: `replica ${op.owner} may promise ${Math.max(0, have)} of ${op.sku} at ${op.store}, ${op.qty} requested`,
        store: op.store,
        sku: op.sku,
        replica: op.owner,
        requested: op.qty,
        rights: have,
      },
    };
  }
  const reservation: ReservationRecord = {
    id: op.id,
    store: op.store,
    sku: op.sku,
    owner: op.owner,
    qty: op.qty,
    expiresAt: op.expiresAt,
    status: 'active',
  };
  state.mergeReservation(reservation);
  const delta = emptyDelta();
  delta.reservations.push({ ...reservation });
  return { ok: true, delta, reservation };
}

function ownActive(
  state: InventoryState,
  id: ReservationId,
  by: ReplicaId,
): { ok: true; rec: ReservationRecord } | { ok: false; refusal: Refusal } {
  const rec = state.reservation(id);
  if (rec === undefined) {
    return { ok: false, refusal: { code: 'reservation_not_found', message: `no reservation ${id}`, id } };
  }
  if (rec.owner !== by) {
    return {
      ok: false,
      refusal: { code: 'reservation_not_owner', message: `reservation ${id} belongs to ${rec.owner}, not ${by}`, id, owner: rec.owner, by },
    };
  }
  if (rec.status !== 'active') {
    return { ok: false, refusal: { code: 'reservation_closed', message: `reservation ${id} is already ${rec.status}`, id, status: rec.status } };
  }
  return { ok: true, rec };
}

/**
 * Turns a hold into a sale: status → committed and N[owner] += qty in one
 * delta, so no state ever shows the units both held and sold (or neither).
 */
export function commitReservation(
  state: InventoryState,
  op: { id: ReservationId; by: ReplicaId; now: number },
): Result<{ delta: Delta; reservation: ReservationRecord }> {
  const found = ownActive(state, op.id, op.by);
  if (!found.ok) return found;
  const rec = found.rec;
  // Commit only when provably unexpired: a NaN time must not commit a hold
  // whose rights may already have been freed and re-promised.
  if (!(rec.expiresAt > op.now)) {
    return {
      ok: false,
      refusal: {
        code: 'reservation_expired',
        message: `reservation ${op.id} expired at ${formatTime(rec.expiresAt)}`,
        id: op.id,
        expiresAt: rec.expiresAt,
        now: op.now,
      },
    };
  }
  const c = state.counterFor(rec.store, rec.sku);
  const r = state.replicaNumber(rec.owner);
  const p = c.p(r);
  const n = c.n(r);
  if (overflows(n, rec.qty)) {
    return { ok: false, refusal: { code: 'quantity_overflow', message: `commit would overflow ${rec.sku}`, store: rec.store, sku: rec.sku } };
  }
  const committed: ReservationRecord = { ...rec, status: 'committed' };
  state.mergeReservation(committed);
  c.mergePN(r, p, n + rec.qty);
  state.touch(c);
  const delta = emptyDelta();
  delta.entries.push({ store: rec.store, sku: rec.sku, replica: rec.owner, p, n: n + rec.qty });
  delta.reservations.push({ ...committed });
  return { ok: true, delta, reservation: committed };
}

/** ISO time for messages; never throws (toISOString does on NaN, ±Infinity, |ms| > 8.64e15). */
function formatTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** Gives the held units back to the owner's rights. */
export function releaseReservation(
  state: InventoryState,
  op: { id: ReservationId; by: ReplicaId },
): Result<{ delta: Delta; reservation: ReservationRecord }> {
  const found = ownActive(state, op.id, op.by);
  if (!found.ok) return found;
  const released: ReservationRecord = { ...found.rec, status: 'released' };
  state.mergeReservation(released);
  const delta = emptyDelta();
  delta.reservations.push({ ...released });
  return { ok: true, delta, reservation: released };
}

/** Active holds of `owner` that have expired by `now` (to be released by the owner). */
export function expiredReservations(state: InventoryState, owner: ReplicaId, now: number): ReservationRecord[] {
  const out: ReservationRecord[] = [];
  for (const r of state.reservations()) {
    if (r.owner === owner && r.status === 'active' && r.expiresAt <= now) out.push(r);
  }
  return out;
}

/** Releases every expired hold of `owner`; returns the combined delta. */
export function expireReservations(state: InventoryState, owner: ReplicaId, now: number): Delta {
  const delta = emptyDelta();
  for (const r of expiredReservations(state, owner, now)) {
    const res = releaseReservation(state, { id: r.id, by: owner });
    if (res.ok) delta.reservations.push(...res.delta.reservations);
  }
  return delta;
}

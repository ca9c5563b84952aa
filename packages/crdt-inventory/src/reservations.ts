import { emptyDelta, type Delta, type ReservationRecord } from './delta.js';
import type { Refusal, Result } from './errors.js';
import type { ReplicaId, ReservationId, Sku, StoreId } from './ids.js';
import { checkExpiresAt, checkNow, checkQty, MAX_TOTAL, overflows } from './quantity.js';
import { recordLapsedHolds, spendableRights } from './operations.js';
import type { InventoryState } from './state.js';

/** Default hold time: 15 minutes. */
export const DEFAULT_HOLD_TTL_MS = 15 * 60 * 1000;

export interface CreateReservationOp {
  /** Unique among `owner`'s reservations; another replica may use the same id. */
  id: ReservationId;
  store: StoreId;
  sku: Sku;
  owner: ReplicaId;
  qty: number;
  expiresAt: number;
  now: number;
}

/**
 * Holds `qty` for a cart. Consumes the owner's rights (held counts against
 * them). Decides on spendableRights at `now`; when it goes ahead, the delta
 * also records the expiry of the owner's lapsed holds on this counter
 * (before the new record). A refusal changes nothing.
 */
export function createReservation(
  state: InventoryState,
  op: CreateReservationOp,
): Result<{ delta: Delta; reservation: ReservationRecord }> {
  const bad = checkQty(op.qty) ?? checkNow(op.now) ?? checkExpiresAt(op.expiresAt);
  if (bad) return { ok: false, refusal: bad };
  if (state.reservation(op.owner, op.id) !== undefined) {
    return { ok: false, refusal: { code: 'reservation_exists', message: `reservation ${op.id} already exists`, id: op.id } };
  }
  if (op.qty > MAX_TOTAL) {
    return {
      ok: false,
      refusal: { code: 'quantity_overflow', message: `a hold of ${op.qty} is past the largest quantity ${MAX_TOTAL}`, store: op.store, sku: op.sku },
    };
  }
  const have = spendableRights(state, op.store, op.sku, op.owner, op.now);
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
  const delta = emptyDelta();
  recordLapsedHolds(state, op.store, op.sku, op.owner, op.now, delta);
  state.mergeReservation(reservation);
  delta.reservations.push({ ...reservation });
  return { ok: true, delta, reservation };
}

/** `by`'s own reservation `id`, if it is still active. */
function ownActive(
  state: InventoryState,
  id: ReservationId,
  by: ReplicaId,
): { ok: true; rec: ReservationRecord } | { ok: false; refusal: Refusal } {
  const rec = state.reservation(by, id);
  if (rec === undefined) {
    // Only to say why: another replica's record under this id is not `by`'s to change.
    for (const other of state.reservations()) {
      if (other.id === id) {
        return {
          ok: false,
          refusal: { code: 'reservation_not_owner', message: `reservation ${id} belongs to ${other.owner}, not ${by}`, id, owner: other.owner, by },
        };
      }
    }
    return { ok: false, refusal: { code: 'reservation_not_found', message: `no reservation ${id}`, id } };
  }
  if (rec.status !== 'active') {
    return { ok: false, refusal: { code: 'reservation_closed', message: `reservation ${id} is already ${rec.status}`, id, status: rec.status } };
  }
  return { ok: true, rec };
}

/**
 * Turns a hold into a sale: status → committed and N[owner] += qty in one
 * delta, so no state ever shows the units both held and sold (or neither).
 * Only an active record that has not lapsed by `now` commits; a hold
 * recorded 'expired' never does, whatever `now` says (its units may have
 * been re-promised since).
 */
export function commitReservation(
  state: InventoryState,
  op: { id: ReservationId; by: ReplicaId; now: number },
): Result<{ delta: Delta; reservation: ReservationRecord }> {
  const badNow = checkNow(op.now);
  if (badNow) return { ok: false, refusal: badNow };
  const found = ownActive(state, op.id, op.by);
  if (!found.ok) {
    const r = state.reservation(op.by, op.id);
    if (r?.status === 'expired') return { ok: false, refusal: expiredRefusal(r, op.now) };
    return found;
  }
  const rec = found.rec;
  if (!(rec.expiresAt > op.now)) return { ok: false, refusal: expiredRefusal(rec, op.now) };
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

function expiredRefusal(rec: ReservationRecord, now: number): Refusal {
  return {
    code: 'reservation_expired',
    message: `reservation ${rec.id} expired at ${formatTime(rec.expiresAt)}`,
    id: rec.id,
    expiresAt: rec.expiresAt,
    now,
  };
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

/** Active holds of `owner` that have lapsed by `now` (for the owner to record as expired). None for a non-finite now. */
export function expiredReservations(state: InventoryState, owner: ReplicaId, now: number): ReservationRecord[] {
  const out: ReservationRecord[] = [];
  if (checkNow(now) !== null) return out;
  for (const r of state.reservations()) {
    if (r.owner === owner && r.status === 'active' && r.expiresAt <= now) out.push(r);
  }
  return out;
}

/** Records status 'expired' on every lapsed hold of `owner`; returns the combined delta. */
export function expireReservations(state: InventoryState, owner: ReplicaId, now: number): Delta {
  const delta = emptyDelta();
  for (const r of expiredReservations(state, owner, now)) {
    const expired: ReservationRecord = { ...r, status: 'expired' };
    if (state.mergeReservation(expired)) delta.reservations.push({ ...expired });
  }
  return delta;
}

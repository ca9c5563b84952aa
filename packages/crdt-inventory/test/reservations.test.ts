import { describe, expect, it } from 'vitest';
import {
  availability,
  commitReservation,
  createReservation,
  DEFAULT_HOLD_TTL_MS,
  decrement,
  expiredReservations,
  expireReservations,
  increment,
  InventoryState,
  onHand,
  releaseReservation,
  replicaId,
  reservationId,
  rights,
  MAX_TOTAL,
  sku,
  spendableRights,
  storeId,
  transferRights,
  unwrap,
  type CreateReservationOp,
  type ReservationId,
} from '../src/index.js';

const S = storeId('store-1');
const K = sku('SKU-A');
const K2 = sku('SKU-B');
const A = replicaId('agent-1');
const B = replicaId('agent-2');
const NOW = Date.UTC(2025, 0, 1);
const TTL = DEFAULT_HOLD_TTL_MS;
const M = MAX_TOTAL;
const R1 = reservationId('cart-1');
const R2 = reservationId('cart-2');

function stocked(qty: number, replica = A): InventoryState {
  const st = new InventoryState();
  unwrap(increment(st, { store: S, sku: K, replica, qty }));
  return st;
}

function hold(id: ReservationId, qty: number, over: Partial<CreateReservationOp> = {}): CreateReservationOp {
  return { id, store: S, sku: K, owner: A, qty, expiresAt: NOW + TTL, now: NOW, ...over };
}

describe('createReservation', () => {
  it('holds units against the owner’s rights and returns the record in its delta', () => {
    const st = stocked(10);
    const res = unwrap(createReservation(st, hold(R1, 4)));
    const rec = { id: R1, store: S, sku: K, owner: A, qty: 4, expiresAt: NOW + TTL, status: 'active' };
    expect(res.reservation).toEqual(rec);
    expect(res.delta).toEqual({ entries: [], transfers: [], reservations: [rec] });
    expect(st.reservation(A, R1)).toEqual(rec);
    expect(rights(st, S, K, A, NOW)).toBe(6);
    expect(onHand(st, S, K)).toBe(10);
    expect(availability(st, S, K, NOW)).toMatchObject({ onHand: 10, held: 4, available: 6 });
  });

  it('does not alias the stored record with the returned one or the delta', () => {
    const st = stocked(10);
    const res = unwrap(createReservation(st, hold(R1, 4)));
    res.reservation.qty = 99;
    res.delta.reservations[0]!.status = 'committed';
    expect(st.reservation(A, R1)).toMatchObject({ qty: 4, status: 'active' });
    expect(rights(st, S, K, A, NOW)).toBe(6);
  });

  it('the default TTL is 15 minutes', () => {
    expect(DEFAULT_HOLD_TTL_MS).toBe(900_000);
  });

  it('refuses a duplicate id of the same owner (active or released) with reservation_exists', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 2)));
    // ids are per owner: B may use R1 too (it is refused here only for lack of rights)
    const other = createReservation(st, hold(R1, 1, { owner: B }));
    expect(other.ok).toBe(false);
    if (!other.ok) expect(other.refusal.code).toBe('insufficient_rights');
    for (const op of [hold(R1, 2), hold(R1, 3, { sku: K2 })]) {
      const res = createReservation(st, op);
      expect(res.ok).toBe(false);
      if (!res.ok) expect(res.refusal).toMatchObject({ code: 'reservation_exists', id: R1 });
    }
    unwrap(releaseReservation(st, { id: R1, by: A }));
    const again = createReservation(st, hold(R1, 2));
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.refusal.code).toBe('reservation_exists');
    expect(st.reservation(A, R1)?.status).toBe('released');
    expect(rights(st, S, K, A, NOW)).toBe(10);
  });

  it('refuses beyond rights (including an unknown SKU) and records nothing', () => {
    const st = stocked(3);
    const res = createReservation(st, hold(R1, 4));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'insufficient_rights', rights: 3, requested: 4, replica: A });
    const unknown = createReservation(st, hold(R2, 1, { sku: K2 }));
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.refusal).toMatchObject({ code: 'insufficient_rights', rights: 0 });
    expect(st.reservation(A, R1)).toBeUndefined();
    expect(st.reservation(A, R2)).toBeUndefined();
    expect([...st.reservations()]).toEqual([]);
    // exactly the rights is fine
    expect(createReservation(st, hold(R1, 3)).ok).toBe(true);
    expect(rights(st, S, K, A, NOW)).toBe(0);
  });

  it.each([0, -1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1])('refuses quantity %s', (q) => {
    const st = stocked(10);
    const res = createReservation(st, hold(R1, q));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('invalid_quantity');
    expect(st.reservation(A, R1)).toBeUndefined();
  });

  it('a hold of one owner does not consume another owner’s rights', () => {
    const st = stocked(5, A);
    unwrap(increment(st, { store: S, sku: K, replica: B, qty: 5 }));
    unwrap(createReservation(st, hold(R1, 5)));
    expect(rights(st, S, K, A, NOW)).toBe(0);
    expect(rights(st, S, K, B, NOW)).toBe(5);
  });
});

describe('commitReservation', () => {
  it('turns the hold into a sale atomically: status committed and N[owner] += qty in one delta', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    const before = availability(st, S, K, NOW);
    const res = unwrap(commitReservation(st, { id: R1, by: A, now: NOW + 1 }));
    expect(res.reservation.status).toBe('committed');
    expect(res.delta.entries).toEqual([{ store: S, sku: K, replica: A, p: 10, n: 4 }]);
    expect(res.delta.reservations).toEqual([{ id: R1, store: S, sku: K, owner: A, qty: 4, expiresAt: NOW + TTL, status: 'committed' }]);
    expect(st.reservation(A, R1)?.status).toBe('committed');
    expect(onHand(st, S, K)).toBe(6);
    expect(rights(st, S, K, A, NOW + 1)).toBe(6); // unchanged by the commit
    const after = availability(st, S, K, NOW + 1);
    expect(after).toMatchObject({ onHand: 6, held: 0 });
    expect(after.available).toBe(before.available); // sold units were already unavailable
    // the delta alone carries both halves
    const peer = new InventoryState();
    peer.applyDelta(res.delta);
    // entries are cumulative (p: 10, n: 4): the sale and the closed hold arrive together
    expect(availability(peer, S, K, NOW)).toMatchObject({ onHand: 6, held: 0 });
    expect(peer.reservation(A, R1)?.status).toBe('committed');
  });

  it('refuses a commit by another replica with reservation_not_owner', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    const res = commitReservation(st, { id: R1, by: B, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'reservation_not_owner', id: R1, owner: A, by: B });
    expect(st.reservation(A, R1)?.status).toBe('active');
    expect(onHand(st, S, K)).toBe(10);
  });

  it('refuses an unknown id with reservation_not_found', () => {
    const st = stocked(10);
    const res = commitReservation(st, { id: R2, by: A, now: NOW });
    expect(res).toEqual({ ok: false, refusal: { code: 'reservation_not_found', message: 'no reservation cart-2', id: R2 } });
  });

  it('refuses an expired hold with reservation_expired carrying expiresAt (expiry is expiresAt <= now)', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    const res = commitReservation(st, { id: R1, by: A, now: NOW + TTL });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.refusal).toEqual({
      code: 'reservation_expired',
      message: `reservation cart-1 expired at ${new Date(NOW + TTL).toISOString()}`,
      id: R1,
      expiresAt: NOW + TTL,
      now: NOW + TTL,
    });
    expect(st.reservation(A, R1)?.status).toBe('active');
    expect(onHand(st, S, K)).toBe(10);
    // one millisecond earlier it would have been fine
    const st2 = stocked(10);
    unwrap(createReservation(st2, hold(R1, 4)));
    expect(commitReservation(st2, { id: R1, by: A, now: NOW + TTL - 1 }).ok).toBe(true);
  });

  it('refuses after release with reservation_closed; release after commit likewise', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    unwrap(releaseReservation(st, { id: R1, by: A }));
    const c = commitReservation(st, { id: R1, by: A, now: NOW });
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.refusal).toMatchObject({ code: 'reservation_closed', id: R1, status: 'released' });
    expect(onHand(st, S, K)).toBe(10);

    unwrap(createReservation(st, hold(R2, 4)));
    unwrap(commitReservation(st, { id: R2, by: A, now: NOW }));
    const again = commitReservation(st, { id: R2, by: A, now: NOW });
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.refusal).toMatchObject({ code: 'reservation_closed', status: 'committed' });
    const rel = releaseReservation(st, { id: R2, by: A });
    expect(rel.ok).toBe(false);
    if (!rel.ok) expect(rel.refusal).toMatchObject({ code: 'reservation_closed', status: 'committed' });
    expect(onHand(st, S, K)).toBe(6);
    expect(st.reservation(A, R2)?.status).toBe('committed');
  });

  it('refuses to overflow N[owner] with quantity_overflow', () => {
    const st = stocked(M, A);
    unwrap(decrement(st, { store: S, sku: K, replica: A, qty: M, now: NOW })); // N[A] = MAX
    unwrap(increment(st, { store: S, sku: K, replica: B, qty: 5 }));
    unwrap(transferRights(st, { store: S, sku: K, from: B, to: A, qty: 5, now: NOW }));
    unwrap(createReservation(st, hold(R1, 5)));
    const res = commitReservation(st, { id: R1, by: A, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'quantity_overflow', store: S, sku: K });
    expect(st.reservation(A, R1)?.status).toBe('active');
  });

  it('an unreadable time never commits a hold: NaN expiresAt or NaN now → invalid_time, never a throw', () => {
    const st = stocked(5);
    const h = createReservation(st, hold(R1, 5, { expiresAt: NaN }));
    expect(h.ok).toBe(false);
    if (!h.ok) expect(h.refusal).toMatchObject({ code: 'invalid_time', field: 'expiresAt' });
    expect(rights(st, S, K, A, NOW)).toBe(5);

    // a hold that expired, whose rights were re-used, cannot be committed with a NaN clock, nor an earlier one
    const st2 = stocked(5);
    unwrap(createReservation(st2, hold(R1, 5, { expiresAt: NOW + 100 })));
    unwrap(decrement(st2, { store: S, sku: K, replica: A, qty: 5, now: NOW + 200 }));
    const c2 = commitReservation(st2, { id: R1, by: A, now: NaN });
    expect(c2.ok).toBe(false);
    if (!c2.ok) expect(c2.refusal).toMatchObject({ code: 'invalid_time', field: 'now' });
    const c3 = commitReservation(st2, { id: R1, by: A, now: NOW });
    expect(c3.ok).toBe(false);
    if (!c3.ok) expect(c3.refusal).toMatchObject({ code: 'reservation_expired', id: R1 });
    expect(rights(st2, S, K, A, NOW + 200)).toBe(0);
    expect(onHand(st2, S, K)).toBe(0);
  });

  it('an out-of-range expiresAt is refused (invalid_time); the largest instant is accepted and reported without a throw', () => {
    const st = stocked(5);
    for (const expiresAt of [-Infinity, Infinity, -1]) {
      const res = createReservation(st, hold(R1, 1, { expiresAt }));
      expect(res.ok).toBe(false);
      if (!res.ok) expect(res.refusal).toMatchObject({ code: 'invalid_time', field: 'expiresAt', value: expiresAt });
    }
    // past what Date can print (8.64e15): the message still forms
    const far = Number.MAX_SAFE_INTEGER;
    unwrap(createReservation(st, hold(R2, 2, { expiresAt: far })));
    const c = commitReservation(st, { id: R2, by: A, now: Number.MAX_VALUE });
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.refusal).toMatchObject({ code: 'reservation_expired', message: `reservation cart-2 expired at ${far}` });
    expect(commitReservation(st, { id: R2, by: A, now: NOW + 365 * 24 * 3600_000 }).ok).toBe(true);
  });
});

describe('releaseReservation and expiry', () => {
  it('release gives the units back to the owner’s rights', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    const res = unwrap(releaseReservation(st, { id: R1, by: A }));
    expect(res.reservation.status).toBe('released');
    expect(res.delta).toEqual({ entries: [], transfers: [], reservations: [{ ...res.reservation }] });
    expect(rights(st, S, K, A, NOW)).toBe(10);
    expect(onHand(st, S, K)).toBe(10);
    expect(availability(st, S, K, NOW).held).toBe(0);
  });

  it('release by another replica is refused', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    const res = releaseReservation(st, { id: R1, by: B });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'reservation_not_owner', owner: A, by: B });
    expect(rights(st, S, K, A, NOW)).toBe(6);
  });

  it('a lapsed hold keeps its rights until the owner records the expiry; the next op at now records it', () => {
    const st = stocked(10);
    unwrap(createReservation(st, hold(R1, 4)));
    expect(rights(st, S, K, A, NOW + TTL)).toBe(6);
    expect(spendableRights(st, S, K, A, NOW + TTL - 1)).toBe(6);
    expect(spendableRights(st, S, K, A, NOW + TTL)).toBe(10);
    // display already leaves the lapsed hold out
    expect(availability(st, S, K, NOW + TTL)).toMatchObject({ held: 0, available: 10 });
    expect(st.reservation(A, R1)?.status).toBe('active');
    // the lapsed units can be promised again: the hold records R1's expiry first
    const res = unwrap(createReservation(st, hold(R2, 10, { now: NOW + TTL, expiresAt: NOW + 2 * TTL })));
    expect(res.delta.reservations.map((r) => [r.id, r.status])).toEqual([
      ['cart-1', 'expired'],
      ['cart-2', 'active'],
    ]);
    expect(st.reservation(A, R1)?.status).toBe('expired');
    expect(rights(st, S, K, A, NOW + TTL)).toBe(0);
  });

  it('expiredReservations / expireReservations record exactly the owner’s lapsed active holds as expired', () => {
    const st = stocked(10, A);
    unwrap(increment(st, { store: S, sku: K, replica: B, qty: 10 }));
    unwrap(createReservation(st, hold(reservationId('a-old'), 1, { expiresAt: NOW + 10 })));
    unwrap(createReservation(st, hold(reservationId('a-now'), 1, { expiresAt: NOW + 20 })));
    unwrap(createReservation(st, hold(reservationId('a-later'), 1, { expiresAt: NOW + 30 })));
    unwrap(createReservation(st, hold(reservationId('a-done'), 1, { expiresAt: NOW + 5 })));
    unwrap(commitReservation(st, { id: reservationId('a-done'), by: A, now: NOW }));
    unwrap(createReservation(st, hold(reservationId('b-old'), 1, { owner: B, expiresAt: NOW + 10 })));

    expect(expiredReservations(st, A, NOW + 20).map((r) => r.id).sort()).toEqual(['a-now', 'a-old']);
    expect(expireReservations(st, A, NOW + 9)).toEqual({ entries: [], transfers: [], reservations: [] });
    const delta = expireReservations(st, A, NOW + 20);
    expect(delta.reservations.map((r) => [r.id, r.status]).sort()).toEqual([
      ['a-now', 'expired'],
      ['a-old', 'expired'],
    ]);
    expect(delta.entries).toEqual([]);
    expect(st.reservation(A, reservationId('a-later'))?.status).toBe('active');
    expect(st.reservation(A, reservationId('a-done'))?.status).toBe('committed');
    expect(st.reservation(B, reservationId('b-old'))?.status).toBe('active');
    expect(expiredReservations(st, A, NOW + 20)).toEqual([]);
    expect(expireReservations(st, A, NOW + 20).reservations).toEqual([]);
  });
});

describe('reservation status on merge', () => {
  it('never moves backward: committed then a stale active stays committed', () => {
    const owner = stocked(10);
    const created = unwrap(createReservation(owner, hold(R1, 4)));
    const committed = unwrap(commitReservation(owner, { id: R1, by: A, now: NOW }));

    const peer = new InventoryState();
    peer.merge(owner);
    expect(peer.reservation(A, R1)?.status).toBe('committed');
    const eff = peer.applyDelta(created.delta);
    expect(eff.reservations).toEqual([]);
    expect(peer.reservation(A, R1)?.status).toBe('committed');
    expect(availability(peer, S, K, NOW)).toMatchObject({ onHand: 6, held: 0 });

    // and the other order
    const peer2 = new InventoryState();
    peer2.applyDelta(created.delta);
    expect(availability(peer2, S, K, NOW).held).toBe(4);
    peer2.applyDelta(committed.delta);
    peer2.applyDelta(created.delta);
    expect(peer2.reservation(A, R1)?.status).toBe('committed');
    expect(availability(peer2, S, K, NOW).held).toBe(0);
  });

  it('released then a stale active stays released', () => {
    const owner = stocked(10);
    const created = unwrap(createReservation(owner, hold(R1, 4)));
    const released = unwrap(releaseReservation(owner, { id: R1, by: A }));
    const peer = new InventoryState();
    peer.applyDelta(released.delta);
    peer.applyDelta(created.delta);
    expect(peer.reservation(A, R1)?.status).toBe('released');
    expect(availability(peer, S, K, NOW).held).toBe(0);
  });

  it('two conflicting terminal states (only a buggy owner makes them) resolve to committed in either order', () => {
    const rec = { id: R1, store: S, sku: K, owner: A, qty: 4, expiresAt: NOW + TTL };
    const committed = { entries: [], transfers: [], reservations: [{ ...rec, status: 'committed' as const }] };
    const released = { entries: [], transfers: [], reservations: [{ ...rec, status: 'released' as const }] };
    const x = new InventoryState();
    x.applyDelta(committed);
    x.applyDelta(released);
    const y = new InventoryState();
    y.applyDelta(released);
    y.applyDelta(committed);
    expect(x.reservation(A, R1)?.status).toBe('committed');
    expect(y.reservation(A, R1)?.status).toBe('committed');
    expect(x.digest(S)).toBe(y.digest(S));
  });
});

describe('merging a record under an id that belongs to someone else', () => {
  it('never replaces the owner’s record, whatever its status rank', () => {
    const st = new InventoryState();
    const mine = { id: R1, store: S, sku: K, owner: A, qty: 2, expiresAt: NOW + TTL, status: 'active' as const };
    expect(st.mergeReservation(mine)).toBe(true);
    for (const other of [
      { ...mine, store: storeId('store-2'), status: 'released' as const },
      { ...mine, sku: K2, status: 'committed' as const },
      { ...mine, qty: 5, status: 'committed' as const },
    ]) {
      expect(st.mergeReservation(other)).toBe(false);
    }
    expect(st.reservation(A, R1)).toEqual(mine);
    expect(availability(st, S, K, NOW).held).toBe(2);
    // Another owner's record under the same id is a record of its own (keyed by (owner, id)).
    expect(st.mergeReservation({ ...mine, owner: B, status: 'committed' })).toBe(true);
    expect(st.reservation(A, R1)).toEqual(mine);
    expect(st.reservation(B, R1)?.status).toBe('committed');
    // The owner itself still moves it forward.
    expect(st.mergeReservation({ ...mine, status: 'released' })).toBe(true);
    expect(availability(st, S, K, NOW).held).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import {
  checkQty,
  createReservation,
  decrement,
  heldOn,
  increment,
  InventoryState,
  onHand,
  RefusedError,
  replicaId,
  reservationId,
  rights,
  spendableRights,
  MAX_TOTAL,
  sku,
  storeId,
  transferRights,
  unwrap,
  type Delta,
} from '../src/index.js';

const S = storeId('store-1');
const S2 = storeId('store-2');
const K = sku('SKU-A');
const K2 = sku('SKU-B');
const A = replicaId('agent-1');
const B = replicaId('agent-2');
const HUB = replicaId('hub');
const NOW = Date.UTC(2025, 0, 1);
/** The largest total an entry may reach (was MAX_SAFE_INTEGER before totals were capped). */
const M = MAX_TOTAL;

/** A state where `replica` has added `qty` units of K at S. */
function stocked(qty: number, replica = A): InventoryState {
  const st = new InventoryState();
  unwrap(increment(st, { store: S, sku: K, replica, qty }));
  return st;
}

/** Quantities every operation must refuse with invalid_quantity. */
const BAD_QTYS: unknown[] = [0, -0, -1, -5, 1.5, 0.1, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 1, 2 ** 53, 1e21, '3', null, undefined, {}];

describe('checkQty', () => {
  it.each([1, 2, 1000, M])('accepts %s', (q) => {
    expect(checkQty(q)).toBeNull();
  });
  it.each(BAD_QTYS)('refuses %s', (q) => {
    const r = checkQty(q);
    expect(r?.code).toBe('invalid_quantity');
    expect(r).toMatchObject({ code: 'invalid_quantity' });
    expect(Object.is((r as { qty: unknown }).qty, q)).toBe(true);
  });
});

describe('increment', () => {
  it('adds to P of the replica and returns the cumulative entry as delta', () => {
    const st = new InventoryState();
    const r1 = unwrap(increment(st, { store: S, sku: K, replica: A, qty: 5 }));
    expect(r1.delta).toEqual({ entries: [{ store: S, sku: K, replica: A, p: 5, n: 0 }], transfers: [], reservations: [] });
    unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 2, now: NOW }));
    const r2 = unwrap(increment(st, { store: S, sku: K, replica: A, qty: 3 }));
    expect(r2.delta.entries).toEqual([{ store: S, sku: K, replica: A, p: 8, n: 2 }]);
    expect(onHand(st, S, K)).toBe(6);
    expect(rights(st, S, K, A, NOW)).toBe(6);
    expect(st.seq).toBe(3);
  });

  it('touches only its own counter and replica', () => {
    const st = stocked(5);
    unwrap(increment(st, { store: S, sku: K2, replica: B, qty: 2 }));
    unwrap(increment(st, { store: S2, sku: K, replica: A, qty: 7 }));
    expect(onHand(st, S, K)).toBe(5);
    expect(onHand(st, S, K2)).toBe(2);
    expect(onHand(st, S2, K)).toBe(7);
    expect(rights(st, S, K, B, NOW)).toBe(0);
    expect(rights(st, S, K2, B, NOW)).toBe(2);
  });

  it.each(BAD_QTYS)('refuses quantity %s with invalid_quantity and changes nothing', (q) => {
    const st = stocked(5);
    const before = st.digest(S);
    const seq = st.seq;
    const res = increment(st, { store: S, sku: K, replica: A, qty: q as number });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.refusal.code).toBe('invalid_quantity');
    expect(st.seq).toBe(seq);
    expect(st.digest(S)).toBe(before);
    expect(onHand(st, S, K)).toBe(5);
  });

  it('accepts MAX_TOTAL, then refuses to go past it with quantity_overflow', () => {
    const st = new InventoryState();
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: M - 1 }));
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: 1 }));
    expect(onHand(st, S, K)).toBe(M);
    const seq = st.seq;
    const res = increment(st, { store: S, sku: K, replica: A, qty: 1 });
    expect(res).toEqual({
      ok: false,
      refusal: { code: 'quantity_overflow', message: expect.stringContaining('overflow') as string, store: S, sku: K },
    });
    expect(st.seq).toBe(seq);
    expect(onHand(st, S, K)).toBe(M);
    expect(st.toDelta().entries).toEqual([{ store: S, sku: K, replica: A, p: M, n: 0 }]);
  });
});

describe('decrement', () => {
  it('removes units within rights', () => {
    const st = stocked(10);
    const res = unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 4, now: NOW }));
    expect(res.forced).toBe(false);
    expect(res.delta).toEqual({ entries: [{ store: S, sku: K, replica: A, p: 10, n: 4 }], transfers: [], reservations: [] });
    expect(onHand(st, S, K)).toBe(6);
    expect(rights(st, S, K, A, NOW)).toBe(6);
    // exactly all remaining rights
    expect(unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 6, now: NOW })).forced).toBe(false);
    expect(rights(st, S, K, A, NOW)).toBe(0);
    expect(onHand(st, S, K)).toBe(0);
  });

  it('refuses beyond rights with insufficient_rights and changes nothing', () => {
    const st = stocked(3);
    const before = st.digest(S);
    const res = decrement(st, { store: S, sku: K, replica: A, qty: 4, now: NOW });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.refusal).toEqual({
      code: 'insufficient_rights',
      message: 'replica agent-1 may promise 3 of SKU-A at store-1, 4 requested',
      store: S,
      sku: K,
      replica: A,
      requested: 4,
      rights: 3,
    });
    expect(st.digest(S)).toBe(before);
    expect(onHand(st, S, K)).toBe(3);
  });

  it('unknown SKU: rights 0, refused with insufficient_rights, no counter created', () => {
    const st = stocked(3);
    expect(rights(st, S, K2, A, NOW)).toBe(0);
    expect(rights(st, S2, K, A, NOW)).toBe(0);
    const res = decrement(st, { store: S, sku: K2, replica: A, qty: 1, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'insufficient_rights', rights: 0, requested: 1, sku: K2 });
    expect(st.counter(S, K2)).toBeUndefined();
    expect(st.counterCount()).toBe(1);
  });

  it('rights are per replica: another replica cannot sell stock it has no rights to', () => {
    const st = stocked(5, A);
    expect(onHand(st, S, K)).toBe(5);
    expect(rights(st, S, K, B, NOW)).toBe(0);
    const res = decrement(st, { store: S, sku: K, replica: B, qty: 1, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'insufficient_rights', replica: B, rights: 0 });
  });

  it('forced sale when short: recorded, forced=true, rights go negative (a deficit)', () => {
    const st = stocked(2);
    const res = unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 5, force: true, now: NOW }));
    expect(res.forced).toBe(true);
    expect(res.delta.entries).toEqual([{ store: S, sku: K, replica: A, p: 2, n: 5 }]);
    expect(rights(st, S, K, A, NOW)).toBe(-3);
    expect(onHand(st, S, K)).toBe(-3);
    // with a deficit nothing more can be promised without force
    expect(decrement(st, { store: S, sku: K, replica: A, qty: 1, now: NOW }).ok).toBe(false);
    // restocking covers the deficit first
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: 4 }));
    expect(rights(st, S, K, A, NOW)).toBe(1);
  });

  it('forced sale with enough rights is an ordinary sale: forced=false', () => {
    const st = stocked(5);
    const res = unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 5, force: true, now: NOW }));
    expect(res.forced).toBe(false);
    expect(rights(st, S, K, A, NOW)).toBe(0);
  });

  it('forced sale of an unknown SKU creates the counter with a deficit', () => {
    const st = new InventoryState();
    const res = unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 2, force: true, now: NOW }));
    expect(res.forced).toBe(true);
    expect(onHand(st, S, K)).toBe(-2);
    expect(rights(st, S, K, A, NOW)).toBe(-2);
    expect(st.toDelta().entries).toEqual([{ store: S, sku: K, replica: A, p: 0, n: 2 }]);
  });

  it.each(BAD_QTYS)('refuses quantity %s even when forced', (q) => {
    const st = stocked(5);
    const res = decrement(st, { store: S, sku: K, replica: A, qty: q as number, force: true, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('invalid_quantity');
    expect(onHand(st, S, K)).toBe(5);
  });

  it('refuses to overflow N with quantity_overflow', () => {
    const st = new InventoryState();
    unwrap(decrement(st, { store: S, sku: K, replica: A, qty: M, force: true, now: NOW }));
    const seq = st.seq;
    const res = decrement(st, { store: S, sku: K, replica: A, qty: 1, force: true, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'quantity_overflow', store: S, sku: K });
    expect(st.seq).toBe(seq);
    expect(onHand(st, S, K)).toBe(-M);
  });

  it('held units cannot be sold until the hold expires', () => {
    const st = stocked(5);
    unwrap(createReservation(st, { id: reservationId('r1'), store: S, sku: K, owner: A, qty: 3, expiresAt: NOW + 1000, now: NOW }));
    const refused = decrement(st, { store: S, sku: K, replica: A, qty: 3, now: NOW });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.refusal).toMatchObject({ code: 'insufficient_rights', rights: 2 });
    expect(unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 2, now: NOW })).forced).toBe(false);
    // at expiresAt the hold no longer counts
    expect(unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 3, now: NOW + 1000 })).forced).toBe(false);
    expect(onHand(st, S, K)).toBe(0);
  });
});

describe('transferRights', () => {
  it('moves rights from one replica to another; on-hand is unchanged; the delta carries the cumulative amount', () => {
    const st = stocked(10, HUB);
    const r1 = unwrap(transferRights(st, { store: S, sku: K, from: HUB, to: A, qty: 4, now: NOW }));
    expect(r1.delta).toEqual({ entries: [], transfers: [{ store: S, sku: K, from: HUB, to: A, amount: 4 }], reservations: [] });
    const r2 = unwrap(transferRights(st, { store: S, sku: K, from: HUB, to: A, qty: 3, now: NOW }));
    expect(r2.delta.transfers).toEqual([{ store: S, sku: K, from: HUB, to: A, amount: 7 }]);
    expect(rights(st, S, K, HUB, NOW)).toBe(3);
    expect(rights(st, S, K, A, NOW)).toBe(7);
    expect(onHand(st, S, K)).toBe(10);
    // the receiver may sell and hand rights back
    unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 2, now: NOW }));
    unwrap(transferRights(st, { store: S, sku: K, from: A, to: HUB, qty: 5, now: NOW }));
    expect(rights(st, S, K, A, NOW)).toBe(0);
    expect(rights(st, S, K, HUB, NOW)).toBe(8);
    expect(onHand(st, S, K)).toBe(8);
  });

  it('refuses a transfer to self with same_replica', () => {
    const st = stocked(10);
    const res = transferRights(st, { store: S, sku: K, from: A, to: A, qty: 1, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'same_replica', replica: A });
    expect(st.toDelta().transfers).toEqual([]);
    expect(rights(st, S, K, A, NOW)).toBe(10);
  });

  it('refuses beyond rights with insufficient_rights naming the giver', () => {
    const st = stocked(3);
    const res = transferRights(st, { store: S, sku: K, from: A, to: B, qty: 4, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'insufficient_rights', replica: A, rights: 3, requested: 4 });
    expect(rights(st, S, K, B, NOW)).toBe(0);
    expect(st.toDelta().transfers).toEqual([]);
  });

  it('refuses rights that are held, and rights of an unknown SKU', () => {
    const st = stocked(3);
    unwrap(createReservation(st, { id: reservationId('r1'), store: S, sku: K, owner: A, qty: 2, expiresAt: NOW + 10, now: NOW }));
    const held = transferRights(st, { store: S, sku: K, from: A, to: B, qty: 2, now: NOW });
    expect(held.ok).toBe(false);
    if (!held.ok) expect(held.refusal).toMatchObject({ code: 'insufficient_rights', rights: 1 });
    const unknown = transferRights(st, { store: S, sku: K2, from: A, to: B, qty: 1, now: NOW });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.refusal).toMatchObject({ code: 'insufficient_rights', rights: 0 });
    expect(st.counter(S, K2)).toBeUndefined();
  });

  it.each(BAD_QTYS)('refuses quantity %s', (q) => {
    const st = stocked(5);
    const res = transferRights(st, { store: S, sku: K, from: A, to: B, qty: q as number, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('invalid_quantity');
    expect(rights(st, S, K, A, NOW)).toBe(5);
  });

  it('refuses to let the cumulative T[from→to] overflow (rights ping-ponged back and forth)', () => {
    const st = stocked(M, A);
    unwrap(transferRights(st, { store: S, sku: K, from: A, to: B, qty: M, now: NOW }));
    unwrap(transferRights(st, { store: S, sku: K, from: B, to: A, qty: M, now: NOW }));
    expect(rights(st, S, K, A, NOW)).toBe(M);
    const res = transferRights(st, { store: S, sku: K, from: A, to: B, qty: 1, now: NOW });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal).toMatchObject({ code: 'quantity_overflow', store: S, sku: K });
    expect(st.toDelta().transfers.find((t) => t.from === A)?.amount).toBe(M);
    expect(rights(st, S, K, A, NOW)).toBe(M);
    expect(rights(st, S, K, B, NOW)).toBe(0);
  });
});

describe('rights, onHand and heldOn', () => {
  /** A counter built from raw entries so every term of the formula is exercised. */
  function fixture(): InventoryState {
    const st = new InventoryState();
    const d: Delta = {
      entries: [
        { store: S, sku: K, replica: A, p: 10, n: 3 },
        { store: S, sku: K, replica: B, p: 1, n: 0 },
        { store: S, sku: K, replica: HUB, p: 20, n: 2 },
      ],
      transfers: [
        { store: S, sku: K, from: B, to: A, amount: 4 },
        { store: S, sku: K, from: HUB, to: A, amount: 2 },
        { store: S, sku: K, from: A, to: B, amount: 1 },
      ],
      reservations: [
        { id: reservationId('a-active'), store: S, sku: K, owner: A, qty: 2, expiresAt: NOW + 1, status: 'active' },
        { id: reservationId('a-expired'), store: S, sku: K, owner: A, qty: 5, expiresAt: NOW, status: 'active' },
        { id: reservationId('a-released'), store: S, sku: K, owner: A, qty: 7, expiresAt: NOW + 1, status: 'released' },
        { id: reservationId('a-committed'), store: S, sku: K, owner: A, qty: 9, expiresAt: NOW + 1, status: 'committed' },
        { id: reservationId('b-active'), store: S, sku: K, owner: B, qty: 3, expiresAt: NOW + 1, status: 'active' },
      ],
    };
    st.applyDelta(d);
    return st;
  }

  it('rights(r) = P[r] + Σ T[s→r] − Σ T[r→s] − N[r] − held(r)', () => {
    const st = fixture();
    // held(r): every active hold of r, a-expired included (lapsed, but its expiry is not recorded)
    expect(rights(st, S, K, A, NOW)).toBe(10 + 4 + 2 - 1 - 3 - (2 + 5));
    expect(rights(st, S, K, B, NOW)).toBe(1 + 1 - 4 - 0 - 3);
    expect(rights(st, S, K, HUB, NOW)).toBe(20 - 2 - 2);
    expect(rights(st, S, K, replicaId('never-seen'), NOW)).toBe(0);
    // what A's next op at NOW may spend: it records a-expired first
    expect(spendableRights(st, S, K, A, NOW)).toBe(10 + 4 + 2 - 1 - 3 - 2);
    expect(spendableRights(st, S, K, A, NOW - 1)).toBe(rights(st, S, K, A, NOW));
    // Σ rights = on hand − every active hold; availability shows only the unlapsed ones
    expect(heldOn(st, st.counter(S, K), NOW)).toBe(5);
    expect(onHand(st, S, K)).toBe(26);
    expect(rights(st, S, K, A, NOW) + rights(st, S, K, B, NOW) + rights(st, S, K, HUB, NOW)).toBe(26 - 10);
  });

  it('heldOn counts active holds not yet expired, for all owners or one', () => {
    const st = fixture();
    const c = st.counter(S, K);
    expect(heldOn(st, c, NOW)).toBe(5);
    expect(heldOn(st, c, NOW, A)).toBe(2);
    expect(heldOn(st, c, NOW, B)).toBe(3);
    expect(heldOn(st, c, NOW, HUB)).toBe(0);
    expect(heldOn(st, c, NOW - 1)).toBe(10); // a-expired is still active a moment before
    expect(heldOn(st, c, NOW + 1)).toBe(0); // expiresAt <= now: expired
    expect(heldOn(st, undefined, NOW)).toBe(0);
  });

  it('an unreadable clock (NaN now) counts every active hold: rights are never over-stated', () => {
    const st = fixture();
    expect(heldOn(st, st.counter(S, K), NaN)).toBe(10);
    expect(rights(st, S, K, A, NaN)).toBe(10 + 4 + 2 - 1 - 3 - 2 - 5);
  });

  it('onHand is ΣP − ΣN, 0 for an unknown SKU', () => {
    const st = fixture();
    expect(onHand(st, S, K)).toBe(10 + 1 + 20 - 3 - 0 - 2);
    expect(onHand(st, S, K2)).toBe(0);
    expect(onHand(st, S2, K)).toBe(0);
  });
});

describe('unwrap and RefusedError', () => {
  it('unwrap returns an ok result as is', () => {
    const st = new InventoryState();
    const res = increment(st, { store: S, sku: K, replica: A, qty: 1 });
    expect(unwrap(res)).toBe(res);
  });

  it('unwrap throws a RefusedError carrying the refusal and its code', () => {
    const st = new InventoryState();
    const res = decrement(st, { store: S, sku: K, replica: A, qty: 1, now: NOW });
    let caught: unknown;
    try {
      unwrap(res);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RefusedError);
    expect(caught).toBeInstanceOf(Error);
    const err = caught as RefusedError;
    expect(err.code).toBe('insufficient_rights');
    expect(err.name).toBe('RefusedError');
    expect(err.refusal).toEqual(res.ok ? undefined : res.refusal);
    expect(err.message).toBe('replica agent-1 may promise 0 of SKU-A at store-1, 1 requested');
  });
});

import { describe, expect, it } from 'vitest';
import {
  availability,
  commitReservation,
  createReservation,
  decrement,
  increment,
  InventoryState,
  releaseReservation,
  replicaId,
  reservationId,
  sku,
  storeId,
  unwrap,
} from '../src/index.js';

const S = storeId('store-1');
const S2 = storeId('store-2');
const K = sku('SKU-A');
const K2 = sku('SKU-B');
const A = replicaId('agent-1');
const B = replicaId('agent-2');
const NOW = Date.UTC(2025, 0, 1);

function stocked(qtyA: number, qtyB = 0): InventoryState {
  const st = new InventoryState();
  unwrap(increment(st, { store: S, sku: K, replica: A, qty: qtyA }));
  if (qtyB > 0) unwrap(increment(st, { store: S, sku: K, replica: B, qty: qtyB }));
  return st;
}

describe('availability', () => {
  it('unknown SKU or store: all zeros', () => {
    const st = stocked(5);
    const zeros = { onHand: 0, held: 0, safetyStock: 0, availableRaw: 0, available: 0 };
    expect(availability(st, S, K2, NOW)).toEqual(zeros);
    expect(availability(st, S2, K, NOW)).toEqual(zeros);
    expect(availability(new InventoryState(), S, K, NOW)).toEqual(zeros);
    // safety stock on an unknown SKU: raw goes negative, shown stays 0
    expect(availability(st, S, K2, NOW, 3)).toEqual({ onHand: 0, held: 0, safetyStock: 3, availableRaw: -3, available: 0 });
  });

  it('on hand sums every replica: ΣP − ΣN', () => {
    const st = stocked(7, 5);
    unwrap(decrement(st, { store: S, sku: K, replica: B, qty: 2, now: NOW }));
    expect(availability(st, S, K, NOW)).toEqual({ onHand: 10, held: 0, safetyStock: 0, availableRaw: 10, available: 10 });
  });

  it('subtracts active, unexpired holds of every owner, not released, committed or expired ones', () => {
    const st = stocked(10, 10);
    unwrap(createReservation(st, { id: reservationId('a1'), store: S, sku: K, owner: A, qty: 2, expiresAt: NOW + 100, now: NOW }));
    unwrap(createReservation(st, { id: reservationId('b1'), store: S, sku: K, owner: B, qty: 3, expiresAt: NOW + 200, now: NOW }));
    unwrap(createReservation(st, { id: reservationId('a2'), store: S, sku: K, owner: A, qty: 1, expiresAt: NOW + 100, now: NOW }));
    unwrap(createReservation(st, { id: reservationId('a3'), store: S, sku: K, owner: A, qty: 4, expiresAt: NOW + 100, now: NOW }));
    unwrap(releaseReservation(st, { id: reservationId('a2'), by: A }));
    unwrap(commitReservation(st, { id: reservationId('a3'), by: A, now: NOW }));
    expect(availability(st, S, K, NOW)).toEqual({ onHand: 16, held: 5, safetyStock: 0, availableRaw: 11, available: 11 });
    expect(availability(st, S, K, NOW + 99).held).toBe(5);
    expect(availability(st, S, K, NOW + 100)).toMatchObject({ held: 3, available: 13 }); // a1 expired at expiresAt
    expect(availability(st, S, K, NOW + 200)).toMatchObject({ held: 0, available: 16 });
    // holds on another SKU do not count here
    expect(availability(st, S, K2, NOW).held).toBe(0);
  });

  it('subtracts safety stock and floors the shown value at 0 while keeping availableRaw', () => {
    const st = stocked(10);
    unwrap(createReservation(st, { id: reservationId('a1'), store: S, sku: K, owner: A, qty: 6, expiresAt: NOW + 100, now: NOW }));
    expect(availability(st, S, K, NOW, 3)).toEqual({ onHand: 10, held: 6, safetyStock: 3, availableRaw: 1, available: 1 });
    expect(availability(st, S, K, NOW, 4)).toEqual({ onHand: 10, held: 6, safetyStock: 4, availableRaw: 0, available: 0 });
    expect(availability(st, S, K, NOW, 9)).toEqual({ onHand: 10, held: 6, safetyStock: 9, availableRaw: -5, available: 0 });
    expect(availability(st, S, K, NOW).safetyStock).toBe(0);
  });

  it('after a forced sale on hand is negative, shown availability 0, raw negative', () => {
    const st = stocked(2);
    const res = unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 5, force: true, now: NOW }));
    expect(res.forced).toBe(true);
    expect(availability(st, S, K, NOW, 1)).toEqual({ onHand: -3, held: 0, safetyStock: 1, availableRaw: -4, available: 0 });
  });

  it('is a pure read: no state change', () => {
    const st = stocked(4);
    const seq = st.seq;
    const d = st.digest(S);
    availability(st, S, K2, NOW, 2);
    availability(st, S, K, NOW, 2);
    expect(st.seq).toBe(seq);
    expect(st.digest(S)).toBe(d);
    expect(st.counter(S, K2)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  ADJUSTMENT_REASONS,
  applyEventEffect,
  EVENT_TYPES,
  eventIdFor,
  foldEvents,
  InvalidEventError,
  InventoryState,
  onHand,
  replicaId,
  reservationId,
  rights,
  sku,
  storeId,
  type InventoryEvent,
} from '../src/index.js';

const S = storeId('store-1');
const K = sku('SKU-A');
const A = replicaId('agent-1');
const B = replicaId('agent-2');
const NOW = Date.UTC(2025, 0, 1);

let seq = 0;
function ev(over: Partial<InventoryEvent> & Pick<InventoryEvent, 'type' | 'qty'>): InventoryEvent {
  seq += 1;
  return { id: eventIdFor(A, seq), seq, store: S, replica: A, sku: K, at: NOW, ...over };
}

describe('applyEventEffect', () => {
  it('restock and positive adjustment add to P; sale and negative adjustment add to N', () => {
    const st = new InventoryState();
    expect(applyEventEffect(st, ev({ type: 'restock', qty: 10 })).entries).toEqual([{ store: S, sku: K, replica: A, p: 10, n: 0 }]);
    expect(applyEventEffect(st, ev({ type: 'adjustment', qty: 3, reason: 'correction' })).entries).toEqual([
      { store: S, sku: K, replica: A, p: 13, n: 0 },
    ]);
    expect(applyEventEffect(st, ev({ type: 'sale', qty: 4, forced: true })).entries).toEqual([{ store: S, sku: K, replica: A, p: 13, n: 4 }]);
    expect(applyEventEffect(st, ev({ type: 'adjustment', qty: -2, reason: 'damaged' })).entries).toEqual([
      { store: S, sku: K, replica: A, p: 13, n: 6 },
    ]);
    expect(onHand(st, S, K)).toBe(7);
  });

  it('a zero adjustment (a cycle count that matched) changes nothing', () => {
    const st = new InventoryState();
    applyEventEffect(st, ev({ type: 'restock', qty: 5 }));
    const s0 = st.seq;
    const d = applyEventEffect(st, ev({ type: 'adjustment', qty: 0, reason: 'cycle_count', count: 5 }));
    expect(d).toEqual({ entries: [], transfers: [], reservations: [] });
    expect(st.seq).toBe(s0);
    expect(onHand(st, S, K)).toBe(5);
  });

  it('hold, hold_commit and hold_release rebuild the reservation and the commit’s N', () => {
    const st = new InventoryState();
    applyEventEffect(st, ev({ type: 'restock', qty: 5 }));
    const rid = reservationId('cart-1');
    const held = applyEventEffect(st, ev({ type: 'hold', qty: 2, reservationId: rid, expiresAt: NOW + 100 }));
    expect(held.reservations).toEqual([{ id: rid, store: S, sku: K, owner: A, qty: 2, expiresAt: NOW + 100, status: 'active' }]);
    expect(rights(st, S, K, A, NOW)).toBe(3);
    const committed = applyEventEffect(st, ev({ type: 'hold_commit', qty: 2, reservationId: rid, expiresAt: NOW + 100 }));
    expect(committed.entries).toEqual([{ store: S, sku: K, replica: A, p: 5, n: 2 }]);
    expect(committed.reservations[0]?.status).toBe('committed');
    expect(onHand(st, S, K)).toBe(3);
    expect(rights(st, S, K, A, NOW)).toBe(3);

    const rid2 = reservationId('cart-2');
    applyEventEffect(st, ev({ type: 'hold', qty: 1, reservationId: rid2, expiresAt: NOW + 100 }));
    applyEventEffect(st, ev({ type: 'hold_release', qty: 1, reservationId: rid2, expiresAt: NOW + 100 }));
    expect(st.reservation(A, rid2)?.status).toBe('released');
    expect(rights(st, S, K, A, NOW)).toBe(3);
  });

  it('rights_transfer adds to the cumulative T[replica→to]', () => {
    const st = new InventoryState();
    applyEventEffect(st, ev({ type: 'restock', qty: 5 }));
    expect(applyEventEffect(st, ev({ type: 'rights_transfer', qty: 2, to: B })).transfers).toEqual([
      { store: S, sku: K, from: A, to: B, amount: 2 },
    ]);
    expect(applyEventEffect(st, ev({ type: 'rights_transfer', qty: 1, to: B })).transfers).toEqual([
      { store: S, sku: K, from: A, to: B, amount: 3 },
    ]);
    expect(rights(st, S, K, A, NOW)).toBe(2);
    expect(rights(st, S, K, B, NOW)).toBe(3);
  });

  it.each(['hold', 'hold_commit', 'hold_release'] as const)('%s without reservationId or expiresAt throws InvalidEventError', (type) => {
    const st = new InventoryState();
    for (const bad of [ev({ type, qty: 1, expiresAt: NOW }), ev({ type, qty: 1, reservationId: reservationId('x') }), ev({ type, qty: 1, reservationId: null, expiresAt: null })]) {
      let caught: unknown;
      try {
        applyEventEffect(st, bad);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidEventError);
      expect((caught as InvalidEventError).code).toBe('invalid_event');
      expect((caught as InvalidEventError).eventId).toBe(bad.id);
    }
    expect([...st.reservations()]).toEqual([]);
    expect(onHand(st, S, K)).toBe(0);
  });

  it('rights_transfer without `to` throws InvalidEventError', () => {
    const st = new InventoryState();
    const bad = ev({ type: 'rights_transfer', qty: 1 });
    expect(() => applyEventEffect(st, bad)).toThrow(InvalidEventError);
    expect(() => applyEventEffect(st, bad)).toThrow(`event ${bad.id}: rights_transfer needs \`to\``);
    expect(st.toDelta().transfers).toEqual([]);
  });
});

describe('foldEvents', () => {
  it('folds a log into a fresh state, or into a given one', () => {
    const log = [ev({ type: 'restock', qty: 5 }), ev({ type: 'sale', qty: 2 }), ev({ type: 'rights_transfer', qty: 1, to: B })];
    const st = foldEvents(log);
    expect(onHand(st, S, K)).toBe(3);
    expect(rights(st, S, K, A, NOW)).toBe(2);
    const into = new InventoryState();
    expect(foldEvents(log, into)).toBe(into);
    expect(into.digest(S)).toBe(st.digest(S));
    expect(foldEvents([]).toDelta()).toEqual({ entries: [], transfers: [], reservations: [] });
  });

  it('event types and adjustment reasons are the documented ones', () => {
    expect([...EVENT_TYPES]).toEqual(['sale', 'restock', 'adjustment', 'hold', 'hold_commit', 'hold_release', 'rights_transfer', 'hold_expire']);
    expect([...ADJUSTMENT_REASONS]).toEqual(['damaged', 'shrinkage', 'correction', 'cycle_count', 'transfer', 'other']);
  });
});

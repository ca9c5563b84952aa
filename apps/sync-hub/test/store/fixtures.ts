import {
  eventIdFor,
  replicaId,
  reservationId,
  sku,
  storeId,
  type CounterEntry,
  type Delta,
  type InventoryEvent,
  type ReservationRecord,
  type ReservationStatus,
  type TransferEntry,
} from '@scoville/crdt-inventory';
import type { CommitItem } from '../../src/store/inventory-store.js';

/** Ids, entries and events the storage suites share. */

export const S1 = storeId('store-1');
export const S2 = storeId('store-2');
export const A = replicaId('agent-a');
export const B = replicaId('agent-b');
export const H = replicaId('hub-1');
export const K1 = sku('SKU-1');
export const K2 = sku('SKU-2');

export const entry = (store: typeof S1, k: typeof K1, replica: typeof A, p: number, n: number): CounterEntry => ({ store, sku: k, replica, p, n });
export const transfer = (store: typeof S1, k: typeof K1, from: typeof A, to: typeof A, amount: number): TransferEntry => ({
  store,
  sku: k,
  from,
  to,
  amount,
});
export const hold = (id: string, status: ReservationStatus, owner = H): ReservationRecord => ({
  id: reservationId(id),
  store: S1,
  sku: K1,
  owner,
  qty: 2,
  expiresAt: 1_700_000_900_000,
  status,
});
export const delta = (d: Partial<Delta>): Delta => ({ entries: d.entries ?? [], transfers: d.transfers ?? [], reservations: d.reservations ?? [] });
export const item = (d: Partial<Delta>, events: InventoryEvent[] = [], from?: CommitItem['from']): CommitItem =>
  from === undefined ? { delta: delta(d), events } : { delta: delta(d), events, from };

export function sale(replica: typeof A, seq: number, extra: Partial<InventoryEvent> = {}): InventoryEvent {
  return {
    id: eventIdFor(replica, seq),
    store: S1,
    replica,
    seq,
    type: 'sale',
    sku: K1,
    qty: 1,
    at: 1_700_000_000_000 + seq,
    ...extra,
  };
}

export const byKey = <T>(key: (x: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
export const sortDelta = (d: Delta): Delta => ({
  entries: [...d.entries].sort(byKey((e) => `${e.store} ${e.sku} ${e.replica}`)),
  transfers: [...d.transfers].sort(byKey((t) => `${t.store} ${t.sku} ${t.from} ${t.to}`)),
  reservations: [...d.reservations].sort(byKey((r) => `${r.store} ${r.id}`)),
});

import type { ReplicaId, ReservationId, Sku, StoreId } from './ids.js';

/**
 * The entries of the CRDT in their wire/storage shape. Every entry is written
 * by exactly one replica and only ever grows, so merging two copies of an
 * entry is taking the maximum (for reservations: the later status).
 */

/** P[replica] and N[replica] of the counter (store, sku). */
export interface CounterEntry {
  store: StoreId;
  sku: Sku;
  replica: ReplicaId;
  /** Total units this replica ever added. */
  p: number;
  /** Total units this replica ever removed. */
  n: number;
}

/** T[from→to] of the counter (store, sku): rights `from` handed to `to`, in total. */
export interface TransferEntry {
  store: StoreId;
  sku: Sku;
  from: ReplicaId;
  to: ReplicaId;
  amount: number;
}

export type ReservationStatus = 'active' | 'committed' | 'released';

/** A cart hold. Only `owner` ever changes it; status moves forward only. */
export interface ReservationRecord {
  id: ReservationId;
  store: StoreId;
  sku: Sku;
  owner: ReplicaId;
  qty: number;
  /** Epoch milliseconds; the hold is expired when expiresAt <= now. */
  expiresAt: number;
  status: ReservationStatus;
}

/**
 * A delta state: a set of entries. A delta from one mutation, a batch of many,
 * the changes since a sequence number and a full state all have this shape.
 */
export interface Delta {
  entries: CounterEntry[];
  transfers: TransferEntry[];
  reservations: ReservationRecord[];
}

export function emptyDelta(): Delta {
  return { entries: [], transfers: [], reservations: [] };
}

export function isEmptyDelta(d: Delta): boolean {
  return d.entries.length === 0 && d.transfers.length === 0 && d.reservations.length === 0;
}

/** Rank of a status: a record can only move to a higher rank. */
export function statusRank(status: ReservationStatus): number {
  // committed > released so that two conflicting terminal states (which only
  // a buggy owner could produce) still merge deterministically.
  return status === 'active' ? 0 : status === 'released' ? 1 : 2;
}

/** Only the entries `replica` wrote (its P/N, transfers from it, reservations it owns). */
export function deltaOf(d: Delta, replica: ReplicaId): Delta {
  return {
    entries: d.entries.filter((e) => e.replica === replica),
    transfers: d.transfers.filter((t) => t.from === replica),
    reservations: d.reservations.filter((r) => r.owner === replica),
  };
}

/** Everything but the entries `replica` wrote. */
export function deltaWithout(d: Delta, replica: ReplicaId): Delta {
  return {
    entries: d.entries.filter((e) => e.replica !== replica),
    transfers: d.transfers.filter((t) => t.from !== replica),
    reservations: d.reservations.filter((r) => r.owner !== replica),
  };
}

/** Only the items of one store. */
export function deltaOfStore(d: Delta, store: StoreId): Delta {
  return {
    entries: d.entries.filter((e) => e.store === store),
    transfers: d.transfers.filter((t) => t.store === store),
    reservations: d.reservations.filter((r) => r.store === store),
  };
}

/** Splits a delta into parts of at most `size` items each (in order: entries, transfers, reservations). */
export function chunkDelta(d: Delta, size: number): Delta[] {
  const out: Delta[] = [];
  let part = emptyDelta();
  let n = 0;
  const push = (add: (p: Delta) => void) => {
    if (n === size) {
      out.push(part);
      part = emptyDelta();
      n = 0;
    }
    add(part);
    n++;
  };
  for (const e of d.entries) push((p) => p.entries.push(e));
  for (const t of d.transfers) push((p) => p.transfers.push(t));
  for (const r of d.reservations) push((p) => p.reservations.push(r));
  if (n > 0) out.push(part);
  return out;
}

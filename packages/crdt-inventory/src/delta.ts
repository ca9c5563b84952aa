import type { ReplicaId, ReservationId, Sku, StoreId } from './ids.js';
import { isInstant, isTotal, MAX_TOTAL } from './quantity.js';

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

/** Every reservation status, in merge order (see statusRank). */
export const RESERVATION_STATUSES = ['active', 'expired', 'released', 'committed'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/**
 * A cart hold. Only `owner` ever changes it; status moves forward only.
 * Identified by (owner, id): two replicas may pick the same id.
 */
export interface ReservationRecord {
  /** Unique among the owner's reservations (not globally). */
  id: ReservationId;
  store: StoreId;
  sku: Sku;
  owner: ReplicaId;
  qty: number;
  /**
   * Epoch milliseconds; the hold has lapsed when expiresAt <= now. A lapsed
   * hold keeps counting against the owner's rights until the owner records
   * status 'expired' (see operations.ts): only a recorded expiry is a fact
   * every replica sees, whatever its clock says.
   */
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

/**
 * Rank of a status: a record can only move to a higher rank.
 * active 0 < expired 1 < released 2 < committed 3.
 *
 * Every terminal status frees the hold, and a correct owner writes at most
 * one of them (an expired or released hold can no longer be committed or
 * released), so the order among them only decides what a buggy owner's
 * conflicting records merge to, deterministically. It follows how much each
 * says happened: committed (a sale, whose N the owner's entry already
 * counts) over released (an explicit act of the owner) over expired (a lapse
 * the owner merely recorded).
 */
export function statusRank(status: ReservationStatus): number {
  switch (status) {
    case 'active':
      return 0;
    case 'expired':
      return 1;
    case 'released':
      return 2;
    case 'committed':
      return 3;
  }
}

// ---------------------------------------------------------------------------
// Validation: a delta comes from peers and disks, so it is checked, never trusted
// ---------------------------------------------------------------------------

const isName = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const STATUS_SET: ReadonlySet<unknown> = new Set(RESERVATION_STATUSES);
const TOTAL_RULE = `a whole number in [0, ${MAX_TOTAL}]`;

/** Why a counter entry cannot be stored, or null when it can. */
export function entryProblem(e: CounterEntry): string | null {
  if (!isName(e.store) || !isName(e.sku) || !isName(e.replica)) return 'store, sku and replica must be non-empty strings';
  if (!isTotal(e.p)) return `p=${String(e.p)} is not ${TOTAL_RULE}`;
  if (!isTotal(e.n)) return `n=${String(e.n)} is not ${TOTAL_RULE}`;
  return null;
}

/** Why a transfer entry cannot be stored, or null when it can. */
export function transferProblem(t: TransferEntry): string | null {
  if (!isName(t.store) || !isName(t.sku) || !isName(t.from) || !isName(t.to)) return 'store, sku, from and to must be non-empty strings';
  if (t.from === t.to) return `a transfer from ${t.from} to itself`;
  if (!isTotal(t.amount)) return `amount=${String(t.amount)} is not ${TOTAL_RULE}`;
  return null;
}

/** Why a reservation record cannot be stored, or null when it can. */
export function reservationProblem(r: ReservationRecord): string | null {
  if (!isName(r.id) || !isName(r.store) || !isName(r.sku) || !isName(r.owner)) return 'id, store, sku and owner must be non-empty strings';
  if (!isTotal(r.qty) || r.qty === 0) return `qty=${String(r.qty)} is not a whole number in [1, ${MAX_TOTAL}]`;
  if (!isInstant(r.expiresAt)) return `expiresAt=${String(r.expiresAt)} is not a whole number of epoch ms ≥ 0`;
  if (!STATUS_SET.has(r.status)) return `unknown status ${JSON.stringify(r.status)}`;
  return null;
}

/**
 * The first item of `d` that InventoryState.applyDelta would ignore as
 * invalid, as `entries[i]: why` (or transfers[i], reservations[i]); null
 * when every item is valid. applyDelta drops invalid items silently (the
 * valid rest still merges); a receiver that wants to report or refuse a bad
 * delta asks here.
 */
export function validateDelta(d: Delta): string | null {
  for (let i = 0; i < d.entries.length; i++) {
    const p = entryProblem(d.entries[i]!);
    if (p !== null) return `entries[${i}]: ${p}`;
  }
  for (let i = 0; i < d.transfers.length; i++) {
    const p = transferProblem(d.transfers[i]!);
    if (p !== null) return `transfers[${i}]: ${p}`;
  }
  for (let i = 0; i < d.reservations.length; i++) {
    const p = reservationProblem(d.reservations[i]!);
    if (p !== null) return `reservations[${i}]: ${p}`;
  }
  return null;
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

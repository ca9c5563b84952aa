import { emptyDelta, type Delta, type ReservationStatus } from './delta.js';
import type { EventId, ReplicaId, ReservationId, Sku, StoreId } from './ids.js';
import { InventoryState } from './state.js';

/** `hold_expire`: the owner recorded that its hold lapsed (status 'expired'). */
export const EVENT_TYPES = ['sale', 'restock', 'adjustment', 'hold', 'hold_commit', 'hold_release', 'rights_transfer', 'hold_expire'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const ADJUSTMENT_REASONS = ['damaged', 'shrinkage', 'correction', 'cycle_count', 'transfer', 'other'] as const;
export type AdjustmentReason = (typeof ADJUSTMENT_REASONS)[number];

/**
 * One fact in a replica's append-only log. The replica's CRDT entries are,
 * by definition, the fold of its events (`foldEvents`); both apps verify it.
 */
export interface InventoryEvent {
  /** Globally unique: `${replica}:${seq}`. Stored exactly once at the hub. */
  id: EventId;
  store: StoreId;
  replica: ReplicaId;
  /** Position in the replica's log, 1, 2, 3, ... */
  seq: number;
  type: EventType;
  sku: Sku;
  /**
   * Units: positive for every type except `adjustment`, where the sign says
   * the direction (+ found/corrected up, − damaged/shrinkage).
   */
  qty: number;
  /** Epoch milliseconds at the replica that recorded it. */
  at: number;
  idempotencyKey?: string | null;
  terminal?: string | null;
  reason?: AdjustmentReason | null;
  /** A sale recorded without rights (the CRDT shows a deficit). */
  forced?: boolean;
  /** For cycle counts: the absolute count the adjustment reached. */
  count?: number | null;
  /** For hold, hold_commit, hold_release, hold_expire. */
  reservationId?: ReservationId | null;
  /** For hold and its follow-ups: when the hold lapses. */
  expiresAt?: number | null;
  /** For rights_transfer: the receiving replica. */
  to?: ReplicaId | null;
}

export class InvalidEventError extends Error {
  readonly code = 'invalid_event';
  constructor(
    readonly eventId: string,
    reason: string,
  ) {
    super(`event ${eventId}: ${reason}`);
    this.name = 'InvalidEventError';
  }
}

/**
 * Applies an event's effect to the replica's own entries without checking
 * rights: the event already happened. Returns the delta it produced.
 */
export function applyEventEffect(state: InventoryState, e: InventoryEvent): Delta {
  const delta = emptyDelta();
  const c = state.counterFor(e.store, e.sku);
  const r = state.replicaNumber(e.replica);
  const addPN = (dp: number, dn: number): void => {
    const p = c.p(r) + dp;
    const n = c.n(r) + dn;
    c.mergePN(r, p, n);
    state.touch(c);
    delta.entries.push({ store: e.store, sku: e.sku, replica: e.replica, p, n });
  };
  const hold = (status: ReservationStatus): void => {
    if (e.reservationId == null || e.expiresAt == null) throw new InvalidEventError(e.id, `${e.type} needs reservationId and expiresAt`);
    const rec = { id: e.reservationId, store: e.store, sku: e.sku, owner: e.replica, qty: e.qty, expiresAt: e.expiresAt, status };
    state.mergeReservation(rec);
    delta.reservations.push(rec);
  };
  switch (e.type) {
    case 'sale':
      addPN(0, e.qty);
      break;
    case 'restock':
      addPN(e.qty, 0);
      break;
    case 'adjustment':
      if (e.qty > 0) addPN(e.qty, 0);
      else if (e.qty < 0) addPN(0, -e.qty);
      break;
    case 'hold':
      hold('active');
      break;
    case 'hold_commit':
      hold('committed');
      addPN(0, e.qty);
      break;
    case 'hold_release':
      hold('released');
      break;
    case 'hold_expire':
      hold('expired');
      break;
    case 'rights_transfer': {
      if (e.to == null) throw new InvalidEventError(e.id, 'rights_transfer needs `to`');
      const t = state.replicaNumber(e.to);
      const amount = c.transfer(r, t) + e.qty;
      c.mergeTransfer(r, t, amount);
      state.touch(c);
      delta.transfers.push({ store: e.store, sku: e.sku, from: e.replica, to: e.to, amount });
      break;
    }
  }
  return delta;
}

/** state = fold(event log): rebuilds the entries the events' replicas wrote. */
export function foldEvents(events: Iterable<InventoryEvent>, into = new InventoryState()): InventoryState {
  for (const e of events) applyEventEffect(into, e);
  return into;
}

export function eventIdFor(replica: ReplicaId, seq: number): EventId {
  return `${replica}:${seq}` as EventId;
}

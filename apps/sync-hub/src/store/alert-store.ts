import type { Sku, StoreId } from '@scoville/crdt-inventory';

/**
 * Operational alerts about one counter (store, SKU), durable with their
 * history: an alert is raised, stays open while its condition holds, and is
 * cleared (kept, with `clearedAt`). At most one alert of a kind is open per
 * (store, SKU): raising it again only refreshes its detail.
 *
 * Kinds: `oversell` (alerts/oversell.ts): more units promised in holds than
 * the store has on hand. A later operations issue adds more kinds.
 *
 * One hub process writes alerts at a time (`lead`); the writes are
 * idempotent, so a second writer during a hand-over does no harm.
 */

export type AlertKind = 'oversell';

export interface Alert {
  id: number;
  kind: AlertKind;
  store: StoreId;
  sku: Sku;
  /** Epoch ms. */
  raisedAt: number;
  /** Epoch ms; null while open. */
  clearedAt: number | null;
  detail: Record<string, unknown>;
}

export interface RaiseAlert {
  kind: AlertKind;
  store: StoreId;
  sku: Sku;
  at: number;
  detail: Record<string, unknown>;
}

export interface AlertStore {
  /**
   * Opens the alert, or, when one of this (kind, store, sku) is open, replaces
   * its detail (raisedAt unchanged). `raised`: true when it was newly opened.
   */
  raise(alert: RaiseAlert): Promise<{ alert: Alert; raised: boolean }>;
  /** Clears the open alert of (kind, store, sku) at `at`; false when none was open. */
  clear(kind: AlertKind, store: StoreId, sku: Sku, at: number): Promise<boolean>;
  /** Newest raised first; `open`: only open (true) or only cleared (false) ones. */
  list(opts?: { open?: boolean; limit?: number }): Promise<Alert[]>;
  /**
   * Takes or renews the alert-writer lease for `ttlMs`: true when `replica`
   * holds it (it was free, lapsed, or already `replica`'s).
   */
  lead(replica: string, now: number, ttlMs: number): Promise<boolean>;
}

import type { Sku, StoreId } from '@scoville/crdt-inventory';

/**
 * What replenishment reads from the event log: units sold per SKU at one
 * store over the last 1, 7 and 28 days (event time, `at`), counting `sale`
 * and `hold_commit` events (a till sale and an online cart's committed
 * hold). Index `events_sold` (hub migration 10) keeps it a range scan of
 * the store's last 28 days.
 */

export const DAY_MS = 86_400_000;

export interface SoldUnits {
  sku: Sku;
  /** Units sold in (now − 1 day, now]. */
  d1: number;
  d7: number;
  d28: number;
}

export interface ReplenishmentStore {
  /** SKUs with at least one sale in the last 28 days before `now`. */
  soldUnits(store: StoreId, now: number): Promise<SoldUnits[]>;
}

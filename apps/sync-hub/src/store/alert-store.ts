import type { Sku, StoreId } from '@scoville/crdt-inventory';

/**
 * Operational alerts about one counter (store, SKU), durable with their
 * history: an alert is raised, stays open while its condition holds, and is
 * cleared (kept, with `clearedAt`). At most one alert of a kind is open per
 * (store, SKU): raising it again only refreshes its detail.
 *
 * Kinds: `oversell` (alerts/oversell.ts): more units promised in holds than
 * the store has on hand. The rest (alerts/ops-alerts.ts): `low_stock` and
 * `out_of_stock` per (store, SKU), and in aggregate with store `*`;
 * `store_offline` and `holds_expiring` per store (sku ''); `replica_refused`
 * per (store, replica id in the sku column).
 *
 * One hub process writes alerts at a time (`lead`); the writes are
 * idempotent, so a second writer during a hand-over does no harm.
 *
 * Also kept here, for the alert writer: when each store was last seen
 * online by any hub process (`seen`/`lastSeen`), and the alert webhook
 * (URL and signing secret, stored in plain: docs/decisions.md 25).
 */

export const ALERT_KINDS = ['oversell', 'low_stock', 'out_of_stock', 'store_offline', 'holds_expiring', 'replica_refused'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** The store id of aggregate alerts (across every store); not a valid store id. */
export const ALL_STORES = '*' as StoreId;

export interface AlertWebhook {
  url: string;
  /** HMAC-SHA256 key of `X-Scoville-Signature`; null: deliveries are unsigned. */
  secret: string | null;
  updatedAt: number;
}

export interface ListAlerts {
  /** Only open (true) or only cleared (false) ones. */
  open?: boolean;
  kind?: AlertKind;
  store?: StoreId;
  limit?: number;
}

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
  list(opts?: ListAlerts): Promise<Alert[]>;
  /** Open alerts by kind, every kind present (0 when none): for metrics. */
  countOpen(): Promise<Record<AlertKind, number>>;
  /**
   * Takes or renews the alert-writer lease for `ttlMs`: true when `replica`
   * holds it (it was free, lapsed, or already `replica`'s).
   */
  lead(replica: string, now: number, ttlMs: number): Promise<boolean>;
  /** Records that these stores had an agent online at `at` (a later time never goes back). */
  seen(stores: readonly StoreId[], at: number): Promise<void>;
  /** When each store was last seen online; stores never seen are absent. */
  lastSeen(): Promise<Map<StoreId, number>>;
  /** The alert webhook, or null when none is set. */
  webhook(): Promise<AlertWebhook | null>;
  /** Sets (or, with null, removes) the alert webhook. */
  setWebhook(hook: { url: string; secret: string | null } | null, at: number): Promise<void>;
}

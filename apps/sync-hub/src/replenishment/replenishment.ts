import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { StoreStock } from '../storefront/views.js';
import type { ReplenishmentStore, SoldUnits } from '../store/replenishment-store.js';

export const DEFAULT_TARGET_DAYS = 14;

/** One SKU of a store's replenishment list. */
export interface ReplenishmentLine {
  sku: Sku;
  onHand: number;
  held: number;
  safetyStock: number;
  /** What can still be sold or promised (storefront `available`). */
  available: number;
  /** Units per day over the last 1, 7 and 28 days. */
  velocity: { d1: number; d7: number; d28: number };
  /** The rate cover is computed with: the 7-day rate, else the 28-day one (0: no sale in 28 days). */
  rate: number;
  /** available / rate, in days (1 decimal); null when nothing sells. */
  daysOfCover: number | null;
  /** Units to order so that `available` covers `targetDays` at `rate`. */
  suggestedQty: number;
}

export interface Replenishment {
  storeId: StoreId;
  targetDays: number;
  /** ISO time the velocities end at. */
  asOf: string;
  /** Runs out first first; SKUs that do not sell last. */
  lines: ReplenishmentLine[];
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** The list from units sold and current stock (pure). */
export function replenishment(store: StoreId, sold: readonly SoldUnits[], stock: readonly StoreStock[], targetDays: number, now: number): Replenishment {
  const bySku = new Map(sold.map((s) => [s.sku, s]));
  const skus = new Set<Sku>([...stock.map((s) => s.sku), ...bySku.keys()]);
  const stockOf = new Map(stock.map((s) => [s.sku, s]));
  const lines: ReplenishmentLine[] = [...skus].map((sku) => {
    const st = stockOf.get(sku);
    const u = bySku.get(sku) ?? { d1: 0, d7: 0, d28: 0 };
    const velocity = { d1: u.d1, d7: round(u.d7 / 7, 3), d28: round(u.d28 / 28, 3) };
    const rate = u.d7 > 0 ? u.d7 / 7 : u.d28 / 28;
    const available = st?.available ?? 0;
    return {
      sku,
      onHand: st?.onHand ?? 0,
      held: st?.held ?? 0,
      safetyStock: st?.safetyStock ?? 0,
      available,
      velocity,
      rate: round(rate, 3),
      daysOfCover: rate > 0 ? round(available / rate, 1) : null,
      suggestedQty: rate > 0 ? Math.max(0, Math.ceil(rate * targetDays - available)) : 0,
    };
  });
  lines.sort((a, b) => {
    const ca = a.daysOfCover ?? Infinity;
    const cb = b.daysOfCover ?? Infinity;
    return ca - cb || b.rate - a.rate || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0);
  });
  return { storeId: store, targetDays, asOf: new Date(now).toISOString(), lines };
}

/** Reads units sold and builds the list against `stock` (the storefront's view of the store's counters). */
export async function storeReplenishment(
  store: StoreId,
  deps: { replenishment: ReplenishmentStore; stock: (store: StoreId) => StoreStock[]; now: number },
  targetDays = DEFAULT_TARGET_DAYS,
): Promise<Replenishment> {
  const sold = await deps.replenishment.soldUnits(store, deps.now);
  return replenishment(store, sold, deps.stock(store), targetDays, deps.now);
}

/** The table `sync-hub replenishment` prints. */
export function replenishmentTable(r: Replenishment): string {
  const head = ['sku', 'available', 'on hand', 'held', '/day 1d', '/day 7d', '/day 28d', 'cover (days)', `order (→ ${r.targetDays} d)`];
  const rows = r.lines.map((l) => [l.sku, l.available, l.onHand, l.held, l.velocity.d1, l.velocity.d7, l.velocity.d28, l.daysOfCover ?? '-', l.suggestedQty].map(String));
  if (rows.length === 0) return `store ${r.storeId}: no stock and no sales in the last 28 days`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [`store ${r.storeId}, as of ${r.asOf}, target ${r.targetDays} days of cover`, line(head), ...rows.map(line)].join('\n');
}

import type { Sku, StoreId } from '@scoville/crdt-inventory';

/** What a cell needs of a counter: whether it has active holds (InventoryState's Counter). */
export interface HoldsOf {
  readonly holds: readonly unknown[] | null;
}

/** What the sums say of a SKU; `held`: the stores to read afresh and add to `available`. */
export interface SumsView {
  /** `available` of the counted cells without holds. */
  readonly available: number;
  /** Counted cells with a threshold (0: the aggregate has none), and the sum of those thresholds. */
  readonly thresholds: number;
  readonly threshold: number;
  readonly held: ReadonlySet<StoreId> | null;
}

/** One SKU's sums over its counted cells. */
interface Sums extends SumsView {
  cells: number;
  /** Counted cells not fresh. */
  stale: number;
  /** Counted cells with a value that is not a small integer. */
  odd: number;
  available: number;
  thresholds: number;
  threshold: number;
  held: Set<StoreId> | null;
}

/**
 * One (store, SKU) as OpsAlerts tracks it: whether it waits to be checked,
 * and what the per-store check last computed. Held by reference in the list
 * of counters to check, so neither a check nor a mark looks anything up.
 */
export interface Cell {
  readonly store: StoreId;
  readonly sku: Sku;
  /** In OpsAlerts' list of counters to check. */
  marked: boolean;
  /** The counter, once a `put` found it (counters are never removed); from then on the figures are in the SKU's sums. */
  counter: HoldsOf | null;
  /** Nothing feeding the figures changed since they were put (a change makes it stale first, synchronously). */
  fresh: boolean;
  /** The counter had active holds: `available` moves as they lapse, with no change to mark it, so it is read afresh, not summed. */
  holds: boolean;
  /** A value the sums cannot carry exactly: the SKU is recomputed. */
  odd: boolean;
  available: number;
  threshold: number | null;
  readonly sums: Sums;
}

/**
 * Whole numbers this small join and leave a sum exactly in any order: the
 * from-scratch sum is then the same number whatever the store order, for up
 * to 2^22 stores. Fractions (a fractional threshold or safety stock in a
 * document), NaN and huge values are not summed: their SKU is recomputed.
 */
const SMALL = 0x7fffffff;
export const exact = (v: number): boolean => Number.isInteger(v) && v <= SMALL && v >= -SMALL;

/**
 * Per-SKU sums of the per-store figures the cross-store alerts need
 * (`available`, low-stock threshold), kept by difference as the per-store
 * checks compute them, so a dirty SKU costs O(1) instead of a walk of every
 * store that holds it.
 *
 * The sums are used only when every counted cell of the SKU is fresh, exact,
 * and there is one per store that holds the SKU (`usable`); otherwise the
 * caller recomputes the SKU from scratch and `put`s every store.
 */
export class StockSums {
  private readonly cells = new Map<StoreId, Map<Sku, Cell>>();
  private readonly sums = new Map<Sku, Sums>();

  /** @param counterOf The counter of (store, sku), if it exists. */
  constructor(private readonly counterOf: (store: StoreId, sku: Sku) => HoldsOf | undefined) {}

  /** The cell of (store, sku), made on first use. */
  cell(store: StoreId, sku: Sku): Cell {
    let bySku = this.cells.get(store);
    if (bySku === undefined) this.cells.set(store, (bySku = new Map()));
    let c = bySku.get(sku);
    if (c !== undefined) return c;
    let sums = this.sums.get(sku);
    if (sums === undefined) this.sums.set(sku, (sums = { cells: 0, stale: 0, odd: 0, available: 0, thresholds: 0, threshold: 0, held: null }));
    bySku.set(sku, (c = { store, sku, marked: false, counter: null, fresh: false, holds: false, odd: false, available: 0, threshold: null, sums }));
    return c;
  }

  /** Something that feeds the cell changed: its figures no longer count until `put` again. */
  stale(c: Cell): void {
    if (c.counter === null || !c.fresh) return;
    c.fresh = false;
    c.sums.stale++;
  }

  /** The cell's figures as just computed from the state and documents (not counted while its counter does not exist). */
  put(c: Cell, available: number, threshold: number | null): void {
    const s = c.sums;
    if (c.counter === null) {
      if ((c.counter = this.counterOf(c.store, c.sku) ?? null) === null) return;
      s.cells++;
    } else {
      if (!c.fresh) s.stale--;
      leave(s, c);
    }
    c.available = available;
    c.threshold = threshold;
    c.holds = c.counter.holds !== null;
    c.fresh = true;
    c.odd = !exact(available) || (threshold !== null && !exact(threshold));
    join(s, c);
  }

  /**
   * The sums of `sku` when they stand for all of its `stores` counters (one
   * fresh, exact cell each), else null: recompute. Only cells of counters
   * that exist are counted, and counters are never removed, so as many
   * counted cells as stores are the same stores.
   */
  usable(sku: Sku, stores: number): SumsView | null {
    const s = this.sums.get(sku);
    return s === undefined || s.cells !== stores || s.stale !== 0 || s.odd !== 0 ? null : s;
  }

  /**
   * Counters a check of `sku` will likely read, asked before the flush
   * checks its counters (their cells stale until then): 1 plus the stores
   * with holds when every store has a cell, else every store.
   */
  cost(sku: Sku, stores: number): number {
    const s = this.sums.get(sku);
    return s === undefined || s.cells !== stores || s.odd !== 0 ? Math.max(1, stores) : 1 + (s.held?.size ?? 0);
  }
}

function leave(s: Sums, c: Cell): void {
  if (c.odd) {
    s.odd--;
    return;
  }
  if (c.holds) {
    s.held!.delete(c.store);
    if (s.held!.size === 0) s.held = null;
  } else s.available -= c.available;
  if (c.threshold !== null) {
    s.thresholds--;
    s.threshold -= c.threshold;
  }
}

function join(s: Sums, c: Cell): void {
  if (c.odd) {
    s.odd++;
    return;
  }
  if (c.holds) (s.held ??= new Set()).add(c.store);
  else s.available += c.available;
  if (c.threshold !== null) {
    s.thresholds++;
    s.threshold += c.threshold;
  }
}

import { randomBytes } from 'node:crypto';
import { heldOn, type Counter, type Sku, type StoreId } from '@scoville/crdt-inventory';
import type { HubState } from '../state/hub-state.js';

/** One SKU at one store, as the storefront sees it. */
export interface StoreStock extends StockLevels {
  storeId: StoreId;
  sku: Sku;
  /** An agent of this store is connected to this hub process. */
  online: boolean;
  /** When this hub process last applied a change to the counter (ISO), or null if not since it started. */
  updatedAt: string | null;
}

/** A (store, SKU)'s figures. */
export interface StockLevels {
  /** ΣP − ΣN; negative after forced sales beyond stock (never clamped here). */
  onHand: number;
  /** Units in active, unlapsed holds. */
  held: number;
  safetyStock: number;
  /** onHand − held − safetyStock, floored at 0: what can still be promised. */
  available: number;
  /** How far onHand − held is below zero (0 when it is not): a visible oversell. */
  deficit: number;
}

/**
 * A SKU across stores. `available` is the sum of the per-store `available`
 * (each floored at 0): a deficit at one store never hides stock another
 * store can promise; deficits are shown separately in `deficit`.
 */
export interface SkuStock {
  sku: Sku;
  onHand: number;
  held: number;
  available: number;
  deficit: number;
  stores: StoreStock[];
}

export interface ViewDeps {
  state: HubState;
  isOnline: (store: StoreId) => boolean;
  clock: () => number;
  /** Safety stock per (store, sku); 0 until the catalog lands at the hub. */
  safetyStock?: (store: StoreId, sku: Sku) => number;
}

/**
 * Read models and their validators. An ETag is derived from the state's
 * change position, not from the body: `"<epoch>.<seq>.<presence>.<lapsed>"`
 * where epoch is random per process start (sequence numbers restart with
 * the process), seq the newest change among the counters read, presence a
 * counter of online/offline changes, and lapsed the number of those
 * counters' holds that have lapsed but are not yet recorded expired
 * (availability already excludes them, before any seq moves).
 */
export class StockViews {
  private readonly epoch = randomBytes(4).toString('hex');
  private presence = 0;
  /**
   * store → SKU → when this process last applied a change to it: nested (no
   * key string per change), one shared stamp per apply (an epoch-ms number
   * in a Map is a heap number each time).
   */
  private readonly changedAt = new Map<StoreId, Map<Sku, Stamp>>();
  private skuIndex: Sku[] | null = null;
  private readonly knownSkus = new Set<Sku>();

  constructor(private readonly deps: ViewDeps) {
    for (const store of deps.state.state.storeIds()) for (const sku of deps.state.state.skus(store)) this.knownSkus.add(sku);
    deps.state.onChange((changes) => {
      const now = { at: deps.clock() };
      for (const ch of changes) {
        let at = this.changedAt.get(ch.store);
        if (at === undefined) this.changedAt.set(ch.store, (at = new Map()));
        const d = ch.delta;
        for (const e of d.entries) this.changed(at, e.sku, now);
        for (const t of d.transfers) this.changed(at, t.sku, now);
        for (const r of d.reservations) this.changed(at, r.sku, now);
      }
    });
  }

  private changed(at: Map<Sku, Stamp>, sku: Sku, now: Stamp): void {
    at.set(sku, now);
    if (!this.knownSkus.has(sku)) {
      this.knownSkus.add(sku);
      this.skuIndex = null;
    }
  }

  /** Call when a store goes online or offline. */
  presenceChanged(): void {
    this.presence++;
  }

  /** Call when safety stock may have changed (the catalog or a store's settings): every ETag changes. */
  settingsChanged(): void {
    this.presence++;
  }

  storeStock(store: StoreId, sku: Sku): StoreStock {
    const c = this.counter(store, sku);
    return storeStockOf(store, sku, c?.onHand() ?? 0, this.heldOf(c), this.safetyStock(store, sku), this.isOnline(store), this.changedAtOf(store, sku));
  }

  /** The figures alone (no presence, no change time): what the alert checks need, cheaper. */
  levels(store: StoreId, sku: Sku): StockLevels {
    const c = this.counter(store, sku);
    return levelsOf(c?.onHand() ?? 0, this.heldOf(c), this.safetyStock(store, sku));
  }

  counter(store: StoreId, sku: Sku): Counter | undefined {
    return this.deps.state.state.counter(store, sku);
  }

  /** Held units as `levels` counts them, without building anything (the feed takes the figures, builds the view when read). */
  heldOf(c: Counter | undefined): number {
    return heldOn(this.deps.state.state, c, this.deps.clock());
  }

  safetyStock(store: StoreId, sku: Sku): number {
    return this.deps.safetyStock?.(store, sku) ?? 0;
  }

  isOnline(store: StoreId): boolean {
    return this.deps.isOnline(store);
  }

  /** When this process last applied a change to the counter (epoch ms), if it did. */
  changedAtOf(store: StoreId, sku: Sku): number | undefined {
    return this.changedAt.get(store)?.get(sku)?.at;
  }

  /** Stores that have a counter for `sku`, sorted. */
  storesOf(sku: Sku, only?: StoreId): StoreId[] {
    if (only !== undefined) return this.deps.state.state.counter(only, sku) !== undefined ? [only] : [];
    // The hub state's SKU → stores index, not a walk over every store.
    return [...this.deps.state.storesOf(sku)].sort();
  }

  skuStock(sku: Sku, only?: StoreId): SkuStock {
    const stores = this.storesOf(sku, only).map((st) => this.storeStock(st, sku));
    const sum = (f: 'onHand' | 'held' | 'available' | 'deficit') => stores.reduce((a, x) => a + x[f], 0);
    return { sku, onHand: sum('onHand'), held: sum('held'), available: sum('available'), deficit: sum('deficit'), stores };
  }

  /** Every SKU any store carries, sorted (rebuilt only when a new SKU appears). */
  allSkus(): Sku[] {
    this.skuIndex ??= [...this.knownSkus].sort();
    return this.skuIndex;
  }

  /** The SKUs a store has a counter for, sorted. */
  skusOf(store: StoreId): Sku[] {
    return this.deps.state.state.skus(store).sort();
  }

  hasStore(store: StoreId): boolean {
    return this.deps.state.state.skus(store).length > 0;
  }

  /** ETag of a read over these counters (strong; see the class comment). */
  etagOf(counters: Iterable<[StoreId, Sku]>): string {
    const s = this.deps.state.state;
    const now = this.deps.clock();
    let seq = 0;
    let lapsed = 0;
    for (const [store, sku] of counters) {
      const c = s.counter(store, sku);
      if (c === undefined) continue;
      if (c.seq > seq) seq = c.seq;
      lapsed += lapsedHolds(c, now);
    }
    return `"${this.epoch}.${seq}.${this.presence}.${lapsed}"`;
  }

  /** ETag of a read that may cover anything (lists): the whole state's position. */
  etagOfAll(lapsed: number): string {
    return `"${this.epoch}.${this.deps.state.state.seq}.${this.presence}.${lapsed}"`;
  }
}

interface Stamp {
  readonly at: number;
}

function levelsOf(onHand: number, held: number, safetyStock: number): StockLevels {
  const raw = onHand - held;
  return { onHand, held, safetyStock, available: Math.max(0, raw - safetyStock), deficit: Math.max(0, -raw) };
}

/** A StoreStock from its figures (same fields, same order: the JSON clients get does not change). */
export function storeStockOf(store: StoreId, sku: Sku, onHand: number, held: number, safetyStock: number, online: boolean, changedAt: number | undefined): StoreStock {
  const raw = onHand - held;
  return {
    storeId: store,
    sku,
    onHand,
    held,
    safetyStock,
    available: Math.max(0, raw - safetyStock),
    deficit: Math.max(0, -raw),
    online,
    updatedAt: changedAt === undefined ? null : new Date(changedAt).toISOString(),
  };
}

function lapsedHolds(c: Counter, now: number): number {
  let n = 0;
  for (const h of c.holds ?? []) if (h.status === 'active' && h.expiresAt <= now) n++;
  return n;
}

export function touchedSkus(d: { entries: { sku: Sku }[]; transfers: { sku: Sku }[]; reservations: { sku: Sku }[] }): Set<Sku> {
  const out = new Set<Sku>();
  for (const e of d.entries) out.add(e.sku);
  for (const t of d.transfers) out.add(t.sku);
  for (const r of d.reservations) out.add(r.sku);
  return out;
}

import type { Delta, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import type { StockLevels } from '../storefront/views.js';
import { ALL_STORES, type AlertKind, type AlertStore } from '../store/alert-store.js';
import { serialised, WriterLease } from './alert-writer.js';
import { exact, StockSums, type Cell, type SumsView } from './stock-sums.js';

/** One alert opening, changing or clearing, as pushed on the feed and POSTed to the webhook. */
export interface AlertChange {
  state: 'open' | 'cleared';
  kind: AlertKind;
  store: StoreId;
  /** The SKU; '' for store-wide alerts; the replica id for `replica_refused`. */
  sku: string;
  detail: unknown;
  /** Epoch ms. */
  at: number;
}

export type RefusalCode = 'replica_regressed' | 'replica_in_use' | 'event_conflict';

export interface OpsAlertsDeps {
  state: HubState;
  alerts: AlertStore;
  /** This hub process (the writer lease's holder id, shared with the oversell monitor). */
  me: ReplicaId;
  log: Logger;
  /**
   * A counter as the storefront sees it (`available` after holds and safety
   * stock). It must change only with the counter (a HubState change), a
   * document (`recheckAll`) or, for a counter with active holds, as they
   * lapse: the cross-store sums rely on that (see `checkAggregate`).
   */
  stock: (store: StoreId, sku: Sku) => StockLevels;
  /** The low-stock threshold the catalog or the store's settings set; null: none. Changes only with a document (`recheckAll`). */
  docThreshold?: (store: StoreId, sku: Sku) => number | null;
  /** Threshold where the documents set none (`--low-stock-threshold`); null/undefined: no low-stock alert then. */
  lowStockThreshold?: number | null;
  /** Stores with an agent connected to this hub process. */
  connected: () => StoreId[];
  /** A store offline (no agent at any hub process) longer than this raises `store_offline` (default 10 min). */
  offlineAlertMs?: number;
  /** More hold expiries than this within a minute at one store raise `holds_expiring` (default 20). */
  bulkExpiries?: number;
  /** A `replica_refused` alert clears once its replica was not refused for this long (default 15 min), or at its next accepted hello. */
  refusalQuietMs?: number;
  /** Wait after the first change before evaluating (default 200 ms). */
  debounceMs?: number;
  /** The writer lease's length (default 15 s). */
  leaseMs?: number;
  /** How often the writer checks presence, expiries and refusals (default min(5 s, offlineAlertMs / 4)). */
  tickMs?: number;
  /** Counters a flush may walk for cross-store (aggregate) checks; the rest wait for the next flush (default 5,000). */
  aggregateBudget?: number;
  /** Every change this process makes (the hub pushes it on the feed and to the webhook). */
  onChange?: (c: AlertChange) => void;
  clock?: () => number;
}

const SEP = '\u0000';
const KINDS: readonly AlertKind[] = ['low_stock', 'out_of_stock', 'store_offline', 'holds_expiring', 'replica_refused'];
const WINDOW_MS = 60_000;
/** A refusal seen again this soon is not written again (an agent retrying every second). */
const REFUSAL_REWRITE_MS = 30_000;

const key = (kind: AlertKind, store: string, sku: string) => kind + SEP + store + SEP + sku;
const OUT = 1;
const LOW = 2;
const STOCK_BITS: Partial<Record<AlertKind, number>> = { out_of_stock: OUT, low_stock: LOW };

/** Counters checked between two turns of the event loop (see `breathe`). */
const BREATHE_EVERY = 2_000;
/**
 * A cross-store check that cannot use the sums walks every store of the
 * SKU. Walking every changed SKU at every 200 ms flush took ~36 % of the
 * hub's CPU at 5,000 events/s over 100 stores (ack p99 15 ms → seconds,
 * bench/hub-ingest.ts, profiled); walking them every 2 s instead made a
 * pause every 2 s (ack p99 865 ms). A flush now reads at most this many
 * counters for those checks (a check from the sums counts 1 plus its stores
 * with holds); the SKUs left wait for the next flush (oldest first), so the
 * work per flush is bounded.
 */
const AGGREGATE_BUDGET = 5_000;

/**
 * Operations alerts besides oversell (store/alert-store.ts lists the kinds).
 * Raised once and cleared when resolved; the detail is as of raising.
 *
 * The hot path stays cheap: a committed change only adds its (store, SKU)
 * to a set and counts expired holds per store; the writer (the process
 * holding `AlertStore.lead`, as for oversell) evaluates the touched
 * counters from memory after a debounce, and only an alert opening or
 * clearing costs a write. Every process records when its stores were
 * online (`AlertStore.seen`, on presence changes and every offlineAlertMs/3),
 * so the writer sees stores connected to other processes. A refusal is
 * written by the process that refused (rare; throttled per replica).
 */
export class OpsAlerts {
  /** Per counter: whether it waits to be checked, what `checkCounter` computed; per SKU: their sums, for the cross-store checks. */
  private readonly sums: StockSums;
  /** The counters to check, each once, in the order first marked (`Cell.marked`). */
  private dirty: Cell[] = [];
  private readonly dirtySkus = new Set<Sku>();
  /** Open alerts of these kinds, as the writer knows them (key → true). */
  private readonly open = new Set<string>();
  /** The same for low_stock and out_of_stock per counter (ALL_STORES too): store → SKU → OUT | LOW bits, so a check that changes nothing builds no key. */
  private readonly openStock = new Map<StoreId, Map<Sku, number>>();
  /** Per store: [second, expiries] buckets of the last minute. */
  private readonly expiries = new Map<StoreId, [number, number][]>();
  /** Refusals this process wrote: key → last written at. */
  private readonly refusals = new Map<string, { count: number; firstAt: number; writtenAt: number; detail: Record<string, unknown> }>();
  private timer: NodeJS.Timeout | null = null;
  private readonly ticker: NodeJS.Timeout;
  private readonly presenceTimer: NodeJS.Timeout;
  private tickDue = false;
  private stopped = false;
  /** Counters checked since the event loop last had a turn (see `breathe`). */
  private sinceBreath = 0;
  private readonly lease: WriterLease;
  private readonly off: () => void;
  private readonly offlineMs: number;
  private readonly bulk: number;
  private readonly quietMs: number;
  private readonly now: () => number;

  constructor(private readonly deps: OpsAlertsDeps) {
    this.offlineMs = deps.offlineAlertMs ?? 600_000;
    this.bulk = deps.bulkExpiries ?? 20;
    this.quietMs = deps.refusalQuietMs ?? 900_000;
    this.lease = new WriterLease(deps.alerts, deps.me, deps.leaseMs ?? 15_000);
    this.now = deps.clock ?? Date.now;
    this.sums = new StockSums((store, sku) => deps.state.state.counter(store, sku));
    this.off = deps.state.onChange((changes) => {
      for (const ch of changes) this.touch(ch.store, ch.delta);
      this.schedule();
    });
    this.ticker = setInterval(() => {
      this.tickDue = true;
      void this.flush();
    }, deps.tickMs ?? Math.max(100, Math.min(5_000, this.offlineMs / 4)));
    this.ticker.unref();
    this.presenceTimer = setInterval(() => void this.heartbeat(), Math.max(100, Math.min(30_000, this.offlineMs / 3)));
    this.presenceTimer.unref();
  }

  private touch(store: StoreId, d: Delta): void {
    for (const e of d.entries) this.mark(store, e.sku);
    let expired = 0;
    for (const r of d.reservations) {
      this.mark(store, r.sku);
      if (r.status === 'expired') expired++;
    }
    if (expired > 0) {
      const sec = Math.floor(Date.now() / 1000);
      let b = this.expiries.get(store);
      if (!b) this.expiries.set(store, (b = []));
      const last = b.at(-1);
      if (last && last[0] === sec) last[1] += expired;
      else b.push([sec, expired]);
      if (b.length > 61) b.shift();
      this.tickDue = true;
    }
  }

  /** Every change to what feeds (store, sku)'s figures comes through here, synchronously (the sums rely on it). */
  private mark(store: StoreId, sku: Sku): void {
    this.markCell(this.sums.cell(store, sku));
    this.dirtySkus.add(sku);
  }

  private markCell(c: Cell): void {
    this.sums.stale(c);
    if (c.marked) return;
    c.marked = true;
    this.dirty.push(c);
  }

  /** The counters marked so far, in order; none marked after. */
  private takeDirty(): Cell[] {
    const taken = this.dirty;
    this.dirty = [];
    for (const c of taken) c.marked = false;
    return taken;
  }

  private schedule(): void {
    if (this.timer !== null || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.deps.debounceMs ?? 200);
    this.timer.unref();
  }

  /** Thresholds may have changed (catalog or settings): every counter is checked again. */
  recheckAll(): void {
    const s = this.deps.state.state;
    for (const store of s.storeIds()) for (const sku of s.skus(store)) this.mark(store, sku);
    this.schedule();
  }

  /** A store's first agent came online here, or its last one left: recorded for every process. */
  presence(store: StoreId): void {
    void this.deps.alerts.seen([store], this.now()).catch((e) => this.deps.log.warn('store presence not recorded', { store, err: String(e) }));
    this.tickDue = true;
    this.schedule();
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.deps.alerts.seen(this.deps.connected(), this.now());
    } catch (e) {
      this.deps.log.warn('store presence not recorded', { err: String(e) });
    }
  }

  /** An agent's link was refused (logged where it happens): raises `replica_refused` from any process. */
  refused(store: StoreId, replica: string, code: RefusalCode, message: string): void {
    const k = key('replica_refused', store, replica);
    const now = this.now();
    const prev = this.refusals.get(k);
    const count = (prev?.count ?? 0) + 1;
    const detail = { code, message, replica, count, firstAt: new Date(prev?.firstAt ?? now).toISOString(), lastAt: new Date(now).toISOString(), lastAtMs: now };
    const rec = { count, firstAt: prev?.firstAt ?? now, writtenAt: prev?.writtenAt ?? 0, detail };
    this.refusals.set(k, rec);
    if (now - rec.writtenAt < REFUSAL_REWRITE_MS && prev?.detail.code === code) return;
    rec.writtenAt = now;
    void this.deps.alerts.raise({ kind: 'replica_refused', store, sku: replica as Sku, at: now, detail }).then(
      (r) => {
        if (r.raised) this.deps.log.warn('replica refused alert', { store, agent: replica, code });
        this.deps.onChange?.({ state: 'open', kind: 'replica_refused', store, sku: replica, detail, at: now });
      },
      (e) => this.deps.log.warn('replica refused alert not stored', { store, agent: replica, err: String(e) }),
    );
  }

  /** An agent's hello was accepted: a regressed or conflicting replica that is accepted again is resolved. */
  accepted(store: StoreId, replica: string): void {
    const k = key('replica_refused', store, replica);
    const rec = this.refusals.get(k);
    if (!rec || rec.detail.code === 'replica_in_use') return;
    this.refusals.delete(k);
    void this.clearAlert('replica_refused', store, replica).catch(() => undefined);
  }

  /** Evaluates what changed and, when due, presence, expiries and refusals; serialised. */
  private readonly runner = serialised(
    () => this.evaluate(),
    (e) => this.deps.log.warn('alert check failed; will retry', { err: String((e as Error).message ?? e) }),
    () => this.stopped,
  );

  flush(): Promise<void> {
    return this.runner.run();
  }

  private async evaluate(): Promise<void> {
    if (!(await this.lease.hold(() => this.takeOver()))) {
      this.takeDirty();
      this.dirtySkus.clear();
      return;
    }
    const counters = this.takeDirty();
    const skus: Sku[] = [];
    let budget = this.deps.aggregateBudget ?? AGGREGATE_BUDGET;
    for (const sku of this.dirtySkus) {
      if (budget <= 0) break;
      skus.push(sku);
      budget -= this.sums.cost(sku, this.deps.state.storesOf(sku).length);
    }
    for (const sku of skus) this.dirtySkus.delete(sku);
    if (this.dirtySkus.size > 0) this.schedule();
    try {
      // Awaited only when a check writes or the loop lets I/O in: most checks change nothing.
      for (let i = 0; i < counters.length; i++) {
        const writing = this.checkCounter(counters[i]!);
        if (writing !== undefined) await writing;
        const breath = this.breathe(1);
        if (breath !== undefined) await breath;
      }
      for (const sku of skus) {
        const checked = this.checkAggregate(sku);
        const breath = this.breathe(typeof checked === 'number' ? checked : await checked);
        if (breath !== undefined) await breath;
      }
    } catch (e) {
      // Checked again at the next flush (the checks are idempotent).
      for (const c of counters) this.markCell(c);
      for (const s of skus) this.dirtySkus.add(s);
      throw e;
    }
    if (this.tickDue) {
      this.tickDue = false;
      await this.checkOffline();
      await this.checkExpiries();
      await this.checkRefusals();
    }
  }

  /**
   * The checks await only settled promises when nothing changes, so checking
   * every counter (start-up, a catalog edit) would hold the event loop: 1M
   * counters stopped the hub answering for ~8 s (bench/scale.ts). Lets I/O in
   * every BREATHE_EVERY counters checked.
   */
  private breathe(counters: number): Promise<void> | void {
    this.sinceBreath += counters;
    if (this.sinceBreath < BREATHE_EVERY) return;
    this.sinceBreath = 0;
    return new Promise((resolve) => setImmediate(resolve));
  }

  private async takeOver(): Promise<void> {
    this.open.clear();
    this.openStock.clear();
    for (const kind of KINDS) {
      if (kind === 'replica_refused') continue; // read at every tick
      for (const a of await this.deps.alerts.list({ open: true, kind, limit: 1_000_000 })) this.opened(kind, a.store, a.sku);
    }
    const s = this.deps.state.state;
    for (const store of s.storeIds()) for (const sku of s.skus(store)) this.mark(store, sku);
    // Open alerts of counters that no longer exist are checked too.
    for (const k of this.open) {
      const [kind, store, sku] = k.split(SEP) as [AlertKind, string, string];
      if (kind === 'low_stock' || kind === 'out_of_stock') store === ALL_STORES ? this.dirtySkus.add(sku as Sku) : this.mark(store as StoreId, sku as Sku);
    }
    this.tickDue = true;
  }

  private threshold(store: StoreId, sku: Sku): number | null {
    return this.deps.docThreshold?.(store, sku) ?? this.deps.lowStockThreshold ?? null;
  }

  /** Undefined when nothing opens or clears (no write, nothing to await), else the writes. */
  private checkCounter(c: Cell): Promise<void> | undefined {
    const { store, sku } = c;
    const st = this.deps.stock(store, sku);
    const threshold = this.threshold(store, sku);
    this.sums.put(c, st.available, threshold);
    const out = st.available <= 0;
    const low = threshold !== null && st.available > 0 && st.available <= threshold;
    if (this.isOpenAsWanted(store, sku, out, low)) return undefined;
    return this.writeCounter(store, sku, st, threshold, out, low);
  }

  private async writeCounter(store: StoreId, sku: Sku, st: StockLevels, threshold: number | null, out: boolean, low: boolean): Promise<void> {
    const detail = { onHand: st.onHand, held: st.held, safetyStock: st.safetyStock, available: st.available };
    await this.set('out_of_stock', store, sku, out ? detail : null);
    await this.set('low_stock', store, sku, low ? { ...detail, threshold } : null);
  }

  /**
   * Across stores: available summed; the low-stock threshold is the sum of
   * the stores' thresholds. The counters read, or a promise of them when an
   * alert opens or clears.
   *
   * From the sums when they stand for every store of the SKU: each cell was
   * computed by `checkCounter` and is stale from the moment anything feeding
   * it changes (`mark`: counter changes, `recheckAll` on a document change,
   * `takeOver`), and the counters of a flush are checked before its SKUs. A
   * counter with active holds is read afresh (they lapse with the clock, no
   * change marks that). Otherwise (a cell stale or missing: changed during
   * this flush, a counter created by a transfer alone, a SKU marked alone by
   * `takeOver`; a value that is not a small integer) every store is read and
   * the sums are refilled.
   */
  private checkAggregate(sku: Sku): number | Promise<number> {
    const stores = this.deps.state.storesOf(sku);
    const sums = this.sums.usable(sku, stores.length);
    let available = this.availableFromSums(sku, sums);
    let threshold = sums !== null && sums.thresholds > 0 ? sums.threshold : null;
    let read = 1 + (sums?.held?.size ?? 0);
    if (Number.isNaN(available)) {
      available = 0;
      threshold = null;
      for (const st of stores) {
        const a = this.deps.stock(st, sku).available;
        const t = this.threshold(st, sku);
        this.sums.put(this.sums.cell(st, sku), a, t);
        available += a;
        if (t !== null) threshold = (threshold ?? 0) + t;
      }
      read = stores.length;
    }
    const out = stores.length > 0 && available <= 0;
    const low = threshold !== null && available > 0 && available <= threshold;
    if (this.isOpenAsWanted(ALL_STORES, sku, out, low)) return read;
    return this.writeAggregate(sku, stores.length, available, threshold, out, low, read);
  }

  /** `available` across stores from the sums, the stores with holds read afresh; NaN when the sums cannot say. */
  private availableFromSums(sku: Sku, sums: SumsView | null): number {
    if (sums === null) return NaN;
    let available = sums.available;
    if (sums.held !== null)
      for (const st of sums.held) {
        const a = this.deps.stock(st, sku).available;
        if (!exact(a)) return NaN;
        available += a;
      }
    return available;
  }

  /** The cross-store figures the sums give for `sku` now (as a check would use them), or null when a check would read every store. */
  summed(sku: Sku): { available: number; threshold: number | null } | null {
    const sums = this.sums.usable(sku, this.deps.state.storesOf(sku).length);
    const available = this.availableFromSums(sku, sums);
    return sums === null || Number.isNaN(available) ? null : { available, threshold: sums.thresholds > 0 ? sums.threshold : null };
  }

  private async writeAggregate(sku: Sku, stores: number, available: number, threshold: number | null, out: boolean, low: boolean, read: number): Promise<number> {
    const detail = { available, stores };
    await this.set('out_of_stock', ALL_STORES, sku, out ? detail : null);
    await this.set('low_stock', ALL_STORES, sku, low ? { ...detail, threshold } : null);
    return read;
  }

  /** Whether out_of_stock and low_stock of the counter are open exactly when wanted (then `set` would do nothing). */
  private isOpenAsWanted(store: StoreId, sku: Sku, out: boolean, low: boolean): boolean {
    const bits = this.openStock.get(store)?.get(sku) ?? 0;
    return out === ((bits & OUT) !== 0) && low === ((bits & LOW) !== 0);
  }

  /** Records an alert as open (`open` and, for stock kinds, `openStock`). */
  private opened(kind: AlertKind, store: StoreId, sku: string): void {
    this.open.add(key(kind, store, sku));
    const bit = STOCK_BITS[kind];
    if (bit === undefined) return;
    let bySku = this.openStock.get(store);
    if (bySku === undefined) this.openStock.set(store, (bySku = new Map()));
    bySku.set(sku as Sku, (bySku.get(sku as Sku) ?? 0) | bit);
  }

  private closed(kind: AlertKind, store: StoreId, sku: string): void {
    this.open.delete(key(kind, store, sku));
    const bit = STOCK_BITS[kind];
    const bySku = bit === undefined ? undefined : this.openStock.get(store);
    const bits = bySku?.get(sku as Sku);
    if (bySku === undefined || bits === undefined) return;
    if ((bits & ~bit!) === 0) bySku.delete(sku as Sku);
    else bySku.set(sku as Sku, bits & ~bit!);
  }

  private async checkOffline(): Promise<void> {
    const now = this.now();
    const here = new Set(this.deps.connected());
    const seen = await this.deps.alerts.lastSeen();
    for (const [store, at] of seen) {
      const off = !here.has(store) && now - at > this.offlineMs;
      await this.set('store_offline', store, '', off ? { lastSeen: new Date(at).toISOString(), offlineAlertMinutes: this.offlineMs / 60_000 } : null);
    }
  }

  private async checkExpiries(): Promise<void> {
    const since = Math.floor(Date.now() / 1000) - 60;
    for (const [store, b] of this.expiries) {
      while (b.length > 0 && b[0]![0] <= since) b.shift();
      const n = b.reduce((a, x) => a + x[1], 0);
      if (b.length === 0) this.expiries.delete(store);
      const k = key('holds_expiring', store, '');
      // Raised once; cleared once the minute is back to the threshold or below.
      if (n > this.bulk && !this.open.has(k)) await this.set('holds_expiring', store, '', { expiredLastMinute: n, threshold: this.bulk });
      else if (n <= this.bulk && this.open.has(k)) await this.set('holds_expiring', store, '', null);
    }
    for (const k of this.open) {
      const [kind, store] = k.split(SEP) as [AlertKind, StoreId];
      if (kind === 'holds_expiring' && !this.expiries.has(store)) await this.set('holds_expiring', store, '', null);
    }
  }

  /** Refusals that stopped: an open `replica_refused` not refused again for refusalQuietMs clears. */
  private async checkRefusals(): Promise<void> {
    const now = this.now();
    for (const a of await this.deps.alerts.list({ open: true, kind: 'replica_refused', limit: 10_000 })) {
      if (now - Number(a.detail.lastAtMs ?? a.raisedAt) > this.quietMs) await this.clearAlert('replica_refused', a.store, a.sku, { reason: 'no refusal since' });
    }
  }

  /** Opens (detail) or clears (null) one alert, writing only when that changes what is open. */
  private async set(kind: AlertKind, store: StoreId, sku: string, detail: Record<string, unknown> | null): Promise<void> {
    const k = key(kind, store, sku);
    if (detail === null) {
      if (!this.open.has(k)) return;
      await this.clearAlert(kind, store, sku);
      return;
    }
    if (this.open.has(k)) return;
    const at = this.now();
    const r = await this.deps.alerts.raise({ kind, store, sku: sku as Sku, at, detail });
    this.opened(kind, store, sku);
    if (r.raised) this.deps.log.warn(`${kind.replace('_', ' ')} alert`, { alert: r.alert.id, store, sku, ...detail });
    this.deps.onChange?.({ state: 'open', kind, store, sku, detail, at });
  }

  private async clearAlert(kind: AlertKind, store: StoreId, sku: string, detail: Record<string, unknown> | null = null): Promise<void> {
    const at = this.now();
    const cleared = await this.deps.alerts.clear(kind, store, sku as Sku, at);
    this.closed(kind, store, sku);
    if (!cleared) return;
    this.deps.log.info('alert cleared', { kind, store, sku });
    this.deps.onChange?.({ state: 'cleared', kind, store, sku, detail, at });
  }

  /** Takes the writer lease if free and checks everything once. */
  start(): void {
    void this.heartbeat();
    this.tickDue = true;
    void this.flush();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.off();
    clearInterval(this.ticker);
    clearInterval(this.presenceTimer);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.runner.idle().catch(() => undefined);
  }
}

import type { Delta, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import type { Alert, AlertStore } from '../store/alert-store.js';
import { serialised, WriterLease } from './alert-writer.js';

/** A hold that may not be fillable: `cartId` when it is a storefront cart's line (`${cartId}.${n}`). */
export interface HoldAtRisk {
  holdId: string;
  cartId: string | null;
  owner: ReplicaId;
  qty: number;
  expiresAt: string;
}

export interface OversellDetail {
  onHand: number;
  held: number;
  /** held − onHand (> 0): units promised that do not exist. */
  deficit: number;
  holdsAtRisk: HoldAtRisk[];
}

export interface OversellMonitorDeps {
  state: HubState;
  alerts: AlertStore;
  /** This hub process (the writer lease's holder id). */
  me: ReplicaId;
  /** The selling side's clock: which holds have lapsed, when an alert is raised. */
  clock: () => number;
  log: Logger;
  /** Wait after the first change before evaluating (default 200 ms). */
  debounceMs?: number;
  /** The writer lease's length (default 15 s); renewed once a third of it is used. */
  leaseMs?: number;
  /** Told of every alert this process raises, updates or clears (the storefront feed pushes them). */
  onAlert?: (change: { state: 'open' | 'cleared'; kind: 'oversell'; store: StoreId; sku: Sku; detail: unknown }) => void;
}

const CART_HOLD = /^(r_[0-9a-f]{24})\.\d+$/;
const SEP = ' ';

/**
 * Counters to check, each once, in the order first marked: a set per store
 * (no key string per mark) and the order as two lists.
 */
export class DirtyCounters {
  private readonly marked = new Map<StoreId, Set<Sku>>();
  private stores: StoreId[] = [];
  private skus: Sku[] = [];

  mark(store: StoreId, sku: Sku): void {
    let skus = this.marked.get(store);
    if (skus === undefined) this.marked.set(store, (skus = new Set()));
    const size = skus.size;
    if (skus.add(sku).size === size) return;
    this.stores.push(store);
    this.skus.push(sku);
  }

  /** The counters marked so far, in order (store and SKU at the same index); none marked after. */
  take(): [StoreId[], Sku[]] {
    const taken: [StoreId[], Sku[]] = [this.stores, this.skus];
    this.marked.clear();
    this.stores = [];
    this.skus = [];
    return taken;
  }
}

/**
 * Raises an `oversell` alert when a counter holds more units in active,
 * unlapsed holds than the store has on hand (a forced sale at a till sold
 * units an online cart was promised), naming those holds; clears it once
 * the deficit is gone.
 *
 * Cheap: a committed change only adds its (store, sku) to a set; the touched
 * counters are evaluated after a short debounce, from memory, and only a
 * deficit or the end of one costs a write. Only the hub process holding the
 * writer lease (`AlertStore.lead`) writes; the others drop what they saw.
 * Whoever takes the lease first evaluates every counter and every open
 * alert, so nothing is missed at a hand-over or a restart.
 */
export class OversellMonitor {
  private readonly dirty = new DirtyCounters();
  /** Open alerts (key → detail JSON) as this process, the writer, knows them. */
  private readonly open = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly off: () => void;
  private readonly debounceMs: number;
  private readonly lease: WriterLease;
  private readonly runner = serialised(
    () => this.evaluate(),
    // The counters stay dirty; the next change or flush retries.
    (e) => this.deps.log.warn('oversell check failed; will retry', { err: String((e as Error).message ?? e) }),
    () => this.stopped,
  );

  constructor(private readonly deps: OversellMonitorDeps) {
    this.debounceMs = deps.debounceMs ?? 200;
    this.lease = new WriterLease(deps.alerts, deps.me, deps.leaseMs ?? 15_000);
    this.off = deps.state.onChange((changes) => {
      for (const ch of changes) this.touch(ch.delta);
      if (this.timer === null && !this.stopped) {
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.flush();
        }, this.debounceMs);
        this.timer.unref();
      }
    });
  }

  private touch(d: Delta): void {
    // Transfers move rights between replicas: on hand and holds stay.
    for (const e of d.entries) this.dirty.mark(e.store, e.sku);
    for (const r of d.reservations) this.dirty.mark(r.store, r.sku);
  }

  /** Evaluates what changed since the last flush; serialised. Resolves when written. */
  flush(): Promise<void> {
    return this.runner.run();
  }

  private async evaluate(): Promise<void> {
    if (!(await this.lease.hold(() => this.takeOver()))) {
      this.dirty.take();
      return;
    }
    const [stores, skus] = this.dirty.take();
    let i = 0;
    try {
      // Awaited only when a check writes: most counters have no deficit and no open alert.
      for (; i < stores.length; i++) {
        const writing = this.check(stores[i]!, skus[i]!);
        if (writing !== undefined) await writing;
      }
    } catch (e) {
      for (; i < stores.length; i++) this.dirty.mark(stores[i]!, skus[i]!);
      throw e;
    }
  }

  /** Becoming the writer: learn the open alerts, then check them and every counter. */
  private async takeOver(): Promise<void> {
    this.open.clear();
    const known: Alert[] = await this.deps.alerts.list({ open: true, limit: 1_000_000 });
    for (const a of known) if (a.kind === 'oversell') this.open.set(a.store + SEP + a.sku, JSON.stringify(a.detail));
    const s = this.deps.state.state;
    for (const key of this.open.keys()) {
      const at = key.indexOf(SEP);
      this.dirty.mark(key.slice(0, at) as StoreId, key.slice(at + 1) as Sku);
    }
    for (const store of s.storeIds()) for (const sku of s.skus(store)) if (this.hasDeficit(store, sku)) this.dirty.mark(store, sku);
  }

  /** Whether `deficitOf` would find one, without building it. */
  private hasDeficit(store: StoreId, sku: Sku): boolean {
    const c = this.deps.state.state.counter(store, sku);
    if (c === undefined) return false;
    const holds = c.holds;
    if (holds === null) return c.onHand() < 0;
    const now = this.deps.clock();
    let held = 0;
    for (let i = 0; i < holds.length; i++) {
      const h = holds[i]!;
      if (h.status === 'active' && h.expiresAt > now) held += h.qty;
    }
    return c.onHand() - held < 0;
  }

  /** The counter's deficit as of now, or null when on hand covers its holds. */
  deficitOf(store: StoreId, sku: Sku): OversellDetail | null {
    const c = this.deps.state.state.counter(store, sku);
    if (c === undefined) return null;
    const onHand = c.onHand();
    const now = this.deps.clock();
    // Active holds not yet lapsed: what GET /inventory shows as held.
    const holds = (c.holds ?? []).filter((h) => h.status === 'active' && h.expiresAt > now);
    const held = holds.reduce((a, h) => a + h.qty, 0);
    if (onHand - held >= 0) return null;
    return {
      onHand,
      held,
      deficit: held - onHand,
      holdsAtRisk: holds
        .slice()
        .sort((a, b) => a.expiresAt - b.expiresAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((h) => ({ holdId: h.id, cartId: CART_HOLD.exec(h.id)?.[1] ?? null, owner: h.owner, qty: h.qty, expiresAt: new Date(h.expiresAt).toISOString() })),
    };
  }

  /** Undefined when nothing is to be written (no deficit, no open alert), else the write. */
  private check(store: StoreId, sku: Sku): Promise<void> | undefined {
    // No key string while no oversell alert is open at all.
    if (!this.hasDeficit(store, sku) && (this.open.size === 0 || !this.open.has(store + SEP + sku))) return undefined;
    return this.write(store, sku);
  }

  private async write(store: StoreId, sku: Sku): Promise<void> {
    const key = store + SEP + sku;
    const detail = this.deficitOf(store, sku);
    if (detail === null) {
      if (!this.open.has(key)) return;
      await this.deps.alerts.clear('oversell', store, sku, this.deps.clock());
      this.open.delete(key);
      this.deps.log.info('oversell alert cleared', { store, sku });
      this.deps.onAlert?.({ state: 'cleared', kind: 'oversell', store, sku, detail: null });
      return;
    }
    const json = JSON.stringify(detail);
    if (this.open.get(key) === json) return;
    const r = await this.deps.alerts.raise({ kind: 'oversell', store, sku, at: this.deps.clock(), detail: { ...detail } });
    this.open.set(key, json);
    if (r.raised) this.deps.log.warn('oversell alert', { alert: r.alert.id, store, sku, ...detail });
    this.deps.onAlert?.({ state: 'open', kind: 'oversell', store, sku, detail });
  }

  /** Takes the writer lease if free and checks everything once (a restart may have missed a clearing). */
  start(): void {
    void this.flush();
  }

  /** Stops listening; waits for a running evaluation. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.off();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.runner.idle().catch(() => undefined);
  }
}

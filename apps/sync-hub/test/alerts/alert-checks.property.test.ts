/**
 * The alert checks skip a counter without awaiting anything when nothing
 * opens or clears, and keep the counters to check as (store, SKU) lists.
 * What they do must not change: on random runs (sales past stock, holds,
 * restocks, thresholds and safety stock changed, flushes in between), each
 * flush of OpsAlerts and of the oversell monitor announces exactly the
 * alerts that open or clear, in the order the counters were first touched
 * (per counter out_of_stock then low_stock, then the touched SKUs across
 * stores), with the details of the state at the flush, and leaves open
 * exactly the alerts the state calls for. Holds never lapse here (their
 * expiry is far ahead), so the state alone says what should be open.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReplicaId, ReservationStatus, Sku, StoreId } from '@scoville/crdt-inventory';
import { OpsAlerts, type AlertChange } from '../../src/alerts/ops-alerts.js';
import { OversellMonitor } from '../../src/alerts/oversell.js';
import type { Logger } from '../../src/log.js';
import { HubState, type StateChange } from '../../src/state/hub-state.js';
import { ALL_STORES, type Alert, type AlertKind, type AlertStore } from '../../src/store/alert-store.js';
import { StockViews } from '../../src/storefront/views.js';
import { RandomChanges } from '../helpers/random-changes.js';

const runs = Number(process.env.FC_RUNS ?? 1_000);
const STORES = ['s1', 's2'] as StoreId[];
const SKUS = ['K1', 'K2'] as Sku[];
const ME = 'hub-1' as ReplicaId;
const quiet: Logger = { info() {}, warn() {}, error() {} };
const FAR = 4_000_000_000_000;

/** AlertStore in memory: the writer lease is always this process's. */
function memoryAlerts(): AlertStore & { all: Map<string, Alert> } {
  const all = new Map<string, Alert>();
  let id = 0;
  const k = (kind: string, store: string, sku: string) => `${kind}|${store}|${sku}`;
  return {
    all,
    async raise(a) {
      const open = all.get(k(a.kind, a.store, a.sku));
      if (open !== undefined && open.clearedAt === null) {
        open.detail = a.detail;
        return { alert: open, raised: false };
      }
      const alert: Alert = { id: ++id, kind: a.kind, store: a.store, sku: a.sku, raisedAt: a.at, clearedAt: null, detail: a.detail };
      all.set(k(a.kind, a.store, a.sku), alert);
      return { alert, raised: true };
    },
    async clear(kind, store, sku, at) {
      const open = all.get(k(kind, store, sku));
      if (open === undefined || open.clearedAt !== null) return false;
      open.clearedAt = at;
      return true;
    },
    async list(o = {}) {
      return [...all.values()].filter((a) => (o.open === undefined || (a.clearedAt === null) === o.open) && (o.kind === undefined || a.kind === o.kind));
    },
    async countOpen() {
      throw new Error('not used');
    },
    async lead() {
      return true;
    },
    async seen() {},
    async lastSeen() {
      return new Map();
    },
    async webhook() {
      return null;
    },
    async setWebhook() {},
  };
}

type Action =
  | { kind: 'entries'; items: { store: number; sku: number; dp: number; dn: number }[] }
  | { kind: 'hold'; store: number; sku: number; qty: number }
  | { kind: 'endHold'; pick: number; status: ReservationStatus }
  | { kind: 'threshold'; store: number; sku: number; units: number | null }
  | { kind: 'safety'; store: number; sku: number; units: number }
  | { kind: 'flush' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('entries' as const),
      items: fc.array(fc.record({ store: fc.nat(1), sku: fc.nat(1), dp: fc.nat(4), dn: fc.nat(4) }), { minLength: 1, maxLength: 5 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hold' as const), store: fc.nat(1), sku: fc.nat(1), qty: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('endHold' as const), pick: fc.nat(), status: fc.constantFrom<ReservationStatus>('released', 'committed') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('threshold' as const), store: fc.nat(1), sku: fc.nat(1), units: fc.option(fc.nat(6), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('safety' as const), store: fc.nat(1), sku: fc.nat(1), units: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'flush' as const }) },
);

/** What an alert change says, comparable. */
const said = (kind: string, state: string, store: string, sku: string, detail: unknown) => JSON.stringify([kind, state, store, sku, detail]);

async function run(actions: Action[], hubThreshold: number | null): Promise<void> {
  const state = new HubState();
  const alerts = memoryAlerts();
  const safety = new Map<string, number>();
  const thresholds = new Map<string, number>();
  const views = new StockViews({ state, isOnline: () => true, clock: () => 1_000, safetyStock: (s, k) => safety.get(`${s}|${k}`) ?? 0 });
  const heard: string[] = [];
  const oversell = new OversellMonitor({ state, alerts, me: ME, clock: () => 1_000, log: quiet, debounceMs: 1e9, onAlert: (a) => heard.push(said(a.kind, a.state, a.store, a.sku, a.detail)) });
  const ops = new OpsAlerts({
    state,
    alerts,
    me: ME,
    log: quiet,
    stock: (s, k) => views.levels(s, k),
    docThreshold: (s, k) => thresholds.get(`${s}|${k}`) ?? null,
    lowStockThreshold: hubThreshold,
    connected: () => [],
    bulkExpiries: 1e9,
    debounceMs: 1e9,
    tickMs: 1e9,
    aggregateBudget: 1e9,
    onChange: (c: AlertChange) => heard.push(said(c.kind, c.state, c.store, c.sku, c.detail)),
    clock: () => 1_000,
  });
  // Touched since the last flush, in order: what each monitor will check.
  let opsCounters: [StoreId, Sku][] = [];
  let opsSkus: Sku[] = [];
  let overCounters: [StoreId, Sku][] = [];
  const add = <T>(list: T[], x: T, same: (a: T) => boolean) => void (list.some(same) || list.push(x));
  const touch = (o: [StoreId, Sku][], store: StoreId, sku: Sku) => add(o, [store, sku], ([s, k]) => s === store && k === sku);
  state.onChange((changes: StateChange[]) => {
    for (const ch of changes) {
      for (const e of ch.delta.entries) {
        touch(opsCounters, ch.store, e.sku);
        add(opsSkus, e.sku, (k) => k === e.sku);
        touch(overCounters, ch.store, e.sku);
      }
      for (const r of ch.delta.reservations) {
        touch(opsCounters, ch.store, r.sku);
        add(opsSkus, r.sku, (k) => k === r.sku);
        touch(overCounters, ch.store, r.sku);
      }
    }
  });
  const changes = new RandomChanges(state, ME);
  const threshold = (s: StoreId, k: Sku) => thresholds.get(`${s}|${k}`) ?? hubThreshold;
  const isOpen = (kind: AlertKind, s: string, k: string) => alerts.all.get(`${kind}|${s}|${k}`)?.clearedAt === null;

  /** The changes a flush must announce, in order, for what the state is now. */
  const expectedChanges = (): string[] => {
    const out: string[] = [];
    const want = (kind: AlertKind, s: string, k: string, detail: Record<string, unknown> | null) => {
      if (detail === null && isOpen(kind, s, k)) out.push(said(kind, 'cleared', s, k, null));
      if (detail !== null && !isOpen(kind, s, k)) out.push(said(kind, 'open', s, k, detail));
    };
    for (const [s, k] of opsCounters) {
      const st = views.levels(s, k);
      const t = threshold(s, k);
      const detail = { onHand: st.onHand, held: st.held, safetyStock: st.safetyStock, available: st.available };
      want('out_of_stock', s, k, st.available <= 0 ? detail : null);
      want('low_stock', s, k, t !== null && st.available > 0 && st.available <= t ? { ...detail, threshold: t } : null);
    }
    for (const k of opsSkus) {
      const stores = state.storesOf(k);
      let available = 0;
      let sum: number | null = null;
      for (const s of stores) {
        available += views.levels(s, k).available;
        const t = threshold(s, k);
        if (t !== null) sum = (sum ?? 0) + t;
      }
      const detail = { available, stores: stores.length };
      want('out_of_stock', ALL_STORES, k, stores.length > 0 && available <= 0 ? detail : null);
      want('low_stock', ALL_STORES, k, sum !== null && available > 0 && available <= sum ? { ...detail, threshold: sum } : null);
    }
    for (const [s, k] of overCounters) {
      const detail = oversell.deficitOf(s, k);
      const open = alerts.all.get(`oversell|${s}|${k}`);
      if (detail === null && open?.clearedAt === null) out.push(said('oversell', 'cleared', s, k, null));
      if (detail !== null && (open?.clearedAt !== null || JSON.stringify(open.detail) !== JSON.stringify(detail))) out.push(said('oversell', 'open', s, k, detail));
    }
    return out;
  };

  const flush = async () => {
    // OpsAlerts flushes first in this test: its changes come first.
    const ex = expectedChanges();
    opsCounters = [];
    opsSkus = [];
    overCounters = [];
    heard.length = 0;
    await ops.flush();
    await oversell.flush();
    expect(heard).toEqual(ex);
  };

  // The first flush of each takes the lease and checks everything.
  oversell.start();
  ops.start();
  await ops.flush();
  await oversell.flush();
  for (const a of actions) {
    switch (a.kind) {
      case 'entries':
        changes.entries(a.items.map((it) => ({ store: STORES[it.store]!, sku: SKUS[it.sku]!, replica: 'r-a' as ReplicaId, dp: it.dp, dn: it.dn })));
        break;
      case 'hold':
        changes.hold(STORES[a.store]!, SKUS[a.sku]!, a.qty, FAR);
        break;
      case 'endHold':
        changes.endHold(a.pick, a.status);
        break;
      case 'threshold':
      case 'safety': {
        const k = `${STORES[a.store]}|${SKUS[a.sku]}`;
        if (a.kind === 'safety') safety.set(k, a.units);
        else if (a.units === null) thresholds.delete(k);
        else thresholds.set(k, a.units);
        // As the hub does on a document change: every counter is checked again.
        ops.recheckAll();
        for (const s of state.state.storeIds()) for (const sku of state.state.skus(s)) {
          touch(opsCounters, s, sku);
          add(opsSkus, sku, (x) => x === sku);
        }
        break;
      }
      case 'flush':
        await flush();
        break;
    }
  }
  await flush();
  // What is open is what the state calls for (the aggregate and per-counter checks above say the rest).
  for (const s of STORES)
    for (const k of SKUS) {
      if (state.state.counter(s, k) === undefined) continue;
      expect(isOpen('out_of_stock', s, k)).toBe(views.levels(s, k).available <= 0);
      expect(isOpen('oversell', s, k)).toBe(oversell.deficitOf(s, k) !== null);
    }
  await ops.stop();
  await oversell.stop();
}

describe('alert checks', () => {
  it('announce exactly the alerts that open or clear, in the order touched, and leave open what the state calls for', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), fc.option(fc.integer({ min: 1, max: 5 }), { nil: null, freq: 3 }), (actions, hubThreshold) => run(actions, hubThreshold)),
      { numRuns: runs },
    );
  });
});

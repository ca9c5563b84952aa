/**
 * The alert checks skip a counter without awaiting anything when nothing
 * opens or clears, keep the counters to check as (store, SKU) lists, and
 * check a SKU across stores from per-SKU sums kept by difference. What they
 * do must not change: on random runs (sales past stock, holds that lapse or
 * not, restocks, transfers, a store appearing, thresholds and safety stock
 * changed (fractions too), the writer lease lost to another process that
 * writes alerts meanwhile, and won back; flushes in between), each flush of
 * OpsAlerts and of the oversell monitor announces exactly the alerts that
 * open or clear, in the order the counters were first touched (per counter
 * out_of_stock then low_stock, then the touched SKUs across stores), with
 * the details of the state at the flush, as an eager check that walks every
 * store would; after every step the sums, where OpsAlerts would use them,
 * equal a sum from scratch (so a change during a flush cannot slip past
 * them either), and after a flush they are used for every SKU just checked
 * whose figures are whole numbers; and the alerts left open are those the state
 * calls for (save counters with a lapsed hold, or created by a transfer
 * alone: nothing marks them, only the cross-store check sees them).
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReplicaId, ReservationStatus, Sku, StoreId, TransferEntry } from '@scoville/crdt-inventory';
import { OpsAlerts, type AlertChange } from '../../src/alerts/ops-alerts.js';
import { OversellMonitor } from '../../src/alerts/oversell.js';
import type { Logger } from '../../src/log.js';
import { HubState, type StateChange } from '../../src/state/hub-state.js';
import { ALL_STORES, type Alert, type AlertKind, type AlertStore } from '../../src/store/alert-store.js';
import { StockViews } from '../../src/storefront/views.js';
import { RandomChanges } from '../helpers/random-changes.js';

const runs = Number(process.env.FC_RUNS ?? 1_000);
const STORES = ['s1', 's2', 's3'] as StoreId[];
const SKUS = ['K1', 'K2'] as Sku[];
/** SKUs another writer may raise alerts for: K3 has no counter anywhere. */
const ALERT_SKUS = ['K1', 'K2', 'K3'] as Sku[];
const ME = 'hub-1' as ReplicaId;
/** The oversell monitor's holder id: it keeps the lease throughout. */
const OVERSELL = 'hub-1-oversell' as ReplicaId;
const quiet: Logger = { info() {}, warn() {}, error() {} };
const FAR = 4_000_000_000_000;

/** AlertStore in memory: the writer lease is ME's while `leading`, always OVERSELL's. */
function memoryAlerts(): AlertStore & { all: Map<string, Alert>; leading: boolean } {
  const all = new Map<string, Alert>();
  let id = 0;
  const k = (kind: string, store: string, sku: string) => `${kind}|${store}|${sku}`;
  return {
    all,
    leading: true,
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
    async lead(holder) {
      return holder === OVERSELL || this.leading;
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
  | { kind: 'hold'; store: number; sku: number; qty: number; lapsesIn: number | null }
  | { kind: 'endHold'; pick: number; status: ReservationStatus }
  | { kind: 'tick'; ms: number }
  | { kind: 'transfer'; store: number; sku: number; amount: number }
  | { kind: 'threshold'; store: number; sku: number; units: number | null }
  | { kind: 'safety'; store: number; sku: number; units: number }
  | { kind: 'lease'; leading: boolean }
  | { kind: 'otherWriter'; clearAll: boolean; alert: AlertKind; store: number; sku: number }
  | { kind: 'flush' };

/** Store indexes: s3 is rarer, so it appears in the middle of a run. */
const store = fc.oneof({ weight: 3, arbitrary: fc.nat(1) }, { weight: 1, arbitrary: fc.constant(2) });
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('entries' as const),
      items: fc.array(fc.record({ store, sku: fc.nat(1), dp: fc.nat(4), dn: fc.nat(4) }), { minLength: 1, maxLength: 5 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('hold' as const), store, sku: fc.nat(1), qty: fc.integer({ min: 1, max: 4 }), lapsesIn: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('endHold' as const), pick: fc.nat(), status: fc.constantFrom<ReservationStatus>('released', 'committed', 'expired') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transfer' as const), store, sku: fc.nat(1), amount: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('threshold' as const), store, sku: fc.nat(1), units: fc.option(fc.oneof({ weight: 5, arbitrary: fc.nat(6) }, { weight: 2, arbitrary: fc.constantFrom(2.3, 0.7) }), { nil: null }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('safety' as const), store, sku: fc.nat(1), units: fc.oneof({ weight: 5, arbitrary: fc.nat(3) }, { weight: 3, arbitrary: fc.constantFrom(0.1, 0.7) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lease' as const), leading: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('otherWriter' as const), clearAll: fc.boolean(), alert: fc.constantFrom<AlertKind>('low_stock', 'out_of_stock'), store: fc.nat(3), sku: fc.nat(2) }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'flush' as const }) },
);

/** What an alert change says, comparable. */
const said = (kind: string, state: string, store: string, sku: string, detail: unknown) => JSON.stringify([kind, state, store, sku, detail]);

async function run(actions: Action[], hubThreshold: number | null): Promise<void> {
  const state = new HubState();
  const alerts = memoryAlerts();
  const safety = new Map<string, number>();
  const thresholds = new Map<string, number>();
  let now = 1_000;
  const clock = () => now;
  const views = new StockViews({ state, isOnline: () => true, clock, safetyStock: (s, k) => safety.get(`${s}|${k}`) ?? 0 });
  const heard: string[] = [];
  const oversell = new OversellMonitor({ state, alerts, me: OVERSELL, clock, log: quiet, debounceMs: 1e9, onAlert: (a) => heard.push(said(a.kind, a.state, a.store, a.sku, a.detail)) });
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
  /** Counters ever marked (a counter a transfer created is not, until something else touches it). */
  const marked = new Set<string>();
  /** As OpsAlerts.mark: the counter and its SKU. */
  const markOps = (store: StoreId, sku: Sku) => {
    marked.add(`${store}|${sku}`);
    touch(opsCounters, store, sku);
    add(opsSkus, sku, (k) => k === sku);
  };
  state.onChange((changes: StateChange[]) => {
    for (const ch of changes) {
      for (const e of ch.delta.entries) {
        markOps(ch.store, e.sku);
        touch(overCounters, ch.store, e.sku);
      }
      for (const r of ch.delta.reservations) {
        markOps(ch.store, r.sku);
        touch(overCounters, ch.store, r.sku);
      }
    }
  });
  const changes = new RandomChanges(state, ME);
  const transferred = new Map<string, number>();
  const threshold = (s: StoreId, k: Sku) => thresholds.get(`${s}|${k}`) ?? hubThreshold;
  const isOpen = (kind: AlertKind, s: string, k: string) => alerts.all.get(`${kind}|${s}|${k}`)?.clearedAt === null;
  const counters = () => state.state.storeIds().flatMap((s) => state.state.skus(s).map((k) => [s, k] as [StoreId, Sku]));
  /** Across stores from scratch, as the eager check computed it. */
  const aggregate = (k: Sku) => {
    const stores = state.storesOf(k);
    let available = 0;
    let sum: number | null = null;
    for (const s of stores) {
      available += views.levels(s, k).available;
      const t = threshold(s, k);
      if (t !== null) sum = (sum ?? 0) + t;
    }
    return { available, threshold: sum, stores: stores.length };
  };
  /** Whether every figure of the SKU is a whole number: the sums then must be used. */
  const whole = (k: Sku) => state.storesOf(k).every((s) => Number.isInteger(views.levels(s, k).available) && Number.isInteger(threshold(s, k) ?? 0));

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
      const { available, threshold: sum, stores } = aggregate(k);
      const detail = { available, stores };
      want('out_of_stock', ALL_STORES, k, stores > 0 && available <= 0 ? detail : null);
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

  let opsLed = false;
  const flush = async () => {
    // Past the writer lease (15 s): every flush asks the store whether OpsAlerts still leads.
    vi.setSystemTime(Date.now() + 20_000);
    if (!alerts.leading) {
      // Another process writes: OpsAlerts drops what it saw.
      opsCounters = [];
      opsSkus = [];
    } else if (!opsLed) {
      // Won back (takeOver): every counter after those touched, then the counters and SKUs of open stock alerts.
      for (const [s, k] of counters()) markOps(s, k);
      for (const kind of ['low_stock', 'out_of_stock'] as const)
        for (const a of alerts.all.values()) {
          if (a.kind !== kind || a.clearedAt !== null) continue;
          if (a.store === ALL_STORES) add(opsSkus, a.sku, (k) => k === a.sku);
          else markOps(a.store, a.sku);
        }
    }
    // OpsAlerts flushes first in this test: its changes come first.
    const checked = opsSkus;
    const ex = expectedChanges();
    opsCounters = [];
    opsSkus = [];
    overCounters = [];
    heard.length = 0;
    await ops.flush();
    await oversell.flush();
    expect(heard).toEqual(ex);
    opsLed = alerts.leading;
    if (!opsLed) return;
    // A SKU just checked with whole figures is checked from the sums next time.
    for (const k of checked) if (whole(k)) expect(ops.summed(k)).not.toBeNull();
  };
  /** At any moment, sums OpsAlerts would use are the sums from scratch. */
  const sumsHold = () => {
    for (const k of ALERT_SKUS) {
      const summed = ops.summed(k);
      const scratch = aggregate(k);
      if (summed !== null) expect(summed).toEqual({ available: scratch.available, threshold: scratch.threshold });
    }
  };

  // The first flush of each takes the lease and checks everything.
  oversell.start();
  ops.start();
  await ops.flush();
  await oversell.flush();
  opsLed = true;
  for (const a of actions) {
    switch (a.kind) {
      case 'entries':
        changes.entries(a.items.map((it) => ({ store: STORES[it.store]!, sku: SKUS[it.sku]!, replica: 'r-a' as ReplicaId, dp: it.dp, dn: it.dn })));
        break;
      case 'hold':
        changes.hold(STORES[a.store]!, SKUS[a.sku]!, a.qty, a.lapsesIn === null ? FAR : now + a.lapsesIn);
        break;
      case 'endHold':
        changes.endHold(a.pick, a.status);
        break;
      case 'tick':
        now += a.ms;
        break;
      case 'transfer': {
        // Rights moved between two replicas of the store: no figure changes, but it may create the counter (not marked).
        const k = `${STORES[a.store]}|${SKUS[a.sku]}`;
        const amount = (transferred.get(k) ?? 0) + a.amount;
        transferred.set(k, amount);
        const t: TransferEntry = { store: STORES[a.store]!, sku: SKUS[a.sku]!, from: 'r-a' as ReplicaId, to: 'r-b' as ReplicaId, amount };
        state.apply({ entries: [], transfers: [t], reservations: [] });
        break;
      }
      case 'threshold':
      case 'safety': {
        const k = `${STORES[a.store]}|${SKUS[a.sku]}`;
        if (a.kind === 'safety') safety.set(k, a.units);
        else if (a.units === null) thresholds.delete(k);
        else thresholds.set(k, a.units);
        // As the hub does on a document change: every counter is checked again.
        ops.recheckAll();
        for (const [s, sku] of counters()) markOps(s, sku);
        break;
      }
      case 'lease':
        alerts.leading = a.leading;
        break;
      case 'otherWriter': {
        // The writer another process is, once OpsAlerts saw it lost the lease: what it leaves open, OpsAlerts learns when it leads again.
        if (alerts.leading || opsLed) break;
        const s = a.store === 3 ? ALL_STORES : STORES[a.store]!;
        if (a.clearAll) for (const x of alerts.all.values()) if (x.kind !== 'oversell') x.clearedAt ??= 1_000;
        else await alerts.raise({ kind: a.alert, store: s, sku: ALERT_SKUS[a.sku]!, at: 1_000, detail: { by: 'another writer' } });
        break;
      }
      case 'flush':
        await flush();
        break;
    }
    sumsHold();
  }
  alerts.leading = true;
  await flush();
  // What is open is what the state calls for (the aggregate and per-counter checks above say the rest).
  for (const s of STORES)
    for (const k of SKUS) {
      const c = state.state.counter(s, k);
      if (c === undefined || !marked.has(`${s}|${k}`) || c.holds?.some((h) => h.expiresAt <= now)) continue;
      expect(isOpen('out_of_stock', s, k)).toBe(views.levels(s, k).available <= 0);
      expect(isOpen('oversell', s, k)).toBe(oversell.deficitOf(s, k) !== null);
    }
  await ops.stop();
  await oversell.stop();
}

describe('alert checks', () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'] }));
  afterEach(() => void vi.useRealTimers());

  it('announce exactly the alerts that open or clear, in the order touched, and leave open what the state calls for', async () => {
    // Two holds lapse at stores whose safety stock is a fraction: the sums, in another order than the stores', would say 5.800000000000001 for 5.8.
    const lapsed: [Action[], number | null] = [
      [
        { kind: 'safety', store: 0, sku: 0, units: 0.1 },
        { kind: 'safety', store: 1, sku: 0, units: 0.1 },
        { kind: 'entries', items: [0, 1, 2].map((store) => ({ store, sku: 0, dp: store === 2 ? 4 : 1, dn: 0 })) },
        { kind: 'hold', store: 0, sku: 0, qty: 1, lapsesIn: 1 },
        { kind: 'hold', store: 1, sku: 0, qty: 1, lapsesIn: 1 },
        { kind: 'flush' },
        { kind: 'tick', ms: 1 },
        { kind: 'flush' },
      ],
      null,
    ];
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), fc.option(fc.integer({ min: 1, max: 5 }), { nil: null, freq: 3 }), (actions, hubThreshold) => run(actions, hubThreshold)),
      { numRuns: runs, examples: [lapsed] },
    );
  });

  it('check a sale at one of 100 stores from that counter alone', async () => {
    const state = new HubState();
    const stores = Array.from({ length: 100 }, (_, i) => `s${i}` as StoreId);
    state.apply({ entries: stores.map((store) => ({ store, sku: 'K1' as Sku, replica: 'r-a' as ReplicaId, p: 10, n: 0 })), transfers: [], reservations: [] });
    const views = new StockViews({ state, isOnline: () => true, clock: () => 1_000 });
    let reads = 0;
    const ops = new OpsAlerts({
      state,
      alerts: memoryAlerts(),
      me: ME,
      log: quiet,
      stock: (s, k) => (reads++, views.levels(s, k)),
      lowStockThreshold: 3,
      connected: () => [],
      debounceMs: 1e9,
      tickMs: 1e9,
    });
    ops.start();
    await ops.flush();
    // The first flush checks every counter and the SKU from the sums they made.
    expect(reads).toBe(100);
    state.apply({ entries: [{ store: 's7' as StoreId, sku: 'K1' as Sku, replica: 'r-a' as ReplicaId, p: 10, n: 1 }], transfers: [], reservations: [] });
    await ops.flush();
    expect(reads).toBe(101);
    expect(ops.summed('K1' as Sku)).toEqual({ available: 999, threshold: 300 });
    await ops.stop();
  });
});

/**
 * The hub's in-memory apply path, in process: what runs after each COMMIT
 * (`HubState.apply` and its listeners: oversell, storefront views and feed,
 * operations alerts) plus the alert monitors' evaluation of what it touched
 * (`OpsAlerts.flush`, `OversellMonitor.flush`, normally 200 ms later).
 *
 * Wired as apps/sync-hub/src/hub.ts wires them, with the real classes: the
 * alert store and the Yjs documents on in-memory PGlite (the catalog empty,
 * as in bench/hub-ingest.ts), 100 stores online, SSE clients through the
 * real SseClients with a sink that only counts characters.
 *
 * Data as in bench/hub-ingest.ts's throughput phase: 100 stores x 1,000 SKUs
 * restocked (P = 1,000,000, so no alert opens), then commits of ~10,000
 * entries: per store two coalesced batches of 50 random 1-unit sales. The
 * shape is set by BENCH_HUB_APPLY_STORES, _SKUS and _SALES (per batch); e.g.
 * 1,000 stores x 100 SKUs, 5 sales per batch: the same 100,000 counters and
 * ~10,000 entries a commit, a cross-store check 10x wider.
 *
 * Scenarios: no SSE client (`none`, the ingest bench's case), 50 product
 * pages (each watching 4 SKUs at every store), one firehose (every SKU);
 * and `bare`, HubState alone (no listener, no flush): the CRDT merge, the
 * floor under the others.
 *
 * Figures: CPU µs (user + system, GC threads included) per applied entry
 * including the flushes, bytes allocated per entry (V8's sampling heap
 * profiler, objects collected by any GC included: an estimate), and the heap
 * the wired hub holds after its warm-up (after a full GC; the restocked
 * state included), and the SKUs whose cross-store check a flush left for a
 * later one (OpsAlerts' budget; mean after each flush).
 *
 * A/B in the same process: BENCH_HUB_APPLY_BASE=<other checkout> loads that
 * checkout's apps/sync-hub sources too (e.g. `git worktree add /tmp/x/base
 * HEAD` with node_modules linked to this checkout's); the variants take turns
 * per round (A B, B A, ...) and `*_vs_base` figures compare them.
 *
 * Run alone: node --import tsx --expose-gc bench/hub-apply.ts
 * Env: BENCH_HUB_APPLY_COMMITS (per scenario and round, default 12),
 * BENCH_HUB_APPLY_ROUNDS (default 3), BENCH_HUB_APPLY_BASE,
 * BENCH_HUB_APPLY_STORES (default 100), _SKUS (1,000), _SALES (50),
 * BENCH_HUB_APPLY_SCENARIOS (default bare,none,pages,firehose),
 * BENCH_HUB_APPLY_CACHED_THRESHOLD=1 or =head (thresholds through HubDocs'
 * cached `lowStockThreshold` instead of hub.ts's direct document reads, in
 * every variant or the one named; with BENCH_HUB_APPLY_BASE=. the two
 * variants differ only in that),
 * BENCH_HUB_APPLY_CPU_PROF=<path prefix> (a CPU profile of the measured
 * rounds, and the sampled allocations, for Chrome DevTools).
 */
import { writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CounterEntry, Delta, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';
import { CATALOG_DOC, lowStockThresholdOf, settingsDocName } from '@scoville/protocol/docs';
import { openSqlClient } from '../apps/sync-hub/src/db/open.js';
import { openHubStorage } from '../apps/sync-hub/src/store/sql-hub-storage.js';
import type { HubStorage } from '../apps/sync-hub/src/store/hub-storage.js';
import type { Logger } from '../apps/sync-hub/src/log.js';
import { log, report, type Figure } from './lib/figures.js';
import { requireGc } from './lib/heap.js';
import { rng } from './lib/random.js';

const STORES = Number(process.env.BENCH_HUB_APPLY_STORES ?? 100);
const SKUS = Number(process.env.BENCH_HUB_APPLY_SKUS ?? 1_000);
const SALES_PER_BATCH = Number(process.env.BENCH_HUB_APPLY_SALES ?? 50);
const BATCHES_PER_STORE = 2;
const START_P = 1_000_000;
const COMMITS = Number(process.env.BENCH_HUB_APPLY_COMMITS ?? 12);
const ROUNDS = Number(process.env.BENCH_HUB_APPLY_ROUNDS ?? 3);
const BASE = process.env.BENCH_HUB_APPLY_BASE ? path.resolve(process.env.BENCH_HUB_APPLY_BASE) : null;
const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ME = 'hub-bench-apply' as ReplicaId;
/** `1`: every variant; or the variants named (`head`, `base`). */
const CACHED_THRESHOLD = (process.env.BENCH_HUB_APPLY_CACHED_THRESHOLD ?? '').split(',');
/** A path prefix: a CPU profile of each scenario's measured rounds is written to <prefix>.<scenario>.cpuprofile. */
const CPU_PROF = process.env.BENCH_HUB_APPLY_CPU_PROF ?? null;

const storeIds = Array.from({ length: STORES }, (_, i) => `s${String(i + 1).padStart(4, '0')}` as StoreId);
const skus = Array.from({ length: SKUS }, (_, i) => `HSS-${String(i).padStart(5, '0')}` as Sku);
const quiet: Logger = { info() {}, warn() {}, error() {} };
const gc = requireGc();

// ---------------------------------------------------------------- the sources, from one checkout

async function modulesOf(root: string) {
  const src = (p: string) => path.join(root, 'apps/sync-hub/src', p);
  return {
    ...((await import(src('state/hub-state.ts'))) as typeof import('../apps/sync-hub/src/state/hub-state.js')),
    ...((await import(src('storefront/views.ts'))) as typeof import('../apps/sync-hub/src/storefront/views.js')),
    ...((await import(src('storefront/feed.ts'))) as typeof import('../apps/sync-hub/src/storefront/feed.js')),
    ...((await import(src('storefront/sse-clients.ts'))) as typeof import('../apps/sync-hub/src/storefront/sse-clients.js')),
    ...((await import(src('alerts/ops-alerts.ts'))) as typeof import('../apps/sync-hub/src/alerts/ops-alerts.js')),
    ...((await import(src('alerts/oversell.ts'))) as typeof import('../apps/sync-hub/src/alerts/oversell.js')),
    ...((await import(src('yjs/hub-docs.ts'))) as typeof import('../apps/sync-hub/src/yjs/hub-docs.js')),
  };
}
type Modules = Awaited<ReturnType<typeof modulesOf>>;

// ---------------------------------------------------------------- one hub's apply path

type Scenario = 'bare' | 'none' | 'pages' | 'firehose';

interface Wired {
  apply(delta: Delta): Promise<void>;
  /** Characters written to the SSE clients. */
  written(): number;
  /** SKUs left for a later flush's cross-store checks, summed over the applies so far, and those applies. */
  backlog: { skus: number; applies: number };
  close(): Promise<void>;
}

async function wire(m: Modules, storage: HubStorage, scenario: Scenario, variant: string): Promise<Wired> {
  const cachedThreshold = CACHED_THRESHOLD.includes('1') || CACHED_THRESHOLD.includes(variant);
  const state = new m.HubState();
  // Loaded before the listeners, as startHub loads the state first.
  const restock: CounterEntry[] = [];
  for (const store of storeIds) for (const sku of skus) restock.push({ store, sku, replica: `${store}.bench` as ReplicaId, p: START_P, n: 0 });
  state.apply({ entries: restock, transfers: [], reservations: [] });
  if (scenario === 'bare')
    return {
      apply: async (delta) => void state.apply(delta),
      written: () => 0,
      backlog: { skus: 0, applies: 0 },
      close: async () => undefined,
    };
  const online = new Set<StoreId>(storeIds);
  const oversell = new m.OversellMonitor({ state, alerts: storage.alerts, me: ME, clock: Date.now, log: quiet, debounceMs: 1e9 });
  const docs = new m.HubDocs({ yjs: storage.yjs, log: quiet });
  await docs.start();
  const views = new m.StockViews({ state, isOnline: (s) => online.has(s), clock: Date.now, safetyStock: (s, k) => docs.safetyStock(s, k) });
  const feed = new m.StorefrontFeed(state, views);
  const sse = new m.SseClients(feed);
  docs.onChange(() => views.settingsChanged());
  const ops = new m.OpsAlerts({
    state,
    alerts: storage.alerts,
    me: ME,
    log: quiet,
    stock: (store, sku) => views.levels(store, sku),
    docThreshold: (store, sku) => {
      // BENCH_HUB_APPLY_CACHED_THRESHOLD=1: HubDocs' cached reads where the checkout has them (not wired in hub.ts yet).
      if (cachedThreshold && 'lowStockThreshold' in docs) return docs.lowStockThreshold(store, sku);
      const catalog = docs.loaded(CATALOG_DOC);
      return catalog ? lowStockThresholdOf(catalog.doc, docs.loaded(settingsDocName(store))?.doc ?? null, sku) : null;
    },
    lowStockThreshold: null,
    connected: () => [...online],
    debounceMs: 1e9,
    tickMs: 1e9,
  });
  docs.onChange(() => ops.recheckAll());
  oversell.start();
  ops.start();
  await ops.flush();
  await oversell.flush();

  let chars = 0;
  const sink = { write: (s: string) => void (chars += s.length), buffered: () => 0, end() {}, onClose() {} };
  const pick = rng(7);
  if (scenario === 'pages')
    for (let i = 0; i < 50; i++) {
      const watch = new Set(Array.from({ length: 4 }, () => skus[Math.floor(pick() * SKUS)]!));
      sse.serve(sink, { skus: watch, storeId: null, types: null }, null);
    }
  if (scenario === 'firehose') sse.serve(sink, { skus: null, storeId: null, types: null }, null);

  // The cross-store checks' backlog (AGGREGATE_BUDGET): a private field, read here only.
  const dirtySkus = (ops as unknown as { dirtySkus: Set<Sku> }).dirtySkus;
  const backlog = { skus: 0, applies: 0 };
  return {
    async apply(delta) {
      state.apply(delta);
      await ops.flush();
      await oversell.flush();
      backlog.skus += dirtySkus.size;
      backlog.applies++;
    },
    written: () => chars,
    backlog,
    async close() {
      feed.close();
      sse.close();
      await ops.stop();
      await oversell.stop();
      await docs.close();
    },
  };
}

/** The sales of one commit: per store, BATCHES_PER_STORE batches, each coalesced to one entry per SKU sold. */
function salesDelta(sold: Int32Array, rand: () => number): Delta {
  const entries: CounterEntry[] = [];
  for (let s = 0; s < STORES; s++) {
    const store = storeIds[s]!;
    for (let b = 0; b < BATCHES_PER_STORE; b++) {
      const touched = new Set<number>();
      for (let i = 0; i < SALES_PER_BATCH; i++) {
        const k = Math.floor(rand() * SKUS);
        sold[s * SKUS + k]!++;
        touched.add(k);
      }
      for (const k of touched) entries.push({ store, sku: skus[k]!, replica: `${store}.bench` as ReplicaId, p: START_P, n: sold[s * SKUS + k]! });
    }
  }
  return { entries, transfers: [], reservations: [] };
}

// ---------------------------------------------------------------- measuring

const session = new inspector.Session();
session.connect();
const post = <T>(method: string, params?: object) => new Promise<T>((res, rej) => session.post(method, params, (e, r) => (e ? rej(e) : res(r as T))));

interface HeapNode {
  selfSize: number;
  children: HeapNode[];
}
const sampledBytes = (n: HeapNode): number => n.children.reduce((a, c) => a + sampledBytes(c), n.selfSize);

interface Variant {
  name: string;
  hub: Wired;
  sold: Int32Array;
  rand: () => number;
  cpuUs: number;
  entries: number;
  /** Heap held after wiring and warm-up, bytes. */
  heap: number;
}

async function measureCpu(v: Variant, commits: number): Promise<void> {
  for (let i = 0; i < commits; i++) {
    const delta = salesDelta(v.sold, v.rand);
    const t0 = process.cpuUsage();
    await v.hub.apply(delta);
    const t = process.cpuUsage(t0);
    v.cpuUs += t.user + t.system;
    v.entries += delta.entries.length;
  }
}

async function measureAlloc(v: Variant, commits: number, scenario: Scenario): Promise<number> {
  const deltas = Array.from({ length: commits }, () => salesDelta(v.sold, v.rand));
  const entries = deltas.reduce((a, d) => a + d.entries.length, 0);
  gc();
  await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (const d of deltas) await v.hub.apply(d);
  const { profile } = await post<{ profile: { head: HeapNode } }>('HeapProfiler.stopSampling');
  if (CPU_PROF !== null) writeFileSync(`${CPU_PROF}.${scenario}.${v.name}.heapprofile`, JSON.stringify(profile));
  return sampledBytes(profile.head) / entries;
}

async function main(): Promise<void> {
  const storage = openHubStorage(await openSqlClient({}));
  await storage.migrate();
  await post('HeapProfiler.enable');
  const roots: [string, string][] = [['head', HERE], ...(BASE !== null ? [['base', BASE] as [string, string]] : [])];
  const mods = new Map<string, Modules>();
  for (const [name, root] of roots) mods.set(name, await modulesOf(root));
  const figures: Figure[] = [];
  for (const scenario of (process.env.BENCH_HUB_APPLY_SCENARIOS ?? 'bare,none,pages,firehose').split(',') as Scenario[]) {
    const variants: Variant[] = [];
    for (const [name] of roots) {
      gc();
      const before = process.memoryUsage().heapUsed;
      const v: Variant = { name, hub: await wire(mods.get(name)!, storage, scenario, name), sold: new Int32Array(STORES * SKUS), rand: rng(42), cpuUs: 0, entries: 0, heap: 0 };
      // Warm-up: the JIT, the first flush (every counter), the lease.
      await measureCpu(v, 3);
      gc();
      v.heap = process.memoryUsage().heapUsed - before;
      v.cpuUs = 0;
      v.entries = 0;
      v.hub.backlog.skus = v.hub.backlog.applies = 0;
      variants.push(v);
    }
    if (CPU_PROF !== null) await post('Profiler.enable').then(() => post('Profiler.start'));
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) await measureCpu(v, COMMITS);
    }
    if (CPU_PROF !== null) {
      const { profile } = await post<{ profile: unknown }>('Profiler.stop');
      writeFileSync(`${CPU_PROF}.${scenario}.cpuprofile`, JSON.stringify(profile));
    }
    const alloc = new Map<string, number>();
    for (const v of variants) alloc.set(v.name, await measureAlloc(v, 3, scenario));
    for (const v of variants) {
      const suffix = v.name === 'head' ? '' : `_${v.name}`;
      const us = v.cpuUs / v.entries;
      const backlog = v.hub.backlog.skus / Math.max(1, v.hub.backlog.applies);
      log(`${scenario} ${v.name}: ${us.toFixed(3)} us CPU/entry over ${v.entries} entries, ${alloc.get(v.name)!.toFixed(0)} B allocated/entry, ${(v.heap / 1e6).toFixed(1)} MB heap held, ${backlog.toFixed(0)} SKUs left unchecked after a flush, ${v.hub.written()} chars to SSE clients`);
      figures.push({ name: `${scenario}_cpu_us_per_entry${suffix}`, value: us, unit: 'us', ...(v.name === 'head' && BASE !== null ? { baseline: `${scenario}_cpu_us_per_entry_base` } : {}), note: v.name === 'head' ? (scenario === 'bare' ? 'HubState.apply alone: the CRDT merge' : `apply + alert flushes, SSE clients: ${scenario}`) : undefined });
      figures.push({ name: `${scenario}_alloc_bytes_per_entry${suffix}`, value: alloc.get(v.name)!, unit: 'B', ...(v.name === 'head' && BASE !== null ? { baseline: `${scenario}_alloc_bytes_per_entry_base` } : {}) });
      if (scenario !== 'bare') figures.push({ name: `${scenario}_aggregate_backlog_skus${suffix}`, value: backlog, unit: 'SKUs', note: v.name === 'head' ? 'SKUs whose cross-store check waits for a later flush, after each flush (mean)' : undefined });
      figures.push({ name: `${scenario}_heap_mb${suffix}`, value: v.heap / 1e6, unit: 'MB', ...(v.name === 'head' && BASE !== null ? { baseline: `${scenario}_heap_mb_base` } : {}) });
    }
    for (const v of variants) await v.hub.close();
  }
  report(figures);
  await storage.close();
}

await main();

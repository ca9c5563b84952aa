/**
 * The hub's inventory CRDT at full size: 100 stores x 10,000 SKUs = 1,000,000
 * counters, each with P/N of two replicas (the store's edge agent and the
 * hub), so 2,000,000 CounterEntries.
 *
 * Figures: merge throughput through `InventoryState.applyDelta` (every entry
 * changing something, and duplicates), retained heap per counter, digest of
 * one store, full changedSince; and as the in-run baseline, the changing merge
 * and the heap of a naive Map<"store|sku|replica", {p,n}> with the same data.
 *
 * Two phases, each with only its own structure alive, so the garbage one
 * makes is not collected while the other's heap is being marked:
 *   A. InventoryState: build (retained heap), digest, changedSince, merges.
 *   B. naive map: build (retained heap), merges.
 *
 * Id strings come from one shared catalog (100 store ids, 10,000 SKUs, 101
 * replica ids), as at the hub where JSON.parse internalizes short strings:
 * so the heap figures count the structure, not a million copies of "HSS-00123".
 *
 * Run alone: node --import tsx --expose-gc bench/crdt.ts
 */
import { InventoryState, type CounterEntry, type Delta, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { log, report, type Figure } from './lib/figures.js';
import { measureRetained, requireGc } from './lib/heap.js';
import { median, now, timeIt } from './lib/stats.js';
import { rng } from './lib/random.js';

const STORES = 100;
const SKUS_PER_STORE = 10_000;
const BATCH = 1_000;
const COUNTERS = STORES * SKUS_PER_STORE;
const FULL_ENTRIES = COUNTERS * 2;
/** Merge rounds: one warmup, then at least MIN_ROUNDS and MIN_MEASURED_MS of timed rounds per variant. */
const MIN_ROUNDS = 5;
const MAX_ROUNDS = 12;
const MIN_MEASURED_MS = 3_000;

const gc = requireGc();

// ---------------------------------------------------------------- data


function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = tmp;
  }
  return xs;
}

interface Catalog {
  stores: StoreId[];
  /** The edge agent of each store, e.g. store-042-a1b2c3. */
  storeReplicas: ReplicaId[];
  hub: ReplicaId;
  skus: Sku[];
}

function makeCatalog(): Catalog {
  const rand = rng(42);
  const stores: StoreId[] = [];
  const storeReplicas: ReplicaId[] = [];
  for (let s = 0; s < STORES; s++) {
    const store = `store-${String(s).padStart(3, '0')}`;
    const suffix = Math.floor(rand() * 0x1000000)
      .toString(16)
      .padStart(6, '0');
    stores.push(store as StoreId);
    storeReplicas.push(`${store}-${suffix}` as ReplicaId);
  }
  const skus: Sku[] = [];
  for (let k = 0; k < SKUS_PER_STORE; k++) skus.push(`HSS-${String(k).padStart(5, '0')}` as Sku);
  return { stores, storeReplicas, hub: 'hub-1' as ReplicaId, skus };
}

function delta(entries: CounterEntry[]): Delta {
  return { entries, transfers: [], reservations: [] };
}

/**
 * The full state as batches of BATCH entries, one store at a time, generated
 * lazily (identical every call) so the batches are garbage by the time the
 * retained heap is sampled. Store replica: P 1..500, N <= P; hub: P 1..50.
 */
function forEachFullBatch(cat: Catalog, fn: (entries: CounterEntry[]) => void): void {
  const rand = rng(7);
  let batch: CounterEntry[] = [];
  for (let s = 0; s < STORES; s++) {
    const store = cat.stores[s]!;
    const own = cat.storeReplicas[s]!;
    for (const sku of cat.skus) {
      const p1 = 1 + Math.floor(rand() * 500);
      const p2 = 1 + Math.floor(rand() * 50);
      batch.push({ store, sku, replica: own, p: p1, n: Math.floor(rand() * p1) });
      batch.push({ store, sku, replica: cat.hub, p: p2, n: Math.floor(rand() * p2) });
      if (batch.length >= BATCH) {
        fn(batch);
        batch = [];
      }
    }
  }
  if (batch.length > 0) fn(batch);
}

/**
 * One round of incoming deltas: every (store, sku) once, from one of its two
 * replicas, in batches of BATCH entries of one store and one replica (as an
 * edge agent or the hub would send them), batches in random store order.
 * Values start above anything in the full state; `bump` raises them so the
 * next round changes every entry again.
 */
function makeMergeBatches(cat: Catalog): Delta[] {
  const rand = rng(1234);
  const batches: Delta[] = [];
  const perStore = SKUS_PER_STORE / BATCH;
  for (let s = 0; s < STORES; s++) {
    const order = shuffle([...cat.skus], rand);
    for (let b = 0; b < perStore; b++) {
      // One batch in ten per store comes from the hub, the rest from the store.
      const replica = b === perStore - 1 ? cat.hub : cat.storeReplicas[s]!;
      const entries: CounterEntry[] = [];
      for (let i = b * BATCH; i < (b + 1) * BATCH; i++) {
        const p = 1_000 + Math.floor(rand() * 1_000);
        entries.push({ store: cat.stores[s]!, sku: order[i]!, replica, p, n: Math.floor(p / 2) });
      }
      batches.push(delta(entries));
    }
  }
  return shuffle(batches, rand);
}

function bump(batches: Delta[]): void {
  for (const d of batches) {
    for (const e of d.entries) {
      e.p += 3;
      e.n += 2;
    }
  }
}

// ---------------------------------------------------------------- naive baseline

interface NaivePN {
  p: number;
  n: number;
}

/** The layout InventoryState avoids: one string-keyed map entry and object per (store, sku, replica). */
class NaiveMapState {
  readonly map = new Map<string, NaivePN>();

  /** Max-merge; returns the entries that changed something, like applyDelta. */
  apply(entries: CounterEntry[]): CounterEntry[] {
    const out: CounterEntry[] = [];
    const map = this.map;
    for (const e of entries) {
      const key = `${e.store}|${e.sku}|${e.replica}`;
      const cur = map.get(key);
      if (cur === undefined) {
        if (e.p === 0 && e.n === 0) continue;
        map.set(key, { p: e.p, n: e.n });
        out.push(e);
        continue;
      }
      let changed = false;
      if (e.p > cur.p) {
        cur.p = e.p;
        changed = true;
      }
      if (e.n > cur.n) {
        cur.n = e.n;
        changed = true;
      }
      if (changed) out.push(e);
    }
    return out;
  }
}

// ---------------------------------------------------------------- merge rounds

interface MergeResult {
  /** Entries per second of each timed round. */
  rates: number[];
  measuredMs: number;
}

/**
 * Warmup round, then timed rounds until MIN_ROUNDS and MIN_MEASURED_MS.
 * Each round: bump (untimed), gc (untimed), apply every batch (timed), then,
 * `withDuplicates`, gc and the same batches again (timed separately). Verifies
 * that every entry changed something in the first pass and nothing in the
 * second.
 */
function mergeRounds(
  name: string,
  batches: Delta[],
  apply: (d: Delta) => number,
  withDuplicates: boolean,
): { change: MergeResult; noop: MergeResult } {
  const total = batches.reduce((n, d) => n + d.entries.length, 0);
  const change: MergeResult = { rates: [], measuredMs: 0 };
  const noop: MergeResult = { rates: [], measuredMs: 0 };
  const pass = (expectChanged: number, into: MergeResult | null): void => {
    gc();
    const t0 = now();
    let changed = 0;
    for (const d of batches) changed += apply(d);
    const ms = now() - t0;
    if (changed !== expectChanged) throw new Error(`${name}: ${changed} of ${total} entries changed something, expected ${expectChanged}`);
    if (into !== null) {
      into.rates.push(total / (ms / 1000));
      into.measuredMs += ms;
    }
  };
  for (let round = 0; round <= MAX_ROUNDS; round++) {
    const warmup = round === 0;
    bump(batches);
    pass(total, warmup ? null : change);
    if (withDuplicates) pass(0, warmup ? null : noop);
    if (warmup) continue;
    log(
      `  ${name} round ${round}: ${fmtRate(change.rates.at(-1)!)} changed` +
        (withDuplicates ? `, ${fmtRate(noop.rates.at(-1)!)} duplicate` : ''),
    );
    const enough = (r: MergeResult): boolean => r.rates.length >= MIN_ROUNDS && r.measuredMs >= MIN_MEASURED_MS;
    if (enough(change) && (!withDuplicates || enough(noop))) break;
  }
  return { change, noop };
}

function fmtRate(r: number): string {
  return `${(r / 1e6).toFixed(2)} M entries/s`;
}

function roundsNote(r: MergeResult): string {
  const sorted = [...r.rates].sort((a, b) => a - b);
  return `median of ${r.rates.length} rounds of ${COUNTERS.toLocaleString('en-US')} entries in batches of ${BATCH} (${(r.measuredMs / 1000).toFixed(1)} s measured; min ${fmtRate(sorted[0]!)}, max ${fmtRate(sorted.at(-1)!)})`;
}

// ---------------------------------------------------------------- main

// Each phase is a function so that its structures are unreachable once it
// returns (locals of the module body would stay on its stack frame).

/** Phase A: InventoryState. */
function phaseA(cat: Catalog, figures: Figure[]): void {
  log(`phase A: InventoryState, ${STORES} stores x ${SKUS_PER_STORE} SKUs x 2 replicas`);
  let t0 = now();
  const built = measureRetained(() => {
    const state = new InventoryState();
    forEachFullBatch(cat, (entries) => state.applyDelta(delta(entries)));
    return state;
  });
  const state = built.value;
  log(`  built and measured in ${((now() - t0) / 1000).toFixed(1)} s: ${built.bytes} bytes retained`);
  if (state.counterCount() !== COUNTERS) throw new Error(`expected ${COUNTERS} counters, got ${state.counterCount()}`);
  figures.push({
    name: 'heap_bytes_per_counter',
    value: built.bytes / COUNTERS,
    unit: 'B',
    goal: { op: '<=', value: 300 },
    baseline: 'heap_bytes_per_counter_naive_map',
    note: `retained ${(built.bytes / 2 ** 20).toFixed(1)} MiB (V8 heap ${built.heapBytes}, ArrayBuffers ${built.arrayBufferBytes}) for ${COUNTERS.toLocaleString('en-US')} counters / ${FULL_ENTRIES.toLocaleString('en-US')} P/N entries`,
  });

  const digests = timeIt((i) => state.digest(cat.stores[(i + STORES) % STORES]!), { warmup: 3, iterations: 20 });
  figures.push({
    name: 'digest_ms_per_store',
    value: digests.p50,
    unit: 'ms',
    note: `p50 of ${digests.n} stores of ${SKUS_PER_STORE.toLocaleString('en-US')} SKUs (p99 ${digests.p99.toFixed(1)} ms)`,
  });
  log(`  digest: p50 ${digests.p50.toFixed(1)} ms, p99 ${digests.p99.toFixed(1)} ms`);

  let entriesSeen = -1;
  gc();
  const changed = timeIt(
    () => {
      const d = state.changedSince(0);
      entriesSeen = d.entries.length;
      return d;
    },
    { warmup: 1, iterations: 5 },
  );
  if (entriesSeen !== FULL_ENTRIES) throw new Error(`changedSince(0) returned ${entriesSeen} entries, expected ${FULL_ENTRIES}`);
  figures.push({
    name: 'changed_since_ms',
    value: changed.p50,
    unit: 'ms',
    note: `full-state changedSince(0), ${FULL_ENTRIES.toLocaleString('en-US')} entries; p50 of ${changed.n} (p99 ${changed.p99.toFixed(0)} ms)`,
  });
  log(`  changedSince(0): p50 ${changed.p50.toFixed(0)} ms`);

  t0 = now();
  const batches = makeMergeBatches(cat);
  log(`  ${batches.length} merge batches generated in ${((now() - t0) / 1000).toFixed(1)} s`);
  const m = mergeRounds('applyDelta', batches, (d) => state.applyDelta(d).entries.length, true);
  figures.push({
    name: 'merge_entries_per_s',
    value: median(m.change.rates),
    unit: 'entries/s',
    goal: { op: '>=', value: 1_000_000 },
    baseline: 'merge_entries_per_s_naive_map',
    note: `every entry raises P and N; ${roundsNote(m.change)}`,
  });
  figures.push({
    name: 'merge_entries_per_s_noop',
    value: median(m.noop.rates),
    unit: 'entries/s',
    baseline: 'merge_entries_per_s',
    note: `the same batches again right after: duplicates, nothing changes; ${roundsNote(m.noop)}`,
  });
}

/** Phase B: naive map, same data (the InventoryState of phase A is garbage now). */
function phaseB(cat: Catalog, figures: Figure[]): void {
  gc();
  log(`phase B: naive Map<"store|sku|replica", {p,n}> (heap in use at start: ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB)`);
  let t0 = now();
  const built = measureRetained(() => {
    const naive = new NaiveMapState();
    forEachFullBatch(cat, (entries) => naive.apply(entries));
    return naive;
  });
  const naive = built.value;
  log(`  built and measured in ${((now() - t0) / 1000).toFixed(1)} s: ${built.bytes} bytes retained`);
  if (naive.map.size !== FULL_ENTRIES) throw new Error(`expected ${FULL_ENTRIES} naive entries, got ${naive.map.size}`);
  figures.push({
    name: 'heap_bytes_per_counter_naive_map',
    value: built.bytes / COUNTERS,
    unit: 'B',
    note: `retained ${(built.bytes / 2 ** 20).toFixed(1)} MiB for the same ${COUNTERS.toLocaleString('en-US')} counters (${FULL_ENTRIES.toLocaleString('en-US')} map entries)`,
  });

  t0 = now();
  const batches = makeMergeBatches(cat);
  log(`  ${batches.length} merge batches generated in ${((now() - t0) / 1000).toFixed(1)} s`);
  const m = mergeRounds('naive map', batches, (d) => naive.apply(d.entries).length, false);
  figures.push({ name: 'merge_entries_per_s_naive_map', value: median(m.change.rates), unit: 'entries/s', note: roundsNote(m.change) });
}

const figures: Figure[] = [];
const started = now();
const catalog = makeCatalog();
phaseA(catalog, figures);
phaseB(catalog, figures);
log(`done in ${((now() - started) / 1000).toFixed(1)} s`);
report(figures);

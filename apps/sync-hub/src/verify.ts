import { InventoryState, deltaOf, digestOf, foldEvents, type InventoryEvent, type ReplicaId, type StoreId } from '@scoville/crdt-inventory';
import type { HubStorage } from './store/hub-storage.js';

export interface ReplicaReport {
  replica: ReplicaId;
  events: number;
  /** Highest event seq stored (over every store: a hub replica's seqs span stores); with gaps below it the backfill is not finished. */
  lastSeq: number;
  missingSeqs: number;
  /** The missing seqs below lastSeq, as inclusive [from, to] ranges. */
  missingRanges: [number, number][];
  /** The replica's stored entries equal the fold of its stored events. */
  matches: boolean;
  storedDigest: string;
  foldedDigest: string;
}

export interface StoreReport {
  store: StoreId;
  ok: boolean;
  replicas: ReplicaReport[];
}

/**
 * The hub-side `verify`: for every replica that has events in a store, fold
 * its event log (as stored in Postgres) and compare with its stored CRDT
 * entries. A replica whose log has gaps is still backfilling: reported, and
 * not a mismatch unless its log is complete.
 */
export async function verifyStores(storage: Pick<HubStorage, 'inventory' | 'access'>, only?: StoreId): Promise<StoreReport[]> {
  // The entries and the event pages are read in several queries while a hub may be committing
  // (an expiry sweep, a sale): a commit between them shows as a mismatch that is not one. Every
  // commit that changes entries adds events, so a mismatch is trusted only when the event count
  // did not move while it was read; otherwise everything is read again.
  for (let attempt = 1; ; attempt++) {
    const before = await storage.inventory.eventCount();
    const reports = await verifyOnce(storage, only);
    if (reports.every((r) => r.ok) || attempt >= VERIFY_ATTEMPTS) return reports;
    if ((await storage.inventory.eventCount()) === before) return reports;
  }
}

/** Reads before a mismatch seen while commits kept landing is reported as it is. */
const VERIFY_ATTEMPTS = 5;

async function verifyOnce({ inventory, access }: Pick<HubStorage, 'inventory' | 'access'>, only?: StoreId): Promise<StoreReport[]> {
  const loaded = await inventory.loadState();
  const state = new InventoryState();
  state.applyDelta(loaded.delta);
  // Stores with events but no entries yet are verified too.
  const stores = only !== undefined ? [only] : [...new Set([...state.storeIds(), ...(await access.listStores()).map((x) => x.storeId)])].sort();
  // A hub replica writes to many stores under one seq sequence, so a
  // replica's gaps are judged over its whole log, not per store.
  const seqsOf = new Map<ReplicaId, number[]>();
  for (const s of stores) {
    for await (const page of eventPages(inventory, s)) {
      for (const e of page) {
        let list = seqsOf.get(e.replica);
        if (!list) seqsOf.set(e.replica, (list = []));
        list.push(e.seq);
      }
    }
  }
  const gaps = new Map<ReplicaId, { lastSeq: number; missingSeqs: number; missingRanges: [number, number][] }>();
  for (const [replica, seqs] of seqsOf) {
    seqs.sort((a, b) => a - b);
    const missingRanges: [number, number][] = [];
    let next = 1;
    for (const q of seqs) {
      if (q > next) missingRanges.push([next, q - 1]);
      next = q + 1;
    }
    const lastSeq = seqs[seqs.length - 1]!;
    gaps.set(replica, { lastSeq, missingSeqs: lastSeq - seqs.length, missingRanges });
  }
  const reports: StoreReport[] = [];
  for (const s of stores) {
    const byReplica = new Map<ReplicaId, InventoryEvent[]>();
    for await (const page of eventPages(inventory, s)) {
      for (const e of page) {
        let list = byReplica.get(e.replica);
        if (!list) byReplica.set(e.replica, (list = []));
        list.push(e);
      }
    }
    const replicas: ReplicaReport[] = [];
    for (const [replica, events] of [...byReplica].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const storedDigest = digestOf(deltaOf(state.toDelta(s), replica));
      const foldedDigest = digestOf(foldEvents(events).entriesOf(replica, s));
      replicas.push({ replica, events: events.length, ...gaps.get(replica)!, matches: storedDigest === foldedDigest, storedDigest, foldedDigest });
    }
    reports.push({ store: s, ok: replicas.every((r) => r.matches || r.missingSeqs > 0), replicas });
  }
  return reports;
}

async function* eventPages(inventory: HubStorage['inventory'], store: StoreId): AsyncGenerator<InventoryEvent[]> {
  let after: { replica: string; seq: number } | null = null;
  for (;;) {
    const page = await inventory.events(store, after, 10_000);
    if (page.length === 0) return;
    yield page;
    const last = page[page.length - 1]!;
    after = { replica: last.replica, seq: last.seq };
  }
}

/** `[[3, 4], [7, 7]]` → `3-4, 7`. */
export function formatRanges(ranges: readonly [number, number][]): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(', ');
}

import { InventoryState, deltaOf, digestOf, foldEvents, type InventoryEvent, type ReplicaId, type StoreId } from '@scoville/crdt-inventory';
import type { HubStorage } from './store/hub-storage.js';

export interface ReplicaReport {
  replica: ReplicaId;
  events: number;
  /** Highest event seq stored; with gaps below it the backfill is not finished. */
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
export async function verifyStores({ inventory, access }: Pick<HubStorage, 'inventory' | 'access'>, only?: StoreId): Promise<StoreReport[]> {
  const loaded = await inventory.loadState();
  const state = new InventoryState();
  state.applyDelta(loaded.delta);
  // Stores with events but no entries yet are verified too.
  const stores = only !== undefined ? [only] : [...new Set([...state.storeIds(), ...(await access.listStores()).map((x) => x.storeId)])].sort();
  const reports: StoreReport[] = [];
  for (const s of stores) {
    const byReplica = new Map<ReplicaId, InventoryEvent[]>();
    let after: { replica: string; seq: number } | null = null;
    for (;;) {
      const page = await inventory.events(s, after, 10_000);
      if (page.length === 0) break;
      for (const e of page) {
        let list = byReplica.get(e.replica);
        if (!list) byReplica.set(e.replica, (list = []));
        list.push(e);
      }
      const last = page[page.length - 1]!;
      after = { replica: last.replica, seq: last.seq };
    }
    const replicas: ReplicaReport[] = [];
    for (const [replica, events] of [...byReplica].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const lastSeq = events[events.length - 1]!.seq;
      const missingSeqs = lastSeq - events.length;
      const missingRanges: [number, number][] = [];
      let next = 1;
      for (const e of events) {
        if (e.seq > next) missingRanges.push([next, e.seq - 1]);
        next = e.seq + 1;
      }
      const storedDigest = digestOf(deltaOf(state.toDelta(s), replica));
      const foldedDigest = digestOf(foldEvents(events).entriesOf(replica, s));
      replicas.push({ replica, events: events.length, lastSeq, missingSeqs, missingRanges, matches: storedDigest === foldedDigest, storedDigest, foldedDigest });
    }
    reports.push({ store: s, ok: replicas.every((r) => r.matches || r.missingSeqs > 0), replicas });
  }
  return reports;
}

/** `[[3, 4], [7, 7]]` → `3-4, 7`. */
export function formatRanges(ranges: readonly [number, number][]): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(', ');
}

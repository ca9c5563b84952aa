/**
 * The storefront feed builds an availability event's view when it is read,
 * from figures taken when it was published, and takes nothing until an id
 * of the feed has left the process. What clients get must be what building
 * every view at once gave: a reference listener, registered after the feed,
 * builds each view eagerly with `StockViews.storeStock` (the feed's former
 * code) in the same apply; subscribers, resumptions (`since`) at later
 * times (the state, the clock, presence and safety stock moved on since)
 * and the feed's counts are compared with it on random runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReplicaId, ReservationStatus, Sku, StoreId } from '@scoville/crdt-inventory';
import { HubState } from '../../src/state/hub-state.js';
import { matches, StorefrontFeed, type FeedEvent, type FeedFilter, type FeedType } from '../../src/storefront/feed.js';
import { sseFrame } from '../../src/storefront/sse-clients.js';
import { StockViews, touchedSkus } from '../../src/storefront/views.js';
import { RandomChanges } from '../helpers/random-changes.js';

const runs = Number(process.env.FC_RUNS ?? 1_000);
const STORES = ['s1', 's2', 's3'] as StoreId[];
const SKUS = ['K1', 'K2', 'K3', 'K4'] as Sku[];
const REPLICAS = ['r-a', 'r-b'] as ReplicaId[];
const RING = 12;

/** What a client sees of one event: its number (the id without the epoch) and SSE frame text. */
interface Seen {
  n: number;
  type: FeedType;
  storeId: string | null;
  sku: string | null;
  /** JSON of the data; null for reservation events (built at publishing, as before). */
  data: string | null;
}

type Action =
  | { kind: 'entries'; items: { store: number; sku: number; replica: number; dp: number; dn: number }[] }
  | { kind: 'hold'; store: number; sku: number; qty: number; ttl: number }
  | { kind: 'endHold'; pick: number; status: ReservationStatus }
  | { kind: 'clock'; ms: number }
  | { kind: 'presence'; store: number }
  | { kind: 'safety'; store: number; sku: number; units: number }
  | { kind: 'subscribe'; skus: number[] | null; store: number | null; types: FeedType[] | null }
  | { kind: 'unsubscribe'; pick: number }
  | { kind: 'resume'; pick: number }
  | { kind: 'lastId' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('entries' as const),
      items: fc.array(fc.record({ store: fc.nat(2), sku: fc.nat(3), replica: fc.nat(1), dp: fc.nat(3), dn: fc.nat(3) }), { minLength: 1, maxLength: 6 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hold' as const), store: fc.nat(2), sku: fc.nat(3), qty: fc.integer({ min: 1, max: 4 }), ttl: fc.integer({ min: 1, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('endHold' as const), pick: fc.nat(), status: fc.constantFrom<ReservationStatus>('expired', 'released', 'committed') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('clock' as const), ms: fc.nat(2_000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('presence' as const), store: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('safety' as const), store: fc.nat(2), sku: fc.nat(3), units: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('subscribe' as const),
      skus: fc.option(fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 3 }), { nil: null }),
      store: fc.option(fc.nat(2), { nil: null }),
      types: fc.option(fc.uniqueArray(fc.constantFrom<FeedType>('availability', 'store', 'reservation'), { minLength: 1 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resume' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lastId' as const }) },
);

const numberOf = (id: string) => Number(id.slice(id.lastIndexOf('.') + 1));
const seen = (e: FeedEvent): Seen => ({ n: numberOf(e.id), type: e.type, storeId: e.storeId, sku: e.sku, data: e.type === 'availability' ? JSON.stringify(e.data) : null });

function run(actions: Action[]): void {
  const state = new HubState();
  let now = 1_700_000_000_000;
  const online = new Set<StoreId>();
  const safety = new Map<string, number>();
  const views = new StockViews({ state, isOnline: (s) => online.has(s), clock: () => now, safetyStock: (s, k) => safety.get(`${s}|${k}`) ?? 0 });
  const feed = new StorefrontFeed(state, views, RING);
  // The reference: every view built in the apply that changed it, as the feed did before.
  const reference: Seen[] = [];
  state.onChange((changes) => {
    for (const ch of changes) {
      for (const sku of touchedSkus(ch.delta)) reference.push({ n: reference.length + 1, type: 'availability', storeId: ch.store, sku, data: JSON.stringify(views.storeStock(ch.store, sku)) });
      for (const r of ch.delta.reservations) reference.push({ n: reference.length + 1, type: 'reservation', storeId: r.store, sku: r.sku, data: null });
    }
  });
  const changes = new RandomChanges(state, 'hub-1' as ReplicaId);
  interface Client {
    filter: FeedFilter;
    /** Reference events from this number on reach it while subscribed. */
    from: number;
    got: Seen[];
    /** Ids handed to it (for resuming), with the filter it used. */
    ids: string[];
    off: () => void;
    live: boolean;
  }
  const clients: Client[] = [];
  const handed: { id: string; filter: FeedFilter }[] = [];
  const expected = (c: Client, until: number) => reference.filter((e) => e.n >= c.from && e.n <= until && matches(c.filter, e));

  for (const a of actions) {
    switch (a.kind) {
      case 'entries':
        changes.entries(a.items.map((it) => ({ store: STORES[it.store]!, sku: SKUS[it.sku]!, replica: REPLICAS[it.replica]!, dp: it.dp, dn: it.dn })));
        break;
      case 'hold':
        changes.hold(STORES[a.store]!, SKUS[a.sku]!, a.qty, now + a.ttl);
        break;
      case 'endHold':
        changes.endHold(a.pick, a.status);
        break;
      case 'clock':
        now += a.ms;
        break;
      case 'presence': {
        const s = STORES[a.store]!;
        const on = !online.has(s);
        if (on) online.add(s);
        else online.delete(s);
        feed.storeOnline(s, on);
        reference.push({ n: reference.length + 1, type: 'store', storeId: s, sku: null, data: null });
        break;
      }
      case 'safety':
        safety.set(`${STORES[a.store]}|${SKUS[a.sku]}`, a.units);
        views.settingsChanged();
        break;
      case 'subscribe': {
        const filter: FeedFilter = { skus: a.skus === null ? null : new Set(a.skus.map((i) => SKUS[i]!)), storeId: a.store === null ? null : STORES[a.store]!, types: a.types === null ? null : new Set(a.types) };
        const c: Client = { filter, from: reference.length + 1, got: [], ids: [], off: () => undefined, live: true };
        c.off = feed.subscribe({
          filter,
          deliver: (e) => {
            // The frame clients get: built from the event's fields, as SseClients does.
            expect(sseFrame(e)).toBe(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
            expect(JSON.parse(JSON.stringify(e))).toEqual({ id: e.id, type: e.type, storeId: e.storeId, sku: e.sku, data: e.data });
            c.got.push(seen(e));
            handed.push({ id: e.id, filter });
            return true;
          },
          drop: () => undefined,
        });
        handed.push({ id: feed.lastId, filter });
        clients.push(c);
        break;
      }
      case 'unsubscribe': {
        const live = clients.filter((c) => c.live);
        if (live.length === 0) break;
        const c = live[a.pick % live.length]!;
        c.off();
        c.live = false;
        expect(c.got).toEqual(expected(c, reference.length));
        break;
      }
      case 'resume': {
        if (handed.length === 0) break;
        const { id, filter } = handed[a.pick % handed.length]!;
        const m = numberOf(id);
        const got = feed.since(id, filter);
        // As before: null once the ring no longer holds every event after the id.
        if (m + 1 < Math.max(1, reference.length + 1 - RING)) expect(got).toBeNull();
        else expect(got?.map(seen)).toEqual(reference.filter((e) => e.n > m && matches(filter, e)));
        break;
      }
      case 'lastId':
        expect(numberOf(feed.lastId)).toBe(reference.length);
        break;
    }
    expect(feed.stats.published).toBe(reference.length);
  }
  for (const c of clients) if (c.live) expect(c.got).toEqual(expected(c, reference.length));
  feed.close();
}

describe('storefront feed: views built when read', () => {
  it('subscribers, resumptions and counts are those of building every view at publishing', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => run(actions)),
      { numRuns: runs },
    );
  });

  it('an id from before the first subscriber is not resumed (no one was handed one)', () => {
    const state = new HubState();
    const views = new StockViews({ state, isOnline: () => true, clock: () => 0 });
    const feed = new StorefrontFeed(state, views);
    state.apply({ entries: [{ store: 's1' as StoreId, sku: 'K1' as Sku, replica: 'r-a' as ReplicaId, p: 5, n: 0 }], transfers: [], reservations: [] });
    const id = feed.lastId;
    const epoch = id.slice(0, id.lastIndexOf('.'));
    const all: FeedFilter = { skus: null, storeId: null, types: null };
    expect(feed.since(`${epoch}.0`, all)).toBeNull();
    expect(feed.since(id, all)).toEqual([]);
    state.apply({ entries: [{ store: 's1' as StoreId, sku: 'K1' as Sku, replica: 'r-a' as ReplicaId, p: 7, n: 0 }], transfers: [], reservations: [] });
    expect(feed.since(id, all)?.map((e) => [e.id, (e.data as { onHand: number }).onHand])).toEqual([[`${epoch}.2`, 7]]);
    expect(feed.stats.published).toBe(2);
  });
});

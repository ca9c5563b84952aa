import {
  eventIdFor,
  reservationId,
  sku,
  statusRank,
  storeId,
  type CounterEntry,
  type Delta,
  type InventoryEvent,
  type ReservationRecord,
  type ReservationStatus,
  type TransferEntry,
} from '@scoville/crdt-inventory';
import { describe, expect, it } from 'vitest';
import type { CommitItem } from '../../src/store/inventory-store.js';
import type { HubStorage } from '../../src/store/hub-storage.js';
import { S1, S2, A, B, H, K1, K2, entry, transfer, hold, delta, item, sale, sortDelta } from './fixtures.js';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** The reference max-merge, to compare loadState with. */
function modelMerge(deltas: Delta[]): Delta {
  const e = new Map<string, CounterEntry>();
  const t = new Map<string, TransferEntry>();
  const r = new Map<string, ReservationRecord>();
  for (const d of deltas) {
    for (const x of d.entries) {
      if (x.p === 0 && x.n === 0) continue;
      const k = `${x.store} ${x.sku} ${x.replica}`;
      const had = e.get(k);
      e.set(k, had ? { ...had, p: Math.max(had.p, x.p), n: Math.max(had.n, x.n) } : { ...x });
    }
    for (const x of d.transfers) {
      const k = `${x.store} ${x.sku} ${x.from} ${x.to}`;
      const had = t.get(k);
      if (x.amount > (had?.amount ?? 0)) t.set(k, { ...x });
    }
    for (const x of d.reservations) {
      const k = `${x.store} ${x.id}`;
      const had = r.get(k);
      if (!had || statusRank(x.status) > statusRank(had.status)) r.set(k, { ...x });
    }
  }
  return sortDelta({ entries: [...e.values()], transfers: [...t.values()], reservations: [...r.values()] });
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** InventoryStore (inventory-store.ts): commit, loadState, changesSince, events, sync positions, subscribe. */
export function runInventoryStoreTests(name: string, target: StorageTestTarget): void {
  describe(`InventoryStore on ${name}`, () => {
    const { openStore, migrated, rawClient } = useStorage(target);

    // Events go in with COPY (PostgreSQL; commits of copyMinEvents or more); a commit bringing an event already stored takes the INSERT ... ON CONFLICT path.
    for (const [copyEvents, path] of [
      [true, 'COPY where there is one, INSERT for resends'],
      [false, 'INSERT only'],
    ] as const) {
      it(`accepts an identical resent event, refuses one with the same id and other content (event_conflict), changing nothing (${path})`, async () => {
        const s = await migrated({ copyEvents, copyMinEvents: 1 });
        await s.inventory.commit([item({ entries: [entry(S1, K1, A, 5, 0)] }, [sale(A, 1), sale(A, 2)])]);
        expect((await s.inventory.commit([item({}, [sale(A, 1), sale(A, 2)])])).eventsInserted).toBe(0);
        await expect(s.inventory.commit([item({ entries: [entry(S1, K1, A, 9, 0)] }, [sale(A, 2, { qty: 3 }), sale(A, 3)])])).rejects.toMatchObject({
          code: 'event_conflict',
          eventIds: [eventIdFor(A, 2)],
        });
        expect(await s.inventory.eventCount(S1)).toBe(2);
        const loaded = await s.inventory.loadState();
        expect(loaded.delta.entries).toEqual([entry(S1, K1, A, 5, 0)]);
      });

      it(`stores each event once, across commits and within one, and counts only new ones (${path})`, async () => {
        const s = await migrated({ copyEvents, copyMinEvents: 1 });
        const e1 = sale(A, 1, { idempotencyKey: 'pos-1', terminal: 'till-2', forced: true });
        const e2 = sale(A, 2, { type: 'adjustment', qty: -3, reason: 'damaged', count: 9 });
        const e3 = sale(B, 1, { type: 'hold', reservationId: reservationId('r1'), expiresAt: 1_700_000_900_000 });
        const e4 = sale(A, 3, { type: 'rights_transfer', qty: 2, to: B, forced: false, idempotencyKey: null });
        expect((await s.inventory.commit([item({}, [e1, e2])])).eventsInserted).toBe(2);
        expect((await s.inventory.commit([item({}, [e1, e2, e3])])).eventsInserted).toBe(1);
        // the same event twice in one item and in two items of one commit
        expect((await s.inventory.commit([item({}, [e4, e4, e1]), item({}, [e4, e3])])).eventsInserted).toBe(1);
        expect((await s.inventory.commit([item({}, [e1, e2, e3, e4])])).eventsInserted).toBe(0);
        const other: InventoryEvent = { ...sale(A, 9), id: eventIdFor(A, 9), store: S2 };
        expect((await s.inventory.commit([item({}, [other])])).eventsInserted).toBe(1);

        expect(await s.inventory.eventCount()).toBe(5);
        expect(await s.inventory.eventCount(S1)).toBe(4);
        expect(await s.inventory.eventCount(S2)).toBe(1);
        expect(await s.inventory.eventCount(storeId('nowhere'))).toBe(0);

        // (replica, seq) order, paged; optional fields round-trip (null/false come back absent)
        const { forced: _f, idempotencyKey: _k, ...e4Back } = e4;
        const all = [e1, e2, e4Back, e3];
        expect(await s.inventory.events(S1, null, 10)).toEqual(all);
        const page1 = await s.inventory.events(S1, null, 2);
        expect(page1).toEqual([e1, e2]);
        const last = page1[1]!;
        expect(await s.inventory.events(S1, { replica: last.replica, seq: last.seq }, 2)).toEqual([e4Back, e3]);
        expect(await s.inventory.events(S1, { replica: B, seq: 1 }, 2)).toEqual([]);
        expect(await s.inventory.events(S2, null, 10)).toEqual([other]);
      });
    }

    it('stores text with tabs, newlines and backslashes as sent, through COPY and through INSERT', async () => {
      const s = await migrated();
      const odd = { idempotencyKey: 'k\t1\\n\n\r\\N', terminal: '\\', reason: 'damaged' as const };
      await s.inventory.commit([item({}, [sale(A, 1, odd), sale(A, 2, { terminal: '\\N' })])]);
      // the resend of 1 sends 3 down the INSERT path
      expect((await s.inventory.commit([item({}, [sale(A, 1, odd), sale(A, 3, odd)])])).eventsInserted).toBe(1);
      expect(await s.inventory.events(S1, null, 10)).toEqual([sale(A, 1, odd), sale(A, 2, { terminal: '\\N' }), sale(A, 3, odd)]);
    });

    it('refuses an event that cannot be stored (data error, 22xxx) and stores nothing of the commit', async () => {
      const s = await migrated();
      await expect(s.inventory.commit([item({ entries: [entry(S1, K1, A, 5, 0)] }, [sale(A, 1), sale(A, 2, { qty: 1.5 })])])).rejects.toMatchObject({
        code: expect.stringMatching(/^22/),
      });
      expect(await s.inventory.eventCount()).toBe(0);
      expect((await s.inventory.loadState()).delta.entries).toEqual([]);
    });

    it('a commit that resends an event beside a new one stores and counts only the new one (the export log too); one that resends it with other content changes nothing', async () => {
      const s = await migrated();
      const store = s.inventory;
      const first = await store.commit([item({ entries: [entry(S1, K1, A, 2, 0)] }, [sale(A, 1), sale(A, 2)], { replica: A, store: S1, at: 1_000 })]);
      expect(first.eventsInserted).toBe(2);
      const second = await store.commit([item({ entries: [entry(S1, K1, A, 3, 0)] }, [sale(A, 2), sale(A, 3)], { replica: A, store: S1, at: 2_000 })]);
      expect(second).toEqual({ changeId: first.changeId + 1, eventsInserted: 1 });
      expect(await store.eventCount(S1)).toBe(3);
      expect((await store.loadState()).delta.entries).toEqual([entry(S1, K1, A, 3, 0)]);
      expect(await store.changesSince(first.changeId)).toEqual({ delta: delta({ entries: [entry(S1, K1, A, 3, 0)] }), changeId: second.changeId });
      expect((await store.syncPosition(A))?.lastEventSeq).toBe(3);
      // the export's log: one row per commit that stored events, with the number stored
      const raw = await rawClient();
      expect(await raw.query('SELECT change_id, events FROM event_commits ORDER BY change_id')).toEqual([
        { change_id: first.changeId, events: 2 },
        { change_id: second.changeId, events: 1 },
      ]);
      await expect(store.commit([item({ entries: [entry(S1, K1, A, 9, 0)] }, [sale(A, 3, { qty: 4 }), sale(A, 4)])])).rejects.toMatchObject({ code: 'event_conflict' });
      expect(await store.eventCount(S1)).toBe(3);
      expect((await store.loadState()).delta.entries).toEqual([entry(S1, K1, A, 3, 0)]);
    });

    it('a commit whose idempotency key another process stored first fails whole (AnswerKeysTaken with the stored answer), the key in the same commit twice does not', async () => {
      const one = await migrated();
      const two = await openStore();
      const answer = (key: string, body: string) => ({ scope: 'store:store-1', key, requestHash: `h-${key}`, status: 201, body, at: 5 });
      const withAnswers = (events: InventoryEvent[], keys: [string, string][]): CommitItem => ({
        ...item({ entries: [entry(S1, K1, A, events.length, 0)] }, events),
        records: { responses: keys.map(([k, b]) => answer(k, b)) },
      });
      await one.inventory.commit([withAnswers([sale(A, 1)], [['k1', '{"first":true}']])]);
      // the other process decided k1 too (and k2): nothing of its commit stays
      const lost = two.inventory.commit([withAnswers([sale(B, 1), sale(B, 2)], [['k2', '{"b":2}'], ['k1', '{"second":true}']])]);
      await expect(lost).rejects.toMatchObject({ name: 'AnswerKeysTaken', code: '23505', stored: [answer('k1', '{"first":true}')] });
      expect(await one.inventory.eventCount(S1)).toBe(1);
      expect(await one.selling.responses([{ scope: 'store:store-1', key: 'k1' }, { scope: 'store:store-1', key: 'k2' }])).toEqual([answer('k1', '{"first":true}')]);
      expect((await one.inventory.loadState()).delta.entries).toEqual([entry(S1, K1, A, 1, 0)]);
      // one key twice within one commit is not a taken key: the first answer stays
      await two.inventory.commit([withAnswers([sale(B, 1)], [['k3', '{"n":1}']]), withAnswers([], [['k3', '{"n":2}']])]);
      expect(await one.selling.response('store:store-1', 'k3')).toEqual(answer('k3', '{"n":1}'));
    });

    it.runIf(target.separateConnections)('the same events committed at once by two hub processes are stored once', async () => {
      const one = await migrated();
      const two = await openStore();
      for (let round = 0; round < 5; round++) {
        const evs = Array.from({ length: 300 }, (_, i) => sale(A, round * 1_000 + i + 1));
        const [a, b] = await Promise.all([one.inventory.commit([item({}, evs)]), two.inventory.commit([item({}, evs)])]);
        expect(a.eventsInserted + b.eventsInserted).toBe(300);
      }
      expect(await one.inventory.eventCount()).toBe(1_500);
    });

    it('max-merges entries and transfers: lower values never win, repeats are idempotent', async () => {
      const s = await migrated();
      const first = item({
        entries: [entry(S1, K1, A, 5, 2), entry(S1, K1, B, 1, 0)],
        transfers: [transfer(S1, K1, A, B, 3)],
      });
      await s.inventory.commit([first]);
      // lower p, higher n; lower transfer; and within one commit two versions of one key
      await s.inventory.commit([
        item({ entries: [entry(S1, K1, A, 3, 4)], transfers: [transfer(S1, K1, A, B, 1)] }),
        item({ entries: [entry(S1, K1, A, 4, 3), entry(S1, K1, B, 0, 7)], transfers: [transfer(S1, K1, A, B, 2)] }),
      ]);
      await s.inventory.commit([first]);
      await s.inventory.commit([first]);
      const { delta: loaded } = await s.inventory.loadState();
      expect(sortDelta(loaded)).toEqual({
        entries: [entry(S1, K1, A, 5, 4), entry(S1, K1, B, 1, 7)],
        transfers: [transfer(S1, K1, A, B, 3)],
        reservations: [],
      });
    });

    it('never moves a reservation status backwards (across commits and within one)', async () => {
      const s = await migrated();
      await s.inventory.commit([item({ reservations: [hold('r1', 'active'), hold('r2', 'active'), hold('r3', 'released')] })]);
      await s.inventory.commit([item({ reservations: [hold('r1', 'committed'), hold('r2', 'released')] })]);
      await s.inventory.commit([item({ reservations: [hold('r1', 'active'), hold('r2', 'active'), hold('r3', 'active')] })]);
      await s.inventory.commit([item({ reservations: [hold('r1', 'released'), hold('r2', 'committed')] })]);
      // one commit bringing a later and an earlier status of the same hold
      await s.inventory.commit([item({ reservations: [hold('r4', 'committed')] }), item({ reservations: [hold('r4', 'active')] })]);
      const { delta: loaded } = await s.inventory.loadState();
      expect(sortDelta(loaded).reservations.map((r) => [r.id, r.status])).toEqual([
        ['r1', 'committed'],
        ['r2', 'committed'],
        ['r3', 'released'],
        ['r4', 'committed'],
      ]);
      expect(loaded.reservations.find((r) => r.id === 'r1')).toEqual(hold('r1', 'committed'));
    });

    it('advances a replica’s sync position and never moves it back', async () => {
      const s = await migrated();
      expect(await s.inventory.syncPosition(A)).toBeNull();
      // B's events in A's batch do not count for A
      await s.inventory.commit([item({}, [sale(A, 1), sale(A, 2), sale(A, 3), sale(B, 7)], { replica: A, store: S1, at: 1000 })]);
      expect(await s.inventory.syncPosition(A)).toEqual({ replica: A, store: S1, lastEventSeq: 3, lastBatchAt: 1000 });
      // an old batch arriving late
      await s.inventory.commit([item({}, [sale(A, 2)], { replica: A, store: S1, at: 900 })]);
      expect(await s.inventory.syncPosition(A)).toEqual({ replica: A, store: S1, lastEventSeq: 3, lastBatchAt: 1000 });
      // two batches of A (and one of B) in one commit
      await s.inventory.commit([
        item({}, [sale(A, 5)], { replica: A, store: S1, at: 1200 }),
        item({}, [sale(A, 4)], { replica: A, store: S1, at: 1100 }),
        item({}, [sale(B, 1)], { replica: B, store: S1, at: 1150 }),
      ]);
      expect(await s.inventory.syncPosition(A)).toEqual({ replica: A, store: S1, lastEventSeq: 5, lastBatchAt: 1200 });
      expect(await s.inventory.syncPosition(B)).toEqual({ replica: B, store: S1, lastEventSeq: 1, lastBatchAt: 1150 });
      // an empty batch records the time only
      await s.inventory.commit([item({}, [], { replica: A, store: S1, at: 1300 })]);
      expect(await s.inventory.syncPosition(A)).toEqual({ replica: A, store: S1, lastEventSeq: 5, lastBatchAt: 1300 });
    });

    it('loadState returns exactly the merged entries (paged reads, chunked writes)', async () => {
      const s = await migrated({ pageRows: 7, chunkRows: 5 });
      const replicas = [A, B, H];
      const deltas: Delta[] = [];
      let seed = 42;
      const rnd = (n: number): number => {
        // mulberry32
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) % n;
      };
      const statuses: ReservationStatus[] = ['active', 'released', 'committed'];
      for (let c = 0; c < 12; c++) {
        const items: CommitItem[] = [];
        for (let i = 0; i < 3; i++) {
          const d = delta({});
          for (let j = 0; j < 8; j++) {
            const st = [S1, S2][rnd(2)]!;
            const k = sku(`SKU-${rnd(6)}`);
            const r = replicas[rnd(3)]!;
            d.entries.push(entry(st, k, r, rnd(50), rnd(50)));
            if (rnd(3) === 0) d.transfers.push(transfer(st, k, r, replicas[(replicas.indexOf(r) + 1) % 3]!, 1 + rnd(20)));
            if (rnd(4) === 0) d.reservations.push({ ...hold(`r${rnd(10)}`, statuses[rnd(3)]!), store: st });
          }
          deltas.push(d);
          items.push({ delta: d, events: [] });
        }
        await s.inventory.commit(items);
      }
      const expected = modelMerge(deltas);
      const loaded = await s.inventory.loadState();
      expect(expected.entries.length).toBeGreaterThan(20);
      expect(sortDelta(loaded.delta)).toEqual(expected);
      // a second store instance reading the same database agrees
      const again = await (await openStore({ pageRows: 1000 })).inventory.loadState();
      expect(sortDelta(again.delta)).toEqual(expected);
      expect(again.changeId).toBe(loaded.changeId);
      // page by page (the hub's start-up): the same entries, nothing returned at the end
      const pages: Delta[] = [];
      const paged = await s.inventory.loadState((p) => pages.push(p));
      expect(paged).toEqual({ delta: delta({}), changeId: loaded.changeId });
      expect(pages.length).toBeGreaterThan(3);
      expect(Math.max(...pages.map((p) => p.entries.length + p.transfers.length + p.reservations.length))).toBeLessThanOrEqual(7);
      const joined = delta({ entries: pages.flatMap((p) => p.entries), transfers: pages.flatMap((p) => p.transfers), reservations: pages.flatMap((p) => p.reservations) });
      expect(sortDelta(joined)).toEqual(expected);
      // change_log holds what every chunk of a commit changed (24 entries, 5 per statement)
      expect(sortDelta((await s.inventory.changesSince(0)).delta)).toEqual(expected);
    });

    it('changesSince returns only what newer commits changed; change ids increase', async () => {
      const s = await migrated();
      const empty = await s.inventory.loadState();
      expect(empty).toEqual({ delta: delta({}), changeId: 0 });
      const c1 = await s.inventory.commit([item({ entries: [entry(S1, K1, A, 1, 0), entry(S1, K2, A, 4, 0)], reservations: [hold('r1', 'active')] })]);
      const c2 = await s.inventory.commit([item({ entries: [entry(S1, K1, A, 2, 0)], transfers: [transfer(S1, K1, A, B, 1)] })]);
      // changes nothing (lower values, same status): no row gets c3
      const c3 = await s.inventory.commit([item({ entries: [entry(S1, K2, A, 3, 0)], reservations: [hold('r1', 'active')] })]);
      const c4 = await s.inventory.commit([item({ reservations: [hold('r1', 'released')] }, [sale(A, 1)])]);
      const ids = [c1, c2, c3, c4].map((c) => c.changeId);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(new Set(ids).size).toBe(4);

      expect(await s.inventory.changesSince(c1.changeId)).toEqual({
        delta: { entries: [entry(S1, K1, A, 2, 0)], transfers: [transfer(S1, K1, A, B, 1)], reservations: [hold('r1', 'released')] },
        changeId: c4.changeId,
      });
      expect(await s.inventory.changesSince(c2.changeId)).toEqual({ delta: delta({ reservations: [hold('r1', 'released')] }), changeId: c4.changeId });
      expect(await s.inventory.changesSince(c4.changeId)).toEqual({ delta: delta({}), changeId: c4.changeId });
      const all = await s.inventory.changesSince(0);
      expect(sortDelta(all.delta)).toEqual(sortDelta((await s.inventory.loadState()).delta));
      expect((await s.inventory.loadState()).changeId).toBe(c4.changeId);
    });

    it('changesSince after change_log was pruned past it reads every counter; above the floor it reads the log', async () => {
      let clock = 1_000_000;
      const s = await migrated({ now: () => clock, changeLogKeepMs: 2_500, changeLogPruneEvery: 3 });
      const raw = await rawClient();
      const ids: number[] = [];
      for (let i = 1; i <= 9; i++) {
        clock += 1_000;
        ids.push((await s.inventory.commit([item({ entries: [entry(S1, i % 2 === 0 ? K1 : K2, A, i, 0)] })])).changeId);
      }
      // ids 3, 6 and 9 pruned what was older than 2.5 s: the log keeps the last few commits only
      const [floor] = await raw.query<{ floor: number }>('SELECT floor FROM change_log_floor');
      const logged = await raw.query<{ change_id: number }>('SELECT change_id FROM change_log ORDER BY change_id');
      expect(floor!.floor).toBeGreaterThan(ids[0]!);
      expect(logged.map((r) => r.change_id).every((id) => id > floor!.floor)).toBe(true);
      expect(logged.length).toBeLessThan(ids.length);
      const full = await s.inventory.loadState();
      // behind the floor: the whole table, which is also a correct delta
      expect(sortDelta((await s.inventory.changesSince(ids[0]!)).delta)).toEqual(sortDelta(full.delta));
      expect((await s.inventory.changesSince(ids[0]!)).changeId).toBe(ids[8]);
      // above it: only the last commit
      expect(await s.inventory.changesSince(ids[7]!)).toEqual({ delta: delta({ entries: [entry(S1, K2, A, 9, 0)] }), changeId: ids[8] });
      expect(full.changeId).toBe(ids[8]);
    });

    it('subscribe hears every commit, those made through another store instance included', async () => {
      const writer = await migrated();
      const reader = await openStore();
      const heard: number[] = [];
      const off = await reader.inventory.subscribe((id) => heard.push(id));
      const c1 = await writer.inventory.commit([item({ entries: [entry(S1, K1, A, 1, 0)] })]);
      await until(() => heard.includes(c1.changeId));
      const own = await reader.inventory.commit([item({ entries: [entry(S1, K1, B, 1, 0)] })]);
      const c2 = await writer.inventory.commit([item({ entries: [entry(S1, K1, A, 2, 0)] })]);
      await until(() => heard.includes(c2.changeId));
      expect(heard).toEqual([c1.changeId, own.changeId, c2.changeId]);
      // a rolled-back commit notifies nobody
      await expect(writer.inventory.commit([item({ reservations: [hold('bad', 'bogus' as ReservationStatus)] })])).rejects.toThrow();
      const c3 = await writer.inventory.commit([]);
      await until(() => heard.includes(c3.changeId));
      expect(heard).toHaveLength(4);
      // two subscribers share the listener; the last unsubscribe stops it
      const second: number[] = [];
      const off2 = await reader.inventory.subscribe((id) => second.push(id));
      const c4 = await writer.inventory.commit([]);
      await until(() => heard.includes(c4.changeId) && second.includes(c4.changeId));
      await off();
      const c5 = await writer.inventory.commit([]);
      await until(() => second.includes(c5.changeId));
      await off2();
      const c6 = await writer.inventory.commit([]);
      await new Promise((r) => setTimeout(r, 100));
      expect(heard).not.toContain(c5.changeId);
      expect(second).not.toContain(c6.changeId);
    });

    it('parallel commits from two store instances all land, with distinct increasing change ids', async () => {
      const s1 = await migrated();
      const s2 = await openStore();
      const base = (await s1.inventory.commit([])).changeId;
      const commitsOf = (s: HubStorage, who: typeof A) =>
        Array.from({ length: 10 }, (_, i) =>
          s.inventory.commit([
            item({ entries: [entry(S1, sku(`P-${who}-${i}`), who, i + 1, 0)] }, [sale(who, i + 1)], { replica: who, store: S1, at: i + 1 }),
          ]),
        );
      const results = await Promise.all([...commitsOf(s1, A), ...commitsOf(s2, B)]);
      const ids = results.map((r) => r.changeId);
      expect(new Set(ids).size).toBe(20);
      for (const id of ids) expect(id).toBeGreaterThan(base);
      expect(results.every((r) => r.eventsInserted === 1)).toBe(true);
      expect(await s2.inventory.eventCount(S1)).toBe(20);
      expect((await s1.inventory.syncPosition(A))?.lastEventSeq).toBe(10);
      expect((await s2.inventory.syncPosition(B))?.lastEventSeq).toBe(10);
      // each entry carries the id of the commit that wrote it, all visible in order
      const since = await s2.inventory.changesSince(base);
      expect(since.delta.entries).toHaveLength(20);
      expect(since.changeId).toBe(Math.max(...ids));
      const after = (await s1.inventory.commit([])).changeId;
      expect(after).toBeGreaterThan(Math.max(...ids));
    });

    // Change ids become visible in order (the lock is taken inside the commit's statement):
    // a reader that follows changesSince while two writers commit never steps over a commit.
    it.runIf(target.separateConnections)('a reader following changesSince during parallel commits misses none', async () => {
      const s1 = await migrated();
      const s2 = await openStore();
      const reader = await openStore();
      const seen = new Set<string>();
      let lastSeen = 0;
      let writing = true;
      const follow = (async () => {
        while (writing) {
          const r = await reader.inventory.changesSince(lastSeen);
          for (const e of r.delta.entries) seen.add(e.sku);
          lastSeen = r.changeId;
        }
      })();
      const commitsOf = (s: HubStorage, who: typeof A) =>
        (async () => {
          for (let i = 0; i < 60; i++) {
            await Promise.all(
              [0, 1].map((j) => s.inventory.commit([item({ entries: [entry(S1, sku(`F-${who}-${i}-${j}`), who, 1, 0)] })])),
            );
          }
        })();
      await Promise.all([commitsOf(s1, A), commitsOf(s2, B)]);
      writing = false;
      await follow;
      const r = await reader.inventory.changesSince(lastSeen);
      for (const e of r.delta.entries) seen.add(e.sku);
      expect(seen.size).toBe(240);
    });
  });
}

import { describe, expect, it } from 'vitest';
import type { InventoryEvent } from '@scoville/crdt-inventory';
import type { HubStorage } from '../../src/store/hub-storage.js';
import type { ExportCursor } from '../../src/store/export-store.js';
import { A, B, S2, item, sale } from './fixtures.js';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** ExportStore (export-store.ts): the committed log in change-id order, cursors, the fenced publisher lease. */
export function runExportStoreTests(name: string, target: StorageTestTarget): void {
  describe(`ExportStore on ${name}`, () => {
    const { migrated } = useStorage(target);
    const start: ExportCursor = { changeId: 0, after: null };
    const ids = (cs: { events: InventoryEvent[] }[]) => cs.flatMap((c) => c.events.map((e) => e.id as string));

    it('reads whole commits in change-id order, events by (store, replica, seq); commits without new events have no row', async () => {
      const s = await migrated({ now: () => 5_000 });
      const c1 = await s.inventory.commit([item({}, [sale(B, 1), sale(A, 2), sale(A, 1, { store: S2 })])]);
      await s.inventory.commit([item({})]); // no events
      await s.inventory.commit([item({}, [sale(A, 1, { store: S2 })])]); // duplicate only
      const c2 = await s.inventory.commit([item({}, [sale(A, 3, { terminal: 't1', forced: true })])]);
      const read = await s.exports.read(start, 100);
      expect(read.map((c) => c.changeId)).toEqual([c1.changeId, c2.changeId]);
      expect(read[0]!.at).toBe(5_000);
      expect(ids(read)).toEqual(['agent-a:2', 'agent-b:1', 'agent-a:1', 'agent-a:3']);
      expect(read[0]!.events.map((e) => e.store)).toEqual(['store-1', 'store-1', 'store-2']);
      expect(read[1]!.events[0]).toEqual(sale(A, 3, { terminal: 't1', forced: true }));
      expect(await s.exports.head()).toBe(c2.changeId);

      // after a cursor inside a commit: its rest, then later commits
      expect(ids(await s.exports.read({ changeId: c1.changeId, after: { store: 'store-1', replica: 'agent-b', seq: 1 } }, 100))).toEqual([
        'agent-a:1',
        'agent-a:3',
      ]);
      expect(ids(await s.exports.read({ changeId: c1.changeId, after: null }, 100))).toEqual(['agent-a:3']);
      // maxEvents: whole commits, at least one; upTo bounds the range
      expect((await s.exports.read(start, 1)).map((c) => c.changeId)).toEqual([c1.changeId]);
      expect((await s.exports.read(start, 100, c1.changeId)).map((c) => c.changeId)).toEqual([c1.changeId]);
      expect(await s.exports.read({ changeId: c2.changeId, after: null }, 100)).toEqual([]);
    });

    it('lease: one holder; renewed by it; taken over once lapsed; every acquire fences the previous epoch', async () => {
      const s = await migrated();
      const a = await s.exports.acquire('amqp', 'hub-a', 1_000, 500);
      expect(a).toMatchObject({ holder: 'hub-a', cursor: start });
      expect(await s.exports.acquire('amqp', 'hub-b', 1_200, 500)).toBeNull();
      expect(await s.exports.acquire('other-sink', 'hub-b', 1_200, 500)).not.toBeNull();
      expect(await s.exports.renew(a!, 1_400, 500)).toBe(true);
      expect(await s.exports.advance(a!, { changeId: 7, after: { store: 's', replica: 'r', seq: 3 } }, 1_450, 500)).toBe(true);
      expect(await s.exports.acquire('amqp', 'hub-b', 1_900, 500)).toBeNull();
      const b = await s.exports.acquire('amqp', 'hub-b', 1_951, 500);
      expect(b).toMatchObject({ holder: 'hub-b', cursor: { changeId: 7, after: { store: 's', replica: 'r', seq: 3 } } });
      // the old holder is fenced: nothing it writes lands
      expect(await s.exports.advance(a!, { changeId: 9, after: null }, 2_000, 500)).toBe(false);
      expect(await s.exports.renew(a!, 2_000, 500)).toBe(false);
      // a restarted holder (same name) takes its lease back at once and fences its previous life
      const b2 = await s.exports.acquire('amqp', 'hub-b', 2_001, 500);
      expect(b2!.epoch).toBeGreaterThan(b!.epoch);
      expect(await s.exports.advance(b!, { changeId: 9, after: null }, 2_002, 500)).toBe(false);
      expect(await s.exports.advance(b2!, { changeId: 8, after: null }, 2_002, 500)).toBe(true);
      await s.exports.release(b2!);
      expect(await s.exports.acquire('amqp', 'hub-a', 2_003, 500)).toMatchObject({ cursor: { changeId: 8, after: null } });
    });

    it('state: events behind the cursor and since when; cursorAt for replays by time', async () => {
      let now = 10_000;
      const s = await migrated({ now: () => now });
      expect(await s.exports.state('amqp')).toMatchObject({ cursor: start, holder: null, head: 0, eventsBehind: 0, oldestBehindAt: null });
      const c1 = await s.inventory.commit([item({}, [sale(A, 1), sale(B, 1)])]);
      now = 20_000;
      const c2 = await s.inventory.commit([item({}, [sale(A, 2)])]);
      expect(await s.exports.state('amqp')).toMatchObject({ head: c2.changeId, eventsBehind: 3, oldestBehindAt: 10_000 });
      const lease = (await s.exports.acquire('amqp', 'hub-a', 1, 60_000))!;
      await s.exports.advance(lease, { changeId: c1.changeId, after: { store: 'store-1', replica: 'agent-a', seq: 1 } }, 30_000, 60_000);
      expect(await s.exports.state('amqp')).toMatchObject({ holder: 'hub-a', updatedAt: 30_000, eventsBehind: 2, oldestBehindAt: 10_000 });
      await s.exports.advance(lease, { changeId: c1.changeId, after: null }, 30_001, 60_000);
      expect(await s.exports.state('amqp')).toMatchObject({ eventsBehind: 1, oldestBehindAt: 20_000 });
      await s.exports.advance(lease, { changeId: c2.changeId, after: null }, 30_002, 60_000);
      expect(await s.exports.state('amqp')).toMatchObject({ eventsBehind: 0, oldestBehindAt: null, head: c2.changeId });

      expect(await s.exports.cursorAt(0)).toEqual({ changeId: c1.changeId - 1, after: null });
      expect(await s.exports.cursorAt(15_000)).toEqual({ changeId: c2.changeId - 1, after: null });
      expect(await s.exports.cursorAt(99_000)).toEqual({ changeId: c2.changeId, after: null });
    });

    it.runIf(target.separateConnections)('a reader following the log with a cursor never skips a commit, however commits interleave', async () => {
      const writers = [await migrated(), await migrated(), await migrated()];
      const reader = await migrated();
      const total = 3 * 40;
      const writing = writers.map(async (w: HubStorage, i) => {
        for (let seq = 1; seq <= 40; seq++) await w.inventory.commit([item({}, [sale(i === 0 ? A : i === 1 ? B : ('agent-c' as typeof A), seq)])]);
      });
      let cursor = start;
      const seen: string[] = [];
      let done = false;
      void Promise.all(writing).then(() => (done = true));
      for (;;) {
        const finished = done;
        const read = await reader.exports.read(cursor, 7);
        for (const c of read) {
          seen.push(...c.events.map((e) => e.id));
          cursor = { changeId: c.changeId, after: null };
        }
        if (finished && read.length === 0) break;
      }
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
    });
  });
}

import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** YjsStore (yjs-store.ts): Yjs document updates, appended, merged on load, compacted. */
export function runYjsStoreTests(name: string, target: StorageTestTarget): void {
  describe(`YjsStore on ${name}`, () => {
    const { migrated } = useStorage(target);

    const edit = (doc: Y.Doc, f: () => void): Uint8Array => {
      let out: Uint8Array | null = null;
      const h = (u: Uint8Array) => (out = u);
      doc.on('update', h);
      doc.transact(f);
      doc.off('update', h);
      return out!;
    };

    it('appends updates per document; loading them rebuilds the document byte for byte', async () => {
      const s = await migrated();
      const doc = new Y.Doc();
      const map = doc.getMap<number>('m');
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push(await s.yjs.appendUpdate('catalog', edit(doc, () => map.set(`k${i}`, i)), i));
      await s.yjs.appendUpdate('settings:s1', edit(new Y.Doc(), () => undefined) ?? new Uint8Array([0, 0]), 9);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(await s.yjs.updateCount('catalog')).toBe(5);
      const rows = await s.yjs.updates('catalog');
      expect(rows.map((r) => r.id)).toEqual(ids);
      const copy = new Y.Doc();
      for (const r of rows) Y.applyUpdate(copy, r.update);
      expect(copy.getMap('m').toJSON()).toEqual({ k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 });
      expect((await s.yjs.updates('catalog', ids[2])).map((r) => r.id)).toEqual(ids.slice(3));
      expect(await s.yjs.docs()).toEqual(['catalog', 'settings:s1']);
    });

    it('compact merges the rows read into one, later rows stay; the document is unchanged', async () => {
      const s = await migrated();
      const doc = new Y.Doc();
      const map = doc.getMap<number>('m');
      let last = 0;
      for (let i = 0; i < 120; i++) last = await s.yjs.appendUpdate('catalog', edit(doc, () => map.set(`k${i % 7}`, i)), i);
      const later = await s.yjs.appendUpdate('catalog', edit(doc, () => map.set('late', 1)), 200);
      const merged = await s.yjs.compact('catalog', last, (u) => Y.mergeUpdates(u), 300);
      expect(merged).toBeGreaterThan(later);
      expect(await s.yjs.updateCount('catalog')).toBe(2);
      const copy = new Y.Doc();
      for (const r of await s.yjs.updates('catalog')) Y.applyUpdate(copy, r.update);
      expect(copy.getMap('m').toJSON()).toEqual(map.toJSON());
      // Nothing left to merge at or below one row.
      expect(await s.yjs.compact('catalog', later, (u) => Y.mergeUpdates(u), 301)).toBeNull();
    });

    it('concurrent appends and a compaction lose nothing', async () => {
      const s = await migrated();
      const docs = Array.from({ length: 4 }, (_, i) => {
        const d = new Y.Doc();
        d.clientID = 1000 + i;
        return d;
      });
      await Promise.all(
        docs.map(async (d, i) => {
          for (let j = 0; j < 10; j++) {
            await s.yjs.appendUpdate('catalog', edit(d, () => d.getMap('m').set(`d${i}.${j}`, j)), j);
            if (i === 0 && j === 5) await s.yjs.compact('catalog', Number.MAX_SAFE_INTEGER, (u) => Y.mergeUpdates(u), 0);
          }
        }),
      );
      const copy = new Y.Doc();
      for (const r of await s.yjs.updates('catalog')) Y.applyUpdate(copy, r.update);
      expect(Object.keys(copy.getMap('m').toJSON())).toHaveLength(40);
    });
  });
}

import { describe, expect, it } from 'vitest';
import { sku, storeId } from '@scoville/crdt-inventory';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** AlertStore (alert-store.ts): open/clear with history, one open per (kind, store, sku), the writer lease. */
export function runAlertStoreTests(name: string, target: StorageTestTarget): void {
  describe(`AlertStore on ${name}`, () => {
    const { migrated } = useStorage(target);
    const s1 = storeId('store-1');
    const s2 = storeId('store-2');
    const k = sku('HOT-1');

    it('raise is idempotent while open (detail refreshed, raisedAt kept); clear keeps history; a new raise opens a new alert', async () => {
      const s = await migrated();
      const a = await s.alerts.raise({ kind: 'oversell', store: s1, sku: k, at: 100, detail: { deficit: 1, holdsAtRisk: [{ holdId: 'x.1' }] } });
      expect(a.raised).toBe(true);
      expect(a.alert).toMatchObject({ kind: 'oversell', store: s1, sku: k, raisedAt: 100, clearedAt: null });
      const again = await s.alerts.raise({ kind: 'oversell', store: s1, sku: k, at: 200, detail: { deficit: 2 } });
      expect(again.raised).toBe(false);
      expect(again.alert).toMatchObject({ id: a.alert.id, raisedAt: 100, detail: { deficit: 2 } });
      await s.alerts.raise({ kind: 'oversell', store: s2, sku: k, at: 150, detail: {} });

      expect(await s.alerts.clear('oversell', s1, k, 300)).toBe(true);
      expect(await s.alerts.clear('oversell', s1, k, 400)).toBe(false);
      const open = await s.alerts.list({ open: true });
      expect(open.map((x) => x.store)).toEqual([s2]);
      const closed = await s.alerts.list({ open: false });
      expect(closed).toEqual([{ id: a.alert.id, kind: 'oversell', store: s1, sku: k, raisedAt: 100, clearedAt: 300, detail: { deficit: 2 } }]);

      const b = await s.alerts.raise({ kind: 'oversell', store: s1, sku: k, at: 500, detail: { deficit: 3 } });
      expect(b.raised).toBe(true);
      expect(b.alert.id).not.toBe(a.alert.id);
      const all = await s.alerts.list();
      expect(all.map((x) => [x.store, x.raisedAt, x.clearedAt])).toEqual([
        [s1, 500, null],
        [s2, 150, null],
        [s1, 100, 300],
      ]);
      expect(await s.alerts.list({ limit: 1 })).toHaveLength(1);
    });

    it('concurrent raises of one counter open one alert', async () => {
      const s = await migrated();
      const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => s.alerts.raise({ kind: 'oversell', store: s1, sku: k, at: 10 + i, detail: { i } })));
      expect(rs.filter((r) => r.raised)).toHaveLength(1);
      expect(new Set(rs.map((r) => r.alert.id)).size).toBe(1);
      expect(await s.alerts.list({ open: true })).toHaveLength(1);
    });

    it('lead: one writer at a time; renewable by its holder; taken over once lapsed', async () => {
      const s = await migrated();
      expect(await s.alerts.lead('hub-a', 1_000, 500)).toBe(true);
      expect(await s.alerts.lead('hub-b', 1_200, 500)).toBe(false);
      expect(await s.alerts.lead('hub-a', 1_400, 500)).toBe(true);
      expect(await s.alerts.lead('hub-b', 1_800, 500)).toBe(false);
      expect(await s.alerts.lead('hub-b', 1_901, 500)).toBe(true);
      expect(await s.alerts.lead('hub-a', 2_000, 500)).toBe(false);
    });
  });
}

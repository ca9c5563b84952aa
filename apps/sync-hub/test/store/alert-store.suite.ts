import { describe, expect, it } from 'vitest';
import { sku, storeId, type Sku } from '@scoville/crdt-inventory';

const NONE = '' as Sku;
import { ALERT_KINDS, ALL_STORES } from '../../src/store/alert-store.js';
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

    it('list filters by kind and store; countOpen counts open alerts of every kind', async () => {
      const s = await migrated();
      await s.alerts.raise({ kind: 'low_stock', store: s1, sku: k, at: 1, detail: { available: 2 } });
      await s.alerts.raise({ kind: 'out_of_stock', store: ALL_STORES, sku: k, at: 2, detail: {} });
      await s.alerts.raise({ kind: 'store_offline', store: s2, sku: NONE, at: 3, detail: {} });
      await s.alerts.clear('store_offline', s2, NONE, 4);
      expect((await s.alerts.list({ kind: 'low_stock' })).map((a) => a.store)).toEqual([s1]);
      expect((await s.alerts.list({ store: ALL_STORES })).map((a) => a.kind)).toEqual(['out_of_stock']);
      expect((await s.alerts.list({ store: s2, open: false })).map((a) => a.kind)).toEqual(['store_offline']);
      const counts = await s.alerts.countOpen();
      expect(Object.keys(counts).sort()).toEqual([...ALERT_KINDS].sort());
      expect(counts).toMatchObject({ low_stock: 1, out_of_stock: 1, store_offline: 0, oversell: 0 });
    });

    it('seen keeps the latest time per store; the webhook is set, replaced and removed', async () => {
      const s = await migrated();
      expect(await s.alerts.lastSeen()).toEqual(new Map());
      await s.alerts.seen([s1, s2], 100);
      await s.alerts.seen([s1], 50);
      await s.alerts.seen([s2], 300);
      expect(await s.alerts.lastSeen()).toEqual(new Map([[s1, 100], [s2, 300]]));
      expect(await s.alerts.webhook()).toBeNull();
      await s.alerts.setWebhook({ url: 'http://a.example/h', secret: 'whsec_1234567890abcdef' }, 10);
      await s.alerts.setWebhook({ url: 'http://b.example/h', secret: null }, 20);
      expect(await s.alerts.webhook()).toEqual({ url: 'http://b.example/h', secret: null, updatedAt: 20 });
      await s.alerts.setWebhook(null, 30);
      expect(await s.alerts.webhook()).toBeNull();
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

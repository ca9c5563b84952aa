import { describe, expect, it } from 'vitest';
import { storeId } from '@scoville/crdt-inventory';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** AllocationStore (allocation-store.ts): online allocation policies per store. */
export function runAllocationStoreTests(name: string, target: StorageTestTarget): void {
  describe(`AllocationStore on ${name}`, () => {
    const { migrated } = useStorage(target);
    const S1 = storeId('store-1');
    const S2 = storeId('store-2');

    it('no policy until one is set; changes merge on top, null drops an override', async () => {
      const s = await migrated();
      expect(await s.allocation.allocation(S1)).toBeNull();
      expect(await s.allocation.allocationVersion()).toBe(0);
      const a = await s.allocation.updateAllocation(S1, { default: { mode: 'share', share: 0.3 } }, 10);
      expect(a).toMatchObject({ store: S1, policy: { default: { mode: 'share', share: 0.3 }, skus: {} }, updatedAt: 10 });
      const b = await s.allocation.updateAllocation(S1, { skus: { 'HOT-1': { mode: 'keep', keep: 2 }, 'MILD-1': { mode: 'none' } } }, 11);
      expect(b.policy).toEqual({ default: { mode: 'share', share: 0.3 }, skus: { 'HOT-1': { mode: 'keep', keep: 2 }, 'MILD-1': { mode: 'none' } } });
      expect(b.version).toBeGreaterThan(a.version);
      const c = await s.allocation.updateAllocation(S1, { skus: { 'MILD-1': null, 'GONE-1': null } }, 12);
      expect(c.policy).toEqual({ default: { mode: 'share', share: 0.3 }, skus: { 'HOT-1': { mode: 'keep', keep: 2 } } });
      expect(await s.allocation.allocation(S1)).toEqual(c);
      expect(await s.allocation.allocation(S2)).toBeNull();
    });

    it('versions grow across stores; changedSince lists each store once with its latest policy', async () => {
      const s = await migrated();
      const a = await s.allocation.updateAllocation(S1, { default: { mode: 'units', units: 5 } }, 1);
      const b = await s.allocation.updateAllocation(S2, { default: { mode: 'none' } }, 2);
      const c = await s.allocation.updateAllocation(S1, { default: { mode: 'keep', keep: 1 } }, 3);
      expect(b.version).toBeGreaterThan(a.version);
      expect(c.version).toBeGreaterThan(b.version);
      expect(await s.allocation.allocationVersion()).toBe(c.version);
      expect((await s.allocation.allocationsChangedSince(0)).map((x) => [x.store, x.version])).toEqual([
        [S2, b.version],
        [S1, c.version],
      ]);
      expect(await s.allocation.allocationsChangedSince(b.version)).toEqual([c]);
      expect(await s.allocation.allocationsChangedSince(c.version)).toEqual([]);
    });

    it('concurrent changes of one store both land', async () => {
      const s = await migrated();
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => s.allocation.updateAllocation(S1, { skus: { [`SKU-${i}`]: { mode: 'units', units: i } } }, i)),
      );
      expect(Object.keys((await s.allocation.allocation(S1))!.policy.skus).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `SKU-${i}`));
    });
  });
}

import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../src/store/replenishment-store.js';
import { A, B, K1, K2, S1, S2, item, sale } from './fixtures.js';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** ReplenishmentStore (replenishment-store.ts): units sold per SKU over 1, 7 and 28 days from the event log. */
export function runReplenishmentStoreTests(name: string, target: StorageTestTarget): void {
  describe(`ReplenishmentStore on ${name}`, () => {
    const { migrated } = useStorage(target);

    it('sums sale and hold_commit events by SKU in the last 1, 7, 28 days; other types, stores and later events do not count', async () => {
      const s = await migrated();
      const now = 1_800_000_000_000;
      const ago = (days: number) => now - days * DAY_MS;
      await s.inventory.commit([
        item({}, [
          sale(A, 1, { qty: 2, at: ago(0.5) }),
          sale(A, 2, { qty: 3, at: ago(3) }),
          sale(A, 3, { qty: 5, at: ago(20) }),
          sale(A, 4, { qty: 100, at: ago(29) }),
          sale(A, 5, { qty: 7, at: now + 1 }),
          sale(A, 6, { qty: 4, at: ago(2), type: 'hold_commit', reservationId: 'r1' as never, expiresAt: now }),
          sale(A, 7, { qty: 50, at: ago(1.5), type: 'restock' }),
          sale(A, 8, { qty: 1, at: ago(0.1), sku: K2 }),
          sale(B, 1, { qty: 9, at: ago(0.1), store: S2 }),
        ]),
      ]);
      expect(await s.replenishment.soldUnits(S1, now)).toEqual([
        { sku: K1, d1: 2, d7: 9, d28: 14 },
        { sku: K2, d1: 1, d7: 1, d28: 1 },
      ]);
      expect(await s.replenishment.soldUnits(S2, now)).toEqual([{ sku: K1, d1: 9, d7: 9, d28: 9 }]);
    });
  });
}

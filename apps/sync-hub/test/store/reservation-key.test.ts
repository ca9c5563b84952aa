/**
 * The hub's reservations table is keyed by (store_id, owner, id) and accepts
 * the recorded 'expired' status (crdt-inventory; docs/decisions.md 16-17).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPGlite, type TestPGlite } from '../helpers/databases.js';
import { A, B, hold, item } from './fixtures.js';
import { useStorage } from './storage-harness.js';

let pglite: TestPGlite | null = null;
beforeAll(async () => {
  pglite = await createTestPGlite();
});
afterAll(async () => {
  await pglite?.close();
  pglite = null;
});

describe('hub reservations by (owner, id), on PGlite', () => {
  const { migrated } = useStorage({
    separateConnections: false,
    async fresh() {
      const p = pglite;
      if (p === null) throw new Error('PGlite not set up');
      await p.reset();
      return { connect: async () => p.client.share(), drop: async () => undefined };
    },
  });

  it('keeps two owners’ holds under one id, each moving by rank (expired included), also within one commit', async () => {
    const s = await migrated();
    await s.inventory.commit([item({ reservations: [hold('cart-1', 'active', A), hold('cart-1', 'active', B)] })]);
    await s.inventory.commit([item({ reservations: [hold('cart-1', 'expired', A)] }), item({ reservations: [hold('cart-1', 'committed', B)] })]);
    await s.inventory.commit([item({ reservations: [hold('cart-1', 'active', A), hold('cart-1', 'released', A)] })]);
    const loaded = await s.inventory.loadState();
    expect(loaded.delta.reservations.map((r) => [r.owner, r.id, r.status]).sort()).toEqual([
      [A, 'cart-1', 'released'],
      [B, 'cart-1', 'committed'],
    ]);
  });
});

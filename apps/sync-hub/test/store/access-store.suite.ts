import { replicaId, storeId } from '@scoville/crdt-inventory';
import { describe, expect, it } from 'vitest';
import { S1, S2, A, B } from './fixtures.js';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** AccessStore (access-store.ts): stores and tokens, replicas, API keys. */
export function runAccessStoreTests(name: string, target: StorageTestTarget): void {
  describe(`AccessStore on ${name}`, () => {
    const { migrated } = useStorage(target);

    it('stores and tokens: add, find by token, list, revoke', async () => {
      const s = await migrated();
      await s.access.addStore(S1, 'h1', 100);
      await s.access.addStore(S2, 'h2', 200);
      await expect(s.access.addStore(S1, 'h3', 300)).rejects.toMatchObject({ code: 'store_exists' });
      await expect(s.access.addStore(storeId('store-3'), 'h1', 300)).rejects.toThrow();
      expect(await s.access.storeForToken('h1')).toBe(S1);
      expect(await s.access.storeForToken('h2')).toBe(S2);
      expect(await s.access.storeForToken('nope')).toBeNull();
      expect(await s.access.revokeStore(S1, 500)).toBe(true);
      expect(await s.access.revokeStore(S1, 600)).toBe(false);
      expect(await s.access.revokeStore(storeId('ghost'), 600)).toBe(false);
      expect(await s.access.storeForToken('h1')).toBeNull();
      expect(await s.access.listStores()).toEqual([
        { storeId: S1, createdAt: 100, revokedAt: 500 },
        { storeId: S2, createdAt: 200, revokedAt: null },
      ]);
    });

    it('claimReplica binds a replica to its first store and refuses it to another', async () => {
      const s = await migrated();
      expect(await s.access.claimReplica(A, S1, 'agent', 1)).toBe(S1);
      expect(await s.access.claimReplica(A, S1, 'agent', 2)).toBe(S1);
      expect(await s.access.claimReplica(A, S2, 'agent', 3)).toBe(S1);
      expect(await s.access.claimReplica(B, S2, 'agent', 4)).toBe(S2);
      // racing claims of one new replica agree on one store
      const other = await migrated();
      const R = replicaId('agent-race');
      const got = await Promise.all([s.access.claimReplica(R, S1, 'agent', 5), other.access.claimReplica(R, S2, 'agent', 5)]);
      expect(got[0]).toBe(got[1]);
    });

    it('API keys: add, look up by hash, list, revoke', async () => {
      const s = await migrated();
      await s.access.addApiKey('k1', 'kh1', 'read', 10);
      await s.access.addApiKey('k2', 'kh2', 'admin', 20);
      await expect(s.access.addApiKey('k3', 'kh1', 'reserve', 30)).rejects.toThrow();
      expect(await s.access.apiKeyForHash('kh1')).toEqual({ id: 'k1', role: 'read', createdAt: 10, revokedAt: null });
      expect(await s.access.apiKeyForHash('zzz')).toBeNull();
      expect(await s.access.revokeApiKey('k1', 50)).toBe(true);
      expect(await s.access.revokeApiKey('k1', 60)).toBe(false);
      expect(await s.access.apiKeyForHash('kh1')).toBeNull();
      expect(await s.access.listApiKeys()).toEqual([
        { id: 'k1', role: 'read', createdAt: 10, revokedAt: 50 },
        { id: 'k2', role: 'admin', createdAt: 20, revokedAt: null },
      ]);
    });
  });
}

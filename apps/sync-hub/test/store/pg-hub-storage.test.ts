import { describe, expect, it } from 'vitest';
import { replicaId, sku, storeId } from '@scoville/crdt-inventory';
import { PgClient } from '../../src/db/pg-client.js';
import { openSqlClient } from '../../src/db/open.js';
import { openHubStorage } from '../../src/store/sql-hub-storage.js';
import { createTestDatabase } from '../helpers/databases.js';
import { runAccessStoreTests } from './access-store.suite.js';
import { runAllocationStoreTests } from './allocation-store.suite.js';
import { runAlertStoreTests } from './alert-store.suite.js';
import { runReplenishmentStoreTests } from './replenishment-store.suite.js';
import { runAuditStoreTests } from './audit-store.suite.js';
import { runExportStoreTests } from './export-store.suite.js';
import { runHubStorageTests } from './hub-storage.suite.js';
import { runInventoryStoreTests } from './inventory-store.suite.js';
import { runYjsStoreTests } from './yjs-store.suite.js';
import type { StorageTestTarget } from './storage-harness.js';

/** A database of its own for each test. */
const target: StorageTestTarget = {
  separateConnections: true,
  async fresh() {
    const tdb = await createTestDatabase();
    return {
      connect: () => openSqlClient({ databaseUrl: tdb.url }),
      drop: () => tdb.drop(),
    };
  },
};

runHubStorageTests('PostgreSQL', target);
runInventoryStoreTests('PostgreSQL', target);
runAccessStoreTests('PostgreSQL', target);
runAuditStoreTests('PostgreSQL', target);
runAllocationStoreTests('PostgreSQL', target);
runAlertStoreTests('PostgreSQL', target);
runReplenishmentStoreTests('PostgreSQL', target);
runExportStoreTests('PostgreSQL', target);
runYjsStoreTests('PostgreSQL', target);

describe('PgClient on PostgreSQL', () => {
  it('survives the server killing its connections: pool recovers, LISTEN reconnects and reports it', async () => {
    const tdb = await createTestDatabase();
    const errors: string[] = [];
    const client = new PgClient({ connectionString: tdb.url, max: 2, onError: (_e, where) => errors.push(where) });
    const writerClient = new PgClient({ connectionString: tdb.url, onError: () => undefined });
    const store = openHubStorage(client);
    const writer = openHubStorage(writerClient);
    try {
      await store.migrate();
      const heard: number[] = [];
      await store.inventory.subscribe((id) => heard.push(id));
      const c1 = await writer.inventory.commit([
        { delta: { entries: [{ store: storeId('s'), sku: sku('k'), replica: replicaId('r'), p: 1, n: 0 }], transfers: [], reservations: [] }, events: [] },
      ]);
      await waitFor(() => heard.includes(c1.changeId));

      expect(await tdb.terminateConnections()).toBeGreaterThanOrEqual(2);
      // the reconnected listener reports the latest change id so the subscriber catches up
      await waitFor(() => heard.filter((id) => id === c1.changeId).length >= 2);
      expect(errors).toContain('listen connection');
      // the pool drops dead clients and opens new ones
      await waitFor(() => errors.includes('idle pool client'));
      expect((await store.inventory.loadState()).changeId).toBe(c1.changeId);
      const c2 = await writer.inventory.commit([]);
      await waitFor(() => heard.includes(c2.changeId));
    } finally {
      await store.close();
      await writer.close();
      await tdb.drop();
    }
  });

  it('openSqlClient fails fast on an unreachable server', async () => {
    await expect(openSqlClient({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none' })).rejects.toThrow();
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

import { afterAll, beforeAll } from 'vitest';
import { createTestPGlite, type TestPGlite } from '../helpers/databases.js';
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

// One PGlite for the whole file, every suite included (starting one takes
// seconds); emptied before each test.
let pglite: TestPGlite | null = null;
beforeAll(async () => {
  pglite = await createTestPGlite();
});
afterAll(async () => {
  await pglite?.close();
  pglite = null;
});

const target: StorageTestTarget = {
  separateConnections: false,
  async fresh() {
    const p = pglite;
    if (p === null) throw new Error('PGlite not set up');
    await p.reset();
    return {
      // Every storage shares the one instance; closing a shared client leaves it open.
      connect: async () => p.client.share(),
      drop: async () => undefined,
    };
  },
};

runHubStorageTests('PGlite', target);
runInventoryStoreTests('PGlite', target);
runAccessStoreTests('PGlite', target);
runAuditStoreTests('PGlite', target);
runAllocationStoreTests('PGlite', target);
runAlertStoreTests('PGlite', target);
runReplenishmentStoreTests('PGlite', target);
runExportStoreTests('PGlite', target);
runYjsStoreTests('PGlite', target);

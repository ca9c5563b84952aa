import { createTestPGlite, type TestPGlite } from '../helpers/databases.js';
import { runHubStoreTests } from './hub-store.suite.js';

// One PGlite for the file (starting one takes seconds); emptied before each test.
let pglite: TestPGlite | null = null;

runHubStoreTests('PGlite', {
  separateConnections: false,
  async setup() {
    pglite = await createTestPGlite();
  },
  async teardown() {
    await pglite?.close();
    pglite = null;
  },
  async fresh() {
    const p = pglite;
    if (p === null) throw new Error('PGlite not set up');
    await p.reset();
    return {
      // Every store shares the one instance; closing a shared client leaves it open.
      connect: async () => p.client.share(),
      drop: async () => undefined,
    };
  },
});

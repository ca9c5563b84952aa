import { migrate } from '../db/migrations.js';
import type { SqlClient } from '../db/sql-client.js';
import type { HubStorage } from './hub-storage.js';
import { SqlAccessStore } from './sql-access-store.js';
import { SqlAlertStore } from './sql-alert-store.js';
import { SqlAllocationStore } from './sql-allocation-store.js';
import { SqlAuditStore } from './sql-audit-store.js';
import { SqlExportStore } from './sql-export-store.js';
import { SqlInventoryStore, type SqlInventoryStoreOptions } from './sql-inventory-store.js';
import { SqlReplenishmentStore } from './sql-replenishment-store.js';
import { SqlSellingStore } from './sql-selling-store.js';
import { SqlYjsStore } from './sql-yjs-store.js';

/** `now` also stamps the rows of schema_migrations. */
export type HubStorageOptions = SqlInventoryStoreOptions;

/**
 * The hub's stores over one SqlClient (PostgreSQL or PGlite, the same SQL).
 * Makes no round trip: call `migrate()` before using the stores. The storage
 * owns `client` from now on; `close()` closes it.
 */
export function openHubStorage(client: SqlClient, opts: HubStorageOptions = {}): HubStorage {
  const inventory = new SqlInventoryStore(client, opts);
  return {
    inventory,
    access: new SqlAccessStore(client),
    audit: new SqlAuditStore(client),
    selling: new SqlSellingStore(client),
    alerts: new SqlAlertStore(client),
    exports: new SqlExportStore(client),
    allocation: new SqlAllocationStore(client),
    yjs: new SqlYjsStore(client),
    replenishment: new SqlReplenishmentStore(client),
    notices: {
      listen: (channel, cb) => client.listen(channel, cb),
      async notify(channel, payload) {
        await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
      },
    },
    async migrate() {
      await migrate(client, opts.now);
    },
    async ping() {
      await client.query('SELECT 1');
    },
    async close() {
      // Both idempotent: stop LISTENing first, then the connections.
      await inventory.close();
      await client.close();
    },
  };
}

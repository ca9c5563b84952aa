import { describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/db/migrations.js';
import { S1, A, item, sale } from './fixtures.js';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** The storage as a whole: migrations (schema_migrations, schema_too_new). */
export function runHubStorageTests(name: string, target: StorageTestTarget): void {
  describe(`HubStorage on ${name}`, () => {
    const { openStore, migrated, rawClient } = useStorage(target);

    it('migrates an empty database, and migrating again (even concurrently) is a no-op', async () => {
      const [s1, s2] = [await openStore(), await openStore()];
      await Promise.all([s1.migrate(), s2.migrate()]);
      await s1.access.addStore(S1, 'hash-1', 1);
      await s1.migrate();
      await s2.migrate();
      expect(await s2.access.listStores()).toEqual([{ storeId: S1, createdAt: 1, revokedAt: null }]);
      const c = await rawClient();
      const rows = await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    });

    it('upgrades a version-1 database in place: events kept, still stored exactly once', async () => {
      const c = await rawClient();
      await c.exec('CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)');
      await c.exec(MIGRATIONS[0]!);
      await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)');
      await c.query(
        `INSERT INTO events (store_id, event_id, replica_id, seq, type, sku, qty, at, received_at) VALUES ('store-1', 'agent-a:1', 'agent-a', 1, 'sale', 'SKU-1', 1, 1700000000001, 5)`,
      );
      const s = await openStore();
      await s.migrate();
      const rows = await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      expect(await s.inventory.eventCount(S1)).toBe(1);
      const again = await s.inventory.commit([item({}, [sale(A, 1), sale(A, 2)])]);
      expect(again.eventsInserted).toBe(1);
      expect(await s.inventory.eventCount(S1)).toBe(2);
    });

    it('refuses a database migrated by a newer hub (schema_too_new) and changes nothing', async () => {
      const s = await migrated();
      const c = await rawClient();
      await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [SCHEMA_VERSION + 1]);
      const other = await openStore();
      await expect(other.migrate()).rejects.toMatchObject({ code: 'schema_too_new', name: 'SchemaTooNewError' });
      const rows = await c.query<{ n: number }>('SELECT count(*) AS n FROM schema_migrations');
      expect(rows[0]?.n).toBe(SCHEMA_VERSION + 1);
      await expect(s.migrate()).rejects.toMatchObject({ code: 'schema_too_new' });
    });
  });
}

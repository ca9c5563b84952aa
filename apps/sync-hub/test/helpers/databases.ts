import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPGliteClient, type PGliteClient } from '../../src/db/pglite-client.js';

/**
 * The PostgreSQL server tests use: DATABASE_URL (any database on it) or the
 * local default. Tests never touch existing databases: each creates its own
 * `scoville_t_<random>` and drops it afterwards.
 */
export const TEST_SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** The same server URL pointing at another database. */
export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

async function withMaintenanceClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(TEST_SERVER_URL, 'postgres') });
  client.on('error', () => undefined); // a dropped admin connection must not crash the run
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestDatabase {
  name: string;
  /** Connection URL of the new database. */
  url: string;
  /** Drops the database, disconnecting whoever is still connected. Idempotent. */
  drop(): Promise<void>;
  /** Terminates every connection to the database (to test reconnects). */
  terminateConnections(): Promise<number>;
}

/** Creates an empty database on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `scoville_t_${randomBytes(6).toString('hex')}`;
  await withMaintenanceClient((c) => c.query(`CREATE DATABASE ${name}`));
  let dropped: Promise<void> | null = null;
  return {
    name,
    url: databaseUrl(TEST_SERVER_URL, name),
    drop() {
      dropped ??= withMaintenanceClient(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      return dropped;
    },
    terminateConnections() {
      return withMaintenanceClient(async (c) => {
        const res = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
          name,
        ]);
        return res.rowCount ?? 0;
      });
    },
  };
}

/**
 * An in-memory PGlite for a whole test file (creating one takes seconds), with
 * `reset()` to empty it between tests.
 */
export interface TestPGlite {
  client: PGliteClient;
  /** Drops everything the hub created (tables, sequences, migrations). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function createTestPGlite(): Promise<TestPGlite> {
  const client = await openPGliteClient();
  return {
    client,
    async reset() {
      await client.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
    },
    close: () => client.close(),
  };
}

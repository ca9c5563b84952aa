import { afterAll, afterEach, beforeAll } from 'vitest';
import type { SqlClient } from '../../src/db/sql-client.js';
import type { HubStorage } from '../../src/store/hub-storage.js';
import { openHubStorage, type HubStorageOptions } from '../../src/store/sql-hub-storage.js';

/**
 * What every storage suite runs on (PostgreSQL, PGlite), and the per-test
 * lifecycle they share: a fresh database for each test, every storage opened
 * on it closed afterwards, then the database dropped.
 */

/** One empty database for one test. */
export interface StorageTestDb {
  /** A new client on this database; the storage made with it closes it. */
  connect(): Promise<SqlClient>;
  /** Removes the database (after the storages are closed). */
  drop(): Promise<void>;
}

export interface StorageTestTarget {
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** A fresh, empty database. */
  fresh(): Promise<StorageTestDb>;
  /** connect() gives independent connections (real PostgreSQL) rather than one shared engine. */
  separateConnections: boolean;
}

export interface StorageHarness {
  /** A storage on the test's database (created on first use), not yet migrated. */
  openStore(opts?: HubStorageOptions): Promise<HubStorage>;
  migrated(opts?: HubStorageOptions): Promise<HubStorage>;
  /** A plain client on the test's database (closed after the test). */
  rawClient(): Promise<SqlClient>;
}

/** Registers the hooks in the current `describe`; call it first thing in a suite. */
export function useStorage(target: StorageTestTarget): StorageHarness {
  let db: StorageTestDb | null = null;
  let stores: HubStorage[] = [];

  beforeAll(async () => {
    await target.setup?.();
  });
  afterAll(async () => {
    await target.teardown?.();
  });
  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    stores = [];
    const d = db;
    db = null;
    await d?.drop();
  });

  async function openStore(opts: HubStorageOptions = {}): Promise<HubStorage> {
    db ??= await target.fresh();
    const s = openHubStorage(await db.connect(), opts);
    stores.push(s);
    return s;
  }
  async function migrated(opts: HubStorageOptions = {}): Promise<HubStorage> {
    const s = await openStore(opts);
    await s.migrate();
    return s;
  }
  async function rawClient(): Promise<SqlClient> {
    db ??= await target.fresh();
    const c = await db.connect();
    // closed with a throwaway storage
    stores.push(openHubStorage(c));
    return c;
  }
  return { openStore, migrated, rawClient };
}

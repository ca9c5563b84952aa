import { PgClient } from './pg-client.js';
import { openPGliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';

export interface OpenSqlOptions {
  /** A `postgres://` URL: real PostgreSQL through `pg`. Takes precedence over dataDir. */
  databaseUrl?: string;
  /** Without a URL: PGlite in this folder (omitted too: PGlite in memory). */
  dataDir?: string;
  /** Pool size for PostgreSQL (default 10). */
  poolSize?: number;
  /** Background connection errors (PostgreSQL only); they never crash the process. */
  onError?: (err: Error, where: string) => void;
}

/**
 * The hub's database: PostgreSQL when a URL is given, else embedded PGlite.
 * With PostgreSQL, one round trip is made so a wrong URL fails here.
 */
export async function openSqlClient(opts: OpenSqlOptions = {}): Promise<SqlClient> {
  if (opts.databaseUrl !== undefined && opts.databaseUrl !== '') {
    const client = new PgClient({
      connectionString: opts.databaseUrl,
      ...(opts.poolSize !== undefined ? { max: opts.poolSize } : {}),
      ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
    });
    try {
      await client.query('SELECT 1');
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    return client;
  }
  return openPGliteClient(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
}

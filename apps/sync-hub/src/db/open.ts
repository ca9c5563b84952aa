import { PgClient } from './pg-client.js';
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
  // PGlite (a WebAssembly PostgreSQL) loads only when it is the database.
  const { openPGliteClient } = await import('./pglite-client.js');
  return openPGliteClient(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
}

/** Network errors and server states that mean "the database is not reachable (yet)", not "the request is wrong". */
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now (starting up).
    if (UNREACHABLE_ERRNO.has(code) || /^08/.test(code) || /^57P0[123]$/.test(code)) return true;
  }
  return /Connection terminated|timeout expired|connection timeout/i.test(String((err as Error | null)?.message ?? ''));
}

export interface RetryOptions {
  log: { warn(msg: string, fields?: Record<string, unknown>): void };
  /** What the log line says, e.g. 'database unreachable at start, retrying'. */
  message: string;
  minMs?: number;
  maxMs?: number;
}

/**
 * Runs `fn` until it succeeds or fails with anything but an unreachable
 * database; waits 100 ms, 200 ms, … up to 5 s between attempts and logs each
 * retry at warn level with the reason.
 */
export async function retryWhileUnreachable<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  let delay = opts.minMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      opts.log.warn(opts.message, { err: String((err as Error).message ?? err), code: (err as { code?: unknown }).code, attempt, retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, opts.maxMs ?? 5_000);
    }
  }
}

/**
 * What the hub left in PostgreSQL, read straight from the tables (not
 * through the hub's code), and a way to cut its connections server-side.
 */
import pg from 'pg';
import { databaseUrl, TEST_SERVER_URL } from '../../helpers/databases.js';

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface EventRow {
  store_id: string;
  event_id: string;
  replica_id: string;
  seq: number;
}

/** Every stored event id of a store, with a count of rows per id (the PK says 1; we check anyway). */
export async function storedEvents(url: string, store: string): Promise<{ ids: string[]; duplicates: string[] }> {
  return withClient(url, async (c) => {
    const rows = await c.query<{ event_id: string; n: string }>(
      'SELECT event_id, count(*) AS n FROM events WHERE store_id = $1 GROUP BY event_id',
      [store],
    );
    return {
      ids: rows.rows.map((r) => r.event_id),
      duplicates: rows.rows.filter((r) => Number(r.n) !== 1).map((r) => r.event_id),
    };
  });
}

export async function eventCount(url: string, store?: string): Promise<number> {
  return withClient(url, async (c) => {
    const r =
      store === undefined
        ? await c.query<{ n: string }>('SELECT count(*) AS n FROM events')
        : await c.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE store_id = $1', [store]);
    return Number(r.rows[0]?.n ?? 0);
  });
}

/** Σp − Σn per SKU of a store, from counter_entries: the durable on-hand. */
export async function storedOnHand(url: string, store: string): Promise<Map<string, number>> {
  return withClient(url, async (c) => {
    const r = await c.query<{ sku: string; v: string }>(
      'SELECT sku, sum(p) - sum(n) AS v FROM counter_entries WHERE store_id = $1 GROUP BY sku',
      [store],
    );
    return new Map(r.rows.map((x) => [x.sku, Number(x.v)]));
  });
}

/**
 * `pg_terminate_backend` on every connection to `dbName` but ours: the
 * server-side way to cut the hub off its database (no proxy needed).
 */
export async function terminateBackends(dbName: string): Promise<number> {
  return withClient(databaseUrl(TEST_SERVER_URL, 'postgres'), async (c) => {
    const r = await c.query<{ t: boolean }>(
      'SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [dbName],
    );
    return r.rows.filter((x) => x.t).length;
  });
}

export interface CounterRowDump {
  sku: string;
  replica: string;
  p: number;
  n: number;
}

/** A store's counter_entries rows (sku, replica, p, n), ordered. */
export async function counterRows(url: string, store: string): Promise<CounterRowDump[]> {
  return withClient(url, async (c) => {
    const r = await c.query<{ sku: string; replica_id: string; p: string; n: string }>(
      'SELECT sku, replica_id, p, n FROM counter_entries WHERE store_id = $1 ORDER BY sku, replica_id',
      [store],
    );
    return r.rows.map((x) => ({ sku: x.sku, replica: x.replica_id, p: Number(x.p), n: Number(x.n) }));
  });
}

/** Runs one statement on the hub's database behind its back (to damage it); returns the affected row count. */
export async function execSql(url: string, text: string, params: readonly unknown[] = []): Promise<number> {
  return withClient(url, async (c) => (await c.query(text, params as unknown[])).rowCount ?? 0);
}

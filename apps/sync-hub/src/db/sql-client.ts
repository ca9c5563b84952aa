/**
 * The few things the hub needs from a SQL database, implemented over real
 * PostgreSQL (`pg`) and over PGlite (Postgres in WebAssembly). The hub's SQL
 * is the same for both; only this layer differs.
 *
 * Integer columns (int4 and int8/bigint) come back as JS numbers on both.
 */

/** What a transaction can do (no nested transactions, no LISTEN). */
export interface SqlTx {
  /** One statement with `$1, $2, ...` parameters; resolves to its rows. */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /**
   * `query`, as a prepared statement kept on the connection where the client
   * has them (PostgreSQL): parsed and planned once per connection, not at
   * every call. For the few statement texts run many times a second.
   */
  prepared?<R = Record<string, unknown>>(sql: string, params: readonly unknown[]): Promise<R[]>;
  /** Several `;`-separated statements without parameters. */
  exec(sql: string): Promise<void>;
  /**
   * `COPY <table> (<columns>) FROM STDIN` (the `sql`, as written) fed with
   * `data` in COPY's text format (tab-separated, `\N` for null, one row per
   * line, see `copyText`); resolves to the number of rows copied. Fails like
   * an INSERT would (a duplicate key: 23505) and then copies nothing.
   * PostgreSQL only: PGlite has it as COPY FROM '/dev/blob', measured no
   * faster there than an INSERT of unnest()ed arrays, so it is left out.
   */
  copyFrom?(sql: string, data: string): Promise<number>;
}

/**
 * `sql` as a prepared statement where the client has them (`SqlTx.prepared`),
 * else as a query: for the few statements every commit runs. At 5,000
 * events/s in small batches (~400 commits/s) planning them was ~20 % of
 * PostgreSQL's CPU (bench/hub-ingest latency phases, same-run A/B).
 */
export function runHot<R = Record<string, unknown>>(tx: SqlTx, sql: string, params: readonly unknown[]): Promise<R[]> {
  return tx.prepared ? tx.prepared<R>(sql, params) : tx.query<R>(sql, params);
}

/** One value as a field of COPY's text format: `\N` for null, backslash escapes for `\`, tab, newline and carriage return. */
export function copyText(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v !== 'string') return typeof v === 'boolean' ? (v ? 't' : 'f') : String(v);
  return COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : v;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

export interface ListenOptions {
  /**
   * Called after the listening connection was lost and re-established:
   * notifications sent meanwhile are lost, so the listener should catch up.
   */
  onReconnect?: () => void;
}

export interface SqlClient extends SqlTx {
  /**
   * Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it
   * throws (the error is rethrown). Use only `tx` inside `fn`.
   */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel` (a plain lowercase identifier); `cb` gets each
   * NOTIFY payload. Resolves once listening; returns the unlisten function.
   */
  listen(channel: string, cb: (payload: string) => void, opts?: ListenOptions): Promise<() => Promise<void>>;
  /** Stops listeners and closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** Channel names are interpolated into LISTEN/UNLISTEN, so they are checked. */
export function checkChannel(channel: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid LISTEN channel name: ${JSON.stringify(channel)}`);
  return channel;
}

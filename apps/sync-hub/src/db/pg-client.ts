import { createHash } from 'node:crypto';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { checkChannel, type ListenOptions, type SqlClient, type SqlTx } from './sql-client.js';

export interface PgClientOptions {
  connectionString: string;
  /** Pool size (default 10). */
  max?: number;
  /**
   * Connection errors that happen outside any query (idle pool clients, the
   * LISTEN connection). They never crash the process; report them here.
   */
  onError?: (err: Error, where: string) => void;
}

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/**
 * int8/bigint columns as JS numbers, for this pool's connections only (the
 * global pg.types stays untouched). Every int8 the hub stores (quantities,
 * epoch milliseconds, change ids, counts) is a safe integer.
 */
const hubTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === INT8_OID) return (v: string) => Number(v);
      if (oid === INT8_ARRAY_OID) return (v: string) => pg.types.arrayParser(v, Number);
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** COPY ... FROM STDIN on one connection (pg-copy-streams): `data` is sent as one CopyData message. */
function copyFrom(client: pg.ClientBase, sql: string, data: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyStreams.from(sql));
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    stream.end(data);
  });
}

/**
 * Names of prepared statements by their text. pg prepares a named statement
 * once per connection and keeps it; the texts come from a fixed set in the
 * code (statementName is not for texts built from data).
 */
const statementNames = new Map<string, string>();
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) statementNames.set(sql, (name = `s${createHash('sha1').update(sql).digest('base64url').slice(0, 16)}`));
  return name;
}

function txOf(client: pg.ClientBase): SqlTx {
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<R[]> {
      const res = await client.query(sql, params as unknown[] | undefined);
      return res.rows as R[];
    },
    async prepared<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
      const res = await client.query({ name: statementName(sql), text: sql, values: params as unknown[] });
      return res.rows as R[];
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
    copyFrom: (sql, data) => copyFrom(client, sql, data),
  };
}

/** PostgreSQL through a `pg.Pool`. */
export class PgClient implements SqlClient {
  private readonly pool: pg.Pool;
  private readonly listener: PgListener;
  private closing: Promise<void> | null = null;

  constructor(private readonly opts: PgClientOptions) {
    this.pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.max ?? 10, types: hubTypes });
    // An idle client losing its connection (server restart, network) is
    // emitted on the pool; without a handler it would crash the process.
    this.pool.on('error', (err) => this.report(err, 'idle pool client'));
    this.listener = new PgListener(opts.connectionString, (err, where) => this.report(err, where));
  }

  private report(err: Error, where: string): void {
    try {
      this.opts.onError?.(err, where);
    } catch {
      // a failing error reporter must not turn into a crash either
    }
  }

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    const res = await this.pool.query(sql, params as unknown[] | undefined);
    return res.rows as R[];
  }

  async exec(sql: string): Promise<void> {
    // Without parameters pg uses the simple query protocol: several statements are fine.
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out client has no pool error listener: give it one.
    const onError = (err: Error): void => {
      broken = err;
      this.report(err, 'transaction client');
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(txOf(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      // Releasing with an error destroys the connection instead of reusing it.
      client.release(broken);
    }
  }

  listen(channel: string, cb: (payload: string) => void, opts?: ListenOptions): Promise<() => Promise<void>> {
    if (this.closing) return Promise.reject(new Error('client closed'));
    return this.listener.listen(checkChannel(channel), cb, opts);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.listener.close();
      await this.pool.end();
    })();
    return this.closing;
  }
}

interface Subscription {
  cb: (payload: string) => void;
  opts: ListenOptions | undefined;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * One dedicated connection (outside the pool) LISTENing on every channel
 * asked for. When it breaks it reconnects with backoff, LISTENs again and
 * tells the subscribers (`onReconnect`), who catch up on what they missed.
 */
class PgListener {
  private readonly channels = new Map<string, Set<Subscription>>();
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private backoff = RECONNECT_MIN_MS;
  private closed = false;
  /** Serialises LISTEN/UNLISTEN/connect so they never interleave. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly connectionString: string,
    private readonly report: (err: Error, where: string) => void,
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  listen(channel: string, cb: (payload: string) => void, opts?: ListenOptions): Promise<() => Promise<void>> {
    const sub: Subscription = { cb, opts };
    return this.serial(async () => {
      if (this.closed) throw new Error('client closed');
      let subs = this.channels.get(channel);
      const isNew = subs === undefined;
      if (subs === undefined) {
        subs = new Set();
        this.channels.set(channel, subs);
      }
      subs.add(sub);
      try {
        if (this.client === null) {
          // Connecting LISTENs on every channel in the map, this one included.
          await this.connect();
        } else if (isNew) {
          await this.client.query(`LISTEN ${channel}`);
        }
      } catch (err) {
        subs.delete(sub);
        if (subs.size === 0) this.channels.delete(channel);
        throw err;
      }
      let done = false;
      return () => {
        if (done) return Promise.resolve();
        done = true;
        return this.serial(() => this.unlisten(channel, sub));
      };
    });
  }

  private async unlisten(channel: string, sub: Subscription): Promise<void> {
    const subs = this.channels.get(channel);
    if (subs === undefined || !subs.delete(sub) || subs.size > 0) return;
    this.channels.delete(channel);
    const client = this.client;
    if (client === null) return;
    if (this.channels.size === 0) {
      // Nobody listens any more: give the connection back.
      this.client = null;
      await client.end().catch(() => undefined);
      return;
    }
    await client.query(`UNLISTEN ${channel}`).catch(() => undefined);
  }

  private async connect(): Promise<pg.Client> {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      const client = new pg.Client({ connectionString: this.connectionString, types: hubTypes });
      let live = true;
      const lost = (err: Error | null): void => {
        if (!live) return;
        live = false;
        if (err) this.report(err, 'listen connection');
        if (this.client === client) {
          this.client = null;
          this.scheduleReconnect();
        }
      };
      client.on('error', (err) => lost(err));
      client.on('end', () => lost(null));
      client.on('notification', (msg) => {
        const subs = this.channels.get(msg.channel);
        if (subs === undefined) return;
        for (const s of [...subs]) {
          try {
            s.cb(msg.payload ?? '');
          } catch (err) {
            this.report(err as Error, 'listen callback');
          }
        }
      });
      try {
        await client.connect();
        for (const channel of this.channels.keys()) await client.query(`LISTEN ${channel}`);
      } catch (err) {
        live = false;
        await client.end().catch(() => undefined);
        throw err;
      }
      if (this.closed) {
        live = false;
        await client.end().catch(() => undefined);
        throw new Error('client closed');
      }
      this.client = client;
      this.backoff = RECONNECT_MIN_MS;
      return client;
    })();
    try {
      return await this.connecting;
    } finally {
      this.connecting = null;
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer !== null || this.channels.size === 0) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.serial(async () => {
        if (this.closed || this.client !== null || this.channels.size === 0) return;
        try {
          await this.connect();
        } catch (err) {
          this.report(err as Error, 'listen reconnect');
          this.scheduleReconnect();
          return;
        }
        for (const subs of this.channels.values()) {
          for (const s of [...subs]) {
            try {
              s.opts?.onReconnect?.();
            } catch (err) {
              this.report(err as Error, 'listen onReconnect');
            }
          }
        }
      });
    }, delay);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.serial(async () => {
      const client = this.client;
      this.client = null;
      this.channels.clear();
      if (client !== null) await client.end().catch(() => undefined);
    });
  }
}

import { PGlite, type Transaction } from '@electric-sql/pglite';
import { checkChannel, type ListenOptions, type SqlClient, type SqlTx } from './sql-client.js';

const INT8_OID = 20;

export interface PGliteClientOptions {
  /** A folder for the database files; omitted: in memory only. */
  dataDir?: string;
}

/**
 * Opens PGlite (Postgres in WebAssembly) in `dataDir`, or in memory. One
 * instance is one database with one connection: statements are serialised
 * by PGlite, and LISTEN/NOTIFY work between users of the same instance.
 */
export async function openPGliteClient(opts: PGliteClientOptions = {}): Promise<PGliteClient> {
  const db = await PGlite.create({
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    // int8 as number, like the pg client (PGlite's default may change).
    parsers: { [INT8_OID]: (v: string) => Number(v) },
  });
  return new PGliteClient(db, true);
}

function txOf(tx: Transaction): SqlTx {
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<R[]> {
      const res = await tx.query<R>(sql, params as unknown[] | undefined);
      return res.rows;
    },
    async exec(sql: string): Promise<void> {
      await tx.exec(sql);
    },
  };
}

export class PGliteClient implements SqlClient {
  private closed = false;
  private readonly unlisteners = new Set<() => Promise<void>>();

  /**
   * @param owned whether `close()` closes the PGlite instance too (false lets
   * several clients share one instance, e.g. two hub stores in one test).
   */
  constructor(
    readonly db: PGlite,
    private readonly owned: boolean,
  ) {}

  /** Another client on the same instance; closing it leaves the instance open. */
  share(): PGliteClient {
    return new PGliteClient(this.db, false);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    const res = await this.db.query<R>(sql, params as unknown[] | undefined);
    return res.rows;
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    // PGlite rolls back and rethrows when fn throws.
    return this.db.transaction((tx) => fn(txOf(tx)));
  }

  async listen(channel: string, cb: (payload: string) => void, _opts?: ListenOptions): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('client closed');
    // In-process: the connection cannot drop, so onReconnect never fires.
    const unlisten = await this.db.listen(checkChannel(channel), cb);
    let done = false;
    const off = async (): Promise<void> => {
      if (done) return;
      done = true;
      this.unlisteners.delete(off);
      if (!this.db.closed) await unlisten();
    };
    this.unlisteners.add(off);
    return off;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const off of [...this.unlisteners]) await off().catch(() => undefined);
    if (this.owned && !this.db.closed) await this.db.close();
  }
}

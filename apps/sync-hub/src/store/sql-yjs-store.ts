import type { SqlClient } from '../db/sql-client.js';
import type { YjsStore, YjsUpdateRow } from './yjs-store.js';

interface Row {
  id: number;
  update: Uint8Array | string;
}

/** bytea comes back as a Buffer (pg) or a Uint8Array (PGlite). */
const bytes = (v: Uint8Array | string): Uint8Array =>
  typeof v === 'string' ? new Uint8Array(Buffer.from(v.startsWith('\\x') ? v.slice(2) : v, 'hex')) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** YjsStore over any SqlClient (table `yjs_updates`, hub migration 8). */
export class SqlYjsStore implements YjsStore {
  constructor(private readonly db: SqlClient) {}

  async appendUpdate(doc: string, update: Uint8Array, at: number): Promise<number> {
    const [row] = await this.db.query<{ id: number }>('INSERT INTO yjs_updates (doc, update, at) VALUES ($1, $2, $3) RETURNING id', [doc, Buffer.from(update), at]);
    return Number(row!.id);
  }

  async updates(doc: string, afterId = 0): Promise<YjsUpdateRow[]> {
    const rows = await this.db.query<Row>('SELECT id, update FROM yjs_updates WHERE doc = $1 AND id > $2 ORDER BY id', [doc, afterId]);
    return rows.map((r) => ({ id: Number(r.id), update: bytes(r.update) }));
  }

  async updateCount(doc: string): Promise<number> {
    const [row] = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM yjs_updates WHERE doc = $1', [doc]);
    return Number(row?.n ?? 0);
  }

  compact(doc: string, throughId: number, merge: (updates: Uint8Array[]) => Uint8Array, at: number): Promise<number | null> {
    return this.db.transaction(async (tx) => {
      // Locked: two processes compacting at once merge disjoint sets (the second finds one row).
      const rows = await tx.query<Row>('SELECT id, update FROM yjs_updates WHERE doc = $1 AND id <= $2 ORDER BY id FOR UPDATE', [doc, throughId]);
      if (rows.length <= 1) return null;
      const merged = merge(rows.map((r) => bytes(r.update)));
      await tx.query('DELETE FROM yjs_updates WHERE doc = $1 AND id = ANY($2::bigint[])', [doc, rows.map((r) => Number(r.id))]);
      const [row] = await tx.query<{ id: number }>('INSERT INTO yjs_updates (doc, update, at) VALUES ($1, $2, $3) RETURNING id', [doc, Buffer.from(merged), at]);
      return Number(row!.id);
    });
  }

  async docs(): Promise<string[]> {
    const rows = await this.db.query<{ doc: string }>('SELECT DISTINCT doc FROM yjs_updates ORDER BY doc');
    return rows.map((r) => r.doc);
  }
}

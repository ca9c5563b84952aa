import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { SqlClient } from '../db/sql-client.js';
import type { Alert, AlertKind, AlertStore, RaiseAlert } from './alert-store.js';

interface AlertRow {
  id: number;
  kind: string;
  store_id: string;
  sku: string;
  raised_at: number;
  cleared_at: number | null;
  detail: Record<string, unknown> | string;
}

const COLUMNS = 'id, kind, store_id, sku, raised_at, cleared_at, detail';

function toAlert(r: AlertRow): Alert {
  return {
    id: Number(r.id),
    kind: r.kind as AlertKind,
    store: r.store_id as StoreId,
    sku: r.sku as Sku,
    raisedAt: Number(r.raised_at),
    clearedAt: r.cleared_at === null ? null : Number(r.cleared_at),
    detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, unknown>) : r.detail,
  };
}

/** AlertStore over any SqlClient: the same SQL on PostgreSQL and PGlite. */
export class SqlAlertStore implements AlertStore {
  constructor(private readonly db: SqlClient) {}

  async raise(a: RaiseAlert): Promise<{ alert: Alert; raised: boolean }> {
    // The partial unique index allows one open alert per (store, kind, sku);
    // xmax = 0 tells an insert from an update of the open one.
    const [row] = await this.db.query<AlertRow & { inserted: boolean }>(
      `INSERT INTO alerts (store_id, kind, sku, raised_at, detail) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (store_id, kind, sku) WHERE cleared_at IS NULL DO UPDATE SET detail = EXCLUDED.detail
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [a.store, a.kind, a.sku, a.at, JSON.stringify(a.detail)],
    );
    return { alert: toAlert(row!), raised: row!.inserted };
  }

  async clear(kind: AlertKind, store: StoreId, sku: Sku, at: number): Promise<boolean> {
    const rows = await this.db.query(
      'UPDATE alerts SET cleared_at = $4 WHERE store_id = $1 AND kind = $2 AND sku = $3 AND cleared_at IS NULL RETURNING id',
      [store, kind, sku, at],
    );
    return rows.length > 0;
  }

  async list(opts: { open?: boolean; limit?: number } = {}): Promise<Alert[]> {
    const rows = await this.db.query<AlertRow>(
      `SELECT ${COLUMNS} FROM alerts WHERE $1::boolean IS NULL OR (cleared_at IS NULL) = $1::boolean
       ORDER BY raised_at DESC, id DESC LIMIT $2`,
      [opts.open ?? null, opts.limit ?? 100],
    );
    return rows.map(toAlert);
  }

  async lead(replica: string, now: number, ttlMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO alert_writer (singleton, replica_id, until) VALUES (true, $1, $2 + $3::bigint)
       ON CONFLICT (singleton) DO UPDATE SET replica_id = EXCLUDED.replica_id, until = EXCLUDED.until
         WHERE alert_writer.replica_id = EXCLUDED.replica_id OR alert_writer.until < $2
       RETURNING replica_id`,
      [replica, now, ttlMs],
    );
    return rows.length > 0;
  }
}

import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { SqlClient } from '../db/sql-client.js';
import { ALERT_KINDS, type Alert, type AlertKind, type AlertStore, type AlertWebhook, type ListAlerts, type RaiseAlert } from './alert-store.js';

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

  async list(opts: ListAlerts = {}): Promise<Alert[]> {
    const rows = await this.db.query<AlertRow>(
      `SELECT ${COLUMNS} FROM alerts
       WHERE ($1::boolean IS NULL OR (cleared_at IS NULL) = $1::boolean) AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR store_id = $4)
       ORDER BY raised_at DESC, id DESC LIMIT $2`,
      [opts.open ?? null, opts.limit ?? 100, opts.kind ?? null, opts.store ?? null],
    );
    return rows.map(toAlert);
  }

  async countOpen(): Promise<Record<AlertKind, number>> {
    const out = Object.fromEntries(ALERT_KINDS.map((k) => [k, 0])) as Record<AlertKind, number>;
    const rows = await this.db.query<{ kind: string; n: number }>('SELECT kind, count(*)::int AS n FROM alerts WHERE cleared_at IS NULL GROUP BY kind');
    for (const r of rows) if (r.kind in out) out[r.kind as AlertKind] = Number(r.n);
    return out;
  }

  async seen(stores: readonly StoreId[], at: number): Promise<void> {
    if (stores.length === 0) return;
    await this.db.query(
      `INSERT INTO store_presence (store_id, seen_at) SELECT s, $2 FROM unnest($1::text[]) AS s
       ON CONFLICT (store_id) DO UPDATE SET seen_at = GREATEST(store_presence.seen_at, EXCLUDED.seen_at)`,
      [stores, at],
    );
  }

  async lastSeen(): Promise<Map<StoreId, number>> {
    const rows = await this.db.query<{ store_id: string; seen_at: number }>('SELECT store_id, seen_at FROM store_presence');
    return new Map(rows.map((r) => [r.store_id as StoreId, Number(r.seen_at)]));
  }

  async webhook(): Promise<AlertWebhook | null> {
    const [r] = await this.db.query<{ url: string; secret: string | null; updated_at: number }>('SELECT url, secret, updated_at FROM alert_webhook');
    return r ? { url: r.url, secret: r.secret, updatedAt: Number(r.updated_at) } : null;
  }

  async setWebhook(hook: { url: string; secret: string | null } | null, at: number): Promise<void> {
    if (hook === null) {
      await this.db.query('DELETE FROM alert_webhook');
      return;
    }
    await this.db.query(
      `INSERT INTO alert_webhook (singleton, url, secret, updated_at) VALUES (true, $1, $2, $3)
       ON CONFLICT (singleton) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret, updated_at = EXCLUDED.updated_at`,
      [hook.url, hook.secret, at],
    );
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

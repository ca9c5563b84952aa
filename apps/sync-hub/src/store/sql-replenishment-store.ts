import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { SqlClient } from '../db/sql-client.js';
import { DAY_MS, type ReplenishmentStore, type SoldUnits } from './replenishment-store.js';

/** ReplenishmentStore over any SqlClient: one statement over `events`. */
export class SqlReplenishmentStore implements ReplenishmentStore {
  constructor(private readonly db: SqlClient) {}

  async soldUnits(store: StoreId, now: number): Promise<SoldUnits[]> {
    const rows = await this.db.query<{ sku: string; d1: number; d7: number; d28: number }>(
      `SELECT sku,
              coalesce(sum(qty) FILTER (WHERE at > $2::bigint - $3::bigint), 0)::bigint AS d1,
              coalesce(sum(qty) FILTER (WHERE at > $2::bigint - 7 * $3::bigint), 0)::bigint AS d7,
              coalesce(sum(qty), 0)::bigint AS d28
       FROM events
       WHERE store_id = $1 AND type IN ('sale', 'hold_commit') AND at > $2::bigint - 28 * $3::bigint AND at <= $2::bigint
       GROUP BY sku ORDER BY sku`,
      [store, now, DAY_MS],
    );
    return rows.map((r) => ({ sku: r.sku as Sku, d1: Number(r.d1), d7: Number(r.d7), d28: Number(r.d28) }));
  }
}

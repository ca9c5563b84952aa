import { DEFAULT_ALLOCATION_POLICY, type AllocationPolicy, type StoreId } from '@scoville/crdt-inventory';
import type { SqlClient } from '../db/sql-client.js';
import type { AllocationChange, AllocationStore, StoredAllocation } from './allocation-store.js';

interface Row {
  store_id: string;
  policy: AllocationPolicy | string;
  version: number;
  updated_at: number;
}

const toStored = (r: Row): StoredAllocation => ({
  store: r.store_id as StoreId,
  policy: typeof r.policy === 'string' ? (JSON.parse(r.policy) as AllocationPolicy) : r.policy,
  version: Number(r.version),
  updatedAt: Number(r.updated_at),
});

/** Applies a change to a policy (pure). */
export function applyAllocationChange(policy: AllocationPolicy, change: AllocationChange): AllocationPolicy {
  const skus = { ...policy.skus };
  for (const [sku, rule] of Object.entries(change.skus ?? {})) {
    if (rule === null) delete skus[sku];
    else skus[sku] = rule;
  }
  return { default: change.default ?? policy.default, skus };
}

/** AllocationStore over any SqlClient (table `allocation_policies`, hub migration 7). */
export class SqlAllocationStore implements AllocationStore {
  constructor(private readonly db: SqlClient) {}

  async allocation(store: StoreId): Promise<StoredAllocation | null> {
    const [row] = await this.db.query<Row>('SELECT store_id, policy, version, updated_at FROM allocation_policies WHERE store_id = $1', [store]);
    return row ? toStored(row) : null;
  }

  updateAllocation(store: StoreId, change: AllocationChange, at: number): Promise<StoredAllocation> {
    return this.db.transaction(async (tx) => {
      // Row lock: two concurrent changes of one store apply one after the other.
      // A missing row cannot be locked, so the first change inserts it first
      // (a concurrent insert waits on the key, then finds the committed row).
      await tx.query(
        `INSERT INTO allocation_policies (store_id, policy, version, updated_at) VALUES ($1, $2::jsonb, 0, $3) ON CONFLICT (store_id) DO NOTHING`,
        [store, JSON.stringify(DEFAULT_ALLOCATION_POLICY), at],
      );
      const [row] = await tx.query<Row>('SELECT store_id, policy, version, updated_at FROM allocation_policies WHERE store_id = $1 FOR UPDATE', [store]);
      const policy = applyAllocationChange(row ? toStored(row).policy : DEFAULT_ALLOCATION_POLICY, change);
      const [saved] = await tx.query<Row>(
        `INSERT INTO allocation_policies (store_id, policy, version, updated_at)
         VALUES ($1, $2::jsonb, nextval('allocation_version_seq'), $3)
         ON CONFLICT (store_id) DO UPDATE SET policy = EXCLUDED.policy, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
         RETURNING store_id, policy, version, updated_at`,
        [store, JSON.stringify(policy), at],
      );
      return toStored(saved!);
    });
  }

  async allocationsChangedSince(version: number): Promise<StoredAllocation[]> {
    const rows = await this.db.query<Row>('SELECT store_id, policy, version, updated_at FROM allocation_policies WHERE version > $1 ORDER BY version', [version]);
    return rows.map(toStored);
  }

  async allocationVersion(): Promise<number> {
    const [row] = await this.db.query<{ v: number | null }>('SELECT max(version) AS v FROM allocation_policies');
    return Number(row?.v ?? 0);
  }
}

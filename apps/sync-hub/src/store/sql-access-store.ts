import type { ReplicaId, StoreId } from '@scoville/crdt-inventory';
import type { SqlClient } from '../db/sql-client.js';
import type { AccessStore, ApiKeyRecord, ApiRole, ReplicaKind, StoreRecord } from './access-store.js';

/** AccessStore over any SqlClient: the same SQL on PostgreSQL and PGlite. */
export class SqlAccessStore implements AccessStore {
  private readonly revokeListeners = new Set<() => void>();

  constructor(private readonly db: SqlClient) {}

  onRevoke(listener: () => void): () => void {
    this.revokeListeners.add(listener);
    return () => this.revokeListeners.delete(listener);
  }

  revokedElsewhere(): void {
    this.revoked();
  }

  private revoked(): void {
    for (const l of this.revokeListeners) l();
  }

  // ---------------------------------------------------------------- stores and replicas

  async addStore(storeId: StoreId, tokenHash: string, at: number): Promise<void> {
    const rows = await this.db.query<{ store_id: string }>(
      'INSERT INTO stores (store_id, token_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING store_id',
      [storeId, tokenHash, at],
    );
    if (rows.length === 0) throw new StoreExistsError(storeId);
  }

  async listStores(): Promise<StoreRecord[]> {
    const rows = await this.db.query<{ store_id: string; created_at: number; revoked_at: number | null }>(
      'SELECT store_id, created_at, revoked_at FROM stores ORDER BY store_id',
    );
    return rows.map((r) => ({ storeId: r.store_id as StoreId, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  async revokeStore(storeId: StoreId, at: number): Promise<boolean> {
    const rows = await this.db.query(
      'UPDATE stores SET revoked_at = $2 WHERE store_id = $1 AND revoked_at IS NULL RETURNING 1',
      [storeId, at],
    );
    if (rows.length > 0) this.revoked();
    return rows.length > 0;
  }

  async rotateStoreToken(storeId: StoreId, tokenHash: string): Promise<boolean> {
    const rows = await this.db.query('UPDATE stores SET token_hash = $2 WHERE store_id = $1 AND revoked_at IS NULL RETURNING 1', [storeId, tokenHash]);
    if (rows.length > 0) this.revoked();
    return rows.length > 0;
  }

  async storeForToken(tokenHash: string): Promise<StoreId | null> {
    const [row] = await this.db.query<{ store_id: string }>(
      'SELECT store_id FROM stores WHERE token_hash = $1 AND revoked_at IS NULL',
      [tokenHash],
    );
    return row === undefined ? null : (row.store_id as StoreId);
  }

  async claimReplica(replica: ReplicaId, store: StoreId, kind: ReplicaKind, at: number): Promise<StoreId> {
    // Two statements: the SELECT gets a fresh snapshot, so it also sees a
    // row a concurrent claim committed while the INSERT waited for it.
    await this.db.query(
      'INSERT INTO replicas (replica_id, store_id, kind, first_seen) VALUES ($1, $2, $3, $4) ON CONFLICT (replica_id) DO NOTHING',
      [replica, store, kind, at],
    );
    const [row] = await this.db.query<{ store_id: string }>('SELECT store_id FROM replicas WHERE replica_id = $1', [replica]);
    if (row === undefined) throw new Error(`replica ${replica} vanished while being claimed`);
    return row.store_id as StoreId;
  }

  // ---------------------------------------------------------------- API keys

  async addApiKey(id: string, keyHash: string, role: ApiRole, at: number): Promise<void> {
    await this.db.query('INSERT INTO api_keys (id, key_hash, role, created_at) VALUES ($1, $2, $3, $4)', [id, keyHash, role, at]);
  }

  async apiKeyForHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const [row] = await this.db.query<ApiKeyRow>(
      'SELECT id, role, created_at, revoked_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [keyHash],
    );
    return row === undefined ? null : toApiKey(row);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const rows = await this.db.query<ApiKeyRow>('SELECT id, role, created_at, revoked_at FROM api_keys ORDER BY created_at, id');
    return rows.map(toApiKey);
  }

  async revokeApiKey(id: string, at: number): Promise<boolean> {
    const rows = await this.db.query('UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING 1', [id, at]);
    if (rows.length > 0) this.revoked();
    return rows.length > 0;
  }
}

interface ApiKeyRow {
  id: string;
  role: ApiRole;
  created_at: number;
  revoked_at: number | null;
}

const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({ id: r.id, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at });

/** `stores add` for a store id that is already registered (revoked or not). */
export class StoreExistsError extends Error {
  readonly code = 'store_exists';
  constructor(readonly storeId: string) {
    super(`store ${storeId} is already registered; a store id is never reused (revoke it, or choose another id)`);
    this.name = 'StoreExistsError';
  }
}

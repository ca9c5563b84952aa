import type { ReplicaId, StoreId } from '@scoville/crdt-inventory';

/**
 * Who may talk to the hub, durable: stores and the hashes of their sync
 * tokens, which store each replica belongs to, and API keys with their
 * roles. The sync server checks tokens and claims replicas here; the HTTP
 * API checks keys; the CLI adds and revokes. Only hashes of secrets are kept.
 */

export type ApiRole = 'read' | 'reserve' | 'admin';

export interface StoreRecord {
  storeId: StoreId;
  createdAt: number;
  revokedAt: number | null;
}

export interface ApiKeyRecord {
  id: string;
  role: ApiRole;
  createdAt: number;
  revokedAt: number | null;
}

export type ReplicaKind = 'agent' | 'hub';

/**
 * The Notices channel the CLI notifies after it revokes a store or key or
 * rotates a token (payload: the store or key id, never a secret): hub
 * processes then drop cached keys and close links of dead tokens at once.
 */
export const ACCESS_CHANGED = 'scoville_access_changed';

export interface AccessStore {
  // stores and their replicas
  addStore(storeId: StoreId, tokenHash: string, at: number): Promise<void>;
  listStores(): Promise<StoreRecord[]>;
  revokeStore(storeId: StoreId, at: number): Promise<boolean>;
  /** Gives an active store a new token hash; the old token stops working (false: no such active store). Counts as a revoke for `onRevoke`. */
  rotateStoreToken(storeId: StoreId, tokenHash: string): Promise<boolean>;
  /** The store a (non-revoked) token hash belongs to. Throws on a duplicate store id or token hash. */
  storeForToken(tokenHash: string): Promise<StoreId | null>;
  /**
   * Registers `replica` as belonging to `store` (first use) or confirms it.
   * Returns the store the replica belongs to (a different store means: refuse).
   */
  claimReplica(replica: ReplicaId, store: StoreId, kind: ReplicaKind, at: number): Promise<StoreId>;

  // API keys
  addApiKey(id: string, keyHash: string, role: ApiRole, at: number): Promise<void>;
  /** The NON-REVOKED key with this hash (a revoked key gives null, like storeForToken). */
  apiKeyForHash(keyHash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: string, at: number): Promise<boolean>;

  /**
   * Calls `listener` after every successful revoke made through this object
   * (store or key), so caches in this process drop it at once; returns the
   * unsubscribe. Revokes by other processes (the CLI) are not seen here:
   * whoever caches must also re-check within a short time.
   */
  onRevoke?(listener: () => void): () => void;
  /** Calls the `onRevoke` listeners for a revoke or rotation another process made (the hub hears of it on ACCESS_CHANGED). */
  revokedElsewhere?(): void;
}

import type { Delta, InventoryEvent, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';

export interface Identity {
  store: StoreId;
  replica: ReplicaId;
  createdAt: number;
}

export interface CatalogItem {
  sku: Sku;
  name: string;
  priceCents: number | null;
  lowStockThreshold: number;
  safetyStock: number;
  updatedAt: number;
}

/** The first answer given to an idempotency key, replayed on retries. */
export interface StoredAnswer {
  route: string;
  requestHash: string;
  status: number;
  /** The answer's body as sent (JSON text): stored and replayed as these very bytes. */
  json: string;
  at: number;
}

/** Everything the agent needs in memory, read at start. */
export interface LoadedState {
  delta: Delta;
  /** Highest local change number written. */
  lastChange: number;
  /** Highest event seq written. */
  lastEventSeq: number;
}

/**
 * The agent's durable storage. API and sync code talk only to this; the
 * SQLite flavour is the one implementation (`SqliteAgentStore`).
 *
 * Writes happen inside `transaction`, which is durable when it returns
 * (WAL + synchronous=FULL), or `transactionUnsynced` + `syncToDisk`.
 */
export interface AgentStore {
  readonly path: string;
  identity(): Identity | null;
  createIdentity(identity: Identity): void;
  load(store: StoreId): LoadedState;

  transaction<T>(fn: () => T): T;
  /**
   * A transaction committed without waiting for the disk: visible at once,
   * durable only after a later `syncToDisk` (or durable transaction)
   * completes. GroupCommit uses it so the fsync runs off the event loop.
   */
  transactionUnsynced<T>(fn: () => T): T;
  /** Makes every committed transaction durable (an fsync on the thread pool), then calls `done`. */
  syncToDisk(done: (error: Error | null) => void): void;
  /** The same, blocking (shutdown). */
  syncToDiskNow(): void;
  appendEvent(event: InventoryEvent): void;
  /** Max-merges the delta's entries, stamping changed rows with `change`. */
  writeDelta(delta: Delta, change: number): void;
  findAnswer(key: string): StoredAnswer | undefined;
  saveAnswer(key: string, answer: StoredAnswer): void;

  /** Events with afterSeq < seq <= upToSeq, in seq order, at most `limit`. */
  events(afterSeq: number, limit: number, upToSeq?: number): InventoryEvent[];
  eventCount(): number;
  /** Per SKU, the `at` of its latest event (highest seq): what a full pass over the log would end with. */
  lastEventAtBySku(): { sku: Sku; at: number }[];
  /** Entries changed after `change` (exclusive), up to `upTo` (inclusive). */
  changesSince(store: StoreId, change: number, upTo?: number): Delta;

  catalog(): CatalogItem[];
  catalogItem(sku: Sku): CatalogItem | undefined;
  upsertCatalog(items: readonly CatalogItem[]): void;

  syncValue(key: string): number;
  setSyncValue(key: string, value: number): void;

  /** The allocation policy last received from the hub (JSON), or null. */
  allocationPolicy(): string | null;
  saveAllocationPolicy(policy: string, at: number): void;

  /** Stored updates of a Yjs document (the catalog, the store's settings), in order. */
  yjsUpdates(doc: string): { id: number; update: Uint8Array }[];
  appendYjsUpdate(doc: string, update: Uint8Array, at: number): void;
  /** Replaces the rows of `doc` up to `throughId` with one row holding `merged`. */
  compactYjs(doc: string, throughId: number, merged: Uint8Array, at: number): void;

  close(): void;
}

import type { Delta, InventoryEvent, ReplicaId, StoreId } from '@scoville/crdt-inventory';
import type { CommitRecords } from './selling-store.js';

/**
 * The hub's merged inventory, durable (PostgreSQL, or PGlite embedded): CRDT
 * entries, every replica's events, and where the hub stands with each
 * replica's stream. The sync server, the committer and the cluster feed talk
 * to this. Every table is keyed by store first.
 *
 * `commit` is the group-commit primitive: many replicas' batches in ONE
 * transaction; it resolves only after COMMIT. Change ids are assigned under a
 * transaction-scoped advisory lock, so they become visible in order across
 * processes and `changesSince(changeId)` never skips a commit.
 */

/** Where the hub stands with one replica's stream. */
export interface SyncPosition {
  replica: ReplicaId;
  store: StoreId;
  /** Highest event seq of this replica stored at the hub. */
  lastEventSeq: number;
  /** Epoch ms of the last committed batch from it. */
  lastBatchAt: number | null;
}

/** One unit of group-committed work: what one batch from one replica brings. */
export interface CommitItem {
  /** Entries to max-merge (any stores, any replicas: validated before). */
  delta: Delta;
  /** Events to store exactly once (duplicates by id are ignored). */
  events: InventoryEvent[];
  /**
   * The replica whose batch this is, to advance its sync position: its
   * lastEventSeq becomes the highest `seq` among this item's events of that
   * replica (never lower than before), lastBatchAt becomes `at` (same).
   */
  from?: { replica: ReplicaId; store: StoreId; at: number };
  /** Rows of the selling side (stored answers, carts) that must commit with this delta. */
  records?: CommitRecords;
}

export interface CommitResult {
  /** The change id this transaction was given (ordered across hub processes). */
  changeId: number;
  /** Events actually inserted (not duplicates). */
  eventsInserted: number;
}

export interface LoadedHubState {
  delta: Delta;
  /**
   * Highest change id included (read in the same snapshot as the entries):
   * pass it to `changesSince` to catch up without a gap. Commits that
   * changed no entry (events only) may be above it; they carry nothing to load.
   */
  changeId: number;
}

export interface InventoryStore {
  /**
   * The whole merged state (startup). Entries whose values are all zero are not stored.
   * With `onPage`, the state is handed over in pages as it is read (in the same snapshot)
   * and the returned delta is empty: the caller never holds the whole state twice.
   */
  loadState(onPage?: (page: Delta) => void): Promise<LoadedHubState>;
  commit(items: readonly CommitItem[]): Promise<CommitResult>;
  /** Entries changed by commits with change id > `changeId` (other processes' writes). */
  changesSince(changeId: number): Promise<LoadedHubState>;

  syncPosition(replica: ReplicaId): Promise<SyncPosition | null>;

  eventCount(store?: StoreId): Promise<number>;
  /**
   * A store's events in (replica, seq) order, paged: those after `after`.
   * Replica ids compare bytewise. Optional fields that were absent or null
   * come back absent; `forced` only when true.
   */
  events(store: StoreId, after: { replica: string; seq: number } | null, limit: number): Promise<InventoryEvent[]>;

  /**
   * Calls `onChange(changeId)` after each commit on the database, by any hub
   * process, this instance's own commits included (LISTEN/NOTIFY; in commit
   * order, possibly before this instance's own `commit()` has resolved).
   * Rolled-back commits are not reported. After the listening connection was
   * lost and restored (notifications may have been missed) it is called with
   * the latest change id, so a subscriber catches up with
   * `changesSince(<last id it read up to>)`. Returns an unsubscribe.
   */
  subscribe(onChange: (changeId: number) => void): Promise<() => Promise<void>>;
}

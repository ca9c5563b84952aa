/**
 * Yjs documents (the catalog, each store's settings; docs/decisions.md 23):
 * every update a hub process accepts is appended as one row; loading merges
 * the rows; `compact` replaces the rows read with their merge, so a document
 * is a handful of rows however often it was edited. Rows are also how hub
 * processes on one database see each other's edits: each polls (or is told
 * through NOTIFY about) rows above the last id it read.
 *
 * The store knows nothing of Yjs beyond "updates merge": the merge function
 * is passed in (Y.mergeUpdates), so this stays a storage concern.
 */
export interface YjsUpdateRow {
  id: number;
  update: Uint8Array;
}

export interface YjsStore {
  /** Appends one update of `doc`; returns its row id. */
  appendUpdate(doc: string, update: Uint8Array, at: number): Promise<number>;
  /** The rows of `doc` with id > `afterId`, in id order. */
  updates(doc: string, afterId?: number): Promise<YjsUpdateRow[]>;
  /** How many rows `doc` has. */
  updateCount(doc: string): Promise<number>;
  /**
   * Replaces the rows of `doc` up to `throughId` with one row holding
   * `merge(their updates)` (in one transaction, the rows locked); returns the
   * new row's id, or null when there was at most one such row.
   */
  compact(doc: string, throughId: number, merge: (updates: Uint8Array[]) => Uint8Array, at: number): Promise<number | null>;
  /** Names of the documents stored. */
  docs(): Promise<string[]>;
}

import type { InventoryEvent } from '@scoville/crdt-inventory';

/**
 * The event export's durable side (export/exporter.ts): the committed event
 * log read in a stable order, and per sink the confirmed cursor and the lease
 * of the one hub process that publishes.
 *
 * Log order: commits in change-id order (each commit that stored events has
 * a row written under the change-id lock, so once change N is visible no
 * commit below N can appear later), within a commit by (store, replica, seq).
 * Per store, that is the order the hub committed them.
 *
 * A cursor says "everything up to here was confirmed by the sink": all of
 * commit `changeId`'s events up to and including `after` (null: all of them
 * and every earlier commit).
 *
 * The lease: `acquire` takes it when free, lapsed or already the caller's,
 * and always bumps the epoch, so an older holder (a paused process, the
 * previous life of a restarted one) is fenced: its `advance` and `renew`
 * fail and it must stop publishing. Times are the callers' epoch ms.
 */

export interface EventKey {
  store: string;
  replica: string;
  seq: number;
}

export interface ExportCursor {
  changeId: number;
  /** Last published event of commit `changeId`; null: that whole commit (and all before). */
  after: EventKey | null;
}

export interface ExportLease {
  sink: string;
  holder: string;
  epoch: number;
  /** Where the previous holder stopped. */
  cursor: ExportCursor;
}

/** One commit's events, in log order. */
export interface CommittedEvents {
  changeId: number;
  /** Epoch ms the hub received (committed) them. */
  at: number;
  events: InventoryEvent[];
}

export interface ExportState {
  sink: string;
  cursor: ExportCursor;
  /** Lease holder, and until when (epoch ms); null when no one ever published. */
  holder: string | null;
  until: number;
  /** Cursor last advanced (epoch ms, 0: never). */
  updatedAt: number;
  /** Highest change id that stored events (0: none). */
  head: number;
  /** Events committed after the cursor. */
  eventsBehind: number;
  /** When the oldest of those was committed (null: none behind). */
  oldestBehindAt: number | null;
}

export interface ExportStore {
  acquire(sink: string, holder: string, now: number, ttlMs: number): Promise<ExportLease | null>;
  /** Extends the lease; false when it was taken over (stop publishing). */
  renew(lease: ExportLease, now: number, ttlMs: number): Promise<boolean>;
  /** Stores the cursor (and extends the lease); false when the lease was taken over (nothing stored). */
  advance(lease: ExportLease, cursor: ExportCursor, now: number, ttlMs: number): Promise<boolean>;
  /** Lets the lease lapse now (a clean stop: another process may take over at once). */
  release(lease: ExportLease): Promise<void>;
  /**
   * The next commits after `cursor`, in log order: whole commits (the first
   * one without the events up to `cursor.after`) until about `maxEvents`
   * (at least one commit), none with change id above `upTo`.
   */
  read(cursor: ExportCursor, maxEvents: number, upTo?: number): Promise<CommittedEvents[]>;
  state(sink: string): Promise<ExportState>;
  /** The cursor just before the first commit at or after `at` (epoch ms), for replays by time. */
  cursorAt(at: number): Promise<ExportCursor>;
  /** Highest change id that stored events (0: none). */
  head(): Promise<number>;
}

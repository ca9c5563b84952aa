import type { AgentStore } from '../store/agent-store.js';

interface Pending<T> {
  work: () => T;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** A committed batch: its callers, their results, and what onCommit returned for onDurable. */
interface Committed<C> {
  batch: Pending<unknown>[];
  results: unknown[];
  token: C | undefined;
}

export interface CommitHooks<C> {
  /** Right after a batch commits (before it is durable): what onDurable gets for it. */
  onCommit?: () => C;
  /** The batch is on disk; runs before its callers hear back (changes are announced only then). */
  onDurable?: (token: C | undefined) => void;
  /** The transaction failed and rolled back (memory must be made to match disk again). */
  onFailure?: (error: unknown) => void;
  /** The fsync failed: nothing after the last good one can be trusted to be on disk; no more writes are taken. */
  onSyncFailure?: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Most writes per transaction; the rest wait for the next one. 1 = no group commit (the naive baseline of bench/agent-sales.ts). */
  maxBatch?: number;
  /**
   * true (default): a batch commits without fsync (`transactionUnsynced`) and
   * is made durable by `syncToDisk` on the thread pool, so the event loop
   * parses and checks the next batch's requests meanwhile. false: the fsync
   * runs inside the commit and blocks the loop (the design before; benches).
   */
  overlap?: boolean;
  /**
   * Batches committed and waiting for their fsync at most (overlap only;
   * default DEFAULT_SYNCS_IN_FLIGHT). 1: the next batch commits when the
   * previous is durable. More: it commits at once and its fsync is issued
   * next to the earlier ones (the disk may serve them together), which cuts a
   * terminal's wait when its request arrived during another batch's fsync.
   */
  maxSyncsInFlight?: number;
  /**
   * overlap only: a write that is alone (nothing else queued, no batch waiting
   * for its fsync) has its WAL fdatasynced on the event loop right after its
   * commit, while the last durable commit took less than this (ms; default
   * DEFAULT_INLINE_ALONE_UNDER_MS; 0: never). Handing a lone fsync to the
   * thread pool and back costs more CPU and latency than it overlaps; on a
   * slow disk the loop is not blocked (the next write goes off the loop again).
   */
  inlineAloneUnderMs?: number;
}

/**
 * 2 ms: on a fast disk (fdatasync ~1 ms) a lone write blocks the loop for
 * about as long as the hand-over itself would delay its answer; one slow
 * fsync sends the next lone write off the loop again. One write at a time,
 * in-process, interleaved: 274 -> 215 us CPU per sale, p50 0.31 -> 0.21 ms;
 * 4 and 16 terminals over HTTP: no difference beyond noise.
 */
export const DEFAULT_INLINE_ALONE_UNDER_MS = 2;

/**
 * Two: the requests that arrive during one fsync commit and issue theirs at
 * once instead of waiting a whole fsync more (bench/agent-sales.ts, same run:
 * 4 terminals 714 vs 575 sales/s with one, 16 terminals 842 vs 812).
 */
export const DEFAULT_SYNCS_IN_FLIGHT = 2;

/** The disk did not confirm a write: the agent takes no more writes until it is restarted. */
export class DurabilityLostError extends Error {
  readonly code = 'storage_failed';
  constructor(cause: unknown) {
    super(`the disk did not confirm a write (${String(cause)}): the agent takes no more writes until it is restarted`, { cause });
  }
}

/**
 * Group commit: the writes submitted while the previous batch is being made
 * durable (or, when none is, during one turn of the event loop) run in a
 * single SQLite transaction. Each caller's promise settles only after that
 * transaction is durable, so a 2xx still means "on disk", but 16 terminals
 * pay for one fsync instead of 16, and the fsync (on the thread pool) no
 * longer stops the event loop: requests arriving meanwhile are parsed and
 * validated and form the next batch. At most `maxSyncsInFlight` batches are
 * committed and not yet durable at any time (`syncing`). A write alone (none
 * queued with it, none being fsynced) on a fast disk is fdatasynced on the
 * event loop instead (`inlineAloneUnderMs`): nothing is there to overlap.
 *
 * If the transaction fails, every caller in it is rejected and `onFailure`
 * runs (the inventory reloads its in-memory state from disk, which the
 * rollback left untouched). If the fsync fails, the batch's callers and
 * everyone after are rejected with DurabilityLostError.
 */
export class GroupCommit<C = unknown> {
  private queue: Pending<unknown>[] = [];
  private scheduled = false;
  private closed = false;
  /** Batches committed whose fsync is in progress, in commit order. */
  private syncing: Committed<C>[] = [];
  private broken: DurabilityLostError | null = null;
  private readonly maxBatch: number;
  private readonly overlap: boolean;
  private readonly maxSyncs: number;
  private readonly inlineAloneUnderMs: number;
  /** How long the last durable commit took (ms, from its commit to its fsync's end, either way); none yet: Infinity. */
  private lastSyncMs = Number.POSITIVE_INFINITY;
  /** Transactions committed, writes they carried, fsyncs that made them durable: for status and benches. */
  readonly stats = { transactions: 0, writes: 0, syncs: 0 };

  constructor(
    private readonly store: AgentStore,
    private readonly hooks: CommitHooks<C> = {},
    opts: GroupCommitOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? Number.POSITIVE_INFINITY;
    this.overlap = opts.overlap ?? true;
    this.maxSyncs = opts.maxSyncsInFlight ?? DEFAULT_SYNCS_IN_FLIGHT;
    this.inlineAloneUnderMs = opts.inlineAloneUnderMs ?? DEFAULT_INLINE_ALONE_UNDER_MS;
    if (!(this.maxBatch >= 1)) throw new RangeError(`maxBatch must be at least 1, got ${this.maxBatch}`);
    if (!(this.maxSyncs >= 1)) throw new RangeError(`maxSyncsInFlight must be at least 1, got ${this.maxSyncs}`);
  }

  submit<T>(work: () => T): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new Error('the agent is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.syncing.length >= this.maxSyncs || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Commits the next batch, unless too many are still being made durable. */
  private flush(): void {
    this.scheduled = false;
    if (this.syncing.length >= this.maxSyncs || this.queue.length === 0 || this.broken) return;
    // Alone on a fast disk: fsync on the loop right after the commit (see inlineAloneUnderMs).
    const alone = this.overlap && this.syncing.length === 0 && this.queue.length === 1 && this.lastSyncMs < this.inlineAloneUnderMs;
    const started = performance.now();
    const committed = this.commitNext();
    if (committed === null) return this.schedule();
    if (alone) {
      // The same fdatasync of the WAL as off the loop (SQLite's own sync at synchronous=FULL is a full fsync here).
      try {
        this.store.syncToDiskNow();
      } catch (error) {
        return this.lose(error, [committed]);
      }
      this.lastSyncMs = performance.now() - started;
      this.stats.syncs++;
    }
    if (!this.overlap || alone) {
      this.durable(committed);
      return this.schedule();
    }
    this.syncing.push(committed);
    this.store.syncToDisk((error) => {
      this.lastSyncMs = performance.now() - started;
      // This fsync covers every batch committed before it began: this one and those before it.
      const upTo = this.syncing.indexOf(committed);
      if (upTo < 0) return; // an earlier fsync or close() covered it already
      if (error) return this.lose(error, this.syncing.splice(0));
      this.stats.syncs++;
      for (const c of this.syncing.splice(0, upTo + 1)) this.durable(c);
      this.schedule();
    });
  }

  /** Runs the next batch in one transaction; null if it failed (its callers are rejected). */
  private commitNext(): Committed<C> | null {
    const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    let results: unknown[];
    try {
      results = this.overlap ? this.store.transactionUnsynced(() => runAll(batch)) : this.store.transaction(() => runAll(batch));
    } catch (error) {
      this.hooks.onFailure?.(error);
      for (const p of batch) p.reject(error);
      return null;
    }
    this.stats.transactions++;
    this.stats.writes += batch.length;
    if (!this.overlap) this.stats.syncs++;
    return { batch, results, token: this.hooks.onCommit?.() };
  }

  private durable(c: Committed<C>): void {
    this.hooks.onDurable?.(c.token);
    for (let i = 0; i < c.batch.length; i++) c.batch[i]!.resolve(c.results[i]);
  }

  private lose(error: unknown, committed: Committed<C>[]): void {
    this.broken = new DurabilityLostError(error);
    for (const c of committed) for (const p of c.batch) p.reject(this.broken);
    for (const p of this.queue) p.reject(this.broken);
    this.queue = [];
    this.hooks.onSyncFailure?.(error);
  }

  /** Commits what is queued, makes everything durable (blocking) and refuses new work. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.broken) return;
    const committed = this.syncing.splice(0);
    while (this.queue.length > 0) {
      const c = this.commitNext();
      if (c !== null) committed.push(c);
    }
    if (this.overlap && committed.length > 0) {
      try {
        this.store.syncToDiskNow();
      } catch (error) {
        return this.lose(error, committed);
      }
      this.stats.syncs++;
    }
    for (const c of committed) this.durable(c);
  }
}

function runAll(batch: readonly Pending<unknown>[]): unknown[] {
  return batch.map((p) => p.work());
}

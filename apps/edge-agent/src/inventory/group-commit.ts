import type { AgentStore } from '../store/agent-store.js';

interface Pending<T> {
  work: () => T;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: every write submitted during one turn of the event loop runs
 * in a single SQLite transaction, flushed on `setImmediate`. Each caller's
 * promise settles only after that transaction is durable, so a 2xx still
 * means "on disk", but 16 terminals pay for one fsync instead of 16.
 *
 * After a commit `onCommit` runs (changes are announced only then). If the
 * transaction fails, every caller in it is rejected and `onFailure` runs (the inventory reloads its in-memory state from disk, which the
 * rollback left untouched).
 */
export class GroupCommit {
  private queue: Pending<unknown>[] = [];
  private scheduled = false;
  private closed = false;
  /** Transactions committed and writes they carried, for status and benches. */
  readonly stats = { transactions: 0, writes: 0 };

  constructor(
    private readonly store: AgentStore,
    private readonly hooks: { onCommit?: () => void; onFailure?: (error: unknown) => void } = {},
    /** Most writes per transaction; the rest wait for the next turn. 1 = no group commit (the naive baseline of bench/agent-sales.ts). */
    private readonly maxBatch = Number.POSITIVE_INFINITY,
  ) {
    if (!(maxBatch >= 1)) throw new RangeError(`maxBatch must be at least 1, got ${maxBatch}`);
  }

  submit<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the agent is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs everything queued now, synchronously. */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    let results: unknown[];
    try {
      results = this.store.transaction(() => batch.map((p) => p.work()));
    } catch (error) {
      this.hooks.onFailure?.(error);
      for (const p of batch) p.reject(error);
      return;
    }
    this.stats.transactions++;
    this.hooks.onCommit?.();
    this.stats.writes += batch.length;
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]);
  }

  /** Flushes what is queued and refuses new work. */
  close(): void {
    while (this.queue.length > 0) this.flush();
    this.closed = true;
  }
}

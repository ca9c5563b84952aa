import type { CommitItem, CommitResult, HubStore } from '../store/hub-store.js';
import type { HubState } from '../state/hub-state.js';

interface Pending {
  item: CommitItem;
  resolve: (r: CommitResult) => void;
  reject: (e: unknown) => void;
}

export interface CommitterStats {
  transactions: number;
  items: number;
  events: number;
  failures: number;
  lastError: string | null;
  /** True while Postgres refuses commits (acks are held back). */
  degraded: boolean;
}

/**
 * Group commit at the hub: while one Postgres transaction is in flight,
 * batches from every agent queue up; the next transaction takes them all.
 * A batch's promise resolves only after COMMIT, and only then is the data
 * applied to the in-memory state, so an ack or a read never runs ahead of
 * the disk.
 *
 * When Postgres fails, the queued batches stay queued and the commit is
 * retried with backoff: acks stop, nothing is dropped, and everything
 * resolves once the database is back (commits are idempotent max-merges).
 */
export class HubCommitter {
  private queue: Pending[] = [];
  private running = false;
  private closed = false;
  private retryDelay = 0;
  readonly stats: CommitterStats = { transactions: 0, items: 0, events: 0, failures: 0, lastError: null, degraded: false };
  /** Change ids this process committed (to skip re-reading its own NOTIFYs). */
  readonly ownChangeIds = new Set<number>();

  constructor(
    private readonly store: HubStore,
    private readonly state: HubState,
    private readonly opts: { maxItemsPerCommit?: number; maxRetryDelayMs?: number } = {},
  ) {}

  submit(item: CommitItem): Promise<CommitResult> {
    if (this.closed) return Promise.reject(new Error('hub is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.loop();
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const max = this.opts.maxItemsPerCommit ?? 2_000;
        const batch = this.queue.slice(0, max);
        let result: CommitResult;
        try {
          result = await this.store.commit(batch.map((p) => p.item));
        } catch (error) {
          this.stats.failures++;
          this.stats.lastError = String((error as Error).message ?? error);
          this.stats.degraded = true;
          if (this.closed) {
            for (const p of this.queue.splice(0)) p.reject(error);
            return;
          }
          this.retryDelay = Math.min(this.opts.maxRetryDelayMs ?? 2_000, Math.max(50, this.retryDelay * 2));
          await new Promise((r) => setTimeout(r, this.retryDelay));
          continue;
        }
        this.queue.splice(0, batch.length);
        this.retryDelay = 0;
        this.stats.degraded = false;
        this.stats.transactions++;
        this.stats.items += batch.length;
        this.stats.events += result.eventsInserted;
        this.ownChangeIds.add(result.changeId);
        for (const p of batch) this.state.apply(p.item.delta);
        for (const p of batch) p.resolve(result);
      }
    } finally {
      this.running = false;
    }
  }

  /** Waits for queued work (bounded), then refuses more. */
  async close(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.running || this.queue.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('hub is shutting down'));
  }
}

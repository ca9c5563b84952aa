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

export interface CommitterOptions {
  /** Most batches in one transaction. */
  maxItemsPerCommit?: number;
  /** Transactions in flight at once (their events insert in parallel; entry upserts take turns). */
  maxConcurrent?: number;
  maxRetryDelayMs?: number;
}

/**
 * Group commit at the hub: while transactions are in flight, batches from
 * every agent queue up; the next transaction takes them all. Up to
 * `maxConcurrent` transactions run at once, but they settle strictly in the
 * order they were started: a batch's promise resolves, and its data reaches
 * the in-memory state, only after its own COMMIT and after every earlier
 * transaction settled. So acks go out in order and a read never runs ahead
 * of the disk.
 *
 * When Postgres fails, a transaction's batches are retried with backoff
 * (acks stop, nothing is dropped), and everything resolves once the database
 * is back: commits are idempotent max-merges and ON CONFLICT DO NOTHING.
 */
export class HubCommitter {
  private queue: Pending[] = [];
  private inflight = 0;
  /** Settles when every started transaction has settled, in start order. */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private retryDelay = 0;
  /** Transactions currently failing and being retried: degraded while > 0. */
  private failing = 0;
  readonly stats: CommitterStats = { transactions: 0, items: 0, events: 0, failures: 0, lastError: null, degraded: false };
  /** Change ids this process committed (to skip re-reading its own NOTIFYs). */
  readonly ownChangeIds = new Set<number>();

  constructor(
    private readonly store: HubStore,
    private readonly state: HubState,
    private readonly opts: CommitterOptions = {},
  ) {}

  submit(item: CommitItem): Promise<CommitResult> {
    if (this.closed) return Promise.reject(new Error('hub is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.kick();
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  private kick(): void {
    const maxConcurrent = this.opts.maxConcurrent ?? 2;
    const maxItems = this.opts.maxItemsPerCommit ?? 2_000;
    while (this.inflight < maxConcurrent && this.queue.length > 0) {
      const batch = this.queue.splice(0, maxItems);
      this.inflight++;
      const committed = this.commitWithRetry(batch.map((p) => p.item));
      const previous = this.tail;
      this.tail = committed.then(
        async (result) => {
          await previous;
          this.ownChangeIds.add(result.changeId);
          for (const p of batch) this.state.apply(p.item.delta);
          for (const p of batch) p.resolve(result);
        },
        async (error: unknown) => {
          await previous;
          for (const p of batch) p.reject(error);
        },
      );
      void committed.then(
        () => this.settled(),
        () => this.settled(),
      );
    }
  }

  private settled(): void {
    this.inflight--;
    this.kick();
  }

  private async commitWithRetry(items: CommitItem[]): Promise<CommitResult> {
    let failed = false;
    for (;;) {
      try {
        const result = await this.store.commit(items);
        if (failed) this.failing--;
        if (this.failing === 0) this.retryDelay = 0;
        this.stats.degraded = this.failing > 0;
        this.stats.transactions++;
        this.stats.items += items.length;
        this.stats.events += result.eventsInserted;
        return result;
      } catch (error) {
        if (!failed) this.failing++;
        failed = true;
        this.stats.failures++;
        this.stats.lastError = String((error as Error).message ?? error);
        this.stats.degraded = true;
        if (this.closed) {
          this.failing--;
          throw error;
        }
        this.retryDelay = Math.min(this.opts.maxRetryDelayMs ?? 2_000, Math.max(50, this.retryDelay * 2));
        await new Promise((r) => setTimeout(r, this.retryDelay));
      }
    }
  }

  /** Waits for queued work (bounded), then refuses more and fails what is left. */
  async close(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.inflight > 0 || this.queue.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('hub is shutting down'));
  }
}

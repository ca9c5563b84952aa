import type { CommitItem, CommitResult, InventoryStore } from '../store/inventory-store.js';
import type { HubState } from '../state/hub-state.js';

type Settled = { ok: true; result: CommitResult } | { ok: false; error: unknown };

/**
 * Retrying cannot help: SQLSTATE classes 22 (data exception) and 23
 * (constraint violation), and events that conflict with stored ones.
 */
export function isPermanent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (/^2[23]/.test(code) || code === 'event_conflict');
}

function rowsOf(item: CommitItem): number {
  const d = item.delta;
  return item.events.length + d.entries.length + d.transfers.length + d.reservations.length;
}

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

/** Told of every transaction this committer got through (metrics: observability/hub-metrics.ts). */
export type CommitListener = (items: readonly CommitItem[], result: CommitResult, seconds: number) => void;

export interface CommitterOptions {
  /** Most batches in one transaction. */
  maxItemsPerCommit?: number;
  /**
   * Most rows (events plus entries) in one transaction, unless a single batch
   * has more (default 20,000). Under a full load everything queued would
   * otherwise go into one huge transaction, and the database would sit idle
   * while the hub decodes the next wave: with bounded transactions, one
   * commits while the next copies its events and the hub decodes more
   * (bench/hub-ingest.ts: 18,000 → 25,000 events/s).
   */
  maxRowsPerCommit?: number;
  /**
   * While a transaction is in flight, another starts only once this many rows
   * wait (default 1,000; 0: as soon as anything waits). Under light load the
   * waiting batches go into the next transaction together instead of a
   * second one of a few events, whose round trips and lock wait cost CPU
   * (each pg round trip is a write syscall) and add latency; under heavy load
   * two transactions overlap (one's events COPY while the other upserts).
   * bench/hub-ingest at 5,000 events/s, same-run A/B: ack p50 2.6-4.5 vs
   * 5.1-6.9 ms.
   */
  concurrentAtRows?: number;
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
  private readonly listeners = new Set<CommitListener>();

  constructor(
    private readonly store: InventoryStore,
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

  /** Calls `listener` after each successful COMMIT with its items and how long the attempt took; returns the unsubscribe. */
  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get queued(): number {
    return this.queue.length;
  }

  private kick(): void {
    const maxConcurrent = this.opts.maxConcurrent ?? 2;
    const maxItems = this.opts.maxItemsPerCommit ?? 2_000;
    const maxRows = this.opts.maxRowsPerCommit ?? 20_000;
    const secondRows = this.opts.concurrentAtRows ?? 1_000;
    while (this.inflight < maxConcurrent && this.queue.length > 0) {
      if (this.inflight > 0 && secondRows > 0) {
        let queued = 0;
        for (const p of this.queue) if ((queued += rowsOf(p.item)) >= secondRows) break;
        if (queued < secondRows) return;
      }
      let take = 0;
      for (let rows = 0; take < this.queue.length && take < maxItems; take++) {
        rows += rowsOf(this.queue[take]!.item);
        if (rows > maxRows && take > 0) break;
      }
      const batch = this.queue.splice(0, take);
      this.inflight++;
      const committed = this.commitGroup(batch.map((p) => p.item));
      const previous = this.tail;
      this.tail = committed.then(async (settled) => {
        // An earlier group's failure must not wedge the ones after it.
        await previous.catch(() => undefined);
        settled.forEach((s, i) => {
          const p = batch[i]!;
          if (!s.ok) return p.reject(s.error);
          this.ownChangeIds.add(s.result.changeId);
          try {
            this.state.apply(p.item.delta);
          } catch (e) {
            // Committed all the same: ack it. Memory catches up on the next load.
            this.stats.lastError = `applying a committed batch to memory failed: ${String(e)}`;
          }
          p.resolve(s.result);
        });
      });
      void committed.then(() => this.settled());
    }
  }

  private settled(): void {
    this.inflight--;
    this.kick();
  }

  /**
   * Commits a group; one item that can never be stored (a data or
   * constraint error) must not hold up the others, so such a group is
   * retried one item at a time and only the bad item is refused.
   */
  private async commitGroup(items: CommitItem[]): Promise<Settled[]> {
    try {
      const result = await this.commitWithRetry(items);
      return items.map(() => ({ ok: true, result }));
    } catch (error) {
      if (!isPermanent(error) || items.length === 1) return items.map(() => ({ ok: false, error }));
      const out: Settled[] = [];
      for (const item of items) out.push(...(await this.commitGroup([item])));
      return out;
    }
  }

  private async commitWithRetry(items: CommitItem[]): Promise<CommitResult> {
    let failed = false;
    try {
      for (;;) {
        try {
          const started = performance.now();
          const result = await this.store.commit(items);
          this.stats.transactions++;
          this.stats.items += items.length;
          this.stats.events += result.eventsInserted;
          const seconds = (performance.now() - started) / 1000;
          for (const l of this.listeners) l(items, result, seconds);
          return result;
        } catch (error) {
          this.stats.failures++;
          this.stats.lastError = String((error as Error).message ?? error);
          if (isPermanent(error) || this.closed) throw error;
          if (!failed) this.failing++;
          failed = true;
          this.stats.degraded = true;
          this.retryDelay = Math.min(this.opts.maxRetryDelayMs ?? 2_000, Math.max(50, this.retryDelay * 2));
          await new Promise((r) => setTimeout(r, this.retryDelay));
        }
      }
    } finally {
      if (failed) this.failing--;
      if (this.failing === 0) this.retryDelay = 0;
      this.stats.degraded = this.failing > 0;
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

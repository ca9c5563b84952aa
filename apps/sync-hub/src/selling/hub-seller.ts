import type { ReplicaId, StoreId } from '@scoville/crdt-inventory';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import type { CommitItem } from '../store/inventory-store.js';
import type { StoredResponse } from '../store/selling-store.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import { SellerBatch } from './seller-batch.js';
import type { SellOutcome } from './sell-error.js';

/** Most jobs decided in one group (one transaction). */
const MAX_JOBS_PER_GROUP = 1_000;

/** The replicas.store_id of hub processes (not a valid store id). */
export const HUB_SCOPE = '*' as StoreId;

/** Where a successful job's answer is stored, in the same transaction as what it promises. */
export interface ResponseSlot {
  scope: string;
  key: string;
  requestHash: string;
  status: number;
}

interface Job {
  run: (batch: SellerBatch) => SellOutcome<unknown>;
  slot: ResponseSlot | null;
  resolve: (o: SellOutcome<unknown>) => void;
  reject: (e: unknown) => void;
}

export interface HubSellerDeps {
  state: HubState;
  committer: HubCommitter;
  me: ReplicaId;
  /** Seq of this replica's next event (one past what the database holds). */
  firstSeq: number;
  clock: () => number;
  log: Logger;
  /** Called after a group committed, before its jobs are answered. */
  onCommitted?: (batch: SellerBatch) => void;
}

/**
 * This hub process as a selling replica: the only writer of its own CRDT
 * entries (holds of storefront carts, sales of stores without an agent,
 * rights handed to agents).
 *
 * Jobs queue while a group is committing; the next group takes them all,
 * decides them in order against scratch copies of the committed counters
 * (SellerBatch) and commits them in ONE transaction through the shared
 * HubCommitter. Only one group is in flight, so the next group decides on a
 * state that includes the previous group's commit, and this replica's
 * entries and event seqs never depend on a transaction that may still fail.
 * Every promise (201 hold, 200 commit, rights grant) settles after COMMIT.
 */
export class HubSeller {
  private queue: Job[] = [];
  private running = false;
  private nextSeq: number;
  private closed = false;

  constructor(private readonly deps: HubSellerDeps) {
    this.nextSeq = deps.firstSeq;
  }

  get replica(): ReplicaId {
    return this.deps.me;
  }

  /** Decides `run` in the next group; resolves after the group committed (or with its refusal). */
  submit<T>(run: (batch: SellerBatch) => SellOutcome<T>, slot: ResponseSlot | null = null): Promise<SellOutcome<T>> {
    if (this.closed) return Promise.reject(new Error('hub is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ run, slot, resolve: resolve as (o: SellOutcome<unknown>) => void, reject });
      if (!this.running) {
        this.running = true;
        // Let the requests of this event-loop turn join the group.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const jobs = this.queue.splice(0, MAX_JOBS_PER_GROUP);
        await this.runGroup(jobs);
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0 && !this.closed) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    }
  }

  private async runGroup(all: Job[]): Promise<void> {
    const { batch, outcomes, jobs } = this.decide(all);
    if (!batch.isEmpty()) {
      const item: CommitItem = {
        delta: batch.delta,
        events: batch.events,
        from: { replica: this.deps.me, store: HUB_SCOPE, at: batch.now },
        records: batch.records(),
      };
      try {
        await this.deps.committer.submit(item);
      } catch (e) {
        // Nothing of the group was stored: its seqs are free again.
        this.deps.log.error('selling group failed to commit', { jobs: jobs.length, err: String(e) });
        for (const j of jobs) j.reject(e);
        return;
      }
      this.nextSeq = batch.nextSeq;
      this.deps.onCommitted?.(batch);
    }
    jobs.forEach((j, i) => j.resolve(outcomes[i]!));
  }

  /**
   * Runs every job on one batch. A job that throws (a bug: jobs check before
   * they change) may have left half its changes, so the group is decided
   * again without it.
   */
  private decide(jobs: Job[]): { batch: SellerBatch; outcomes: SellOutcome<unknown>[]; jobs: Job[] } {
    for (;;) {
      const batch = new SellerBatch(this.deps.state.state, this.deps.me, this.nextSeq, this.deps.clock());
      const outcomes: SellOutcome<unknown>[] = [];
      let thrower = -1;
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!;
        try {
          const o = job.run(batch);
          outcomes.push(o);
          if (o.ok && job.slot !== null) batch.responses.push(stored(job.slot, o.value, batch.now));
        } catch (e) {
          thrower = i;
          job.reject(e);
          break;
        }
      }
      if (thrower < 0) return { batch, outcomes, jobs };
      jobs = jobs.filter((_, i) => i !== thrower);
    }
  }

  /** Refuses new jobs; waits (bounded) for the group in flight. */
  async close(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error('hub is shutting down'));
  }
}

function stored(slot: ResponseSlot, value: unknown, at: number): StoredResponse {
  return { ...slot, body: JSON.stringify(value), at };
}

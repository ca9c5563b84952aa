import type { ReplicaId, StoreId } from '@scoville/crdt-inventory';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import type { CommitItem } from '../store/inventory-store.js';
import { AnswerKeysTaken, type StoredResponse } from '../store/selling-store.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import { SellerBatch } from './seller-batch.js';
import { sellFail, sellOk, type SellOutcome } from './sell-error.js';
import { slotOf } from './stored-answers.js';

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

/** A stored job's answer: the record under its key; `adopted` if another hub process stored it (a replay, to the caller). */
export type SellerAnswer = StoredResponse & { adopted?: true };

interface Job {
  run: (batch: SellerBatch) => SellOutcome<unknown>;
  /** Where a success is stored; the job then resolves to the stored record, not the run's value. */
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

interface Group {
  batch: SellerBatch;
  /** The jobs decided on `batch`, in order, and their outcomes. */
  jobs: Job[];
  outcomes: SellOutcome<unknown>[];
}

/**
 * This hub process as a selling replica: the only writer of its own CRDT
 * entries (holds of storefront carts, sales of stores without an agent,
 * rights handed to agents).
 *
 * Jobs are decided in order on a group (SellerBatch: scratch copies of the
 * counters) and a group is committed in ONE transaction through the shared
 * HubCommitter. One group commits at a time; while it does, the jobs that
 * arrive are decided as they come on the next group, which sees what the
 * committing one changed (a pipeline of two: deciding overlaps the commit,
 * and the next transaction starts the moment the previous one settles).
 * The next group is submitted only after the previous one COMMITTED, so
 * this replica's entries and event seqs never depend on a transaction that
 * may still fail; if it fails, the next group is thrown away and its jobs
 * decided again on the committed state. Every answer (201 hold, 200 commit,
 * a refusal, a rights grant) settles after its own group committed: a
 * refusal decided against an uncommitted group is never sent before that
 * group is durable.
 *
 * An idempotency key is one effect across hub processes: two processes that
 * both missed a key (the same request sent to each at once) both decide it,
 * but the second commit finds the key stored and fails whole
 * (AnswerKeysTaken); its job answers with the stored bytes, the other jobs
 * of its group are decided again (docs/decisions.md, decision 35).
 */
export class HubSeller {
  /** Jobs not yet decided (the next group is full, or a pump is scheduled). */
  private queue: Job[] = [];
  /** The group in the committer, if any. */
  private committing: Group | null = null;
  /** The group being decided (on top of `committing`), submitted when that one commits. */
  private open: Group | null = null;
  private scheduled = false;
  private nextSeq: number;
  private closed = false;

  constructor(private readonly deps: HubSellerDeps) {
    this.nextSeq = deps.firstSeq;
  }

  get replica(): ReplicaId {
    return this.deps.me;
  }

  /** Decides `run` in the next group; resolves after that group committed (or with its refusal, also after). */
  submit<T>(run: (batch: SellerBatch) => SellOutcome<T>): Promise<SellOutcome<T>> {
    return this.enqueue(run, null) as Promise<SellOutcome<T>>;
  }

  /**
   * Like `submit`, and a success is stored under `slot` in the group's
   * transaction: it resolves to that stored record (body = the success
   * serialised once, at = the group's time), the bytes every replay of the
   * key answers, so the caller sends and remembers them as they are. If
   * another hub process stored the key first, it resolves to THAT record
   * instead, marked `adopted` (this job's decision was rolled back), or to
   * 422 `idempotency_key_reused` if that record is of another request.
   */
  submitStored(run: (batch: SellerBatch) => SellOutcome<unknown>, slot: ResponseSlot): Promise<SellOutcome<SellerAnswer>> {
    return this.enqueue(run, slot) as Promise<SellOutcome<SellerAnswer>>;
  }

  private enqueue(run: (batch: SellerBatch) => SellOutcome<unknown>, slot: ResponseSlot | null): Promise<SellOutcome<unknown>> {
    if (this.closed) return Promise.reject(new Error('hub is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ run, slot, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Let the requests of this event-loop turn join the group.
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /** Decides queued jobs on the open group; submits it when no group is committing. */
  private pump(): void {
    for (;;) {
      if (this.queue.length > 0) {
        const room = MAX_JOBS_PER_GROUP - (this.open?.jobs.length ?? 0);
        if (room > 0) this.open = this.decide(this.open, this.queue.splice(0, room));
      }
      if (this.committing !== null || this.open === null) return;
      const group = this.open;
      this.open = null;
      if (group.batch.isEmpty()) {
        // Nothing to store (refusals, no-ops): decided on the committed state, answer now.
        group.jobs.forEach((j, i) => j.resolve(group.outcomes[i]!));
        continue;
      }
      this.committing = group;
      void this.commit(group);
    }
  }

  private async commit(group: Group): Promise<void> {
    const { batch } = group;
    const item: CommitItem = {
      delta: batch.delta,
      events: batch.events,
      from: { replica: this.deps.me, store: HUB_SCOPE, at: batch.now },
      records: batch.records(),
    };
    try {
      await this.deps.committer.submit(item);
    } catch (e) {
      // Nothing of the group was stored: its seqs are free again, and the
      // group decided on top of it is decided again on the committed state.
      this.committing = null;
      const again = e instanceof AnswerKeysTaken ? this.adoptTaken(group, e) : this.failGroup(group, e);
      if (this.open !== null) {
        again.push(...this.open.jobs);
        this.open = null;
      }
      this.queue.unshift(...again);
      if (this.closed) for (const j of this.queue.splice(0)) j.reject(new Error('hub is shutting down'));
      else this.pump();
      return;
    }
    this.nextSeq = batch.nextSeq;
    this.committing = null;
    this.open?.batch.beforeCommitted();
    this.deps.onCommitted?.(batch);
    // Start the next transaction first, then answer this group.
    this.pump();
    group.jobs.forEach((j, i) => j.resolve(group.outcomes[i]!));
  }

  private failGroup(group: Group, e: unknown): Job[] {
    this.deps.log.error('selling group failed to commit', { jobs: group.jobs.length, err: String(e) });
    for (const j of group.jobs) j.reject(e);
    return [];
  }

  /**
   * Another hub process committed first under some of the group's keys (the
   * same request sent to both at once): those jobs answer with what is
   * stored under their key (their own decision was rolled back with the
   * group, so the request has that one effect); the others are decided
   * again. Returns the jobs to decide again, in order.
   */
  private adoptTaken(group: Group, e: AnswerKeysTaken): Job[] {
    const taken = new Map(e.stored.map((r) => [slotOf(r.scope, r.key), r]));
    this.deps.log.info('idempotency keys answered by another hub process first: adopting their answers', { keys: taken.size, jobs: group.jobs.length });
    const again: Job[] = [];
    for (const j of group.jobs) {
      const row = j.slot === null ? undefined : taken.get(slotOf(j.slot.scope, j.slot.key));
      if (row === undefined) again.push(j);
      else j.resolve(adopted(j.slot!, row));
    }
    return again;
  }

  /**
   * Runs `jobs` in order on `group` (a new one if null). A job that throws
   * (a bug: jobs check before they change) may have left half its changes,
   * so the group is decided again from its start without it.
   */
  private decide(group: Group | null, jobs: Job[]): Group {
    let g = group ?? this.newGroup();
    let todo = jobs;
    for (;;) {
      let thrower = -1;
      for (let i = 0; i < todo.length; i++) {
        const job = todo[i]!;
        try {
          const o = job.run(g.batch);
          if (o.ok && job.slot !== null) {
            const r = stored(job.slot, o.value, g.batch.now);
            g.batch.responses.push(r);
            g.outcomes.push(sellOk(r));
          } else g.outcomes.push(o);
          g.jobs.push(job);
        } catch (e) {
          thrower = i;
          job.reject(e);
          break;
        }
      }
      if (thrower < 0) return g;
      todo = [...g.jobs, ...todo.slice(thrower + 1)];
      g = this.newGroup();
    }
  }

  private newGroup(): Group {
    const before = this.committing?.batch ?? null;
    const batch = new SellerBatch(this.deps.state.state, this.deps.me, before?.nextSeq ?? this.nextSeq, this.deps.clock(), before);
    return { batch, jobs: [], outcomes: [] };
  }

  /** Refuses new jobs; waits (bounded) for the groups in flight. */
  async close(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.committing !== null || this.open !== null || this.queue.length > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.closed = true;
    const left = [...(this.open?.jobs ?? []), ...this.queue.splice(0)];
    this.open = null;
    for (const j of left) j.reject(new Error('hub is shutting down'));
  }
}

/** A job's answer when its key was taken: the stored answer, or 422 if it was stored for another request. */
function adopted(slot: ResponseSlot, row: StoredResponse): SellOutcome<SellerAnswer> {
  if (row.requestHash !== slot.requestHash) {
    return sellFail('idempotency_key_reused', `idempotency key ${slot.key} was already used for a different request`, 422);
  }
  return sellOk({ ...row, adopted: true });
}

function stored(slot: ResponseSlot, value: unknown, at: number): StoredResponse {
  return { ...slot, body: JSON.stringify(value), at };
}

import { hash } from 'node:crypto';
import { stableJson } from '@scoville/protocol';
import type { AgentStore } from '../store/agent-store.js';
import type { AgentInventory, Committed, Outcome, WriteContext } from './agent-inventory.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';

/** What the caller gets back: an HTTP-shaped answer, durable when it arrives. */
export interface Answer {
  status: number;
  /**
   * The body, serialised (JSON text). A success is these bytes both as
   * stored under its key and as sent, so a replay is byte-identical by
   * construction and the answer is serialised once, not twice.
   */
  json: string;
  /** True when this is the stored first answer to a retried idempotency key. */
  replayed: boolean;
}

export interface WriteRequest<T> {
  route: string;
  idempotencyKey: string;
  /** The validated request body; its hash tells a retry from a key reused for something else. */
  request: unknown;
  terminal?: string | null;
  successStatus?: number;
  run: (ctx: WriteContext) => Outcome<T>;
}

/**
 * Every write goes through here: idempotency check, the inventory change and
 * the stored answer share one group-committed transaction. Refusals are not
 * stored: they changed nothing, so a retry is judged afresh.
 */
export class WriteService {
  readonly commits: GroupCommit<Committed>;

  constructor(
    private readonly store: AgentStore,
    private readonly inventory: AgentInventory,
    private readonly clock: () => number = Date.now,
    opts: GroupCommitOptions & { onSyncFailure?: (error: unknown) => void } = {},
  ) {
    this.commits = new GroupCommit<Committed>(
      store,
      {
        onCommit: () => inventory.takeCommitted(),
        onDurable: (c) => inventory.markDurable(c!),
        onFailure: () => {
          inventory.discardPending();
          inventory.reload();
        },
        onSyncFailure: opts.onSyncFailure,
      },
      opts,
    );
  }

  write<T>(req: WriteRequest<T>): Promise<Answer> {
    // The digest of @scoville/protocol's requestHash (answers stored before stay comparable), one-shot: half the cost.
    const requestHash = hash('sha256', `${req.route}\0${stableJson(req.request)}`);
    return this.commits.submit((): Answer => {
      const previous = this.store.findAnswer(req.idempotencyKey);
      if (previous) {
        if (previous.requestHash !== requestHash) {
          const error = {
            code: 'idempotency_key_reused',
            message: `idempotency key ${req.idempotencyKey} was already used for a different request (${previous.route})`,
          };
          return { status: 422, json: JSON.stringify({ error }), replayed: false };
        }
        return { status: previous.status, json: previous.json, replayed: true };
      }
      const now = this.clock();
      const outcome = req.run({ now, terminal: req.terminal ?? null, idempotencyKey: req.idempotencyKey });
      if (!outcome.ok) {
        const e = outcome.error;
        return { status: e.status, json: JSON.stringify({ error: { code: e.code, message: e.message, ...e.details } }), replayed: false };
      }
      const status = req.successStatus ?? 201;
      const json = JSON.stringify(outcome.value);
      this.store.saveAnswer(req.idempotencyKey, { route: req.route, requestHash, status, json, at: now });
      return { status, json, replayed: false };
    });
  }

  /** A write with no idempotency key (internal: hold expiry). */
  internal<T>(run: () => T): Promise<T> {
    return this.commits.submit(run);
  }

  close(): void {
    this.commits.close();
  }
}

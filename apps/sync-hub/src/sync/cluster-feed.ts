import type { HubState } from '../state/hub-state.js';
import type { InventoryStore } from '../store/inventory-store.js';
import type { HubCommitter } from './hub-committer.js';
import type { Logger } from '../log.js';

/**
 * Keeps this hub process's memory in step with commits made by other hub
 * processes on the same database. Change ids are assigned under an advisory
 * lock, so they commit in order: once id N is visible, every id below it is.
 *
 * NOTIFY wakes us within milliseconds; a slow poll covers a lost
 * notification (e.g. while the listening connection was being re-made).
 */
export class ClusterFeed {
  private lastSeen: number;
  private running: Promise<void> | null = null;
  private again = false;
  private unsubscribe: (() => Promise<void>) | null = null;
  private poll: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: InventoryStore,
    private readonly state: HubState,
    private readonly committer: HubCommitter,
    private readonly log: Logger,
    startAt: number,
  ) {
    this.lastSeen = startAt;
  }

  async start(pollMs = 2_000): Promise<void> {
    this.unsubscribe = await this.store.subscribe((id) => this.notified(id));
    this.poll = setInterval(() => void this.catchUp(), pollMs);
    this.poll.unref();
  }

  get position(): number {
    return this.lastSeen;
  }

  private notified(id: number): void {
    if (id <= this.lastSeen) return;
    // Our own commits are already in memory: skip re-reading them.
    let next = this.lastSeen;
    while (next < id && this.committer.ownChangeIds.has(next + 1)) next++;
    if (next === id) {
      this.advance(id);
      return;
    }
    void this.catchUp(id);
  }

  private advance(to: number): void {
    if (to <= this.lastSeen) return;
    for (const own of this.committer.ownChangeIds) if (own <= to) this.committer.ownChangeIds.delete(own);
    this.lastSeen = to;
  }

  /** Reads and applies everything committed after lastSeen; serialised. */
  catchUp(knownCommitted = 0): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          const r = await this.store.changesSince(this.lastSeen);
          this.state.apply(r.delta);
          this.advance(Math.max(r.changeId, knownCommitted));
        } catch (e) {
          this.log.warn('cluster catch-up failed; will retry', { err: String(e) });
          break;
        }
      } while (this.again);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.unsubscribe?.();
    await this.running;
  }
}

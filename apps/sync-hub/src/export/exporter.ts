import type { InventoryStore } from '../store/inventory-store.js';
import type { CommittedEvents, ExportCursor, ExportLease, ExportStore } from '../store/export-store.js';
import type { Logger } from '../log.js';
import { toSinkMessage, type EventSink, type SinkMessage } from './event-sink.js';

/**
 * Publishes the hub's committed event log to a sink (docs/events.md).
 *
 * - Order: the log order of ExportStore (change id, then store, replica,
 *   seq), so per store events go out in the order the hub committed them.
 * - At least once: a batch is published, the sink confirms it, then the
 *   cursor is stored; a crash or a broker failure in between resends that
 *   batch (the unconfirmed tail) and nothing before it.
 * - One publisher: the process holding the sink's lease publishes; the
 *   others stand by and take over when it lapses (the holder died). Every
 *   cursor write is fenced by the lease epoch, so a process that lost the
 *   lease while paused writes nothing and stops.
 * - Broker down: publishing fails and is retried with backoff (200 ms → 5 s);
 *   the hub is not affected; the backlog goes out when the broker returns.
 *
 * Woken by commit notifications, with a slow poll as a fallback.
 */

export interface ExporterOptions {
  store: ExportStore;
  /** Commit notifications (wake-ups). */
  changes: Pick<InventoryStore, 'subscribe'>;
  sink: EventSink;
  /** Lease holder name: this hub process's replica id. */
  holder: string;
  log: Logger;
  clock?: () => number;
  /** Lease time-to-live (default 10 s): a dead publisher is replaced after at most this. */
  leaseMs?: number;
  /** Messages per confirmed batch (default 1,000). */
  batch?: number;
  /** Idle poll (default 1 s). */
  pollMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often the lag in `status()` is refreshed from the database (default 1 s). */
  statusEveryMs?: number;
}

export interface ExportStatus {
  sink: string;
  /** `publisher`: this process publishes; `standby`: another one holds the lease. */
  role: 'publisher' | 'standby' | 'stopped';
  connected: boolean;
  holder: string | null;
  cursor: ExportCursor | null;
  /** Highest change id with events. */
  head: number;
  /** Committed events not yet confirmed by the broker. */
  eventsBehind: number;
  /** Age of the oldest of them (0 when none). */
  secondsBehind: number;
  /** Events this process published (confirmed). */
  published: number;
  lastError: string | null;
}

/** One confirmed batch: how far it reached. */
export interface Confirmed {
  cursor: ExportCursor;
  count: number;
}

/**
 * Publishes `commits` (log order) through `sink` in batches of `batch`,
 * calling `confirmed` after each batch the sink confirmed. Stops (returns
 * false) when `confirmed` returns false.
 */
export async function publishCommits(
  commits: readonly CommittedEvents[],
  sink: EventSink,
  batch: number,
  confirmed: (c: Confirmed) => Promise<boolean>,
): Promise<boolean> {
  // Each message with the cursor that is reached once it is confirmed; a
  // commit with nothing left to send still moves the cursor past it.
  const items: { msg: SinkMessage | null; cursor: ExportCursor }[] = [];
  for (const c of commits) {
    if (c.events.length === 0) items.push({ msg: null, cursor: { changeId: c.changeId, after: null } });
    c.events.forEach((e, i) =>
      items.push({
        msg: toSinkMessage(e, c.changeId, c.at),
        cursor: { changeId: c.changeId, after: i === c.events.length - 1 ? null : { store: e.store, replica: e.replica, seq: e.seq } },
      }),
    );
  }
  for (let i = 0; i < items.length; i += batch) {
    const part = items.slice(i, i + batch);
    const msgs = part.flatMap((p) => (p.msg ? [p.msg] : []));
    if (msgs.length > 0) await sink.publish(msgs);
    if (!(await confirmed({ cursor: part[part.length - 1]!.cursor, count: msgs.length }))) return false;
  }
  return true;
}

export class EventExporter {
  private readonly clock: () => number;
  private readonly leaseMs: number;
  private readonly batch: number;
  private readonly pollMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private lease: ExportLease | null = null;
  private renewedAt = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private woken = false;
  private wakeOnCommit = false;
  private unsubscribe: (() => Promise<void>) | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private published = 0;
  private lastError: string | null = null;
  private lag = { holder: null as string | null, cursor: null as ExportCursor | null, head: 0, eventsBehind: 0, oldestBehindAt: null as number | null };

  constructor(private readonly opts: ExporterOptions) {
    this.clock = opts.clock ?? Date.now;
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.batch = Math.max(1, opts.batch ?? 1_000);
    this.pollMs = opts.pollMs ?? 1_000;
    this.minBackoffMs = opts.minBackoffMs ?? 200;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5_000;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.opts.changes.subscribe(() => this.poke());
    await this.refreshStatus();
    this.statusTimer = setInterval(() => void this.refreshStatus(), this.opts.statusEveryMs ?? 1_000);
    this.statusTimer.unref();
    this.loop = this.run();
  }

  status(): ExportStatus {
    const oldest = this.lag.oldestBehindAt;
    return {
      sink: this.opts.sink.name,
      role: this.stopped ? 'stopped' : this.lease ? 'publisher' : 'standby',
      connected: this.opts.sink.connected,
      holder: this.lag.holder,
      cursor: this.lag.cursor,
      head: this.lag.head,
      eventsBehind: this.lag.eventsBehind,
      secondsBehind: oldest === null ? 0 : Math.max(0, (this.clock() - oldest) / 1000),
      published: this.published,
      lastError: this.lastError,
    };
  }

  private async refreshStatus(): Promise<void> {
    try {
      const s = await this.opts.store.state(this.opts.sink.name);
      this.lag = { holder: s.holder, cursor: s.cursor, head: s.head, eventsBehind: s.eventsBehind, oldestBehindAt: s.oldestBehindAt };
    } catch {
      // the database is down: keep the last figures
    }
  }

  private poke(): void {
    this.woken = true;
    if (this.wakeOnCommit) this.wake?.();
  }

  /** Waits `ms`; `stop()` always ends the wait, a commit only when `wakeOnCommit` (not while backing off). */
  private sleep(ms: number, wakeOnCommit: boolean): Promise<void> {
    this.wakeOnCommit = wakeOnCommit;
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    let backoff = this.minBackoffMs;
    while (!this.stopped) {
      try {
        if (!(await this.holdLease())) {
          await this.sleep(this.leaseMs / 3, false);
          continue;
        }
        this.woken = false;
        const progressed = await this.round();
        backoff = this.minBackoffMs;
        this.lastError = null;
        if (!progressed && !this.woken) await this.sleep(this.pollMs, true);
      } catch (e) {
        const msg = String((e as Error)?.message ?? e);
        if (msg !== this.lastError) this.opts.log.warn('event export failed; retrying', { sink: this.opts.sink.name, err: msg, retryInMs: backoff });
        this.lastError = msg;
        if (this.stopped) break;
        await this.sleep(backoff, false);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
  }

  /** Takes the lease, or renews it when a third of it has passed; false when another process holds it. */
  private async holdLease(): Promise<boolean> {
    const now = this.clock();
    if (this.lease === null) {
      this.lease = await this.opts.store.acquire(this.opts.sink.name, this.opts.holder, now, this.leaseMs);
      if (this.lease === null) return false;
      this.renewedAt = now;
      this.opts.log.info('event export: publishing', { sink: this.opts.sink.name, from: this.lease.cursor });
      return true;
    }
    if (now - this.renewedAt >= this.leaseMs / 3) {
      if (!(await this.opts.store.renew(this.lease, now, this.leaseMs))) return this.lost();
      this.renewedAt = now;
    }
    return true;
  }

  private lost(): false {
    this.opts.log.warn('event export: lease taken over by another process; standing by', { sink: this.opts.sink.name });
    this.lease = null;
    return false;
  }

  /** Publishes what follows the cursor; false when there was nothing. */
  private async round(): Promise<boolean> {
    const lease = this.lease!;
    const commits = await this.opts.store.read(lease.cursor, this.batch * 4);
    if (commits.length === 0) return false;
    await publishCommits(commits, this.opts.sink, this.batch, async ({ cursor, count }) => {
      const now = this.clock();
      if (!(await this.opts.store.advance(lease, cursor, now, this.leaseMs))) return this.lost();
      this.renewedAt = now;
      lease.cursor = cursor;
      this.published += count;
      return true;
    });
    return true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.unsubscribe?.().catch(() => undefined);
    await this.loop;
    if (this.lease) await this.opts.store.release(this.lease).catch(() => undefined);
    this.lease = null;
    await this.opts.sink.close();
  }
}

/**
 * Republishes the log from `from` through change `to` (inclusive), without
 * touching any cursor or lease (`sync-hub export replay`). Returns the count.
 */
export async function replay(store: ExportStore, sink: EventSink, from: ExportCursor, to: number, batch = 1_000): Promise<number> {
  let cursor = from;
  let sent = 0;
  for (;;) {
    const commits = await store.read(cursor, batch * 4, to);
    if (commits.length === 0) return sent;
    await publishCommits(commits, sink, batch, async (c) => {
      cursor = c.cursor;
      sent += c.count;
      return true;
    });
  }
}

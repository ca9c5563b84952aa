import type { Delta, ReplicaId, ReservationRecord } from '@scoville/crdt-inventory';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import { expireHolds } from './carts.js';
import type { HubSeller } from './hub-seller.js';

/**
 * Records the expiry of this replica's lapsed holds, so their units go back
 * to its rights (an unrecorded lapse never frees rights; see the CRDT's
 * reservations). Keeps an index of this replica's active holds, fed by
 * every committed delta, so a sweep never scans the whole state.
 */
export class ExpirySweeper {
  private readonly active = new Map<string, ReservationRecord>();
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private readonly off: () => void;

  constructor(
    private readonly state: HubState,
    private readonly seller: HubSeller,
    private readonly me: ReplicaId,
    private readonly clock: () => number,
    private readonly log: Logger,
  ) {
    for (const r of state.state.reservations()) this.note(r);
    this.off = state.onChange((changes) => {
      for (const ch of changes) this.noteDelta(ch.delta);
    });
  }

  private noteDelta(d: Delta): void {
    for (const r of d.reservations) this.note(r);
  }

  private note(r: ReservationRecord): void {
    if (r.owner !== this.me) return;
    const key = `${r.store} ${r.id}`;
    if (r.status === 'active') this.active.set(key, r);
    else this.active.delete(key);
  }

  /** Active holds of this replica (for status and tests). */
  get activeCount(): number {
    return this.active.size;
  }

  start(everyMs = 1_000): void {
    this.timer = setInterval(() => void this.sweep(), everyMs);
    this.timer.unref();
  }

  /** Records every lapse due by now; resolves after the commit. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    const now = this.clock();
    const due = [...this.active.values()].filter((r) => r.expiresAt <= now);
    if (due.length === 0) return 0;
    this.sweeping = true;
    try {
      const o = await this.seller.submit((b) => expireHolds(b, due));
      return o.ok ? o.value : 0;
    } catch (e) {
      this.log.warn('expiry sweep failed; will retry', { err: String(e) });
      return 0;
    } finally {
      this.sweeping = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.off();
  }
}

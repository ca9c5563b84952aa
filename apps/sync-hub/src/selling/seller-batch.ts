import {
  emptyDelta,
  eventIdFor,
  isEmptyDelta,
  spendableRights,
  type Delta,
  type EventType,
  type InventoryEvent,
  type InventoryState,
  type ReplicaId,
  type Sku,
  type StoreId,
} from '@scoville/crdt-inventory';
import type { CartRow, CommitRecords, StoredResponse } from '../store/selling-store.js';
import { counterSlice, scratchCounter } from './counter-slice.js';

/**
 * The decisions of one group commit of this hub replica. Jobs run one after
 * the other against scratch copies of the counters they touch, so each sees
 * what the jobs before it in the group promised; the committed state stays
 * untouched until the group's single transaction commits (then the
 * committer applies the group's delta to memory).
 *
 * A group may be decided while the one before it (`before`) is still
 * committing: its scratch copies are then the committed counters joined
 * with what `before` changed, so it decides as if `before` had committed
 * (HubSeller submits it only once `before` has, and decides it again if
 * `before` fails). A scratch copy also joins the committed counter again
 * whenever that changed since (another replica's entries, rights lent by
 * another hub process): such joins only ever add to this replica's rights,
 * so nothing decided earlier in the group becomes wrong.
 *
 * Like the agent's AgentInventory, a job checks everything before it changes
 * anything, so a refusal leaves the batch as it was.
 */
export class SellerBatch {
  /** Scratch copies by `${store} ${sku}`, with the committed counter's seq they include. */
  private readonly scratches = new Map<string, { state: InventoryState; seq: number }>();
  /** `delta` by counter, built on first use by the group after this one. */
  private byCounter: Map<string, Delta> | null = null;
  readonly delta: Delta = emptyDelta();
  readonly events: InventoryEvent[] = [];
  readonly responses: StoredResponse[] = [];
  readonly carts: CartRow[] = [];

  constructor(
    /** The committed state (read-only here). */
    readonly committed: InventoryState,
    /** This hub process's replica id: the only entries this batch writes. */
    readonly me: ReplicaId,
    /** Seq of this replica's next event. */
    public nextSeq: number,
    readonly now: number,
    /** The group decided before this one, not committed yet (null: every earlier group has committed). */
    private before: SellerBatch | null = null,
  ) {}

  /** The group before this one committed (its changes are in the committed state now). */
  beforeCommitted(): void {
    this.before = null;
  }

  /** The scratch copy of one counter, created from the committed state (and `before`) on first use. */
  counter(store: StoreId, sku: Sku): InventoryState {
    const key = `${store} ${sku}`;
    const seq = this.committed.counter(store, sku)?.seq ?? -1;
    let s = this.scratches.get(key);
    if (s === undefined) {
      const state = scratchCounter(this.committed, store, sku);
      const earlier = this.before?.deltaOf(key);
      if (earlier !== undefined) state.applyDelta(earlier);
      s = { state, seq };
      this.scratches.set(key, s);
    } else if (s.seq !== seq) {
      s.state.applyDelta(counterSlice(this.committed, store, sku));
      s.seq = seq;
    }
    return s.state;
  }

  /** What this group changed on one counter (`${store} ${sku}`). */
  private deltaOf(key: string): Delta | undefined {
    if (this.byCounter === null) {
      const m = new Map<string, Delta>();
      const of = (store: StoreId, sku: Sku): Delta => {
        const k = `${store} ${sku}`;
        let d = m.get(k);
        if (d === undefined) m.set(k, (d = emptyDelta()));
        return d;
      };
      for (const e of this.delta.entries) of(e.store, e.sku).entries.push(e);
      for (const t of this.delta.transfers) of(t.store, t.sku).transfers.push(t);
      for (const r of this.delta.reservations) of(r.store, r.sku).reservations.push(r);
      this.byCounter = m;
    }
    return this.byCounter.get(key);
  }

  /**
   * What this replica may still promise of (store, sku) at this group's
   * time, the group's earlier decisions included: its rights plus its own
   * lapsed holds, whose expiry the CRDT operation records before it spends them.
   */
  rights(store: StoreId, sku: Sku): number {
    return spendableRights(this.counter(store, sku), store, sku, this.me, this.now);
  }

  /** On hand of (store, sku), the group's earlier decisions included. */
  onHand(store: StoreId, sku: Sku): number {
    return this.counter(store, sku).counter(store, sku)?.onHand() ?? 0;
  }

  /**
   * Appends an event of this replica and the delta it produced. An
   * operation that consumes rights first records the lapse of this
   * replica's expired holds on the counter (in the same delta): each such
   * expiry gets its own `hold_expire` event before the operation's, so the
   * event log still folds to the entries.
   */
  record(type: EventType, store: StoreId, sku: Sku, qty: number, delta: Delta, extra: Partial<InventoryEvent> = {}): InventoryEvent {
    this.expiryEvents(delta, extra.reservationId ?? null);
    const event = this.event(type, store, sku, qty, extra);
    this.join(delta);
    return event;
  }

  /** Records a delta that only expires holds (the sweep); returns how many. */
  recordExpiries(delta: Delta): number {
    const n = this.expiryEvents(delta, null);
    this.join(delta);
    return n;
  }

  private expiryEvents(delta: Delta, except: string | null): number {
    let n = 0;
    for (const r of delta.reservations) {
      if (r.status !== 'expired' || r.owner !== this.me || r.id === except) continue;
      this.event('hold_expire', r.store, r.sku, r.qty, { reservationId: r.id, expiresAt: r.expiresAt });
      n++;
    }
    return n;
  }

  private event(type: EventType, store: StoreId, sku: Sku, qty: number, extra: Partial<InventoryEvent>): InventoryEvent {
    const seq = this.nextSeq++;
    const event: InventoryEvent = { id: eventIdFor(this.me, seq), store, replica: this.me, seq, type, sku, qty, at: this.now, ...extra };
    this.events.push(event);
    return event;
  }

  /** Adds entries to the group's delta (absolute values: the store max-merges them). */
  join(delta: Delta): void {
    this.delta.entries.push(...delta.entries);
    this.delta.transfers.push(...delta.transfers);
    this.delta.reservations.push(...delta.reservations);
  }

  isEmpty(): boolean {
    return this.events.length === 0 && isEmptyDelta(this.delta) && this.responses.length === 0 && this.carts.length === 0;
  }

  records(): CommitRecords {
    return { responses: this.responses, carts: this.carts };
  }
}

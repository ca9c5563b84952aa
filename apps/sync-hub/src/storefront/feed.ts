import { randomBytes } from 'node:crypto';
import type { ReservationRecord, Sku, StoreId } from '@scoville/crdt-inventory';
import type { HubState, StateChange } from '../state/hub-state.js';
import { storeStockOf, touchedSkus, type StockViews, type StoreStock } from './views.js';

export const FEED_TYPES = ['availability', 'store', 'reservation', 'alert'] as const;
export type FeedType = (typeof FEED_TYPES)[number];

/**
 * One event of the storefront feed (SSE `id`/`event`/`data`, or a WebSocket
 * message). Read its fields by name: an availability event builds `id` and
 * `data` when first read (getters; `toJSON` gives the plain object).
 */
export interface FeedEvent {
  /** `<epoch>.<n>`: ordered within one hub process's life; resume with it. */
  id: string;
  type: FeedType;
  storeId: StoreId | null;
  sku: Sku | null;
  data: unknown;
}

export interface FeedFilter {
  skus: ReadonlySet<string> | null;
  storeId: string | null;
  types: ReadonlySet<FeedType> | null;
}

export function matches(f: FeedFilter, e: { type: FeedType; storeId: string | null; sku: string | null }): boolean {
  if (f.types !== null && !f.types.has(e.type)) return false;
  if (f.storeId !== null && e.storeId !== null && e.storeId !== f.storeId) return false;
  if (f.skus !== null && e.sku !== null && !f.skus.has(e.sku)) return false;
  return true;
}

export interface Subscriber {
  filter: FeedFilter;
  /** Delivers one event; returns false when the client's buffer is full (it is then dropped). */
  deliver(e: FeedEvent): boolean;
  /** Called once when the feed drops the subscriber (slow, or the hub stops). */
  drop(reason: string): void;
}

export interface FeedStats {
  subscribers: number;
  published: number;
  dropped: number;
}

/**
 * The storefront's live feed: availability per (store, SKU) after every
 * committed change, stores going online/offline, reservation status
 * changes and alerts. A bounded ring of recent events serves resumption
 * (`Last-Event-ID`); older than the ring, the client gets a fresh snapshot.
 * Subscribers that cannot keep up are dropped, never buffered without bound.
 */
export class StorefrontFeed {
  private readonly epoch = randomBytes(4).toString('hex');
  private readonly ring: (FeedEvent | undefined)[];
  private next = 1;
  private readonly subscribers = new Set<Subscriber>();
  /**
   * Index of the first event anyone may still ask for: until an id of this
   * feed leaves the process (a subscription, `lastId`), no one can resume,
   * so an availability event is only counted, not built (the hub without
   * storefront clients: ingest at full rate). Infinity until then.
   */
  private kept = Infinity;
  /** Fan-out index: an event of one SKU reaches the subscribers of every SKU and those watching it, not all. */
  private readonly anySku = new Set<Subscriber>();
  private readonly bySku = new Map<string, Set<Subscriber>>();
  readonly stats: FeedStats = { subscribers: 0, published: 0, dropped: 0 };
  private readonly off: () => void;

  constructor(
    state: HubState,
    private readonly views: StockViews,
    ringSize = 10_000,
  ) {
    this.ring = new Array(ringSize);
    this.off = state.onChange((changes) => {
      for (const ch of changes) this.changed(ch);
    });
  }

  /** One availability event per SKU the change touched, then its reservations' events. */
  private changed(ch: StateChange): void {
    const store = ch.store;
    for (const sku of touchedSkus(ch.delta)) {
      if (this.kept === Infinity) {
        // No one can ever read it: only its number is taken.
        this.next++;
        this.stats.published++;
        continue;
      }
      // The figures as of now; the view itself is built when someone reads it.
      const c = this.views.counter(store, sku);
      const e = new StockEvent(this.epoch, this.next, store, sku, c?.onHand() ?? 0, this.views.heldOf(c), this.views.safetyStock(store, sku), this.views.isOnline(store), this.views.changedAtOf(store, sku));
      this.add(e);
    }
    for (const r of ch.delta.reservations) this.publish('reservation', r.store, r.sku, reservationData(r));
  }

  /** Adds an event (and hands it to every matching subscriber). */
  publish(type: FeedType, storeId: StoreId | null, sku: Sku | null, data: unknown): FeedEvent {
    const e: FeedEvent = { id: `${this.epoch}.${this.next}`, type, storeId, sku, data };
    this.add(e);
    return e;
  }

  private add(e: FeedEvent): void {
    const n = this.next++;
    this.ring[n % this.ring.length] = e;
    this.stats.published++;
    if (e.sku === null) {
      for (const s of this.subscribers) this.reach(s, e);
      return;
    }
    for (const s of this.anySku) this.reach(s, e);
    const watching = this.bySku.get(e.sku);
    if (watching !== undefined) for (const s of watching) this.reach(s, e);
  }

  private reach(s: Subscriber, e: FeedEvent): void {
    if (matches(s.filter, e) && !s.deliver(e)) this.dropSlow(s);
  }

  /** From now on every event is kept for resumption (an id of this feed is out). */
  private observed(): void {
    if (this.kept === Infinity) this.kept = this.next;
  }

  storeOnline(store: StoreId, online: boolean): void {
    this.views.presenceChanged();
    this.publish('store', store, null, { storeId: store, online });
  }

  subscribe(s: Subscriber): () => void {
    this.observed();
    this.subscribers.add(s);
    if (s.filter.skus === null) this.anySku.add(s);
    else
      for (const sku of s.filter.skus) {
        let set = this.bySku.get(sku);
        if (set === undefined) this.bySku.set(sku, (set = new Set()));
        set.add(s);
      }
    this.stats.subscribers = this.subscribers.size;
    return () => this.remove(s);
  }

  private remove(s: Subscriber): boolean {
    if (!this.subscribers.delete(s)) return false;
    if (s.filter.skus === null) this.anySku.delete(s);
    else
      for (const sku of s.filter.skus) {
        const set = this.bySku.get(sku);
        set?.delete(s);
        if (set?.size === 0) this.bySku.delete(sku);
      }
    this.stats.subscribers = this.subscribers.size;
    return true;
  }

  private dropSlow(s: Subscriber): void {
    if (!this.remove(s)) return;
    this.stats.dropped++;
    s.drop('slow_consumer');
  }

  /**
   * The events after `lastId` that match, or null when they are no longer
   * all in the ring (another process's id, a restart, or too old).
   */
  since(lastId: string, filter: FeedFilter): FeedEvent[] | null {
    const dot = lastId.lastIndexOf('.');
    if (dot < 0 || lastId.slice(0, dot) !== this.epoch) return null;
    const n = Number(lastId.slice(dot + 1));
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.next) return null;
    // Events before `kept` were never kept; no id this feed handed out precedes them.
    const oldest = Math.max(1, this.next - this.ring.length, Math.min(this.kept, this.next));
    if (n + 1 < oldest) return null;
    const out: FeedEvent[] = [];
    for (let i = n + 1; i < this.next; i++) {
      const e = this.ring[i % this.ring.length]!;
      if (matches(filter, e)) out.push(e);
    }
    return out;
  }

  /** The id a snapshot taken now is current as of. */
  get lastId(): string {
    this.observed();
    return `${this.epoch}.${this.next - 1}`;
  }

  /** Current availability of every (store, SKU) the filter covers. */
  snapshot(filter: FeedFilter): StoreStock[] {
    if (filter.types !== null && !filter.types.has('availability')) return [];
    const skus = filter.skus !== null ? [...filter.skus].sort() : this.views.allSkus();
    const out: StoreStock[] = [];
    for (const sku of skus) {
      for (const store of this.views.storesOf(sku as Sku, (filter.storeId ?? undefined) as StoreId | undefined)) out.push(this.views.storeStock(store, sku as Sku));
    }
    return out;
  }

  close(): void {
    this.off();
    for (const s of [...this.subscribers]) {
      this.remove(s);
      s.drop('going_away');
    }
  }
}

/**
 * An availability event: the figures as of publishing, the StoreStock (and
 * the id) built on first read, once. Most are never read (no subscriber
 * watches the SKU, no client resumes over it): the ring keeps a few numbers
 * instead of a view with an ISO date each.
 */
class StockEvent implements FeedEvent {
  readonly type = 'availability' as const;
  private idText: string | undefined = undefined;
  private view: StoreStock | undefined = undefined;

  constructor(
    private readonly epoch: string,
    private readonly n: number,
    readonly storeId: StoreId,
    readonly sku: Sku,
    private readonly onHand: number,
    private readonly held: number,
    private readonly safetyStock: number,
    private readonly online: boolean,
    private readonly changedAt: number | undefined,
  ) {}

  get id(): string {
    return (this.idText ??= `${this.epoch}.${this.n}`);
  }

  get data(): StoreStock {
    return (this.view ??= storeStockOf(this.storeId, this.sku, this.onHand, this.held, this.safetyStock, this.online, this.changedAt));
  }

  toJSON(): { id: string; type: FeedType; storeId: StoreId; sku: Sku; data: StoreStock } {
    return { id: this.id, type: this.type, storeId: this.storeId, sku: this.sku, data: this.data };
  }
}

function reservationData(r: ReservationRecord) {
  const dot = r.id.lastIndexOf('.');
  return {
    hold: r.id,
    cartId: dot > 0 && r.id.startsWith('r_') ? r.id.slice(0, dot) : null,
    owner: r.owner,
    storeId: r.store,
    sku: r.sku,
    qty: r.qty,
    status: r.status,
    expiresAt: new Date(r.expiresAt).toISOString(),
  };
}

/** Parses `?sku=`(repeatable), `?storeId=`, `?types=a,b` into a filter; a string is an error message. */
export function parseFilter(skus: readonly string[], storeId: string | undefined, types: string | undefined): FeedFilter | string {
  let t: Set<FeedType> | null = null;
  if (types !== undefined && types !== '') {
    t = new Set();
    for (const x of types.split(',')) {
      if (!(FEED_TYPES as readonly string[]).includes(x)) return `unknown type ${JSON.stringify(x).slice(0, 40)}; types are ${FEED_TYPES.join(', ')}`;
      t.add(x as FeedType);
    }
  }
  return { skus: skus.length > 0 ? new Set(skus) : null, storeId: storeId ?? null, types: t };
}

/** Events queued for one (GraphQL) client before it counts as too slow and is dropped. */
export const MAX_CLIENT_BUFFER = 1_000;
export const HEARTBEAT_MS = 15_000;
/** Items per snapshot message. */
const SNAPSHOT_CHUNK = 1_000;

export interface Opening {
  /** Events to send first (a resume), or null: send a snapshot. */
  missed: FeedEvent[] | null;
  /** Why a snapshot is sent although the client asked to resume. */
  reset: string | null;
  snapshotId: string;
}

/**
 * Subscribes and decides, in one synchronous step, what the client gets
 * first: the events after its last id (nothing lost, nothing twice), or a
 * fresh snapshot as of `snapshotId`. Events published later go to `deliver`.
 */
export function open(feed: StorefrontFeed, filter: FeedFilter, lastId: string | null, deliver: (e: FeedEvent) => boolean, drop: (reason: string) => void) {
  const unsubscribe = feed.subscribe({ filter, deliver, drop });
  const missed = lastId !== null ? feed.since(lastId, filter) : null;
  const reset = lastId !== null && missed === null ? 'the last event id is older than this hub remembers (or from another hub process): this is a fresh snapshot' : null;
  return { unsubscribe, opening: { missed, reset, snapshotId: feed.lastId } satisfies Opening };
}

export function chunks<T>(items: readonly T[], size = SNAPSHOT_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out.length > 0 ? out : [[]];
}


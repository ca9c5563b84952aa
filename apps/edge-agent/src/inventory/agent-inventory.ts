import {
  DEFAULT_HOLD_TTL_MS,
  InventoryState,
  availability,
  commitReservation,
  createReservation,
  decrement,
  eventIdFor,
  expireReservations,
  increment,
  isEmptyDelta,
  MAX_TOTAL,
  releaseReservation,
  spendableRights,
  storeHandover,
  transferRights,
  ruleFor,
  type AdjustmentReason,
  type AllocationPolicy,
  type ReplicaId,
  type Delta,
  type EventType,
  type InventoryEvent,
  type ReservationId,
  type ReservationRecord,
  type Sku,
} from '@scoville/crdt-inventory';
import type { AgentStore, CatalogItem, Identity } from '../store/agent-store.js';
import { DomainError } from './domain-error.js';

export interface Line {
  sku: Sku;
  qty: number;
}

export interface StockView {
  sku: Sku;
  name: string | null;
  onHand: number;
  held: number;
  safetyStock: number;
  available: number;
  availableRaw: number;
  rights: number;
  lowStock: boolean;
  lastChange: number | null;
}

export interface WriteContext {
  now: number;
  terminal?: string | null;
  idempotencyKey?: string | null;
}

export interface StockChange {
  /** The local event, or null for a change that arrived from another replica. */
  event: InventoryEvent | null;
  stock: StockView;
}

/** What one committed transaction changed, announced once it is durable. */
export interface Committed {
  changes: StockChange[];
  lastChange: number;
  lastEventSeq: number;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: DomainError };

const fail = <T>(error: DomainError): Outcome<T> => ({ ok: false, error });

/**
 * The store's inventory: the CRDT state in memory, made durable through the
 * AgentStore. Every method here runs synchronously inside one store
 * transaction (GroupCommit calls them); it checks everything before it
 * changes anything, so a refusal leaves memory and disk untouched.
 */
export class AgentInventory {
  state = new InventoryState();
  private nextSeq = 1;
  private nextChange = 1;
  private readonly lastChangeAt = new Map<Sku, number>();
  private catalogCache = new Map<Sku, CatalogItem>();
  private readonly listeners = new Set<(change: StockChange) => void>();
  /** Changes applied in the open transaction, announced after it commits. */
  private pendingChanges: StockChange[] = [];
  /** The online allocation policy last received from the hub (null: none yet). */
  policy: AllocationPolicy | null = null;
  /**
   * Highest change number and event seq known to be on disk. Memory runs
   * ahead of the disk while a batch is being fsynced: the sync client sends
   * only up to these, so the hub never holds what a power cut could undo.
   */
  durableChange = 0;
  durableEventSeq = 0;

  constructor(
    readonly store: AgentStore,
    readonly identity: Identity,
  ) {
    this.reload();
    // Whatever the store holds at start is on disk (SqliteAgentStore syncs the WAL when it opens).
    this.durableChange = this.lastChange;
    this.durableEventSeq = this.lastEventSeq;
  }

  /** Rebuilds memory from disk (at start, and after a failed transaction). */
  reload(): void {
    const loaded = this.store.load(this.identity.store);
    const fresh = new InventoryState();
    fresh.applyDelta(loaded.delta);
    this.state = fresh;
    this.nextSeq = loaded.lastEventSeq + 1;
    this.nextChange = loaded.lastChange + 1;
    this.catalogCache = new Map(this.store.catalog().map((c) => [c.sku, c]));
    this.pendingChanges = [];
    const policy = this.store.allocationPolicy();
    this.policy = policy === null ? null : (JSON.parse(policy) as AllocationPolicy);
    this.lastChangeAt.clear();
    // Each SKU's latest event, found by the database: reading the whole log here
    // took seconds per million events at every start (and after every failed transaction).
    for (const { sku, at } of this.store.lastEventAtBySku()) this.lastChangeAt.set(sku, at);
  }

  get lastEventSeq(): number {
    return this.nextSeq - 1;
  }

  get lastChange(): number {
    return this.nextChange - 1;
  }

  onChange(listener: (change: StockChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called right after a transaction committed: its changes, to announce once it is durable. */
  takeCommitted(): Committed {
    const changes = this.pendingChanges;
    this.pendingChanges = [];
    return { changes, lastChange: this.lastChange, lastEventSeq: this.lastEventSeq };
  }

  /** The transaction `c` is on disk: move the durable marks and tell the listeners. */
  markDurable(c: Committed): void {
    this.durableChange = Math.max(this.durableChange, c.lastChange);
    this.durableEventSeq = Math.max(this.durableEventSeq, c.lastEventSeq);
    for (const change of c.changes) for (const l of this.listeners) l(change);
  }

  /** Drops unannounced changes (their transaction rolled back). */
  discardPending(): void {
    this.pendingChanges = [];
  }

  isKnown(sku: Sku): boolean {
    return this.catalogCache.has(sku) || this.state.counter(this.identity.store, sku) !== undefined;
  }

  catalogItem(sku: Sku): CatalogItem | undefined {
    return this.catalogCache.get(sku);
  }

  /**
   * SKUs of a restock, count or adjustment the catalog does not know (a typo
   * would create a phantom product): none with `allowNew`, and none while the
   * store has no catalog at all (a new store, before its first sync).
   */
  private newSkus(skus: Iterable<Sku>, allowNew: boolean): Sku[] {
    if (allowNew || this.catalogCache.size === 0) return [];
    return [...new Set(skus)].filter((s) => !this.isKnown(s));
  }

  refreshCatalog(): void {
    this.catalogCache = new Map(this.store.catalog().map((c) => [c.sku, c]));
  }

  stock(sku: Sku, now: number): StockView {
    const item = this.catalogCache.get(sku);
    const safety = item?.safetyStock ?? 0;
    const a = availability(this.state, this.identity.store, sku, now, safety);
    const threshold = item?.lowStockThreshold ?? 0;
    return {
      sku,
      name: item?.name ?? null,
      onHand: a.onHand,
      held: a.held,
      safetyStock: safety,
      available: a.available,
      availableRaw: a.availableRaw,
      rights: this.rightsOf(sku, now),
      lowStock: threshold > 0 && a.onHand - a.held <= threshold,
      lastChange: this.lastChangeAt.get(sku) ?? null,
    };
  }

  allStock(now: number): StockView[] {
    const skus = new Set<Sku>([...this.catalogCache.keys(), ...this.state.skus(this.identity.store)]);
    return [...skus].sort().map((s) => this.stock(s, now));
  }

  // ---- writes (run inside a store transaction) ----

  /** Joins entries other replicas wrote (from the hub); persists what changed. */
  applyRemote(delta: Delta, now: number): Delta {
    const effective = this.state.applyDelta(delta);
    if (isEmptyDelta(effective)) return effective;
    this.store.writeDelta(effective, this.nextChange++);
    const skus = new Set<Sku>([
      ...effective.entries.map((e) => e.sku),
      ...effective.transfers.map((t) => t.sku),
      ...effective.reservations.map((r) => r.sku),
    ]);
    for (const sku of skus) {
      this.lastChangeAt.set(sku, now);
      this.pendingChanges.push({ event: null, stock: this.stock(sku, now) });
    }
    return effective;
  }

  /** Stores the policy received from the hub (in the open transaction). */
  setPolicy(policy: AllocationPolicy, now: number): void {
    this.store.saveAllocationPolicy(JSON.stringify(policy), now);
    this.policy = policy;
  }

  /**
   * Hands `hub` the rights this replica holds above what the policy lets it
   * keep (keep = sellable − onlineTarget), one `rights_transfer` event per
   * SKU, through the normal write path. Returns the units handed over.
   */
  handOver(hub: ReplicaId, now: number, skus?: Iterable<Sku>): number {
    const policy = this.policy;
    if (policy === null || hub === this.identity.replica) return 0;
    let total = 0;
    const store = this.identity.store;
    for (const sku of skus ?? this.state.skus(store)) {
      const qty = storeHandover(this.state, store, sku, this.identity.replica, ruleFor(policy, sku));
      if (qty <= 0 || qty > this.rightsOf(sku, now)) continue;
      const r = transferRights(this.state, { store, sku, from: this.identity.replica, to: hub, qty, now });
      if (!r.ok) continue;
      this.record('rights_transfer', sku, qty, { now, terminal: 'allocation' }, r.delta, { to: hub });
      total += qty;
    }
    return total;
  }

  /** Per SKU, how many units of `lines` this replica lacks the rights for at `now`. */
  shortfall(lines: readonly Line[], now: number): Line[] {
    return [...sumBySku(lines)]
      .map(([sku, qty]) => ({ sku, qty: qty - Math.max(0, this.rightsOf(sku, now)) }))
      .filter((l) => l.qty > 0 && this.isKnown(l.sku));
  }

  sell(lines: readonly Line[], ctx: WriteContext & { force?: boolean }): Outcome<{ lines: StockView[]; forced: boolean; events: string[] }> {
    const totals = sumBySku(lines);
    const unknown = [...totals.keys()].filter((s) => !this.isKnown(s));
    if (unknown.length > 0) return fail(unknownSku(unknown));
    if (ctx.force !== true) {
      const short = [...totals]
        .map(([sku, qty]) => ({ sku, requested: qty, available: Math.max(0, this.rightsOf(sku, ctx.now)) }))
        .filter((l) => l.available < l.requested);
      if (short.length > 0) {
        return fail(
          new DomainError('insufficient_stock', `not enough stock for ${short.map((s) => s.sku).join(', ')}`, 409, {
            lines: short,
          }),
        );
      }
    }
    let forced = false;
    const events: string[] = [];
    for (const line of lines) {
      const r = decrement(this.state, {
        store: this.identity.store,
        sku: line.sku,
        replica: this.identity.replica,
        qty: line.qty,
        force: true,
        now: ctx.now,
      });
      if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
      forced ||= r.forced;
      events.push(this.record('sale', line.sku, line.qty, ctx, r.delta, { forced: r.forced }).id);
    }
    return { ok: true, value: { lines: this.views(totals.keys(), ctx.now), forced, events } };
  }

  restock(lines: readonly Line[], ctx: WriteContext, opts: { allowNew?: boolean } = {}): Outcome<{ lines: StockView[]; events: string[] }> {
    const unknown = this.newSkus(lines.map((l) => l.sku), opts.allowNew === true);
    if (unknown.length > 0) return fail(unknownSku(unknown));
    const tooBig = this.overflow(lines);
    if (tooBig) return fail(tooBig);
    const events: string[] = [];
    for (const line of lines) {
      const r = increment(this.state, { store: this.identity.store, sku: line.sku, replica: this.identity.replica, qty: line.qty });
      if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
      events.push(this.record('restock', line.sku, line.qty, ctx, r.delta).id);
    }
    return { ok: true, value: { lines: this.views(sumBySku(lines).keys(), ctx.now), events } };
  }

  /**
   * Signed adjustments. Removals are physical facts (damaged, stolen), so
   * they are recorded even past this replica's rights, as a deficit.
   */
  adjust(
    lines: readonly Line[],
    reason: AdjustmentReason,
    ctx: WriteContext,
    counts?: ReadonlyMap<Sku, number>,
    opts: { allowNew?: boolean } = {},
  ): Outcome<{ lines: StockView[]; events: string[] }> {
    // A count may add a SKU the store has never had (checked against the catalog by count()); a bare adjustment may not, unless allowNew.
    const unknown =
      counts !== undefined ? [] : opts.allowNew === true ? [] : [...new Set(lines.map((l) => l.sku))].filter((s) => !this.isKnown(s));
    if (unknown.length > 0) return fail(unknownSku(unknown));
    const tooBig = this.overflow(lines);
    if (tooBig) return fail(tooBig);
    const events: string[] = [];
    for (const line of lines) {
      const extra = { reason, count: counts?.get(line.sku) ?? null };
      if (line.qty === 0) {
        // A count that matched: nothing changes, but the check is on record.
        events.push(this.record('adjustment', line.sku, 0, ctx, { entries: [], transfers: [], reservations: [] }, extra).id);
        continue;
      }
      const op = { store: this.identity.store, sku: line.sku, replica: this.identity.replica, qty: Math.abs(line.qty) };
      const r = line.qty > 0 ? increment(this.state, op) : decrement(this.state, { ...op, force: true, now: ctx.now });
      if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
      events.push(this.record('adjustment', line.sku, line.qty, ctx, r.delta, extra).id);
    }
    return { ok: true, value: { lines: this.views(sumBySku(lines).keys(), ctx.now), events } };
  }

  /** Sets absolute shelf counts, recorded as the cycle_count adjustments that reach them. */
  count(lines: readonly { sku: Sku; count: number }[], ctx: WriteContext, opts: { allowNew?: boolean } = {}): Outcome<{ lines: StockView[]; events: string[] }> {
    const seen = new Set<Sku>();
    for (const l of lines) {
      if (seen.has(l.sku)) return fail(new DomainError('duplicate_sku', `${l.sku} is counted twice in one request`, 400));
      seen.add(l.sku);
    }
    const unknown = this.newSkus(seen, opts.allowNew === true);
    if (unknown.length > 0) return fail(unknownSku(unknown));
    const adjustments = lines.map((l) => ({ sku: l.sku, qty: l.count - this.stock(l.sku, ctx.now).onHand }));
    return this.adjust(adjustments, 'cycle_count', ctx, new Map(lines.map((l) => [l.sku, l.count])));
  }

  hold(
    holdId: string,
    lines: readonly Line[],
    ttlMs: number,
    ctx: WriteContext,
  ): Outcome<{ holdId: string; expiresAt: number; reservations: ReservationRecord[]; lines: StockView[] }> {
    const totals = sumBySku(lines);
    const unknown = [...totals.keys()].filter((s) => !this.isKnown(s));
    if (unknown.length > 0) return fail(unknownSku(unknown));
    if (this.holdRecords(holdId).length > 0) return fail(new DomainError('hold_exists', `hold ${holdId} already exists`, 409));
    const short = [...totals]
      .map(([sku, qty]) => ({ sku, requested: qty, available: Math.max(0, this.rightsOf(sku, ctx.now)) }))
      .filter((l) => l.available < l.requested);
    if (short.length > 0) {
      return fail(new DomainError('insufficient_stock', `not enough stock to hold ${short.map((s) => s.sku).join(', ')}`, 409, { lines: short }));
    }
    const expiresAt = ctx.now + (ttlMs > 0 ? ttlMs : DEFAULT_HOLD_TTL_MS);
    const reservations: ReservationRecord[] = [];
    lines.forEach((line, i) => {
      const id = `${holdId}.${i + 1}` as ReservationId;
      const r = createReservation(this.state, {
        id,
        store: this.identity.store,
        sku: line.sku,
        owner: this.identity.replica,
        qty: line.qty,
        expiresAt,
        now: ctx.now,
      });
      if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
      reservations.push(r.reservation);
      this.record('hold', line.sku, line.qty, ctx, r.delta, { reservationId: id, expiresAt });
    });
    return { ok: true, value: { holdId, expiresAt, reservations, lines: this.views(totals.keys(), ctx.now) } };
  }

  /** Commits every line of a hold, all or nothing. */
  commitHold(holdId: string, ctx: WriteContext): Outcome<{ holdId: string; lines: StockView[]; events: string[] }> {
    const recs = this.holdRecords(holdId);
    const closed = this.checkHoldOpen(holdId, recs, ctx.now, true);
    if (closed) return fail(closed);
    const events: string[] = [];
    for (const rec of recs) {
      const r = commitReservation(this.state, { id: rec.id, by: this.identity.replica, now: ctx.now });
      if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
      events.push(this.record('hold_commit', rec.sku, rec.qty, ctx, r.delta, { reservationId: rec.id, expiresAt: rec.expiresAt }).id);
    }
    return { ok: true, value: { holdId, lines: this.views(recs.map((r) => r.sku), ctx.now), events } };
  }

  releaseHold(holdId: string, ctx: WriteContext): Outcome<{ holdId: string; lines: StockView[] }> {
    const recs = this.holdRecords(holdId);
    const closed = this.checkHoldOpen(holdId, recs, ctx.now, false);
    if (closed) return fail(closed);
    for (const rec of recs) this.releaseOne(rec, ctx);
    return { ok: true, value: { holdId, lines: this.views(recs.map((r) => r.sku), ctx.now) } };
  }

  /** Records this replica's lapsed holds as expired (hold_expire events); returns how many. */
  expireHolds(now: number): number {
    const delta = expireReservations(this.state, this.identity.replica, now);
    this.record(null, null, 0, { now, terminal: 'expiry' }, delta);
    return delta.reservations.length;
  }

  holdRecords(holdId: string): ReservationRecord[] {
    const out: ReservationRecord[] = [];
    for (let i = 1; ; i++) {
      const rec = this.state.reservation(this.identity.replica, `${holdId}.${i}` as ReservationId);
      if (!rec) return out;
      out.push(rec);
    }
  }

  private releaseOne(rec: ReservationRecord, ctx: WriteContext): void {
    const r = releaseReservation(this.state, { id: rec.id, by: this.identity.replica });
    if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
    this.record('hold_release', rec.sku, rec.qty, ctx, r.delta, { reservationId: rec.id, expiresAt: rec.expiresAt });
  }

  private checkHoldOpen(holdId: string, recs: ReservationRecord[], now: number, forCommit: boolean): DomainError | null {
    if (recs.length === 0) return new DomainError('hold_not_found', `no hold ${holdId}`, 404);
    const status = recs[0]!.status;
    if (status === 'expired' && forCommit) {
      return new DomainError('hold_expired', `hold ${holdId} expired at ${new Date(recs[0]!.expiresAt).toISOString()}`, 409, {
        expiresAt: recs[0]!.expiresAt,
      });
    }
    if (status !== 'active') return new DomainError('hold_closed', `hold ${holdId} is already ${status}`, 409, { status });
    if (forCommit && recs[0]!.expiresAt <= now) {
      return new DomainError('hold_expired', `hold ${holdId} expired at ${new Date(recs[0]!.expiresAt).toISOString()}`, 409, {
        expiresAt: recs[0]!.expiresAt,
      });
    }
    return null;
  }

  /**
   * Checked before anything changes, so a refusal never leaves earlier lines
   * applied: would any line push this replica's P or N past exact integers?
   */
  private overflow(lines: readonly Line[]): DomainError | null {
    const r = this.state.knownReplicaNumber(this.identity.replica);
    const added = new Map<Sku, { p: number; n: number }>();
    for (const l of lines) {
      const a = added.get(l.sku) ?? { p: 0, n: 0 };
      if (l.qty > 0) a.p += l.qty;
      else a.n -= l.qty;
      added.set(l.sku, a);
    }
    for (const [sku, a] of added) {
      const c = this.state.counter(this.identity.store, sku);
      const p = c && r >= 0 ? c.p(r) : 0;
      const n = c && r >= 0 ? c.n(r) : 0;
      if (p + a.p > MAX_TOTAL || n + a.n > MAX_TOTAL) {
        return new DomainError('quantity_overflow', `this would take ${sku} past the largest exact quantity`, 422, { sku });
      }
    }
    return null;
  }

  /** What this replica may spend at `now` (its lapsed holds count as freed: the operation records their expiry). */
  private rightsOf(sku: Sku, now: number): number {
    return spendableRights(this.state, this.identity.store, sku, this.identity.replica, now);
  }

  private views(skus: Iterable<Sku>, now: number): StockView[] {
    return [...new Set(skus)].map((s) => this.stock(s, now));
  }

  /**
   * Appends the event and persists the delta it produced, in the open
   * transaction. Holds of this replica the operation recorded as expired
   * (the CRDT does that before it spends rights) get a hold_expire event
   * each, first, so the event log still folds to the stored state.
   * `type` null: only those expiry events.
   */
  private record(type: EventType, sku: Sku, qty: number, ctx: WriteContext, delta: Delta, extra?: Partial<InventoryEvent>): InventoryEvent;
  private record(type: null, sku: null, qty: 0, ctx: WriteContext, delta: Delta): null;
  private record(
    type: EventType | null,
    sku: Sku | null,
    qty: number,
    ctx: WriteContext,
    delta: Delta,
    extra: Partial<InventoryEvent> = {},
  ): InventoryEvent | null {
    for (const r of delta.reservations) {
      if (r.status === 'expired' && r.owner === this.identity.replica) {
        this.appendEvent('hold_expire', r.sku, r.qty, { ...ctx, idempotencyKey: null }, { reservationId: r.id, expiresAt: r.expiresAt });
      }
    }
    const event = type === null || sku === null ? null : this.appendEvent(type, sku, qty, ctx, extra);
    // A change number is spent only when rows are stamped with it (a count
    // that matched changes nothing): numbers the hub acked are never reused.
    if (!isEmptyDelta(delta)) this.store.writeDelta(delta, this.nextChange++);
    return event;
  }

  private appendEvent(type: EventType, sku: Sku, qty: number, ctx: WriteContext, extra: Partial<InventoryEvent>): InventoryEvent {
    const seq = this.nextSeq++;
    const event: InventoryEvent = {
      id: eventIdFor(this.identity.replica, seq),
      store: this.identity.store,
      replica: this.identity.replica,
      seq,
      type,
      sku,
      qty,
      at: ctx.now,
      idempotencyKey: ctx.idempotencyKey ?? null,
      terminal: ctx.terminal ?? null,
      ...extra,
    };
    this.store.appendEvent(event);
    this.lastChangeAt.set(sku, ctx.now);
    // The stock view costs a fold of the counter: only when someone listens (sync client, SSE).
    if (this.listeners.size > 0) this.pendingChanges.push({ event, stock: this.stock(sku, ctx.now) });
    return event;
  }
}

function sumBySku(lines: readonly Line[]): Map<Sku, number> {
  const m = new Map<Sku, number>();
  for (const l of lines) m.set(l.sku, (m.get(l.sku) ?? 0) + l.qty);
  return m;
}

function unknownSku(skus: Sku[]): DomainError {
  return new DomainError('unknown_sku', `unknown SKU: ${skus.join(', ')}`, 404, { skus });
}

/**
 * fast-check arbitraries and a small simulator for the inventory CRDT.
 *
 * Pools are deliberately tiny (2 stores, 3 SKUs, 3 replicas) and quantities
 * small, so counters collide, rights run short and holds expire often.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  availability,
  commitReservation,
  createReservation,
  decrement,
  digestOf,
  emptyDelta,
  eventIdFor,
  expireReservations,
  increment,
  InventoryState,
  isEmptyDelta,
  replicaId,
  reservationId,
  rights,
  sku,
  spendableRights,
  storeId,
  transferRights,
  releaseReservation,
  type Delta,
  type InventoryEvent,
  type Refusal,
  type ReplicaId,
  type ReservationId,
  type Sku,
  type StoreId,
} from '../src/index.js';

export const NUM_RUNS = Number(process.env.FC_RUNS ?? 1000);
export const fcParams = { numRuns: NUM_RUNS };

export const STORES: readonly StoreId[] = [storeId('store-1'), storeId('store-2')];
export const SKUS: readonly Sku[] = [sku('SKU-A'), sku('SKU-B'), sku('SKU-C')];
export const REPLICAS: readonly ReplicaId[] = [replicaId('hub'), replicaId('agent-1'), replicaId('agent-2')];
/** 2025-01-01T00:00:00Z: the simulated clock starts here. */
export const T0 = Date.UTC(2025, 0, 1);

/** Skewed towards the first store and SKU, so the same counters are hit again and again. */
export const storeArb = fc.oneof({ weight: 4, arbitrary: fc.constant(STORES[0]!) }, { weight: 1, arbitrary: fc.constantFrom(...STORES) });
export const skuArb = fc.oneof({ weight: 3, arbitrary: fc.constant(SKUS[0]!) }, { weight: 2, arbitrary: fc.constantFrom(...SKUS) });
export const replicaArb = fc.constantFrom(...REPLICAS);
export const replicaIndexArb = fc.integer({ min: 0, max: REPLICAS.length - 1 });

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

export type LocalOp =
  | { kind: 'increment'; store: StoreId; sku: Sku; qty: number; as: 'restock' | 'adjustment' }
  | { kind: 'decrement'; store: StoreId; sku: Sku; qty: number; force: boolean; as: 'sale' | 'adjustment' }
  | { kind: 'transfer'; store: StoreId; sku: Sku; to: ReplicaId; qty: number }
  | { kind: 'reserve'; store: StoreId; sku: Sku; qty: number; ttl: number }
  /**
   * `pick` indexes (mod n) this replica's still-active reservations, or with
   * `anyStatus` all it ever created (to hit closed and expired ones too).
   */
  | { kind: 'commit'; pick: number; anyStatus: boolean }
  | { kind: 'release'; pick: number; anyStatus: boolean }
  | { kind: 'expire' };

/** A local op plus how far the clock moves before it runs. */
export interface Step {
  advance: number;
  op: LocalOp;
}

const smallQty = fc.integer({ min: 1, max: 5 });
const rarely = fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

/** Clock advances: often none, sometimes seconds, sometimes past a hold's TTL. */
export const advanceArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 60_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 20 * 60_000 }) },
);

export interface OpOptions {
  /** Whether decrements may be forced: never, or sometimes. */
  force: boolean;
}

export function localOpArb(opts: OpOptions): fc.Arbitrary<LocalOp> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('increment' as const),
        store: storeArb,
        sku: skuArb,
        qty: fc.integer({ min: 1, max: 12 }),
        as: fc.constantFrom('restock' as const, 'adjustment' as const),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('decrement' as const),
        store: storeArb,
        sku: skuArb,
        qty: smallQty,
        force: opts.force ? rarely : fc.constant(false),
        as: fc.constantFrom('sale' as const, 'adjustment' as const),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('transfer' as const), store: storeArb, sku: skuArb, to: replicaArb, qty: smallQty }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('reserve' as const),
        store: storeArb,
        sku: skuArb,
        qty: smallQty,
        ttl: fc.integer({ min: 1, max: 15 * 60_000 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.nat(20), anyStatus: rarely }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(20), anyStatus: rarely }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
  );
}

export function stepArb(opts: OpOptions): fc.Arbitrary<Step> {
  return fc.record({ advance: advanceArb, op: localOpArb(opts) });
}

/** A random operation sequence for one replica. */
export function stepsArb(opts: OpOptions, maxLength = 40): fc.Arbitrary<Step[]> {
  return fc.array(stepArb(opts), { maxLength, size: 'max' });
}

// ---------------------------------------------------------------------------
// One replica: runs ops on its own state, recording deltas and events
// ---------------------------------------------------------------------------

export interface OpOutcome {
  op: LocalOp;
  /** The time the op ran at. */
  now: number;
  ok: boolean;
  refusal?: Refusal;
  /** For decrement: whether the sale was recorded as forced. */
  forced?: boolean;
  /** spendableRights(replica) at `now` on its own state for the op's counter, just before it ran (counter ops only). */
  rightsBefore?: number;
  /** spendableRights(replica) just after. */
  rightsAfter?: number;
  delta: Delta;
}

export class ReplicaSim {
  readonly state = new InventoryState();
  /** Every non-empty delta this replica's own ops produced, in order. */
  readonly deltas: Delta[] = [];
  /** The replica's append-only event log; foldEvents(events) must rebuild its entries. */
  readonly events: InventoryEvent[] = [];
  /** Reservations this replica created, in creation order. */
  readonly own: ReservationId[] = [];
  /** Total quantity of decrements that came back forced. */
  forcedQty = 0;
  private nextSeq = 1;
  private nextRes = 1;

  constructor(readonly id: ReplicaId) {}

  private event(e: Omit<InventoryEvent, 'id' | 'seq' | 'replica'>): void {
    const seq = this.nextSeq++;
    this.events.push({ id: eventIdFor(this.id, seq), seq, replica: this.id, ...e });
  }

  /**
   * Records a delta; an op that consumed rights may also have recorded the
   * expiry of lapsed holds, which the log carries as hold_expire events
   * (before the op's own event), so the event fold still rebuilds the state.
   */
  private record(delta: Delta, now: number): void {
    if (!isEmptyDelta(delta)) this.deltas.push(delta);
    for (const r of delta.reservations) {
      if (r.status === 'expired') {
        this.event({ store: r.store, sku: r.sku, type: 'hold_expire', qty: r.qty, at: now, reservationId: r.id, expiresAt: r.expiresAt });
      }
    }
  }

  /** Runs one op at time `now`; on success records its delta and event(s). */
  run(op: LocalOp, now: number): OpOutcome {
    return { ...this.exec(op, now), now };
  }

  private exec(op: LocalOp, now: number): Omit<OpOutcome, 'now'> {
    const st = this.state;
    const me = this.id;
    switch (op.kind) {
      case 'increment': {
        const before = spendableRights(st, op.store, op.sku, me, now);
        const res = increment(st, { store: op.store, sku: op.sku, replica: me, qty: op.qty });
        if (!res.ok) return { op, ok: false, refusal: res.refusal, rightsBefore: before, delta: emptyDelta() };
        this.record(res.delta, now);
        this.event({ store: op.store, sku: op.sku, type: op.as === 'restock' ? 'restock' : 'adjustment', qty: op.qty, at: now, reason: op.as === 'adjustment' ? 'correction' : null });
        return { op, ok: true, rightsBefore: before, rightsAfter: spendableRights(st, op.store, op.sku, me, now), delta: res.delta };
      }
      case 'decrement': {
        const before = spendableRights(st, op.store, op.sku, me, now);
        const res = decrement(st, { store: op.store, sku: op.sku, replica: me, qty: op.qty, force: op.force, now });
        if (!res.ok) return { op, ok: false, refusal: res.refusal, rightsBefore: before, delta: emptyDelta() };
        this.record(res.delta, now);
        if (res.forced) this.forcedQty += op.qty;
        if (op.as === 'sale') {
          this.event({ store: op.store, sku: op.sku, type: 'sale', qty: op.qty, at: now, forced: res.forced });
        } else {
          this.event({ store: op.store, sku: op.sku, type: 'adjustment', qty: -op.qty, at: now, reason: 'damaged', forced: res.forced });
        }
        return { op, ok: true, forced: res.forced, rightsBefore: before, rightsAfter: spendableRights(st, op.store, op.sku, me, now), delta: res.delta };
      }
      case 'transfer': {
        const before = spendableRights(st, op.store, op.sku, me, now);
        const res = transferRights(st, { store: op.store, sku: op.sku, from: me, to: op.to, qty: op.qty, now });
        if (!res.ok) return { op, ok: false, refusal: res.refusal, rightsBefore: before, delta: emptyDelta() };
        this.record(res.delta, now);
        this.event({ store: op.store, sku: op.sku, type: 'rights_transfer', qty: op.qty, at: now, to: op.to });
        return { op, ok: true, rightsBefore: before, rightsAfter: spendableRights(st, op.store, op.sku, me, now), delta: res.delta };
      }
      case 'reserve': {
        const before = spendableRights(st, op.store, op.sku, me, now);
        // Ids are only unique per owner: replicas pick the same ones, records are keyed by (owner, id).
        const id = reservationId(`res-${this.nextRes++}`);
        const expiresAt = now + op.ttl;
        const res = createReservation(st, { id, store: op.store, sku: op.sku, owner: me, qty: op.qty, expiresAt, now });
        if (!res.ok) return { op, ok: false, refusal: res.refusal, rightsBefore: before, delta: emptyDelta() };
        this.own.push(id);
        this.record(res.delta, now);
        this.event({ store: op.store, sku: op.sku, type: 'hold', qty: op.qty, at: now, reservationId: id, expiresAt });
        return { op, ok: true, rightsBefore: before, rightsAfter: spendableRights(st, op.store, op.sku, me, now), delta: res.delta };
      }
      case 'commit':
      case 'release': {
        const candidates = op.anyStatus ? this.own : this.own.filter((id) => st.reservation(me, id)?.status === 'active');
        if (candidates.length === 0) return { op, ok: false, delta: emptyDelta() };
        const id = candidates[op.pick % candidates.length]!;
        const rec = st.reservation(me, id)!;
        const before = spendableRights(st, rec.store, rec.sku, me, now);
        const res = op.kind === 'commit' ? commitReservation(st, { id, by: me, now }) : releaseReservation(st, { id, by: me });
        if (!res.ok) return { op, ok: false, refusal: res.refusal, rightsBefore: before, delta: emptyDelta() };
        this.record(res.delta, now);
        this.event({
          store: rec.store,
          sku: rec.sku,
          type: op.kind === 'commit' ? 'hold_commit' : 'hold_release',
          qty: rec.qty,
          at: now,
          reservationId: id,
          expiresAt: rec.expiresAt,
        });
        return { op, ok: true, rightsBefore: before, rightsAfter: spendableRights(st, rec.store, rec.sku, me, now), delta: res.delta };
      }
      case 'expire': {
        const delta = expireReservations(st, me, now);
        this.record(delta, now);
        return { op, ok: true, delta };
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Several replicas with partitions and partial syncs
// ---------------------------------------------------------------------------

export type Action =
  | { kind: 'local'; replica: number; step: Step }
  /** `into` joins `from`'s whole current state. */
  | { kind: 'mergeState'; into: number; from: number }
  /** `into` joins a subset of the deltas `from` produced so far (bit i%31 of `mask`). */
  | { kind: 'mergeDeltas'; into: number; from: number; mask: number }
  /** `into` joins `from.changedSince(from.seq - back)` (a catch-up that may be partial for `into`). */
  | { kind: 'catchUp'; into: number; from: number; back: number };

export function actionArb(opts: OpOptions): fc.Arbitrary<Action> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('local' as const), replica: replicaIndexArb, step: stepArb(opts) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('mergeState' as const), into: replicaIndexArb, from: replicaIndexArb }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('mergeDeltas' as const), into: replicaIndexArb, from: replicaIndexArb, mask: fc.nat() }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('catchUp' as const), into: replicaIndexArb, from: replicaIndexArb, back: fc.nat(10) }),
    },
  );
}

/** Restocks to open a run with (so rights are not always short). */
const seedArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('local' as const),
  replica: replicaIndexArb,
  step: fc.record({
    advance: fc.constant(0),
    op: fc.record({
      kind: fc.constant('increment' as const),
      store: storeArb,
      sku: skuArb,
      qty: fc.integer({ min: 5, max: 20 }),
      as: fc.constant('restock' as const),
    }),
  }),
});

/** A run: a few restocks, then local ops interleaved with partial syncs. */
export function actionsArb(opts: OpOptions, maxLength = 50): fc.Arbitrary<Action[]> {
  return fc
    .tuple(fc.array(seedArb, { maxLength: 6 }), fc.array(actionArb(opts), { maxLength, size: 'max' }))
    .map(([seed, rest]) => [...seed, ...rest]);
}

export class World {
  now = T0;
  readonly replicas: ReplicaSim[] = REPLICAS.map((r) => new ReplicaSim(r));
  /** Every delta produced by any replica's own ops, in production order. */
  readonly log: { producer: number; delta: Delta }[] = [];

  /** Runs one action; returns the op outcome for local actions. */
  act(a: Action): OpOutcome | undefined {
    switch (a.kind) {
      case 'local': {
        this.now += a.step.advance;
        const sim = this.replicas[a.replica]!;
        const before = sim.deltas.length;
        const out = sim.run(a.step.op, this.now);
        for (const d of sim.deltas.slice(before)) this.log.push({ producer: a.replica, delta: d });
        return out;
      }
      case 'mergeState':
        this.replicas[a.into]!.state.merge(this.replicas[a.from]!.state);
        return undefined;
      case 'mergeDeltas': {
        const into = this.replicas[a.into]!.state;
        this.replicas[a.from]!.deltas.forEach((d, i) => {
          if ((a.mask >>> i % 31) & 1) into.applyDelta(d);
        });
        return undefined;
      }
      case 'catchUp': {
        const from = this.replicas[a.from]!.state;
        this.replicas[a.into]!.state.applyDelta(from.changedSince(Math.max(0, from.seq - a.back)));
        return undefined;
      }
    }
  }

  /** The join of every replica's current state (what a full sync would give). */
  joined(): InventoryState {
    return joinAll(this.replicas.map((r) => r.state));
  }

  /** Full sync: every replica ends with the join of all. */
  fullSync(): void {
    const all = this.joined();
    for (const r of this.replicas) r.state.merge(all);
  }

  allEvents(): InventoryEvent[] {
    return this.replicas.flatMap((r) => r.events);
  }
}

// ---------------------------------------------------------------------------
// Comparing states
// ---------------------------------------------------------------------------

export function joinAll(states: Iterable<InventoryState>): InventoryState {
  const out = new InventoryState();
  for (const s of states) out.merge(s);
  return out;
}

export function copyOf(state: InventoryState): InventoryState {
  const out = new InventoryState();
  out.merge(state);
  return out;
}

export function stateFromDeltas(deltas: Iterable<Delta>): InventoryState {
  const out = new InventoryState();
  for (const d of deltas) out.applyDelta(d);
  return out;
}

/** An order-independent, exact dump of a delta: one sorted line per entry, zeros included. */
export function canonical(d: Delta): string[] {
  const lines: string[] = [];
  for (const e of d.entries) lines.push(`e ${e.store} ${e.sku} ${e.replica} p=${e.p} n=${e.n}`);
  for (const t of d.transfers) lines.push(`t ${t.store} ${t.sku} ${t.from}->${t.to} ${t.amount}`);
  for (const r of d.reservations) {
    lines.push(`r ${r.id} ${r.store} ${r.sku} ${r.owner} qty=${r.qty} exp=${r.expiresAt} ${r.status}`);
  }
  return lines.sort();
}

/** Every store any of the states knows, plus the pool. */
function storesOf(...states: InventoryState[]): StoreId[] {
  const set = new Set<StoreId>(STORES);
  for (const s of states) for (const id of s.storeIds()) set.add(id);
  return [...set].sort();
}

/**
 * Everything observable about a state, as text (one line per fact): the
 * canonical dump, each store's digest, and at `now` every pool counter's
 * availability and every pool replica's rights. Text keeps comparison cheap
 * and failures readable.
 */
export function observe(s: InventoryState, now: number, stores: readonly StoreId[] = STORES): string {
  const lines = canonical(s.toDelta());
  for (const st of stores) {
    lines.push(`digest ${st} ${s.digest(st)}`);
    for (const k of SKUS) {
      const a = availability(s, st, k, now);
      lines.push(`avail ${st} ${k} onHand=${a.onHand} held=${a.held} raw=${a.availableRaw} shown=${a.available}`);
      lines.push(`rights ${st} ${k} ${REPLICAS.map((r) => rights(s, st, k, r, now)).join(' ')}`);
    }
  }
  return lines.join('\n');
}

/**
 * Asserts two states are the same CRDT state: equal digest for every store,
 * equal canonical dump of toDelta(), and equal derived values at `now`.
 */
export function expectSameState(a: InventoryState, b: InventoryState, now = T0): void {
  const stores = storesOf(a, b);
  const oa = observe(a, now, stores);
  const ob = observe(b, now, stores);
  if (oa !== ob) expect(oa).toBe(ob); // only pay for expect() when it fails
  if (digestOf(a.toDelta()) !== digestOf(b.toDelta())) expect(digestOf(a.toDelta())).toBe(digestOf(b.toDelta()));
}

/** A cheap assertion for hot loops: throws with `message()` when `cond` is false. */
export function check(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new Error(message());
}

// ---------------------------------------------------------------------------
// Runtime choices (subsets, shuffles) from a generated seed
// ---------------------------------------------------------------------------

/**
 * A small deterministic PRNG (mulberry32) for choices that depend on values
 * only known while the property runs (which deltas to drop, in what order).
 * fc.gen() would do, but it memoises per argument and slows down with
 * array arguments, so a seeded generator is used instead.
 */
export class Dice {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** A random subset, order kept; each item kept with probability `p`. */
  subset<T>(items: readonly T[], p = 0.5): T[] {
    return items.filter(() => this.chance(p));
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/** A seed for a Dice (kept a number so counterexamples print and replay plainly). */
export const diceSeedArb: fc.Arbitrary<number> = fc.noBias(fc.integer({ min: 0, max: 0xffffffff }));

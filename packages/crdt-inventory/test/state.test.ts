import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  availability,
  decrement,
  digestOf,
  emptyDelta,
  hash64,
  increment,
  InventoryState,
  isEmptyDelta,
  replicaId,
  reservationId,
  rights,
  sku,
  statusRank,
  storeId,
  transferRights,
  unwrap,
  type CounterEntry,
  type Delta,
  type ReservationRecord,
  type TransferEntry,
} from '../src/index.js';
import { canonical, Dice, diceSeedArb, fcParams } from './arbitraries.js';

const S = storeId('store-1');
const S2 = storeId('store-2');
const K = sku('SKU-A');
const K2 = sku('SKU-B');
const A = replicaId('agent-1');
const B = replicaId('agent-2');
const HUB = replicaId('hub');
const NOW = Date.UTC(2025, 0, 1);

const e = (replica: typeof A, p: number, n: number, store = S, k = K): CounterEntry => ({ store, sku: k, replica, p, n });
const t = (from: typeof A, to: typeof A, amount: number, store = S, k = K): TransferEntry => ({ store, sku: k, from, to, amount });
const r = (id: string, over: Partial<ReservationRecord> = {}): ReservationRecord => ({
  id: reservationId(id),
  store: S,
  sku: K,
  owner: A,
  qty: 2,
  expiresAt: NOW + 1000,
  status: 'active',
  ...over,
});
const delta = (d: Partial<Delta>): Delta => ({ ...emptyDelta(), ...d });

/** A small state touching every kind of entry, two stores and three replicas. */
const BASE: Delta = {
  entries: [e(A, 10, 3), e(B, 4, 1), e(HUB, 20, 0), e(A, 5, 0, S, K2), e(A, 7, 2, S2)],
  transfers: [t(HUB, A, 6), t(A, B, 2), t(HUB, B, 1, S2)],
  reservations: [r('r1'), r('r2', { owner: B, qty: 1, status: 'committed' }), r('r3', { store: S2, status: 'released' })],
};

function fromDelta(d: Delta): InventoryState {
  const st = new InventoryState();
  st.applyDelta(d);
  return st;
}

describe('InventoryState basics', () => {
  it('starts empty', () => {
    const st = new InventoryState();
    expect(st.seq).toBe(0);
    expect(st.counterCount()).toBe(0);
    expect(st.storeIds()).toEqual([]);
    expect(st.skus(S)).toEqual([]);
    expect(st.toDelta()).toEqual(emptyDelta());
    expect(isEmptyDelta(st.toDelta())).toBe(true);
    expect(st.digest(S)).toBe(digestOf(emptyDelta()));
    expect(st.digest(S)).toBe(hash64(''));
  });

  it('lists stores, SKUs and counters', () => {
    const st = fromDelta(BASE);
    expect(st.storeIds().sort()).toEqual([S, S2]);
    expect(st.skus(S).sort()).toEqual([K, K2]);
    expect(st.skus(S2)).toEqual([K]);
    expect(st.counterCount()).toBe(3);
    expect([...st.reservations()].map((x) => x.id).sort()).toEqual(['r1', 'r2', 'r3']);
  });

  it('replica numbers: replicaNumber interns once, knownReplicaNumber never interns', () => {
    const st = new InventoryState();
    expect(st.knownReplicaNumber(A)).toBe(-1);
    expect(st.knownReplicaNumber(A)).toBe(-1);
    const a = st.replicaNumber(A);
    const b = st.replicaNumber(B);
    expect(a).not.toBe(b);
    expect(st.replicaNumber(A)).toBe(a);
    expect(st.knownReplicaNumber(B)).toBe(b);
    expect(st.replicaName(a)).toBe(A);
    expect(st.replicaName(b)).toBe(B);
  });

  it('toDelta round-trips and returns copies', () => {
    const st = fromDelta(BASE);
    const out = st.toDelta();
    expect(canonical(out)).toEqual(canonical(BASE));
    out.entries[0]!.p = 999;
    out.transfers[0]!.amount = 999;
    out.reservations[0]!.status = 'released';
    expect(canonical(st.toDelta())).toEqual(canonical(BASE));
    expect(st.reservation(A, reservationId('r1'))?.status).toBe('active');
  });

  it('does not alias input reservation records', () => {
    const rec = r('r1');
    const st = fromDelta(delta({ reservations: [rec] }));
    rec.qty = 50;
    expect(st.reservation(A, reservationId('r1'))?.qty).toBe(2);
  });

  it('toDelta(store) and entriesOf(replica, store) filter', () => {
    const st = fromDelta(BASE);
    const s2 = st.toDelta(S2);
    expect(canonical(s2)).toEqual(canonical(delta({ entries: [e(A, 7, 2, S2)], transfers: [t(HUB, B, 1, S2)], reservations: [r('r3', { store: S2, status: 'released' })] })));
    const ofA = st.entriesOf(A);
    expect(canonical(ofA)).toEqual(
      canonical(
        delta({
          entries: [e(A, 10, 3), e(A, 5, 0, S, K2), e(A, 7, 2, S2)],
          transfers: [t(A, B, 2)],
          reservations: [r('r1'), r('r3', { store: S2, status: 'released' })],
        }),
      ),
    );
    expect(canonical(st.entriesOf(HUB, S))).toEqual(canonical(delta({ entries: [e(HUB, 20, 0)], transfers: [t(HUB, A, 6)] })));
    expect(canonical(st.entriesOf(replicaId('nobody')))).toEqual([]);
  });
});

describe('applyDelta and merge', () => {
  it('merges entry-wise maximum, field by field', () => {
    const st = fromDelta(delta({ entries: [e(A, 5, 3)], transfers: [t(A, B, 4)] }));
    const eff = st.applyDelta(delta({ entries: [e(A, 7, 1)], transfers: [t(A, B, 2)] }));
    expect(st.toDelta().entries).toEqual([e(A, 7, 3)]);
    expect(st.toDelta().transfers).toEqual([t(A, B, 4)]);
    expect(eff.entries).toEqual([e(A, 7, 1)]);
    expect(eff.transfers).toEqual([]);
  });

  it('returns the effective delta: only the input entries that changed something, the same objects', () => {
    const st = fromDelta(BASE);
    const grow = e(A, 11, 3);
    const same = e(B, 4, 1);
    const lower = e(HUB, 19, 0);
    const newT = t(B, HUB, 1);
    const oldT = t(HUB, A, 6);
    const promote = r('r1', { status: 'committed' });
    const demote = r('r2', { owner: B, qty: 1, status: 'active' });
    const seq = st.seq;
    const eff = st.applyDelta({ entries: [grow, same, lower], transfers: [newT, oldT], reservations: [promote, demote] });
    expect(eff.entries).toHaveLength(1);
    expect(eff.entries[0]).toBe(grow);
    expect(eff.transfers).toHaveLength(1);
    expect(eff.transfers[0]).toBe(newT);
    expect(eff.reservations).toHaveLength(1);
    expect(eff.reservations[0]).toBe(promote);
    expect(st.seq).toBe(seq + 3);
  });

  it('a delta that changes nothing leaves seq and digest alone', () => {
    const st = fromDelta(BASE);
    const seq = st.seq;
    const d = st.digest(S);
    expect(isEmptyDelta(st.applyDelta(BASE))).toBe(true);
    expect(isEmptyDelta(st.merge(st))).toBe(true);
    expect(isEmptyDelta(st.applyDelta(delta({ entries: [e(A, 0, 0)], transfers: [t(B, A, 0)] })))).toBe(true);
    expect(st.seq).toBe(seq);
    expect(st.digest(S)).toBe(d);
  });

  it('ignores all-zero entries for unseen replicas (they are the bottom element)', () => {
    const st = fromDelta(BASE);
    const before = canonical(st.toDelta());
    const eff = st.applyDelta(delta({ entries: [e(replicaId('ghost'), 0, 0)], transfers: [t(replicaId('ghost'), A, 0)] }));
    expect(isEmptyDelta(eff)).toBe(true);
    expect(canonical(st.toDelta())).toEqual(before);
  });

  it('merge(other) joins the other full state and returns what changed', () => {
    const x = fromDelta(delta({ entries: [e(A, 5, 0)] }));
    const y = fromDelta(delta({ entries: [e(A, 3, 2), e(B, 1, 0)] }));
    const eff = x.merge(y);
    expect(canonical(eff)).toEqual(canonical(delta({ entries: [e(A, 3, 2), e(B, 1, 0)] })));
    expect(canonical(x.toDelta())).toEqual(canonical(delta({ entries: [e(A, 5, 2), e(B, 1, 0)] })));
  });

  it('reservation status merges by rank active < expired < released < committed, never backward', () => {
    expect(statusRank('active')).toBeLessThan(statusRank('expired'));
    expect(statusRank('expired')).toBeLessThan(statusRank('released'));
    expect(statusRank('released')).toBeLessThan(statusRank('committed'));
    const st = fromDelta(delta({ reservations: [r('r1', { status: 'committed' })] }));
    expect(isEmptyDelta(st.applyDelta(delta({ reservations: [r('r1')] })))).toBe(true);
    expect(isEmptyDelta(st.applyDelta(delta({ reservations: [r('r1', { status: 'released' })] })))).toBe(true);
    expect(st.reservation(A, reservationId('r1'))?.status).toBe('committed');
    expect(availability(st, S, K, NOW).held).toBe(0);
  });

  it('keeps holds in step with record status (promotion drops the hold)', () => {
    const st = fromDelta(delta({ entries: [e(A, 10, 0)], reservations: [r('r1', { qty: 3 })] }));
    expect(availability(st, S, K, NOW).held).toBe(3);
    expect(rights(st, S, K, A, NOW)).toBe(7);
    st.applyDelta(delta({ reservations: [r('r1', { qty: 3, status: 'released' })] }));
    expect(availability(st, S, K, NOW).held).toBe(0);
    expect(rights(st, S, K, A, NOW)).toBe(10);
  });
});

describe('changedSince', () => {
  it('returns the coalesced changes after seq, with current values', () => {
    const st = new InventoryState();
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: 10 }));
    unwrap(increment(st, { store: S, sku: K2, replica: A, qty: 4 }));
    const mark = st.seq;
    unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 1, now: NOW }));
    unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 2, now: NOW }));
    unwrap(transferRights(st, { store: S, sku: K, from: A, to: B, qty: 3, now: NOW }));
    const d = st.changedSince(mark);
    expect(canonical(d)).toEqual(canonical(delta({ entries: [e(A, 10, 3)], transfers: [t(A, B, 3)] })));
    expect(isEmptyDelta(st.changedSince(st.seq))).toBe(true);
    expect(canonical(st.changedSince(-1))).toEqual(canonical(st.toDelta()));
    expect(canonical(st.changedSince(0))).toEqual(canonical(st.toDelta()));
  });

  it('filters by store, and an unknown store gives an empty delta', () => {
    const st = fromDelta(BASE);
    const s2 = st.changedSince(0, S2);
    expect(canonical(s2)).toEqual(canonical(st.toDelta(S2)));
    for (const x of s2.entries) expect(x.store).toBe(S2);
    expect(isEmptyDelta(st.changedSince(0, storeId('nowhere')))).toBe(true);
    expect(st.storeIds()).not.toContain('nowhere');
  });

  it('includes reservations changed after seq', () => {
    const st = fromDelta(BASE);
    const mark = st.seq;
    st.applyDelta(delta({ reservations: [r('r1', { status: 'committed' })] }));
    const d = st.changedSince(mark);
    expect(d.reservations).toEqual([r('r1', { status: 'committed' })]);
    // the counter of the reservation is stamped too (its holds changed), nothing else
    expect(new Set(d.entries.map((x) => `${x.store}/${x.sku}`))).toEqual(new Set(['store-1/SKU-A']));
  });
});

describe('digest', () => {
  it('is 16 hex digits and deterministic', () => {
    const d = fromDelta(BASE).digest(S);
    expect(d).toMatch(/^[0-9a-f]{16}$/);
    expect(fromDelta(BASE).digest(S)).toBe(d);
    expect(hash64('abc')).toBe(hash64('abc'));
    expect(hash64('abc')).not.toBe(hash64('abd'));
    expect(hash64('')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is stable across insertion order (and replica numbering) of the same entries', () => {
    fc.assert(
      fc.property(diceSeedArb, (seed) => {
        const dice = new Dice(seed);
        // entries one by one, in a random order, sometimes split into older versions first
        const items: Delta[] = [
          ...BASE.entries.map((x) => delta({ entries: [x] })),
          ...BASE.transfers.map((x) => delta({ transfers: [x] })),
          ...BASE.reservations.map((x) => delta({ reservations: [x] })),
          delta({ entries: [e(A, 1, 1)] }),
          delta({ transfers: [t(HUB, A, 2)] }),
          delta({ reservations: [r('r2', { owner: B, qty: 1 })] }),
        ];
        const st = new InventoryState();
        for (const d of dice.shuffle(items)) st.applyDelta(d);
        const ref = fromDelta(BASE);
        expect(st.digest(S)).toBe(ref.digest(S));
        expect(st.digest(S2)).toBe(ref.digest(S2));
        const full = st.toDelta();
        const reordered = { entries: dice.shuffle(full.entries), transfers: dice.shuffle(full.transfers), reservations: dice.shuffle(full.reservations) };
        expect(digestOf(reordered)).toBe(digestOf(ref.toDelta()));
      }),
      { numRuns: Math.min(200, fcParams.numRuns) },
    );
  });

  it('differs whenever any single field of any entry differs', () => {
    const base = fromDelta(BASE).digest(S);
    const variants: Delta[] = [
      delta({ entries: [e(A, 11, 3)] }),
      delta({ entries: [e(A, 10, 4)] }),
      delta({ entries: [e(replicaId('agent-3'), 1, 0)] }),
      delta({ entries: [e(B, 0, 0, S, sku('SKU-C')), e(B, 1, 0, S, sku('SKU-C'))] }),
      delta({ transfers: [t(HUB, A, 7)] }),
      delta({ transfers: [t(A, HUB, 1)] }),
      delta({ transfers: [t(B, A, 1)] }),
      delta({ reservations: [r('r1', { status: 'released' })] }),
      delta({ reservations: [r('r1', { status: 'committed' })] }),
      delta({ reservations: [r('r9')] }),
    ];
    const seen = new Set([base]);
    for (const v of variants) {
      const st = fromDelta(BASE);
      st.applyDelta(v);
      const d = st.digest(S);
      expect(d, JSON.stringify(v)).not.toBe(base);
      seen.add(d);
    }
    expect(seen.size).toBe(variants.length + 1);
    // fields that cannot change by merge still change the digest of a state built from them
    const qty = BASE.reservations.map((x) => (x.id === 'r1' ? { ...x, qty: 3 } : x));
    const exp = BASE.reservations.map((x) => (x.id === 'r1' ? { ...x, expiresAt: x.expiresAt + 1 } : x));
    const owner = BASE.reservations.map((x) => (x.id === 'r1' ? { ...x, owner: HUB } : x));
    const ofSku = BASE.reservations.map((x) => (x.id === 'r1' ? { ...x, sku: K2 } : x));
    for (const rs of [qty, exp, owner, ofSku]) expect(fromDelta({ ...BASE, reservations: rs }).digest(S)).not.toBe(base);
  });

  it('of one store ignores every other store', () => {
    const st = fromDelta(BASE);
    const d1 = st.digest(S);
    const d2 = st.digest(S2);
    st.applyDelta(delta({ entries: [e(B, 9, 9, S2)], transfers: [t(A, HUB, 3, S2)], reservations: [r('x9', { store: S2 })] }));
    expect(st.digest(S)).toBe(d1);
    expect(st.digest(S2)).not.toBe(d2);
  });
});

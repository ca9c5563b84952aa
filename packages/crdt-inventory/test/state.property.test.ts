import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InventoryState, isEmptyDelta, type Delta } from '../src/index.js';
import {
  actionsArb,
  canonical,
  copyOf,
  Dice,
  diceSeedArb,
  expectSameState,
  fcParams,
  joinAll,
  replicaIndexArb,
  STORES,
  stateFromDeltas,
  World,
  type Action,
} from './arbitraries.js';

function runWorld(actions: Action[]): World {
  const w = new World();
  for (const a of actions) w.act(a);
  return w;
}

/**
 * Three (generally overlapping, generally different) states built from a
 * random run: each is a random subset of all deltas produced, optionally
 * joined with one replica's full state. Subsets keep older versions of entries
 * next to newer ones, so the max-merge is really exercised.
 */
const threeStatesArb = fc.record({ actions: actionsArb({ force: true }), seed: diceSeedArb }).map(({ actions, seed }) => {
  const w = runWorld(actions);
  const dice = new Dice(seed);
  const deltas = w.log.map((l) => l.delta);
  const pick = (): InventoryState => {
    const s = stateFromDeltas(dice.subset(deltas, dice.next()));
    if (dice.chance(0.3)) s.merge(w.replicas[dice.int(w.replicas.length)]!.state);
    return s;
  };
  return { now: w.now, a: pick(), b: pick(), c: pick() };
});

function join(...states: InventoryState[]): InventoryState {
  return joinAll(states);
}

describe('join laws (merge of full states)', () => {
  it('is commutative', () => {
    fc.assert(
      fc.property(threeStatesArb, ({ now, a, b }) => {
        expectSameState(join(a, b), join(b, a), now);
        // applyDelta of toDelta() is the same join as merge().
        const viaDelta = new InventoryState();
        viaDelta.applyDelta(b.toDelta());
        viaDelta.applyDelta(a.toDelta());
        expectSameState(join(a, b), viaDelta, now);
      }),
      fcParams,
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(threeStatesArb, ({ now, a, b, c }) => {
        const left = copyOf(a);
        left.merge(b);
        left.merge(c);
        const bc = copyOf(b);
        bc.merge(c);
        const right = copyOf(a);
        right.merge(bc);
        expectSameState(left, right, now);
        // merging in place (into a that already holds data) equals joining into a fresh state
        expectSameState(left, join(c, b, a), now);
      }),
      fcParams,
    );
  });

  it('is idempotent, and a repeated join changes nothing', () => {
    fc.assert(
      fc.property(threeStatesArb, ({ now, a, b }) => {
        const a2 = copyOf(a);
        expectSameState(a2, a, now);
        const seq = a2.seq;
        expect(isEmptyDelta(a2.merge(a))).toBe(true);
        expect(isEmptyDelta(a2.merge(a2))).toBe(true);
        expect(a2.seq).toBe(seq);
        expectSameState(a2, a, now);

        const ab = join(a, b);
        const before = canonical(ab.toDelta());
        expect(isEmptyDelta(ab.merge(a))).toBe(true);
        expect(isEmptyDelta(ab.merge(b))).toBe(true);
        expect(canonical(ab.toDelta())).toEqual(before);
      }),
      fcParams,
    );
  });

  it('is an upper bound: a join contains every entry of both sides at least as large', () => {
    fc.assert(
      fc.property(threeStatesArb, ({ a, b }) => {
        const ab = join(a, b);
        // a ⊔ b ⊒ a: joining a into a ⊔ b is a no-op, and a ⊔ b changed a unless b ⊑ a.
        const effective = copyOf(a).merge(b);
        const bIntoA = isEmptyDelta(effective);
        expect(isEmptyDelta(copyOf(ab).merge(a))).toBe(true);
        expect(canonical(ab.toDelta()).join('\n') === canonical(a.toDelta()).join('\n')).toBe(bIntoA);
      }),
      fcParams,
    );
  });
});

describe('delivery of deltas', () => {
  it('any order, with duplicates, losses, resends, batching or full-state repair, converges to in-order delivery', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), diceSeedArb, (actions, seed) => {
        const w = runWorld(actions);
        const dice = new Dice(seed);
        const deltas = w.log.map((l) => l.delta);
        const reference = stateFromDeltas(deltas);
        // In-order delivery of every replica's deltas is the join of all replicas.
        expectSameState(reference, w.joined(), w.now);

        const idx = deltas.map((_, i) => i);
        const order = dice.shuffle(idx);
        const lost = new Set(dice.subset(idx, dice.next() * 0.5));
        type Item = { kind: 'delta'; i: number } | { kind: 'full'; replica: number };
        const items: Item[] = order.filter((i) => !lost.has(i)).map((i) => ({ kind: 'delta' as const, i }));
        // duplicates, anywhere
        for (const d of dice.subset(idx, 0.3)) items.splice(dice.int(items.length + 1), 0, { kind: 'delta', i: d });
        // repair: each lost delta is resent later, or its producer's full state is merged
        for (const i of dice.shuffle([...lost])) {
          if (dice.chance(0.5)) items.push({ kind: 'delta', i });
          else items.push({ kind: 'full', replica: w.log[i]!.producer });
        }
        // random batching of consecutive deliveries into one delta
        const batchStarts = new Set(dice.subset(items.map((_, k) => k), dice.next()));
        const receiver = new InventoryState();
        let batch: Delta | null = null;
        const flush = (): void => {
          if (batch !== null) receiver.applyDelta(batch);
          batch = null;
        };
        items.forEach((item, k) => {
          if (item.kind === 'full') {
            flush();
            receiver.merge(w.replicas[item.replica]!.state);
            return;
          }
          if (batchStarts.has(k)) flush();
          const d = deltas[item.i]!;
          batch ??= { entries: [], transfers: [], reservations: [] };
          batch.entries.push(...d.entries);
          batch.transfers.push(...d.transfers);
          batch.reservations.push(...d.reservations);
        });
        flush();
        expectSameState(receiver, reference, w.now);
        // delivering everything once more is a no-op
        for (const d of deltas) expect(isEmptyDelta(receiver.applyDelta(d))).toBe(true);
      }),
      fcParams,
    );
  });

  it('every replica converges to the same state after a full sync, whatever syncs happened before', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), (actions) => {
        const w = runWorld(actions);
        const reference = stateFromDeltas(w.log.map((l) => l.delta));
        w.fullSync();
        for (const r of w.replicas) expectSameState(r.state, reference, w.now);
      }),
      fcParams,
    );
  });

  it('the effective delta returned by applyDelta, replayed on a copy of the receiver, reproduces the receiver', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), replicaIndexArb, (actions, who) => {
        const w = runWorld(actions);
        const into = w.replicas[who]!.state;
        const shadow = copyOf(into);
        for (const { delta } of w.log) {
          const eff = into.applyDelta(delta);
          // Every effective entry is one of the input's
          for (const e of eff.entries) expect(delta.entries).toContain(e);
          shadow.applyDelta(eff);
        }
        expectSameState(shadow, into, w.now);
      }),
      fcParams,
    );
  });
});

describe('changedSince', () => {
  it('applied to a copy that had everything up to seq gives the full state (whole state and per store)', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), actionsArb({ force: true }), replicaIndexArb, (before, after, who) => {
        const w = new World();
        for (const a of before) w.act(a);
        const source = w.replicas[who]!.state;
        const seq = source.seq;
        const copyAll = copyOf(source);
        const copyPerStore = copyOf(source);
        expect(isEmptyDelta(source.changedSince(seq))).toBe(true);
        for (const a of after) w.act(a);

        const catchUp = source.changedSince(seq);
        copyAll.applyDelta(catchUp);
        expectSameState(copyAll, source, w.now);
        for (const st of STORES) copyPerStore.applyDelta(source.changedSince(seq, st));
        expectSameState(copyPerStore, source, w.now);
        // the catch-up never carries more than the full state
        expect(canonical(source.toDelta())).toEqual(expect.arrayContaining(canonical(catchUp)));
        // per-store catch-up only carries that store
        for (const st of STORES) {
          const d = source.changedSince(seq, st);
          for (const e of d.entries) expect(e.store).toBe(st);
          for (const t of d.transfers) expect(t.store).toBe(st);
          for (const r of d.reservations) expect(r.store).toBe(st);
        }
        expect(isEmptyDelta(source.changedSince(source.seq))).toBe(true);
      }),
      fcParams,
    );
  });
});

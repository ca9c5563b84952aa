import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestOf, foldEvents, InventoryState, type InventoryEvent, type ReplicaId } from '../src/index.js';
import {
  actionsArb,
  canonical,
  Dice,
  diceSeedArb,
  expectSameState,
  fcParams,
  ReplicaSim,
  replicaArb,
  stepsArb,
  STORES,
  T0,
  World,
  type Step,
} from './arbitraries.js';

function runAlone(id: ReplicaId, steps: Step[]): { sim: ReplicaSim; now: number } {
  const sim = new ReplicaSim(id);
  let now = T0;
  for (const s of steps) {
    now += s.advance;
    sim.run(s.op, now);
  }
  return { sim, now };
}

/** fold(events) has exactly the replica's own entries. */
function expectFoldMatches(sim: ReplicaSim, folded: InventoryState): void {
  expect(canonical(folded.entriesOf(sim.id))).toEqual(canonical(sim.state.entriesOf(sim.id)));
  for (const st of STORES) {
    expect(digestOf(folded.entriesOf(sim.id, st))).toBe(digestOf(sim.state.entriesOf(sim.id, st)));
  }
}

describe('event fold', () => {
  it('fold(events) of an isolated replica equals its incrementally built state (entries and digest)', () => {
    fc.assert(
      fc.property(replicaArb, stepsArb({ force: true }), (id, steps) => {
        const { sim, now } = runAlone(id, steps);
        const folded = foldEvents(sim.events);
        expectFoldMatches(sim, folded);
        // alone, the replica's state is nothing but its own entries
        for (const st of STORES) expect(folded.digest(st)).toBe(sim.state.digest(st));
        expectSameState(folded, sim.state, now);
        // event log shape: ids and seqs are 1..n in order
        sim.events.forEach((e, i) => {
          expect(e.seq).toBe(i + 1);
          expect(e.id).toBe(`${id}:${i + 1}`);
        });
      }),
      fcParams,
    );
  });

  it('fold is order-independent (shuffled events give the same state)', () => {
    fc.assert(
      fc.property(replicaArb, stepsArb({ force: true }), diceSeedArb, (id, steps, seed) => {
        const { sim, now } = runAlone(id, steps);
        const shuffled = new Dice(seed).shuffle(sim.events);
        expectSameState(foldEvents(shuffled), foldEvents(sim.events), now);
      }),
      fcParams,
    );
  });

  it('with partitions and syncs: each replica’s entries are the fold of its own log; all logs folded, in any order, equal the joined state', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), diceSeedArb, (actions, seed) => {
        const w = new World();
        for (const a of actions) w.act(a);
        for (const sim of w.replicas) expectFoldMatches(sim, foldEvents(sim.events));
        const all: InventoryEvent[] = new Dice(seed).shuffle(w.allEvents());
        expectSameState(foldEvents(all), w.joined(), w.now);
        // folding into an existing state: replica logs one after another into one state
        const into = new InventoryState();
        for (const sim of w.replicas) foldEvents(sim.events, into);
        expectSameState(into, w.joined(), w.now);
      }),
      fcParams,
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { availability, onHand, rights, type InventoryState } from '../src/index.js';
import { actionsArb, check, expectSameState, fcParams, REPLICAS, SKUS, STORES, World, type OpOutcome } from './arbitraries.js';

/** Σ_r rights(r) over the replica pool, on one state. */
function sumRights(s: InventoryState, store: (typeof STORES)[number], sku: (typeof SKUS)[number], now: number): number {
  let sum = 0;
  for (const r of REPLICAS) sum += rights(s, store, sku, r, now);
  return sum;
}

/** Units in every active hold on a counter, lapsed or not: what Σ rights subtracts. */
function activeHeld(s: InventoryState, store: (typeof STORES)[number], sku: (typeof SKUS)[number]): number {
  let held = 0;
  for (const r of s.reservations()) if (r.store === store && r.sku === sku && r.status === 'active') held += r.qty;
  return held;
}

/**
 * The outcome of an op that needs rights agrees with the rights the replica
 * saw on its own state just before: refused exactly when short, and (when
 * it ran) rights moved by exactly the quantity.
 */
function expectOutcomeMatchesRights(out: OpOutcome): void {
  const { op } = out;
  switch (op.kind) {
    case 'decrement': {
      const before = out.rightsBefore!;
      const short = before < op.qty;
      if (op.force) {
        expect(out.ok).toBe(true);
        expect(out.forced).toBe(short);
      } else if (short) {
        expect(out.ok).toBe(false);
        expect(out.refusal).toMatchObject({ code: 'insufficient_rights', rights: before, requested: op.qty });
      } else {
        expect(out.ok).toBe(true);
        expect(out.forced).toBe(false);
      }
      if (out.ok) expect(out.rightsAfter).toBe(before - op.qty);
      break;
    }
    case 'transfer':
    case 'reserve': {
      const before = out.rightsBefore!;
      if (op.kind === 'transfer' && out.refusal?.code === 'same_replica') break;
      expect(out.ok).toBe(before >= op.qty);
      if (out.ok) expect(out.rightsAfter).toBe(before - op.qty);
      else expect(out.refusal).toMatchObject({ code: 'insufficient_rights', rights: before });
      break;
    }
    case 'increment':
      expect(out.ok).toBe(true);
      expect(out.rightsAfter).toBe(out.rightsBefore! + op.qty);
      break;
    case 'commit':
      // commit turns a hold into a sale: rights do not move
      if (out.ok) expect(out.rightsAfter).toBe(out.rightsBefore);
      break;
    case 'release':
      if (out.ok) {
        // an unexpired hold gives its units back; an expired one already had
        const rec = out.delta.reservations[0]!;
        expect(out.rightsAfter).toBe(out.rightsBefore! + (rec.expiresAt <= out.now ? 0 : rec.qty));
      }
      break;
    case 'expire':
      break;
  }
}

/** Checks that must hold after any step; `forced` allows deficits up to the forced totals. */
function checkStep(w: World, forced: boolean): void {
  const now = w.now;
  const truth = w.joined();
  const totalForced = w.replicas.reduce((s, r) => s + r.forcedQty, 0);
  for (const store of STORES) {
    for (const sku of SKUS) {
      const at = `${store}/${sku} at ${now}`;
      // On each replica's own state its rights never go below −(what it force-sold).
      for (const r of w.replicas) {
        const own = rights(r.state, store, sku, r.id, now);
        const floor = forced ? -r.forcedQty : 0;
        check(own >= floor, () => `rights(${r.id}) on its own state = ${own} < ${floor}, ${at}`);
      }
      // What a full sync right now would show.
      const a = availability(truth, store, sku, now);
      const sum = sumRights(truth, store, sku, now);
      const active = activeHeld(truth, store, sku);
      check(sum === a.onHand - active, () => `Σ rights ${sum} ≠ onHand ${a.onHand} − active holds ${active}, ${at}`);
      check(active >= a.held, () => `active holds ${active} < shown held ${a.held}, ${at}`);
      check(a.held >= 0, () => `held ${a.held} < 0, ${at}`);
      const floor = forced ? -totalForced : 0;
      check(a.onHand - a.held >= floor, () => `onHand ${a.onHand} − held ${a.held} < ${floor}, ${at}`);
    }
  }
}

function checkFullSync(w: World, forced: boolean): void {
  const now = w.now;
  const ownRights = new Map<string, number>();
  for (const r of w.replicas) {
    for (const store of STORES) for (const sku of SKUS) ownRights.set(`${r.id} ${store} ${sku}`, rights(r.state, store, sku, r.id, now));
  }
  w.fullSync();
  const first = w.replicas[0]!.state;
  const totalForced = w.replicas.reduce((s, r) => s + r.forcedQty, 0);
  for (const r of w.replicas) expectSameState(r.state, first, now);
  for (const store of STORES) {
    for (const sku of SKUS) {
      const h = onHand(first, store, sku);
      const a = availability(first, store, sku, now);
      expect(a.onHand).toBe(h);
      if (forced) expect(h).toBeGreaterThanOrEqual(-totalForced);
      else expect(h).toBeGreaterThanOrEqual(0);
      expect(sumRights(first, store, sku, now)).toBe(h - activeHeld(first, store, sku));
      for (const r of w.replicas) {
        // A sync only adds incoming transfers to r's view of its own rights.
        expect(rights(first, store, sku, r.id, now)).toBeGreaterThanOrEqual(ownRights.get(`${r.id} ${store} ${sku}`)!);
      }
    }
  }
}

describe('bounded-counter invariant under partitions', () => {
  it('non-forced histories: own rights ≥ 0 at every step; after full sync on-hand ≥ 0 and Σ rights = on-hand − held', () => {
    fc.assert(
      fc.property(actionsArb({ force: false }), (actions) => {
        const w = new World();
        for (const a of actions) {
          const out = w.act(a);
          if (out !== undefined) {
            expectOutcomeMatchesRights(out);
            expect(out.forced ?? false).toBe(false);
          }
          checkStep(w, false);
        }
        expect(w.replicas.every((r) => r.forcedQty === 0)).toBe(true);
        checkFullSync(w, false);
      }),
      fcParams,
    );
  });

  it('with forced sales: on-hand goes below zero by at most the forced total, and forced is returned exactly when rights were short', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), (actions) => {
        const w = new World();
        for (const a of actions) {
          const out = w.act(a);
          if (out !== undefined) expectOutcomeMatchesRights(out);
          checkStep(w, true);
        }
        checkFullSync(w, true);
      }),
      fcParams,
    );
  });

  it('a forced sale is the only way to a deficit: replaying a forced history without force never goes negative', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), (actions) => {
        const stripped = actions.map((a) =>
          a.kind === 'local' && a.step.op.kind === 'decrement' ? { ...a, step: { ...a.step, op: { ...a.step.op, force: false } } } : a,
        );
        const w = new World();
        for (const a of stripped) {
          const out = w.act(a);
          if (out?.op.kind === 'decrement') expect(out.forced ?? false).toBe(false);
        }
        const truth = w.joined();
        for (const store of STORES) {
          for (const sku of SKUS) {
            for (const r of REPLICAS) expect(rights(truth, store, sku, r, w.now)).toBeGreaterThanOrEqual(0);
            expect(availability(truth, store, sku, w.now).availableRaw).toBeGreaterThanOrEqual(0);
          }
        }
      }),
      fcParams,
    );
  });
});

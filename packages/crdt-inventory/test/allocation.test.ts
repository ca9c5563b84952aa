import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkAllocationRule,
  createReservation,
  decrement,
  hubExcess,
  increment,
  InventoryState,
  onlineTarget,
  replicaId,
  reservationId,
  rights,
  ruleFor,
  sellable,
  sku,
  storeHandover,
  storeId,
  transferRights,
  unwrap,
  type AllocationRule,
} from '../src/index.js';

const S = storeId('store-1');
const K = sku('SKU-A');
const A = replicaId('agent-1');
const HUB = replicaId('hub');
const NOW = Date.UTC(2025, 0, 1);
const runs = Number(process.env.FC_RUNS ?? 1_000);

const ruleArb: fc.Arbitrary<AllocationRule> = fc.oneof(
  fc.double({ min: 0, max: 1, noNaN: true }).map((share) => ({ mode: 'share' as const, share })),
  fc.nat(1_000).map((units) => ({ mode: 'units' as const, units })),
  fc.nat(1_000).map((keep) => ({ mode: 'keep' as const, keep })),
  fc.constant({ mode: 'none' as const }),
);

describe('onlineTarget', () => {
  it('follows each mode', () => {
    expect(onlineTarget({ mode: 'share', share: 0.3 }, 10)).toBe(3);
    expect(onlineTarget({ mode: 'share', share: 0.3 }, 9)).toBe(2);
    expect(onlineTarget({ mode: 'share', share: 1 }, 7)).toBe(7);
    expect(onlineTarget({ mode: 'units', units: 5 }, 3)).toBe(3);
    expect(onlineTarget({ mode: 'units', units: 5 }, 30)).toBe(5);
    expect(onlineTarget({ mode: 'keep', keep: 4 }, 10)).toBe(6);
    expect(onlineTarget({ mode: 'keep', keep: 4 }, 3)).toBe(0);
    expect(onlineTarget({ mode: 'none' }, 100)).toBe(0);
    expect(onlineTarget({ mode: 'units', units: 5 }, -2)).toBe(0);
  });

  it('stays within 0..sellable and is monotone in sellable (property)', () => {
    fc.assert(
      fc.property(ruleArb, fc.integer({ min: -50, max: 5_000 }), fc.nat(500), (rule, s, more) => {
        const t = onlineTarget(rule, s);
        expect(Number.isInteger(t)).toBe(true);
        expect(t).toBeGreaterThanOrEqual(0);
        expect(t).toBeLessThanOrEqual(Math.max(0, s));
        expect(onlineTarget(rule, s + more)).toBeGreaterThanOrEqual(t);
      }),
      { numRuns: runs },
    );
  });
});

describe('rules and policies', () => {
  it('checks rules', () => {
    expect(checkAllocationRule({ mode: 'share', share: 0.3 })).toBeNull();
    expect(checkAllocationRule({ mode: 'units', units: 0 })).toBeNull();
    expect(checkAllocationRule({ mode: 'keep', keep: 2 })).toBeNull();
    expect(checkAllocationRule({ mode: 'none' })).toBeNull();
    for (const bad of [null, {}, { mode: 'share', share: 1.5 }, { mode: 'share', share: -0.1 }, { mode: 'units', units: 1.5 }, { mode: 'keep', keep: -1 }, { mode: 'none', x: 1 }, { mode: 'all' }]) {
      expect(checkAllocationRule(bad), JSON.stringify(bad)).not.toBeNull();
    }
  });

  it('a SKU override beats the default', () => {
    const p = { default: { mode: 'share', share: 0.5 } as AllocationRule, skus: { [K]: { mode: 'none' } as AllocationRule } };
    expect(ruleFor(p, K)).toEqual({ mode: 'none' });
    expect(ruleFor(p, 'OTHER')).toEqual({ mode: 'share', share: 0.5 });
    expect(ruleFor(p, 'toString')).toEqual({ mode: 'share', share: 0.5 });
  });
});

describe('hand-over and give-back', () => {
  it('sellable is on hand minus active holds; the store hands over what it may not keep', () => {
    const s = new InventoryState();
    unwrap(increment(s, { store: S, sku: K, replica: A, qty: 10 }));
    unwrap(createReservation(s, { id: reservationId('h1'), store: S, sku: K, owner: A, qty: 2, expiresAt: NOW + 1000, now: NOW }));
    expect(sellable(s, S, K)).toBe(8);
    const rule: AllocationRule = { mode: 'share', share: 0.5 };
    expect(storeHandover(s, S, K, A, rule)).toBe(4);
    unwrap(transferRights(s, { store: S, sku: K, from: A, to: HUB, qty: 4, now: NOW }));
    expect(storeHandover(s, S, K, A, rule)).toBe(0);
    expect(hubExcess(s, S, K, HUB, A, rule)).toBe(0);
    // The store sells its own 4: sellable 4, target 2, the hub gives 2 back.
    unwrap(decrement(s, { store: S, sku: K, replica: A, qty: 4, now: NOW }));
    expect(hubExcess(s, S, K, HUB, A, rule)).toBe(2);
    expect(storeHandover(s, S, K, A, { mode: 'none' })).toBe(0);
    expect(hubExcess(s, S, K, HUB, A, { mode: 'none' })).toBe(4);
  });

  it('after both sides act, the online side holds exactly the target and never both move (property)', () => {
    fc.assert(
      fc.property(ruleArb, fc.nat(200), fc.nat(200), (rule, agentStock, hubShare) => {
        const s = new InventoryState();
        if (agentStock > 0) unwrap(increment(s, { store: S, sku: K, replica: A, qty: agentStock }));
        const give = Math.min(hubShare, agentStock);
        if (give > 0) unwrap(transferRights(s, { store: S, sku: K, from: A, to: HUB, qty: give, now: NOW }));
        const out = storeHandover(s, S, K, A, rule);
        const back = hubExcess(s, S, K, HUB, A, rule);
        expect(out === 0 || back === 0).toBe(true);
        if (out > 0) unwrap(transferRights(s, { store: S, sku: K, from: A, to: HUB, qty: out, now: NOW }));
        if (back > 0) unwrap(transferRights(s, { store: S, sku: K, from: HUB, to: A, qty: back, now: NOW }));
        expect(rights(s, S, K, HUB)).toBe(onlineTarget(rule, sellable(s, S, K)));
        expect(storeHandover(s, S, K, A, rule)).toBe(0);
        expect(hubExcess(s, S, K, HUB, A, rule)).toBe(0);
      }),
      { numRuns: runs },
    );
  });
});

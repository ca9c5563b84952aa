/**
 * StockSums keeps per-SKU sums by difference. On random runs of figures put
 * (whole numbers, fractions, NaN, huge and negative values, with holds or
 * not; for counters that do not exist too), cells made stale and counters
 * appearing without figures: whenever
 * `usable` answers, its sums plus the stores with holds are exactly what a
 * walk of every store in order sums, and it answers whenever every store
 * (one at least) has fresh, exact figures.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Sku, StoreId } from '@scoville/crdt-inventory';
import { StockSums } from '../../src/alerts/stock-sums.js';

const runs = Number(process.env.FC_RUNS ?? 1_000);
const STORES = ['s1', 's2', 's3', 's4'] as StoreId[];
const SKUS = ['K1', 'K2'] as Sku[];

const value = fc.oneof(
  { weight: 8, arbitrary: fc.nat(20) },
  { weight: 3, arbitrary: fc.constantFrom(0.1, 0.7, 2.3, 1e-9) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -3, 2 ** 40, 2 ** 31) },
);

type Step =
  /** `exists`: the counter exists by then (else figures of a counter that does not: an open alert's). */
  | { kind: 'put'; store: number; sku: number; available: number; threshold: number | null; holds: boolean; exists: boolean }
  | { kind: 'stale'; store: number; sku: number }
  /** A counter appears that no check computed yet (a transfer created it). */
  | { kind: 'counter'; store: number; sku: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      store: fc.nat(3),
      sku: fc.nat(1),
      available: value,
      threshold: fc.option(value, { nil: null }),
      holds: fc.boolean(),
      exists: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('stale' as const), store: fc.nat(3), sku: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('counter' as const), store: fc.nat(3), sku: fc.nat(1) }) },
);

interface Figures {
  available: number;
  threshold: number | null;
  fresh: boolean;
}

describe('StockSums', () => {
  it('answers exactly what a walk of every store sums, whenever every store is fresh and exact', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60, size: 'max' }), (steps) => {
        // The counters (their holds change in place, as InventoryState's) and, per SKU, its stores in the order their counters appeared (as HubState.storesOf).
        const counters = new Map<string, { holds: unknown[] | null }>();
        const sums = new StockSums((s, k) => counters.get(`${s}|${k}`));
        const stores = new Map<Sku, StoreId[]>();
        const figures = new Map<string, Figures>();
        const storesOf = (k: Sku) => stores.get(k) ?? [];
        const appear = (s: StoreId, k: Sku) => {
          if (!counters.has(`${s}|${k}`)) counters.set(`${s}|${k}`, { holds: null });
          if (!storesOf(k).includes(s)) stores.set(k, [...storesOf(k), s]);
        };
        for (const st of steps) {
          const s = STORES[st.store]!;
          const k = SKUS[st.sku]!;
          if (st.kind === 'put') {
            if (st.exists) {
              appear(s, k);
              counters.get(`${s}|${k}`)!.holds = st.holds ? [{}] : null;
            }
            sums.put(sums.cell(s, k), st.available, st.threshold);
            if (counters.has(`${s}|${k}`)) figures.set(`${s}|${k}`, { available: st.available, threshold: st.threshold, fresh: true });
          } else if (st.kind === 'stale') {
            sums.stale(sums.cell(s, k));
            const f = figures.get(`${s}|${k}`);
            if (f) f.fresh = false;
          } else appear(s, k);

          for (const sku of SKUS) {
            const all = storesOf(sku).map((x) => figures.get(`${x}|${sku}`));
            const v = sums.usable(sku, all.length);
            const exactly = (n: number) => Number.isInteger(n) && Math.abs(n) <= 0x7fffffff;
            const ready = all.every((f) => f !== undefined && f.fresh && exactly(f.available) && (f.threshold === null || exactly(f.threshold)));
            // A SKU with no store may answer or not: zero either way.
            if (all.length > 0) expect(v !== null).toBe(ready);
            if (v === null) continue;
            let available = 0;
            let threshold: number | null = null;
            for (const f of all) {
              available += f!.available;
              if (f!.threshold !== null) threshold = (threshold ?? 0) + f!.threshold;
            }
            const held = [...(v.held ?? [])];
            expect(held.sort()).toEqual(storesOf(sku).filter((x) => counters.get(`${x}|${sku}`)!.holds !== null).sort());
            // The stores with holds are read afresh by OpsAlerts; here their figures are as put.
            expect(held.reduce((a, x) => a + figures.get(`${x}|${sku}`)!.available, v.available)).toBe(available);
            expect(v.thresholds > 0 ? v.threshold : null).toBe(threshold);
          }
        }
      }),
      { numRuns: runs },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Delta, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';
import { HubState, splitByStore } from '../../src/state/hub-state.js';
import { delta, entry, hold, transfer } from '../store/fixtures.js';

const st = (s: string) => s as StoreId;
const k = (s: string) => s as Sku;
const A = 'a1' as ReplicaId;
const B = 'b1' as ReplicaId;
const sorted = (xs: readonly string[]) => [...xs].sort();

describe('HubState.storesOf', () => {
  it('lists the stores with a counter for a SKU, and keeps up with counters created later', () => {
    const h = new HubState();
    h.apply(delta({ entries: [entry(st('s1'), k('K1'), A, 5, 0), entry(st('s2'), k('K1'), A, 1, 0), entry(st('s2'), k('K2'), B, 2, 1)] }));
    expect(sorted(h.storesOf(k('K1')))).toEqual(['s1', 's2']);
    expect(sorted(h.storesOf(k('K2')))).toEqual(['s2']);
    expect(h.storesOf(k('NONE'))).toEqual([]);

    // New counters by entry (twice in one delta), by transfer and by hold; known ones and all-zero entries add nothing.
    h.apply(
      delta({
        entries: [entry(st('s3'), k('K1'), A, 1, 0), entry(st('s3'), k('K1'), B, 2, 0), entry(st('s1'), k('K1'), A, 9, 0), entry(st('s4'), k('K1'), A, 0, 0)],
        transfers: [transfer(st('s5'), k('K2'), A, B, 3)],
        reservations: [{ ...hold('r1', 'active'), store: st('s6'), sku: k('K3') }],
      }),
    );
    expect(sorted(h.storesOf(k('K1')))).toEqual(['s1', 's2', 's3']);
    expect(sorted(h.storesOf(k('K2')))).toEqual(['s2', 's5']);
    expect(sorted(h.storesOf(k('K3')))).toEqual(['s6']);
    // The same as a scan of the whole state.
    for (const sku of ['K1', 'K2', 'K3']) {
      const scan = h.state.storeIds().filter((s) => h.state.counter(s, k(sku)) !== undefined);
      expect(sorted(h.storesOf(k(sku)))).toEqual(sorted(scan));
    }
  });

  it('tells listeners what changed, split by store', () => {
    const h = new HubState();
    const heard: string[] = [];
    h.onChange((changes) => heard.push(...changes.map((c) => `${c.store}:${c.delta.entries.length}`)));
    h.apply(delta({ entries: [entry(st('s1'), k('K1'), A, 5, 0), entry(st('s2'), k('K1'), A, 1, 0), entry(st('s2'), k('K2'), A, 1, 0)] }));
    h.apply(delta({ entries: [entry(st('s1'), k('K1'), A, 5, 0)] })); // nothing new: not heard
    expect(heard).toEqual(['s1:1', 's2:2']);
  });
});

describe('splitByStore', () => {
  it('groups every item by store, stores in first-seen order (entries, then transfers, then holds), items in order', () => {
    const store = fc.constantFrom(st('s1'), st('s2'), st('s3'));
    const n = fc.nat(9);
    fc.assert(
      fc.property(
        fc.array(fc.record({ store, n }), { maxLength: 12 }),
        fc.array(fc.record({ store, n }), { maxLength: 4 }),
        fc.array(fc.record({ store, n }), { maxLength: 4 }),
        (es, ts, rs) => {
          const d: Delta = delta({
            entries: es.map((e) => entry(e.store, k('K1'), A, e.n, 0)),
            transfers: ts.map((t) => transfer(t.store, k('K1'), A, B, t.n + 1)),
            reservations: rs.map((r) => ({ ...hold(`r${r.n}`, 'active'), store: r.store })),
          });
          // The plain grouping: one lookup per item.
          const by = new Map<StoreId, Delta>();
          const of = (s: StoreId) => by.get(s) ?? by.set(s, delta({})).get(s)!;
          for (const e of d.entries) of(e.store).entries.push(e);
          for (const t of d.transfers) of(t.store).transfers.push(t);
          for (const r of d.reservations) of(r.store).reservations.push(r);
          expect(splitByStore(d)).toEqual([...by].map(([s, x]) => ({ store: s, delta: x })));
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 1_000) },
    );
  });
});

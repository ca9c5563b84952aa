/**
 * Regressions for the defects an independent model check found (items 2–7):
 * clocks stepping back, non-finite times, untrusted deltas, reservation id
 * collisions, out-of-order delivery and exactness of totals.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as inv from '../src/index.js';
import {
  availability,
  commitReservation,
  createReservation,
  decrement,
  expireReservations,
  increment,
  InventoryState,
  onHand,
  releaseReservation,
  replicaId,
  reservationId,
  rights,
  sku,
  storeId,
  transferRights,
  unwrap,
  type Delta,
} from '../src/index.js';
import { actionsArb, Dice, diceSeedArb, fcParams, REPLICAS, SKUS, STORES, stateFromDeltas, World, type Action } from './arbitraries.js';

const S = storeId('store-1');
const K = sku('SKU-A');
const A = replicaId('agent-1');
const B = replicaId('agent-2');
const H = reservationId('cart-1');
const H2 = reservationId('cart-2');
// Loosely typed views of exports this file checks exist (so each test fails on its own before the fix).
const lib = inv as unknown as Record<string, unknown>;
const MAX_TOTAL = (): number => lib.MAX_TOTAL as number;
const validateDelta = (d: unknown): string | null => (lib.validateDelta as (d: unknown) => string | null)(d);
const reservationOf = (st: InventoryState, owner: string, id: string) =>
  (st.reservation as unknown as (o: string, i: string) => inv.ReservationRecord | undefined).call(st, owner, id);

function oneUnit(): InventoryState {
  const st = new InventoryState();
  unwrap(increment(st, { store: S, sku: K, replica: A, qty: 1 }));
  return st;
}

describe('2: expiry is recorded, so a clock stepping back cannot resurrect a hold', () => {
  it('the model check’s trace: a hold whose unit was re-sold after expiry cannot be committed at an earlier now', () => {
    const st = oneUnit();
    unwrap(createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    const sale = unwrap(decrement(st, { store: S, sku: K, replica: A, qty: 1, now: 1000 }));
    expect(sale.forced).toBe(false);
    // the sale recorded the expiry it relied on, in its own delta
    expect(sale.delta.reservations).toEqual([expect.objectContaining({ id: H, owner: A, status: 'expired' })]);
    const res = commitReservation(st, { id: H, by: A, now: 999 });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('reservation_expired');
    expect(onHand(st, S, K)).toBe(0);
  });

  it('two holds on one unit cannot both be committed', () => {
    const st = oneUnit();
    unwrap(createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    const second = unwrap(createReservation(st, { id: H2, store: S, sku: K, owner: A, qty: 1, expiresAt: 5000, now: 1000 }));
    expect(second.delta.reservations.map((r) => [r.id, r.status])).toEqual([
      ['cart-1', 'expired'],
      ['cart-2', 'active'],
    ]);
    const c1 = commitReservation(st, { id: H, by: A, now: 999 });
    const c2 = commitReservation(st, { id: H2, by: A, now: 999 });
    expect([c1.ok, c2.ok]).toEqual([false, true]);
    expect(onHand(st, S, K)).toBe(0);
  });

  it('a transfer records the expiry of the giver’s lapsed holds before it decides', () => {
    const st = oneUnit();
    unwrap(createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    const t = unwrap(transferRights(st, { store: S, sku: K, from: A, to: B, qty: 1, now: 2000 }));
    expect(t.delta.reservations).toEqual([expect.objectContaining({ id: H, status: 'expired' })]);
    expect(commitReservation(st, { id: H, by: A, now: 10 }).ok).toBe(false);
  });

  it('rights count every active hold whatever the time; availability (display) leaves out lapsed ones', () => {
    const st = oneUnit();
    unwrap(createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    expect(rights(st, S, K, A, 5000)).toBe(0);
    expect(availability(st, S, K, 5000)).toMatchObject({ onHand: 1, held: 0, available: 1 });
    // a refused op records nothing, not even the expiry
    const refused = decrement(st, { store: S, sku: K, replica: A, qty: 2, now: 5000 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.refusal).toMatchObject({ code: 'insufficient_rights', rights: 1 });
    expect(reservationOf(st, A, H)?.status).toBe('active');
  });

  it('expireReservations records expired (not released); commit of a recorded expiry is reservation_expired', () => {
    const st = oneUnit();
    unwrap(createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    const d = expireReservations(st, A, 1000);
    expect(d.reservations.map((r) => r.status)).toEqual(['expired']);
    expect(rights(st, S, K, A, 0)).toBe(1);
    const res = commitReservation(st, { id: H, by: A, now: 10 });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('reservation_expired');
    // release of an expired hold: closed, nothing to give back
    const rel = releaseReservation(st, { id: H, by: A });
    expect(rel.ok).toBe(false);
  });

  it('expired merges between active and released: active 0 < expired 1 < released 2 < committed 3', () => {
    expect((['active', 'expired', 'released', 'committed'] as inv.ReservationStatus[]).map(inv.statusRank)).toEqual([0, 1, 2, 3]);
  });

  it('property: with a clock that jumps both ways, on hand never goes below zero without a forced sale', () => {
    const jumps = fc.array(fc.integer({ min: -30 * 60_000, max: 30 * 60_000 }), { minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(actionsArb({ force: false }), jumps, (actions, js) => {
        const w = new World();
        actions.forEach((a, i): void => {
          const jumped: Action = a.kind === 'local' ? { ...a, step: { ...a.step, advance: js[i % js.length]! } } : a;
          const out = w.act(jumped);
          if (out !== undefined) expect(out.forced ?? false).toBe(false);
          const truth = w.joined();
          for (const store of STORES) {
            for (const k of SKUS) {
              expect(onHand(truth, store, k)).toBeGreaterThanOrEqual(0);
              // committed sales of each replica never exceed what it was given
              for (const r of REPLICAS) expect(rights(truth, store, k, r, w.now)).toBeGreaterThanOrEqual(0);
            }
          }
        });
      }),
      // It checks the invariant after every action (a full join each time): a quarter of the
      // runs keeps the file near 10 s on two busy cores; FC_RUNS raises it with the others.
      { ...fcParams, numRuns: Math.max(50, Math.ceil(fcParams.numRuns / 4)) },
    );
  });
});

describe('3: non-finite or negative times are refused (invalid_time)', () => {
  const bad = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 1.5];
  it.each(bad)('createReservation refuses expiresAt %s', (expiresAt) => {
    const st = oneUnit();
    const res = createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt, now: 0 });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('invalid_time');
    expect(reservationOf(st, A, H)).toBeUndefined();
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('operations refuse now = %s', (now) => {
    const st = oneUnit();
    unwrap(createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: 5 }));
    const results = [
      decrement(st, { store: S, sku: K, replica: A, qty: 1, now }),
      decrement(st, { store: S, sku: K, replica: A, qty: 1, now, force: true }),
      createReservation(st, { id: H2, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now }),
      transferRights(st, { store: S, sku: K, from: A, to: B, qty: 1, now }),
      commitReservation(st, { id: H, by: A, now }),
    ];
    for (const r of results) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.refusal.code).toBe('invalid_time');
    }
    expect(inv.isEmptyDelta(expireReservations(st, A, now))).toBe(true);
    expect(onHand(st, S, K)).toBe(6);
  });
});

describe('4: applyDelta never stores an invalid entry, and validateDelta says why', () => {
  const entry = { store: S, sku: K, replica: A, p: 3, n: 1 };
  const transfer = { store: S, sku: K, from: A, to: B, amount: 2 };
  const rec = { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, status: 'active' as const };
  const only = (d: Partial<Delta>): Delta => ({ entries: [], transfers: [], reservations: [], ...d });
  const bads: [string, Delta][] = [
    ...[Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, 1e12 + 1].flatMap((v): [string, Delta][] => [
      [`p=${v}`, only({ entries: [{ ...entry, p: v }] })],
      [`n=${v}`, only({ entries: [{ ...entry, n: v }] })],
      [`T=${v}`, only({ transfers: [{ ...transfer, amount: v }] })],
      [`qty=${v}`, only({ reservations: [{ ...rec, qty: v }] })],
    ]),
    ...[Number.NaN, Number.NEGATIVE_INFINITY, -5, 0.5].map((v): [string, Delta] => [`expiresAt=${v}`, only({ reservations: [{ ...rec, expiresAt: v }] })]),
    ['qty=0', only({ reservations: [{ ...rec, qty: 0 }] })],
    ['status=bogus', only({ reservations: [{ ...rec, status: 'bogus' as never }] })],
    ['transfer to itself', only({ transfers: [{ ...transfer, to: A }] })],
  ];

  it.each(bads)('%s is ignored and reported', (_, d) => {
    const st = new InventoryState();
    expect(inv.isEmptyDelta(st.applyDelta(d))).toBe(true);
    expect(inv.isEmptyDelta(st.toDelta())).toBe(true);
    expect(typeof validateDelta(d)).toBe('string');
  });

  it('valid entries next to invalid ones are still applied; a valid delta validates', () => {
    const d = only({ entries: [entry, { ...entry, replica: B, p: Number.NaN }], transfers: [transfer], reservations: [rec] });
    const st = new InventoryState();
    const eff = st.applyDelta(d);
    expect(eff.entries).toEqual([entry]);
    expect(eff.transfers).toEqual([transfer]);
    expect(eff.reservations).toEqual([rec]);
    expect(validateDelta(only({ entries: [entry], transfers: [transfer], reservations: [rec] }))).toBeNull();
    expect(validateDelta(d)).toMatch(/entries\[1\]/);
  });

  it('an invalid entry does not overwrite a stored valid one (Infinity would pin it forever)', () => {
    const st = new InventoryState();
    st.applyDelta(only({ entries: [entry] }));
    expect(st.mergeEntry({ ...entry, p: Number.POSITIVE_INFINITY })).toBe(false);
    expect(st.mergeTransferEntry({ ...transfer, amount: Number.NaN })).toBe(false);
    expect(st.mergeReservation({ ...rec, expiresAt: Number.NaN })).toBe(false);
    expect(onHand(st, S, K)).toBe(2);
  });
});

describe('5: reservations are keyed by (owner, id)', () => {
  it('two replicas creating the same id keep both records, and every replica converges', () => {
    const a = oneUnit();
    const b = new InventoryState();
    unwrap(increment(b, { store: S, sku: K, replica: B, qty: 1 }));
    unwrap(createReservation(a, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    unwrap(createReservation(b, { id: H, store: S, sku: K, owner: B, qty: 1, expiresAt: 2000, now: 0 }));
    a.merge(b);
    b.merge(a);
    expect(a.digest(S)).toBe(b.digest(S));
    expect(reservationOf(a, A, H)?.expiresAt).toBe(1000);
    expect(reservationOf(a, B, H)?.expiresAt).toBe(2000);
    expect(availability(a, S, K, 0).held).toBe(2);
    // commit looks the record up by (by, id)
    unwrap(commitReservation(b, { id: H, by: B, now: 0 }));
    a.merge(b);
    expect(reservationOf(a, B, H)?.status).toBe('committed');
    expect(reservationOf(a, A, H)?.status).toBe('active');
  });
});

describe('6: any delivery order', () => {
  it('rights of an owner known only through its holds are −held, not 0', () => {
    const a = oneUnit();
    const hold = unwrap(createReservation(a, { id: H, store: S, sku: K, owner: A, qty: 1, expiresAt: 1000, now: 0 }));
    const b = new InventoryState();
    b.applyDelta(hold.delta);
    expect(rights(b, S, K, A, 0)).toBe(-1);
    b.merge(a);
    expect(rights(b, S, K, A, 0)).toBe(0);
  });

  it('property: once everything is delivered, in any order, every replica’s rights equal the in-order result', () => {
    fc.assert(
      fc.property(actionsArb({ force: true }), diceSeedArb, (actions, seed) => {
        const w = new World();
        for (const a of actions) w.act(a);
        const deltas = w.log.map((l) => l.delta);
        const inOrder = stateFromDeltas(deltas);
        const shuffled = stateFromDeltas(new Dice(seed).shuffle(deltas));
        for (const store of STORES) {
          for (const k of SKUS) {
            for (const r of REPLICAS) expect(rights(shuffled, store, k, r, w.now)).toBe(rights(inOrder, store, k, r, w.now));
          }
        }
      }),
      fcParams,
    );
  });
});

describe('7: totals are capped at MAX_TOTAL = 10^12, so every sum is exact', () => {
  it('is exported and is 10^12', () => {
    expect(MAX_TOTAL()).toBe(1e12);
  });

  it('operations refuse a cumulative entry past MAX_TOTAL with quantity_overflow', () => {
    const st = new InventoryState();
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: 1e12 }));
    const over = increment(st, { store: S, sku: K, replica: A, qty: 1 });
    expect(over.ok).toBe(false);
    if (!over.ok) expect(over.refusal.code).toBe('quantity_overflow');
    const hold = createReservation(st, { id: H, store: S, sku: K, owner: A, qty: 1e12 + 1, expiresAt: 1000, now: 0 });
    expect(hold.ok).toBe(false);
    if (!hold.ok) expect(hold.refusal.code).toBe('quantity_overflow');
    // forced decrement: N past the cap
    const d = new InventoryState();
    unwrap(decrement(d, { store: S, sku: K, replica: A, qty: 1e12, now: 0, force: true }));
    const more = decrement(d, { store: S, sku: K, replica: A, qty: 1, now: 0, force: true });
    expect(more.ok).toBe(false);
    if (!more.ok) expect(more.refusal.code).toBe('quantity_overflow');
  });

  it('a transfer that would take T past MAX_TOTAL is refused', () => {
    const st = new InventoryState();
    unwrap(increment(st, { store: S, sku: K, replica: A, qty: 1e12 }));
    unwrap(transferRights(st, { store: S, sku: K, from: A, to: B, qty: 1e12, now: 0 }));
    const peer = new InventoryState();
    peer.merge(st);
    unwrap(transferRights(peer, { store: S, sku: K, from: B, to: A, qty: 1e12, now: 0 }));
    st.merge(peer);
    const res = transferRights(st, { store: S, sku: K, from: A, to: B, qty: 1, now: 0 });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.refusal.code).toBe('quantity_overflow');
  });
});

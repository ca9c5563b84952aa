import fc from 'fast-check';
import {
  ADJUSTMENT_REASONS,
  EVENT_TYPES,
  eventIdFor,
  MAX_TOTAL,
  replicaId,
  reservationId,
  sku,
  storeId,
  type CounterEntry,
  type Delta,
  type InventoryEvent,
  type ReplicaId,
  type ReservationRecord,
  type Sku,
  type StoreId,
  type TransferEntry,
} from '@scoville/crdt-inventory';
import { PROTOCOL_VERSION, type Message, type MessageOf, type MessageType } from '../src/index.js';

/** Arbitraries for valid wire messages, shared by the fuzz tests. */

const idText = (maxRest: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,${maxRest}}$`));

export const storeArb = idText(20).map(storeId);
export const skuArb = idText(40).map(sku);
// Short enough that `${replica}:${seq}` stays a valid (≤ 128 chars) event id.
export const replicaArb = idText(40).map(replicaId);
export const reservationIdArb = idText(60).map(reservationId);
export const requestIdArb = idText(60);

const total = fc.maxSafeNat();
const positive = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
/** CRDT totals and quantities are capped at MAX_TOTAL. */
const crdtTotal = fc.integer({ min: 0, max: MAX_TOTAL });
const quantity = fc.integer({ min: 1, max: MAX_TOTAL });
const epochMs = fc.integer({ min: 0, max: 4_102_444_800_000 });
const seq = fc.integer({ min: 1, max: 2 ** 40 });
/** Event text: any printable Unicode (control characters are refused by the schema). */
// eslint-disable-next-line no-control-regex
const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength }).map((s) => s.replace(/[\u0000-\u001f\u007f]/g, '?'));

export const counterEntryArb: fc.Arbitrary<CounterEntry> = fc.record({ store: storeArb, sku: skuArb, replica: replicaArb, p: crdtTotal, n: crdtTotal });

/** Two different replicas. */
const replicaPair = fc.tuple(replicaArb, replicaArb).map(([a, b]): [ReplicaId, ReplicaId] => (a === b ? [a, replicaId(`${b}x`)] : [a, b]));

export const transferEntryArb: fc.Arbitrary<TransferEntry> = fc
  .record({ store: storeArb, sku: skuArb, pair: replicaPair, amount: crdtTotal })
  .map(({ pair: [from, to], ...rest }) => ({ ...rest, from, to }));

export const reservationArb: fc.Arbitrary<ReservationRecord> = fc.record({
  id: reservationIdArb,
  store: storeArb,
  sku: skuArb,
  owner: replicaArb,
  qty: quantity,
  expiresAt: epochMs,
  status: fc.constantFrom('active', 'committed', 'released', 'expired'),
});

export const deltaArb: fc.Arbitrary<Delta> = fc.record({
  entries: fc.array(counterEntryArb, { maxLength: 4 }),
  transfers: fc.array(transferEntryArb, { maxLength: 3 }),
  reservations: fc.array(reservationArb, { maxLength: 3 }),
});

/** The delta with every item moved to `store` (and `sku`). */
function scoped(d: Delta, store: StoreId, onlySku?: Sku): Delta {
  const at = <T extends { store: StoreId; sku: Sku }>(x: T): T => ({ ...x, store, sku: onlySku ?? x.sku });
  return { entries: d.entries.map(at), transfers: d.transfers.map(at), reservations: d.reservations.map(at) };
}

const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });

export const eventArb: fc.Arbitrary<InventoryEvent> = fc
  .record(
    {
      store: storeArb,
      replica: replicaArb,
      seq,
      type: fc.constantFrom(...EVENT_TYPES),
      sku: skuArb,
      qty: quantity,
      down: fc.boolean(),
      at: epochMs,
      idempotencyKey: nullable(text(100)),
      terminal: nullable(text(40)),
      reason: nullable(fc.constantFrom(...ADJUSTMENT_REASONS)),
      forced: fc.boolean(),
      count: nullable(total),
      reservationId: nullable(reservationIdArb),
      expiresAt: nullable(epochMs),
      to: nullable(replicaArb),
    },
    { requiredKeys: ['store', 'replica', 'seq', 'type', 'sku', 'qty', 'down', 'at'] },
  )
  .map(({ down, ...e }): InventoryEvent => {
    const event: InventoryEvent = { ...e, id: eventIdFor(e.replica, e.seq), qty: e.type === 'adjustment' && down ? -e.qty : e.qty };
    if (e.type === 'hold' || e.type === 'hold_commit' || e.type === 'hold_release' || e.type === 'hold_expire') {
      event.reservationId = e.reservationId ?? reservationId('cart-1');
      event.expiresAt = e.expiresAt ?? 1_700_000_900_000;
    }
    if (e.type === 'rights_transfer' && (e.to == null || e.to === e.replica)) event.to = replicaId(`${e.replica}x`);
    return event;
  });

const eventsArb = fc.array(eventArb, { maxLength: 4 });
/** Finite doubles without -0 (which JSON cannot carry). */
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x + 0);
const protocolArb = fc.oneof(fc.constant(PROTOCOL_VERSION), fc.nat({ max: 99 }).map((minor) => `${PROTOCOL_VERSION.split('.')[0]}.${minor}`));

const allocationRuleArb = fc.oneof(
  fc.double({ min: 0, max: 1, noNaN: true }).map((share) => ({ mode: 'share' as const, share: share + 0 })),
  crdtTotal.map((units) => ({ mode: 'units' as const, units })),
  crdtTotal.map((keep) => ({ mode: 'keep' as const, keep })),
  fc.constant({ mode: 'none' as const }),
);

export const messageArbs: { [K in MessageType]: fc.Arbitrary<MessageOf<K>> } = {
  hello: fc.record({
    type: fc.constant('hello'),
    protocol: protocolArb,
    store: storeArb,
    replica: replicaArb,
    ackedHubSeq: total,
    lastEventSeq: total,
  }),
  welcome: fc.record({ type: fc.constant('welcome'), protocol: protocolArb, hubReplica: replicaArb, ackedUpTo: total, hubSeq: total }),
  batch: fc.record({ type: fc.constant('batch'), seq, delta: deltaArb, events: eventsArb }),
  events: fc.record({ type: fc.constant('events'), seq, events: eventsArb }),
  allocation: fc.record({
    type: fc.constant('allocation'),
    store: storeArb,
    policy: fc.record({ default: allocationRuleArb, skus: fc.dictionary(skuArb, allocationRuleArb, { maxKeys: 4 }) }),
  }),
  ack: fc.record({ type: fc.constant('ack'), stream: fc.constantFrom('batch', 'events'), upTo: total }),
  digest: fc.record({
    type: fc.constant('digest'),
    store: storeArb,
    digest: fc.stringMatching(/^[0-9a-f]{16}$/),
    entries: total,
  }),
  repair: fc
    .record({ store: storeArb, delta: deltaArb, final: fc.boolean() })
    .map(({ store, delta, final }) => ({ type: 'repair' as const, store, delta: scoped(delta, store), final })),
  rights_request: fc.record({ type: fc.constant('rights_request'), requestId: requestIdArb, store: storeArb, sku: skuArb, qty: quantity }),
  rights_grant: fc
    .record({ requestId: requestIdArb, store: storeArb, sku: skuArb, granted: total, delta: deltaArb })
    .map(({ delta, ...g }) => ({ type: 'rights_grant' as const, ...g, delta: scoped(delta, g.store, g.sku) })),
  error: fc.record(
    {
      type: fc.constant('error'),
      code: fc.string({ minLength: 1, maxLength: 64 }),
      message: text(200),
      fatal: fc.boolean(),
      seq,
      stream: fc.constantFrom('batch', 'events'),
    },
    { requiredKeys: ['type', 'code', 'message', 'fatal'] },
  ),
  ping: fc.record({ type: fc.constant('ping'), t: finite }),
  pong: fc.record({ type: fc.constant('pong'), t: finite }),
};

export const messageArb: fc.Arbitrary<Message> = fc.oneof(...Object.values(messageArbs));

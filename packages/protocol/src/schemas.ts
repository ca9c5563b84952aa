import { z } from 'zod';
import {
  ADJUSTMENT_REASONS,
  EVENT_TYPES,
  eventIdFor,
  isValidId,
  MAX_TOTAL,
  type CounterEntry,
  type Delta,
  type EventId,
  type InventoryEvent,
  type ReplicaId,
  type ReservationId,
  type ReservationRecord,
  type AllocationPolicy,
  type ReservationStatus,
  type Sku,
  type StoreId,
  type TransferEntry,
} from '@scoville/crdt-inventory';
import { MESSAGE_TYPES, type Message, type MessageOf, type MessageType } from './messages.js';
import { parseVersion } from './version.js';

/*
 * Zod schemas for every wire message. Objects are strict (unknown keys are
 * rejected), ids must pass the CRDT's `isValidId`, and every quantity is a
 * safe integer, so a message that validates can be merged without further
 * checks of its shape. Checks that need the connection (the store of the
 * token, the replica of the hello) are the receiver's job.
 */

/** Longest idempotency key or terminal name an event may carry. */
export const MAX_EVENT_TEXT = 256;
/** Longest `code` and `message` of an error message. */
export const MAX_ERROR_CODE = 64;
export const MAX_ERROR_MESSAGE = 4096;

export const RESERVATION_STATUSES = ['active', 'committed', 'released', 'expired'] as const satisfies readonly ReservationStatus[];

const ID_RULE = '1-128 chars of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit';

function idSchema<T extends string>(kind: string) {
  return z.custom<T>((value) => isValidId(value), { message: `invalid ${kind} (${ID_RULE})` });
}

export const storeIdSchema = idSchema<StoreId>('store id');
export const skuSchema = idSchema<Sku>('sku');
export const replicaIdSchema = idSchema<ReplicaId>('replica id');
export const reservationIdSchema = idSchema<ReservationId>('reservation id');
export const eventIdSchema = idSchema<EventId>('event id');

/** -0 (which only a hand-made encoder emits) reads as 0, so decoded messages re-encode identically. */
const unsigned = (n: number): number => n + 0;

/** A safe integer ≥ 0 (counts, acknowledged seqs). */
const count = z.int().nonnegative().transform(unsigned);
/** A safe integer > 0 (batch seqs). */
const positive = z.int().positive();
/** A CRDT total (P, N, T): 0..MAX_TOTAL, so every sum of them is exact (crdt-inventory quantity.ts). */
const total = z.int().nonnegative().max(MAX_TOTAL).transform(unsigned);
/** A quantity of one action or hold: 1..MAX_TOTAL. */
const quantity = z.int().positive().max(MAX_TOTAL);
/** Epoch milliseconds. */
const epochMs = count;
/** Any finite number (heartbeat timestamps). */
const finite = z.number().transform(unsigned);

export const counterEntrySchema = z.strictObject({
  store: storeIdSchema,
  sku: skuSchema,
  replica: replicaIdSchema,
  p: total,
  n: total,
});

export const transferEntrySchema = z
  .strictObject({
    store: storeIdSchema,
    sku: skuSchema,
    from: replicaIdSchema,
    to: replicaIdSchema,
    amount: total,
  })
  .refine((t) => t.from !== t.to, { message: 'a transfer needs two different replicas', path: ['to'] });

export const reservationRecordSchema = z.strictObject({
  id: reservationIdSchema,
  store: storeIdSchema,
  sku: skuSchema,
  owner: replicaIdSchema,
  qty: quantity,
  expiresAt: epochMs,
  status: z.enum(RESERVATION_STATUSES),
});

export const deltaSchema = z.strictObject({
  entries: z.array(counterEntrySchema),
  transfers: z.array(transferEntrySchema),
  reservations: z.array(reservationRecordSchema),
});

const HOLD_TYPES: ReadonlySet<string> = new Set(['hold', 'hold_commit', 'hold_release', 'hold_expire']);

/**
 * Free text in an event. No control characters: PostgreSQL text cannot hold
 * NUL, and one unstorable event would otherwise be retried forever.
 */
// eslint-disable-next-line no-control-regex
const eventText = z.string().max(MAX_EVENT_TEXT).regex(/^[^\u0000-\u001f\u007f]*$/, { message: 'no control characters' });

export const inventoryEventSchema = z
  .strictObject({
    id: eventIdSchema,
    store: storeIdSchema,
    replica: replicaIdSchema,
    seq: positive,
    type: z.enum(EVENT_TYPES),
    sku: skuSchema,
    qty: z.int().min(-MAX_TOTAL).max(MAX_TOTAL),
    at: epochMs,
    idempotencyKey: eventText.nullish(),
    terminal: eventText.nullish(),
    reason: z.enum(ADJUSTMENT_REASONS).nullish(),
    forced: z.boolean().optional(),
    count: count.nullish(),
    reservationId: reservationIdSchema.nullish(),
    expiresAt: epochMs.nullish(),
    to: replicaIdSchema.nullish(),
  })
  .superRefine((e, ctx) => {
    if (e.id !== eventIdFor(e.replica, e.seq)) {
      ctx.addIssue({ code: 'custom', path: ['id'], message: 'event id must be `${replica}:${seq}`' });
    }
    if (e.type !== 'adjustment' && e.qty <= 0) {
      ctx.addIssue({ code: 'custom', path: ['qty'], message: `qty of a ${e.type} must be positive (only adjustments carry a sign)` });
    }
    // An adjustment of 0 is only a cycle count that matched the book: kept for the audit trail.
    if (e.type === 'adjustment' && e.qty === 0 && (e.reason !== 'cycle_count' || e.count == null)) {
      ctx.addIssue({ code: 'custom', path: ['qty'], message: 'an adjustment of 0 must be a cycle_count with its count' });
    }
    if (HOLD_TYPES.has(e.type)) {
      if (e.reservationId == null) ctx.addIssue({ code: 'custom', path: ['reservationId'], message: `${e.type} needs reservationId` });
      if (e.expiresAt == null) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: `${e.type} needs expiresAt` });
    }
    if (e.type === 'rights_transfer') {
      if (e.to == null) ctx.addIssue({ code: 'custom', path: ['to'], message: 'rights_transfer needs `to`' });
      else if (e.to === e.replica) ctx.addIssue({ code: 'custom', path: ['to'], message: 'rights_transfer to the same replica' });
    }
  });

const protocolSchema = z
  .string()
  .max(16)
  .refine((v) => parseVersion(v) !== null, { message: 'protocol must be major.minor' });

export const helloSchema = z.strictObject({
  type: z.literal('hello'),
  protocol: protocolSchema,
  store: storeIdSchema,
  replica: replicaIdSchema,
  ackedHubSeq: count,
  lastEventSeq: count,
});

export const welcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  protocol: protocolSchema,
  hubReplica: replicaIdSchema,
  ackedUpTo: count,
  hubSeq: count,
});

export const batchSchema = z.strictObject({
  type: z.literal('batch'),
  seq: positive,
  delta: deltaSchema,
  events: z.array(inventoryEventSchema),
});

export const eventsSchema = z.strictObject({
  type: z.literal('events'),
  seq: positive,
  events: z.array(inventoryEventSchema),
});

const streamSchema = z.enum(['batch', 'events']);

export const ackSchema = z.strictObject({
  type: z.literal('ack'),
  stream: streamSchema,
  upTo: count,
});

export const digestSchema = z.strictObject({
  type: z.literal('digest'),
  store: storeIdSchema,
  digest: z.string().regex(/^[0-9a-f]{16}$/, { message: 'digest must be 16 lowercase hex digits' }),
  entries: count,
});

/** Flags every item of `delta` that is not about `store` (and `sku`, when given). */
function checkDeltaScope(delta: Delta, ctx: z.RefinementCtx, store: StoreId, sku?: Sku): void {
  const lists = [
    ['entries', delta.entries],
    ['transfers', delta.transfers],
    ['reservations', delta.reservations],
  ] as const;
  for (const [name, items] of lists) {
    items.forEach((item: { store: StoreId; sku: Sku }, i: number) => {
      if (item.store !== store) {
        ctx.addIssue({ code: 'custom', path: ['delta', name, i, 'store'], message: `item of store ${item.store} in a message about store ${store}` });
      } else if (sku !== undefined && item.sku !== sku) {
        ctx.addIssue({ code: 'custom', path: ['delta', name, i, 'sku'], message: `item of sku ${item.sku} in a message about sku ${sku}` });
      }
    });
  }
}

export const repairSchema = z
  .strictObject({
    type: z.literal('repair'),
    store: storeIdSchema,
    delta: deltaSchema,
    final: z.boolean(),
  })
  .superRefine((m, ctx) => checkDeltaScope(m.delta, ctx, m.store));

const requestIdSchema = z.string().refine(isValidId, { message: `invalid request id (${ID_RULE})` });

export const rightsRequestSchema = z.strictObject({
  type: z.literal('rights_request'),
  requestId: requestIdSchema,
  store: storeIdSchema,
  sku: skuSchema,
  qty: quantity,
});

export const rightsGrantSchema = z
  .strictObject({
    type: z.literal('rights_grant'),
    requestId: requestIdSchema,
    store: storeIdSchema,
    sku: skuSchema,
    granted: count,
    delta: deltaSchema,
  })
  .superRefine((m, ctx) => checkDeltaScope(m.delta, ctx, m.store, m.sku));

const allocationRuleSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('share'), share: z.number().min(0).max(1).transform(unsigned) }),
  z.strictObject({ mode: z.literal('units'), units: total }),
  z.strictObject({ mode: z.literal('keep'), keep: total }),
  z.strictObject({ mode: z.literal('none') }),
]);

/** Most per-SKU overrides one policy may carry. */
export const MAX_ALLOCATION_SKUS = 50_000;

export const allocationPolicySchema = z.strictObject({
  default: allocationRuleSchema,
  skus: z
    .record(z.string(), allocationRuleSchema)
    .refine((m) => Object.keys(m).every((k) => isValidId(k)), { message: `every sku must be a valid id (${ID_RULE})` })
    .refine((m) => Object.keys(m).length <= MAX_ALLOCATION_SKUS, { message: `at most ${MAX_ALLOCATION_SKUS} SKU overrides` }),
});

export const allocationSchema = z.strictObject({
  type: z.literal('allocation'),
  store: storeIdSchema,
  policy: allocationPolicySchema,
});

export const errorSchema = z.strictObject({
  type: z.literal('error'),
  code: z.string().min(1).max(MAX_ERROR_CODE),
  message: z.string().max(MAX_ERROR_MESSAGE),
  fatal: z.boolean(),
  seq: positive.optional(),
  stream: streamSchema.optional(),
});

export const pingSchema = z.strictObject({ type: z.literal('ping'), t: finite });
export const pongSchema = z.strictObject({ type: z.literal('pong'), t: finite });

/** The schema of each message type. */
export const messageSchemas = {
  hello: helloSchema,
  welcome: welcomeSchema,
  batch: batchSchema,
  events: eventsSchema,
  ack: ackSchema,
  digest: digestSchema,
  repair: repairSchema,
  rights_request: rightsRequestSchema,
  rights_grant: rightsGrantSchema,
  allocation: allocationSchema,
  error: errorSchema,
  ping: pingSchema,
  pong: pongSchema,
} as const satisfies { readonly [K in MessageType]: z.ZodType<MessageOf<K>> };

/** Any message (a discriminated union on `type`). */
export const messageSchema = z.discriminatedUnion('type', [
  helloSchema,
  welcomeSchema,
  batchSchema,
  eventsSchema,
  ackSchema,
  digestSchema,
  repairSchema,
  rightsRequestSchema,
  rightsGrantSchema,
  allocationSchema,
  errorSchema,
  pingSchema,
  pongSchema,
]);

// Compile-time proof that the schemas and the hand-written types agree.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type SchemaChecks = [
  Assert<Same<z.output<typeof counterEntrySchema>, CounterEntry>>,
  Assert<Same<z.output<typeof transferEntrySchema>, TransferEntry>>,
  Assert<Same<z.output<typeof reservationRecordSchema>, ReservationRecord>>,
  Assert<Same<z.output<typeof deltaSchema>, Delta>>,
  Assert<Same<z.output<typeof inventoryEventSchema>, InventoryEvent>>,
  Assert<Same<z.output<typeof allocationPolicySchema>, AllocationPolicy>>,
  Assert<Same<z.output<typeof messageSchema>, Message>>,
  Assert<Same<(typeof MESSAGE_TYPES)[number], MessageType>>,
];

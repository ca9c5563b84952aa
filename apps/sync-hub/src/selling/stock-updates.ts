import {
  availability,
  decrement,
  increment,
  transferRights,
  type AdjustmentReason,
  type ReplicaId,
  type Sku,
  type StoreId,
} from '@scoville/crdt-inventory';
import { totalsBySku, type CartLine } from './carts.js';
import type { SellerBatch } from './seller-batch.js';
import { sellFail, sellOk, type SellOutcome } from './sell-error.js';

export const UPDATE_TYPES = ['sale', 'restock', 'adjustment', 'count'] as const;
export type UpdateType = (typeof UPDATE_TYPES)[number];

export interface UpdateRequest {
  storeId: StoreId;
  type: UpdateType;
  /** qty: units for sale/restock (> 0), signed for adjustment, the absolute shelf count for count (≥ 0). */
  lines: CartLine[];
  reason?: AdjustmentReason;
  /** A sale that physically happened: recorded past the rights, as a deficit. */
  force?: boolean;
  terminal?: string | null;
  idempotencyKey?: string | null;
}

export interface StockLine {
  sku: Sku;
  onHand: number;
  held: number;
  available: number;
}

export interface UpdateResult {
  storeId: StoreId;
  type: UpdateType;
  lines: StockLine[];
  events: string[];
  forced: boolean;
}

function stockLine(b: SellerBatch, store: StoreId, sku: Sku): StockLine {
  const a = availability(b.counter(store, sku), store, sku, b.now);
  return { sku, onHand: a.onHand, held: a.held, available: a.available };
}

/**
 * `POST /inventory/updates`: a store without an agent (a warehouse, a
 * pop-up) written by the hub itself; its stock is this replica's rights.
 * Same rules as the agent's POS API: sales are checked against rights
 * unless forced; restocks always go in; removals by adjustment or count
 * are physical facts and are recorded even past the rights (decision 10).
 */
export function applyUpdate(b: SellerBatch, req: UpdateRequest): SellOutcome<UpdateResult> {
  const store = req.storeId;
  const meta = { idempotencyKey: req.idempotencyKey ?? null, terminal: req.terminal ?? null };
  const events: string[] = [];
  let forced = false;
  const skus = [...new Set(req.lines.map((l) => l.sku))];
  switch (req.type) {
    case 'sale': {
      const totals = totalsBySku(req.lines);
      const unknown = skus.filter((k) => b.committed.counter(store, k) === undefined && b.onHand(store, k) === 0);
      if (unknown.length > 0) return sellFail('unknown_sku', `unknown SKU at ${store}: ${unknown.join(', ')}`, 404, { skus: unknown });
      if (req.force !== true) {
        const short = [...totals].map(([sku, qty]) => ({ sku, requested: qty, available: Math.max(0, b.rights(store, sku)) })).filter((l) => l.available < l.requested);
        if (short.length > 0) return sellFail('insufficient_stock', `not enough stock for ${short.map((s) => s.sku).join(', ')}`, 409, { lines: short });
      }
      for (const line of req.lines) {
        const r = decrement(b.counter(store, line.sku), { store, sku: line.sku, replica: b.me, qty: line.qty, force: true, now: b.now });
        if (!r.ok) return overflowOrThrow(r.refusal);
        forced ||= r.forced;
        events.push(b.record('sale', store, line.sku, line.qty, r.delta, { ...meta, ...(r.forced ? { forced: true } : {}) }).id);
      }
      break;
    }
    case 'restock':
      for (const line of req.lines) {
        const r = increment(b.counter(store, line.sku), { store, sku: line.sku, replica: b.me, qty: line.qty });
        if (!r.ok) return overflowOrThrow(r.refusal);
        events.push(b.record('restock', store, line.sku, line.qty, r.delta, meta).id);
      }
      break;
    case 'adjustment':
    case 'count': {
      if (req.type === 'count' && skus.length !== req.lines.length) return sellFail('duplicate_sku', 'a SKU is counted twice in one request', 400);
      const reason: AdjustmentReason = req.type === 'count' ? 'cycle_count' : (req.reason ?? 'correction');
      for (const line of req.lines) {
        const qty = req.type === 'count' ? line.qty - b.onHand(store, line.sku) : line.qty;
        const extra = { ...meta, reason, count: req.type === 'count' ? line.qty : null };
        if (qty === 0) {
          events.push(b.record('adjustment', store, line.sku, 0, { entries: [], transfers: [], reservations: [] }, extra).id);
          continue;
        }
        const op = { store, sku: line.sku, replica: b.me, qty: Math.abs(qty) };
        const r = qty > 0 ? increment(b.counter(store, line.sku), op) : decrement(b.counter(store, line.sku), { ...op, force: true, now: b.now });
        if (!r.ok) return overflowOrThrow(r.refusal);
        events.push(b.record('adjustment', store, line.sku, qty, r.delta, extra).id);
      }
      break;
    }
  }
  return sellOk({ storeId: store, type: req.type, lines: skus.map((k) => stockLine(b, store, k)), events, forced });
}

/** Overflow is the one refusal a check cannot rule out cheaply before the first line; anything else is a bug. */
function overflowOrThrow<T>(refusal: { code: string; message: string }): SellOutcome<T> {
  if (refusal.code === 'quantity_overflow') return sellFail('quantity_overflow', refusal.message, 422);
  throw new Error(`unexpected refusal after checks: ${refusal.message}`);
}

export interface TransferRequest {
  from: StoreId;
  to: StoreId;
  lines: CartLine[];
  idempotencyKey?: string | null;
}

export interface TransferResult {
  from: StoreId;
  to: StoreId;
  lines: { sku: Sku; qty: number; from: StockLine; to: StockLine }[];
  events: string[];
}

/**
 * HQ moves stock between stores: out at `from` (within this replica's
 * rights there), in at `to`, as one pair of `adjustment` events with reason
 * `transfer` in one transaction.
 */
export function transferStock(b: SellerBatch, req: TransferRequest): SellOutcome<TransferResult> {
  if (req.from === req.to) return sellFail('invalid_request', 'from and to are the same store', 400);
  const totals = totalsBySku(req.lines);
  const short = [...totals]
    .map(([sku, qty]) => ({ sku, requested: qty, available: Math.max(0, b.rights(req.from, sku)) }))
    .filter((l) => l.available < l.requested);
  if (short.length > 0) {
    return sellFail('insufficient_stock', `${req.from} cannot promise ${short.map((s) => s.sku).join(', ')} from the hub's rights`, 409, { lines: short });
  }
  const events: string[] = [];
  const meta = { idempotencyKey: req.idempotencyKey ?? null, reason: 'transfer' as const };
  for (const line of req.lines) {
    const out = decrement(b.counter(req.from, line.sku), { store: req.from, sku: line.sku, replica: b.me, qty: line.qty, now: b.now });
    if (!out.ok) return overflowOrThrow(out.refusal);
    const inc = increment(b.counter(req.to, line.sku), { store: req.to, sku: line.sku, replica: b.me, qty: line.qty });
    if (!inc.ok) return overflowOrThrow(inc.refusal);
    events.push(b.record('adjustment', req.from, line.sku, -line.qty, out.delta, meta).id);
    events.push(b.record('adjustment', req.to, line.sku, line.qty, inc.delta, meta).id);
  }
  const lines = [...totals].map(([sku, qty]) => ({ sku, qty, from: stockLine(b, req.from, sku), to: stockLine(b, req.to, sku) }));
  return sellOk({ from: req.from, to: req.to, lines, events });
}

export interface GrantResult {
  granted: number;
  delta: import('@scoville/crdt-inventory').Delta;
}

/** Hands up to `qty` of this replica's unreserved rights on (store, sku) to `to` (an agent asking for them). */
export function grantRights(b: SellerBatch, store: StoreId, sku: Sku, to: ReplicaId, qty: number): SellOutcome<GrantResult> {
  const give = Math.min(qty, Math.max(0, b.rights(store, sku)));
  if (give <= 0) return sellOk({ granted: 0, delta: { entries: [], transfers: [], reservations: [] } });
  const r = transferRights(b.counter(store, sku), { store, sku, from: b.me, to, qty: give, now: b.now });
  if (!r.ok) return sellOk({ granted: 0, delta: { entries: [], transfers: [], reservations: [] } });
  b.record('rights_transfer', store, sku, give, r.delta, { to });
  return sellOk({ granted: give, delta: r.delta });
}

import { randomBytes } from 'node:crypto';
import {
  commitReservation,
  createReservation,
  expireReservations,
  releaseReservation,
  type InventoryState,
  type ReservationId,
  type ReservationRecord,
  type Sku,
  type StoreId,
} from '@scoville/crdt-inventory';
import type { CartRow } from '../store/selling-store.js';
import type { SellerBatch } from './seller-batch.js';
import { sellFail, sellOk, type SellOutcome } from './sell-error.js';

export const DEFAULT_TTL_SECONDS = 900;
export const MAX_TTL_SECONDS = 86_400;

export interface CartLine {
  sku: Sku;
  qty: number;
}

export type CartStatus = 'active' | 'committed' | 'released' | 'expired';

/** A cart as the storefront API shows it. */
export interface CartView {
  id: string;
  storeId: StoreId;
  lines: CartLine[];
  expiresAt: string;
  status: CartStatus;
}

/** Opaque, unguessable cart ids; a line's hold is `${id}.${n}`. */
export function newCartId(): string {
  return `r_${randomBytes(12).toString('hex')}`;
}

export const CART_ID_PATTERN = /^r_[0-9a-f]{24}$/;

/** A cart line's hold in a state (committed or scratch): holds are keyed by (owner, id). */
export function findHold(state: InventoryState, cart: CartRow, holdId: string): ReservationRecord | undefined {
  return state.reservation(cart.owner, holdId as ReservationId);
}

/** A cart's status from its holds, as of `now`. */
export function cartStatus(recs: readonly (ReservationRecord | undefined)[], now: number): CartStatus | 'unknown' {
  if (recs.length === 0 || recs.some((r) => r === undefined)) return 'unknown';
  const all = recs as ReservationRecord[];
  if (all.every((r) => r.status === 'committed')) return 'committed';
  if (all.some((r) => r.status === 'released')) return 'released';
  if (all.some((r) => (r.status as string) === 'expired' || (r.status === 'active' && r.expiresAt <= now))) return 'expired';
  return 'active';
}

export function cartView(cart: CartRow, status: CartStatus): CartView {
  return {
    id: cart.id,
    storeId: cart.store,
    lines: cart.lines.map((l) => ({ sku: l.sku, qty: l.qty })),
    expiresAt: new Date(cart.expiresAt).toISOString(),
    status,
  };
}

/** Sums quantities per SKU (a cart may name a SKU twice). */
export function totalsBySku(lines: readonly CartLine[]): Map<Sku, number> {
  const m = new Map<Sku, number>();
  for (const l of lines) m.set(l.sku, (m.get(l.sku) ?? 0) + l.qty);
  return m;
}

export interface HoldRequest {
  cartId: string;
  /** null: the hub picks the store (see pickStore). */
  storeId: StoreId | null;
  lines: CartLine[];
  ttlMs: number;
}

/**
 * Holds every line of a cart at one store, or nothing.
 *
 * Without a store the hub picks one that can fill the whole cart from this
 * replica's own rights: the store where those rights, summed over the
 * cart's SKUs, are largest; ties go to the smallest store id. A cart is
 * never split across stores (one pickup/shipping location).
 */
export function holdCart(b: SellerBatch, req: HoldRequest): SellOutcome<CartView> {
  const totals = totalsBySku(req.lines);
  const stores = req.storeId !== null ? [req.storeId] : candidateStores(b, [...totals.keys()]);
  if (stores.length === 0) {
    return sellFail('unknown_sku', `no store carries ${[...totals.keys()].join(', ')}`, 404, { skus: [...totals.keys()] });
  }
  let best: { store: StoreId; score: number } | null = null;
  const bestPerSku = new Map<Sku, number>();
  for (const store of stores) {
    let fits = true;
    let score = 0;
    for (const [sku, qty] of totals) {
      const have = Math.max(0, b.rights(store, sku));
      bestPerSku.set(sku, Math.max(bestPerSku.get(sku) ?? 0, have));
      if (have < qty) fits = false;
      score += have;
    }
    if (fits && (best === null || score > best.score || (score === best.score && store < best.store))) best = { store, score };
  }
  if (best === null) {
    const lines = [...totals].map(([sku, qty]) => ({ sku, requested: qty, available: bestPerSku.get(sku) ?? 0 }));
    const where = req.storeId !== null ? ` at ${req.storeId}` : ' at any single store';
    return sellFail('insufficient_stock', `not enough stock to hold this cart${where}`, 409, { lines });
  }
  const store = best.store;
  const expiresAt = b.now + req.ttlMs;
  const cart: CartRow = { id: req.cartId, store, owner: b.me, lines: [], expiresAt, createdAt: b.now };
  req.lines.forEach((line, i) => {
    const holdId = `${req.cartId}.${i + 1}`;
    const r = createReservation(b.counter(store, line.sku), {
      id: holdId as ReservationId,
      store,
      sku: line.sku,
      owner: b.me,
      qty: line.qty,
      expiresAt,
      now: b.now,
    });
    if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
    b.record('hold', store, line.sku, line.qty, r.delta, { reservationId: holdId as ReservationId, expiresAt });
    cart.lines.push({ sku: line.sku, qty: line.qty, holdId });
  });
  b.carts.push(cart);
  return sellOk(cartView(cart, 'active'));
}

/** Stores that have a counter for every one of `skus`, sorted. */
function candidateStores(b: SellerBatch, skus: readonly Sku[]): StoreId[] {
  return b.committed
    .storeIds()
    .filter((s) => skus.every((k) => b.committed.counter(s, k) !== undefined))
    .sort();
}

/** Scratch copies carry only active holds (and what this group did); finished ones are in the committed state. */
function holdsOf(b: SellerBatch, cart: CartRow): (ReservationRecord | undefined)[] {
  return cart.lines.map((l) => findHold(b.counter(cart.store, l.sku), cart, l.holdId) ?? findHold(b.committed, cart, l.holdId));
}

/** The order is paid: every hold becomes a sale (atomic with N). Idempotent. */
export function commitCart(b: SellerBatch, cart: CartRow): SellOutcome<CartView> {
  const recs = holdsOf(b, cart);
  const status = cartStatus(recs, b.now);
  if (status === 'committed') return sellOk(cartView(cart, 'committed'));
  if (status === 'unknown') return sellFail('reservation_not_found', `reservation ${cart.id} is not known here yet`, 404, { id: cart.id });
  if (status === 'released') return sellFail('reservation_released', `reservation ${cart.id} was released`, 409, { id: cart.id, status });
  if (status === 'expired') {
    return sellFail('reservation_expired', `reservation ${cart.id} expired at ${new Date(cart.expiresAt).toISOString()}`, 410, {
      id: cart.id,
      expiresAt: new Date(cart.expiresAt).toISOString(),
    });
  }
  cart.lines.forEach((line, i) => {
    if (recs[i]!.status === 'committed') return;
    const r = commitReservation(b.counter(cart.store, line.sku), { id: line.holdId as ReservationId, by: b.me, now: b.now });
    if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
    b.record('hold_commit', cart.store, line.sku, line.qty, r.delta, { reservationId: line.holdId as ReservationId, expiresAt: cart.expiresAt });
  });
  return sellOk(cartView(cart, 'committed'));
}

/** Gives the units back. Idempotent; an expired cart is already released. */
export function releaseCart(b: SellerBatch, cart: CartRow): SellOutcome<CartView> {
  const recs = holdsOf(b, cart);
  const status = cartStatus(recs, b.now);
  if (status === 'released' || status === 'expired') return sellOk(cartView(cart, status));
  if (status === 'unknown') return sellFail('reservation_not_found', `reservation ${cart.id} is not known here yet`, 404, { id: cart.id });
  if (status === 'committed') return sellFail('reservation_committed', `reservation ${cart.id} was already committed (paid)`, 409, { id: cart.id, status });
  cart.lines.forEach((line, i) => {
    if (recs[i]!.status !== 'active') return;
    const r = releaseReservation(b.counter(cart.store, line.sku), { id: line.holdId as ReservationId, by: b.me });
    if (!r.ok) throw new Error(`unexpected refusal after checks: ${r.refusal.message}`);
    b.record('hold_release', cart.store, line.sku, line.qty, r.delta, { reservationId: line.holdId as ReservationId, expiresAt: cart.expiresAt });
  });
  return sellOk(cartView(cart, 'released'));
}

/** Records the lapse of `due` holds of this replica (the expiry sweep). */
export function expireHolds(b: SellerBatch, due: readonly ReservationRecord[]): SellOutcome<number> {
  let n = 0;
  const done = new Set<string>();
  for (const r of due) {
    const key = `${r.store} ${r.sku}`;
    if (done.has(key)) continue;
    done.add(key);
    n += b.recordExpiries(expireReservations(b.counter(r.store, r.sku), b.me, b.now));
  }
  return sellOk(n);
}

import type { Refusal } from './errors.js';

/**
 * The largest value of any quantity or cumulative total: P, N, each T, a
 * hold's qty. 10^12 units is far beyond any real stock, and keeps every sum
 * the package forms exact: rights() and onHand() add at most a few terms per
 * replica and per hold, and fewer than 9,007 terms of at most 10^12 stay
 * below 2^53, where doubles stop being exact integers. Operations refuse to
 * grow an entry past it (`quantity_overflow`); applyDelta ignores entries
 * beyond it; the protocol schemas bound the wire the same way.
 */
export const MAX_TOTAL = 1_000_000_000_000;

/** A quantity an operation accepts: a positive safe integer. */
export function checkQty(qty: unknown): Refusal | null {
  if (typeof qty !== 'number' || !Number.isSafeInteger(qty) || qty <= 0) {
    return { code: 'invalid_quantity', message: `quantity must be a positive whole number, got ${String(qty)}`, qty };
  }
  return null;
}

/** True when the cumulative total a + b would pass MAX_TOTAL. */
export function overflows(a: number, b: number): boolean {
  return a + b > MAX_TOTAL;
}

/** A stored total: a whole number in [0, MAX_TOTAL]. */
export function isTotal(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TOTAL;
}

/** An instant (epoch ms) a record may carry: a safe integer ≥ 0. */
export function isInstant(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** `now` of an operation: any finite number (a NaN or infinite clock decides nothing). */
export function checkNow(now: unknown): Refusal | null {
  if (typeof now === 'number' && Number.isFinite(now)) return null;
  return { code: 'invalid_time', message: `now must be a finite time, got ${String(now)}`, field: 'now', value: now };
}

/** `expiresAt` of a new hold: what applyDelta would accept from a peer (isInstant). */
export function checkExpiresAt(expiresAt: unknown): Refusal | null {
  if (isInstant(expiresAt)) return null;
  return {
    code: 'invalid_time',
    message: `expiresAt must be a whole number of epoch milliseconds ≥ 0, got ${String(expiresAt)}`,
    field: 'expiresAt',
    value: expiresAt,
  };
}

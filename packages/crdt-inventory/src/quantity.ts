import type { Refusal } from './errors.js';

/** A quantity an operation accepts: a positive safe integer. */
export function checkQty(qty: unknown): Refusal | null {
  if (typeof qty !== 'number' || !Number.isSafeInteger(qty) || qty <= 0) {
    return { code: 'invalid_quantity', message: `quantity must be a positive whole number, got ${String(qty)}`, qty };
  }
  return null;
}

/** True when a + b would leave the range where integer arithmetic is exact. */
export function overflows(a: number, b: number): boolean {
  return !Number.isSafeInteger(a + b);
}

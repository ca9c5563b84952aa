import { describe, expect, it } from 'vitest';
import { MAX_TOTAL } from '@scoville/crdt-inventory';
import { counterEntrySchema, reservationRecordSchema, transferEntrySchema } from '../src/schemas.js';

/** The wire carries what the CRDT stores: totals ≤ MAX_TOTAL, and the recorded 'expired' status. */
describe('CRDT bounds on the wire', () => {
  const entry = { store: 's1', sku: 'k', replica: 'a', p: 3, n: 1 };
  const transfer = { store: 's1', sku: 'k', from: 'a', to: 'b', amount: 2 };
  const rec = { id: 'cart-1', store: 's1', sku: 'k', owner: 'a', qty: 1, expiresAt: 1000, status: 'active' };

  it('accepts MAX_TOTAL and refuses one more for p, n, amount and qty', () => {
    expect(counterEntrySchema.safeParse({ ...entry, p: MAX_TOTAL, n: MAX_TOTAL }).success).toBe(true);
    expect(counterEntrySchema.safeParse({ ...entry, p: MAX_TOTAL + 1 }).success).toBe(false);
    expect(counterEntrySchema.safeParse({ ...entry, n: MAX_TOTAL + 1 }).success).toBe(false);
    expect(transferEntrySchema.safeParse({ ...transfer, amount: MAX_TOTAL }).success).toBe(true);
    expect(transferEntrySchema.safeParse({ ...transfer, amount: MAX_TOTAL + 1 }).success).toBe(false);
    expect(reservationRecordSchema.safeParse({ ...rec, qty: MAX_TOTAL }).success).toBe(true);
    expect(reservationRecordSchema.safeParse({ ...rec, qty: MAX_TOTAL + 1 }).success).toBe(false);
  });

  it('accepts the expired status, and no unknown one', () => {
    expect(reservationRecordSchema.safeParse({ ...rec, status: 'expired' }).success).toBe(true);
    expect(reservationRecordSchema.safeParse({ ...rec, status: 'lapsed' }).success).toBe(false);
  });
});

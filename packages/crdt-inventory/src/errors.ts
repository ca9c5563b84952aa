import type { ReplicaId, ReservationId, Sku, StoreId } from './ids.js';
import type { ReservationStatus } from './delta.js';

/**
 * Why an operation was refused. Operations return these instead of throwing,
 * so callers branch on `code`, never on message text.
 */
export type Refusal =
  | { code: 'invalid_quantity'; message: string; qty: unknown }
  /** A non-finite `now`, or an `expiresAt` that is not a whole epoch-ms instant ≥ 0. */
  | { code: 'invalid_time'; message: string; field: 'now' | 'expiresAt'; value: unknown }
  | {
      code: 'insufficient_rights';
      message: string;
      store: StoreId;
      sku: Sku;
      replica: ReplicaId;
      requested: number;
      rights: number;
    }
  | { code: 'quantity_overflow'; message: string; store: StoreId; sku: Sku }
  | { code: 'reservation_exists'; message: string; id: ReservationId }
  | { code: 'reservation_not_found'; message: string; id: ReservationId }
  | { code: 'reservation_not_owner'; message: string; id: ReservationId; owner: ReplicaId; by: ReplicaId }
  | { code: 'reservation_expired'; message: string; id: ReservationId; expiresAt: number; now: number }
  | { code: 'reservation_closed'; message: string; id: ReservationId; status: ReservationStatus }
  | { code: 'same_replica'; message: string; replica: ReplicaId };

export type RefusalCode = Refusal['code'];

export type Result<T> = ({ ok: true } & T) | { ok: false; refusal: Refusal };

/** Thrown only where a caller asked for it (`unwrap`), carrying the refusal. */
export class RefusedError extends Error {
  readonly code: RefusalCode;
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
    this.name = 'RefusedError';
    this.code = refusal.code;
  }
}

export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new RefusedError(result.refusal);
  return result;
}

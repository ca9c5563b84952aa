/**
 * Branded identifiers. A plain string cannot be passed where a StoreId is
 * expected, so a store id and a SKU are never swapped by accident.
 */
export type StoreId = string & { readonly __brand: 'StoreId' };
export type Sku = string & { readonly __brand: 'Sku' };
export type ReplicaId = string & { readonly __brand: 'ReplicaId' };
export type ReservationId = string & { readonly __brand: 'ReservationId' };
export type EventId = string & { readonly __brand: 'EventId' };

/** Ids are short, printable and free of the separator used in composite keys. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$/;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

function brand<T extends string>(kind: string) {
  return (value: string): T => {
    if (!isValidId(value)) throw new InvalidIdError(kind, value);
    return value as T;
  };
}

export class InvalidIdError extends Error {
  readonly code = 'invalid_id';
  constructor(
    readonly kind: string,
    readonly value: unknown,
    readonly maxLength = 128,
  ) {
    super(`invalid ${kind}: ${JSON.stringify(value)} (1-${maxLength} chars of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit)`);
    this.name = 'InvalidIdError';
  }
}

export const storeId = (value: string): StoreId => {
  if (!isValidStoreId(value)) throw new InvalidIdError('store id', value, MAX_STORE_ID_LENGTH);
  return value as StoreId;
};
export const sku = brand<Sku>('sku');
export const replicaId = brand<ReplicaId>('replica id');
export const reservationId = brand<ReservationId>('reservation id');
export const eventId = brand<EventId>('event id');

/**
 * Store ids are shorter than other ids: an agent's replica id is
 * `${store}.${12 hex}` and its event ids `${replica}:${seq}`, which must
 * still be valid ids (≤ 128 chars).
 */
export const MAX_STORE_ID_LENGTH = 80;

export function isValidStoreId(value: unknown): value is string {
  return isValidId(value) && value.length <= MAX_STORE_ID_LENGTH;
}

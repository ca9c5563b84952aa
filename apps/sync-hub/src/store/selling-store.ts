import type { ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';

/**
 * What the hub's selling side (carts, `POST /inventory/updates`, transfers)
 * keeps beside the CRDT: the answers promised under idempotency keys and the
 * carts' lines. Both are written by `InventoryStore.commit` in the SAME
 * transaction as the holds and events they describe (`CommitItem.records`),
 * so an answer is stored if and only if what it promises is; this interface
 * only reads them back. A key is stored once: a commit whose key another
 * hub process stored first fails whole with AnswerKeysTaken, so a request
 * retried at two processes at once has one effect, not two.
 */

/** A 2xx answer stored under an idempotency key, replayed byte for byte. */
export interface StoredResponse {
  /** Who may replay it: `key:<api key id>` or `store:<store id>`. Keys of different callers never collide. */
  scope: string;
  key: string;
  /** SHA-256 of the canonical request: the same key with another body is refused (422). */
  requestHash: string;
  status: number;
  body: string;
  at: number;
}

export interface CartLineRow {
  sku: Sku;
  qty: number;
  /** The CRDT hold carrying this line (`${cartId}.${n}`), owned by `owner`. */
  holdId: string;
}

/** A storefront cart: one CRDT hold per line, all at one store, owned by one hub replica. */
export interface CartRow {
  id: string;
  store: StoreId;
  owner: ReplicaId;
  lines: CartLineRow[];
  expiresAt: number;
  createdAt: number;
}

/**
 * A commit carried answers under keys that already hold one: another hub
 * process decided the same keys and committed first. The commit was rolled
 * back whole (nothing of it is stored), so each request has one effect; the
 * loser answers with `stored`, the bytes under each key.
 *
 * `code` is unique_violation's SQLSTATE: to the committer a key that is taken
 * is a constraint error (sync/hub-committer.ts `isPermanent`), so it is not
 * retried, and the other batches of its transaction commit without it.
 */
export class AnswerKeysTaken extends Error {
  readonly code = '23505';
  constructor(
    /** The answers stored under the keys that were taken. */
    readonly stored: readonly StoredResponse[],
  ) {
    super(`${stored.length} idempotency key(s) already answered by another hub process, e.g. ${stored[0]?.key ?? '?'}`);
    this.name = 'AnswerKeysTaken';
  }
}

/** Rows a commit writes beside the CRDT delta and the events. */
export interface CommitRecords {
  responses?: StoredResponse[];
  carts?: CartRow[];
}

export interface SellingStore {
  /** The stored answer for (scope, key), or null. */
  response(scope: string, key: string): Promise<StoredResponse | null>;
  /** The stored answers among `keys`, in one round trip (any order; keys without an answer are left out). */
  responses(keys: readonly { scope: string; key: string }[]): Promise<StoredResponse[]>;
  /** A cart by id (any hub replica's), or null. */
  cart(id: string): Promise<CartRow | null>;
  /** Replica ids of every hub process registered on this database. */
  hubReplicas(): Promise<ReplicaId[]>;
}

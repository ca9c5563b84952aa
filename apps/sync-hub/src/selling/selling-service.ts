import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { idempotentWrites, type WriteAnswer, type WriteRequest } from '../http/idempotent-write.js';
import { reservationIdParam, type reservationBody } from '../http/selling-schemas.js';
import type { HubState } from '../state/hub-state.js';
import type { CartRow, SellingStore } from '../store/selling-store.js';
import type { CartDirectory } from './cart-directory.js';
import { cartStatus, cartView, commitCart, DEFAULT_TTL_SECONDS, findHold, holdCart, newCartId, releaseCart, type CartView } from './carts.js';
import type { HubSeller } from './hub-seller.js';
import { StoredAnswers } from './stored-answers.js';

export type ReservationBody = z.infer<typeof reservationBody>;

/**
 * What the selling side answered, whatever the transport (REST, GraphQL):
 * - `stored`: an idempotent write's success, as the bytes stored under its key (replayed or new);
 * - `value`: a cart (read, commit, release), or another hub process's answer to a
 *   forwarded commit/release (status and body as it sent them, an `{error}` body included);
 * - `error`: a refusal with its REST status, code and details.
 */
export type SellAnswer =
  | { kind: 'stored'; status: number; json: string; replayed: boolean }
  | { kind: 'value'; status: ContentfulStatusCode; body: unknown }
  | { kind: 'error'; status: ContentfulStatusCode; code: string; message: string; details: Record<string, unknown> };

export interface SellingServiceDeps {
  seller: HubSeller;
  selling: SellingStore;
  carts: CartDirectory;
  state: HubState;
  clock: () => number;
}

const asLines = (lines: readonly { sku: string; qty: number }[]) => lines.map((l) => ({ sku: l.sku as Sku, qty: l.qty }));

const fromWrite = (a: WriteAnswer): SellAnswer =>
  a.ok ? { kind: 'stored', status: a.status, json: a.json, replayed: a.replayed } : { kind: 'error', status: a.status, code: a.code, message: a.message, details: a.details };

/**
 * The one implementation of cart holds behind every transport: REST
 * (`http/selling-routes.ts`) and GraphQL (`storefront/graphql.ts`) validate
 * their input with the same schemas and call these. Idempotency keys are
 * scoped by the caller (`key:<api key id>`), so a key used over REST replays
 * over GraphQL and the other way round.
 */
export function sellingService(deps: SellingServiceDeps) {
  const writes = idempotentWrites(deps.seller, new StoredAnswers(deps.selling));

  const load = async (id: string): Promise<CartRow | SellAnswer> => {
    const ok = reservationIdParam.safeParse(id);
    if (!ok.success) return { kind: 'error', status: 404, code: 'reservation_not_found', message: `no reservation ${String(id).slice(0, 64)}`, details: {} };
    const cart = await deps.carts.get(ok.data);
    if (cart === null) return { kind: 'error', status: 404, code: 'reservation_not_found', message: `no reservation ${ok.data}`, details: {} };
    return cart;
  };
  const isAnswer = (x: CartRow | SellAnswer): x is SellAnswer => 'kind' in x;

  const act = (action: 'commit' | 'release') => async (id: string): Promise<SellAnswer> => {
    const cart = await load(id);
    if (isAnswer(cart)) return cart;
    if (cart.owner !== deps.seller.replica) {
      const forwarded = await deps.carts.forward(cart, action);
      return { kind: 'value', status: forwarded.status, body: forwarded.body };
    }
    const outcome = await deps.seller.submit((b) => (action === 'commit' ? commitCart(b, cart) : releaseCart(b, cart)));
    if (!outcome.ok) return { kind: 'error', status: outcome.error.status, code: outcome.error.code, message: outcome.error.message, details: outcome.error.details };
    return { kind: 'value', status: 200, body: outcome.value };
  };

  return {
    /** Any idempotent write (updates, transfers): the REST routes' path for those. */
    write: async <T>(req: WriteRequest<T>): Promise<SellAnswer> => fromWrite(await writes(req)),

    /** Holds a cart (body validated with `reservationBody`); `scope` is the caller's (`key:<id>`). */
    async reserve(scope: string, body: ReservationBody): Promise<SellAnswer> {
      const cartId = newCartId();
      const ttlMs = (body.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
      const storeId = (body.storeId ?? null) as StoreId | null;
      return fromWrite(
        await writes({
          scope,
          idempotencyKey: body.idempotencyKey,
          route: 'POST /reservations',
          request: body,
          status: 201,
          run: (b) => holdCart(b, { cartId, storeId, lines: asLines(body.lines), ttlMs }),
          retryOnShort: () => deps.carts.borrowFor(storeId, asLines(body.lines)),
        }),
      );
    },

    async get(id: string): Promise<SellAnswer> {
      const cart = await load(id);
      if (isAnswer(cart)) return cart;
      const recs = cart.lines.map((l) => findHold(deps.state.state, cart, l.holdId));
      const status = cartStatus(recs, deps.clock());
      // Known from the cart table but its holds not yet in memory (another hub's, a moment ago): it is active.
      const view: CartView = cartView(cart, status === 'unknown' ? 'active' : status);
      return { kind: 'value', status: 200, body: view };
    },

    commit: act('commit'),
    release: act('release'),
  };
}

export type SellingService = ReturnType<typeof sellingService>;

import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { bearer, hashSecret } from '../auth/tokens.js';
import { cartStatus, cartView, commitCart, DEFAULT_TTL_SECONDS, findHold, holdCart, newCartId, releaseCart } from '../selling/carts.js';
import type { CartDirectory } from '../selling/cart-directory.js';
import type { HubSeller } from '../selling/hub-seller.js';
import { applyUpdate, transferStock } from '../selling/stock-updates.js';
import type { HubState } from '../state/hub-state.js';
import type { SellingStore } from '../store/selling-store.js';
import { errorResponse } from './errors.js';
import { idempotentWriter } from './idempotent-write.js';
import { reservationBody, reservationIdParam, transferBody, updateBody } from './selling-schemas.js';

export interface SellingRouteDeps {
  seller: HubSeller;
  selling: SellingStore;
  carts: CartDirectory;
  state: HubState;
  /** The store a (non-revoked) store token belongs to. */
  storeForToken: (tokenHash: string) => Promise<StoreId | null>;
  /** Audit trail of admin actions. */
  audit: (actor: string, action: string, detail: Record<string, unknown>) => Promise<void>;
  auth: (need: 'read' | 'reserve' | 'admin') => MiddlewareHandler;
  clock: () => number;
}

async function parse<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S> | Response> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    return errorResponse(c, 400, 'bad_json', 'the body is not valid JSON');
  }
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  return errorResponse(c, 400, 'invalid_request', first ? `${first.path || 'body'}: ${first.message}` : 'invalid request', { issues });
}

const asLines = (lines: readonly { sku: string; qty: number }[]) => lines.map((l) => ({ sku: l.sku as Sku, qty: l.qty }));

/**
 * Storefront and HQ writes: carts (`/reservations`), `POST /inventory/updates`
 * for stores without an agent, and `POST /transfers`. Every 2xx that
 * promises something is sent after the commit that records it.
 */
export function mountSellingRoutes(app: Hono, deps: SellingRouteDeps): void {
  const write = idempotentWriter(deps.seller, deps.selling);

  app.post('/reservations', deps.auth('reserve'), async (c) => {
    const body = await parse(c, reservationBody);
    if (body instanceof Response) return body;
    const cartId = newCartId();
    const ttlMs = (body.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
    const storeId = (body.storeId ?? null) as StoreId | null;
    const res = await write(c, {
      scope: `key:${c.get('apiKeyId')}`,
      idempotencyKey: body.idempotencyKey,
      route: 'POST /reservations',
      request: body,
      status: 201,
      run: (b) => holdCart(b, { cartId, storeId, lines: asLines(body.lines), ttlMs }),
      retryOnShort: () => deps.carts.borrowFor(storeId, asLines(body.lines)),
    });
    return res;
  });

  const loadCart = async (c: Context) => {
    const id = reservationIdParam.safeParse(c.req.param('id'));
    if (!id.success) return errorResponse(c, 404, 'reservation_not_found', `no reservation ${String(c.req.param('id')).slice(0, 64)}`);
    const cart = await deps.carts.get(id.data);
    if (cart === null) return errorResponse(c, 404, 'reservation_not_found', `no reservation ${id.data}`);
    return cart;
  };

  app.get('/reservations/:id', deps.auth('reserve'), async (c) => {
    const cart = await loadCart(c);
    if (cart instanceof Response) return cart;
    const recs = cart.lines.map((l) => findHold(deps.state.state, cart, l.holdId));
    const status = cartStatus(recs, deps.clock());
    // Known from the cart table but its holds not yet in memory (another hub's, a moment ago): it is active.
    return c.json(cartView(cart, status === 'unknown' ? 'active' : status));
  });

  const cartAction = (action: 'commit' | 'release') => async (c: Context) => {
    const cart = await loadCart(c);
    if (cart instanceof Response) return cart;
    if (cart.owner !== deps.seller.replica) {
      const forwarded = await deps.carts.forward(cart, action);
      return c.json(forwarded.body, forwarded.status);
    }
    const outcome = await deps.seller.submit((b) => (action === 'commit' ? commitCart(b, cart) : releaseCart(b, cart)));
    if (!outcome.ok) return errorResponse(c, outcome.error.status, outcome.error.code, outcome.error.message, outcome.error.details);
    return c.json(outcome.value, 200);
  };
  app.post('/reservations/:id/commit', deps.auth('reserve'), cartAction('commit'));
  app.delete('/reservations/:id', deps.auth('reserve'), cartAction('release'));

  app.post('/inventory/updates', async (c) => {
    const token = bearer(c.req.header('authorization'));
    if (!token) return errorResponse(c, 401, 'unauthorized', 'a store token is required: Authorization: Bearer st_…');
    const tokenStore = await deps.storeForToken(hashSecret(token));
    if (tokenStore === null) return errorResponse(c, 401, 'unauthorized', 'unknown or revoked store token');
    const body = await parse(c, updateBody);
    if (body instanceof Response) return body;
    if (body.storeId !== tokenStore) return errorResponse(c, 403, 'forbidden', `this token belongs to store ${tokenStore}, not ${body.storeId}`);
    return write(c, {
      scope: `store:${tokenStore}`,
      idempotencyKey: body.idempotencyKey,
      route: 'POST /inventory/updates',
      request: body,
      status: 201,
      run: (b) =>
        applyUpdate(b, {
          storeId: tokenStore,
          type: body.type,
          lines: asLines(body.lines),
          reason: body.reason,
          force: body.force,
          terminal: body.terminal ?? null,
          idempotencyKey: body.idempotencyKey,
        }),
    });
  });

  app.post('/transfers', deps.auth('admin'), async (c) => {
    const body = await parse(c, transferBody);
    if (body instanceof Response) return body;
    const res = await write(c, {
      scope: `key:${c.get('apiKeyId')}`,
      idempotencyKey: body.idempotencyKey,
      route: 'POST /transfers',
      request: body,
      status: 201,
      run: (b) => transferStock(b, { from: body.from as StoreId, to: body.to as StoreId, lines: asLines(body.lines), idempotencyKey: body.idempotencyKey }),
    });
    if (res.status === 201 && res.headers.get('idempotent-replayed') === null) {
      await deps.audit(`key:${c.get('apiKeyId')}`, 'stock.transfer', { from: body.from, to: body.to, lines: body.lines, idempotencyKey: body.idempotencyKey });
    }
    return res;
  });
}

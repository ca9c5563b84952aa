import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { bearer, hashSecret } from '../auth/tokens.js';
import type { SellAnswer, SellingService } from '../selling/selling-service.js';
import { applyUpdate, transferStock } from '../selling/stock-updates.js';
import { errorResponse, readJson } from './errors.js';
import { writeResponse, type WriteRequest } from './idempotent-write.js';
import { documentRoute, errorBody } from './route-docs.js';
import { reservationBody, reservationIdParam, transferBody, updateBody, validate } from './selling-schemas.js';

export interface SellingRouteDeps {
  /** Carts and idempotent writes, shared with GraphQL (one code path). */
  service: SellingService;
  /** The store a (non-revoked) store token belongs to. */
  storeForToken: (tokenHash: string) => Promise<StoreId | null>;
  /** Audit trail of admin actions. */
  audit: (actor: string, action: string, detail: Record<string, unknown>) => Promise<void>;
  auth: (need: 'read' | 'reserve' | 'admin') => MiddlewareHandler;
}

async function parse<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S> | Response> {
  const raw = await readJson(c);
  if (raw instanceof Response) return raw;
  const r = validate(schema, raw);
  return r.ok ? r.data : errorResponse(c, 400, 'invalid_request', r.message, { issues: r.issues });
}

/** A SellAnswer as the REST answer. */
function respond(c: Context, a: SellAnswer): Response {
  if (a.kind === 'stored') return writeResponse(c, { ok: true, status: a.status, json: a.json, replayed: a.replayed });
  if (a.kind === 'error') return errorResponse(c, a.status, a.code, a.message, a.details);
  return c.json(a.body, a.status);
}

const asLines = (lines: readonly { sku: string; qty: number }[]) => lines.map((l) => ({ sku: l.sku as Sku, qty: l.qty }));

/**
 * Storefront and HQ writes: carts (`/reservations`), `POST /inventory/updates`
 * for stores without an agent, and `POST /transfers`. Every 2xx that
 * promises something is sent after the commit that records it.
 */
export function mountSellingRoutes(app: Hono, deps: SellingRouteDeps): void {
  const write = async <T>(c: Context, req: WriteRequest<T>) => respond(c, await deps.service.write(req));

  const idem = { 422: { description: 'the idempotency key was used for another request (`idempotency_key_reused`)', schema: errorBody } };
  const cartId = { id: reservationIdParam };
  documentRoute(app, {
    method: 'post',
    path: '/reservations',
    auth: 'reserve',
    summary: 'hold stock for a cart (all lines or none) until it is committed, released or lapses',
    body: reservationBody,
    responses: { 201: { description: 'the reservation (`Idempotent-Replayed: true` on a replay)' }, 409: { description: 'not enough stock (`insufficient_stock`)', schema: errorBody }, ...idem },
  });
  app.post('/reservations', deps.auth('reserve'), async (c) => {
    const body = await parse(c, reservationBody);
    if (body instanceof Response) return body;
    return respond(c, await deps.service.reserve(`key:${c.get('apiKeyId')}`, body));
  });

  documentRoute(app, { method: 'get', path: '/reservations/:id', auth: 'reserve', summary: 'a reservation and its status', params: cartId, responses: { 200: { description: 'the reservation' }, 404: { description: '`reservation_not_found`', schema: errorBody } } });
  app.get('/reservations/:id', deps.auth('reserve'), async (c) => respond(c, await deps.service.get(c.req.param('id'))));

  const cartAction = (action: 'commit' | 'release') => async (c: Context) => respond(c, await deps.service[action](c.req.param('id')!));
  const settled = { 200: { description: 'the reservation, committed or released' }, 404: { description: '`reservation_not_found`', schema: errorBody }, 409: { description: 'already released, lapsed or committed', schema: errorBody } };
  documentRoute(app, { method: 'post', path: '/reservations/:id/commit', auth: 'reserve', summary: "sell a reservation's holds", params: cartId, responses: settled });
  documentRoute(app, { method: 'delete', path: '/reservations/:id', auth: 'reserve', summary: "release a reservation's holds", params: cartId, responses: settled });
  app.post('/reservations/:id/commit', deps.auth('reserve'), cartAction('commit'));
  app.delete('/reservations/:id', deps.auth('reserve'), cartAction('release'));

  documentRoute(app, {
    method: 'post',
    path: '/inventory/updates',
    auth: 'store',
    summary: 'a sale, restock, adjustment or count of a store without an agent (its store token)',
    body: updateBody,
    responses: { 201: { description: 'the update as committed' }, 409: { description: 'not enough stock for a sale (`insufficient_stock`)', schema: errorBody }, ...idem },
  });
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

  documentRoute(app, {
    method: 'post',
    path: '/transfers',
    auth: 'admin',
    summary: 'move stock from one store to another',
    body: transferBody,
    responses: { 201: { description: 'the transfer as committed' }, 409: { description: 'not enough stock at `from`', schema: errorBody }, ...idem },
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

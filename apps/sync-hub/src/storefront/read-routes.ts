import { isValidId, isValidStoreId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { errorResponse } from '../http/errors.js';
import { documentRoute, errorBody } from '../http/route-docs.js';
import type { SkuStock, StockViews } from './views.js';

export const DEFAULT_CACHE_CONTROL = 'public, max-age=1, stale-while-revalidate=5';
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1_000;
export const DEFAULT_LOW_STOCK = 5;

export interface ReadRouteDeps {
  views: StockViews;
  auth: MiddlewareHandler;
  /** A store registered at the hub (it may have no stock yet). */
  storeExists: (store: StoreId) => Promise<boolean>;
  clock: () => number;
  cacheControl?: string;
  /** `lowStock=true` lists SKUs whose aggregate available is at or below this (until the catalog brings per-SKU thresholds). */
  lowStockThreshold?: number;
}

export const cursorOf = (sku: Sku): string => Buffer.from(sku, 'utf8').toString('base64url');
export const skuOfCursor = (cursor: string): Sku | null => {
  const sku = Buffer.from(cursor, 'base64url').toString('utf8');
  return isValidId(sku) ? (sku as Sku) : null;
};

/**
 * One page of SKUs (REST `GET /inventory` lists and GraphQL `skus`): in SKU
 * order after `after`, only those some store (or `store`) carries, with
 * `lowStock` only those whose aggregate available is at or below `threshold`.
 * `nextCursor` is the last item's cursor when more follow, else null.
 */
export function pageOfSkus(
  views: StockViews,
  q: { universe: readonly Sku[]; store: StoreId | undefined; after: Sku | null; limit: number; lowStock: boolean; threshold: number },
): { items: SkuStock[]; nextCursor: string | null } {
  const items: SkuStock[] = [];
  let next: string | null = null;
  for (const sku of q.universe) {
    if (q.after !== null && sku <= q.after) continue;
    if (views.storesOf(sku, q.store).length === 0) continue;
    const row = views.skuStock(sku, q.store);
    if (q.lowStock && row.available > q.threshold) continue;
    if (items.length === q.limit) {
      next = cursorOf(items[items.length - 1]!.sku);
      break;
    }
    items.push(row);
  }
  return { items, nextCursor: next };
}

/**
 * Storefront reads, from memory (committed state only), cacheable:
 * `ETag` derived from the state's change position (see StockViews), `304`
 * on `If-None-Match`, `Cache-Control` for a CDN in front.
 *
 *   GET /inventory?storeId=S&sku=K   one SKU at one store
 *   GET /inventory?storeId=S         every SKU of a store
 *   GET /inventory?sku=K             one SKU: aggregate + per-store breakdown
 *   GET /inventory[?sku=A&sku=B][&storeId=S][&lowStock=true][&limit=][&cursor=]
 *                                    every SKU (or those named), paged
 *   GET /inventory/:sku[?storeId=S]  one SKU: aggregate + per-store breakdown
 */
export function mountReadRoutes(app: Hono, deps: ReadRouteDeps): void {
  const { views } = deps;
  const cacheControl = deps.cacheControl ?? DEFAULT_CACHE_CONTROL;
  const threshold = deps.lowStockThreshold ?? DEFAULT_LOW_STOCK;

  const answer = (c: Context, etag: string, body: () => unknown): Response => {
    c.header('ETag', etag);
    c.header('Cache-Control', cacheControl);
    const inm = c.req.header('if-none-match');
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) return c.body(null, 304);
    return c.json(body());
  };

  const checkStore = async (c: Context, store: string | undefined): Promise<Response | StoreId | undefined> => {
    if (store === undefined) return undefined;
    if (!isValidStoreId(store)) return errorResponse(c, 400, 'invalid_request', 'storeId is not a valid store id');
    if (!views.hasStore(store as StoreId) && !(await deps.storeExists(store as StoreId))) return errorResponse(c, 404, 'unknown_store', `no store ${store}`);
    return store as StoreId;
  };

  const oneSku = (c: Context, sku: Sku, store: StoreId | undefined): Response => {
    const stores = views.storesOf(sku, store);
    if (stores.length === 0) return errorResponse(c, 404, 'unknown_sku', store ? `no stock record for ${sku} at ${store}` : `no store carries ${sku}`);
    return answer(c, views.etagOf(stores.map((s) => [s, sku])), () => ({ ...views.skuStock(sku, store), at: new Date(deps.clock()).toISOString() }));
  };

  const storeQ = { schema: z.string().max(80), description: 'a store id; unknown → 404 unknown_store' };
  const read = { 304: { description: 'not modified (If-None-Match matched the ETag)' }, 404: { description: '`unknown_store` or `unknown_sku`', schema: errorBody } };
  documentRoute(app, {
    method: 'get',
    path: '/inventory',
    auth: 'read',
    summary: 'availability: one SKU at one store, a store, one SKU, or every SKU paged',
    description: 'storeId+one sku: that row; storeId alone: every SKU of the store; one sku: aggregate + per-store breakdown; otherwise a page of SKUs (limit, cursor, lowStock). ETag/If-None-Match, Cache-Control.',
    query: {
      storeId: storeQ,
      sku: { schema: z.string().max(128), repeatable: true, description: 'one or more SKUs' },
      lowStock: { schema: z.enum(['true', 'false']), description: `only SKUs whose available is at or below ${threshold}` },
      limit: { schema: z.number().int().min(1).max(MAX_PAGE), description: `page size (default ${DEFAULT_PAGE})` },
      cursor: { schema: z.string(), description: 'the nextCursor of the previous page' },
    },
    responses: { 200: { description: 'a row, a store\'s rows, a SKU with its breakdown, or a page `{items, nextCursor}`' }, 400: { description: 'a bad parameter or cursor', schema: errorBody }, ...read },
  });
  app.get('/inventory', deps.auth, async (c) => {
    const store = await checkStore(c, c.req.query('storeId'));
    if (store instanceof Response) return store;
    const skus = c.req.queries('sku') ?? [];
    for (const k of skus) if (!isValidId(k)) return errorResponse(c, 400, 'invalid_request', `sku ${JSON.stringify(k).slice(0, 64)} is not a valid id`);
    const lowStock = c.req.query('lowStock');
    if (lowStock !== undefined && lowStock !== 'true' && lowStock !== 'false') return errorResponse(c, 400, 'invalid_request', 'lowStock is true or false');
    const paged = c.req.query('limit') !== undefined || c.req.query('cursor') !== undefined || lowStock !== undefined;

    if (!paged && store !== undefined && skus.length === 1) {
      const sku = skus[0] as Sku;
      if (views.storesOf(sku, store).length === 0) return errorResponse(c, 404, 'unknown_sku', `no stock record for ${sku} at ${store}`);
      return answer(c, views.etagOf([[store, sku]]), () => ({ ...views.storeStock(store, sku), at: new Date(deps.clock()).toISOString() }));
    }
    if (!paged && store === undefined && skus.length === 1) return oneSku(c, skus[0] as Sku, undefined);
    if (!paged && store !== undefined && skus.length === 0) {
      return answer(c, views.etagOfAll(0), () => ({
        storeId: store,
        at: new Date(deps.clock()).toISOString(),
        items: views.skusOf(store).map((k) => views.storeStock(store, k)),
      }));
    }

    const limitRaw = c.req.query('limit');
    const limit = limitRaw === undefined ? DEFAULT_PAGE : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) return errorResponse(c, 400, 'invalid_request', `limit is a whole number from 1 to ${MAX_PAGE}`);
    const cursorRaw = c.req.query('cursor');
    const after = cursorRaw === undefined ? null : skuOfCursor(cursorRaw);
    if (cursorRaw !== undefined && after === null) return errorResponse(c, 400, 'invalid_cursor', 'cursor is not one this hub gave out');
    const universe = skus.length > 0 ? [...new Set(skus as Sku[])].sort() : views.allSkus();
    return answer(c, views.etagOfAll(0), () => {
      const page = pageOfSkus(views, { universe, store, after, limit, lowStock: lowStock === 'true', threshold });
      return { at: new Date(deps.clock()).toISOString(), items: page.items, nextCursor: page.nextCursor };
    });
  });

  documentRoute(app, {
    method: 'get',
    path: '/inventory/:sku',
    auth: 'read',
    summary: 'one SKU: aggregate available (sum of per-store available, each floored at 0), deficits and the per-store breakdown',
    params: { sku: z.string().max(128) },
    query: { storeId: storeQ },
    responses: { 200: { description: 'the SKU' }, 400: { description: 'not a valid sku or storeId', schema: errorBody }, ...read },
  });
  app.get('/inventory/:sku', deps.auth, async (c) => {
    const sku = c.req.param('sku');
    if (!isValidId(sku)) return errorResponse(c, 400, 'invalid_request', 'sku is not a valid id');
    const store = await checkStore(c, c.req.query('storeId'));
    if (store instanceof Response) return store;
    return oneSku(c, sku as Sku, store);
  });
}

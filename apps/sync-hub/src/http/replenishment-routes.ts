import type { Hono, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { isValidStoreId, type StoreId } from '@scoville/crdt-inventory';
import { DEFAULT_TARGET_DAYS, storeReplenishment } from '../replenishment/replenishment.js';
import type { ReplenishmentStore } from '../store/replenishment-store.js';
import type { StockViews } from '../storefront/views.js';
import { errorResponse } from './errors.js';
import { documentRoute, errorBody } from './route-docs.js';

export const MAX_TARGET_DAYS = 365;

/**
 * `GET /replenishment?storeId=&targetDays=` (read key): what runs out first at a store, and what to
 * order; without `targetDays`, the store's `targetDays` setting (its settings document), else the default.
 */
export function mountReplenishmentRoutes(
  app: Hono,
  deps: { replenishment: ReplenishmentStore; views: StockViews; auth: MiddlewareHandler; clock: () => number; targetDays?: (store: StoreId) => number | null },
): void {
  documentRoute(app, {
    method: 'get',
    path: '/replenishment',
    auth: 'read',
    summary: 'sales velocity (units/day over 1, 7, 28 days), days of cover and a suggested restock per SKU of a store, runs out first first',
    query: {
      storeId: { schema: z.string(), required: true },
      targetDays: { schema: z.number().int().min(1).max(MAX_TARGET_DAYS), description: `days of cover to restock to (default: the store's targetDays setting, else ${DEFAULT_TARGET_DAYS})` },
    },
    responses: { 200: { description: '`{storeId, targetDays, asOf, lines}`' }, 400: { description: 'a bad parameter', schema: errorBody } },
  });
  app.get('/replenishment', deps.auth, async (c) => {
    const store = c.req.query('storeId');
    const target = c.req.query('targetDays');
    if (store === undefined || !isValidStoreId(store)) return errorResponse(c, 400, 'invalid_request', 'storeId must be a store id');
    if (target !== undefined && (!/^[1-9][0-9]{0,2}$/.test(target) || Number(target) > MAX_TARGET_DAYS)) {
      return errorResponse(c, 400, 'invalid_request', `targetDays must be a whole number from 1 to ${MAX_TARGET_DAYS}`);
    }
    const r = await storeReplenishment(
      store as StoreId,
      { replenishment: deps.replenishment, stock: (s) => deps.views.skusOf(s).map((sku) => deps.views.storeStock(s, sku)), now: deps.clock() },
      target === undefined ? (deps.targetDays?.(store as StoreId) ?? DEFAULT_TARGET_DAYS) : Number(target),
    );
    c.header('Cache-Control', 'no-cache');
    return c.json(r);
  });
}

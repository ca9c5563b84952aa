import type { Hono, MiddlewareHandler } from 'hono';
import { ALERT_KINDS, type Alert, type AlertKind, type AlertStore } from '../store/alert-store.js';
import { isValidStoreId, type StoreId } from '@scoville/crdt-inventory';
import { z } from 'zod';
import { errorResponse } from './errors.js';
import { documentRoute, errorBody } from './route-docs.js';

const MAX_LIMIT = 1_000;

export function alertView(a: Alert) {
  return {
    id: a.id,
    kind: a.kind,
    storeId: a.store,
    sku: a.sku,
    raisedAt: new Date(a.raisedAt).toISOString(),
    clearedAt: a.clearedAt === null ? null : new Date(a.clearedAt).toISOString(),
    detail: a.detail,
  };
}

/** `GET /alerts?open=true|false&kind=&storeId=&limit=` (read key): newest raised first, default 100, at most 1,000. */
export function mountAlertRoutes(app: Hono, deps: { alerts: AlertStore; auth: MiddlewareHandler }): void {
  documentRoute(app, {
    method: 'get',
    path: '/alerts',
    auth: 'read',
    summary: 'alerts (oversell, low/out of stock, store offline, holds expiring in bulk, replica refused), newest raised first',
    query: {
      open: { schema: z.enum(['true', 'false']) },
      kind: { schema: z.enum(ALERT_KINDS) },
      storeId: { schema: z.string(), description: '`*`: aggregate (all stores) alerts' },
      limit: { schema: z.number().int().min(1).max(MAX_LIMIT), description: 'default 100' },
    },
    responses: { 200: { description: '`{alerts}`' }, 400: { description: 'a bad parameter', schema: errorBody } },
  });
  app.get('/alerts', deps.auth, async (c) => {
    const open = c.req.query('open');
    const limit = c.req.query('limit');
    if (open !== undefined && open !== 'true' && open !== 'false') return errorResponse(c, 400, 'invalid_request', 'open must be true or false');
    if (limit !== undefined && !/^[1-9][0-9]{0,5}$/.test(limit)) return errorResponse(c, 400, 'invalid_request', 'limit must be a positive integer');
    const kind = c.req.query('kind');
    if (kind !== undefined && !(ALERT_KINDS as readonly string[]).includes(kind)) return errorResponse(c, 400, 'invalid_request', `kind must be one of ${ALERT_KINDS.join(', ')}`);
    const store = c.req.query('storeId');
    if (store !== undefined && store !== '*' && !isValidStoreId(store)) return errorResponse(c, 400, 'invalid_request', 'storeId must be a store id or *');
    const alerts = await deps.alerts.list({
      open: open === undefined ? undefined : open === 'true',
      kind: kind as AlertKind | undefined,
      store: store as StoreId | undefined,
      limit: Math.min(MAX_LIMIT, limit === undefined ? 100 : Number(limit)),
    });
    c.header('Cache-Control', 'no-cache');
    return c.json({ alerts: alerts.map(alertView) });
  });
}

import type { Hono, MiddlewareHandler } from 'hono';
import type { Alert, AlertStore } from '../store/alert-store.js';
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

/** `GET /alerts?open=true|false&limit=` (read key): newest raised first, default 100, at most 1,000. */
export function mountAlertRoutes(app: Hono, deps: { alerts: AlertStore; auth: MiddlewareHandler }): void {
  documentRoute(app, {
    method: 'get',
    path: '/alerts',
    auth: 'read',
    summary: 'alerts (oversells), newest raised first',
    query: { open: { schema: z.enum(['true', 'false']) }, limit: { schema: z.number().int().min(1).max(MAX_LIMIT), description: 'default 100' } },
    responses: { 200: { description: '`{alerts}`' }, 400: { description: 'a bad parameter', schema: errorBody } },
  });
  app.get('/alerts', deps.auth, async (c) => {
    const open = c.req.query('open');
    const limit = c.req.query('limit');
    if (open !== undefined && open !== 'true' && open !== 'false') return errorResponse(c, 400, 'invalid_request', 'open must be true or false');
    if (limit !== undefined && !/^[1-9][0-9]{0,5}$/.test(limit)) return errorResponse(c, 400, 'invalid_request', 'limit must be a positive integer');
    const alerts = await deps.alerts.list({ open: open === undefined ? undefined : open === 'true', limit: Math.min(MAX_LIMIT, limit === undefined ? 100 : Number(limit)) });
    c.header('Cache-Control', 'no-cache');
    return c.json({ alerts: alerts.map(alertView) });
  });
}

import type { Hono } from 'hono';
import { z } from 'zod';
import { isValidId } from '@scoville/crdt-inventory';
import { CATALOG_DOC, catalogItem, catalogItems, putCatalogItem } from '@scoville/protocol/docs';
import type { ApiRole } from '../store/access-store.js';
import type { HubDocs } from '../yjs/hub-docs.js';
import { errorResponse } from './errors.js';
import { documentRoute, errorBody } from './route-docs.js';

const count = z.number().int().min(0).max(1_000_000_000);
const catalogPut = z.strictObject({
  name: z.string().min(1).max(200),
  size: z.string().max(100).nullable().optional(),
  priceCents: count.nullable().optional(),
  barcode: z.string().max(64).nullable().optional(),
  active: z.boolean().optional(),
  lowStockThreshold: count.optional(),
  safetyStock: count.optional(),
});

/**
 * HQ edits of the catalog document (the same Y.Doc agents sync over
 * `/yjs/catalog`): `PUT /catalog/:sku` (admin key) sets the fields given and
 * answers once the update is stored; `GET /catalog`, `GET /catalog/:sku`
 * (read key) read the hub's copy.
 */
export function mountCatalogRoutes(
  app: Hono,
  deps: { docs: HubDocs; auth: (need: ApiRole) => import('hono').MiddlewareHandler; audit?: (actor: string, action: string, detail: unknown) => Promise<void> },
): void {
  const catalog = () => deps.docs.loaded(CATALOG_DOC)!.doc;
  documentRoute(app, {
    method: 'get',
    path: '/catalog',
    auth: 'read',
    summary: 'every catalog item (the hub\'s copy of the shared catalog document)',
    responses: { 200: { description: '`{items: [{sku, name, size, priceCents, barcode, active, lowStockThreshold, safetyStock}]}`' } },
  });
  documentRoute(app, {
    method: 'get',
    path: '/catalog/:sku',
    auth: 'read',
    summary: 'one catalog item',
    responses: { 200: { description: 'the item' }, 404: { description: '`unknown_sku`', schema: errorBody } },
  });
  documentRoute(app, {
    method: 'put',
    path: '/catalog/:sku',
    auth: 'admin',
    summary: 'HQ sets the given fields of a catalog item (an edit of the shared document, synced to every agent); answers once stored',
    body: catalogPut,
    responses: { 200: { description: 'the item as stored' }, 400: { description: '`invalid_request`', schema: errorBody } },
  });
  app.get('/catalog', deps.auth('read'), (c) => c.json({ items: catalogItems(catalog()) }));
  app.get('/catalog/:sku', deps.auth('read'), (c) => {
    const item = catalogItem(catalog(), c.req.param('sku'));
    return item ? c.json(item) : errorResponse(c, 404, 'unknown_sku', `unknown SKU: ${c.req.param('sku')}`);
  });
  app.put('/catalog/:sku', deps.auth('admin'), async (c) => {
    const sku = c.req.param('sku');
    if (!isValidId(sku)) return errorResponse(c, 400, 'invalid_request', 'not a valid SKU');
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return errorResponse(c, 400, 'invalid_request', 'the body must be JSON');
    }
    const body = catalogPut.safeParse(raw);
    if (!body.success) return errorResponse(c, 400, 'invalid_request', body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    putCatalogItem(catalog(), sku, body.data);
    await deps.docs.flush(CATALOG_DOC);
    await deps.audit?.(c.get('apiKeyId'), 'catalog.put', { sku, ...body.data });
    return c.json(catalogItem(catalog(), sku));
  });
}

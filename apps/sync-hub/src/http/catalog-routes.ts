import type { Hono } from 'hono';
import { isValidId } from '@scoville/crdt-inventory';
import { CATALOG_DOC, catalogItem, catalogItems, putCatalogItem } from '@scoville/protocol/docs';
import type { ApiRole } from '../store/access-store.js';
import type { HubDocs } from '../yjs/hub-docs.js';
import { applyCatalogRows, CatalogImportError, catalogFields, CSV_COLUMNS, parseCatalogCsv } from '../yjs/catalog-edits.js';
import { errorResponse, readJson } from './errors.js';
import { documentRoute, errorBody } from './route-docs.js';
import { validate } from './selling-schemas.js';

/**
 * HQ edits of the catalog document (the same Y.Doc agents sync over
 * `/yjs/catalog`): `PUT /catalog/:sku` (admin key) sets the fields given and
 * answers once the update is stored; `POST /catalog/import` (admin key, a CSV
 * body) does the same for every row of a file, all rows or none (one bad row
 * refuses the file with its line number); `GET /catalog`, `GET /catalog/:sku`
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
    body: catalogFields,
    responses: { 200: { description: 'the item as stored' }, 400: { description: '`bad_json`, `invalid_request` (with `issues`)', schema: errorBody } },
  });
  documentRoute(app, {
    method: 'post',
    path: '/catalog/import',
    auth: 'admin',
    summary: 'HQ imports a catalog CSV (`Content-Type: text/csv`): every row sets the fields given of one item, in one edit of the shared document; one bad row refuses the whole file and changes nothing',
    description: `Header: \`${CSV_COLUMNS}\` (sku and name required, the rest optional, any order; names match without case or \`_\`). An empty cell leaves that field as it is; \`name\` may be empty only for a SKU the catalog has. \`active\`: true/false/yes/no/1/0. At most 100,000 rows and \`--body-limit\` bytes (\`sync-hub catalog import\` has no size limit).`,
    responses: {
      200: { description: '`{imported, created}`' },
      400: { description: '`invalid_csv` with `row` (the line of the file; null for the file as a whole)', schema: errorBody },
      415: { description: '`unsupported_media_type`: the body is not text/csv', schema: errorBody },
    },
  });
  app.get('/catalog', deps.auth('read'), (c) => c.json({ items: catalogItems(catalog()) }));
  app.get('/catalog/:sku', deps.auth('read'), (c) => {
    const item = catalogItem(catalog(), c.req.param('sku'));
    return item ? c.json(item) : errorResponse(c, 404, 'unknown_sku', `unknown SKU: ${c.req.param('sku')}`);
  });
  app.put('/catalog/:sku', deps.auth('admin'), async (c) => {
    const sku = c.req.param('sku');
    if (!isValidId(sku)) return errorResponse(c, 400, 'invalid_request', 'not a valid SKU');
    const raw = await readJson(c);
    if (raw instanceof Response) return raw;
    const body = validate(catalogFields, raw);
    if (!body.ok) return errorResponse(c, 400, 'invalid_request', body.message, { issues: body.issues });
    putCatalogItem(catalog(), sku, body.data);
    await deps.docs.flush(CATALOG_DOC);
    await deps.audit?.(c.get('apiKeyId'), 'catalog.put', { sku, ...body.data });
    return c.json(catalogItem(catalog(), sku));
  });
  app.post('/catalog/import', deps.auth('admin'), async (c) => {
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'text/csv' && type !== 'text/plain') return errorResponse(c, 415, 'unsupported_media_type', 'send the catalog as Content-Type: text/csv');
    let rows;
    try {
      rows = parseCatalogCsv(await c.req.text(), catalog());
    } catch (e) {
      if (e instanceof CatalogImportError) return errorResponse(c, 400, e.code, e.message, { row: e.row });
      throw e;
    }
    const result = applyCatalogRows(catalog(), rows);
    await deps.docs.flush(CATALOG_DOC);
    await deps.audit?.(c.get('apiKeyId'), 'catalog.import', result);
    return c.json(result);
  });
}

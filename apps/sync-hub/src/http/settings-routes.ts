import type { Hono, MiddlewareHandler } from 'hono';
import { isValidStoreId, type StoreId } from '@scoville/crdt-inventory';
import { settingsDocName } from '@scoville/protocol/docs';
import type { HubDocs } from '../yjs/hub-docs.js';
import { applySettings, readSettings, settingsPatch } from '../yjs/store-settings.js';
import { errorResponse, readJson } from './errors.js';
import { documentRoute, errorBody } from './route-docs.js';
import { validate } from './selling-schemas.js';

export interface SettingsRouteDeps {
  docs: HubDocs;
  /** True when the store is registered (revoked or not). */
  storeExists: (store: StoreId) => Promise<boolean>;
  audit: (actor: string, action: string, detail: Record<string, unknown>) => Promise<void>;
  auth: (need: 'read' | 'admin') => MiddlewareHandler;
}

/**
 * `GET /stores/:id/settings` (read key) and `PUT /stores/:id/settings`
 * (admin key, audited): the store's settings document (yjs/store-settings.ts).
 * A PUT is one Yjs update of `settings:<store>`, stored before the answer and
 * synced to the store's agent over its `/yjs` link.
 */
export function mountSettingsRoutes(app: Hono, deps: SettingsRouteDeps): void {
  const storeParam = async (id: string): Promise<StoreId | null> => (isValidStoreId(id) && (await deps.storeExists(id as StoreId)) ? (id as StoreId) : null);
  const shape = '`{storeId, targetDays, openingHours: {mon…sun}, notes, overrides: {sku: {lowStockThreshold?, safetyStock?}}}`';
  const unknown = { 404: { description: '`unknown_store`', schema: errorBody } };
  documentRoute(app, { method: 'get', path: '/stores/:id/settings', auth: 'read', summary: "a store's settings (its settings document: replenishment target, opening hours, notes, per-SKU threshold and safety-stock overrides)", responses: { 200: { description: shape }, ...unknown } });
  documentRoute(app, {
    method: 'put',
    path: '/stores/:id/settings',
    auth: 'admin',
    summary: "HQ edits a store's settings (a patch; null removes a field); synced to the store's agent, answers once stored",
    body: settingsPatch,
    responses: { 200: { description: `the settings as stored: ${shape}` }, 400: { description: '`bad_json`, `invalid_request` (with `issues`)', schema: errorBody }, ...unknown },
  });

  app.get('/stores/:id/settings', deps.auth('read'), async (c) => {
    const store = await storeParam(c.req.param('id'));
    if (store === null) return errorResponse(c, 404, 'unknown_store', `no store ${c.req.param('id')}`);
    return c.json(readSettings(store, deps.docs.loaded(settingsDocName(store))?.doc ?? null));
  });

  app.put('/stores/:id/settings', deps.auth('admin'), async (c) => {
    const store = await storeParam(c.req.param('id'));
    if (store === null) return errorResponse(c, 404, 'unknown_store', `no store ${c.req.param('id')}`);
    const raw = await readJson(c);
    if (raw instanceof Response) return raw;
    const patch = validate(settingsPatch, raw);
    if (!patch.ok) return errorResponse(c, 400, 'invalid_request', patch.message, { issues: patch.issues });
    const name = settingsDocName(store);
    const { doc } = await deps.docs.get(name);
    applySettings(doc, patch.data);
    await deps.docs.flush(name);
    await deps.audit(`key:${c.get('apiKeyId')}`, 'settings.put', { storeId: store, ...patch.data });
    return c.json(readSettings(store, doc));
  });
}

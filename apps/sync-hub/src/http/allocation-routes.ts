import { checkAllocationRule, isValidId, isValidStoreId, type AllocationRule, type StoreId } from '@scoville/crdt-inventory';
import type { Hono, MiddlewareHandler } from 'hono';
import type { AllocationDesk } from '../allocation/allocation-desk.js';
import type { AllocationChange } from '../store/allocation-store.js';
import { errorResponse, readJson } from './errors.js';
import { documentRoute, errorBody } from './route-docs.js';

export interface AllocationRouteDeps {
  desk: AllocationDesk;
  /** True when the store is registered (revoked or not). */
  storeExists: (store: StoreId) => Promise<boolean>;
  audit: (actor: string, action: string, detail: Record<string, unknown>) => Promise<void>;
  auth: (need: 'read' | 'reserve' | 'admin') => MiddlewareHandler;
  clock: () => number;
}

/** A request body as an AllocationChange, or the reason it is not one. */
export function parseAllocationChange(body: unknown, sku: string | undefined): { ok: true; change: AllocationChange } | { ok: false; code: string; message: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, code: 'invalid_request', message: 'the body must be a JSON object' };
  const b = body as Record<string, unknown>;
  if (sku !== undefined) {
    // `?sku=S`: the body is the rule itself (or {"rule": null} to drop the override).
    if (!isValidId(sku)) return { ok: false, code: 'invalid_sku', message: `"${sku}" is not a valid SKU` };
    if ('rule' in b && b.rule === null && Object.keys(b).length === 1) return { ok: true, change: { skus: { [sku]: null } } };
    const bad = checkAllocationRule(b);
    if (bad) return { ok: false, code: 'invalid_rule', message: bad };
    return { ok: true, change: { skus: { [sku]: b as AllocationRule } } };
  }
  const extra = Object.keys(b).filter((k) => k !== 'default' && k !== 'skus');
  if (extra.length > 0) return { ok: false, code: 'invalid_request', message: `unknown field(s): ${extra.join(', ')} (expected default, skus)` };
  const change: AllocationChange = {};
  if (b.default !== undefined) {
    const bad = checkAllocationRule(b.default);
    if (bad) return { ok: false, code: 'invalid_rule', message: `default: ${bad}` };
    change.default = b.default as AllocationRule;
  }
  if (b.skus !== undefined) {
    if (typeof b.skus !== 'object' || b.skus === null || Array.isArray(b.skus)) return { ok: false, code: 'invalid_request', message: 'skus must be an object {sku: rule|null}' };
    const skus: Record<string, AllocationRule | null> = {};
    for (const [k, rule] of Object.entries(b.skus as Record<string, unknown>)) {
      if (!isValidId(k)) return { ok: false, code: 'invalid_sku', message: `"${k}" is not a valid SKU` };
      if (rule !== null) {
        const bad = checkAllocationRule(rule);
        if (bad) return { ok: false, code: 'invalid_rule', message: `skus.${k}: ${bad}` };
      }
      skus[k] = rule as AllocationRule | null;
    }
    change.skus = skus;
  }
  if (change.default === undefined && change.skus === undefined) return { ok: false, code: 'invalid_request', message: 'give default, skus, or both' };
  return { ok: true, change };
}

/** `GET/PUT /stores/:id/allocation` (admin key): a store's online allocation policy, audited. */
export function mountAllocationRoutes(app: Hono, deps: AllocationRouteDeps): void {
  const storeParam = async (id: string): Promise<StoreId | null> => {
    if (!isValidStoreId(id)) return null;
    return (await deps.storeExists(id as StoreId)) ? (id as StoreId) : null;
  };

  const unknown = { 404: { description: '`unknown_store`', schema: errorBody } };
  documentRoute(app, { method: 'get', path: '/stores/:id/allocation', auth: 'admin', summary: "a store's online allocation policy and its version", responses: { 200: { description: '`{storeId, policy, version, updatedAt}`' }, ...unknown } });
  documentRoute(app, {
    method: 'put',
    path: '/stores/:id/allocation',
    auth: 'admin',
    summary: "change a store's online allocation policy (audited; agents get it within ~2 s)",
    description: 'Body: `{default?: rule, skus?: {sku: rule|null}}` (at least one), rule = `{mode:"share",share}` | `{mode:"units",units}` | `{mode:"keep",keep}` | `{mode:"none"}`; see decision 22.',
    responses: { 200: { description: 'the saved policy and its new version' }, 400: { description: '`bad_json`, `invalid_request`, `invalid_sku`, `invalid_rule`', schema: errorBody }, ...unknown },
  });
  app.get('/stores/:id/allocation', deps.auth('admin'), async (c) => {
    const store = await storeParam(c.req.param('id'));
    if (store === null) return errorResponse(c, 404, 'unknown_store', `no store ${c.req.param('id')}`);
    const row = await deps.desk.stored(store as StoreId);
    const policy = row?.policy ?? (await deps.desk.policy(store as StoreId));
    return c.json({ storeId: store, policy, version: row?.version ?? 0, updatedAt: row?.updatedAt ?? null });
  });

  app.put('/stores/:id/allocation', deps.auth('admin'), async (c) => {
    const store = await storeParam(c.req.param('id'));
    if (store === null) return errorResponse(c, 404, 'unknown_store', `no store ${c.req.param('id')}`);
    const body = await readJson(c);
    if (body instanceof Response) return body;
    const parsed = parseAllocationChange(body, c.req.query('sku'));
    if (!parsed.ok) return errorResponse(c, 400, parsed.code, parsed.message);
    const saved = await deps.desk.update(store as StoreId, parsed.change, deps.clock());
    await deps.audit(`key:${c.get('apiKeyId' as never)}`, 'allocation.set', { storeId: store, change: parsed.change, version: saved.version });
    return c.json({ storeId: store, policy: saved.policy, version: saved.version, updatedAt: saved.updatedAt });
  });
}

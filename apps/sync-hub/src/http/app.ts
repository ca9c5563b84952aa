import { isValidId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { Hono } from 'hono';
import type { HubState } from '../state/hub-state.js';
import type { HubStorage } from '../store/hub-storage.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import type { SyncServer } from '../sync/sync-server.js';
import { mountAlertRoutes } from './alert-routes.js';
import { apiKeyAuth } from './api-keys.js';
import { errorResponse } from './errors.js';
import { mountDashboard } from '../dashboard/routes.js';

export interface HubAppDeps {
  /** Keys and stores (access), the database's health (ping), alerts (GET /alerts). */
  storage: Pick<HubStorage, 'access' | 'ping' | 'alerts'>;
  state: HubState;
  committer: HubCommitter;
  sync: SyncServer;
  hubReplica: string;
  clock?: () => number;
  /** Mounts the selling routes (carts, updates, transfers) with this app's key auth. */
  mountSelling?: (app: Hono, auth: ReturnType<typeof apiKeyAuth>) => void;
}

/** The hub's HTTP API. Reads come from memory (committed state only). */
export function createHubApp(deps: HubAppDeps): Hono {
  const clock = deps.clock ?? Date.now;
  const app = new Hono();
  const auth = apiKeyAuth(deps.storage.access);

  app.onError((err, c) => {
    process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'request failed', path: c.req.path, err: String(err) })}\n`);
    return errorResponse(c, 500, 'internal', 'the hub could not complete the request');
  });
  app.notFound((c) => errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));

  // Healthy = the database answers and commits are going through. The ping
  // is cached briefly so a load balancer polling /health costs little.
  let lastPing = { at: 0, ok: true, error: null as string | null };
  app.get('/health', async (c) => {
    const now = Date.now();
    if (now - lastPing.at > 1_000) {
      const ok = await Promise.race([
        deps.storage.ping().then(
          () => null,
          (e: unknown) => String((e as Error).message ?? e),
        ),
        new Promise<string>((r) => setTimeout(() => r('database ping timed out'), 2_000).unref()),
      ]);
      lastPing = { at: now, ok: ok === null, error: ok };
    }
    const degraded = deps.committer.stats.degraded || !lastPing.ok;
    return c.json(
      { ok: !degraded, replica: deps.hubReplica, degraded, database: lastPing.ok ? 'up' : 'down', error: lastPing.error ?? deps.committer.stats.lastError },
      degraded ? 503 : 200,
    );
  });

  /**
   * GET /inventory?storeId=&sku=
   *   both: one counter; sku only: that SKU across every store (with the
   *   aggregate); storeId only: every SKU of that store.
   */
  app.get('/inventory', auth('read'), (c) => {
    const storeId = c.req.query('storeId');
    const sku = c.req.query('sku');
    if (storeId === undefined && sku === undefined) return errorResponse(c, 400, 'invalid_request', 'give storeId, sku, or both');
    if (storeId !== undefined && !isValidId(storeId)) return errorResponse(c, 400, 'invalid_request', 'storeId is not a valid id');
    if (sku !== undefined && !isValidId(sku)) return errorResponse(c, 400, 'invalid_request', 'sku is not a valid id');
    const now = clock();
    const s = deps.state.state;
    const view = (store: StoreId, k: Sku) => ({ storeId: store, sku: k, ...deps.state.availability(store, k, now) });
    c.header('Cache-Control', 'no-cache');
    if (storeId !== undefined && sku !== undefined) {
      if (!s.counter(storeId as StoreId, sku as Sku)) return errorResponse(c, 404, 'not_found', `no stock record for ${sku} at ${storeId}`);
      return c.json({ ...view(storeId as StoreId, sku as Sku), at: now });
    }
    if (storeId !== undefined) {
      const items = s.skus(storeId as StoreId).sort().map((k) => view(storeId as StoreId, k));
      return c.json({ storeId, at: now, items });
    }
    const stores = s.storeIds().filter((st) => s.counter(st, sku as Sku)).sort().map((st) => view(st, sku as Sku));
    const sum = (f: 'onHand' | 'held' | 'available') => stores.reduce((a, x) => a + x[f], 0);
    return c.json({ sku, at: now, onHand: sum('onHand'), held: sum('held'), available: sum('available'), stores });
  });

  app.get('/stores', auth('read'), async (c) => {
    const known = await deps.storage.access.listStores();
    const online = new Map(deps.sync.connected().map((x) => [x.store, x]));
    return c.json({
      stores: known.map((k) => ({ ...k, online: online.has(k.storeId), replicas: online.get(k.storeId)?.replicas ?? [] })),
    });
  });

  app.get('/status', auth('read'), (c) =>
    c.json({ replica: deps.hubReplica, commits: deps.committer.stats, queued: deps.committer.queued, counters: deps.state.state.counterCount(), online: deps.sync.connected() }),
  );

  deps.mountSelling?.(app, auth);

  mountAlertRoutes(app, { alerts: deps.storage.alerts, auth: auth('read') });

  mountDashboard(app, { state: deps.state, sync: deps.sync, committer: deps.committer, auth: auth('read', true), clock });

  return app;
}

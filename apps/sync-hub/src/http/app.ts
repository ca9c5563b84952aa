import { isValidId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { Hono } from 'hono';
import type { HubState } from '../state/hub-state.js';
import type { HubStorage } from '../store/hub-storage.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import type { SyncServer } from '../sync/sync-server.js';
import { mountAlertRoutes } from './alert-routes.js';
import { apiKeyAuth } from './api-keys.js';
import { errorResponse } from './errors.js';
import { jsonLogger, type Logger } from '../log.js';
import { mountProtection, notFoundOrNotAllowed, type ProtectionOptions } from './protection.js';
import { documentRoute, openApiDocument } from './route-docs.js';
import { requestIds } from '../observability/http.js';
import { mountDashboard } from '../dashboard/routes.js';

export interface HubAppDeps {
  /** Keys and stores (access), the database's health (ping), alerts (GET /alerts). */
  storage: Pick<HubStorage, 'access' | 'ping' | 'alerts'>;
  state: HubState;
  committer: HubCommitter;
  sync: SyncServer;
  hubReplica: string;
  /** The event export's state and lag (GET /status `export`), when it is on. */
  exportStatus?: () => unknown;
  clock?: () => number;
  /** Where request failures are logged (with the request id). */
  log?: Logger;
  /** Mounted first: request ids, HTTP metrics and `GET /metrics` (given the read-key check). */
  observe?: (app: Hono, readKey: import('hono').MiddlewareHandler) => void;
  /** Mounts the selling routes (carts, updates, transfers) with this app's key auth. */
  mountSelling?: (app: Hono, auth: ReturnType<typeof apiKeyAuth>) => void;
  /** Mounts `/catalog` (HQ edits of the catalog document) with this app's key auth. */
  mountCatalog?: (app: Hono, auth: ReturnType<typeof apiKeyAuth>) => void;
  /** Mounts `/graphql` (HTTP and SSE) with this app's key auth (the same lookup and cache). */
  mountGraphql?: (app: Hono, auth: ReturnType<typeof apiKeyAuth>) => void;
  /** Mounts CORS (first, before any route) and the storefront reads and feed. */
  storefront?: { mountCors(app: Hono): void; mount(app: Hono, auth: ReturnType<typeof apiKeyAuth>): void; stats(): Record<string, number> };
  /** Rate limits and the request size limit (defaults: see protection.ts). */
  protection?: ProtectionOptions;
}

/** The hub's HTTP API. Reads come from memory (committed state only). */
export function createHubApp(deps: HubAppDeps): Hono {
  const clock = deps.clock ?? Date.now;
  const app = new Hono();
  const auth = apiKeyAuth(deps.storage.access);
  const log = deps.log ?? jsonLogger({ service: 'sync-hub' });
  deps.observe?.(app, auth('read'));
  if (deps.observe) documentRoute(app, { method: 'get', path: '/metrics', auth: 'read', summary: 'Prometheus metrics (text exposition); without a key when the hub runs with --metrics-public', responses: { 200: { description: 'metrics', contentType: 'text/plain' } } });
  deps.storefront?.mountCors(app);
  // After CORS (a 429 must still carry the CORS headers a browser needs to read it), before every route.
  const protection = mountProtection(app, deps.protection);

  app.onError((err, c) => {
    log.error('request failed', { reqId: requestIds.get(c.req.raw), method: c.req.method, path: c.req.path, err: String(err) });
    return errorResponse(c, 500, 'internal', 'the hub could not complete the request');
  });
  app.notFound(notFoundOrNotAllowed(app));

  // Healthy = the database answers and commits are going through. The ping
  // is cached briefly so a load balancer polling /health costs little.
  let lastPing = { at: 0, ok: true, error: null as string | null };
  documentRoute(app, { method: 'get', path: '/health', auth: 'none', summary: 'liveness for a load balancer: the database answers and commits go through', responses: { 200: { description: 'healthy' }, 503: { description: 'degraded' } } });
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

  documentRoute(app, { method: 'get', path: '/stores', auth: 'read', summary: 'registered stores, online or not, with their connected replicas', responses: { 200: { description: '`{stores}`' } } });
  app.get('/stores', auth('read'), async (c) => {
    const known = await deps.storage.access.listStores();
    const online = new Map(deps.sync.connected().map((x) => [x.store, x]));
    return c.json({
      stores: known.map((k) => ({ ...k, online: online.has(k.storeId), replicas: online.get(k.storeId)?.replicas ?? [] })),
    });
  });

  documentRoute(app, { method: 'get', path: '/status', auth: 'read', summary: "this hub process's commits, queue, connected stores, export and storefront counters", responses: { 200: { description: 'the status' } } });
  app.get('/status', auth('read'), (c) =>
    c.json({ replica: deps.hubReplica, commits: deps.committer.stats, queued: deps.committer.queued, counters: deps.state.state.counterCount(), export: deps.exportStatus?.() ?? null, online: deps.sync.connected(), storefront: deps.storefront?.stats() ?? null, protection: protection.stats() }),
  );

  deps.storefront?.mount(app, auth);
  deps.mountSelling?.(app, auth);
  deps.mountCatalog?.(app, auth);
  deps.mountGraphql?.(app, auth);

  mountAlertRoutes(app, { alerts: deps.storage.alerts, auth: auth('read') });

  mountDashboard(app, { state: deps.state, sync: deps.sync, committer: deps.committer, auth: auth('read', true), clock });

  // Built on first request, when every route has been registered.
  let openapi: string | null = null;
  documentRoute(app, { method: 'get', path: '/openapi.json', auth: 'none', summary: 'this document', responses: { 200: { description: 'OpenAPI 3.1' } } });
  app.get('/openapi.json', (c) => {
    openapi ??= JSON.stringify(
      openApiDocument(app, {
        title: 'Scoville sync hub',
        version: '1',
        description: 'Storefront reads and live feed, holds (reservations), store updates, transfers, alerts. Errors are `{error:{code,message}}`. WebSocket endpoints (not described here): /sync (agents, packages/protocol/PROTOCOL.md) and /ws (the live feed).',
      }),
    );
    return c.body(openapi, 200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  });

  return app;
}

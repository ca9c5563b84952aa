import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { Hono, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { HubState } from '../state/hub-state.js';
import type { AccessStore } from '../store/access-store.js';
import type { SyncServer } from '../sync/sync-server.js';
import { StorefrontFeed } from './feed.js';
import { mountReadRoutes } from './read-routes.js';
import { SseClients } from './sse-clients.js';
import { mountStreamRoute } from './stream-route.js';
import { StockViews } from './views.js';
import { WsFeed } from './ws-feed.js';

export interface StorefrontOptions {
  state: HubState;
  sync: SyncServer;
  access: AccessStore;
  clock: () => number;
  /** Origins allowed to call from a browser (`*` for any); none: no CORS headers. */
  corsOrigins?: readonly string[];
  cacheControl?: string;
  lowStockThreshold?: number;
  /** Safety stock per (store, SKU) (the catalog and settings documents); 0 without. */
  safetyStock?: (store: StoreId, sku: Sku) => number;
}

/** The storefront's read side: cacheable reads, the live feed over SSE and WebSocket, CORS. */
export function createStorefront(opts: StorefrontOptions) {
  const views = new StockViews({ state: opts.state, isOnline: (s) => opts.sync.isOnline(s), clock: opts.clock, safetyStock: opts.safetyStock });
  const feed = new StorefrontFeed(opts.state, views);
  const sse = new SseClients(feed);
  const offPresence = opts.sync.onPresence((store, online) => feed.storeOnline(store, online));
  const ws = new WsFeed(feed, async (hash) => {
    const rec = await opts.access.apiKeyForHash(hash);
    return rec && rec.revokedAt === null ? rec.role : null;
  });
  const storeExists = async (store: StoreId) => (await opts.access.listStores()).some((s) => s.storeId === store);
  return {
    views,
    feed,
    ws,
    /** CORS first (preflights must not need a key), then the routes. */
    mountCors(app: Hono): void {
      const origins = opts.corsOrigins ?? [];
      if (origins.length === 0) return;
      app.use(
        '*',
        cors({
          origin: origins.includes('*') ? '*' : [...origins],
          allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
          allowHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Last-Event-ID'],
          exposeHeaders: ['ETag', 'Idempotent-Replayed', 'Retry-After'],
          maxAge: 600,
        }),
      );
    },
    mount(app: Hono, auth: (need: 'read', allowQuery?: boolean) => MiddlewareHandler): void {
      mountReadRoutes(app, { views, auth: auth('read'), storeExists, clock: opts.clock, cacheControl: opts.cacheControl, lowStockThreshold: opts.lowStockThreshold });
      mountStreamRoute(app, { clients: sse, auth: auth('read', true) });
    },
    /** Feed subscribers (SSE), events published, slow clients dropped, WebSocket clients. */
    stats(): Record<string, number> {
      return { ...feed.stats, sseClients: sse.size, wsClients: ws.clients };
    },
    async close(): Promise<void> {
      offPresence();
      feed.close();
      sse.close();
      await ws.close();
    },
  };
}

export type Storefront = ReturnType<typeof createStorefront>;

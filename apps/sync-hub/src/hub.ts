import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { replicaId, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { openSqlClient, retryWhileUnreachable } from './db/open.js';
import { createHubApp } from './http/app.js';
import type { ProtectionOptions } from './http/protection.js';
import type { Hono } from 'hono';
import { jsonLogger, type Logger } from './log.js';
import { HubState } from './state/hub-state.js';
import type { HubStorage } from './store/hub-storage.js';
import { ACCESS_CHANGED } from './store/access-store.js';
import { openHubStorage } from './store/sql-hub-storage.js';
import { ClusterFeed } from './sync/cluster-feed.js';
import { HubCommitter } from './sync/hub-committer.js';
import { SyncServer } from './sync/sync-server.js';
import { createSelling } from './selling/selling.js';
import { AllocationDesk } from './allocation/allocation-desk.js';
import { mountAllocationRoutes } from './http/allocation-routes.js';
import { createStorefront } from './storefront/storefront.js';
import { HubDocs } from './yjs/hub-docs.js';
import { YjsServer } from './yjs/yjs-server.js';
import { mountCatalogRoutes } from './http/catalog-routes.js';
import { mountSettingsRoutes } from './http/settings-routes.js';
import { targetDaysOf } from './yjs/store-settings.js';
import { mountPresenceRoutes } from './dashboard/presence-routes.js';
import { createGraphql } from './graphql/server.js';
import { OversellMonitor } from './alerts/oversell.js';
import { OpsAlerts, type AlertChange } from './alerts/ops-alerts.js';
import { alertFanout } from './alerts/alert-fanout.js';
import { AlertWebhook, webhookTarget } from './alerts/webhook.js';
import { mountReplenishmentRoutes } from './http/replenishment-routes.js';
import { settingsDocName } from '@scoville/protocol/docs';
import { hubMetrics } from './observability/hub-metrics.js';
import type { EventExporter } from './export/exporter.js';
import { exportOptionsFromEnv, startHubExport, type HubExportOptions } from './export/hub-export.js';

export interface HubOptions {
  host?: string;
  port?: number;
  /** PostgreSQL URL; without it the hub runs on embedded PGlite in `dataDir`. */
  databaseUrl?: string | null;
  dataDir?: string;
  /** This process's replica id; distinct per hub process, stable across its restarts. */
  replica?: string;
  log?: Logger;
  heartbeatMs?: number;
  helloTimeoutMs?: number;
  /** The time of the selling side (hold expiry); tests inject one. */
  clock?: () => number;
  /** How often lapsed holds are recorded expired (default 1 s). */
  sweepEveryMs?: number;
  /** Publish every committed event to a broker (docs/events.md); default from SCOVILLE_EXPORT_URL; null: off. */
  export?: HubExportOptions | null;
  /** Browser origins allowed to call the storefront API (`*`: any). */
  corsOrigins?: string[];
  /** Cache-Control of storefront reads (default `public, max-age=1, stale-while-revalidate=5`). */
  cacheControl?: string;
  /** Serve GET /metrics without an API key (default: a read key is required). */
  metricsPublic?: boolean;
  /** Rate limits per key and per IP, request size limit (http/protection.ts). */
  protection?: ProtectionOptions;
  /** PEM certificate chain and key: serve HTTPS and WSS instead of HTTP and WS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Serve GraphiQL at GET /graphql (default off). */
  graphiql?: boolean;
  /** Low-stock threshold where the catalog and the store's settings set none (default: none, no alert then). */
  lowStockThreshold?: number | null;
  /** A store offline longer than this raises `store_offline` (default 10). */
  offlineAlertMinutes?: number;
  /** More hold expiries than this in a minute at one store raise `holds_expiring` (default 20). */
  bulkExpiriesPerMinute?: number;
  /** POST alert changes here (overrides the URL set by `sync-hub webhook set`); secret: else the stored one. */
  alertWebhook?: { url?: string | null; secret?: string | null; baseDelayMs?: number; maxAttempts?: number };
}

export interface RunningHub {
  url: string;
  port: number;
  replica: ReplicaId;
  storage: HubStorage;
  state: HubState;
  committer: HubCommitter;
  sync: SyncServer;
  /** The event export, when on (publishing only while this process holds the lease). */
  exporter: EventExporter | null;
  /** The HTTP app (its `routes`: what /openapi.json must describe). */
  app: Hono;
  stop(): Promise<void>;
}

/** The `replicas.store_id` of hub processes: not a valid store id, so no store's agent matches it. */
const HUB_SCOPE = '*' as StoreId;

/** Opens the database, loads the merged state into memory, serves HTTP and /sync. */
export async function startHub(opts: HubOptions = {}): Promise<RunningHub> {
  const port = opts.port ?? 8080;
  // Stable across restarts of the same process slot; port 0 (tests) gets the pid instead.
  const replica = replicaId(opts.replica ?? `hub-${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60)}-${port === 0 ? `p${process.pid}` : port}`);
  const log = opts.log ?? jsonLogger({ service: 'sync-hub', replica });
  // A hub may start before its database (a host booting, a container order):
  // wait for it, saying so, instead of exiting on ECONNREFUSED.
  const storage = await retryWhileUnreachable(
    async () => {
      const client = await openSqlClient({ databaseUrl: opts.databaseUrl ?? undefined, dataDir: opts.dataDir });
      const storage = openHubStorage(client);
      try {
        await storage.migrate();
      } catch (e) {
        await storage.close().catch(() => undefined);
        throw e;
      }
      return storage;
    },
    { log, message: 'database unreachable at start, retrying' },
  );
  // Registered as a hub's before serving: an agent's hello that claims this
  // id (the welcome tells every agent) is then refused like another store's
  // replica, instead of letting it write entries as the hub.
  const { inventory, access } = storage;
  const owner = await access.claimReplica(replica, HUB_SCOPE, 'hub', Date.now());
  if (owner !== HUB_SCOPE) {
    await storage.close();
    throw new Error(`replica id ${replica} already belongs to an agent of store ${owner}: start this hub with another --replica`);
  }

  // A revoke or token rotation by the CLI (another process): drop cached keys, close dead links now.
  const unlistenAccess = await storage.notices.listen(ACCESS_CHANGED, () => access.revokedElsewhere?.());
  const state = new HubState();
  const loaded = await inventory.loadState((page) => state.apply(page));
  // Oversell alerts: touched counters checked after every committed change (own or another process's).
  // The storefront (created below) pushes alerts on its feed.
  let pushAlert: (type: 'alert', store: StoreId, sku: Sku, data: unknown) => void = () => undefined;
  // Each change goes to the webhook (from the process that made it) and, by NOTIFY, to every process's feed.
  const webhook = new AlertWebhook({
    target: webhookTarget({ url: opts.alertWebhook?.url, secret: opts.alertWebhook?.secret, stored: () => storage.alerts.webhook() }),
    log,
    baseDelayMs: opts.alertWebhook?.baseDelayMs,
    maxAttempts: opts.alertWebhook?.maxAttempts,
  });
  const fanout = await alertFanout({
    notices: storage.notices,
    webhook,
    log,
    push: (a) => pushAlert('alert', a.store, a.sku as Sku, { kind: a.kind, state: a.state, storeId: a.store, sku: a.sku, detail: a.detail, at: new Date(a.at).toISOString() }),
  });
  let ops: OpsAlerts | null = null;
  const oversell = new OversellMonitor({
    state,
    alerts: storage.alerts,
    me: replica,
    clock: opts.clock ?? Date.now,
    log,
    onAlert: (a) => fanout.changed({ ...a, at: (opts.clock ?? Date.now)() }),
  });
  const committer = new HubCommitter(inventory, state);
  const feed = new ClusterFeed(inventory, state, committer, log, loaded.changeId);
  await feed.start();
  // Commits that landed between loading and subscribing.
  await feed.catchUp();

  // Online allocation: policies pushed to agents, rights granted and given back (through the seller, set below).
  const allocation = new AllocationDesk({ allocation: storage.allocation, state, log });
  const sync = new SyncServer({
    access,
    inventory,
    state,
    committer,
    hubReplica: replica,
    log,
    clock: Date.now,
    heartbeatMs: opts.heartbeatMs,
    helloTimeoutMs: opts.helloTimeoutMs,
    allocation,
    onRefused: (store, agent, code, message) => ops?.refused(store, agent, code, message),
    onAccepted: (store, agent) => ops?.accepted(store, agent),
  });
  const metrics = hubMetrics({ committer, sync, alerts: storage.alerts, public: opts.metricsPublic });
  const ownPosition = await inventory.syncPosition(replica);
  const selling = createSelling({
    selling: storage.selling,
    notices: storage.notices,
    state,
    committer,
    me: replica,
    lastEventSeq: ownPosition?.lastEventSeq ?? 0,
    clock: opts.clock ?? Date.now,
    log,
    storeForToken: (hash) => access.storeForToken(hash),
    onAccessRevoked: access.onRevoke?.bind(access),
    audit: (actor, action, detail) => storage.audit.audit({ at: Date.now(), actor, action, detail }),
  });
  await selling.start(opts.sweepEveryMs);
  allocation.useSeller(selling.seller);
  await allocation.start();
  oversell.start();
  const exportOpts = opts.export === undefined ? exportOptionsFromEnv() : opts.export;
  const exporter = exportOpts ? await startHubExport(storage, replica, log, exportOpts) : null;
  // The catalog and store settings (Yjs documents at /yjs/<doc>): safety stock for availability, HQ edits.
  const docs = new HubDocs({ yjs: storage.yjs, notices: storage.notices, log });
  await docs.start();
  const yjs = new YjsServer({ docs, access, log, heartbeatMs: opts.heartbeatMs });
  const storefront = createStorefront({
    state,
    sync,
    access,
    safetyStock: (store, sku) => docs.safetyStock(store, sku),
    clock: opts.clock ?? Date.now,
    corsOrigins: opts.corsOrigins,
    cacheControl: opts.cacheControl,
  });
  pushAlert = (type, store, sku, data) => void storefront.feed.publish(type, store, sku, data);
  docs.onChange(() => storefront.views.settingsChanged());
  // Low stock, out of stock, offline stores, bulk expiries, refused replicas (same writer lease as oversell).
  ops = new OpsAlerts({
    state,
    alerts: storage.alerts,
    me: replica,
    log,
    stock: (store, sku) => storefront.views.levels(store, sku),
    // Cached by HubDocs until a document changes (bench/hub-apply.ts: -0.5 µs and -250 B per entry).
    docThreshold: (store, sku) => docs.lowStockThreshold(store, sku),
    lowStockThreshold: opts.lowStockThreshold,
    connected: () => sync.connected().map((c) => c.store),
    offlineAlertMs: (opts.offlineAlertMinutes ?? 10) * 60_000,
    bulkExpiries: opts.bulkExpiriesPerMinute,
    onChange: (c: AlertChange) => fanout.changed(c),
  });
  const opsAlerts = ops;
  docs.onChange(() => opsAlerts.recheckAll());
  sync.onPresence((store) => opsAlerts.presence(store));
  opsAlerts.start();
  const graphql = createGraphql({
    views: storefront.views,
    feed: storefront.feed,
    service: selling.service,
    listStores: () => access.listStores(),
    isOnline: (s) => sync.isOnline(s),
    graphiql: opts.graphiql,
  });
  const app = createHubApp({
    storage,
    state,
    committer,
    sync,
    hubReplica: replica,
    exportStatus: exporter ? () => exporter.status() : undefined,
    clock: opts.clock,
    log,
    observe: (a, readKey) => metrics.mount(a, readKey),
    storefront,
    protection: opts.protection,
    mountGraphql: (a, auth) => graphql.mount(a, auth),
    mountCatalog: (a, auth) => {
      mountCatalogRoutes(a, { docs, auth, audit: (actor, action, detail) => storage.audit.audit({ at: Date.now(), actor, action, detail: detail as Record<string, unknown> }) });
      // The store settings documents and presence (Yjs awareness) through the same key auth.
      mountSettingsRoutes(a, { docs, auth, storeExists: async (id) => (await access.listStores()).some((x) => x.storeId === id), audit: (actor, action, detail) => storage.audit.audit({ at: Date.now(), actor, action, detail }) });
      mountPresenceRoutes(a, { presence: () => yjs.presence(), onPresence: (l) => yjs.onPresence(l), read: auth('read'), readQuery: auth('read', true), clock: opts.clock ?? Date.now });
    },
    mountSelling: (a, auth) => {
      selling.mount(a, auth);
      mountAllocationRoutes(a, {
        desk: allocation,
        storeExists: async (id) => (await access.listStores()).some((x) => x.storeId === id),
        audit: (actor, action, detail) => storage.audit.audit({ at: Date.now(), actor, action, detail }),
        auth,
        clock: Date.now,
      });
      mountReplenishmentRoutes(a, { replenishment: storage.replenishment, views: storefront.views, auth: auth('read'), clock: opts.clock ?? Date.now, targetDays: (s) => targetDaysOf(docs.loaded(settingsDocName(s))?.doc ?? null) });
    },
  });
  // One request listener and one upgrade routing, over TLS or not.
  const listener = getRequestListener(app.fetch);
  const server: Server = opts.tls ? (createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) as unknown as Server) : createServer(listener);
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/ws') storefront.ws.handleUpgrade(req, socket, head);
    else if (YjsServer.handles(path ?? '')) yjs.handleUpgrade(req, socket, head);
    else if (path === '/graphql') graphql.handleUpgrade(req, socket, head);
    else sync.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `${opts.tls ? 'https' : 'http'}://${opts.host ?? '127.0.0.1'}:${address.port}`;
  log.info('hub listening', { url, counters: state.state.counterCount(), database: opts.databaseUrl ? 'postgres' : 'pglite' });

  let stopping: Promise<void> | null = null;
  return {
    url,
    port: address.port,
    replica,
    storage,
    state,
    committer,
    sync,
    exporter,
    app,
    stop: () =>
      (stopping ??= (async () => {
        allocation.stop();
        await sync.close();
        await storefront.close();
        await yjs.close();
        await graphql.close();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await selling.stop();
        await committer.close();
        await feed.stop();
        await oversell.stop();
        await opsAlerts.stop();
        await fanout.close();
        await exporter?.stop();
        metrics.close();
        await unlistenAccess().catch(() => undefined);
        await docs.close();
        await storage.close();
      })()),
  };
}

import type { Sku, StoreId } from '@scoville/crdt-inventory';
import type { Hono, MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { HubState } from '../state/hub-state.js';
import type { SyncServer } from '../sync/sync-server.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import { DASHBOARD_HTML } from './page.js';
import { documentRoute } from '../http/route-docs.js';

export interface DashboardDeps {
  state: HubState;
  sync: SyncServer;
  committer: HubCommitter;
  /** Checks a read key given as `?key=` (EventSource cannot send headers). */
  auth: MiddlewareHandler;
  clock: () => number;
}

interface Cell {
  store: StoreId;
  sku: Sku;
  onHand: number;
  held: number;
  available: number;
}

/**
 * The dashboard page at `/` (it reads the storefront API: page.ts). Also the
 * older `/dashboard/state` and `/dashboard/events` (changed cells over SSE,
 * at most ten updates a second per viewer), kept for existing scripts.
 */
export function mountDashboard(app: Hono, deps: DashboardDeps): void {
  const cell = (store: StoreId, sku: Sku): Cell => {
    const a = deps.state.availability(store, sku, deps.clock());
    return { store, sku, onHand: a.onHand, held: a.held, available: a.available };
  };
  const snapshot = () => {
    const s = deps.state.state;
    const cells: Cell[] = [];
    for (const store of s.storeIds().sort()) for (const sku of s.skus(store).sort()) cells.push(cell(store, sku));
    return { at: deps.clock(), cells, online: deps.sync.connected(), commits: deps.committer.stats };
  };

  documentRoute(app, { method: 'get', path: '/', auth: 'none', summary: 'the live dashboard page (it asks for a read key once and keeps it in the browser)', responses: { 200: { description: 'HTML', contentType: 'text/html' } } });
  documentRoute(app, { method: 'get', path: '/dashboard', auth: 'none', summary: 'redirects to the dashboard at `/`', responses: { 302: { description: 'to `/`' } } });
  documentRoute(app, { method: 'get', path: '/dashboard/state', auth: 'read', keyInQuery: true, summary: "the dashboard's cells, online stores, commit stats", responses: { 200: { description: 'the state' } } });
  documentRoute(app, { method: 'get', path: '/dashboard/events', auth: 'read', keyInQuery: true, summary: "the dashboard's changed cells (SSE)", responses: { 200: { description: 'an event stream', contentType: 'text/event-stream' } } });
  app.get('/', (c) => c.html(DASHBOARD_HTML, 200, { 'cache-control': 'no-cache' }));
  // Old links carried the key as ?key=: it is dropped here, the page asks for it once.
  app.get('/dashboard', (c) => c.redirect('/', 302));
  app.get('/dashboard/state', deps.auth, (c) => c.json(snapshot()));
  app.get('/dashboard/events', deps.auth, (c) =>
    streamSSE(c, async (stream) => {
      const dirty = new Map<string, [StoreId, Sku]>();
      let wake: (() => void) | null = null;
      const off = deps.state.onChange((changes) => {
        for (const ch of changes) {
          for (const e of ch.delta.entries) dirty.set(`${e.store}\0${e.sku}`, [e.store, e.sku]);
          for (const t of ch.delta.transfers) dirty.set(`${t.store}\0${t.sku}`, [t.store, t.sku]);
          for (const r of ch.delta.reservations) dirty.set(`${r.store}\0${r.sku}`, [r.store, r.sku]);
        }
        wake?.();
      });
      stream.onAbort(() => {
        off();
        wake?.();
      });
      await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(snapshot()) });
      let lastOnline = '';
      while (!stream.aborted) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1_000).unref();
        });
        wake = null;
        if (stream.aborted) break;
        if (dirty.size > 0) {
          const cells = [...dirty.values()].map(([st, k]) => cell(st, k));
          dirty.clear();
          await stream.writeSSE({ event: 'cells', data: JSON.stringify(cells) });
        }
        const online = JSON.stringify({ online: deps.sync.connected(), commits: deps.committer.stats });
        if (online !== lastOnline) {
          lastOnline = online;
          await stream.writeSSE({ event: 'status', data: online });
        }
        await stream.sleep(100);
      }
      off();
    }),
  );
}

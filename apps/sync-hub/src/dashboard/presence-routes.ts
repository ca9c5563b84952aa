import type { Hono, MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { documentRoute } from '../http/route-docs.js';
import type { StorePresence } from '../yjs/yjs-server.js';

export interface PresenceDeps {
  /** The agents linked to this hub process's `/yjs/<doc>` links, by store (YjsServer.presence). */
  presence: () => StorePresence[];
  onPresence: (listener: () => void) => () => void;
  /** A read key, in the header. */
  read: MiddlewareHandler;
  /** A read key, in the header or as `?key=` (EventSource cannot send headers). */
  readQuery: MiddlewareHandler;
  clock: () => number;
}

/**
 * Presence for the dashboard: which stores have an agent linked, and the
 * terminals each agent announces (Yjs awareness, decision 23).
 * `GET /presence` answers it once; `GET /presence/events` (SSE) sends it at
 * once and again after every change (coalesced by the YjsServer, 50 ms), with
 * a comment every 15 s so proxies keep the stream open.
 *
 * Per hub process: an agent linked to another process is not listed here
 * (its sync link shows it online in `GET /stores` of that process).
 */
export function mountPresenceRoutes(app: Hono, deps: PresenceDeps): void {
  const body = () => JSON.stringify({ at: deps.clock(), stores: deps.presence() });
  const shape = '`{at, stores: [{storeId, agents: [{replica, url, terminals, docs, seenAt}]}]}`';
  documentRoute(app, { method: 'get', path: '/presence', auth: 'read', summary: "the stores with an agent linked to this hub process and each agent's terminals (Yjs awareness)", responses: { 200: { description: shape } } });
  documentRoute(app, {
    method: 'get',
    path: '/presence/events',
    auth: 'read',
    keyInQuery: true,
    summary: 'presence as it changes (SSE `presence` events, the whole list each time)',
    responses: { 200: { description: `an event stream of ${shape}`, contentType: 'text/event-stream' } },
  });
  app.get('/presence', deps.read, (c) => c.body(body(), 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }));
  app.get('/presence/events', deps.readQuery, (c) =>
    streamSSE(c, async (stream) => {
      let wake: (() => void) | null = null;
      let dirty = true;
      const off = deps.onPresence(() => {
        dirty = true;
        wake?.();
      });
      stream.onAbort(() => wake?.());
      try {
        while (!stream.aborted) {
          if (dirty) {
            dirty = false;
            await stream.writeSSE({ event: 'presence', data: body() });
          } else await stream.write(': keep-alive\n\n');
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 15_000).unref();
          });
          wake = null;
        }
      } finally {
        off();
      }
    }),
  );
}

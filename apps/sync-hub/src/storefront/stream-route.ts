import { isValidId, isValidStoreId } from '@scoville/crdt-inventory';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { errorResponse } from '../http/errors.js';
import { documentRoute, errorBody } from '../http/route-docs.js';
import { parseFilter, type FeedFilter } from './feed.js';
import { nodeSink, type SseClients } from './sse-clients.js';

/** Parses the feed's query filter; a Response is a 400. */
export function feedFilter(c: Context): FeedFilter | Response {
  const skus = c.req.queries('sku') ?? [];
  for (const k of skus) if (!isValidId(k)) return errorResponse(c, 400, 'invalid_request', `sku ${JSON.stringify(k).slice(0, 64)} is not a valid id`);
  const store = c.req.query('storeId');
  if (store !== undefined && !isValidStoreId(store)) return errorResponse(c, 400, 'invalid_request', 'storeId is not a valid store id');
  const f = parseFilter(skus, store, c.req.query('types'));
  return typeof f === 'string' ? errorResponse(c, 400, 'invalid_request', f) : f;
}

/**
 * Tells @hono/node-server that the route wrote its response itself. Its
 * `x-hono-already-sent` check (2.1.9) runs only for responses it did not
 * build with its own light Response class: that class (the global Response
 * once the server runs) keeps a body-less response in a cache that bypasses
 * the check and writes a second head. Touching `body` turns the cache into a
 * real Response; dropping the prepared `c.res` first keeps hono from merging
 * its headers into (and so rebuilding) the one set.
 */
function alreadySent(c: Context): Response {
  const r = new Response(null, { headers: { 'x-hono-already-sent': 'true' } });
  void r.body;
  c.res = undefined;
  c.res = r;
  return r;
}

/**
 * `GET /stream` (SSE): a snapshot of what the filter covers (event
 * `snapshot`, possibly in several parts, the last with `final: true`), then
 * every change as it commits. Resume with `Last-Event-ID` (or
 * `?lastEventId=`). A heartbeat comment every 15 s keeps proxies from
 * closing an idle stream.
 */
export function mountStreamRoute(app: Hono, deps: { clients: SseClients; auth: MiddlewareHandler }): void {
  documentRoute(app, {
    method: 'get',
    path: '/stream',
    auth: 'read',
    keyInQuery: true,
    summary: 'live feed (SSE): a snapshot of what the filter covers, then every change; resume with Last-Event-ID',
    query: {
      sku: { schema: z.string().max(128), repeatable: true },
      storeId: { schema: z.string().max(80) },
      types: { schema: z.string(), description: 'comma-separated event types' },
      lastEventId: { schema: z.string(), description: 'as the Last-Event-ID header' },
    },
    responses: { 200: { description: 'an event stream', contentType: 'text/event-stream' }, 400: { description: 'a bad filter', schema: errorBody } },
  });
  app.get('/stream', deps.auth, (c) => {
    const filter = feedFilter(c);
    if (filter instanceof Response) return filter;
    const lastId = c.req.header('last-event-id') ?? c.req.query('lastEventId') ?? null;
    const res = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    // Written straight onto node's response: an idle client then costs its socket and a closure.
    if (res === undefined) return errorResponse(c, 501, 'not_supported', 'the event stream needs the hub\'s node HTTP server');
    // The head carries what the middlewares prepared (request id, CORS).
    deps.clients.serve(nodeSink(res, c.res.headers), filter, lastId);
    return alreadySent(c);
  });
}

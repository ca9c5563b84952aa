import { isValidId, isValidStoreId } from '@scoville/crdt-inventory';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { errorResponse } from '../http/errors.js';
import { documentRoute, errorBody } from '../http/route-docs.js';
import { parseFilter, type FeedEvent, type FeedFilter, type StorefrontFeed } from './feed.js';

/** Events queued for one client before it counts as too slow and is dropped. */
export const MAX_CLIENT_BUFFER = 1_000;
export const HEARTBEAT_MS = 15_000;
/** Items per snapshot message. */
const SNAPSHOT_CHUNK = 1_000;

/** Parses the feed's query filter; a Response is a 400. */
export function feedFilter(c: Context): FeedFilter | Response {
  const skus = c.req.queries('sku') ?? [];
  for (const k of skus) if (!isValidId(k)) return errorResponse(c, 400, 'invalid_request', `sku ${JSON.stringify(k).slice(0, 64)} is not a valid id`);
  const store = c.req.query('storeId');
  if (store !== undefined && !isValidStoreId(store)) return errorResponse(c, 400, 'invalid_request', 'storeId is not a valid store id');
  const f = parseFilter(skus, store, c.req.query('types'));
  return typeof f === 'string' ? errorResponse(c, 400, 'invalid_request', f) : f;
}

export interface Opening {
  /** Events to send first (a resume), or null: send a snapshot. */
  missed: FeedEvent[] | null;
  /** Why a snapshot is sent although the client asked to resume. */
  reset: string | null;
  snapshotId: string;
}

/**
 * Subscribes and decides, in one synchronous step, what the client gets
 * first: the events after its last id (nothing lost, nothing twice), or a
 * fresh snapshot as of `snapshotId`. Events published later are queued.
 */
export function open(feed: StorefrontFeed, filter: FeedFilter, lastId: string | null, deliver: (e: FeedEvent) => boolean, drop: (reason: string) => void) {
  const unsubscribe = feed.subscribe({ filter, deliver, drop });
  const missed = lastId !== null ? feed.since(lastId, filter) : null;
  const reset = lastId !== null && missed === null ? 'the last event id is older than this hub remembers (or from another hub process): this is a fresh snapshot' : null;
  return { unsubscribe, opening: { missed, reset, snapshotId: feed.lastId } satisfies Opening };
}

export function chunks<T>(items: readonly T[], size = SNAPSHOT_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out.length > 0 ? out : [[]];
}

/**
 * `GET /stream` (SSE): a snapshot of what the filter covers (event
 * `snapshot`, possibly in several parts, the last with `final: true`), then
 * every change as it commits. Resume with `Last-Event-ID` (or
 * `?lastEventId=`). A heartbeat comment every 15 s keeps proxies from
 * closing an idle stream.
 */
export function mountStreamRoute(app: Hono, deps: { feed: StorefrontFeed; auth: MiddlewareHandler }): void {
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
    return streamSSE(c, async (stream) => {
      const queue: FeedEvent[] = [];
      let wake: (() => void) | null = null;
      let dropped: string | null = null;
      const { unsubscribe, opening } = open(
        deps.feed,
        filter,
        lastId,
        (e) => {
          if (queue.length >= MAX_CLIENT_BUFFER) return false;
          queue.push(e);
          wake?.();
          return true;
        },
        (reason) => {
          dropped = reason;
          wake?.();
        },
      );
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      try {
        if (opening.missed !== null) {
          for (const e of opening.missed) await stream.writeSSE({ id: e.id, event: e.type, data: JSON.stringify(e.data) });
        } else {
          const parts = chunks(deps.feed.snapshot(filter));
          for (let i = 0; i < parts.length; i++) {
            const final = i === parts.length - 1;
            await stream.writeSSE({
              ...(final ? { id: opening.snapshotId } : {}),
              event: 'snapshot',
              data: JSON.stringify({ items: parts[i], final, reset: opening.reset !== null, ...(opening.reset ? { reason: opening.reset } : {}) }),
            });
          }
        }
        let lastWrite = Date.now();
        while (!stream.aborted && dropped === null) {
          if (queue.length === 0) {
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, Math.max(10, HEARTBEAT_MS - (Date.now() - lastWrite))).unref();
            });
            wake = null;
          }
          if (stream.aborted || dropped !== null) break;
          if (queue.length === 0) {
            if (Date.now() - lastWrite >= HEARTBEAT_MS) {
              await stream.write(': heartbeat\n\n');
              lastWrite = Date.now();
            }
            continue;
          }
          for (const e of queue.splice(0)) await stream.writeSSE({ id: e.id, event: e.type, data: JSON.stringify(e.data) });
          lastWrite = Date.now();
        }
        if (dropped !== null && !stream.aborted) {
          await stream.writeSSE({ event: 'error', data: JSON.stringify({ code: dropped, message: 'this client fell too far behind and was dropped; reconnect with Last-Event-ID' }) }).catch(() => undefined);
        }
      } finally {
        unsubscribe();
      }
    });
  });
}

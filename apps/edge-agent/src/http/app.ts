import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Sku } from '@scoville/crdt-inventory';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { AgentInventory, Outcome, WriteContext } from '../inventory/agent-inventory.js';
import type { Answer, WriteRequest, WriteService } from '../inventory/write-service.js';
import { DurabilityLostError } from '../inventory/group-commit.js';
import { requestIds } from '../observability/log.js';
import type { CatalogItem } from '../store/agent-store.js';
import type { AgentDocs } from '../docs/agent-docs.js';
import { allowLocalItems } from '@scoville/protocol/docs';
import { errorResponse, validationError } from './errors.js';
import {
  adjustmentBody,
  catalogBody,
  countBody,
  holdActionBody,
  holdBody,
  holdIdParam,
  restockBody,
  saleBody,
  skuParam,
} from './schemas.js';

export const MAX_BODY_BYTES = 256 * 1024;

/** What `GET /status` reports about sync; the sync client provides it. */
export interface SyncStatus {
  hub: string | null;
  online: boolean;
  unackedBatches: number;
  unackedEvents: number;
  lastAckAt: number | null;
  lastError: string | null;
}

export interface AppDeps {
  /** The catalog and settings documents: PUT /catalog adds this store's local items there. */
  docs?: AgentDocs;
  inventory: AgentInventory;
  writes: WriteService;
  clock?: () => number;
  /** When set, every request but /health must carry `Authorization: Bearer <token>`. */
  terminalToken?: string | null;
  syncStatus?: () => SyncStatus;
  /** Starts a sync round now (send what is pending, compare digests); absent without a hub. */
  syncNow?: () => void;
  /**
   * Runs a sale (not forced): first asks the hub for the rights these lines
   * lack, waiting briefly, and keeps them (no hand-over) until `sell` is done; absent without a hub.
   */
  withRights?: <T>(lines: { sku: Sku; qty: number }[], sell: () => Promise<T>) => Promise<T>;
  startedAt?: number;
  /** Mounted first: request ids, HTTP metrics, `GET /metrics` (observability/metrics.ts). */
  observe?: (app: Hono) => void;
  /** Where request failures are logged (with the request id). */
  log?: { error(msg: string, fields?: Record<string, unknown>): void };
}

const OFFLINE: SyncStatus = { hub: null, online: false, unackedBatches: 0, unackedEvents: 0, lastAckAt: null, lastError: null };

/** The POS API of one store. Thin: validation here, decisions in AgentInventory. */
export function createApp(deps: AppDeps): Hono {
  const { inventory, writes } = deps;
  const clock = deps.clock ?? Date.now;
  const app = new Hono();
  deps.observe?.(app);

  app.onError((err, c) => {
    // The fsync failed: whether this write reached the disk is unknown (a retry with its key finds out after a restart).
    if (err instanceof DurabilityLostError) return errorResponse(c, 503, err.code, err.message);
    if (deps.log) deps.log.error('request failed', { reqId: requestIds.get(c.req.raw), method: c.req.method, path: c.req.path, err: String(err) });
    else console.error(JSON.stringify({ level: 'error', msg: 'request failed', path: c.req.path, err: String(err) }));
    return errorResponse(c, 500, 'internal', 'the agent could not complete the request; nothing was changed');
  });
  app.notFound((c) => errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));

  app.get('/health', (c) => c.json({ ok: true }));

  if (deps.terminalToken) {
    const expected = Buffer.from(deps.terminalToken);
    app.use('*', async (c, next) => {
      const header = c.req.header('authorization') ?? '';
      const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return errorResponse(c, 401, 'unauthorized', 'a valid terminal token is required (Authorization: Bearer <token>)');
      }
      await next();
    });
  }

  const tooLarge = (c: Context) => errorResponse(c, 413, 'body_too_large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  const limitBody = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  // bodyLimit's first step, `c.req.raw.body`, makes @hono/node-server build a whole Request with a
  // web stream over the socket, and the handler's c.req.json() then reads through that stream
  // instead of straight off the socket: a third of a sale's HTTP cost. Decided here from the
  // headers as bodyLimit decides them (GET/HEAD carry no body; a Content-Length without
  // Transfer-Encoding is judged by its value); any other body still goes through bodyLimit.
  app.use('*', async (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      return parseInt(length || '0', 10) > MAX_BODY_BYTES ? tooLarge(c) : next();
    }
    return limitBody(c, next);
  });

  // The answer's JSON as the write service serialised (and, for a success, stored) it: c.json without a second stringify.
  const send = (c: Context, a: Answer): Response =>
    c.body(
      a.json,
      a.status as ContentfulStatusCode,
      a.replayed ? { 'Content-Type': 'application/json', 'Idempotent-Replayed': 'true' } : { 'Content-Type': 'application/json' },
    );

  /**
   * A write route: validate the body with `schema`, then run the change under
   * the body's idempotency key in a group-committed transaction.
   */
  const writeRoute = <S extends z.ZodType<{ idempotencyKey: string; terminal?: string | undefined }>>(
    path: string,
    schema: S,
    run: (body: z.infer<S>, ctx: WriteContext) => Outcome<unknown>,
    around?: (body: z.infer<S>, go: () => Promise<Answer>) => Promise<Answer>,
  ) => {
    const route = `POST ${path}`;
    return app.post(path, async (c) => {
      const body = await parse(c, schema);
      if (body instanceof Response) return body;
      deps.docs?.sawTerminal(body.terminal);
      const request: WriteRequest<unknown> = {
        route,
        idempotencyKey: body.idempotencyKey,
        request: body,
        terminal: body.terminal ?? null,
        run: withBody(run, body),
      };
      return send(c, around ? await around(body, () => writes.write(request)) : await writes.write(request));
    });
  };
  const qtyLines = (lines: readonly { sku: string; qty: number }[]) => lines.map((l) => ({ sku: l.sku as Sku, qty: l.qty }));

  writeRoute(
    '/sales',
    saleBody,
    (b, ctx) => inventory.sell(qtyLines(b.lines), { ...ctx, force: b.force === true }),
    // Online and short of rights: the hub may hand some back before the sale is judged.
    (b, go) => (b.force === true || !deps.withRights ? go() : deps.withRights(qtyLines(b.lines), go)),
  );
  writeRoute('/restocks', restockBody, (b, ctx) => inventory.restock(qtyLines(b.lines), ctx, { allowNew: b.allowNew === true }));
  writeRoute('/adjustments', adjustmentBody, (b, ctx) => inventory.adjust(qtyLines(b.lines), b.reason, ctx, undefined, { allowNew: b.allowNew === true }));
  writeRoute('/counts', countBody, (b, ctx) =>
    inventory.count(
      b.lines.map((l) => ({ sku: l.sku as Sku, count: l.count })),
      ctx,
      { allowNew: b.allowNew === true },
    ),
  );
  writeRoute('/holds', holdBody, (b, ctx) => {
    // A fresh id per attempt is fine: a retry replays the stored first answer, hold id included.
    const holdId = `h${randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
    return inventory.hold(holdId, qtyLines(b.lines), (b.ttlSeconds ?? 0) * 1000, ctx);
  });

  const holdAction = (action: 'commit' | 'release') => async (c: Context) => {
    const id = holdIdParam.safeParse(c.req.param('id'));
    if (!id.success) return validationError(c, id.error);
    let raw: unknown;
    if (c.req.header('content-length') !== undefined && c.req.header('content-length') !== '0') {
      const parsed = await parse(c, holdActionBody);
      if (parsed instanceof Response) return parsed;
      raw = parsed;
    }
    const body = (raw ?? {}) as { idempotencyKey?: string; terminal?: string };
    deps.docs?.sawTerminal(body.terminal);
    const holdId = id.data;
    return send(
      c,
      await writes.write({
        route: `${action} hold`,
        // Committing or releasing a hold is idempotent by nature: the hold id is the key.
        idempotencyKey: body.idempotencyKey ?? `${action}:${holdId}`,
        request: { holdId },
        terminal: body.terminal ?? null,
        successStatus: 200,
        run: (ctx) => (action === 'commit' ? inventory.commitHold(holdId, ctx) : inventory.releaseHold(holdId, ctx)),
      }),
    );
  };
  app.post('/holds/:id/commit', holdAction('commit'));
  app.delete('/holds/:id', holdAction('release'));

  app.get('/holds/:id', (c) => {
    const id = holdIdParam.safeParse(c.req.param('id'));
    if (!id.success) return validationError(c, id.error);
    const recs = inventory.holdRecords(id.data);
    if (recs.length === 0) return errorResponse(c, 404, 'hold_not_found', `no hold ${id.data}`);
    const now = clock();
    const first = recs[0]!;
    const status = first.status === 'active' && first.expiresAt <= now ? 'expired' : first.status;
    return c.json({ holdId: id.data, status, expiresAt: first.expiresAt, lines: recs.map((r) => ({ sku: r.sku, qty: r.qty })) });
  });

  app.get('/stock', (c) => c.json({ store: inventory.identity.store, at: clock(), items: inventory.allStock(clock()) }));

  app.get('/stock/:sku', (c) => {
    const sku = skuParam.safeParse(c.req.param('sku'));
    if (!sku.success) return validationError(c, sku.error);
    if (!inventory.isKnown(sku.data as Sku)) return errorResponse(c, 404, 'unknown_sku', `unknown SKU: ${sku.data}`);
    return c.json(inventory.stock(sku.data as Sku, clock()));
  });

  app.get('/catalog', (c) => c.json({ items: inventory.store.catalog() }));

  app.put('/catalog', async (c) => {
    const body = await parse(c, catalogBody);
    if (body instanceof Response) return body;
    const now = clock();
    const items: CatalogItem[] = body.items.map((i) => ({
      sku: i.sku as Sku,
      name: i.name,
      priceCents: i.priceCents ?? null,
      lowStockThreshold: i.lowStockThreshold ?? 0,
      safetyStock: i.safetyStock ?? 0,
      updatedAt: now,
    }));
    if (deps.docs) {
      // An edit of the store's settings document (local items), synced to the hub; the catalog table follows.
      if (!allowLocalItems(deps.docs.catalog)) return errorResponse(c, 403, 'local_items_not_allowed', 'the catalog does not allow stores to add items of their own');
      const docs = deps.docs;
      await writes.internal(() => docs.putLocalItems(items.map(({ updatedAt: _u, ...i }) => i)));
    } else {
      await writes.internal(() => inventory.store.upsertCatalog(items));
    }
    inventory.refreshCatalog();
    return c.json({ upserted: items.length });
  });

  app.get('/status', (c) => {
    const sync = deps.syncStatus?.() ?? OFFLINE;
    return c.json({
      store: inventory.identity.store,
      replica: inventory.identity.replica,
      startedAt: deps.startedAt ?? null,
      events: inventory.lastEventSeq,
      skus: inventory.allStock(clock()).length,
      commits: writes.commits.stats,
      sync,
    });
  });

  app.post('/sync', (c) => {
    if (!deps.syncNow) return errorResponse(c, 409, 'no_hub', 'this agent was started without --hub: there is nothing to sync with');
    deps.syncNow();
    return c.json({ started: true, sync: deps.syncStatus?.() ?? OFFLINE }, 202);
  });

  app.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      let id = 0;
      // Latest change per SKU: a slow display gets the newest stock of each
      // SKU, not an ever-growing backlog (memory stays bounded by the catalog).
      const queue = new Map<string, string>();
      let wake: (() => void) | null = null;
      const off = inventory.onChange((change) => {
        queue.delete(change.stock.sku);
        queue.set(change.stock.sku, JSON.stringify(change));
        wake?.();
      });
      stream.onAbort(() => {
        off();
        wake?.();
      });
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ store: inventory.identity.store }) });
      while (!stream.aborted) {
        while (queue.size > 0) {
          const [sku, data] = queue.entries().next().value as [string, string];
          queue.delete(sku);
          await stream.writeSSE({ event: 'stock', id: String(++id), data });
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 15_000).unref();
        });
        wake = null;
        if (queue.size === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      off();
    }),
  );

  return app;
}

/**
 * `run` bound to one request's body. A returned arrow, not one assigned to a
 * name: the agent runs through tsx (esbuild, keepNames), which wraps every
 * function assigned to a name or a property in `__name`, an
 * Object.defineProperty each time a request creates one (the two closures a
 * write route made per request: 1.7 % of the event loop's profile samples at
 * 16 terminals, plus the property writes).
 */
function withBody<B>(run: (body: B, ctx: WriteContext) => Outcome<unknown>, body: B): (ctx: WriteContext) => Outcome<unknown> {
  return (ctx) => run(body, ctx);
}

async function parse<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S> | Response> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    return errorResponse(c, 400, 'invalid_json', 'the request body is not valid JSON');
  }
  const result = schema.safeParse(raw);
  if (!result.success) return validationError(c, result.error);
  return result.data;
}

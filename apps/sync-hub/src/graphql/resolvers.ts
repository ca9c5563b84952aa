import { isValidId, isValidStoreId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { GraphQLError } from 'graphql';
import type { KeyCheck } from '../http/api-keys.js';
import { reservationBody, validate } from '../http/selling-schemas.js';
import type { SellAnswer, SellingService } from '../selling/selling-service.js';
import type { ApiRole } from '../store/access-store.js';
import type { FeedEvent, FeedFilter, StorefrontFeed } from '../storefront/feed.js';
import { DEFAULT_LOW_STOCK, DEFAULT_PAGE, MAX_PAGE, cursorOf, pageOfSkus, skuOfCursor } from '../storefront/read-routes.js';
import { MAX_CLIENT_BUFFER, open } from '../storefront/feed.js';
import type { StockViews, StoreStock } from '../storefront/views.js';

/** Per request (HTTP) or per operation (WebSocket): the caller's key, checked lazily per role. */
export interface GqlContext {
  /** Throws `unauthorized`/`forbidden` unless the key has `role`; returns the key's id. */
  need(role: ApiRole): Promise<string>;
}

export interface ResolverDeps {
  views: StockViews;
  feed: StorefrontFeed;
  service: SellingService;
  listStores: () => Promise<{ storeId: StoreId }[]>;
  isOnline: (store: StoreId) => boolean;
  lowStockThreshold?: number;
}

/** A GraphQL error carrying the REST error code (and its details) in `extensions`. */
export function codedError(code: string, message: string, details: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...details, code } });
}

/** The context for a caller presenting `key` (null: none), checked with the REST routes' key lookup. */
export function contextFor(key: string | null, check: (key: string | null, need: ApiRole) => Promise<KeyCheck>): GqlContext {
  const seen = new Map<ApiRole, Promise<KeyCheck>>();
  return {
    async need(role) {
      let p = seen.get(role);
      if (p === undefined) seen.set(role, (p = check(key, role)));
      const r = await p;
      if (!r.ok) throw codedError(r.code, r.message.replace('this route needs', 'this operation needs'));
      return r.id;
    },
  };
}

/** A selling answer as a resolver result (or a thrown coded error). */
function unwrap(a: SellAnswer): { body: any; replayed: boolean } {
  if (a.kind === 'error') throw codedError(a.code, a.message, a.details);
  if (a.kind === 'stored') return { body: JSON.parse(a.json), replayed: a.replayed };
  if (a.status >= 400) {
    // Another hub process's refusal of a forwarded commit/release: `{error:{code,message,...}}`.
    const { code, message, ...details } = ((a.body as { error?: Record<string, unknown> } | null)?.error ?? {}) as Record<string, unknown>;
    throw codedError(typeof code === 'string' ? code : 'internal', typeof message === 'string' ? message : 'the request failed', details);
  }
  return { body: a.body, replayed: false };
}

const badRequest = (message: string, details: Record<string, unknown> = {}) => codedError('invalid_request', message, details);

interface AvailabilityChange {
  eventId: string;
  snapshot: boolean;
  stock: StoreStock;
}

/**
 * The feed as an async iterator for one subscription: subscribes and
 * takes the snapshot in one synchronous step (nothing lost in between);
 * at most MAX_CLIENT_BUFFER events wait for a slow consumer, then it is
 * dropped (the iterator throws `slow_consumer`).
 */
function availabilityIterator(feed: StorefrontFeed, filter: FeedFilter, withSnapshot: boolean): AsyncIterableIterator<AvailabilityChange> {
  const queue: AvailabilityChange[] = [];
  let wake: (() => void) | null = null;
  let dropped: string | null = null;
  let done = false;
  const { unsubscribe, opening } = open(
    feed,
    filter,
    null,
    (e: FeedEvent) => {
      if (queue.length >= MAX_CLIENT_BUFFER) return false;
      queue.push({ eventId: e.id, snapshot: false, stock: e.data as StoreStock });
      wake?.();
      return true;
    },
    (reason) => {
      dropped = reason;
      wake?.();
    },
  );
  if (withSnapshot) queue.unshift(...feed.snapshot(filter).map((stock) => ({ eventId: opening.snapshotId, snapshot: true, stock })));
  const finish = () => {
    done = true;
    unsubscribe();
    wake?.();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<AvailabilityChange>> {
      while (!done) {
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        if (dropped !== null) {
          finish();
          throw codedError(dropped, dropped === 'slow_consumer' ? 'this subscriber fell too far behind and was dropped; subscribe again' : 'the hub is shutting down');
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
      return { value: undefined, done: true };
    },
    async return(): Promise<IteratorResult<AvailabilityChange>> {
      finish();
      return { value: undefined, done: true };
    },
    async throw(e: unknown): Promise<IteratorResult<AvailabilityChange>> {
      finish();
      throw e;
    },
  };
}

/** Resolvers for schema.graphql: reads from StockViews, writes through the selling service, pushes from StorefrontFeed. */
export function resolvers(deps: ResolverDeps) {
  const { views } = deps;
  const threshold = deps.lowStockThreshold ?? DEFAULT_LOW_STOCK;

  const checkStore = async (store: string | null | undefined): Promise<StoreId | undefined> => {
    if (store === undefined || store === null) return undefined;
    if (!isValidStoreId(store)) throw badRequest('storeId is not a valid store id');
    if (!views.hasStore(store as StoreId) && !(await deps.listStores()).some((s) => s.storeId === store)) throw codedError('unknown_store', `no store ${store}`);
    return store as StoreId;
  };

  return {
    Query: {
      async inventory(_: unknown, args: { sku: string; storeId?: string | null }, ctx: GqlContext) {
        await ctx.need('read');
        if (!isValidId(args.sku)) throw badRequest('sku is not a valid id');
        const store = await checkStore(args.storeId);
        const sku = args.sku as Sku;
        if (views.storesOf(sku, store).length === 0) throw codedError('unknown_sku', store ? `no stock record for ${sku} at ${store}` : `no store carries ${sku}`);
        return views.skuStock(sku, store);
      },
      async skus(_: unknown, args: { first?: number | null; after?: string | null; lowStock?: boolean | null; storeId?: string | null }, ctx: GqlContext) {
        await ctx.need('read');
        const limit = args.first ?? DEFAULT_PAGE;
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw badRequest(`first is a whole number from 1 to ${MAX_PAGE}`);
        const after = args.after === undefined || args.after === null ? null : skuOfCursor(args.after);
        if (args.after !== undefined && args.after !== null && after === null) throw codedError('invalid_cursor', 'cursor is not one this hub gave out');
        const store = await checkStore(args.storeId);
        const page = pageOfSkus(views, { universe: views.allSkus(), store, after, limit, lowStock: args.lowStock === true, threshold });
        return {
          edges: page.items.map((node) => ({ cursor: cursorOf(node.sku), node })),
          nodes: page.items,
          pageInfo: { hasNextPage: page.nextCursor !== null, endCursor: page.items.length > 0 ? cursorOf(page.items[page.items.length - 1]!.sku) : null },
        };
      },
      async stores(_: unknown, __: unknown, ctx: GqlContext) {
        await ctx.need('read');
        return (await deps.listStores()).map((s) => ({ id: s.storeId, online: deps.isOnline(s.storeId) }));
      },
      async reservation(_: unknown, args: { id: string }, ctx: GqlContext) {
        await ctx.need('reserve');
        return unwrap(await deps.service.get(args.id)).body;
      },
    },
    Mutation: {
      async reserve(_: unknown, args: { input: { idempotencyKey: string; lines: { sku: string; qty: number }[]; storeId?: string | null; ttlSeconds?: number | null } }, ctx: GqlContext) {
        const keyId = await ctx.need('reserve');
        const { storeId, ttlSeconds, ...rest } = args.input;
        // The REST body the same request would have (absent, not null, optionals): same validation, same idempotency hash.
        const raw = { ...rest, lines: rest.lines.map((l) => ({ sku: l.sku, qty: l.qty })), ...(storeId != null ? { storeId } : {}), ...(ttlSeconds != null ? { ttlSeconds } : {}) };
        const body = validate(reservationBody, raw);
        if (!body.ok) throw badRequest(`input.${body.message}`, { issues: body.issues });
        const r = unwrap(await deps.service.reserve(`key:${keyId}`, body.data));
        return { reservation: r.body, replayed: r.replayed };
      },
      async commitReservation(_: unknown, args: { id: string }, ctx: GqlContext) {
        await ctx.need('reserve');
        return unwrap(await deps.service.commit(args.id)).body;
      },
      async releaseReservation(_: unknown, args: { id: string }, ctx: GqlContext) {
        await ctx.need('reserve');
        return unwrap(await deps.service.release(args.id)).body;
      },
    },
    Subscription: {
      availabilityChanged: {
        async subscribe(_: unknown, args: { skus?: string[] | null; storeId?: string | null; snapshot?: boolean | null }, ctx: GqlContext) {
          await ctx.need('read');
          const skus = args.skus ?? [];
          if (skus.length > 1_000 || skus.some((k) => !isValidId(k))) throw badRequest('skus: up to 1,000 valid ids');
          if (args.storeId != null && !isValidStoreId(args.storeId)) throw badRequest('storeId is not a valid store id');
          const filter: FeedFilter = { skus: skus.length > 0 ? new Set(skus) : null, storeId: args.storeId ?? null, types: new Set(['availability']) };
          return availabilityIterator(deps.feed, filter, args.snapshot === true);
        },
        resolve: (payload: AvailabilityChange) => payload,
      },
    },
  };
}

import type { ReplicaId, StoreId } from '@scoville/crdt-inventory';
import type { Hono, MiddlewareHandler } from 'hono';
import { refreshingCache } from '../auth/refreshing-cache.js';
import { mountSellingRoutes } from '../http/selling-routes.js';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import type { Notices } from '../store/hub-storage.js';
import type { SellingStore } from '../store/selling-store.js';
import type { HubCommitter } from '../sync/hub-committer.js';
import { CartDirectory } from './cart-directory.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { HubSeller } from './hub-seller.js';
import { PeerLink } from './peer-link.js';
import { sellingService } from './selling-service.js';

export interface SellingDeps {
  selling: SellingStore;
  notices: Notices;
  state: HubState;
  committer: HubCommitter;
  me: ReplicaId;
  /** Highest event seq of this replica already stored (0: none). */
  lastEventSeq: number;
  clock: () => number;
  log: Logger;
  storeForToken: (tokenHash: string) => Promise<StoreId | null>;
  /** Subscribes to revokes and token rotations (this process's and, via NOTIFY, others'); returns the unsubscribe. */
  onAccessRevoked?: (listener: () => void) => () => void;
  audit: (actor: string, action: string, detail: Record<string, unknown>) => Promise<void>;
}

/** How long a store token's store is trusted before it is looked up again (in the background). */
const TOKEN_TTL_MS = 1_000;
/** Oldest answer ever served: past it (a refresh failed or is slow), callers wait for the database. */
const TOKEN_MAX_AGE_MS = 3_000;

/**
 * `storeForToken` behind a short cache (auth/refreshing-cache.ts):
 * `POST /inventory/updates` checks its token on every request, and must not
 * wait for the refresh each second. Concurrent checks of one token share one
 * query; a revoke or rotation (`onRevoked`) empties the cache at once; one
 * the hub was not told of lasts until the first refresh after `TOKEN_TTL_MS`
 * answers, never past `TOKEN_MAX_AGE_MS`, like API keys (http/api-keys.ts).
 * Unknown tokens are not cached.
 */
export function cachedStoreForToken(
  lookup: (tokenHash: string) => Promise<StoreId | null>,
  onRevoked?: (listener: () => void) => () => void,
  now?: () => number,
): { get: (tokenHash: string) => Promise<StoreId | null>; stop: () => void } {
  const cache = refreshingCache<StoreId | null>({ lookup, ttlMs: TOKEN_TTL_MS, maxAgeMs: TOKEN_MAX_AGE_MS, keep: (store) => store !== null, onRevoke: onRevoked, now });
  return { get: (tokenHash) => cache.get(tokenHash), stop: () => cache.stop() };
}

/** The hub's selling side, wired: seller, carts, expiry sweep, routes. */
export function createSelling(deps: SellingDeps) {
  const selling = deps.selling;
  const carts = new CartDirectory(selling);
  const seller = new HubSeller({
    state: deps.state,
    committer: deps.committer,
    me: deps.me,
    firstSeq: deps.lastEventSeq + 1,
    clock: deps.clock,
    log: deps.log,
    onCommitted: (b) => {
      for (const cart of b.carts) carts.remember(cart);
    },
  });
  const sweeper = new ExpirySweeper(deps.state, seller, deps.me, deps.clock, deps.log);
  // The hub replicas change only when a hub process starts: a short cache is plenty.
  let replicas: { at: number; ids: Promise<ReplicaId[]> } | null = null;
  const hubReplicas = () => {
    if (replicas === null || deps.clock() - replicas.at > 5_000) replicas = { at: deps.clock(), ids: selling.hubReplicas().catch(() => []) };
    return replicas.ids;
  };
  const peers = new PeerLink({ notices: deps.notices, state: deps.state, seller, carts, me: deps.me, hubReplicas, log: deps.log });
  carts.usePeers(peers);
  // One service behind REST and GraphQL.
  const service = sellingService({ seller, selling, carts, state: deps.state, clock: deps.clock });
  const tokens = cachedStoreForToken(deps.storeForToken, deps.onAccessRevoked);
  return {
    seller,
    carts,
    sweeper,
    selling,
    service,
    mount(app: Hono, auth: (need: 'read' | 'reserve' | 'admin') => MiddlewareHandler): void {
      mountSellingRoutes(app, { service, storeForToken: tokens.get, audit: deps.audit, auth });
    },
    async start(sweepEveryMs = 1_000): Promise<void> {
      await peers.start();
      sweeper.start(sweepEveryMs);
    },
    async stop(): Promise<void> {
      sweeper.stop();
      tokens.stop();
      await peers.stop();
      await seller.close();
    },
  };
}

export type Selling = ReturnType<typeof createSelling>;

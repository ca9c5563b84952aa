import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { StoreId } from '@scoville/crdt-inventory';
import type { CartRow, SellingStore } from '../store/selling-store.js';
import type { CartLine } from './carts.js';

/** Carts kept in memory; older ones are read back from the database. */
const CACHE_LIMIT = 50_000;

/** Another hub process's answer to a forwarded commit/release. */
export interface ForwardedAnswer {
  status: ContentfulStatusCode;
  body: unknown;
}

/** How this hub reaches the other hub processes on its database (see peer-link.ts). */
export interface Peers {
  /** Asks the cart's owner to commit or release it; 503 when the owner does not answer. */
  forward(cart: CartRow, action: 'commit' | 'release'): Promise<ForwardedAnswer>;
  /** Asks other hub processes for rights to fill `lines` (at `store`, or at any store); true when some moved. */
  borrow(store: StoreId | null, lines: readonly CartLine[]): Promise<boolean>;
}

const NO_PEERS: Peers = {
  forward: async (cart) => ({
    status: 503,
    body: { error: { code: 'owner_unavailable', message: `reservation ${cart.id} belongs to hub ${cart.owner}, which is not reachable; try again` } },
  }),
  borrow: async () => false,
};

/** Finds carts by id (memory, then the database) and reaches their owners. */
export class CartDirectory {
  private readonly cache = new Map<string, CartRow>();

  constructor(
    private readonly store: SellingStore,
    private peers: Peers = NO_PEERS,
  ) {}

  usePeers(peers: Peers): void {
    this.peers = peers;
  }

  /** Remembers a cart this process just committed. */
  remember(cart: CartRow): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(cart.id, cart);
  }

  async get(id: string): Promise<CartRow | null> {
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    const row = await this.store.cart(id);
    if (row !== null) this.remember(row);
    return row;
  }

  forward(cart: CartRow, action: 'commit' | 'release'): Promise<ForwardedAnswer> {
    return this.peers.forward(cart, action);
  }

  borrowFor(store: StoreId | null, lines: readonly CartLine[]): Promise<boolean> {
    return this.peers.borrow(store, lines);
  }
}

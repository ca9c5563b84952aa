import { randomBytes } from 'node:crypto';
import { rights, type Delta, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../log.js';
import type { HubState } from '../state/hub-state.js';
import type { Notices } from '../store/hub-storage.js';
import type { CartRow } from '../store/selling-store.js';
import type { CartDirectory, ForwardedAnswer, Peers } from './cart-directory.js';
import { commitCart, releaseCart, totalsBySku, type CartLine } from './carts.js';
import type { HubSeller } from './hub-seller.js';
import { grantRights } from './stock-updates.js';

/** Postgres NOTIFY channel of the hub processes' requests to each other. */
export const PEER_CHANNEL = 'scoville_hub_rpc';
/** How long a request waits for the other process's answer. */
const PEER_TIMEOUT_MS = 2_000;
/** A peer that did not answer is not asked to lend again for this long (a dead process must not slow every refusal). */
const SILENT_PEER_MS = 10_000;

type PeerRequest =
  | { op: 'borrow'; store: StoreId; sku: Sku; qty: number }
  | { op: 'commit' | 'release'; cartId: string };

type PeerAnswer = { op: 'borrow'; granted: number; delta: Delta } | { op: 'cart'; status: number; body: unknown } | { op: 'error'; message: string };

interface Envelope {
  id: string;
  from: ReplicaId;
  to: ReplicaId;
  req?: PeerRequest;
  res?: PeerAnswer;
}

export interface PeerLinkDeps {
  notices: Notices;
  state: HubState;
  seller: HubSeller;
  carts: CartDirectory;
  me: ReplicaId;
  /** The replica ids of every hub process on this database (this one included). */
  hubReplicas: () => Promise<ReplicaId[]>;
  log: Logger;
}

/**
 * Hub processes on one database talk through Postgres NOTIFY: no extra
 * network path, and a process that can commit can also ask.
 *
 * - borrow: a process short of rights for a hold asks the process holding
 *   the most unreserved rights on that counter; the lender hands some over
 *   (T[lender→borrower], its own entry) through its own group commit and
 *   answers with the committed transfer, which the borrower joins into
 *   memory before it decides again. Only the owner ever writes a transfer.
 * - commit / release: a cart's holds belong to the process that made them;
 *   another process forwards the request to the owner and relays its answer.
 *
 * A process that does not answer within PEER_TIMEOUT_MS is treated as
 * having nothing to lend (the hold is refused as the rights it sees allow)
 * or, for a forwarded cart, as unavailable (503, retry).
 */
export class PeerLink implements Peers {
  private readonly waiting = new Map<string, (a: PeerAnswer) => void>();
  private readonly borrowing = new Map<string, Promise<boolean>>();
  /** Peers that timed out, and until when they are skipped for lending. */
  private readonly silentUntil = new Map<ReplicaId, number>();
  private unlisten: (() => Promise<void>) | null = null;

  constructor(private readonly deps: PeerLinkDeps) {}

  async start(): Promise<void> {
    this.unlisten = await this.deps.notices.listen(PEER_CHANNEL, (payload) => this.received(payload));
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    for (const resolve of this.waiting.values()) resolve({ op: 'error', message: 'hub is shutting down' });
    this.waiting.clear();
  }

  private received(payload: string): void {
    let m: Envelope;
    try {
      m = JSON.parse(payload) as Envelope;
    } catch {
      return;
    }
    if (m.to !== this.deps.me) return;
    if (m.res !== undefined) {
      this.waiting.get(m.id)?.(m.res);
      this.waiting.delete(m.id);
      return;
    }
    if (m.req !== undefined) void this.serve(m.from, m.id, m.req);
  }

  private async serve(from: ReplicaId, id: string, req: PeerRequest): Promise<void> {
    let res: PeerAnswer;
    try {
      res = await this.answer(from, req);
    } catch (e) {
      res = { op: 'error', message: String((e as Error).message ?? e) };
    }
    await this.send({ id, from: this.deps.me, to: from, res }).catch((e) => this.deps.log.warn('peer answer not sent', { err: String(e) }));
  }

  private async answer(from: ReplicaId, req: PeerRequest): Promise<PeerAnswer> {
    if (req.op === 'borrow') {
      const o = await this.deps.seller.submit((b) => grantRights(b, req.store, req.sku, from, req.qty));
      return o.ok ? { op: 'borrow', granted: o.value.granted, delta: o.value.delta } : { op: 'error', message: o.error.message };
    }
    const cart = await this.deps.carts.get(req.cartId);
    if (cart === null || cart.owner !== this.deps.me) return { op: 'cart', status: 404, body: { error: { code: 'reservation_not_found', message: `no reservation ${req.cartId}` } } };
    const o = await this.deps.seller.submit((b) => (req.op === 'commit' ? commitCart(b, cart) : releaseCart(b, cart)));
    if (o.ok) return { op: 'cart', status: 200, body: o.value };
    return { op: 'cart', status: o.error.status, body: { error: { code: o.error.code, message: o.error.message, ...o.error.details } } };
  }

  private async send(m: Envelope): Promise<void> {
    await this.deps.notices.notify(PEER_CHANNEL, JSON.stringify(m));
  }

  private async ask(to: ReplicaId, req: PeerRequest): Promise<PeerAnswer> {
    const id = randomBytes(8).toString('hex');
    const answered = new Promise<PeerAnswer>((resolve) => {
      this.waiting.set(id, resolve);
      setTimeout(() => {
        if (this.waiting.delete(id)) resolve({ op: 'error', message: `hub ${to} did not answer within ${PEER_TIMEOUT_MS} ms` });
      }, PEER_TIMEOUT_MS).unref();
    });
    try {
      await this.send({ id, from: this.deps.me, to, req });
    } catch (e) {
      this.waiting.delete(id);
      return { op: 'error', message: String(e) };
    }
    return answered;
  }

  async forward(cart: CartRow, action: 'commit' | 'release'): Promise<ForwardedAnswer> {
    const a = await this.ask(cart.owner, { op: action, cartId: cart.id });
    if (a.op === 'cart') return { status: a.status as ContentfulStatusCode, body: a.body };
    const message = a.op === 'error' ? a.message : 'unexpected answer';
    return { status: 503, body: { error: { code: 'owner_unavailable', message: `reservation ${cart.id} belongs to hub ${cart.owner}: ${message}; try again` } } };
  }

  /**
   * Borrows, for each SKU of the cart this process is short of, from the
   * peer with the most unreserved rights on it (at `store`, or at the store
   * where the peers hold the most for this cart). Concurrent borrows of one
   * counter share one request; a lender gives half of what it holds (at
   * least the shortfall), so a burst does not ask once per hold.
   */
  async borrow(store: StoreId | null, lines: readonly CartLine[]): Promise<boolean> {
    const now = Date.now();
    const peers = (await this.deps.hubReplicas()).filter((r) => r !== this.deps.me && (this.silentUntil.get(r) ?? 0) <= now);
    if (peers.length === 0) return false;
    const totals = totalsBySku(lines);
    const s = this.deps.state.state;
    const at = store ?? this.richestStore([...totals.keys()], peers);
    if (at === null) return false;
    const results = await Promise.all(
      [...totals].map(([sku, qty]) => {
        const short = qty - Math.max(0, rights(s, at, sku, this.deps.me));
        if (short <= 0) return Promise.resolve(true);
        const key = `${at} ${sku}`;
        let p = this.borrowing.get(key);
        if (p === undefined) {
          p = this.borrowOne(at, sku, short, peers).finally(() => this.borrowing.delete(key));
          this.borrowing.set(key, p);
        }
        return p;
      }),
    );
    return results.some((x) => x);
  }

  private async borrowOne(store: StoreId, sku: Sku, short: number, peers: ReplicaId[]): Promise<boolean> {
    const s = this.deps.state.state;
    const ranked = peers.map((p) => ({ p, have: rights(s, store, sku, p) })).filter((x) => x.have > 0).sort((a, b) => b.have - a.have);
    let got = 0;
    for (const { p, have } of ranked) {
      if (got >= short) break;
      const a = await this.ask(p, { op: 'borrow', store, sku, qty: Math.max(short - got, Math.ceil(have / 2)) });
      if (a.op !== 'borrow') {
        this.deps.log.warn('borrowing rights failed', { store, sku, from: p, err: a.op === 'error' ? a.message : a.op });
        if (a.op === 'error' && a.message.includes('did not answer')) this.silentUntil.set(p, Date.now() + SILENT_PEER_MS);
        continue;
      }
      this.silentUntil.delete(p);
      // Committed by the lender: safe to join into memory now, before the cluster feed brings it.
      if (a.granted > 0) this.deps.state.apply(a.delta);
      got += a.granted;
    }
    return got > 0;
  }

  private richestStore(skus: readonly Sku[], peers: readonly ReplicaId[]): StoreId | null {
    const s = this.deps.state.state;
    let best: { store: StoreId; score: number } | null = null;
    for (const store of s.storeIds().sort()) {
      if (!skus.every((k) => s.counter(store, k) !== undefined)) continue;
      let score = 0;
      for (const k of skus) for (const p of peers) score += Math.max(0, rights(s, store, k, p));
      if (score > 0 && (best === null || score > best.score)) best = { store, score };
    }
    return best?.store ?? null;
  }
}

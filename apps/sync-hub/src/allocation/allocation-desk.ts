import {
  DEFAULT_ALLOCATION_POLICY,
  hubExcess,
  ruleFor,
  type AllocationPolicy,
  type Delta,
  type ReplicaId,
  type Sku,
  type StoreId,
} from '@scoville/crdt-inventory';
import type { Logger } from '../log.js';
import type { HubSeller } from '../selling/hub-seller.js';
import { sellOk } from '../selling/sell-error.js';
import { grantRights } from '../selling/stock-updates.js';
import type { HubState } from '../state/hub-state.js';
import type { AllocationChange, AllocationStore, StoredAllocation } from '../store/allocation-store.js';

/** A connected agent that follows its store's policy (a HubSession speaking ≥ 1.1). */
export interface AllocationLink {
  readonly store: StoreId;
  policyChanged(policy: AllocationPolicy): void;
}

export interface AllocationDeskDeps {
  allocation: AllocationStore;
  state: HubState;
  log: Logger;
  /** How often changes made by other processes (the CLI, other hubs) are looked for (default 2 s). */
  pollMs?: number;
}

export interface Grant {
  granted: number;
  delta: Delta;
}

const NO_GRANT: Grant = { granted: 0, delta: { entries: [], transfers: [], reservations: [] } };

/**
 * This hub process's side of online allocation (docs/decisions.md 22):
 * the policies (cached, pushed to the connected agents of a store when they
 * change here or, polled every ~2 s, elsewhere), rights granted to agents on
 * request, and rights given back when the online side holds more than the
 * store's online target. Rights move only through the HubSeller, so each
 * transfer is committed before anyone is told.
 */
export class AllocationDesk {
  private readonly cache = new Map<StoreId, StoredAllocation>();
  private readonly links = new Map<StoreId, Set<AllocationLink>>();
  private seller: HubSeller | null = null;
  private version = 0;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(private readonly deps: AllocationDeskDeps) {}

  /** The seller is created after the sync server; grants wait for it. */
  useSeller(seller: HubSeller): void {
    this.seller = seller;
  }

  async start(): Promise<void> {
    this.version = await this.deps.allocation.allocationVersion();
    this.timer = setInterval(() => void this.poll(), this.deps.pollMs ?? 2_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The store's policy (DEFAULT_ALLOCATION_POLICY when none was set). */
  async policy(store: StoreId): Promise<AllocationPolicy> {
    return (await this.stored(store))?.policy ?? DEFAULT_ALLOCATION_POLICY;
  }

  async stored(store: StoreId): Promise<StoredAllocation | null> {
    const hit = this.cache.get(store);
    if (hit) return hit;
    const row = await this.deps.allocation.allocation(store);
    if (row) this.learn(row, false);
    // A newer one may have been learnt (poll, update) while we read.
    return this.cache.get(store) ?? row;
  }

  /** Changes a store's policy; its connected agents get the new one at once. */
  async update(store: StoreId, change: AllocationChange, at: number): Promise<StoredAllocation> {
    const saved = await this.deps.allocation.updateAllocation(store, change, at);
    this.learn(saved);
    return saved;
  }

  register(link: AllocationLink): void {
    let set = this.links.get(link.store);
    if (!set) this.links.set(link.store, (set = new Set()));
    set.add(link);
  }

  unregister(link: AllocationLink): void {
    const set = this.links.get(link.store);
    if (set?.delete(link) && set.size === 0) this.links.delete(link.store);
  }

  /** Hands up to `qty` of this hub replica's unreserved rights to `agent`; resolves after the commit. */
  async grant(store: StoreId, sku: Sku, agent: ReplicaId, qty: number): Promise<Grant> {
    const seller = this.seller;
    if (seller === null) return NO_GRANT;
    const o = await seller.submit((b) => grantRights(b, store, sku, agent, qty));
    return o.ok ? o.value : NO_GRANT;
  }

  /**
   * Gives `agent` what the online side holds above the target on each SKU
   * (at most this replica's own rights). Decided again inside the seller's
   * group on its scratch counters, so concurrent holds are respected.
   */
  async giveBack(store: StoreId, skus: Iterable<Sku>, agent: ReplicaId, policy: AllocationPolicy): Promise<number> {
    const seller = this.seller;
    if (seller === null) return 0;
    const me = seller.replica;
    const jobs: Promise<number>[] = [];
    for (const sku of skus) {
      const rule = ruleFor(policy, sku);
      // Cheap check on the committed state first: most changes move nothing.
      if (hubExcess(this.deps.state.state, store, sku, me, agent, rule) <= 0) continue;
      jobs.push(
        seller
          .submit((b) => {
            const excess = hubExcess(b.counter(store, sku), store, sku, me, agent, rule, b.rights(store, sku));
            return excess > 0 ? grantRights(b, store, sku, agent, excess) : sellOk(NO_GRANT);
          })
          .then((o) => (o.ok ? o.value.granted : 0)),
      );
    }
    const given = (await Promise.all(jobs)).reduce((a, x) => a + x, 0);
    if (given > 0) this.deps.log.info('allocation: rights given back to the store', { store, agent, units: given });
    return given;
  }

  /** Picks up policies changed by other processes (CLI, other hubs). */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const row of await this.deps.allocation.allocationsChangedSince(this.version)) this.learn(row);
    } catch (e) {
      this.deps.log.warn('allocation poll failed', { err: String(e) });
    } finally {
      this.polling = false;
    }
  }

  private learn(row: StoredAllocation, notify = true): void {
    this.version = Math.max(this.version, row.version);
    const known = this.cache.get(row.store);
    if (known && known.version >= row.version) return;
    this.cache.set(row.store, row);
    if (!notify) return;
    for (const link of this.links.get(row.store) ?? []) link.policyChanged(row.policy);
  }
}

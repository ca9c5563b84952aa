import type { WebSocket } from 'ws';
import {
  chunkDelta,
  deltaOf,
  deltaWithout,
  digestOf,
  emptyDelta,
  isEmptyDelta,
  type Delta,
  type AllocationPolicy,
  type InventoryEvent,
  type ReplicaId,
  type Sku,
  type StoreId,
} from '@scoville/crdt-inventory';
import {
  CloseCode,
  PROTOCOL_VERSION,
  decode,
  encode,
  minorOf,
  negotiateVersion,
  type BatchMessage,
  type DigestMessage,
  type HelloMessage,
  type Message,
  type RepairMessage,
  type RightsGrantMessage,
  type RightsRequestMessage,
} from '@scoville/protocol';
import type { AllocationDesk, AllocationLink } from '../allocation/allocation-desk.js';
import type { HubState, StateChange } from '../state/hub-state.js';
import type { AccessStore } from '../store/access-store.js';
import type { InventoryStore } from '../store/inventory-store.js';
import type { HubCommitter } from './hub-committer.js';
import type { Logger } from '../log.js';

/** Largest chunk of entries the hub puts in one outgoing batch or repair. */
const OUT_CHUNK = 10_000;
/** Batches of one agent waiting for their commit; past this the link is closed (4429). */
const MAX_PENDING_BATCHES = 64;
/** Least time between two full repairs sent on one link. */
const REPAIR_INTERVAL_MS = 60_000;
/** A connection that has not said hello by then is dropped (default). */
const HELLO_TIMEOUT_MS = 10_000;
/** rights_request answers remembered per link (a repeated requestId gets the first answer). */
const REMEMBERED_GRANTS = 256;
/** Changes of a store are gathered this long before the hub looks for rights to give back. */
const GIVE_BACK_DELAY_MS = 25;

export interface SessionDeps {
  /** Claims the agent's replica for its store. */
  access: AccessStore;
  /** Where the hub stands with the agent's stream. */
  inventory: InventoryStore;
  state: HubState;
  committer: HubCommitter;
  hubReplica: ReplicaId;
  log: Logger;
  clock: () => number;
  helloTimeoutMs?: number;
  /** True when another live session of this hub already speaks for `replica`. */
  replicaOnline: (replica: ReplicaId) => boolean;
  /**
   * Pings the session(s) that speak for `replica`; one that does not answer
   * in time is a dead link and is terminated. Resolves when that is settled.
   */
  evictDeadHolders: (replica: ReplicaId) => Promise<void>;
  /** Called once the session knows its replica (after hello). */
  onOnline: (s: HubSession) => void;
  onClosed: (s: HubSession) => void;
  /** Online allocation (policies, grants, give-back); without it rights_request is `not_supported`. */
  allocation?: AllocationDesk;
  /** Told of each refused replica (alerts/ops-alerts.ts raises `replica_refused`). */
  onRefused?: (store: StoreId, replica: ReplicaId, code: 'replica_regressed' | 'replica_in_use' | 'event_conflict', message: string) => void;
  /** Told of each accepted hello (a refused replica that is accepted again is resolved). */
  onAccepted?: (store: StoreId, replica: ReplicaId) => void;
}

/**
 * One agent's connection.
 *
 *   awaiting_hello ──hello ok──▶ online ──socket closes / fatal error──▶ closed
 *         │                                   ▲
 *         └────────── bad hello ──────────────┘
 *
 * Batches are acked in order, each only after the transaction that holds it
 * committed. A frame that cannot be decoded closes the link (4400): acks are
 * cumulative, so silently skipping one batch would later ack it by mistake.
 */
export class HubSession implements AllocationLink {
  state: 'awaiting_hello' | 'online' | 'closed' = 'awaiting_hello';
  /** Minor of the negotiated protocol version (allocation needs ≥ 1). */
  minor = 0;
  /** The policy this agent was last sent (null: none sent, so nothing is given back unasked). */
  private policy: AllocationPolicy | null = null;
  private readonly grants = new Map<string, Promise<RightsGrantMessage | null>>();
  private giveBackSkus = new Set<Sku>();
  private giveBackTimer: NodeJS.Timeout | null = null;
  replica: ReplicaId | null = null;
  private outSeq = 0;
  connectedAt: number;
  lastBatchAt: number | null = null;
  /** Serialises message handling: a later batch never overtakes an earlier one. */
  private chain: Promise<void> = Promise.resolve();
  private readonly helloTimer: NodeJS.Timeout;
  private pending = 0;
  private lastRepairAt = -Infinity;

  constructor(
    readonly ws: WebSocket,
    readonly store: StoreId,
    private readonly deps: SessionDeps,
  ) {
    this.connectedAt = deps.clock();
    const helloMs = deps.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.helloTimer = setTimeout(() => {
      if (this.state === 'awaiting_hello') this.fail('hello_timeout', `no hello within ${helloMs} ms`, CloseCode.BadMessage);
    }, helloMs);
    this.helloTimer.unref();
    ws.on('message', (data, isBinary) => {
      const raw = isBinary ? (data as Buffer) : (data as Buffer).toString('utf8');
      this.chain = this.chain.then(() => this.handleFrame(raw)).catch((e) => this.fail('internal', String(e), 1011));
    });
    ws.on('close', () => this.closed());
    ws.on('error', () => this.closed());
    // A socket that is already closing will never emit 'close' to us: no session on it.
    if (ws.readyState !== ws.OPEN) this.terminate();
  }

  private async handleFrame(raw: string | Buffer): Promise<void> {
    if (this.state === 'closed') return;
    const decoded = decode(typeof raw === 'string' ? raw : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    if (!decoded.ok) {
      const code =
        decoded.error.code === 'too_large'
          ? CloseCode.TooLarge
          : decoded.error.code === 'unsupported_version'
            ? CloseCode.UnsupportedVersion
            : CloseCode.BadMessage;
      return this.fail(decoded.error.code, decoded.error.message, code);
    }
    const msg = decoded.message;
    if (this.state === 'awaiting_hello') {
      if (msg.type !== 'hello') return this.fail('hello_required', `expected hello, got ${msg.type}`, CloseCode.BadMessage);
      return this.hello(msg);
    }
    switch (msg.type) {
      case 'batch':
        return this.batch(msg);
      case 'events':
        return this.commitFromAgent(emptyDelta(), msg.events, msg.seq, 'events');
      case 'ack':
        // The hub keeps nothing to resend (it sends the store's state on every connect).
        return;
      case 'digest':
        return this.digest(msg);
      case 'repair':
        return this.repair(msg);
      case 'ping':
        return this.send({ type: 'pong', t: msg.t });
      case 'pong':
        return;
      case 'rights_request':
        if (!this.deps.allocation) {
          return this.send({
            type: 'error',
            code: 'not_supported',
            message: 'this hub does not grant rights; the agent keeps selling within its own rights',
            fatal: false,
          });
        }
        // Not awaited: later frames go on while the grant commits.
        this.rightsRequest(msg);
        return;
      default:
        return this.fail('unexpected_message', `an agent may not send ${msg.type}`, CloseCode.BadMessage);
    }
  }

  private async hello(m: HelloMessage): Promise<void> {
    // The hello came in time; checking it (database, a liveness probe of an old link) may take longer.
    clearTimeout(this.helloTimer);
    if (m.store !== this.store) {
      return this.fail('forbidden', `this token belongs to store ${this.store}, not ${m.store}`, CloseCode.Forbidden);
    }
    const owner = await this.deps.access.claimReplica(m.replica, this.store, 'agent', this.deps.clock());
    if (this.isClosed()) return; // the socket went away while we asked
    if (owner !== this.store) {
      return this.fail('forbidden', `replica ${m.replica} belongs to another store`, CloseCode.Forbidden);
    }
    const pos = await this.deps.inventory.syncPosition(m.replica);
    if (this.isClosed()) return;
    if (pos !== null && pos.lastEventSeq > m.lastEventSeq) {
      // Restored from an old backup: its next events would reuse ids the hub
      // already holds (and be dropped as duplicates), and its counters would
      // sit below what the hub has. Refuse loudly; the store needs a new replica.
      this.deps.log.error('replica regressed', { store: this.store, agent: m.replica, hubHas: pos.lastEventSeq, agentHas: m.lastEventSeq });
      const why = `the hub already holds events up to seq ${pos.lastEventSeq} of replica ${m.replica}, the agent only ${m.lastEventSeq}: it was restored from an old backup; re-initialise it (edge-agent init) to get a new replica id`;
      this.deps.onRefused?.(this.store, m.replica, 'replica_regressed', why);
      return this.fail('replica_regressed', why, CloseCode.Forbidden);
    }
    if (this.deps.replicaOnline(m.replica)) {
      // The old link may be dead (half-open, or its socket gone): a refusal
      // must not outlive it. Silent holders are cut here; live ones stay.
      await this.deps.evictDeadHolders(m.replica);
      if (this.isClosed()) return;
    }
    if (this.deps.replicaOnline(m.replica)) {
      // Two live agents with one replica id (a copied data folder) would
      // write different events under the same ids. Keep the first (it
      // answered a ping just now); the newcomer is refused.
      this.deps.log.warn('replica already connected', { store: this.store, agent: m.replica });
      const why = `replica ${m.replica} is already connected to this hub`;
      this.deps.onRefused?.(this.store, m.replica, 'replica_in_use', why);
      return this.fail('replica_in_use', why, CloseCode.Forbidden);
    }
    this.replica = m.replica;
    this.state = 'online';
    // decode() refused other majors: this is the common major and the lower minor.
    const negotiated = negotiateVersion(m.protocol);
    const version = negotiated.ok ? negotiated.version : PROTOCOL_VERSION;
    this.minor = minorOf(version);
    this.send({
      type: 'welcome',
      protocol: version,
      hubReplica: this.deps.hubReplica,
      ackedUpTo: 0,
      hubSeq: pos?.lastEventSeq ?? 0,
    });
    this.deps.onOnline(this);
    this.deps.onAccepted?.(this.store, m.replica);
    // Catch-up in the hub→agent direction: everything other replicas wrote for this store.
    this.sendDelta(this.deps.state.storeDelta(this.store, m.replica));
    if (this.minor >= 1 && this.deps.allocation) {
      this.deps.allocation.register(this);
      void this.deps.allocation.policy(this.store).then(
        (p) => this.policyChanged(p),
        (e) => this.deps.log.warn('allocation policy unavailable', { store: this.store, err: String(e) }),
      );
    }
  }

  /** Sends the store's policy to a 1.1 agent and gives back what the hub holds above the new target. */
  policyChanged(policy: AllocationPolicy): void {
    if (this.state !== 'online' || this.minor < 1) return;
    this.policy = policy;
    this.send({ type: 'allocation', store: this.store, policy });
    this.scheduleGiveBack(this.deps.state.state.skus(this.store));
  }

  private scheduleGiveBack(skus: Iterable<Sku>): void {
    if (this.policy === null || !this.deps.allocation) return;
    for (const k of skus) this.giveBackSkus.add(k);
    if (this.giveBackTimer !== null || this.giveBackSkus.size === 0) return;
    this.giveBackTimer = setTimeout(() => {
      this.giveBackTimer = null;
      const batch = this.giveBackSkus;
      this.giveBackSkus = new Set();
      if (this.state !== 'online' || this.policy === null) return;
      this.deps.allocation!.giveBack(this.store, batch, this.replica!, this.policy).catch((e) =>
        this.deps.log.warn('allocation give-back failed', { store: this.store, agent: this.replica, err: String(e) }),
      );
    }, GIVE_BACK_DELAY_MS);
    this.giveBackTimer.unref();
  }

  /** Grants rights (committed first), then answers; a repeated requestId gets the first answer. */
  private rightsRequest(m: RightsRequestMessage): void {
    if (m.store !== this.store) {
      this.fail('forbidden', `rights request for store ${m.store}`, CloseCode.Forbidden);
      return;
    }
    let answer = this.grants.get(m.requestId);
    if (answer === undefined) {
      answer = this.deps.allocation!.grant(this.store, m.sku, this.replica!, m.qty).then(
        (g): RightsGrantMessage => ({ type: 'rights_grant', requestId: m.requestId, store: this.store, sku: m.sku, granted: g.granted, delta: g.delta }),
        (e) => {
          this.grants.delete(m.requestId);
          this.deps.log.warn('rights grant failed', { store: this.store, agent: this.replica, err: String(e) });
          return null;
        },
      );
      this.grants.set(m.requestId, answer);
      if (this.grants.size > REMEMBERED_GRANTS) this.grants.delete(this.grants.keys().next().value!);
    }
    void answer.then((g) => {
      if (g !== null) this.send(g);
      else this.send({ type: 'error', code: 'unavailable', message: `rights request ${m.requestId} could not be committed; ask again`, fatal: false });
    });
  }

  /** Checks that every entry and event was written by this agent for its own store. */
  private foreign(delta: Delta, events: readonly InventoryEvent[]): string | null {
    const r = this.replica!;
    const s = this.store;
    for (const e of delta.entries) if (e.store !== s || e.replica !== r) return `entry ${e.store}/${e.sku} of replica ${e.replica}`;
    for (const t of delta.transfers) if (t.store !== s || t.from !== r) return `transfer ${t.store}/${t.sku} from ${t.from}`;
    for (const x of delta.reservations) if (x.store !== s || x.owner !== r) return `reservation ${x.id} of ${x.owner}`;
    for (const e of events) if (e.store !== s || e.replica !== r) return `event ${e.id}`;
    return null;
  }

  private batch(m: BatchMessage): Promise<void> {
    return this.commitFromAgent(m.delta, m.events, m.seq, 'batch');
  }

  private async commitFromAgent(delta: Delta, events: InventoryEvent[], seq: number, stream: 'batch' | 'events'): Promise<void> {
    const bad = this.foreign(delta, events);
    if (bad) {
      this.deps.log.warn('refused foreign data', { store: this.store, agent: this.replica, what: bad });
      return this.fail('forbidden', `${bad} does not belong to replica ${this.replica} of store ${this.store}`, CloseCode.Forbidden);
    }
    if (this.pending >= MAX_PENDING_BATCHES) {
      // The agent's window is 8; one that ignores acks must not grow the
      // hub's commit queue without bound (least of all while Postgres is down).
      return this.fail('overloaded', `more than ${MAX_PENDING_BATCHES} batches waiting for commit`, CloseCode.Overloaded);
    }
    const at = this.deps.clock();
    // Not awaited here: the next frame may be validated while this one commits,
    // and group commit takes both; acks still go out in order (commits resolve in order).
    this.pending++;
    const done = this.deps.committer.submit({ delta, events, from: { replica: this.replica!, store: this.store, at } });
    done.then(
      () => {
        this.pending--;
        this.lastBatchAt = at;
        this.send({ type: 'ack', stream, upTo: seq });
      },
      (e) => {
        this.pending--;
        if ((e as { code?: string }).code === 'event_conflict') {
          this.deps.log.error('event conflict', { store: this.store, agent: this.replica, err: String(e) });
          this.deps.onRefused?.(this.store, this.replica!, 'event_conflict', String((e as Error).message));
          this.fail('event_conflict', String((e as Error).message), CloseCode.Forbidden);
          return;
        }
        this.fail('unavailable', `could not store batch ${seq}: ${String(e)}`, CloseCode.GoingAway);
      },
    );
  }

  private digest(m: DigestMessage): void {
    // One copy of the store's entries serves the digest, its count and a repair.
    const full = this.deps.state.storeDelta(this.store);
    const ours = digestOf(full);
    this.send({ type: 'digest', store: this.store, digest: ours, entries: full.entries.length });
    if (m.digest !== ours) {
      // A full repair costs the whole store: at most one a minute per link.
      const now = this.deps.clock();
      if (now - this.lastRepairAt < REPAIR_INTERVAL_MS) {
        this.deps.log.warn('digest mismatch again, repair already sent within a minute', { store: this.store, agent: this.replica });
        return;
      }
      this.lastRepairAt = now;
      this.deps.log.info('digest mismatch, repairing', { store: this.store, agent: this.replica });
      this.sendRepair(deltaWithout(full, this.replica!));
    }
  }

  private async repair(m: RepairMessage): Promise<void> {
    if (m.store !== this.store) return this.fail('forbidden', `repair for store ${m.store}`, CloseCode.Forbidden);
    // A repair carries the agent's whole view; only its own entries are its to assert.
    const own = deltaOf(m.delta, this.replica!);
    if (isEmptyDelta(own)) return;
    await this.deps.committer.submit({ delta: own, events: [], from: { replica: this.replica!, store: this.store, at: this.deps.clock() } });
  }

  /** Forwards committed changes of this store that other replicas wrote. */
  forward(change: StateChange): void {
    if (this.state !== 'online' || change.store !== this.store) return;
    this.sendDelta(deltaWithout(change.delta, this.replica!));
    if (this.policy !== null) {
      const d = change.delta;
      this.scheduleGiveBack([...d.entries.map((e) => e.sku), ...d.transfers.map((t) => t.sku), ...d.reservations.map((r) => r.sku)]);
    }
  }

  private sendDelta(d: Delta): void {
    for (const chunk of chunkDelta(d, OUT_CHUNK)) this.send({ type: 'batch', seq: ++this.outSeq, delta: chunk, events: [] });
  }

  private sendRepair(d: Delta): void {
    const parts = chunkDelta(d, OUT_CHUNK);
    if (parts.length === 0) parts.push(emptyDelta());
    parts.forEach((delta, i) => this.send({ type: 'repair', store: this.store, delta, final: i === parts.length - 1 }));
  }

  send(m: Message): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encode(m));
  }

  fail(code: string, message: string, closeCode: number): void {
    if (this.state === 'closed') return;
    this.send({ type: 'error', code, message, fatal: true });
    this.ws.close(closeCode, code.slice(0, 100));
    this.closed();
  }

  /** A method, not a field read: TypeScript would keep a narrowing across awaits. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  terminate(): void {
    this.ws.terminate();
    this.closed();
  }

  private closed(): void {
    clearTimeout(this.helloTimer);
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.giveBackTimer !== null) clearTimeout(this.giveBackTimer);
    this.deps.allocation?.unregister(this);
    this.deps.onClosed(this);
  }
}

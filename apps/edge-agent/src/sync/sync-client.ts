import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import { chunkDelta, deltaOf, deltaOfStore, deltaWithout, emptyDelta, isEmptyDelta, type ReplicaId, type Sku } from '@scoville/crdt-inventory';
import { CloseCode, PROTOCOL_VERSION, decode, encode, minorOf, type Message } from '@scoville/protocol';
import type { SyncStatus } from '../http/app.js';
import type { AgentInventory } from '../inventory/agent-inventory.js';
import type { WriteService } from '../inventory/write-service.js';

/**
 * How long a till sale short of rights waits for the hub's grant before it
 * is refused (409): a round trip from the store to the hub plus one hub
 * commit. 300 ms was too tight for a loaded hub (CI saw a refused sale that
 * the hub granted moments later); a customer at a till does not notice 1 s.
 */
export const RIGHTS_WAIT_MS = 1_000;

/** Durable watermarks in the agent's sync_state table. */
export const ACKED_CHANGE = 'acked_change';
export const ACKED_EVENT_SEQ = 'acked_event_seq';

export interface SyncClientOptions {
  /** ws(s)://hub/sync */
  url: string;
  token: string;
  /**
   * PEM CA certificate(s) to trust for a wss:// hub besides the system's
   * (a self-signed or private-CA hub certificate). NODE_EXTRA_CA_CERTS works too.
   */
  ca?: string | Buffer;
  inventory: AgentInventory;
  writes: WriteService;
  clock?: () => number;
  /** Ping interval; a link silent for two intervals is dead. */
  heartbeatMs?: number;
  /** Anti-entropy: compare digests this often (and after every reconnect). */
  digestEveryMs?: number;
  maxInFlight?: number;
  eventsPerBatch?: number;
  entriesPerBatch?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Where the link reports connects, disconnects (info), refusals and an unreachable hub (warn). */
  log?: SyncLogger;
}

export interface SyncLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** Failed attempts in a row after which an unreachable hub is logged (then every 20th). */
const WARN_AFTER_FAILURES = 3;

/**
 * The operator's next step for a link the hub refused (close code + the
 * hub's error frame), or null for a close that is not a refusal.
 */
export function refusalAdvice(
  code: number,
  hubError: { code: string; message: string } | null,
  id: { store: string; replica: string },
): string | null {
  const what = `${code} ${hubError?.code ?? ''}`.trim();
  switch (code) {
    case CloseCode.Unauthorized:
      return `the hub refused the token for store ${id.store} (${what}): check the store token (--token or SCOVILLE_HUB_TOKEN); run \`sync-hub stores rotate ${id.store}\` on the hub for a new one (or \`sync-hub stores add ${id.store}\` if the store is not registered) and use the token it prints`;
    case CloseCode.UnsupportedVersion:
      return `the hub does not speak this agent's protocol (${what}): upgrade the agent or the hub so their protocol versions match`;
    case CloseCode.Forbidden:
      switch (hubError?.code) {
        case 'replica_in_use':
          return `the hub refused replica ${id.replica} of store ${id.store} (${what}): another agent with this replica id is connected; is a copy of this data folder running elsewhere? Stop it (the agent keeps retrying)`;
        case 'replica_regressed':
          return `the hub refused replica ${id.replica} of store ${id.store} (${what}): this data folder is older than what the hub holds (restored from a backup?); re-initialise it with \`edge-agent init\` to get a new replica id`;
        case 'event_conflict':
          return `the hub refused replica ${id.replica} of store ${id.store} (${what}): another agent wrote different events under this replica id (a copied data folder?); re-initialise one of them with \`edge-agent init\``;
        default:
          return `the hub refused replica ${id.replica} of store ${id.store} (${what})${hubError ? `: ${hubError.message}` : ''}; check that the token belongs to store ${id.store}`;
      }
    default:
      return null;
  }
}

interface InFlight {
  seq: number;
  toChange: number;
  toEventSeq: number;
  /** Carries events (a backlog batch can be 2,000 of them). */
  withEvents: boolean;
}

/**
 * Batches carrying events that may be in flight at once. A backlog of a
 * million events must not fill the whole window: a live sale's entries
 * then still go out (in an entries-only batch) instead of queueing behind
 * 8 × 2,000 old events.
 */
const MAX_EVENT_BATCHES_IN_FLIGHT = 2;

/**
 * The agent's link to the hub.
 *
 *   stopped ─start─▶ connecting ─open─▶ handshake ─welcome─▶ online
 *                        ▲                                     │
 *                        └──── backoff (full jitter) ◀── close/error/dead link
 *
 * Outgoing: numbered batches of this replica's changed entries (coalesced:
 * everything changed since the last send) plus the next events of its log.
 * After a reconnect the entries go first, alone; the event backlog follows
 * once the hub has acked them.
 * The hub acks a batch after its Postgres commit; only then do the durable
 * watermarks move. After any reconnect everything above them is sent again.
 * Incoming: entries other replicas wrote, applied durably, then acked.
 */
export class SyncClient {
  phase: 'stopped' | 'connecting' | 'handshake' | 'online' | 'backoff' = 'stopped';
  private ws: WebSocket | null = null;
  private inflight: InFlight[] = [];
  private batchSeq = 0;
  private sentChange = 0;
  private sentEventSeq = 0;
  /**
   * After a reconnect the first batch carries every entry changed meanwhile
   * and no events (`stateFirst` until it is sent, `stateSeq` until it is
   * acked): the hub has the right numbers after one small commit, and the
   * event backlog, which can be a million events, follows behind it.
   */
  private stateFirst = false;
  private stateSeq = 0;
  private attempts = 0;
  private lastAckAt: number | null = null;
  private lastError: string | null = null;
  private lastDigestAt = 0;
  private lastHeard = 0;
  /** The hub's last error frame on the current link (explains its close). */
  private hubError: { code: string; message: string } | null = null;
  /** Connection attempts in a row that did not get a welcome. */
  private failures = 0;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private offChange: (() => void) | null = null;
  private readonly clock: () => number;
  /** Bytes sent on the wire since start (for benches and status). */
  bytesSent = 0;
  /** The hub replica of this link and the negotiated minor (allocation needs ≥ 1). */
  private hubReplica: ReplicaId | null = null;
  private minor = 0;
  /** SKUs changed since the last hand-over check. */
  private handOverSkus = new Set<Sku>();
  /** Sales waiting for or using granted rights: no hand-over meanwhile (it would give them straight back). */
  private handOverPaused = 0;
  private handOverScheduled = false;
  private readonly grantWaiters = new Map<string, (granted: number) => void>();
  private requestCount = 0;
  private readonly requestPrefix = `rq${randomBytes(4).toString('hex')}`;

  constructor(private readonly opts: SyncClientOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  start(): void {
    if (this.phase !== 'stopped') return;
    this.offChange = this.opts.inventory.onChange((c) => {
      this.schedulePump();
      this.scheduleHandOver(c.stock.sku);
    });
    this.connect();
  }

  async stop(): Promise<void> {
    this.phase = 'stopped';
    this.offChange?.();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(CloseCode.Normal, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1_000).unref();
      });
    }
  }

  status(): SyncStatus {
    const store = this.opts.inventory.store;
    const ackedEvents = store.syncValue(ACKED_EVENT_SEQ);
    const ackedChange = store.syncValue(ACKED_CHANGE);
    const pending = this.opts.inventory.lastChange > Math.max(ackedChange, this.sentChange) ? 1 : 0;
    return {
      hub: this.opts.url,
      online: this.phase === 'online',
      unackedBatches: this.inflight.length + pending,
      unackedEvents: this.opts.inventory.lastEventSeq - ackedEvents,
      lastAckAt: this.lastAckAt,
      lastError: this.lastError,
    };
  }

  /**
   * `edge-agent sync`: reconnect at once if the link is down (skipping the
   * backoff wait), else push what is pending and compare digests.
   */
  syncNow(): void {
    if (this.phase === 'backoff') {
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.connect();
      return;
    }
    if (this.phase !== 'online') return;
    this.pump();
    if (this.idle()) this.checkDigest();
  }

  /** Starts a digest comparison now. */
  checkDigest(): void {
    if (this.phase !== 'online') return;
    const { inventory } = this.opts;
    this.lastDigestAt = this.clock();
    this.send({
      type: 'digest',
      store: inventory.identity.store,
      digest: inventory.state.digest(inventory.identity.store),
      entries: inventory.state.toDelta(inventory.identity.store).entries.length,
    });
  }

  private connect(): void {
    if (this.phase === 'stopped' && this.offChange === null) return;
    this.phase = 'connecting';
    const ws = new WebSocket(this.opts.url, {
      headers: { authorization: `Bearer ${this.opts.token}` },
      handshakeTimeout: 10_000,
      maxPayload: 32 * 1024 * 1024,
      // `ca` replaces Node's trusted roots: keep them and add the hub's.
      ...(this.opts.ca !== undefined ? { ca: [...rootCertificates, this.opts.ca.toString()] } : {}),
    });
    this.ws = ws;
    this.hubError = null;
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.phase = 'handshake';
      this.lastHeard = this.clock();
      const { identity } = this.opts.inventory;
      this.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        store: identity.store,
        replica: identity.replica,
        ackedHubSeq: 0,
        lastEventSeq: this.opts.inventory.lastEventSeq,
      });
      this.startHeartbeat(ws);
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      this.lastHeard = this.clock();
      const raw = data as Buffer;
      const decoded = decode(isBinary ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : raw.toString('utf8'));
      if (!decoded.ok) {
        this.lastError = `bad frame from hub: ${decoded.error.message}`;
        ws.close(CloseCode.BadMessage, decoded.error.code);
        return;
      }
      void this.handle(decoded.message).catch((e) => {
        this.lastError = String(e);
        ws.close(1011, 'agent error');
      });
    });
    ws.on('pong', () => (this.lastHeard = this.clock()));
    ws.on('unexpected-response', (_req, res) => {
      // With this listener ws leaves the failed upgrade open: end it so
      // 'close' fires and the backoff loop goes on.
      this.lastError = `hub answered HTTP ${res.statusCode} to the upgrade`;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (e) => {
      this.lastError = e.message;
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (code >= 4000) this.lastError = `hub closed the link: ${code} ${reason.toString()}`;
      if (this.phase !== 'stopped') {
        this.logClose(code, reason.toString());
        this.scheduleReconnect();
      }
    });
  }

  private logClose(code: number, reason: string): void {
    const log = this.opts.log;
    const wasOnline = this.phase === 'online';
    if (!wasOnline) this.failures++;
    if (!log) return;
    const { identity } = this.opts.inventory;
    const fields = { hub: this.opts.url, store: identity.store, replica: identity.replica, code, reason, hubError: this.hubError?.code ?? null, hubMessage: this.hubError?.message ?? null };
    if (wasOnline) log.info('disconnected from hub', fields);
    const advice = refusalAdvice(code, this.hubError, identity);
    if (advice !== null) {
      log.warn(advice, fields);
      return;
    }
    if (code >= 4000) {
      log.warn(`the hub closed the link (${code} ${this.hubError?.code ?? reason})${this.hubError ? `: ${this.hubError.message}` : ''}; reconnecting`, fields);
      return;
    }
    if (!wasOnline && (this.failures === WARN_AFTER_FAILURES || (this.failures > WARN_AFTER_FAILURES && this.failures % 20 === 0))) {
      log.warn(
        `cannot reach the hub at ${this.opts.url} (${this.failures} attempts in a row, last error: ${this.lastError ?? `closed ${code}`}): check that the hub is running and the --hub URL; the agent keeps selling offline and retries`,
        { ...fields, attempts: this.failures, lastError: this.lastError },
      );
    }
  }

  private scheduleReconnect(): void {
    this.phase = 'backoff';
    const base = this.opts.backoffBaseMs ?? 250;
    const max = this.opts.backoffMaxMs ?? 30_000;
    // Full jitter: stores that lost the hub together do not come back together.
    const delay = Math.random() * Math.min(max, base * 2 ** this.attempts);
    this.attempts = Math.min(this.attempts + 1, 30);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.phase === 'backoff') this.connect();
    }, delay);
  }

  private startHeartbeat(ws: WebSocket): void {
    const every = this.opts.heartbeatMs ?? 10_000;
    const t = setInterval(() => {
      if (this.clock() - this.lastHeard > 2 * every) {
        this.lastError = 'dead link: no answer from the hub';
        ws.terminate();
        return;
      }
      this.send({ type: 'ping', t: this.clock() });
      if (this.phase === 'online' && this.clock() - this.lastDigestAt >= (this.opts.digestEveryMs ?? 180_000) && this.idle()) {
        this.checkDigest();
      }
    }, every);
    t.unref();
    this.timers.push(t);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async handle(m: Message): Promise<void> {
    const { inventory, writes } = this.opts;
    switch (m.type) {
      case 'welcome': {
        this.phase = 'online';
        this.hubReplica = m.hubReplica;
        this.minor = minorOf(m.protocol);
        this.attempts = 0;
        this.failures = 0;
        this.lastError = null;
        this.opts.log?.info('connected to hub', { hub: this.opts.url, store: inventory.identity.store, replica: inventory.identity.replica });
        // Resend everything the hub has not acknowledged.
        this.inflight = [];
        this.batchSeq = 0;
        this.sentChange = inventory.store.syncValue(ACKED_CHANGE);
        this.sentEventSeq = inventory.store.syncValue(ACKED_EVENT_SEQ);
        this.stateFirst = true;
        this.stateSeq = 0;
        this.lastDigestAt = 0;
        this.pump();
        return;
      }
      case 'ack': {
        if (m.stream !== 'batch') return;
        const done = this.inflight.filter((b) => b.seq <= m.upTo);
        if (done.length === 0) return;
        this.inflight = this.inflight.filter((b) => b.seq > m.upTo);
        if (this.stateSeq > 0 && m.upTo >= this.stateSeq) this.stateSeq = 0;
        const last = done[done.length - 1]!;
        await writes.internal(() => {
          const s = inventory.store;
          s.setSyncValue(ACKED_CHANGE, Math.max(s.syncValue(ACKED_CHANGE), last.toChange));
          s.setSyncValue(ACKED_EVENT_SEQ, Math.max(s.syncValue(ACKED_EVENT_SEQ), last.toEventSeq));
        });
        this.lastAckAt = this.clock();
        this.pump();
        return;
      }
      case 'batch': {
        // Only this agent writes its own entries: never take them from anyone;
        // and only its own store's entries belong in its file.
        const foreign = deltaOfStore(deltaWithout(m.delta, inventory.identity.replica), inventory.identity.store);
        await writes.internal(() => inventory.applyRemote(foreign, this.clock()));
        this.send({ type: 'ack', stream: 'batch', upTo: m.seq });
        return;
      }
      case 'repair': {
        const foreign = deltaOfStore(deltaWithout(m.delta, inventory.identity.replica), inventory.identity.store);
        await writes.internal(() => inventory.applyRemote(foreign, this.clock()));
        return;
      }
      case 'digest': {
        const ours = inventory.state.digest(inventory.identity.store);
        if (m.digest !== ours && this.idle()) this.sendRepair();
        return;
      }
      case 'allocation': {
        if (m.store !== inventory.identity.store) return;
        const hub = this.hubReplica;
        await writes.internal(() => {
          inventory.setPolicy(m.policy, this.clock());
          if (hub !== null) inventory.handOver(hub, this.clock());
        });
        return;
      }
      case 'rights_grant': {
        if (m.store === inventory.identity.store) {
          const foreign = deltaOfStore(deltaWithout(m.delta, inventory.identity.replica), inventory.identity.store);
          await writes.internal(() => inventory.applyRemote(foreign, this.clock()));
        }
        this.grantWaiters.get(m.requestId)?.(m.granted);
        return;
      }
      case 'error':
        this.lastError = `${m.code}: ${m.message}`;
        if (m.fatal) this.hubError = { code: m.code, message: m.message };
        return;
      case 'ping':
        this.send({ type: 'pong', t: m.t });
        return;
      default:
        return;
    }
  }

  /**
   * Asks the hub for `qty` rights on `sku` and waits (at most `timeoutMs`)
   * for the grant to be applied; resolves with the units granted (0 when
   * offline, on a 1.0 hub, or on timeout: a late grant still arrives and is applied).
   */
  requestRights(sku: Sku, qty: number, timeoutMs = RIGHTS_WAIT_MS): Promise<number> {
    if (this.phase !== 'online' || this.hubReplica === null) return Promise.resolve(0);
    const requestId = `${this.requestPrefix}-${++this.requestCount}`;
    return new Promise((resolve) => {
      const done = (granted: number) => {
        clearTimeout(timer);
        this.grantWaiters.delete(requestId);
        resolve(granted);
      };
      const timer = setTimeout(() => done(0), timeoutMs);
      this.grantWaiters.set(requestId, done);
      this.send({ type: 'rights_request', requestId, store: this.opts.inventory.identity.store, sku, qty });
    });
  }

  /**
   * Runs `sell` after asking the hub for `short` (the rights a sale lacks),
   * waiting at most `timeoutMs` for the grants; hand-over is paused until
   * `sell` is done, so granted rights are not handed straight back.
   */
  async withRights<T>(short: readonly { sku: Sku; qty: number }[], sell: () => Promise<T>, timeoutMs = RIGHTS_WAIT_MS): Promise<T> {
    if (short.length === 0 || this.phase !== 'online') return sell();
    this.handOverPaused++;
    try {
      await Promise.all(short.map((l) => this.requestRights(l.sku, l.qty, timeoutMs)));
      return await sell();
    } finally {
      this.handOverPaused--;
      for (const l of short) this.scheduleHandOver(l.sku);
    }
  }

  /** After local or remote changes: hand the hub what the policy says this store may not keep. */
  private scheduleHandOver(sku: Sku): void {
    if (this.phase !== 'online' || this.minor < 1 || this.opts.inventory.policy === null) return;
    this.handOverSkus.add(sku);
    if (this.handOverScheduled || this.handOverPaused > 0) return;
    this.handOverScheduled = true;
    setImmediate(() => {
      this.handOverScheduled = false;
      // Paused: the SKUs wait in handOverSkus; withRights reschedules when done.
      if (this.handOverPaused > 0) return;
      const skus = this.handOverSkus;
      this.handOverSkus = new Set();
      const hub = this.hubReplica;
      if (this.phase !== 'online' || hub === null) return;
      const { inventory, writes } = this.opts;
      writes.internal(() => inventory.handOver(hub, this.clock(), skus)).catch((e) => (this.lastError = `hand-over failed: ${String(e)}`));
    });
  }

  /**
   * True when nothing is in flight and nothing waits to be sent. Compared
   * with memory (not the durable marks): idle also means memory holds
   * nothing that is not on disk, so a repair sent from memory is safe.
   */
  idle(): boolean {
    return (
      this.inflight.length === 0 &&
      this.sentChange >= this.opts.inventory.lastChange &&
      this.sentEventSeq >= this.opts.inventory.lastEventSeq
    );
  }

  private sendRepair(): void {
    const { inventory } = this.opts;
    const own = inventory.state.entriesOf(inventory.identity.replica, inventory.identity.store);
    const parts = chunkDelta(own, this.opts.entriesPerBatch ?? 20_000);
    if (parts.length === 0) parts.push(emptyDelta());
    parts.forEach((delta, i) => this.send({ type: 'repair', store: inventory.identity.store, delta, final: i === parts.length - 1 }));
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Sends batches while the window allows and there is something to send. */
  private pump(): void {
    const { inventory } = this.opts;
    const maxInFlight = this.opts.maxInFlight ?? 8;
    while (this.phase === 'online' && this.inflight.length < maxInFlight) {
      // Only what is on disk: a batch being fsynced could still be undone by a power cut.
      const upTo = inventory.durableChange;
      const delta =
        upTo > this.sentChange
          ? deltaOf(inventory.store.changesSince(inventory.identity.store, this.sentChange, upTo), inventory.identity.replica)
          : emptyDelta();
      if (this.stateFirst && isEmptyDelta(delta)) this.stateFirst = false;
      const holdEvents =
        this.stateFirst || this.stateSeq > 0 || this.inflight.filter((b) => b.withEvents).length >= MAX_EVENT_BATCHES_IN_FLIGHT;
      const events = holdEvents ? [] : inventory.store.events(this.sentEventSeq, this.opts.eventsPerBatch ?? 2_000, inventory.durableEventSeq);
      if (isEmptyDelta(delta) && events.length === 0) {
        this.sentChange = Math.max(this.sentChange, upTo);
        break;
      }
      const parts = chunkDelta(delta, this.opts.entriesPerBatch ?? 20_000);
      if (parts.length === 0) parts.push(emptyDelta());
      const toEventSeq = events.length > 0 ? events[events.length - 1]!.seq : this.sentEventSeq;
      parts.forEach((part, i) => {
        const last = i === parts.length - 1;
        const seq = ++this.batchSeq;
        const withEvents = i === 0 && events.length > 0;
        this.inflight.push({ seq, toChange: last ? upTo : this.sentChange, toEventSeq: i === 0 ? toEventSeq : this.sentEventSeq, withEvents });
        this.send({ type: 'batch', seq, delta: part, events: i === 0 ? events : [] });
      });
      this.sentChange = upTo;
      this.sentEventSeq = toEventSeq;
      if (this.stateFirst) {
        this.stateFirst = false;
        this.stateSeq = this.batchSeq;
      }
    }
    if (this.phase === 'online' && this.lastDigestAt === 0 && this.idle()) this.checkDigest();
  }

  private send(m: Message): void {
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      const frame = encode(m);
      this.bytesSent += Buffer.byteLength(frame);
      ws.send(frame);
    }
  }
}

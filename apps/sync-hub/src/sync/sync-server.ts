import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, DEFAULT_LIMITS, encode } from '@scoville/protocol';
import type { StoreId } from '@scoville/crdt-inventory';
import { bearer, hashSecret } from '../auth/tokens.js';
import { HubSession, type SessionDeps } from './session.js';

export interface SyncServerOptions extends Omit<SessionDeps, 'onOnline' | 'onClosed' | 'replicaOnline' | 'evictDeadHolders'> {
  /** Heartbeat: ping every interval; a link silent for two intervals is dead. */
  heartbeatMs?: number;
  /** How long a replica's old link has to answer a ping when a new link claims the replica (default 1,500 ms). */
  livenessProbeMs?: number;
}

/**
 * The `/sync` WebSocket endpoint: authenticates the store token on upgrade,
 * runs one HubSession per agent, and forwards committed changes of a store
 * to that store's other connected replicas.
 */
export class SyncServer {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<StoreId, Set<HubSession>>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  /** Token hash of each live session, rechecked every heartbeat so a revoked store is cut off. */
  private readonly tokenOf = new Map<HubSession, string>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly offRevoke: () => void;
  private readonly presence = new Set<(store: StoreId, online: boolean) => void>();

  constructor(private readonly opts: SyncServerOptions) {
    // ws enforces a hard cap above the protocol limit, so an oversized frame
    // still reaches decode() and gets a proper `too_large` error and 4413.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: DEFAULT_LIMITS.maxFrameBytes * 2 });
    this.unsubscribe = opts.state.onChange((changes) => {
      for (const change of changes) for (const s of this.sessions.get(change.store) ?? []) s.forward(change);
    });
    const every = opts.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => {
      // Every socket ws still knows, and every session's socket even if ws
      // forgot it: a session must never outlive its link.
      const sessionOf = new Map<WebSocket, HubSession>();
      for (const set of this.sessions.values()) for (const s of set) sessionOf.set(s.ws, s);
      for (const ws of new Set([...this.wss.clients, ...sessionOf.keys()])) {
        if (this.alive.get(ws) === false || ws.readyState !== ws.OPEN) {
          if (ws.readyState === ws.OPEN) ws.close(CloseCode.DeadLink, 'no heartbeat');
          ws.terminate();
          sessionOf.get(ws)?.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
      void this.recheckTokens();
    }, every);
    this.heartbeat.unref();
    // A revoke in this process closes that store's sessions at once, not at the next heartbeat.
    const off = opts.access.onRevoke?.(() => void this.recheckTokens());
    this.offRevoke = () => void off?.();
  }

  /** Hook for the HTTP server's 'upgrade' event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://hub');
    if (url.pathname !== '/sync') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    const token = bearer(req.headers.authorization) ?? url.searchParams.get('token');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // From the first byte: ws emits 'error' for a frame it refuses (above
      // maxPayload, bad UTF-8, bad opcode) and then closes the link itself;
      // unheard, that 'error' would crash the hub, and no HubSession (which
      // listens too) exists while the token is checked or after a bad one.
      ws.on('error', () => undefined);
      this.alive.set(ws, true);
      ws.on('pong', () => this.alive.set(ws, true));
      ws.on('message', () => this.alive.set(ws, true));
      void this.authenticate(ws, token);
    });
  }

  private async authenticate(ws: WebSocket, token: string | null): Promise<void> {
    // Frames that arrive while the token is checked are buffered, not lost.
    const early: { data: unknown; isBinary: boolean }[] = [];
    const buffer = (data: unknown, isBinary: boolean) => {
      // A well-behaved agent sends one hello and waits for welcome.
      if (early.length >= 4) {
        if (ws.readyState === ws.OPEN) ws.send(encode({ type: 'error', code: 'too_many_frames', message: 'more than 4 frames before the token was checked; send hello and wait for welcome', fatal: true }));
        ws.close(CloseCode.BadMessage, 'frames before authentication');
        return;
      }
      early.push({ data, isBinary });
    };
    ws.on('message', buffer);
    // Listened for from the start: a link that goes away during the lookup
    // gets no session (its 'close' has fired before any session could hear it).
    let gone = false;
    ws.once('close', () => (gone = true));
    const isGone = () => gone || ws.readyState !== ws.OPEN;
    let store: StoreId | null = null;
    const tokenHash = token ? hashSecret(token) : null;
    try {
      store = tokenHash ? await this.opts.access.storeForToken(tokenHash) : null;
    } catch (e) {
      this.opts.log.error('token lookup failed', { err: String(e) });
      if (isGone()) return;
      ws.send(encode({ type: 'error', code: 'unavailable', message: 'the hub cannot check tokens right now', fatal: true }));
      ws.close(1013, 'try again later');
      return;
    }
    ws.off('message', buffer);
    if (isGone()) {
      this.opts.log.info('sync connection closed during the token check', { store });
      return;
    }
    if (!store) {
      this.opts.log.warn('refused sync connection: bad token');
      ws.send(encode({ type: 'error', code: 'unauthorized', message: 'missing, unknown or revoked store token', fatal: true }));
      ws.close(CloseCode.Unauthorized, 'unauthorized');
      return;
    }
    const session = new HubSession(ws, store, {
      ...this.opts,
      replicaOnline: (replica) => this.holders(store!, replica).length > 0,
      evictDeadHolders: (replica) => this.evictDeadHolders(store!, replica),
      onOnline: (s) => {
        let set = this.sessions.get(s.store);
        if (!set) this.sessions.set(s.store, (set = new Set()));
        set.add(s);
        this.opts.log.info('agent online', { store: s.store, agent: s.replica });
        if (set.size === 1) this.announce(s.store, true);
      },
      onClosed: (s) => {
        this.tokenOf.delete(s);
        const set = this.sessions.get(s.store);
        if (set?.delete(s)) this.opts.log.info('agent offline', { store: s.store, agent: s.replica });
        if (set?.size === 0) {
          this.sessions.delete(s.store);
          this.announce(s.store, false);
        }
      },
    });
    if (session.state !== 'closed') this.tokenOf.set(session, tokenHash!);
    for (const f of early) ws.emit('message', f.data, f.isBinary);
  }

  /** Tells `listener` whenever a store gets its first agent online here, or loses its last. */
  onPresence(listener: (store: StoreId, online: boolean) => void): () => void {
    this.presence.add(listener);
    return () => this.presence.delete(listener);
  }

  private announce(store: StoreId, online: boolean): void {
    for (const l of this.presence) l(store, online);
  }

  private holders(store: StoreId, replica: string): HubSession[] {
    return [...(this.sessions.get(store) ?? [])].filter((x) => x.replica === replica && !x.isClosed());
  }

  /**
   * A new link claims `replica`: each session holding it must answer a ping
   * (or send anything) within the probe time, else it is a dead link
   * (half-open, or a socket that closed unheard) and is terminated.
   */
  private async evictDeadHolders(store: StoreId, replica: string): Promise<void> {
    const ms = this.opts.livenessProbeMs ?? 1_500;
    await Promise.all(
      this.holders(store, replica).map(async (old) => {
        if (await answers(old.ws, ms)) return;
        this.opts.log.warn('replaced a dead link of a replica', { store, agent: replica, silentForMs: ms });
        old.terminate();
      }),
    );
  }

  /** Closes (4401) the sessions whose store token was revoked since they connected. */
  private async recheckTokens(): Promise<void> {
    const byHash = new Map<string, HubSession[]>();
    for (const [session, hash] of this.tokenOf) byHash.set(hash, [...(byHash.get(hash) ?? []), session]);
    for (const [hash, sessions] of byHash) {
      let store: StoreId | null;
      try {
        store = await this.opts.access.storeForToken(hash);
      } catch {
        return; // database down: the committer reports it; try again next beat
      }
      if (store !== null) continue;
      for (const s of sessions) {
        this.opts.log.warn('store token revoked: closing its session', { store: s.store, agent: s.replica });
        s.fail('unauthorized', 'the store token was revoked', CloseCode.Unauthorized);
      }
    }
  }

  /** Stores with at least one agent online, and their replicas. */
  connected(): { store: StoreId; replicas: string[]; since: number; lastBatchAt: number | null }[] {
    return [...this.sessions].map(([store, set]) => ({
      store,
      replicas: [...set].map((s) => s.replica ?? '?'),
      since: Math.min(...[...set].map((s) => s.connectedAt)),
      lastBatchAt: Math.max(0, ...[...set].map((s) => s.lastBatchAt ?? 0)) || null,
    }));
  }

  isOnline(store: StoreId): boolean {
    return (this.sessions.get(store)?.size ?? 0) > 0;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.unsubscribe();
    this.offRevoke();
    for (const ws of this.wss.clients) ws.close(CloseCode.GoingAway, 'hub shutting down');
    await new Promise<void>((r) => this.wss.close(() => r()));
    for (const ws of this.wss.clients) ws.terminate();
  }
}

/** Pings `ws`; true when a pong or any frame arrives within `ms`. */
function answers(ws: WebSocket, ms: number): Promise<boolean> {
  if (ws.readyState !== ws.OPEN) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      ws.off('pong', yes);
      ws.off('message', yes);
      ws.off('close', no);
      resolve(ok);
    };
    const yes = () => done(true);
    const no = () => done(false);
    const timer = setTimeout(no, ms);
    ws.on('pong', yes);
    ws.on('message', yes);
    ws.on('close', no);
    ws.ping();
  });
}

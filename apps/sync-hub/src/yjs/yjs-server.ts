import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import { CloseCode } from '@scoville/protocol';
import { parseDocName } from '@scoville/protocol/docs';
import { isValidStoreId } from '@scoville/crdt-inventory';
import { bearer, hashSecret } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { AccessStore } from '../store/access-store.js';
import type { HubDocs, LoadedDoc } from './hub-docs.js';

const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const MESSAGE_QUERY_AWARENESS = 3;

/** One agent linked to this hub process, as its awareness states describe it. */
export interface PresenceAgent {
  replica: string;
  /** The agent's POS API, as it announced it. */
  url: string | null;
  /** Terminals that made a request at the agent lately (edge-agent TERMINAL_SEEN_MS). */
  terminals: string[];
  /** The documents it is linked to (`catalog`, `settings:<store>`). */
  docs: string[];
  /** When its awareness state last arrived (ms). */
  seenAt: number;
}

export interface StorePresence {
  storeId: string;
  agents: PresenceAgent[];
}

const MAX_TERMINALS = 64;

/** True for an update that carries no change (no structs, no deletions). */
function isEmptyUpdate(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update);
  return structs.length === 0 && ds.clients.size === 0;
}
/** A client-written string, bounded; null when it is not one. */
const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v.slice(0, 200) : null);

/** Who is on the other end, and what it may do with the document. */
type Grant = { who: string; store: string | null; write: boolean };

interface Conn {
  ws: WebSocket;
  doc: LoadedDoc;
  grant: Grant;
  tokenHash: string;
  /** Awareness client ids this connection announced (removed when it goes). */
  clients: Set<number>;
  dropped: number;
}

/**
 * The y-websocket protocol (y-protocols sync + awareness) at `/yjs/<doc>`
 * for the documents `catalog` and `settings:<storeId>`.
 *
 * Auth, with a store token or an API key (`Authorization: Bearer` or
 * `?token=`): a store reads the catalog and reads and writes its own
 * settings; another store's settings are refused (4403); an admin key writes
 * every document, other keys read them. A read-only link's updates (sync
 * step 2 and update messages) are dropped, not applied, and the link stays
 * open for reading (docs/decisions.md 23).
 */
export class YjsServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  private readonly conns = new Set<Conn>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly offRevoke: (() => void) | undefined;
  private readonly presenceListeners = new Set<() => void>();
  private presenceTimer: NodeJS.Timeout | null = null;
  /** Documents whose awareness changes are watched for presence. */
  private readonly watched = new WeakSet<LoadedDoc>();

  constructor(
    private readonly opts: { docs: HubDocs; access: AccessStore; log: Logger; heartbeatMs?: number },
  ) {
    this.heartbeat = setInterval(() => {
      for (const c of this.conns) {
        if (this.alive.get(c.ws) === false) {
          c.ws.terminate();
          continue;
        }
        this.alive.set(c.ws, false);
        c.ws.ping();
      }
      void this.recheck();
    }, opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
    const off = opts.access.onRevoke?.(() => void this.recheck());
    this.offRevoke = off ? () => void off() : undefined;
  }

  /** True for the paths this server answers. */
  static handles(path: string): boolean {
    return path.startsWith('/yjs/');
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://hub');
    let name: string;
    try {
      name = decodeURIComponent(url.pathname.slice('/yjs/'.length));
    } catch {
      name = '';
    }
    const ref = parseDocName(name);
    if (!ref || (ref.kind === 'settings' && !isValidStoreId(ref.store))) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const token = bearer(req.headers.authorization) ?? url.searchParams.get('token');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      // Messages that arrive while the token is checked and the document loads wait their turn.
      const early: Buffer[] = [];
      const buffer = (data: Buffer) => early.push(data);
      ws.on('message', buffer);
      void this.accept(ws, name, token)
        .then((conn) => {
          ws.off('message', buffer);
          if (!conn) return;
          for (const m of early) this.onMessage(conn, m);
        })
        .catch((e) => {
          this.opts.log.error('yjs link failed', { doc: name, err: String(e) });
          if (ws.readyState === ws.OPEN) ws.close(1011, 'internal error');
        });
    });
  }

  private async grantFor(name: string, tokenHash: string): Promise<Grant | null | 'forbidden'> {
    const ref = parseDocName(name)!;
    const store = await this.opts.access.storeForToken(tokenHash);
    if (store !== null) {
      if (ref.kind === 'catalog') return { who: `store:${store}`, store, write: false };
      return ref.store === store ? { who: `store:${store}`, store, write: true } : 'forbidden';
    }
    const key = await this.opts.access.apiKeyForHash(tokenHash);
    if (key && key.revokedAt === null) return { who: `key:${key.id}`, store: null, write: key.role === 'admin' };
    return null;
  }

  private async accept(ws: WebSocket, name: string, token: string | null): Promise<Conn | null> {
    const tokenHash = token ? hashSecret(token) : '';
    const grant = token ? await this.grantFor(name, tokenHash) : null;
    if (grant === null || grant === 'forbidden') {
      this.opts.log.warn('refused yjs link', { doc: name, reason: grant === null ? 'unauthorized' : 'forbidden' });
      if (ws.readyState === ws.OPEN) ws.close(grant === null ? CloseCode.Unauthorized : CloseCode.Forbidden, grant === null ? 'unauthorized' : `no access to ${name}`);
      return null;
    }
    const doc = await this.opts.docs.get(name);
    if (ws.readyState !== ws.OPEN) return null;
    const conn: Conn = { ws, doc, grant, tokenHash, clients: new Set(), dropped: 0 };
    this.conns.add(conn);
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('message', (m: Buffer) => {
      this.alive.set(ws, true);
      this.onMessage(conn, m);
    });
    const onUpdate = (update: Uint8Array, origin: unknown) => {
      if (origin === conn) return;
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, MESSAGE_SYNC);
      syncProtocol.writeUpdate(e, update);
      this.send(conn, encoding.toUint8Array(e));
    };
    const onAwareness = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      if (origin === conn) {
        for (const id of [...added, ...updated]) conn.clients.add(id);
        for (const id of removed) conn.clients.delete(id);
      }
      const changed = [...added, ...updated, ...removed];
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(doc.awareness, changed));
      this.send(conn, encoding.toUint8Array(e));
    };
    doc.doc.on('update', onUpdate);
    doc.awareness.on('update', onAwareness);
    if (!this.watched.has(doc)) {
      this.watched.add(doc);
      doc.awareness.on('change', () => this.presenceChanged());
    }
    ws.on('close', () => {
      this.conns.delete(conn);
      doc.doc.off('update', onUpdate);
      doc.awareness.off('update', onAwareness);
      awarenessProtocol.removeAwarenessStates(doc.awareness, [...conn.clients], null);
      this.presenceChanged();
    });
    this.opts.log.info('yjs link open', { doc: name, who: grant.who, write: grant.write });
    // Our state vector (the client answers with what we lack), then who is here.
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, MESSAGE_SYNC);
    syncProtocol.writeSyncStep1(e, doc.doc);
    this.send(conn, encoding.toUint8Array(e));
    const states = [...doc.awareness.getStates().keys()];
    if (states.length > 0) {
      const a = encoding.createEncoder();
      encoding.writeVarUint(a, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(a, awarenessProtocol.encodeAwarenessUpdate(doc.awareness, states));
      this.send(conn, encoding.toUint8Array(a));
    }
    return conn;
  }

  private onMessage(conn: Conn, data: Buffer): void {
    try {
      const decoder = decoding.createDecoder(new Uint8Array(data));
      const type = decoding.readVarUint(decoder);
      if (type === MESSAGE_SYNC) {
        const sub = decoding.readVarUint(decoder);
        const encoder = encoding.createEncoder();
        encoding.writeVarUint(encoder, MESSAGE_SYNC);
        if (sub === syncProtocol.messageYjsSyncStep1) {
          syncProtocol.readSyncStep1(decoder, encoder, conn.doc.doc);
          this.send(conn, encoding.toUint8Array(encoder));
        } else if (!conn.grant.write) {
          // A client answers our sync step 1 with what we lack, usually nothing: only a real write is worth a warning.
          if (!isEmptyUpdate(decoding.readVarUint8Array(decoder)) && conn.dropped++ === 0) this.opts.log.warn('dropped updates of a read-only yjs link', { doc: conn.doc.name, who: conn.grant.who });
        } else {
          syncProtocol.readSyncStep2(decoder, conn.doc.doc, conn);
        }
      } else if (type === MESSAGE_AWARENESS) {
        awarenessProtocol.applyAwarenessUpdate(conn.doc.awareness, decoding.readVarUint8Array(decoder), conn);
      } else if (type === MESSAGE_QUERY_AWARENESS) {
        const e = encoding.createEncoder();
        encoding.writeVarUint(e, MESSAGE_AWARENESS);
        encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(conn.doc.awareness, [...conn.doc.awareness.getStates().keys()]));
        this.send(conn, encoding.toUint8Array(e));
      }
    } catch (e) {
      this.opts.log.warn('bad yjs message: closing the link', { doc: conn.doc.name, who: conn.grant.who, err: String(e) });
      conn.ws.close(CloseCode.BadMessage, 'bad message');
    }
  }

  private send(conn: Conn, m: Uint8Array): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(m);
  }

  /** Closes (4401) links whose store token or key was revoked. */
  private async recheck(): Promise<void> {
    for (const c of [...this.conns]) {
      let g: Awaited<ReturnType<YjsServer['grantFor']>>;
      try {
        g = await this.grantFor(c.doc.name, c.tokenHash);
      } catch {
        return;
      }
      if (g === null || g === 'forbidden') c.ws.close(CloseCode.Unauthorized, 'revoked');
    }
  }

  /**
   * Presence: the agents linked to this hub process, by store, with the
   * terminals each announces in its awareness state. The store is the one
   * the link's token belongs to, never what the state claims; API-key links
   * (HQ tools) are not stores and are left out. Announced fields are bounded
   * (PresenceAgent) since clients write them.
   */
  presence(): StorePresence[] {
    const agents = new Map<string, Map<string, PresenceAgent>>();
    for (const c of this.conns) {
      if (c.grant.store === null) continue;
      const states = c.doc.awareness.getStates();
      const meta = c.doc.awareness.meta;
      for (const id of c.clients) {
        const state = states.get(id) as Record<string, unknown> | undefined;
        if (!state) continue;
        const replica = text(state.replica) ?? `client-${id}`;
        const byReplica = agents.get(c.grant.store) ?? new Map<string, PresenceAgent>();
        agents.set(c.grant.store, byReplica);
        const have = byReplica.get(replica);
        const terminals = Array.isArray(state.terminals) ? state.terminals.map(text).filter((t): t is string => t !== null).slice(0, MAX_TERMINALS) : [];
        const seenAt = meta.get(id)?.lastUpdated ?? 0;
        byReplica.set(replica, {
          replica,
          url: text(state.url),
          terminals: [...new Set([...(have?.terminals ?? []), ...terminals])].sort(),
          docs: [...(have?.docs ?? []), c.doc.name].sort(),
          seenAt: Math.max(have?.seenAt ?? 0, seenAt),
        });
      }
    }
    return [...agents]
      .map(([storeId, byReplica]) => ({ storeId, agents: [...byReplica.values()].sort((a, b) => (a.replica < b.replica ? -1 : 1)) }))
      .sort((a, b) => (a.storeId < b.storeId ? -1 : 1));
  }

  /** Called (at most every 50 ms) after presence may have changed: an agent came, went, or announced other terminals. */
  onPresence(listener: () => void): () => void {
    this.presenceListeners.add(listener);
    return () => this.presenceListeners.delete(listener);
  }

  private presenceChanged(): void {
    if (this.presenceTimer || this.presenceListeners.size === 0) return;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null;
      for (const l of this.presenceListeners) l();
    }, 50);
    this.presenceTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    this.offRevoke?.();
    for (const c of this.conns) c.ws.terminate();
    this.conns.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

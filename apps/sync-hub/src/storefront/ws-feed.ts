import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isValidId, isValidStoreId } from '@scoville/crdt-inventory';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearer, hashSecret } from '../auth/tokens.js';
import { chunks, HEARTBEAT_MS, MAX_CLIENT_BUFFER, open, parseFilter, type FeedEvent, type StorefrontFeed } from './feed.js';

/** Bytes a client may leave unread in its socket before it is dropped. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const MAX_MESSAGE_BYTES = 64 * 1024;

type ClientMessage = { type: 'subscribe'; skus?: string[]; storeId?: string; types?: string[]; lastEventId?: string } | { type: 'unsubscribe' };

/**
 * `GET /ws`: the storefront feed over a WebSocket (read key as Bearer or
 * `?key=`). The client sends `{type:"subscribe", skus?, storeId?, types?,
 * lastEventId?}` (again to change its filter) or `{type:"unsubscribe"}`;
 * the hub sends `{type:"snapshot", id, items, final, reset}` parts or the
 * missed events, then `{type:"event", id, event, storeId, sku, data}`, and
 * `{type:"error", code, message}` for a bad message (the link stays open).
 */
export class WsFeed {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly heartbeat: NodeJS.Timeout;
  private readonly alive = new WeakMap<WebSocket, boolean>();

  constructor(
    private readonly feed: StorefrontFeed,
    private readonly keyRole: (keyHash: string) => Promise<string | null>,
  ) {
    this.heartbeat = setInterval(() => {
      for (const ws of this.wss.clients) {
        if (this.alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://hub');
    const key = bearer(req.headers.authorization) ?? url.searchParams.get('key');
    void (async () => {
      const role = key ? await this.keyRole(hashSecret(key)).catch(() => null) : null;
      if (role === null) {
        socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"unauthorized","message":"a read key is required"}}');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws));
    })();
  }

  private serve(ws: WebSocket): void {
    ws.on('error', () => undefined);
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    let unsubscribe: (() => void) | null = null;
    const send = (m: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
    };
    const stop = () => {
      unsubscribe?.();
      unsubscribe = null;
    };
    ws.on('close', stop);
    ws.on('message', (raw) => {
      this.alive.set(ws, true);
      let m: ClientMessage;
      try {
        m = JSON.parse(String(raw)) as ClientMessage;
      } catch {
        return send({ type: 'error', code: 'bad_json', message: 'messages are JSON' });
      }
      if (m?.type === 'unsubscribe') {
        stop();
        return send({ type: 'unsubscribed' });
      }
      if (m?.type !== 'subscribe') return send({ type: 'error', code: 'bad_message', message: 'type is subscribe or unsubscribe' });
      const skus = Array.isArray(m.skus) ? m.skus : [];
      if (skus.length > 1_000 || skus.some((k) => !isValidId(k))) return send({ type: 'error', code: 'invalid_request', message: 'skus: up to 1,000 valid ids' });
      if (m.storeId !== undefined && !isValidStoreId(m.storeId)) return send({ type: 'error', code: 'invalid_request', message: 'storeId is not a valid store id' });
      const filter = parseFilter(skus, m.storeId, Array.isArray(m.types) ? m.types.join(',') : undefined);
      if (typeof filter === 'string') return send({ type: 'error', code: 'invalid_request', message: filter });
      stop();
      const deliver = (e: FeedEvent) => {
        if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
        send({ type: 'event', id: e.id, event: e.type, storeId: e.storeId, sku: e.sku, data: e.data });
        return true;
      };
      const opened = open(this.feed, filter, typeof m.lastEventId === 'string' ? m.lastEventId : null, deliver, (reason) => {
        send({ type: 'error', code: reason, message: 'dropped: reconnect and resume with lastEventId' });
        ws.close(4429, reason);
      });
      unsubscribe = opened.unsubscribe;
      const o = opened.opening;
      if (o.missed !== null) {
        for (const e of o.missed.slice(-MAX_CLIENT_BUFFER * 10)) deliver(e);
      } else {
        const parts = chunks(this.feed.snapshot(filter));
        parts.forEach((items, i) => send({ type: 'snapshot', id: i === parts.length - 1 ? o.snapshotId : null, items, final: i === parts.length - 1, reset: o.reset !== null, reason: o.reset }));
      }
    });
  }

  get clients(): number {
    return this.wss.clients.size;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const ws of this.wss.clients) ws.close(1001, 'hub shutting down');
    await new Promise<void>((r) => this.wss.close(() => r()));
    for (const ws of this.wss.clients) ws.terminate();
  }
}

import type { ServerResponse } from 'node:http';
import { chunks, HEARTBEAT_MS, open, type FeedEvent, type FeedFilter, type StorefrontFeed } from './feed.js';

/**
 * Bytes a client may leave unread (in the hub's socket buffer, beyond what
 * the kernel took) before it counts as too slow and is dropped: ~2,000
 * availability events.
 */
export const MAX_SSE_BUFFERED_BYTES = 512 * 1024;

/** Where one client's event stream goes (node's response, `nodeSink`). */
export interface SseSink {
  write(chunk: string): void;
  /** Bytes written but not yet taken by the socket. */
  buffered(): number;
  end(): void;
  onClose(cb: () => void): void;
}

/** Snapshot text kept for clients opening with the same filter at the same feed position. */
const MAX_CACHED_SNAPSHOT_CHARS = 8 * 1024 * 1024;

const frames = new WeakMap<FeedEvent, string>();

/** The SSE frame of an event, serialised once however many clients get it. */
export function sseFrame(e: FeedEvent): string {
  let f = frames.get(e);
  if (f === undefined) frames.set(e, (f = frame(e.type, e.data, e.id)));
  return f;
}

function frame(event: string, data: unknown, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** A sink over node's response: writes go straight to the socket, no web stream or per-client loop. */
export function nodeSink(res: ServerResponse, headers: Headers): SseSink {
  const head: Record<string, string> = {};
  headers.forEach((v, k) => {
    if (k !== 'content-type' && k !== 'content-length') head[k] = v;
  });
  res.writeHead(200, { ...head, ...SSE_HEADERS });
  res.flushHeaders();
  return {
    write: (chunk) => void res.write(chunk),
    buffered: () => res.writableLength,
    end: () => res.end(),
    onClose: (cb) => res.once('close', cb),
  };
}

/**
 * Every open `GET /stream` client. A client costs its socket, its
 * subscription and one closure: events are written to the socket as the
 * feed publishes them (the feed's fan-out is synchronous), the socket's own
 * buffer is the client's queue (a client whose unread bytes pass
 * MAX_SSE_BUFFERED_BYTES is dropped), and one timer sends every client its
 * heartbeat comment.
 */
export class SseClients {
  private readonly clients = new Set<SseSink>();
  private readonly snapshots = new Map<string, string>();
  private snapshotsAt = '';
  private snapshotChars = 0;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly feed: StorefrontFeed,
    heartbeatMs = HEARTBEAT_MS,
  ) {
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': heartbeat\n\n');
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Starts a client's stream: the missed events after `lastId` (a resume),
   * or a snapshot of what the filter covers (in parts, the last with
   * `final: true` and the id it is current as of), then every change.
   */
  serve(sink: SseSink, filter: FeedFilter, lastId: string | null): void {
    let live = true;
    const { unsubscribe, opening } = open(
      this.feed,
      filter,
      lastId,
      (e) => {
        if (sink.buffered() > MAX_SSE_BUFFERED_BYTES) return false;
        sink.write(sseFrame(e));
        return true;
      },
      (reason) => {
        if (!live) return;
        sink.write(frame('error', { code: reason, message: 'this client fell too far behind (or the hub is stopping) and was dropped; reconnect with Last-Event-ID' }));
        sink.end();
      },
    );
    this.clients.add(sink);
    sink.onClose(() => {
      live = false;
      this.clients.delete(sink);
      unsubscribe();
    });
    if (opening.missed !== null) {
      for (const e of opening.missed) sink.write(sseFrame(e));
      return;
    }
    sink.write(this.snapshotFrames(filter, opening.snapshotId, opening.reset));
  }

  /**
   * The snapshot's frames, shared by every client that opens with the same
   * filter before the feed moves on (a product page's visitors arriving
   * together all get one string, not one each).
   */
  private snapshotFrames(filter: FeedFilter, at: string, reset: string | null): string {
    if (this.snapshotsAt !== at) {
      this.snapshots.clear();
      this.snapshotsAt = at;
      this.snapshotChars = 0;
    }
    const key = `${reset ?? ''}|${filter.storeId ?? ''}|${filter.types ? [...filter.types].sort().join(',') : ''}|${filter.skus ? [...filter.skus].sort().join(',') : '*'}`;
    let frames = this.snapshots.get(key);
    if (frames === undefined) {
      const parts = chunks(this.feed.snapshot(filter));
      frames = parts
        .map((items, i) => {
          const final = i === parts.length - 1;
          const data = { items, final, reset: reset !== null, ...(reset ? { reason: reset } : {}) };
          return frame('snapshot', data, final ? at : undefined);
        })
        .join('');
      if (this.snapshotChars + frames.length <= MAX_CACHED_SNAPSHOT_CHARS) {
        this.snapshots.set(key, frames);
        this.snapshotChars += frames.length;
      }
    }
    return frames;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of [...this.clients]) c.end();
    this.clients.clear();
  }
}

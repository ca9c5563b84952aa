/**
 * A TCP proxy between one agent and the hub, with faults:
 *
 *  - `drop(true)`: every live connection is destroyed and new ones are
 *    accepted and destroyed at once (the link is down), until `drop(false)`;
 *  - `reset()`: destroys the live connections once (new ones go through);
 *  - `delay(ms)`: every chunk is forwarded `ms` later (order kept);
 *  - `hold(true)`: bytes in both directions are kept, not forwarded (the
 *    link is up but silent), until `hold(false)` releases them in order.
 *
 * The upstream is asked for on every new connection (`target()`), so an
 * agent follows a hub that restarted on another port, or fails over to the
 * other hub process. Only 127.0.0.1.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Queued {
  chunk: Buffer;
  /** When it may be forwarded (ms since epoch). */
  at: number;
}

/** One direction of one connection: chunks waiting for their time (or for the hold to end). */
class Lane {
  private readonly queue: Queued[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Set when the sending side closed: end the receiver once the queue is empty. */
  private ending = false;

  constructor(
    private readonly to: Socket,
    private readonly proxy: LinkProxy,
  ) {}

  push(chunk: Buffer): void {
    this.queue.push({ chunk, at: Date.now() + this.proxy.delayMs });
    this.pump();
  }

  end(): void {
    this.ending = true;
    this.pump();
  }

  get pending(): number {
    return this.queue.length;
  }

  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.proxy.holding || this.to.destroyed) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) this.to.write(this.queue.shift()!.chunk);
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => this.pump(), this.queue[0]!.at - now);
    } else if (this.ending) {
      this.to.end();
    }
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }
}

interface Pair {
  client: Socket;
  upstream: Socket;
  up: Lane;
  down: Lane;
}

export class LinkProxy {
  port = 0;
  delayMs = 0;
  holding = false;
  dropping = false;
  /** Connections accepted (refused ones too). */
  accepted = 0;
  private readonly pairs = new Set<Pair>();
  private server: Server | null = null;

  constructor(
    readonly name: string,
    /** The hub port to forward a new connection to; null: no hub up, refuse. */
    private readonly target: () => number | null,
  ) {}

  async listen(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(0, '127.0.0.1', () => res());
    });
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  private accept(client: Socket): void {
    this.accepted++;
    const port = this.target();
    if (this.dropping || port === null) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    const pair: Pair = { client, upstream, up: new Lane(upstream, this), down: new Lane(client, this) };
    this.pairs.add(pair);
    const kill = () => this.destroy(pair);
    client.on('data', (d: Buffer) => pair.up.push(d));
    upstream.on('data', (d: Buffer) => pair.down.push(d));
    client.on('error', kill);
    upstream.on('error', kill);
    // A side that closes: what it sent still goes through (after a hold or delay), then the other side is ended.
    client.on('end', () => pair.up.end());
    upstream.on('end', () => pair.down.end());
    client.on('close', () => (pair.up.pending === 0 ? kill() : pair.up.end()));
    upstream.on('close', () => (pair.down.pending === 0 ? kill() : pair.down.end()));
  }

  private destroy(p: Pair): void {
    p.up.clear();
    p.down.clear();
    // resetAndDestroy sends a TCP RST where the socket is still connected.
    for (const s of [p.client, p.upstream]) {
      if (!s.destroyed) {
        if (typeof (s as Socket & { resetAndDestroy?: () => void }).resetAndDestroy === 'function' && s.readyState === 'open') s.resetAndDestroy();
        else s.destroy();
      }
    }
    this.pairs.delete(p);
  }

  /** Live connections (for the report and tests). */
  get live(): number {
    return this.pairs.size;
  }

  reset(): void {
    for (const p of [...this.pairs]) this.destroy(p);
  }

  drop(on: boolean): void {
    this.dropping = on;
    if (on) this.reset();
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  hold(on: boolean): void {
    this.holding = on;
    if (!on) {
      // Released bytes go now, in order (their delay, if any, has passed while held).
      for (const p of this.pairs) {
        p.up.pump();
        p.down.pump();
      }
    }
  }

  /** Back to a plain pipe (faults off; live connections kept). */
  heal(): void {
    this.dropping = false;
    this.delayMs = 0;
    this.hold(false);
  }

  async close(): Promise<void> {
    this.dropping = true;
    this.reset();
    const s = this.server;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

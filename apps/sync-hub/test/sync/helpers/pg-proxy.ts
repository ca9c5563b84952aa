/**
 * A TCP proxy in front of PostgreSQL, to take the database away from a hub
 * and give it back: `cut()` destroys every live connection and refuses new
 * ones (accepted, then destroyed at once, like a server that is down);
 * `restore()` forwards again. `stall()` keeps connections open but holds
 * every byte the hub sends (a database that hangs) until `restore()`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface PgProxy {
  port: number;
  /** The database URL with host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string;
  cut(): void;
  /** Holds the hub's bytes (queries hang, nothing fails) until restore(). */
  stall(): void;
  restore(): void;
  readonly isCut: boolean;
  /** Connections accepted so far (refused ones included). */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startPgProxy(
  target: { host: string; port: number } = { host: '127.0.0.1', port: 5432 },
  /** 0: any free port. */
  listenPort = 0,
): Promise<PgProxy> {
  const live = new Set<Socket>();
  /** Hub-side sockets: unpiped and paused while stalled. */
  const clients = new Map<Socket, Socket>();
  let cutNow = false;
  let stalled = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted++;
    if (cutNow) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    live.add(client);
    live.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
      clients.delete(client);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    clients.set(client, upstream);
    if (stalled) client.pause();
    else client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(listenPort, '127.0.0.1', () => res());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    urlFor(databaseUrl) {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      cutNow = true;
      for (const s of [...live]) s.destroy();
      live.clear();
    },
    stall() {
      stalled = true;
      for (const [client, upstream] of clients) {
        client.unpipe(upstream);
        client.pause();
      }
    },
    restore() {
      cutNow = false;
      if (!stalled) return;
      stalled = false;
      for (const [client, upstream] of clients) client.pipe(upstream);
    },
    get isCut() {
      return cutNow;
    },
    get accepted() {
      return accepted;
    },
    async close() {
      cutNow = true;
      for (const s of [...live]) s.destroy();
      live.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

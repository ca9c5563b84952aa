/**
 * A TCP proxy in front of PostgreSQL, to take the database away from a hub
 * and give it back: `cut()` destroys every live connection and refuses new
 * ones (accepted, then destroyed at once, like a server that is down);
 * `restore()` forwards again.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface PgProxy {
  port: number;
  /** The database URL with host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string;
  cut(): void;
  restore(): void;
  readonly isCut: boolean;
  /** Connections accepted so far (refused ones included). */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startPgProxy(target: { host: string; port: number } = { host: '127.0.0.1', port: 5432 }): Promise<PgProxy> {
  const live = new Set<Socket>();
  let cutNow = false;
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
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
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
    restore() {
      cutNow = false;
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

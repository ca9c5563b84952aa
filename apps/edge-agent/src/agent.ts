import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { replicaId, storeId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { dataPaths, ensureDir, readRuntime, removeRuntime, writeRuntime } from './data-dir.js';
import { createApp } from './http/app.js';
import { AgentDocs } from './docs/agent-docs.js';
import { AgentInventory } from './inventory/agent-inventory.js';
import { WriteService } from './inventory/write-service.js';
import { AgentRunningError, NotInitializedError } from './store/errors.js';
import { SqliteAgentStore } from './store/sqlite-store.js';
import { ACKED_EVENT_SEQ, SyncClient, type SyncLogger } from './sync/sync-client.js';
import { agentLogger } from './observability/log.js';
import { agentMetrics } from './observability/metrics.js';

/** Creates the data folder and the agent's identity (store id + a fresh replica id). */
export function initAgent(dataDir: string, store: string, now = Date.now()): { store: StoreId; replica: string; path: string } {
  const sid = storeId(store);
  const paths = dataPaths(dataDir);
  ensureDir(paths.root);
  const db = new SqliteAgentStore(paths.db);
  try {
    // A replica id is never reused: store + random suffix, created once here.
    const replica = replicaId(`${sid}.${randomBytes(6).toString('hex')}`);
    db.createIdentity({ store: sid, replica, createdAt: now });
    return { store: sid, replica, path: paths.db };
  } finally {
    db.close();
  }
}

/** Opens an initialised agent's store and inventory (no network). */
export function openAgent(dataDir: string) {
  const paths = dataPaths(dataDir);
  if (!existsSync(paths.db)) throw new NotInitializedError(paths.root);
  const store = new SqliteAgentStore(paths.db);
  const identity = store.identity();
  if (!identity) {
    store.close();
    throw new NotInitializedError(paths.root);
  }
  const inventory = new AgentInventory(store, identity);
  // The catalog and settings documents; the catalog table follows them.
  const docs = new AgentDocs(store, identity.store, () => inventory.refreshCatalog());
  return { store, identity, inventory, docs, paths };
}

export interface StartOptions {
  dataDir: string;
  host?: string;
  port?: number;
  terminalToken?: string | null;
  /** How often expired holds are released (ms). */
  expiryIntervalMs?: number;
  /** Sync with this hub (WebSocket URL + store token). */
  hub?: { url: string; token: string; heartbeatMs?: number; digestEveryMs?: number; /** PEM CA to trust for a wss:// hub */ ca?: string | Buffer };
  /** Most writes per SQLite transaction (default: all that arrive while the previous one is fsynced). 1 turns group commit off; benches only. */
  maxBatch?: number;
  /** false: fsync inside the commit, on the event loop (the design before; benches only). Default true: on the thread pool. */
  overlapFsync?: boolean;
  /** Batches committed and waiting for their fsync at most (GroupCommit); benches only. */
  maxSyncsInFlight?: number;
  /** What the sync link reports (connects, refusals, an unreachable hub); the CLI passes `jsonLineLogger()`. */
  log?: SyncLogger;
}

/** Log lines as the agent CLI prints them: pino JSON, one object a line on stdout (observability/log.ts). */
export function jsonLineLogger(): SyncLogger {
  return agentLogger();
}

export interface RunningAgent {
  url: string;
  inventory: AgentInventory;
  docs: AgentDocs;
  writes: WriteService;
  store: SqliteAgentStore;
  sync: SyncClient | null;
  stop(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Serves the POS API for the agent in `dataDir`. */
export async function startAgent(opts: StartOptions): Promise<RunningAgent> {
  const host = opts.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !opts.terminalToken) {
    throw new Error(`listening on ${host} exposes the POS API beyond this machine: pass --terminal-token`);
  }
  // A second process on the same folder would write as the same replica. A killed agent's stale agent.json names a dead pid.
  const running = readRuntime(opts.dataDir);
  if (running && running.pid !== process.pid && isAlive(running.pid)) throw new AgentRunningError(dataPaths(opts.dataDir).root, running.pid, running.url);
  const { store, inventory, docs, paths } = openAgent(opts.dataDir);
  // SCOVILLE_CLOCK_OFFSET_MS (ms, may be negative) skews this agent's clock: fault campaigns
  // (scripts/chaos) give stores clocks that disagree. Unset or 0: the system clock.
  const offsetMs = Number(process.env.SCOVILLE_CLOCK_OFFSET_MS ?? 0) || 0;
  const clock = offsetMs === 0 ? Date.now : () => Date.now() + offsetMs;
  const writes = new WriteService(store, inventory, clock, {
    maxBatch: opts.maxBatch,
    overlap: opts.overlapFsync,
    maxSyncsInFlight: opts.maxSyncsInFlight,
    onSyncFailure: (error) => agentLogger().error('the disk did not confirm a write: no more writes are taken until the agent restarts', { err: String(error) }),
  });
  const startedAt = Date.now();
  const sync = opts.hub
    ? new SyncClient({ url: opts.hub.url, token: opts.hub.token, ca: opts.hub.ca, inventory, writes, clock, heartbeatMs: opts.hub.heartbeatMs, digestEveryMs: opts.hub.digestEveryMs, log: opts.log })
    : null;
  // A till sale short of rights while online asks the hub for the shortfall (bounded wait).
  const withRights = sync ? <T>(lines: { sku: Sku; qty: number }[], sell: () => Promise<T>) => sync.withRights(inventory.shortfall(lines, clock()), sell) : undefined;
  const metrics = agentMetrics({ store, lastEventSeq: () => inventory.lastEventSeq, ackedKey: ACKED_EVENT_SEQ, syncStatus: sync ? () => sync.status() : undefined, clock });
  const app = createApp({ docs, inventory, writes, clock, terminalToken: opts.terminalToken ?? null, syncStatus: sync ? () => sync.status() : undefined, syncNow: sync ? () => sync.syncNow() : undefined, withRights, startedAt, observe: (a) => metrics.mount(a), log: agentLogger() });

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? 7070 }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  writeRuntime(paths.root, { url, pid: process.pid, startedAt });
  sync?.start();
  if (opts.hub) docs.connect({ url: opts.hub.url, token: opts.hub.token, ca: opts.hub.ca, presence: { store: inventory.identity.store, replica: inventory.identity.replica, kind: 'agent', url } });

  const expiry = setInterval(() => {
    writes.internal(() => inventory.expireHolds(clock())).catch(() => {});
  }, opts.expiryIntervalMs ?? 5_000);
  expiry.unref();

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(expiry);
      await sync?.stop();
      docs.destroy();
      // Stop accepting, let in-flight requests finish, then cut idle/SSE links.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const s = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
      s.closeIdleConnections?.();
      const force = setTimeout(() => s.closeAllConnections?.(), 2_000);
      await closed;
      clearTimeout(force);
      writes.close();
      store.close();
      removeRuntime(paths.root, process.pid);
    })();
    return stopping;
  };
  return { url, inventory, docs, writes, store, sync, stop };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

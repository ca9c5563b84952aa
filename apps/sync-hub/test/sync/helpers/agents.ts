/**
 * Store agents for the sync stories: the real edge-agent CLI in child
 * processes (through apps/edge-agent/test/helpers), plus what a POS terminal
 * and a story needs on top: sales, restocks, status, stock, verify, export.
 */
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import {
  killAllAgents,
  postJson,
  removeTempDirs,
  runCli,
  spawnAgent,
  tempDir,
  type HttpAnswer,
  type SpawnedAgent,
} from '../../../../edge-agent/test/helpers/cli.js';
import { track } from './hub.js';
import { sleep, waitFor } from './wait.js';

export { killAllAgents, removeTempDirs };

export interface Line {
  sku: string;
  qty: number;
}

export interface StoreAgent {
  store: string;
  replica: string;
  dir: string;
  token: string;
  proc: SpawnedAgent | null;
  /** The POS API of the running process ('' while stopped). */
  url: string;
}

export interface SyncState {
  hub: string | null;
  online: boolean;
  unackedBatches: number;
  unackedEvents: number;
  lastAckAt: number | null;
  lastError: string | null;
}

export interface AgentStatus {
  store: string;
  replica: string;
  events: number;
  sync: SyncState;
}

export interface StockLine {
  sku: string;
  onHand: number;
  held: number;
  available: number;
}

export interface ExportedEvent {
  id: string;
  seq: number;
  type: string;
  sku: string;
  qty: number;
  idempotencyKey?: string | null;
}

/** `edge-agent init --store <store>` in a fresh temp folder. */
export async function createAgent(store: string, token: string): Promise<StoreAgent> {
  const dir = tempDir(`scoville-sync-${store}-`);
  const r = await runCli(['--data', dir, '--json', 'init', '--store', store]);
  if (r.code !== 0) throw new Error(`edge-agent init exited ${r.code}: ${r.stderr}`);
  const { replica } = JSON.parse(r.stdout) as { replica: string };
  return { store, replica, dir, token, proc: null, url: '' };
}

/** `edge-agent start --port 0 --hub <syncUrl> --token <token>`. */
export async function startAgent(a: StoreAgent, syncUrl: string): Promise<void> {
  if (a.proc !== null) throw new Error(`agent ${a.store} is already running`);
  const proc = await spawnAgent(a.dir, ['--hub', syncUrl, '--token', a.token]);
  track(proc.child);
  a.proc = proc;
  a.url = proc.url;
}

/** SIGTERM (orderly) or SIGKILL (crash); waits for the exit. */
export async function stopAgent(a: StoreAgent, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const p = a.proc;
  if (p === null) return;
  a.proc = null;
  a.url = '';
  const killer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.kill(signal);
  clearTimeout(killer);
}

// ---------------------------------------------------------------- POS

export const newKey = (prefix = 'pos'): string => `${prefix}-${randomUUID()}`;

export async function post(a: StoreAgent, path: '/sales' | '/restocks', lines: readonly Line[], key = newKey(), http?: HttpAgent): Promise<HttpAnswer> {
  return postJson(`${a.url}${path}`, { idempotencyKey: key, lines, terminal: 'story' }, http);
}

/** A sale or restock that must succeed (201). */
export async function mustPost(a: StoreAgent, path: '/sales' | '/restocks', lines: readonly Line[]): Promise<void> {
  const r = await post(a, path, lines);
  if (r.status !== 201) throw new Error(`${path} at ${a.store}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export const agentStatus = (a: StoreAgent): Promise<AgentStatus> => getJson<AgentStatus>(`${a.url}/status`);

/** The agent's own view of its store: sku → on hand / held / available. */
export async function agentStock(a: StoreAgent): Promise<Map<string, StockLine>> {
  const r = await getJson<{ items: StockLine[] }>(`${a.url}/stock`);
  return new Map(r.items.map((i) => [i.sku, { sku: i.sku, onHand: i.onHand, held: i.held, available: i.available }]));
}

/** Online, and nothing waiting for an ack: every event of the agent is committed at the hub. */
export async function waitSynced(a: StoreAgent, timeoutMs = 45_000): Promise<AgentStatus> {
  let last: AgentStatus | null = null;
  return waitFor(
    `agent ${a.store} to be online with nothing unacked`,
    async () => {
      last = await agentStatus(a);
      return last.sync.online && last.sync.unackedEvents === 0 && last.sync.unackedBatches === 0 ? last : undefined;
    },
    { timeoutMs, intervalMs: 100, describe: () => JSON.stringify(last) },
  );
}

/** `edge-agent verify --json`: the event log folds to the stored state. */
export async function verify(a: StoreAgent): Promise<{ ok: boolean; events: number; problems: string[] }> {
  const r = await runCli(['--data', a.dir, '--json', 'verify']);
  if (r.stdout.trim() === '') throw new Error(`edge-agent verify printed nothing (exit ${r.code}): ${r.stderr}`);
  const report = JSON.parse(r.stdout) as { ok: boolean; events: number; problems: string[] };
  if (report.ok !== (r.code === 0)) throw new Error(`verify said ok=${report.ok} but exited ${r.code}`);
  return report;
}

/** `edge-agent export --format json`: the agent's whole event log. */
export async function exportEvents(a: StoreAgent): Promise<ExportedEvent[]> {
  const r = await runCli(['--data', a.dir, '--json', 'export', '--format', 'json'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`edge-agent export exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ExportedEvent[];
}

/**
 * Rewinds the agent's durable ack watermarks to zero (agent stopped), as if
 * it had lost every ack: on its next connection it resends its whole log.
 */
export function forgetAcks(a: StoreAgent): void {
  if (a.proc !== null) throw new Error('stop the agent first');
  const db = new Database(join(a.dir, 'agent.db'));
  try {
    db.prepare('DELETE FROM sync_state').run();
  } finally {
    db.close();
  }
}

/** The agent's stored CRDT rows and sync watermarks, read-only (for failure messages). */
export function dumpAgentDb(a: StoreAgent): string {
  const db = new Database(join(a.dir, 'agent.db'), { readonly: true, fileMustExist: true });
  try {
    return ['entries', 'transfers', 'reservations', 'sync_state']
      .map((t) => `${t}: ${JSON.stringify(db.prepare(`SELECT * FROM ${t}`).all())}`)
      .join('\n');
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- load

export interface SoldRecord {
  key: string;
  lines: Line[];
}

export interface Seller {
  /** Sales answered 201. */
  acked: SoldRecord[];
  /** Requests that got no answer (the agent died) or another status. */
  failed: { key: string; lines: Line[]; why: string }[];
  /** Stops the terminals and waits for their last requests. */
  stop(): Promise<void>;
}

/**
 * `terminals` POS terminals selling one unit of a random SKU after another
 * until stopped (or until the agent stops answering, with `tolerateDeath`).
 */
export function startSelling(
  a: StoreAgent,
  skus: readonly string[],
  opts: { terminals?: number; pauseMs?: number; random?: () => number; tolerateDeath?: boolean } = {},
): Seller {
  const random = opts.random ?? Math.random;
  const acked: SoldRecord[] = [];
  const failed: Seller['failed'] = [];
  let stopped = false;
  const url = a.url;
  const http = new HttpAgent({ keepAlive: true, maxSockets: opts.terminals ?? 4 });
  const terminal = async (): Promise<void> => {
    while (!stopped) {
      const sku = skus[Math.floor(random() * skus.length)]!;
      const lines = [{ sku, qty: 1 + Math.floor(random() * 2) }];
      const key = newKey('sale');
      try {
        const r = await postJson(`${url}/sales`, { idempotencyKey: key, lines, terminal: 'story' }, http);
        if (r.status === 201) acked.push({ key, lines });
        else failed.push({ key, lines, why: `${r.status} ${JSON.stringify(r.body)}` });
      } catch (e) {
        failed.push({ key, lines, why: String(e) });
        // A dead agent is the story in crash tests; anywhere else the test sees `failed`.
        if (!opts.tolerateDeath) return;
        await sleep(50);
      }
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
  };
  const running = Array.from({ length: opts.terminals ?? 4 }, () => terminal());
  return {
    acked,
    failed,
    async stop() {
      stopped = true;
      await Promise.all(running);
      http.destroy();
    },
  };
}

/** Sum of sold units per SKU. */
export function soldBySku(records: readonly SoldRecord[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) for (const l of r.lines) m.set(l.sku, (m.get(l.sku) ?? 0) + l.qty);
  return m;
}

/** The agent's stored counter entries (sku, replica, p, n), read-only, ordered. */
export function agentEntries(a: StoreAgent): { sku: string; replica: string; p: number; n: number }[] {
  const db = new Database(join(a.dir, 'agent.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT sku, replica, p, n FROM entries ORDER BY sku, replica').all() as { sku: string; replica: string; p: number; n: number }[];
  } finally {
    db.close();
  }
}

/** POST /sync (what `edge-agent sync` does): reconnect now if offline, else push what is pending and compare digests. */
export async function syncNow(a: StoreAgent): Promise<void> {
  const res = await fetch(`${a.url}/sync`, { method: 'POST', signal: AbortSignal.timeout(5_000) });
  if (res.status !== 202) throw new Error(`POST /sync at ${a.store}: ${res.status} ${await res.text()}`);
}

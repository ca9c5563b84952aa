/**
 * Shared setup for the hub benches: a fresh PostgreSQL database per run
 * (created and dropped here), stores/tokens/API keys registered the way the
 * `sync-hub stores add` / `keys add` CLI does it (same AccessStore calls, in
 * process, so 100 stores do not cost 100 tsx start-ups), and the hub itself
 * as a child process (`apps/sync-hub/bin/sync-hub.js ... start --port 0`),
 * so the load generator never shares the hub's event loop.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import type { StoreId } from '@scoville/crdt-inventory';
import { log } from './figures.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HUB_BIN = path.join(REPO_ROOT, 'apps/sync-hub/bin/sync-hub.js');

/** The server the hub tests use too: DATABASE_URL or the local default. */
export const PG_SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

async function maintenance<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: databaseUrl(PG_SERVER_URL, 'postgres') });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database `scoville_bench_<random>` on the test server. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `scoville_bench_${randomBytes(5).toString('hex')}`;
  await maintenance((c) => c.query(`CREATE DATABASE ${name}`));
  let dropped: Promise<void> | null = null;
  return {
    name,
    url: databaseUrl(PG_SERVER_URL, name),
    drop: () =>
      (dropped ??= maintenance(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      })),
  };
}

export interface Registration {
  tokens: Map<string, string>;
  /** A `read` API key (GET /inventory, /status). */
  readKey: string;
}

/**
 * Migrates the database and registers the stores and a read key, as the CLI
 * would: a PostgreSQL URL, or a PGlite data folder. `root`: the checkout
 * whose code does it (another one's for an A/B run, so each hub finds the
 * schema version it was written for).
 */
export async function registerStores(db: string | { dataDir: string }, stores: readonly string[], root = REPO_ROOT): Promise<Registration> {
  const load = <T>(rel: string): Promise<T> => import(pathToFileURL(path.join(root, 'apps/sync-hub/src', rel)).href) as Promise<T>;
  const { openSqlClient } = await load<typeof import('../../apps/sync-hub/src/db/open.js')>('db/open.ts');
  const { openHubStorage } = await load<typeof import('../../apps/sync-hub/src/store/sql-hub-storage.js')>('store/sql-hub-storage.ts');
  const { hashSecret, newSecret } = await load<typeof import('../../apps/sync-hub/src/auth/tokens.js')>('auth/tokens.ts');
  const client = await openSqlClient(typeof db === 'string' ? { databaseUrl: db, poolSize: 4 } : { dataDir: db.dataDir });
  const s = openHubStorage(client);
  try {
    await s.migrate();
    const tokens = new Map<string, string>();
    for (const id of stores) {
      const token = newSecret('st');
      await s.access.addStore(id as StoreId, hashSecret(token), Date.now());
      tokens.set(id, token);
    }
    const readKey = newSecret('sk');
    await s.access.addApiKey(`key_${randomBytes(6).toString('hex')}`, hashSecret(readKey), 'read', Date.now());
    return { tokens, readKey };
  } finally {
    await s.close();
  }
}

/**
 * The real CLI, `sync-hub --json --database-url URL <args>` (one tsx start-up,
 * ~1 s), e.g. `['stores', 'add', 'wh1']` or `['keys', 'add', '--role', 'reserve']`;
 * resolves with its JSON answer.
 */
/** `bin`: another checkout's CLI (an A/B: its own migrations and registration). */
export function hubCli<T>(dbUrl: string, args: readonly string[], timeoutMs = 60_000, bin = HUB_BIN): Promise<T> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, '--json', '--database-url', dbUrl, ...args], { cwd: REPO_ROOT, env, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`sync-hub ${args.join(' ')}: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(new Error(`sync-hub ${args.join(' ')}: not JSON: ${stdout.slice(0, 300)}`));
      }
    });
  });
}

export interface HubProcess {
  url: string;
  syncUrl: string;
  pid: number;
  /** SIGTERM (orderly stop: the CPU profile, if any, is written) and wait. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

/**
 * `node [nodeArgs] sync-hub.js --database-url URL start --port 0 --replica R [startArgs]`
 * (`startArgs`: more `start` options, e.g. `['--rate-limit-key', '0']`).
 * Set BENCH_HUB_CPU_PROF=<dir> to profile the hub (`--cpu-prof`). For
 * diagnostics, BENCH_HUB_BIN=<script> runs another entry point taking the
 * same arguments, with BENCH_HUB_NODE_ARGS (space-separated) before it.
 */
export async function spawnHub(dbUrl: string, replica = 'hub-bench', timeoutMs = 60_000, startArgs: readonly string[] = []): Promise<HubProcess> {
  const nodeArgs: string[] = [];
  const profDir = process.env.BENCH_HUB_CPU_PROF;
  if (profDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  if (process.env.BENCH_HUB_NODE_ARGS) nodeArgs.push(...process.env.BENCH_HUB_NODE_ARGS.split(' ').filter((a) => a !== ''));
  const bin = process.env.BENCH_HUB_BIN || HUB_BIN;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, [...nodeArgs, bin, '--database-url', dbUrl, 'start', '--port', '0', '--replica', replica, ...startArgs], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => (children.delete(child), r())));
  let tail = '';
  let warned = 0;
  const url = await new Promise<string>((resolve, reject) => {
    let pending = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`hub not listening after ${timeoutMs} ms:\n${tail}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`hub exited (${code}) before listening:\n${tail}`));
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      tail = (tail + d).slice(-20_000);
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let j: { msg?: string; url?: string; level?: string } | null = null;
        try {
          j = JSON.parse(line) as { msg?: string; url?: string; level?: string };
        } catch {
          j = null;
        }
        if (j?.msg === 'hub listening' && typeof j.url === 'string' && !found) {
          found = true;
          clearTimeout(timer);
          resolve(j.url);
        } else if (j === null || j.level === 'warn' || j.level === 'error') {
          // Surface problems (not the per-agent online/offline chatter).
          if (warned++ < 20) log(`[hub] ${line}`);
        }
      }
    });
    child.stdout!.resume();
  });
  const u = new URL(url);
  return {
    url,
    syncUrl: `ws://${u.host}/sync`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface CommitStats {
  transactions: number;
  items: number;
  events: number;
  failures: number;
  degraded: boolean;
}

export async function hubGet<T>(hubUrl: string, pathAndQuery: string, key: string): Promise<T> {
  const r = await fetch(`${hubUrl}${pathAndQuery}`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`GET ${pathAndQuery}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

export const hubCommits = (hubUrl: string, key: string) =>
  hubGet<{ commits: CommitStats; queued: number }>(hubUrl, '/status', key).then((s) => ({ ...s.commits, queued: s.queued }));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

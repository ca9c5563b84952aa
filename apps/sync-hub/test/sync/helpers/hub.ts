/**
 * The sync hub as operators meet it: the real CLI (`bin/sync-hub.js`, through
 * tsx) in child processes, and its HTTP API. Every hub spawned here is
 * registered so `killAllHubs()` (afterAll) and a process 'exit' hook can
 * SIGKILL it, whatever happened to the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HUB_APP_ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const REPO_ROOT = resolve(HUB_APP_ROOT, '../..');
export const HUB_BIN = join(HUB_APP_ROOT, 'bin', 'sync-hub.js');

/** Children of this test file: killed in afterAll, and on exit as a last resort. */
const children = new Set<ChildProcess>();
let exitHook = false;

export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of children) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

/** Environment for children: nothing inherited that would point them elsewhere. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // SCOVILLE_TEST_PREBUILT_CLI (scripts/test/prebuild-clis.ts) only picks how the same sources load.
    if ((k.startsWith('SCOVILLE_') && k !== 'SCOVILLE_TEST_PREBUILT_CLI') || k === 'DATABASE_URL') continue;
    out[k] = v;
  }
  return { ...out, NO_COLOR: '1', ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `sync-hub --json --database-url <url> <args>`; stdout parsed as JSON on success. */
export async function hubCli<T = unknown>(databaseUrl: string, args: readonly string[], timeoutMs = 30_000): Promise<T> {
  const r = await new Promise<CliResult>((res, rej) => {
    const child = spawn(process.execPath, [HUB_BIN, '--json', '--database-url', databaseUrl, ...args], {
      cwd: REPO_ROOT,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
  if (r.code !== 0) throw new Error(`sync-hub ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout ? `\nstdout: ${r.stdout.slice(0, 4_000)}` : ''}`);
  return JSON.parse(r.stdout) as T;
}

export const addStore = (databaseUrl: string, storeId: string) =>
  hubCli<{ storeId: string; token: string }>(databaseUrl, ['stores', 'add', storeId]).then((r) => r.token);

export const addReadKey = (databaseUrl: string) =>
  hubCli<{ id: string; key: string; role: string }>(databaseUrl, ['keys', 'add', '--role', 'read']).then((r) => r.key);

// ---------------------------------------------------------------- a running hub

export interface SpawnedHub {
  child: ChildProcess;
  pid: number;
  replica: string;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port>/sync */
  syncUrl: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (if still running) and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const hubs = new Set<SpawnedHub>();

export interface SpawnHubOptions {
  databaseUrl: string;
  replica: string;
  /** 0 (default): any free port, read back from the `hub listening` log line. */
  port?: number;
  timeoutMs?: number;
  /** More `start` options, e.g. ['--cors-origin', 'https://shop.example']. */
  extraArgs?: readonly string[];
}

/**
 * `sync-hub --database-url <url> start --port <port> --replica <id>`;
 * resolves once the hub logged `hub listening` (a JSON line on stderr with
 * its `url`) and GET /health answers.
 */
export async function spawnHub(opts: SpawnHubOptions): Promise<SpawnedHub> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child = spawn(
    process.execPath,
    [HUB_BIN, '--database-url', opts.databaseUrl, 'start', '--host', '127.0.0.1', '--port', String(opts.port ?? 0), '--replica', opts.replica, ...(opts.extraArgs ?? [])],
    { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  track(child);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the hub');
  let out = '';
  let listening: string | null = null;
  let pendingLine = '';
  const onData = (d: string) => {
    out += d;
    if (out.length > 400_000) out = out.slice(-200_000);
    if (listening !== null) return;
    pendingLine += d;
    let nl: number;
    while ((nl = pendingLine.indexOf('\n')) >= 0) {
      const line = pendingLine.slice(0, nl);
      pendingLine = pendingLine.slice(nl + 1);
      try {
        const j = JSON.parse(line) as { msg?: string; url?: string };
        if (j.msg === 'hub listening' && typeof j.url === 'string') listening = j.url;
      } catch {
        // not a log line
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      res(exitInfo);
    });
  });
  const hub: SpawnedHub = {
    child,
    pid,
    replica: opts.replica,
    port: 0,
    url: '',
    syncUrl: '',
    output: () => out,
    exited,
    kill: async (signal) => {
      if (exitInfo === null) child.kill(signal);
      return exited;
    },
  };
  hubs.add(hub);
  void exited.then(() => hubs.delete(hub));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitInfo !== null) throw new Error(`the hub exited (${JSON.stringify(exitInfo)}) before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      await hub.kill('SIGKILL');
      throw new Error(`the hub was not ready after ${timeoutMs} ms:\n${out}`);
    }
    if (listening !== null) {
      const url: string = listening;
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
      if (res !== null) {
        hub.url = url;
        hub.port = Number(new URL(url).port);
        hub.syncUrl = `ws://127.0.0.1:${hub.port}/sync`;
        return hub;
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGKILLs every hub this file started and left running. */
export async function killAllHubs(): Promise<void> {
  await Promise.all([...hubs].map((h) => h.kill('SIGKILL')));
}

/** A port that was free a moment ago (for a hub that is to start later on a known port). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

// ---------------------------------------------------------------- HTTP

export interface Inventory {
  onHand: number;
  held: number;
  available: number;
}

async function getJson(url: string, key?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
    signal: AbortSignal.timeout(5_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

/** GET /inventory?storeId=&sku= on a hub; null when the hub has no record (404). */
export async function hubCounter(hubUrl: string, key: string, storeId: string, sku: string): Promise<Inventory | null> {
  const r = await getJson(`${hubUrl}/inventory?storeId=${encodeURIComponent(storeId)}&sku=${encodeURIComponent(sku)}`, key);
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET /inventory ${storeId}/${sku}: ${r.status} ${JSON.stringify(r.body)}`);
  return { onHand: r.body.onHand, held: r.body.held, available: r.body.available };
}

/** GET /inventory?sku= on a hub: the aggregate over every store. */
export async function hubSku(hubUrl: string, key: string, sku: string): Promise<Inventory & { at: string; stores: { storeId: string; onHand: number; online?: boolean | null; updatedAt?: string | null }[] }> {
  const r = await getJson(`${hubUrl}/inventory?sku=${encodeURIComponent(sku)}`, key);
  if (r.status !== 200) throw new Error(`GET /inventory?sku=${sku}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** GET /inventory?storeId=: every SKU of a store. */
export async function hubStore(hubUrl: string, key: string, storeId: string): Promise<Map<string, Inventory>> {
  const r = await getJson(`${hubUrl}/inventory?storeId=${encodeURIComponent(storeId)}`, key);
  if (r.status !== 200) throw new Error(`GET /inventory?storeId=${storeId}: ${r.status} ${JSON.stringify(r.body)}`);
  return new Map((r.body.items as (Inventory & { sku: string })[]).map((i) => [i.sku, { onHand: i.onHand, held: i.held, available: i.available }]));
}

/** GET /health: 200 healthy, 503 degraded (Postgres refusing commits). */
export async function hubHealth(hubUrl: string): Promise<{ status: number; body: any }> {
  return getJson(`${hubUrl}/health`);
}

/** GET /status: the hub's commit counters (transactions, batches, events actually inserted). */
export async function hubCommits(hubUrl: string, key: string): Promise<{ transactions: number; items: number; events: number; degraded: boolean }> {
  const r = await getJson(`${hubUrl}/status`, key);
  if (r.status !== 200) throw new Error(`GET /status: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.commits;
}

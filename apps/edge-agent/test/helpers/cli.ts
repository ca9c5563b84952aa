/**
 * The edge agent as staff and POS terminals meet it: the real CLI
 * (`bin/edge-agent.js`, through tsx) in child processes, and HTTP against a
 * started agent. Shared by cli.test.ts and crash.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const REPO_ROOT = resolve(APP_ROOT, '../..');
export const BIN = join(APP_ROOT, 'bin', 'edge-agent.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs `edge-agent <args>` to completion. Never rejects on a non-zero exit: the test checks `code`. */
export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      // No inherited agent location or token: each test says what it means.
      env: { ...withoutScovilleVars(process.env), NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** `edge-agent --data <dir> --json <args>`, with stdout parsed as JSON when the command succeeded. */
export async function runCliJson<T = unknown>(dataDir: string, args: readonly string[], opts?: CliOptions): Promise<CliResult & { json: T }> {
  const r = await runCli(['--data', dataDir, '--json', ...args], opts);
  if (r.code !== 0) throw new Error(`edge-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return { ...r, json: JSON.parse(r.stdout) as T };
}

function withoutScovilleVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  // SCOVILLE_TEST_PREBUILT_CLI (scripts/test/prebuild-clis.ts) only picks how the same sources load.
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('SCOVILLE_') || k === 'SCOVILLE_TEST_PREBUILT_CLI') out[k] = v;
  return out;
}

// ---------------------------------------------------------------- data folders

const dirs = new Set<string>();

/** A fresh folder under the OS temp dir; `removeTempDirs` deletes them all. */
export function tempDir(prefix = 'scoville-agent-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export function readAgentJson(dataDir: string): { url: string; pid: number; startedAt: number } | null {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'agent.json'), 'utf8')) as { url: string; pid: number; startedAt: number };
  } catch {
    return null;
  }
}

export const agentJsonExists = (dataDir: string): boolean => existsSync(join(dataDir, 'agent.json'));

// ---------------------------------------------------------------- a running agent

export interface SpawnedAgent {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Everything the agent printed so far. */
  output(): { stdout: string; stderr: string };
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<SpawnedAgent>();

/**
 * `edge-agent --data <dir> start --port 0` as a child process; resolves once
 * agent.json names this very process (a stale file of a killed agent does not
 * count) and GET /health answers.
 */
export async function spawnAgent(dataDir: string, extraArgs: readonly string[] = [], timeoutMs = 20_000): Promise<SpawnedAgent> {
  const child = spawn(process.execPath, [BIN, '--data', dataDir, 'start', '--port', '0', ...extraArgs], {
    cwd: REPO_ROOT,
    env: withoutScovilleVars(process.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      res(exitInfo);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the agent');
  const agent: SpawnedAgent = {
    child,
    pid,
    url: '',
    output: () => ({ stdout, stderr }),
    exited,
    kill: async (signal) => {
      if (exitInfo === null) child.kill(signal);
      return exited;
    },
  };
  running.add(agent);
  void exited.then(() => running.delete(agent));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitInfo !== null) {
      throw new Error(`the agent exited (${JSON.stringify(exitInfo)}) before it was ready:\n${stdout}\n${stderr}`);
    }
    if (Date.now() > deadline) {
      await agent.kill('SIGKILL');
      throw new Error(`the agent was not ready after ${timeoutMs} ms:\n${stdout}\n${stderr}`);
    }
    const info = readAgentJson(dataDir);
    if (info?.pid === pid && (await healthy(info.url))) {
      agent.url = info.url;
      return agent;
    }
    await sleep(25);
  }
}

/** SIGKILLs every agent a test started and left running. */
export async function killAllAgents(): Promise<void> {
  await Promise.all([...running].map((a) => a.kill('SIGKILL')));
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
    return r.ok;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- HTTP, as a POS terminal

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/**
 * POST with node:http (no retries, no connection magic): resolves only when
 * the whole answer has arrived; rejects when the connection fails first.
 */
export function postJson(url: string, body: unknown, agent?: Agent): Promise<HttpAnswer> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
        res.on('end', () => {
          if (!res.complete) return reject(new Error('response incomplete'));
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? null : JSON.parse(text) });
          } catch (e) {
            reject(e as Error);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

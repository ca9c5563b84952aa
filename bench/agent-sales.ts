/**
 * POS sales through the edge agent: what a store's terminals get out of one
 * agent, with every 201 on disk (WAL, synchronous=FULL, group commit).
 *
 * Three servers, each a child process (its own event loop, as in a store; the
 * load generator here does not share it), measured the same way in the same
 * run: 16 terminals, each on its own keep-alive connection, POST one sale
 * after another (a fresh idempotency key each, 1 unit of one of 50 SKUs).
 * After a warmup second each, the measured time (6 s per server) is taken in
 * 3 windows per server, in turn, so background load hits all three alike.
 *   - bare:  hono on @hono/node-server, POST /sales parses the JSON and
 *            answers 201, no work: the ceiling of the HTTP stack.
 *   - agent: the real agent (`startAgent`, as `edge-agent start` runs it).
 *   - naive: the same agent with one transaction (one fsync) per sale
 *            (`maxBatch: 1`): what group commit buys.
 *
 * The data folders are under os.tmpdir(); the fsync cost is that disk's.
 *
 * Run alone: node --import tsx bench/agent-sales.ts
 * (the children are this file again: `--serve bare|agent|naive <dataDir>`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, report, type Figure } from './lib/figures.js';
import { post, serveBareHono, startServerChild, type Server } from './lib/http-load.js';
import { now, p50, p99 } from './lib/stats.js';

const TERMINALS = 16;
const SKUS = Array.from({ length: 50 }, (_, i) => `HSS-${String(i + 1).padStart(3, '0')}`);
const WARMUP_MS = 1_000;
/** Measured time per server, split into ROUNDS windows. */
const MEASURE_MS = Number(process.env.BENCH_AGENT_SALES_MS ?? 6_000);
const ROUNDS = 3;
const ROUND_WARMUP_MS = 300;

type Mode = 'bare' | 'agent' | 'naive';

// ---------------------------------------------------------------- child: a server

async function serveChild(mode: Mode, dataDir: string): Promise<void> {
  let url: string;
  let stop: () => Promise<void>;
  if (mode === 'bare') {
    ({ url, stop } = await serveBareHono('/sales'));
  } else {
    const { initAgent, startAgent } = await import('../apps/edge-agent/src/agent.js');
    initAgent(dataDir, 'bench-store');
    const agent = await startAgent({ dataDir, port: 0, maxBatch: mode === 'naive' ? 1 : undefined });
    url = agent.url;
    stop = () => agent.stop();
  }
  process.stdout.write(`READY ${url}\n`);
  process.once('SIGTERM', () => {
    const s = stop();
    const force = setTimeout(() => process.exit(0), 3_000);
    void s.then(() => {
      clearTimeout(force);
      process.exit(0);
    });
  });
}

// ---------------------------------------------------------------- parent: the load

function startServer(mode: Mode, dataDir: string): Promise<Server> {
  return startServerChild(fileURLToPath(import.meta.url), ['--serve', mode, dataDir], mode);
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status}`);
  return (await r.json()) as T;
}

interface Window {
  completed: number;
  latencies: number[];
}

/**
 * One measured window: TERMINALS loops of POST /sales on keep-alive
 * connections; `warmupMs` of unmeasured load first, then the answers that
 * arrive within `windowMs` count (throughput and latency).
 */
async function window(url: string, label: string, warmupMs: number, windowMs: number): Promise<Window> {
  const http = new Agent({ keepAlive: true, maxSockets: TERMINALS });
  const measureFrom = now() + warmupMs;
  const measureTo = measureFrom + windowMs;
  const latencies: number[] = [];
  const terminal = async (t: number) => {
    for (let n = 0; ; n++) {
      const t0 = now();
      if (t0 >= measureTo) return;
      const sku = SKUS[(t * 7919 + n) % SKUS.length]!;
      const payload = `{"idempotencyKey":"${label}-t${t}-${n}","lines":[{"sku":"${sku}","qty":1}],"terminal":"t${t}"}`;
      const r = await post(http, url, '/sales', payload);
      const t1 = now();
      if (r.status !== 201) throw new Error(`${label}: POST /sales answered ${r.status}: ${r.body.slice(0, 300)}`);
      if (t1 >= measureFrom && t1 <= measureTo) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: TERMINALS }, (_, t) => terminal(t)));
  http.destroy();
  return { completed: latencies.length, latencies };
}

const MODES: readonly Mode[] = ['bare', 'agent', 'naive'];

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  writesPerTransaction: number | null;
}

/**
 * All three servers run side by side (idle while another is measured); the
 * measured time is split into ROUNDS windows taken in turn, so a burst of
 * background load on the machine hits all three alike.
 */
async function measureAll(): Promise<Record<Mode, Result>> {
  const dirs = MODES.map((mode) => mkdtempSync(join(tmpdir(), `scoville-bench-${mode}-`)));
  const servers: Server[] = [];
  try {
    servers.push(...(await Promise.all(MODES.map((mode, i) => startServer(mode, dirs[i]!)))));
    for (const [i, mode] of MODES.entries()) {
      if (mode === 'bare') continue;
      const body = JSON.stringify({ idempotencyKey: 'bench-restock', lines: SKUS.map((sku) => ({ sku, qty: 1_000_000_000 })) });
      const restock = await post(new Agent(), servers[i]!.url, '/restocks', body);
      if (restock.status !== 201) throw new Error(`restock answered ${restock.status}: ${restock.body}`);
    }
    for (const [i, mode] of MODES.entries()) await window(servers[i]!.url, `${mode}-warmup`, WARMUP_MS, 0);
    const windows = new Map<Mode, Window[]>(MODES.map((m) => [m, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, mode] of MODES.entries()) {
        windows.get(mode)!.push(await window(servers[i]!.url, `${mode}-r${round}`, ROUND_WARMUP_MS, MEASURE_MS / ROUNDS));
      }
    }
    const out = {} as Record<Mode, Result>;
    for (const [i, mode] of MODES.entries()) {
      const ws = windows.get(mode)!;
      const latencies = ws.flatMap((w) => w.latencies);
      let writesPerTransaction: number | null = null;
      if (mode !== 'bare') {
        const status = await getJson<{ commits: { transactions: number; writes: number } }>(`${servers[i]!.url}/status`);
        writesPerTransaction = status.commits.writes / status.commits.transactions;
      }
      const r: Result = {
        perSecond: latencies.length / (MEASURE_MS / 1000),
        p50: p50(latencies),
        p99: p99(latencies),
        writesPerTransaction,
      };
      log(
        `${mode}: ${r.perSecond.toFixed(0)}/s (windows: ${ws.map((w) => ((w.completed * ROUNDS * 1000) / MEASURE_MS).toFixed(0)).join(', ')}), ` +
          `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms` +
          (writesPerTransaction === null ? '' : `, ${writesPerTransaction.toFixed(1)} writes per transaction`),
      );
      out[mode] = r;
    }
    return out;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  log(
    `${TERMINALS} terminals, keep-alive; per server ${WARMUP_MS} ms warmup, then ${ROUNDS} interleaved windows ` +
      `(${ROUND_WARMUP_MS} ms warmup + ${MEASURE_MS / ROUNDS} ms measured each); data under ${tmpdir()}`,
  );
  const { bare, agent, naive } = await measureAll();
  const figures: Figure[] = [
    {
      name: 'sales_per_s',
      value: agent.perSecond,
      unit: 'sales/s',
      baseline: 'bare_post_per_s',
      note: `agent with group commit: ${agent.writesPerTransaction?.toFixed(1)} sales per transaction on average (one fsync each)`,
    },
    { name: 'sales_vs_bare_ratio', value: agent.perSecond / bare.perSecond, unit: 'ratio', goal: { op: '>=', value: 0.6 } },
    { name: 'sale_p50_ms', value: agent.p50, unit: 'ms' },
    { name: 'sale_p99_ms', value: agent.p99, unit: 'ms', goal: { op: '<=', value: 10 } },
    { name: 'bare_post_per_s', value: bare.perSecond, unit: 'req/s', note: 'hono + @hono/node-server, parse JSON, answer 201, no work' },
    {
      name: 'naive_sales_per_s',
      value: naive.perSecond,
      unit: 'sales/s',
      baseline: 'sales_per_s',
      note: `the same agent, one transaction (one fsync) per sale; p99 ${naive.p99.toFixed(1)} ms`,
    },
  ];
  report(figures);
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) await serveChild(process.argv[serveAt + 1] as Mode, process.argv[serveAt + 2]!);
else await main();

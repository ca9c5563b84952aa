/**
 * POS sales through the edge agent: what a store's terminals get out of one
 * agent, with every 201 on disk (WAL, group commit, fsync before the answer).
 *
 * Servers, each a child process (its own event loop, as in a store; the load
 * generator here does not share it), measured the same way in the same run:
 * 1, 4 and 16 terminals, each on its own keep-alive connection, POST one
 * sale after another (a fresh idempotency key each, 1 unit of one of 50
 * SKUs). Every server first serves 3 s at 16 terminals (JIT warm-up, as
 * an agent that has run for a while); then, after a warmup second each per
 * terminal count, the measured time (per terminal count, 6 s per server) is
 * taken in 6 windows per server, in turn (every other round in reverse
 * order), so background load hits all of them alike. Between windows, 20 fdatasyncs of a 16 KB
 * write in a data folder time the disk itself (what every durable sale waits for).
 *   - bare:   hono on @hono/node-server, POST /sales parses the JSON and
 *             answers 201, no work: the ceiling of the HTTP stack.
 *   - agent:  the real agent (`startAgent`, as `edge-agent start` runs it):
 *             the fsync of batch N on the thread pool while batch N+1 is
 *             parsed and checked (two fsyncs in flight at most).
 *   - inline: the same agent with the fsync inside the commit, on the event
 *             loop (`overlapFsync: false`, the design before).
 *   - naive:  the inline agent with one transaction (one fsync) per sale
 *             (`maxBatch: 1`), 16 terminals only: what group commit buys.
 *   - other:  with BENCH_AGENT_SALES_AB=<checkout>, that checkout's agent
 *             (its own bench/agent-sales.ts `--serve agent`): a same-run A/B
 *             against another commit (`git archive <rev> | tar -x -C dir`,
 *             node_modules symlinked).
 *
 * Each server's CPU time (user + system, /proc) over its windows, divided by
 * the requests it answered in them, is its CPU per sale: on this noisy
 * machine it moves far less than throughput does.
 *
 * The data folders are under os.tmpdir(); the fsync cost is that disk's.
 *
 * Run alone: node --import tsx bench/agent-sales.ts
 * (the children are this file again: `--serve <mode> <dataDir>`).
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, report, type Figure } from './lib/figures.js';
import { post, serveBareHono, startServerChild, type Server } from './lib/http-load.js';
import { procCpuMs } from './lib/proc-cpu.js';
import { now, p50, p99 } from './lib/stats.js';

/** Terminal counts measured; the goals are judged at the last (a busy store). */
const TERMINAL_COUNTS = [1, 4, 16] as const;
const SKUS = Array.from({ length: 50 }, (_, i) => `HSS-${String(i + 1).padStart(3, '0')}`);
const WARMUP_MS = 1_000;
/**
 * Before any window, each server serves this long at the busiest terminal
 * count: a fresh process is still compiling its hot paths for its first few
 * thousand requests (V8's optimizing compiler was a quarter of a fresh
 * agent's CPU at 1 terminal), and the agent's path is longer than bare
 * hono's, so without it the first count measured (1 terminal) was mostly warm-up.
 */
const JIT_WARMUP_MS = Number(process.env.BENCH_AGENT_SALES_JIT_WARMUP_MS ?? 3_000);
/** Measured time per server, split into ROUNDS windows. */
const MEASURE_MS = Number(process.env.BENCH_AGENT_SALES_MS ?? 6_000);
const ROUNDS = 6;
const ROUND_WARMUP_MS = 300;

type Mode = 'bare' | 'agent' | 'inline' | 'naive' | 'other';
/** Another checkout whose agent is measured next to this one's (mode `other`). */
const AB_CHECKOUT = process.env.BENCH_AGENT_SALES_AB;

// ---------------------------------------------------------------- child: a server

async function serveChild(mode: Mode, dataDir: string): Promise<void> {
  let url: string;
  let stop: () => Promise<void>;
  if (mode === 'bare') {
    ({ url, stop } = await serveBareHono('/sales'));
  } else {
    const { initAgent, startAgent } = await import('../apps/edge-agent/src/agent.js');
    initAgent(dataDir, 'bench-store');
    const agent = await startAgent({ dataDir, port: 0, maxBatch: mode === 'naive' ? 1 : undefined, overlapFsync: mode === 'agent' });
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
  if (mode === 'other') return startServerChild(join(AB_CHECKOUT!, 'bench', 'agent-sales.ts'), ['--serve', 'agent', dataDir], mode);
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
  /** Answers in the whole window, its warmup included (what the server's CPU time of the window paid for). */
  answered: number;
}

/**
 * One measured window: `terminals` loops of POST /sales on keep-alive
 * connections; `warmupMs` of unmeasured load first, then the answers that
 * arrive within `windowMs` count (throughput and latency).
 */
async function window(url: string, label: string, terminals: number, warmupMs: number, windowMs: number): Promise<Window> {
  const http = new Agent({ keepAlive: true, maxSockets: terminals });
  const measureFrom = now() + warmupMs;
  const measureTo = measureFrom + windowMs;
  const latencies: number[] = [];
  let answered = 0;
  const terminal = async (t: number) => {
    for (let n = 0; ; n++) {
      const t0 = now();
      if (t0 >= measureTo) return;
      const sku = SKUS[(t * 7919 + n) % SKUS.length]!;
      const payload = `{"idempotencyKey":"${label}-t${t}-${n}","lines":[{"sku":"${sku}","qty":1}],"terminal":"t${t}"}`;
      const r = await post(http, url, '/sales', payload);
      const t1 = now();
      if (r.status !== 201) throw new Error(`${label}: POST /sales answered ${r.status}: ${r.body.slice(0, 300)}`);
      answered++;
      if (t1 >= measureFrom && t1 <= measureTo) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: terminals }, (_, t) => terminal(t)));
  http.destroy();
  return { completed: latencies.length, latencies, answered };
}

/** `n` fdatasyncs of a fresh 16 KB write each in `dir` (ms each): the disk's own durable-write latency. */
function probeFsync(dir: string, n: number): number[] {
  const fd = openSync(join(dir, 'fsync-probe'), 'w');
  const page = Buffer.alloc(16 * 1024, 7);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, page, 0, page.length, (i % 64) * page.length);
      const t0 = now();
      fdatasyncSync(fd);
      out.push(now() - t0);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

const MODES: readonly Mode[] = AB_CHECKOUT ? ['bare', 'agent', 'other', 'inline', 'naive'] : ['bare', 'agent', 'inline', 'naive'];
/** Modes measured at `terminals`: naive only for the busy store (it is slow and only shows what batching buys). */
const modesAt = (terminals: number): Mode[] => MODES.filter((m) => m !== 'naive' || terminals === TERMINAL_COUNTS.at(-1));

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  /** The server's CPU time per answered request (µs). */
  cpuUsPerSale: number;
  /** Sales per transaction and per fsync while measured (null: bare). */
  writesPerTransaction: number | null;
  writesPerSync: number | null;
}

interface Commits {
  transactions: number;
  writes: number;
  syncs: number;
}

/**
 * All servers run side by side (idle while another is measured); for each
 * terminal count the measured time is split into ROUNDS windows taken in
 * turn, so a burst of background load on the machine hits all alike.
 */
async function measureAll(): Promise<{ results: Map<number, Map<Mode, Result>>; fsyncMs: number[] }> {
  const dirs = MODES.map((mode) => mkdtempSync(join(tmpdir(), `scoville-bench-${mode}-`)));
  const servers: Server[] = [];
  const commits = async (i: number): Promise<Commits> =>
    (await getJson<{ commits: Commits }>(`${servers[i]!.url}/status`)).commits;
  try {
    servers.push(...(await Promise.all(MODES.map((mode, i) => startServer(mode, dirs[i]!)))));
    for (const [i, mode] of MODES.entries()) {
      if (mode === 'bare') continue;
      const body = JSON.stringify({ idempotencyKey: 'bench-restock', lines: SKUS.map((sku) => ({ sku, qty: 1_000_000_000 })) });
      const restock = await post(new Agent(), servers[i]!.url, '/restocks', body);
      if (restock.status !== 201) throw new Error(`restock answered ${restock.status}: ${restock.body}`);
    }
    for (const [i, mode] of MODES.entries()) await window(servers[i]!.url, `${mode}-jit-warmup`, TERMINAL_COUNTS.at(-1)!, JIT_WARMUP_MS, 0);
    const out = new Map<number, Map<Mode, Result>>();
    const fsyncMs: number[] = [];
    for (const terminals of TERMINAL_COUNTS) {
      const modes = modesAt(terminals);
      const index = (m: Mode) => MODES.indexOf(m);
      for (const mode of modes) await window(servers[index(mode)]!.url, `${mode}-t${terminals}-warmup`, terminals, WARMUP_MS, 0);
      const windows = new Map<Mode, Window[]>(modes.map((m) => [m, []]));
      const counted = new Map<Mode, Commits>(modes.map((m) => [m, { transactions: 0, writes: 0, syncs: 0 }]));
      const cpu = new Map<Mode, { ms: number; answered: number }>(modes.map((m) => [m, { ms: 0, answered: 0 }]));
      for (let round = 0; round < ROUNDS; round++) {
        // Every other round in reverse: a server's place in the round moved its CPU per sale by ~5 % in A/A runs.
        for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
          const i = index(mode);
          const before = mode === 'bare' ? null : await commits(i);
          const cpuBefore = procCpuMs(servers[i]!.pid!);
          const w = await window(servers[i]!.url, `${mode}-t${terminals}-r${round}`, terminals, ROUND_WARMUP_MS, MEASURE_MS / ROUNDS);
          const spent = cpu.get(mode)!;
          spent.ms += procCpuMs(servers[i]!.pid!) - cpuBefore;
          spent.answered += w.answered;
          windows.get(mode)!.push(w);
          fsyncMs.push(...probeFsync(dirs[0]!, 20));
          if (before) {
            const after = await commits(i);
            const c = counted.get(mode)!;
            c.transactions += after.transactions - before.transactions;
            c.writes += after.writes - before.writes;
            c.syncs += after.syncs - before.syncs;
          }
        }
      }
      const results = new Map<Mode, Result>();
      for (const mode of modes) {
        const ws = windows.get(mode)!;
        const latencies = ws.flatMap((w) => w.latencies);
        const c = counted.get(mode)!;
        const spent = cpu.get(mode)!;
        const r: Result = {
          perSecond: latencies.length / (MEASURE_MS / 1000),
          p50: p50(latencies),
          p99: p99(latencies),
          cpuUsPerSale: (spent.ms * 1000) / spent.answered,
          writesPerTransaction: mode === 'bare' ? null : c.writes / c.transactions,
          writesPerSync: mode === 'bare' ? null : c.writes / c.syncs,
        };
        log(
          `${terminals} terminal(s), ${mode}: ${r.perSecond.toFixed(0)}/s (windows: ${ws.map((w) => ((w.completed * ROUNDS * 1000) / MEASURE_MS).toFixed(0)).join(', ')}), ` +
            `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.cpuUsPerSale.toFixed(0)} µs CPU per request` +
            (r.writesPerTransaction === null ? '' : `, ${r.writesPerTransaction.toFixed(1)} sales per transaction, ${r.writesPerSync!.toFixed(1)} per fsync`),
        );
        results.set(mode, r);
      }
      out.set(terminals, results);
    }
    return { results: out, fsyncMs };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  log(
    `terminals ${TERMINAL_COUNTS.join(', ')}, keep-alive; per server ${JIT_WARMUP_MS} ms at ${TERMINAL_COUNTS.at(-1)} terminals first, then per count ${WARMUP_MS} ms warmup, then ${ROUNDS} interleaved windows ` +
      `(${ROUND_WARMUP_MS} ms warmup + ${MEASURE_MS / ROUNDS} ms measured each); data under ${tmpdir()}`,
  );
  const { results: all, fsyncMs } = await measureAll();
  log(`disk: fdatasync of 16 KB p50 ${p50(fsyncMs).toFixed(2)} ms, p99 ${p99(fsyncMs).toFixed(2)} ms (${fsyncMs.length} between windows)`);
  const busy = TERMINAL_COUNTS.at(-1)!;
  const figures: Figure[] = [];
  for (const terminals of TERMINAL_COUNTS) {
    const r = all.get(terminals)!;
    const bare = r.get('bare')!;
    const agent = r.get('agent')!;
    const inline = r.get('inline')!;
    // The busy store keeps the figure names of before; the other counts get a suffix.
    const sfx = terminals === busy ? '' : `_${terminals}t`;
    figures.push(
      {
        name: `sales_per_s${sfx}`,
        value: agent.perSecond,
        unit: 'sales/s',
        baseline: `bare_post_per_s${sfx}`,
        note: `${terminals} terminal(s); ${agent.writesPerTransaction?.toFixed(1)} sales per transaction, ${agent.writesPerSync?.toFixed(1)} per fsync (fsync off the event loop, or on it for a lone write while the disk is fast: decision 29)`,
      },
      {
        name: `sales_vs_bare_ratio${sfx}`,
        value: agent.perSecond / bare.perSecond,
        unit: 'ratio',
        ...(terminals === busy ? { goal: { op: '>=' as const, value: 0.6 } } : {}),
      },
      { name: `sale_p50_ms${sfx}`, value: agent.p50, unit: 'ms' },
      { name: `sale_p99_ms${sfx}`, value: agent.p99, unit: 'ms', ...(terminals === busy ? { goal: { op: '<=' as const, value: 10 } } : {}) },
      { name: `bare_post_per_s${sfx}`, value: bare.perSecond, unit: 'req/s', note: `${terminals} terminal(s); hono + @hono/node-server, parse JSON, answer 201, no work; p99 ${bare.p99.toFixed(2)} ms` },
      {
        name: `inline_sales_per_s${sfx}`,
        value: inline.perSecond,
        unit: 'sales/s',
        baseline: `sales_per_s${sfx}`,
        note: `${terminals} terminal(s); the design before: fsync inside the commit, on the event loop; ${inline.writesPerSync?.toFixed(1)} sales per fsync; p50 ${inline.p50.toFixed(2)} ms, p99 ${inline.p99.toFixed(2)} ms`,
      },
      {
        name: `cpu_us_per_sale${sfx}`,
        value: agent.cpuUsPerSale,
        unit: 'µs',
        baseline: `bare_cpu_us_per_post${sfx}`,
        note: `${terminals} terminal(s); the agent process's CPU time (user + system) per answered sale`,
      },
      { name: `bare_cpu_us_per_post${sfx}`, value: bare.cpuUsPerSale, unit: 'µs', note: `${terminals} terminal(s); bare hono's CPU time per answered POST` },
    );
    const other = r.get('other');
    if (other) {
      figures.push(
        {
          name: `ab_sales_per_s${sfx}`,
          value: other.perSecond,
          unit: 'sales/s',
          baseline: `sales_per_s${sfx}`,
          note: `${terminals} terminal(s); the agent of ${AB_CHECKOUT}; p50 ${other.p50.toFixed(2)} ms, p99 ${other.p99.toFixed(2)} ms`,
        },
        { name: `ab_cpu_us_per_sale${sfx}`, value: other.cpuUsPerSale, unit: 'µs', baseline: `cpu_us_per_sale${sfx}`, note: `${terminals} terminal(s); the agent of ${AB_CHECKOUT}` },
      );
    }
  }
  const naive = all.get(busy)!.get('naive')!;
  figures.push({
    name: 'naive_sales_per_s',
    value: naive.perSecond,
    unit: 'sales/s',
    baseline: 'sales_per_s',
    note: `${busy} terminals; one transaction (one fsync) per sale, on the event loop; p99 ${naive.p99.toFixed(1)} ms`,
  });
  figures.push(
    { name: 'disk_fsync_p50_ms', value: p50(fsyncMs), unit: 'ms', note: `fdatasync of a 16 KB write in the data folder, between windows (${fsyncMs.length})` },
    { name: 'disk_fsync_p99_ms', value: p99(fsyncMs), unit: 'ms', note: 'a sale cannot be answered faster than its fsync: the floor of sale_p99_ms' },
  );
  report(figures);
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) await serveChild(process.argv[serveAt + 1] as Mode, process.argv[serveAt + 2]!);
else await main();

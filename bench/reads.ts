/**
 * Storefront reads: `GET /inventory/:sku` of one SKU stocked at 10 stores,
 * at CONNECTIONS keep-alive connections (closed loop: one request
 * outstanding per connection), next to a bare `node:http` server answering
 * a fixed JSON body of the same size and headers in the same run; and both
 * again with `If-None-Match` (the hub's 304, the bare server's 304).
 *
 * The stores have no agents: `registerStores` (as `sync-hub stores add`
 * does), each stocked through `POST /inventory/updates` with its own token.
 * The hub runs with `--rate-limit-key 0 --rate-limit-ip 0` (the defaults,
 * 5,000/s per key, would cap the measurement, not the server).
 *
 * Load generator: wrk when it is on PATH (`wrk -t1 -c50 -d..s --latency`),
 * else `closedLoopGet` (bench/lib/http-load.ts: raw keep-alive sockets) in a
 * child process of its own, this file with `--load <json>`. The bare server
 * is a child too (`--serve-bare <json>`), so the three never share an event
 * loop. The four cases run in turn, ROUNDS times, so background load hits all
 * alike (after HUB_WARMUP_S s of unmeasured load on each, for the JIT; and
 * 1 s unmeasured at the start of every run); rates are summed over the
 * rounds, latencies merged.
 *
 * Run alone: node --import tsx bench/reads.ts
 * Env: BENCH_READS_CONNECTIONS (50), BENCH_READS_SECONDS (5 per case and
 * round), BENCH_READS_ROUNDS (3).
 */
import { spawn, spawnSync } from 'node:child_process';
import { Agent, createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, registerStores, spawnHub, type BenchDatabase, type HubProcess } from './lib/hub-fixture.js';
import { closedLoopGet, post, startServerChild, type GetLoadOptions, type GetLoadResult, type Server } from './lib/http-load.js';
import { procCpuMs } from './lib/proc-cpu.js';
import { percentile } from './lib/stats.js';

const CONNECTIONS = Number(process.env.BENCH_READS_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_READS_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_READS_ROUNDS ?? 3);
const WARMUP_MS = 1_000;
/** Unmeasured load on every case before the rounds. */
const HUB_WARMUP_S = 5;
const STORES = Array.from({ length: 10 }, (_, i) => `rd${String(i + 1).padStart(2, '0')}`);
const SKU = 'READ-1';
const PATH = `/inventory/${SKU}`;

// ---------------------------------------------------------------- children

interface BareSpec {
  body: string;
  headers: Record<string, string>;
  etag: string;
}

/** node:http, no framework: the fixed body (or 304 on a matching If-None-Match). */
async function serveBare(spec: BareSpec): Promise<void> {
  const body = Buffer.from(spec.body);
  const server = createServer((req, res) => {
    if (req.headers['if-none-match'] === spec.etag) {
      res.writeHead(304, { etag: spec.etag, 'cache-control': spec.headers['cache-control'] ?? '' });
      res.end();
      return;
    }
    res.writeHead(200, { ...spec.headers, 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as { port: number }).port}\n`);
  process.once('SIGTERM', () => process.exit(0));
}

async function loadChild(o: GetLoadOptions): Promise<void> {
  const r = await closedLoopGet(o);
  process.stdout.write(JSON.stringify(r) + '\n', () => process.exit(0));
}

// ---------------------------------------------------------------- load

const hasWrk = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).status === 0;

interface Measured {
  requests: number;
  durationMs: number;
  latencies: number[];
  statuses: Record<string, number>;
  errors: number;
  answerBytes: number;
  /** wrk: its own p50/p99 (no raw samples). */
  wrk?: { p50: number; p99: number };
}

function runLoadChild(o: GetLoadOptions): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--load', JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('close', (code) => {
      try {
        resolve(JSON.parse(out) as GetLoadResult);
      } catch {
        reject(new Error(`load generator exited ${code}: ${out.slice(0, 300)}`));
      }
    });
  });
}

/** wrk -t1 (one thread: the machine has few cores, the servers need them). */
function runWrk(o: GetLoadOptions): Promise<Measured> {
  const hdr = Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['-t1', `-c${o.connections}`, `-d${Math.round((o.warmupMs + o.durationMs) / 1000)}s`, '--latency', ...hdr, `${o.url}${o.path}`];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('exit', () => {
      const rate = /Requests\/sec:\s*([\d.]+)/.exec(out);
      const ms = (re: RegExp) => {
        const m = re.exec(out);
        if (!m) return NaN;
        const v = Number(m[1]);
        return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
      };
      if (!rate) return reject(new Error(`wrk: ${out}`));
      const d = o.warmupMs + o.durationMs;
      resolve({
        requests: Number(rate[1]) * (d / 1000),
        durationMs: d,
        latencies: [],
        statuses: {},
        errors: /Non-2xx or 3xx responses:\s*(\d+)/.exec(out) ? Number(/Non-2xx or 3xx responses:\s*(\d+)/.exec(out)![1]) : 0,
        answerBytes: 0,
        wrk: { p50: ms(/50%\s+([\d.]+)(us|ms|s)/), p99: ms(/99%\s+([\d.]+)(us|ms|s)/) },
      });
    });
  });
}

const load = (o: GetLoadOptions) => (hasWrk ? runWrk(o) : runLoadChild(o));

interface Case {
  name: string;
  url: string;
  /** The serving process, for CPU time per request. */
  pid: number;
  cpuMs: number;
  headers: Record<string, string>;
  expect: string;
  runs: Measured[];
}

function summary(c: Case) {
  const requests = c.runs.reduce((a, r) => a + r.requests, 0);
  const ms = c.runs.reduce((a, r) => a + r.durationMs, 0);
  const lat = c.runs.flatMap((r) => r.latencies);
  const wrkP = (k: 'p50' | 'p99') => Math.max(...c.runs.map((r) => r.wrk![k]));
  const statuses: Record<string, number> = {};
  for (const r of c.runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    perSecond: requests / (ms / 1000),
    /** Server CPU µs per answered request (warmup included on both sides of the division). */
    cpuUsPerRequest: (c.cpuMs * 1000) / c.runs.reduce((a, r) => a + r.requests * ((r.durationMs + WARMUP_MS) / r.durationMs), 0),
    p50: lat.length > 0 ? percentile(lat, 50) : hasWrk ? wrkP('p50') : NaN,
    p99: lat.length > 0 ? percentile(lat, 99) : hasWrk ? wrkP('p99') : NaN,
    statuses,
    errors: c.runs.reduce((a, r) => a + r.errors, 0),
    answerBytes: c.runs[c.runs.length - 1]?.answerBytes ?? 0,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  let db: BenchDatabase | null = null;
  let hub: HubProcess | null = null;
  let bare: Server | null = null;
  try {
    db = await createBenchDatabase();
    const reg = await registerStores(db.url, STORES);
    hub = await spawnHub(db.url, 'hub-reads', 60_000, ['--rate-limit-key', '0', '--rate-limit-ip', '0']);
    const agent = new Agent({ keepAlive: true });
    for (const [i, store] of STORES.entries()) {
      const body = JSON.stringify({ idempotencyKey: `stock-${store}`, storeId: store, type: 'restock', lines: [{ sku: SKU, qty: 10 + i }] });
      const r = await post(agent, hub.url, '/inventory/updates', body, { authorization: `Bearer ${reg.tokens.get(store)!}` });
      if (r.status !== 201) throw new Error(`restock at ${store}: ${r.status} ${r.body}`);
    }
    agent.destroy();
    const auth = { authorization: `Bearer ${reg.readKey}` };
    const first = await fetch(`${hub.url}${PATH}`, { headers: auth });
    const body = await first.text();
    if (first.status !== 200) throw new Error(`GET ${PATH}: ${first.status} ${body}`);
    const parsed = JSON.parse(body) as { stores: unknown[]; available: number };
    if (parsed.stores.length !== STORES.length) throw new Error(`GET ${PATH}: ${parsed.stores.length} stores, want ${STORES.length}`);
    const etag = first.headers.get('etag');
    if (etag === null) throw new Error(`GET ${PATH}: no ETag`);
    const headers: Record<string, string> = { 'content-type': first.headers.get('content-type') ?? 'application/json', etag, 'cache-control': first.headers.get('cache-control') ?? '' };
    const again = await fetch(`${hub.url}${PATH}`, { headers: { ...auth, 'if-none-match': etag } });
    if (again.status !== 304) throw new Error(`GET ${PATH} with If-None-Match: ${again.status}, want 304`);
    bare = await startServerChild(fileURLToPath(import.meta.url), ['--serve-bare', JSON.stringify({ body, headers, etag } satisfies BareSpec)], 'bare');
    log(`hub ${hub.url} (db ${db.name}), bare node:http ${bare.url}; body ${Buffer.byteLength(body)} bytes, ETag ${etag}; ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s per case; load generator: ${hasWrk ? 'wrk' : 'closedLoopGet (node, raw sockets, child process)'}`);

    const cases: Case[] = [
      { name: 'bare', url: bare.url, pid: bare.pid!, cpuMs: 0, headers: {}, expect: '200', runs: [] },
      { name: 'hub', url: hub.url, pid: hub.pid, cpuMs: 0, headers: auth, expect: '200', runs: [] },
      { name: 'bare_304', url: bare.url, pid: bare.pid!, cpuMs: 0, headers: { 'if-none-match': etag }, expect: '304', runs: [] },
      { name: 'hub_304', url: hub.url, pid: hub.pid, cpuMs: 0, headers: { ...auth, 'if-none-match': etag }, expect: '304', runs: [] },
    ];
    // A fresh hub's first seconds are JIT warmup (measured: 489 req/s in the first 5 s, 2,000-3,000 after): load every case once, unmeasured.
    for (const c of cases) await load({ url: c.url, path: PATH, headers: c.headers, connections: CONNECTIONS, warmupMs: 0, durationMs: HUB_WARMUP_S * 1000 });
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of cases) {
        const cpu0 = procCpuMs(c.pid);
        const m = await load({ url: c.url, path: PATH, headers: c.headers, connections: CONNECTIONS, warmupMs: WARMUP_MS, durationMs: SECONDS * 1000 });
        // CPU over warmup + window, per request over the same span (the load generator counts both).
        c.cpuMs += procCpuMs(c.pid) - cpu0;
        c.runs.push(m);
        const wrong = Object.entries(m.statuses).filter(([s]) => s !== c.expect);
        log(
          `round ${round} ${c.name}: ${(m.requests / (m.durationMs / 1000)).toFixed(0)} req/s` +
            (m.latencies.length > 0 ? `, p50 ${percentile(m.latencies, 50).toFixed(2)} ms, p99 ${percentile(m.latencies, 99).toFixed(2)} ms` : m.wrk ? `, p50 ${m.wrk.p50} ms, p99 ${m.wrk.p99} ms` : '') +
            `; ${m.answerBytes} bytes per answer; statuses ${JSON.stringify(m.statuses)}, ${m.errors} closed/errors` +
            (wrong.length > 0 ? ` (UNEXPECTED: want only ${c.expect})` : '') +
            `; load average ${(await loadAverage()).join(' ')}`,
        );
      }
    }
    const [sb, sh, sb3, sh3] = cases.map(summary) as [ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>];
    const bad = cases.flatMap((c) => Object.entries(summary(c).statuses).filter(([s]) => s !== c.expect).map(([s, n]) => `${c.name}: ${n}× ${s}`));
    const setup = `${CONNECTIONS} keep-alive connections, closed loop, ${ROUNDS} × ${SECONDS} s per case, interleaved; ${hasWrk ? 'wrk' : 'node raw-socket load generator in a child process'}`;
    const figures: Figure[] = [
      { name: 'hub_reads_per_s', value: sh.perSecond, unit: 'req/s', baseline: 'bare_reads_per_s', note: `GET ${PATH} (10 stores, ${sh.answerBytes} bytes per answer); ${setup}` },
      { name: 'hub_vs_bare_ratio', value: sh.perSecond / sb.perSecond, unit: 'ratio', goal: { op: '>=', value: 0.85 } },
      { name: 'hub_read_p50_ms', value: sh.p50, unit: 'ms' },
      { name: 'hub_read_p99_ms', value: sh.p99, unit: 'ms', goal: { op: '<=', value: 5 } },
      { name: 'bare_reads_per_s', value: sb.perSecond, unit: 'req/s', note: `node:http, the hub's body and headers, fixed; p50 ${sb.p50.toFixed(2)} ms, p99 ${sb.p99.toFixed(2)} ms; ${sb.answerBytes} bytes per answer` },
      { name: 'hub_304_per_s', value: sh3.perSecond, unit: 'req/s', baseline: 'bare_304_per_s', note: 'If-None-Match: <the ETag>' },
      { name: 'hub_304_vs_bare_ratio', value: sh3.perSecond / sb3.perSecond, unit: 'ratio', goal: { op: '>=', value: 0.95 } },
      { name: 'hub_304_p50_ms', value: sh3.p50, unit: 'ms' },
      { name: 'hub_304_p99_ms', value: sh3.p99, unit: 'ms' },
      { name: 'bare_304_per_s', value: sb3.perSecond, unit: 'req/s', note: `node:http answering 304 to the ETag; p50 ${sb3.p50.toFixed(2)} ms, p99 ${sb3.p99.toFixed(2)} ms` },
      {
        name: 'hub_cpu_us_per_read',
        value: sh.cpuUsPerRequest,
        unit: 'µs',
        baseline: 'bare_cpu_us_per_read',
        note: 'hub process CPU (user+sys, /proc) per answered GET: the figure the noise of a shared machine moves least',
      },
      { name: 'bare_cpu_us_per_read', value: sb.cpuUsPerRequest, unit: 'µs' },
      { name: 'hub_cpu_us_per_304', value: sh3.cpuUsPerRequest, unit: 'µs', baseline: 'bare_cpu_us_per_304' },
      { name: 'bare_cpu_us_per_304', value: sb3.cpuUsPerRequest, unit: 'µs' },
      { name: 'unexpected_statuses', value: bad.length, unit: 'cases', goal: { op: '<=', value: 0 }, ...(bad.length > 0 ? { note: bad.join('; ') } : {}) },
    ];
    report(figures);
  } finally {
    await Promise.all([hub?.stop(), bare?.stop()]).catch(() => undefined);
    await db?.drop().catch(() => undefined);
  }
}

async function loadAverage(): Promise<string[]> {
  const os = await import('node:os');
  return os.loadavg().map((x) => x.toFixed(2));
}

const at = (flag: string) => process.argv.indexOf(flag);
if (at('--serve-bare') >= 0) await serveBare(JSON.parse(process.argv[at('--serve-bare') + 1]!) as BareSpec);
else if (at('--load') >= 0) await loadChild(JSON.parse(process.argv[at('--load') + 1]!) as GetLoadOptions);
else await main();

/**
 * Live push: time from a write's 201 to its event at an SSE subscriber
 * (`GET /stream`) and at a GraphQL subscriber (`availabilityChanged` over
 * graphql-ws), with many other SSE subscribers connected; then what 10,000
 * idle SSE subscribers cost the hub in memory.
 *
 * Writes: `POST /inventory/updates {type: 'sale', lines: [{sku, qty: 1}]}`
 * at RATE writes/s in total, spread over STORES stores (each with its own
 * token) and SKUS SKUs, so a (store, SKU) pair is written once every
 * STORES*SKUS/RATE s (never two writes of one pair in flight). The stores
 * have no agents (registered as `sync-hub stores add` does, stocked through
 * `POST /inventory/updates`): an edge agent per store costs a process each,
 * which this machine cannot spare for 100 stores; the hub's push path after
 * the commit is the same for an agent's sale (the feed is fed by the
 * committed state's changes, whoever made them). The hub runs with rate
 * limits off (`--rate-limit-key 0 --rate-limit-ip 0`).
 *
 * Latency: the 201 answers `lines[0].onHand` after the write; the event with
 * the same (storeId, sku, onHand) is that write's. Two probes in this
 * process (same clock as the writer): one SSE (`?types=availability`, every
 * SKU) and one graphql-ws subscription (every SKU). An event that arrives
 * before its 201 has been read counts as 0 ms (and is counted).
 *
 * Load subscribers: SSE clients in a child process (this file with
 * `--subscribers`, raw sockets that only count bytes and events; its open-
 * file limit raised with `ulimit -n` in a child shell), each on one SKU
 * (`?sku=PS-0042&key=…`), as a product page would be: with N of them, every
 * write reaches N/SKUS of them. Stepped through STEPS subscriber counts
 * (more children added at each step); reported: the first step at which
 * the p99 of either probe is over 100 ms.
 *
 * Memory: a fresh hub process on the same database (10,000 (store, SKU)
 * pairs), VmRSS / RssAnon from /proc/<pid>/status and V8 heap from its
 * /metrics, before and after MEM_SUBSCRIBERS idle SSE subscribers (each on
 * one SKU, snapshot received).
 *
 * Run alone: node --import tsx bench/push.ts
 * Env: BENCH_PUSH_RATE (1000), BENCH_PUSH_STORES (100), BENCH_PUSH_SKUS (100),
 * BENCH_PUSH_SECONDS (15 per step), BENCH_PUSH_STEPS (1000,2000,5000),
 * BENCH_PUSH_MEM_SUBSCRIBERS (10000; 0 skips the memory phase).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, hubGet, registerStores, sleep, spawnHub, type BenchDatabase, type HubProcess } from './lib/hub-fixture.js';
import { post } from './lib/http-load.js';
import { now, percentile } from './lib/stats.js';

const RATE = Number(process.env.BENCH_PUSH_RATE ?? 1_000);
const STORE_COUNT = Number(process.env.BENCH_PUSH_STORES ?? 100);
const SKU_COUNT = Number(process.env.BENCH_PUSH_SKUS ?? 100);
const SECONDS = Number(process.env.BENCH_PUSH_SECONDS ?? 15);
const STEPS = (process.env.BENCH_PUSH_STEPS ?? '1000,2000,5000').split(',').map(Number);
const MEM_SUBSCRIBERS = Number(process.env.BENCH_PUSH_MEM_SUBSCRIBERS ?? 10_000);
const WARMUP_S = 3;
/** After the measured window, how long late events may still arrive. */
const GRACE_MS = 3_000;
/** Writes in flight at most; beyond it the writer falls behind RATE (reported). */
const MAX_IN_FLIGHT = 200;
const CROSS_MS = 100;
const STORES = Array.from({ length: STORE_COUNT }, (_, i) => `ps${String(i + 1).padStart(3, '0')}`);
const SKUS = Array.from({ length: SKU_COUNT }, (_, i) => `PS-${String(i + 1).padStart(4, '0')}`);
const START_STOCK = 1_000_000;
const HUB_ARGS = ['--rate-limit-key', '0', '--rate-limit-ip', '0'];

// ---------------------------------------------------------------- child: load subscribers

interface SubscriberSpec {
  url: string;
  key: string;
  count: number;
  /** Subscriber i watches SKUS[(offset + i) % SKUS.length]. */
  offset: number;
  skus: string[];
}

interface SubscriberStats {
  connected: number;
  open: number;
  failed: number;
  events: number;
  bytes: number;
  firstFailure: string | null;
}

/** Raw-socket SSE clients that only count: the load, not the measurement. */
async function subscribersChild(spec: SubscriberSpec): Promise<void> {
  const u = new URL(spec.url);
  const st: SubscriberStats = { connected: 0, open: 0, failed: 0, events: 0, bytes: 0, firstFailure: null };
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const sku = spec.skus[(spec.offset + i) % spec.skus.length]!;
      const sock = connect(Number(u.port), u.hostname);
      let head = true;
      let seen = '';
      const fail = (why: string) => {
        st.failed++;
        st.firstFailure ??= why;
        resolve();
      };
      sock.on('connect', () =>
        sock.write(`GET /stream?sku=${sku}&types=availability&key=${encodeURIComponent(spec.key)} HTTP/1.1\r\nhost: ${u.host}\r\naccept: text/event-stream\r\n\r\n`),
      );
      sock.on('data', (chunk: Buffer) => {
        st.bytes += chunk.length;
        const s = chunk.toString('latin1');
        if (head) {
          seen += s;
          if (!seen.includes('\r\n\r\n')) return;
          head = false;
          if (!seen.startsWith('HTTP/1.1 200')) {
            sock.destroy();
            return fail(seen.slice(0, 200));
          }
          st.connected++;
          st.open++;
          resolve();
        }
        for (let at = s.indexOf('event: availability'); at >= 0; at = s.indexOf('event: availability', at + 1)) st.events++;
      });
      sock.on('error', (e) => {
        if (head) fail(e.message);
      });
      sock.on('close', () => {
        if (!head) st.open--;
        else fail('closed before the answer');
      });
    });
  // Connect in waves, as a crowd of browsers would, not 10,000 SYNs at once.
  const WAVE = 200;
  for (let i = 0; i < spec.count; i += WAVE) await Promise.all(Array.from({ length: Math.min(WAVE, spec.count - i) }, (_, j) => one(i + j)));
  process.stdout.write(`READY ${JSON.stringify(st)}\n`);
  createInterface({ input: process.stdin }).on('line', () => process.stdout.write(`STATS ${JSON.stringify(st)}\n`));
  process.stdin.on('end', () => process.exit(0));
}

interface SubscriberGroup {
  child: ChildProcess;
  ready: SubscriberStats;
  stats(): Promise<SubscriberStats>;
  stop(): Promise<void>;
}

/** `sh -c 'ulimit -n <hard>; exec node … --subscribers <spec>'`. */
function startSubscribers(spec: SubscriberSpec): Promise<SubscriberGroup> {
  const script = fileURLToPath(import.meta.url);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${q(process.execPath)} --import tsx ${q(script)} --subscribers ${q(JSON.stringify(spec))}`;
  const child = spawn('sh', ['-c', cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => process.stderr.write(`[subscribers] ${d}`));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const waiters: ((s: SubscriberStats) => void)[] = [];
  return new Promise((resolve, reject) => {
    let ready: SubscriberStats | null = null;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) {
        ready = JSON.parse(line.slice(6)) as SubscriberStats;
        resolve({
          child,
          ready,
          stats: () =>
            new Promise((r) => {
              waiters.push(r);
              child.stdin!.write('stats\n');
            }),
          stop: async () => {
            child.stdin!.end();
            const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(t);
          },
        });
      } else if (line.startsWith('STATS ')) waiters.shift()?.(JSON.parse(line.slice(6)) as SubscriberStats);
    });
    child.once('exit', (code) => {
      if (ready === null) reject(new Error(`subscriber child exited (${code}) before it was ready`));
    });
  });
}

// ---------------------------------------------------------------- probes and writer

interface Write {
  t201: number;
  sse: number | null;
  gql: number | null;
}

/** (storeId|sku|onHand) → the write that produced it; events may come before the 201 is read. */
class Ledger {
  readonly writes = new Map<string, Write>();
  earlyEvents = { sse: 0, gql: 0 };
  private readonly early = new Map<string, { sse: number | null; gql: number | null }>();

  wrote(key: string, t: number): Write {
    const e = this.early.get(key);
    this.early.delete(key);
    const w: Write = { t201: t, sse: e?.sse ?? null, gql: e?.gql ?? null };
    this.writes.set(key, w);
    return w;
  }

  event(via: 'sse' | 'gql', key: string, t: number): void {
    const w = this.writes.get(key);
    if (w !== undefined) {
      if (w[via] === null) w[via] = t;
      return;
    }
    const e = this.early.get(key) ?? { sse: null, gql: null };
    if (e[via] === null) {
      e[via] = t;
      this.earlyEvents[via]++;
    }
    this.early.set(key, e);
  }

  /** Forgets everything (between steps); events still in flight then count as early and are dropped later. */
  clear(): void {
    this.writes.clear();
    this.early.clear();
    this.earlyEvents = { sse: 0, gql: 0 };
  }
}

const keyOf = (store: string, sku: string, onHand: number) => `${store}|${sku}|${onHand}`;

interface StockEvent {
  storeId: string;
  sku: string;
  onHand: number;
}

function sseProbe(hubUrl: string, readKey: string, ledger: Ledger): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${hubUrl}/stream?types=availability`, { headers: { authorization: `Bearer ${readKey}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE probe: ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      let snapshotDone = false;
      res.on('data', (d: string) => {
        const t = now();
        buf += d;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'snapshot') {
            if ((JSON.parse(data) as { final: boolean }).final && !snapshotDone) {
              snapshotDone = true;
              resolve(() => req.destroy());
            }
          } else if (event === 'availability') {
            const s = JSON.parse(data) as StockEvent;
            ledger.event('sse', keyOf(s.storeId, s.sku, s.onHand), t);
          } else if (event === 'error') log(`SSE probe: error event ${data}`);
        }
      });
      res.on('end', () => log('SSE probe: the stream ended'));
    });
    req.on('error', (e) => reject(e));
  });
}

async function gqlProbe(hubUrl: string, readKey: string, ledger: Ledger): Promise<Client> {
  const client = createClient({ url: `${hubUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${readKey}` }, retryAttempts: 0 });
  await new Promise<void>((resolve, reject) => {
    const off = client.on('connected', () => {
      off();
      resolve();
    });
    client.subscribe(
      { query: 'subscription { availabilityChanged { stock { storeId sku onHand } } }' },
      {
        next: (r) => {
          const s = (r.data as { availabilityChanged: { stock: StockEvent } } | null)?.availabilityChanged.stock;
          if (s) ledger.event('gql', keyOf(s.storeId, s.sku, s.onHand), now());
        },
        error: (e) => {
          log(`GraphQL probe: error ${JSON.stringify(e).slice(0, 300)}`);
          reject(e instanceof Error ? e : new Error(JSON.stringify(e)));
        },
        complete: () => log('GraphQL probe: completed'),
      },
    );
  });
  await sleep(300); // the subscribe message reached the hub
  return client;
}

interface WriteRun {
  issued: number;
  answered: number;
  failed: number;
  firstFailure: string | null;
  /** 201 latencies of the writes sent inside the measured window. */
  writeLatencies: number[];
  /** Keys of the writes sent inside the measured window (answered 201, whenever). */
  measured: string[];
  /** 201s that arrived inside the measured window (the throughput). */
  answeredInWindow: number;
  windowMs: number;
}

/** Paces RATE writes/s for warmup + SECONDS, round-robin over the (store, SKU) pairs. */
async function writeLoad(hubUrl: string, tokens: Map<string, string>, ledger: Ledger, cursor: { k: number }): Promise<WriteRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: 100 });
  const run: WriteRun = { issued: 0, answered: 0, failed: 0, firstFailure: null, writeLatencies: [], measured: [], answeredInWindow: 0, windowMs: SECONDS * 1000 };
  const start = now();
  const from = start + WARMUP_S * 1000;
  const to = from + SECONDS * 1000;
  let inFlight = 0;
  const one = async (): Promise<void> => {
    const k = cursor.k++;
    const store = STORES[k % STORES.length]!;
    const sku = SKUS[Math.floor(k / STORES.length) % SKUS.length]!;
    const body = `{"idempotencyKey":"w${k}","storeId":"${store}","type":"sale","lines":[{"sku":"${sku}","qty":1}]}`;
    inFlight++;
    const t0 = now();
    try {
      const r = await post(agent, hubUrl, '/inventory/updates', body, { authorization: `Bearer ${tokens.get(store)!}` });
      const t = now();
      if (r.status !== 201) {
        run.failed++;
        run.firstFailure ??= `${r.status} ${r.body.slice(0, 200)}`;
        return;
      }
      run.answered++;
      const onHand = (JSON.parse(r.body) as { lines: { onHand: number }[] }).lines[0]!.onHand;
      const key = keyOf(store, sku, onHand);
      ledger.wrote(key, t);
      if (t >= from && t <= to) run.answeredInWindow++;
      if (t0 >= from && t0 <= to) {
        run.measured.push(key);
        run.writeLatencies.push(t - t0);
      }
    } catch (e) {
      run.failed++;
      run.firstFailure ??= (e as Error).message;
    } finally {
      inFlight--;
    }
  };
  const pending: Promise<void>[] = [];
  while (now() < to) {
    const due = Math.floor(((now() - start) / 1000) * RATE) - run.issued;
    for (let i = 0; i < due && inFlight < MAX_IN_FLIGHT; i++) {
      run.issued++;
      pending.push(one());
    }
    await sleep(2);
  }
  await Promise.all(pending);
  agent.destroy();
  return run;
}

// ---------------------------------------------------------------- hub memory

interface HubMemory {
  rssMb: number;
  rssAnonMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
}

async function hubMemory(hub: HubProcess, readKey: string): Promise<HubMemory> {
  const status = readFileSync(`/proc/${hub.pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const r = await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${readKey}` }, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  return {
    rssMb: kb('VmRSS') / 1024,
    rssAnonMb: kb('RssAnon') / 1024,
    heapUsedMb: metric('scoville_nodejs_heap_size_used_bytes'),
    heapTotalMb: metric('scoville_nodejs_heap_size_total_bytes'),
    externalMb: metric('scoville_nodejs_external_memory_bytes'),
  };
}

const fmtMem = (m: HubMemory) => `RSS ${m.rssMb.toFixed(1)} MB (anon ${m.rssAnonMb.toFixed(1)}), heap used ${m.heapUsedMb.toFixed(1)} / total ${m.heapTotalMb.toFixed(1)} MB, external ${m.externalMb.toFixed(1)} MB`;
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

interface HubStatus {
  storefront: { subscribers: number; published: number; dropped: number; wsClients: number } | null;
}

// ---------------------------------------------------------------- main

interface StepResult {
  subscribers: number;
  connected: number;
  writesPerS: number;
  writeP50: number;
  writeP99: number;
  sse: { p50: number; p99: number; n: number; missing: number };
  gql: { p50: number; p99: number; n: number; missing: number };
  early: { sse: number; gql: number };
  dropped: number;
  loadEventsPerS: number;
  loadavg: string;
  failed: number;
}

function latencyOf(ledger: Ledger, keys: readonly string[], via: 'sse' | 'gql') {
  const lat: number[] = [];
  let missing = 0;
  for (const k of keys) {
    const w = ledger.writes.get(k)!;
    const t = w[via];
    if (t === null) missing++;
    else lat.push(Math.max(0, t - w.t201));
  }
  return { p50: lat.length ? percentile(lat, 50) : NaN, p99: lat.length ? percentile(lat, 99) : NaN, n: lat.length, missing };
}

async function main(): Promise<void> {
  let db: BenchDatabase | null = null;
  let hub: HubProcess | null = null;
  const groups: SubscriberGroup[] = [];
  const clients: Client[] = [];
  const closers: (() => void)[] = [];
  try {
    db = await createBenchDatabase();
    const reg = await registerStores(db.url, STORES);
    hub = await spawnHub(db.url, 'hub-push', 60_000, HUB_ARGS);
    const agent = new Agent({ keepAlive: true });
    for (const store of STORES) {
      const body = JSON.stringify({ idempotencyKey: `stock-${store}`, storeId: store, type: 'restock', lines: SKUS.map((sku) => ({ sku, qty: START_STOCK })) });
      const r = await post(agent, hub.url, '/inventory/updates', body, { authorization: `Bearer ${reg.tokens.get(store)!}` });
      if (r.status !== 201) throw new Error(`restock at ${store}: ${r.status} ${r.body}`);
    }
    agent.destroy();
    log(
      `hub ${hub.url} (db ${db.name}); ${STORES.length} stores without agents × ${SKUS.length} SKUs stocked; writes: ${RATE}/s sales, ${WARMUP_S} s warmup + ${SECONDS} s per step; ` +
        `load subscribers on one SKU each; steps ${STEPS.join(', ')}; load average ${loadavg()}`,
    );

    const ledger = new Ledger();
    closers.push(await sseProbe(hub.url, reg.readKey, ledger));
    clients.push(await gqlProbe(hub.url, reg.readKey, ledger));

    const cursor = { k: 0 };
    const steps: StepResult[] = [];
    let have = 0;
    for (const target of STEPS) {
      if (target > have) {
        const g = await startSubscribers({ url: hub.url, key: reg.readKey, count: target - have, offset: have, skus: SKUS });
        groups.push(g);
        if (g.ready.failed > 0) log(`PROBLEM: ${g.ready.failed} of ${target - have} load subscribers did not connect: ${g.ready.firstFailure}`);
        have = target;
      }
      const connected = (await Promise.all(groups.map((g) => g.stats()))).reduce((a, s) => a + s.open, 0);
      await sleep(1_000);
      const before = (await hubGet<HubStatus>(hub.url, '/status', reg.readKey)).storefront!;
      const ev0 = (await Promise.all(groups.map((g) => g.stats()))).reduce((a, s) => a + s.events, 0);
      const t0 = now();
      ledger.clear();
      const run = await writeLoad(hub.url, reg.tokens, ledger, cursor);
      await sleep(GRACE_MS);
      const ev1 = (await Promise.all(groups.map((g) => g.stats()))).reduce((a, s) => a + s.events, 0);
      const t1 = now();
      const after = (await hubGet<HubStatus>(hub.url, '/status', reg.readKey)).storefront!;
      const mem = await hubMemory(hub, reg.readKey);
      const open = (await Promise.all(groups.map((g) => g.stats()))).reduce((a, s) => a + s.open, 0);
      const s: StepResult = {
        subscribers: target,
        connected,
        writesPerS: run.answeredInWindow / SECONDS,
        writeP50: run.writeLatencies.length ? percentile(run.writeLatencies, 50) : NaN,
        writeP99: run.writeLatencies.length ? percentile(run.writeLatencies, 99) : NaN,
        sse: latencyOf(ledger, run.measured, 'sse'),
        gql: latencyOf(ledger, run.measured, 'gql'),
        early: { ...ledger.earlyEvents },
        dropped: after.dropped - before.dropped,
        loadEventsPerS: (ev1 - ev0) / ((t1 - t0) / 1000),
        loadavg: loadavg(),
        failed: run.failed,
      };
      steps.push(s);
      log(
        `${target} load subscribers (${connected} open before, ${open} after; hub counts ${after.subscribers} feed subscribers): ` +
          `${s.writesPerS.toFixed(0)} writes/s answered in the window (${run.issued} issued in all, ${run.failed} failed${run.firstFailure ? `: ${run.firstFailure}` : ''}), ` +
          `201 p50 ${s.writeP50.toFixed(1)} / p99 ${s.writeP99.toFixed(1)} ms; ` +
          `201→SSE p50 ${s.sse.p50.toFixed(2)} / p99 ${s.sse.p99.toFixed(2)} ms (${s.sse.n} events, ${s.sse.missing} missing); ` +
          `201→GraphQL p50 ${s.gql.p50.toFixed(2)} / p99 ${s.gql.p99.toFixed(2)} ms (${s.gql.n}, ${s.gql.missing} missing); ` +
          `events before their 201 was read: SSE ${s.early.sse}, GraphQL ${s.early.gql}; ` +
          `load subscribers received ${s.loadEventsPerS.toFixed(0)} events/s; hub dropped ${s.dropped} slow subscribers; hub ${fmtMem(mem)}; load average ${s.loadavg}`,
      );
      // Every step runs (the trend past the crossing says how steep it is), unless a probe got nothing.
      if (s.sse.n === 0 || s.gql.n === 0) break;
    }
    for (const c of closers) c();
    await Promise.all(clients.map((c) => c.dispose()));
    await Promise.all(groups.splice(0).map((g) => g.stop()));

    // ------------------------------------------------------------ memory: a fresh hub, idle subscribers
    let memFigures: Figure[] = [];
    if (MEM_SUBSCRIBERS > 0) {
      await hub.stop();
      hub = await spawnHub(db.url, 'hub-push-mem', 60_000, HUB_ARGS);
      await sleep(5_000);
      const m0 = await hubMemory(hub, reg.readKey);
      log(`memory: fresh hub ${hub.url} (pid ${hub.pid}), before: ${fmtMem(m0)}; load average ${loadavg()}`);
      const tc = now();
      const g = await startSubscribers({ url: hub.url, key: reg.readKey, count: MEM_SUBSCRIBERS, offset: 0, skus: SKUS });
      groups.push(g);
      const connectS = (now() - tc) / 1000;
      await sleep(5_000);
      const st = await g.stats();
      const hs = (await hubGet<HubStatus>(hub.url, '/status', reg.readKey)).storefront!;
      const m1 = await hubMemory(hub, reg.readKey);
      log(
        `memory: ${st.open} of ${MEM_SUBSCRIBERS} idle SSE subscribers open (${st.failed} failed${st.firstFailure ? `: ${st.firstFailure}` : ''}; hub counts ${hs.subscribers}), connected in ${connectS.toFixed(1)} s; ` +
          `after: ${fmtMem(m1)}; added RSS ${(m1.rssMb - m0.rssMb).toFixed(1)} MB, heap used ${(m1.heapUsedMb - m0.heapUsedMb).toFixed(1)} MB; load average ${loadavg()}`,
      );
      const per = (mb: number) => ((mb * 1024) / Math.max(1, st.open)).toFixed(1);
      memFigures = [
        {
          name: 'idle_subscribers_added_rss_mb',
          value: m1.rssMb - m0.rssMb,
          unit: 'MB',
          goal: { op: '<=', value: 200 },
          note: `${st.open} idle SSE subscribers (of ${MEM_SUBSCRIBERS}; hub counts ${hs.subscribers}) on a fresh hub: VmRSS ${m0.rssMb.toFixed(1)} → ${m1.rssMb.toFixed(1)} MB (${per(m1.rssMb - m0.rssMb)} KB each), RssAnon ${m0.rssAnonMb.toFixed(1)} → ${m1.rssAnonMb.toFixed(1)} MB`,
        },
        {
          name: 'idle_subscribers_added_heap_mb',
          value: m1.heapUsedMb - m0.heapUsedMb,
          unit: 'MB',
          note: `V8 heap used ${m0.heapUsedMb.toFixed(1)} → ${m1.heapUsedMb.toFixed(1)} MB (${per(m1.heapUsedMb - m0.heapUsedMb)} KB each), total ${m0.heapTotalMb.toFixed(1)} → ${m1.heapTotalMb.toFixed(1)} MB; external ${m0.externalMb.toFixed(1)} → ${m1.externalMb.toFixed(1)} MB; no forced GC in the hub`,
        },
        { name: 'idle_subscribers_open', value: st.open, unit: 'subscribers', goal: { op: '>=', value: MEM_SUBSCRIBERS } },
      ];
    }

    const first = steps[0]!;
    const crossed = steps.find((s) => Math.max(s.sse.p99, s.gql.p99) > CROSS_MS || s.sse.n === 0 || s.gql.n === 0);
    const setup = `${first.subscribers} load SSE subscribers (one SKU each, ${first.loadEventsPerS.toFixed(0)} events/s delivered to them) + 2 probes; ${first.writesPerS.toFixed(0)} sales/s answered over ${STORES.length} stores without agents; load average ${first.loadavg}`;
    const figures: Figure[] = [
      { name: 'sse_p50_ms', value: first.sse.p50, unit: 'ms', goal: { op: '<=', value: 5 }, note: `201 → SSE event; ${setup}` },
      { name: 'sse_p99_ms', value: first.sse.p99, unit: 'ms', goal: { op: '<=', value: 25 }, note: `${first.sse.n} events, ${first.sse.missing} missing, ${first.early.sse} before their 201 was read (counted 0 ms)` },
      { name: 'gql_p50_ms', value: first.gql.p50, unit: 'ms', goal: { op: '<=', value: 5 }, note: '201 → graphql-ws availabilityChanged' },
      { name: 'gql_p99_ms', value: first.gql.p99, unit: 'ms', goal: { op: '<=', value: 25 }, note: `${first.gql.n} events, ${first.gql.missing} missing, ${first.early.gql} before their 201 was read` },
      { name: 'writes_per_s', value: first.writesPerS, unit: 'writes/s', goal: { op: '>=', value: RATE * 0.95 }, note: `201s arriving inside the ${SECONDS} s window; paced at ${RATE}/s, at most ${MAX_IN_FLIGHT} in flight (beyond that the writer falls behind and latencies are of the writes it could send)` },
      { name: 'write_p99_ms', value: first.writeP99, unit: 'ms', note: `POST /inventory/updates 201, p50 ${first.writeP50.toFixed(1)} ms` },
      ...steps.slice(1).flatMap((s): Figure[] => [
        { name: `sse_p99_ms_at_${s.subscribers}`, value: s.sse.p99, unit: 'ms', note: `p50 ${s.sse.p50.toFixed(2)}; ${s.writesPerS.toFixed(0)} writes/s; ${s.loadEventsPerS.toFixed(0)} events/s to the load subscribers; ${s.sse.missing} missing; load average ${s.loadavg}` },
        { name: `gql_p99_ms_at_${s.subscribers}`, value: s.gql.p99, unit: 'ms', note: `p50 ${s.gql.p50.toFixed(2)}; ${s.gql.missing} missing; hub dropped ${s.dropped}` },
      ]),
      {
        name: 'p99_over_100ms_at_subscribers',
        value: crossed?.subscribers ?? steps[steps.length - 1]!.subscribers,
        unit: 'subscribers',
        note: crossed ? `first step (of ${steps.map((s) => s.subscribers).join(', ')}) with either probe's p99 > ${CROSS_MS} ms` : `NOT crossed: p99 ≤ ${CROSS_MS} ms up to the largest step`,
      },
      ...memFigures,
    ];
    report(figures);
  } finally {
    for (const c of closers) c();
    await Promise.all(clients.map((c) => c.dispose())).catch(() => undefined);
    await Promise.all(groups.map((g) => g.stop())).catch(() => undefined);
    await hub?.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
  }
}

const at = process.argv.indexOf('--subscribers');
if (at >= 0) await subscribersChild(JSON.parse(process.argv[at + 1]!) as SubscriberSpec);
else await main();

/**
 * Hub ingest: 100 store agents streaming sales into one sync hub, which
 * group-commits them to PostgreSQL and acks each batch after COMMIT.
 *
 * Setup: a fresh database (dropped at the end), 100 stores s001..s100 with
 * their own token, a read key, and the hub as a child process (the real CLI,
 * `sync-hub --database-url URL start --port 0`). The agents are 100 real `ws`
 * clients in this process speaking the real protocol: hello → welcome, then
 * `batch {seq, delta, events}` messages, seq 1, 2, 3, ... per agent, each one
 * holding the agent's changed counter entries (P, growing N) for the SKUs it
 * sold in that batch plus the matching `sale` events (ids `${replica}:${seq}`,
 * consecutive seqs), at most WINDOW unacked batches per agent.
 *
 * Phases (same run, same Postgres server, in this order):
 *   1. latency: open loop at 5,000 events/s in total (100 agents x 50/s), in
 *      batches every 100 ms (5 events) and then every 20 ms (1 event); per
 *      batch, ack time - scheduled send time (so time spent waiting for a
 *      window slot counts too).
 *   2. naive: 16 pg clients, one transaction per sale (BEGIN; UPDATE inventory
 *      SET available = available - 1 ...; INSERT INTO sale_log ...; COMMIT),
 *      on tables created in the bench database: the baseline.
 *   3. throughput: every agent keeps its window full (closed loop). At
 *      saturation acks arrive in one burst per hub commit (~40,000 events,
 *      ~1 s apart), so the rate is taken over whole commits inside a
 *      MEASURE_MS steady window (see wholeCommits; longer, up to 6 windows,
 *      until it holds 3 whole commits), plus the hub's own commit counters
 *      (GET /status) over the window.
 *   4. pglite: the same closed loop against a hub on embedded PGlite (no
 *      --database-url; a temporary data folder), after the others are gone.
 *
 * A/B: BENCH_HUB_AB_BIN=<other checkout>/apps/sync-hub/bin/sync-hub.js runs
 * that checkout's hub too, each on its own database, migrated and registered
 * with its own code (e.g. `git archive <commit> | tar -x -C dir`, with
 * dir/node_modules a link to this checkout's). Latency phases run for both;
 * throughput (and pglite) in BENCH_HUB_AB_ROUNDS rounds (default 2) taking
 * turns A B, B A, ...; `ab_*` figures compare the two.
 *
 * Every agent restocks its 1,000 SKUs first (batch 1: entries P and 1,000
 * `restock` events), then sells uniformly random SKUs, 1 unit per sale: the
 * worst case for coalescing (a batch of 100 sales carries ~95 entries).
 *
 * Run alone: node --import tsx bench/hub-ingest.ts
 * Env: BENCH_HUB_INGEST_MS (default 10000), BENCH_HUB_EVENTS_PER_BATCH
 * (closed loop, default 100), BENCH_HUB_PHASES=latency100,latency20,naive,throughput,pglite
 * (a subset, for profiling), BENCH_HUB_CPU_PROF=<dir> (profile the hub),
 * BENCH_HUB_AB_BIN / BENCH_HUB_AB_ROUNDS (above).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import pg from 'pg';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, hubCommits, PG_SERVER_URL, registerStores, REPO_ROOT, sleep, spawnHub, type BenchDatabase, type CommitStats, type HubProcess } from './lib/hub-fixture.js';
import { procCpuMs } from './lib/proc-cpu.js';
import { now, percentile } from './lib/stats.js';
import { rng } from './lib/random.js';

const AGENTS = 100;
const SKUS_PER_STORE = 1_000;
const WINDOW = 8;
const EVENTS_PER_BATCH = Number(process.env.BENCH_HUB_EVENTS_PER_BATCH ?? 100);
const WARMUP_MS = 3_000;
const MEASURE_MS = Number(process.env.BENCH_HUB_INGEST_MS ?? 10_000);
/**
 * PGlite runs inside the hub's event loop: a commit blocks it, so 100 agents'
 * full windows (80,000 events per commit) would stall the hub for seconds at a
 * time. The embedded database is for small deployments: 10 agents.
 */
const PGLITE_AGENTS = 10;
const NAIVE_CLIENTS = 16;
const NAIVE_WARMUP_MS = 1_000;
const NAIVE_MS = 8_000;
const OPEN_RATE = 5_000; // events/s, all agents together
const OPEN_WARMUP_MS = 2_000;
const OPEN_MS = 8_000;
const START_P = 1_000_000;
/** For profiling one phase: BENCH_HUB_PHASES=latency20 (default: all; figures of skipped phases read 0). */
const PHASES = new Set((process.env.BENCH_HUB_PHASES ?? 'latency100,latency20,naive,throughput,pglite').split(','));
/** A/B: another checkout's hub (its apps/sync-hub/bin/sync-hub.js) measured in the same run, taking turns with this one. */
const OTHER_ROOT = process.env.BENCH_HUB_AB_BIN ? rootOf(path.resolve(process.env.BENCH_HUB_AB_BIN)) : null;
const AB_ROUNDS = Number(process.env.BENCH_HUB_AB_ROUNDS ?? 2);

const storeIds = Array.from({ length: AGENTS }, (_, i) => `s${String(i + 1).padStart(3, '0')}`);
const skus = Array.from({ length: SKUS_PER_STORE }, (_, i) => `HSS-${String(i).padStart(5, '0')}`);


// ---------------------------------------------------------------- a simulated agent

interface Sent {
  seq: number;
  events: number;
  /** When it was due (open loop) or sent (closed loop), performance.now(). */
  t0: number;
}

type AckListener = (s: Sent, at: number) => void;

class SimAgent {
  readonly replica: string;
  private ws: WebSocket | null = null;
  private readonly n = new Int32Array(SKUS_PER_STORE);
  private readonly rand: () => number;
  private eventSeq = 0;
  private batchSeq = 0;
  private readonly inflight: Sent[] = [];
  /** Batches due but waiting for a window slot (open loop). */
  private readonly waiting: { events: number; t0: number }[] = [];
  private restocked = false;
  closedLoop = false;
  onAck: AckListener = () => {};
  /** Called with (sent - due) for every batch: the load generator's own lag. */
  onSend: (lagMs: number, t0: number) => void = () => {};
  bytesSent = 0;
  closedWith: string | null = null;

  constructor(
    readonly store: string,
    private readonly token: string,
    seed: number,
  ) {
    this.replica = `${store}.bench`;
    this.rand = rng(seed);
  }

  connect(syncUrl: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(syncUrl, { headers: { authorization: `Bearer ${this.token}` }, perMessageDeflate: false });
      this.ws = ws;
      ws.on('error', (e) => reject(e));
      ws.on('close', (code, reason) => {
        this.closedWith = `${code} ${reason.toString()}`;
      });
      ws.once('open', () => {
        this.send(JSON.stringify({ type: 'hello', protocol: '1.0', store: this.store, replica: this.replica, ackedHubSeq: 0, lastEventSeq: 0 }));
      });
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; stream?: string; upTo?: number; seq?: number; code?: string; message?: string };
        switch (m.type) {
          case 'welcome':
            resolve();
            return;
          case 'ack':
            if (m.stream === 'batch') this.acked(m.upTo!);
            return;
          case 'batch':
            this.send(JSON.stringify({ type: 'ack', stream: 'batch', upTo: m.seq }));
            return;
          case 'ping':
            this.send(JSON.stringify({ type: 'pong', t: (m as { t?: number }).t }));
            return;
          case 'error':
            log(`${this.store}: hub error ${m.code}: ${m.message}`);
            return;
          default:
            return;
        }
      });
    });
  }

  get unacked(): number {
    return this.inflight.length;
  }

  private send(frame: string): void {
    this.bytesSent += frame.length;
    this.ws!.send(frame);
  }

  private acked(upTo: number): void {
    const at = now();
    while (this.inflight.length > 0 && this.inflight[0]!.seq <= upTo) this.onAck(this.inflight.shift()!, at);
    // Open loop: due batches that waited for a slot.
    while (this.waiting.length > 0 && this.inflight.length < WINDOW) {
      const w = this.waiting.shift()!;
      this.sendBatch(w.events, w.t0);
    }
    if (this.closedLoop) this.fill();
  }

  /** Closed loop: keep the window full. */
  fill(): void {
    while (this.closedLoop && this.inflight.length < WINDOW) this.sendBatch(EVENTS_PER_BATCH, now());
  }

  /** Open loop: a batch of `events` sales is due at `t0`. */
  due(events: number, t0: number): void {
    if (this.inflight.length < WINDOW && this.waiting.length === 0) this.sendBatch(events, t0);
    else this.waiting.push({ events, t0 });
  }

  /** Batch 1: one restock of every SKU (P), so every later sale is within rights. */
  restock(): void {
    if (this.restocked) return;
    this.restocked = true;
    const at = Date.now();
    const entries = [];
    const events = [];
    for (const sku of skus) {
      const seq = ++this.eventSeq;
      entries.push({ store: this.store, sku, replica: this.replica, p: START_P, n: 0 });
      events.push({ id: `${this.replica}:${seq}`, store: this.store, replica: this.replica, seq, type: 'restock', sku, qty: START_P, at, idempotencyKey: `restock-${this.replica}`, terminal: 'backoffice' });
    }
    const seq = ++this.batchSeq;
    this.inflight.push({ seq, events: events.length, t0: now() });
    this.send(JSON.stringify({ type: 'batch', seq, delta: { entries, transfers: [], reservations: [] }, events }));
  }

  private sendBatch(count: number, t0: number): void {
    const at = Date.now();
    const touched = new Map<number, number>();
    const events: string[] = [];
    for (let i = 0; i < count; i++) {
      const k = Math.floor(this.rand() * SKUS_PER_STORE);
      this.n[k]!++;
      touched.set(k, this.n[k]!);
      const seq = ++this.eventSeq;
      const sku = skus[k]!;
      // Hand-built JSON of exactly what JSON.stringify would give (cheaper for the generator).
      events.push(
        `{"id":"${this.replica}:${seq}","store":"${this.store}","replica":"${this.replica}","seq":${seq},"type":"sale","sku":"${sku}","qty":1,"at":${at},"idempotencyKey":"pos-${this.replica}-${seq}","terminal":"t${seq % 4}"}`,
      );
    }
    const entries: string[] = [];
    for (const [k, n] of touched) entries.push(`{"store":"${this.store}","sku":"${skus[k]}","replica":"${this.replica}","p":${START_P},"n":${n}}`);
    const seq = ++this.batchSeq;
    this.onSend(now() - t0, t0);
    this.inflight.push({ seq, events: count, t0 });
    this.send(`{"type":"batch","seq":${seq},"delta":{"entries":[${entries.join(',')}],"transfers":[],"reservations":[]},"events":[${events.join(',')}]}`);
  }

  close(): void {
    this.ws?.close(1000, 'bench done');
  }
}

async function waitDrained(agents: SimAgent[], timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (agents.some((a) => a.unacked > 0)) {
    if (Date.now() > until) throw new Error(`still ${agents.reduce((s, a) => s + a.unacked, 0)} unacked batches after ${timeoutMs} ms`);
    const dead = agents.find((a) => a.closedWith !== null);
    if (dead) throw new Error(`${dead.store}: the hub closed the link: ${dead.closedWith}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------- phase 1: naive

async function naive(dbUrl: string): Promise<{ perSecond: number; p50: number; p99: number }> {
  const admin = new pg.Client({ connectionString: dbUrl });
  await admin.connect();
  await admin.query(`
    CREATE TABLE inventory (store_id text COLLATE "C" NOT NULL, sku text COLLATE "C" NOT NULL, available bigint NOT NULL, PRIMARY KEY (store_id, sku));
    CREATE TABLE sale_log (
      store_id text COLLATE "C" NOT NULL, event_id text COLLATE "C" NOT NULL, sku text COLLATE "C" NOT NULL, qty bigint NOT NULL,
      at bigint NOT NULL, idempotency_key text, terminal text, PRIMARY KEY (store_id, event_id));`);
  await admin.query(
    `INSERT INTO inventory SELECT 's' || lpad(s::text, 3, '0'), 'HSS-' || lpad(k::text, 5, '0'), $1
     FROM generate_series(1, $2) s, generate_series(0, $3) k`,
    [START_P, AGENTS, SKUS_PER_STORE - 1],
  );
  await admin.query('ANALYZE inventory');
  await admin.end();

  const clients = await Promise.all(
    Array.from({ length: NAIVE_CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      return c;
    }),
  );
  const started = now();
  const from = started + NAIVE_WARMUP_MS;
  const to = from + NAIVE_MS;
  const lat: number[] = [];
  let done = 0;
  await Promise.all(
    clients.map(async (c, ci) => {
      const rand = rng(1000 + ci);
      for (let i = 0; ; i++) {
        const t0 = now();
        if (t0 >= to) return;
        const store = storeIds[Math.floor(rand() * AGENTS)]!;
        const sku = skus[Math.floor(rand() * SKUS_PER_STORE)]!;
        await c.query('BEGIN');
        await c.query('UPDATE inventory SET available = available - 1 WHERE store_id = $1 AND sku = $2', [store, sku]);
        await c.query('INSERT INTO sale_log (store_id, event_id, sku, qty, at, idempotency_key, terminal) VALUES ($1, $2, $3, 1, $4, $5, $6)', [
          store,
          `naive-${ci}:${i}`,
          sku,
          Date.now(),
          `pos-naive-${ci}-${i}`,
          `t${i % 4}`,
        ]);
        await c.query('COMMIT');
        const t1 = now();
        if (t1 >= from && t1 <= to) {
          done++;
          lat.push(t1 - t0);
        }
      }
    }),
  );
  await Promise.all(clients.map((c) => c.end()));
  return { perSecond: done / (NAIVE_MS / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

// ---------------------------------------------------------------- phase 2: closed-loop throughput

interface Throughput {
  eventsPerSecond: number;
  /** Commits (ack bursts) the rate was measured over; 0: plain count over the window. */
  commitsCounted: number;
  batchesPerSecond: number;
  hub: { eventsPerSecond: number; transactionsPerSecond: number; eventsPerCommit: number; batchesPerCommit: number };
  ackP50: number;
  ackP99: number;
  /** CPU per event acked in the window, µs: the hub process, every postgres process, this load generator. */
  cpuUsPerEvent: { hub: number; postgres: number; load: number };
}

/**
 * At saturation acks come in bursts, one per hub commit (~1 s apart, tens of
 * thousands of events each), so a plain count over a fixed window is off by
 * up to one commit. Measured instead from the end of the first burst in the
 * window to the end of the last: the events of the bursts in between over
 * that time. Null when there are fewer than 3 bursts (no saturation).
 */
function wholeCommits(acks: readonly { at: number; events: number }[]): { eventsPerSecond: number; commits: number } | null {
  const GAP_MS = 50;
  const ends: number[] = [];
  const sums: number[] = [];
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    if (i === 0 || a.at - acks[i - 1]!.at > GAP_MS) sums.push(0);
    sums[sums.length - 1]! += a.events;
    ends[sums.length - 1] = a.at;
  }
  if (sums.length < 3) return null;
  const evs = sums.slice(1).reduce((x, y) => x + y, 0);
  return { eventsPerSecond: evs / ((ends[ends.length - 1]! - ends[0]!) / 1000), commits: sums.length - 1 };
}

/**
 * GET /status, or null when the hub does not answer in time: a hub on PGlite
 * runs its database in its own event loop and may not answer for the length
 * of a large commit (the acked rate is measured all the same).
 */
const commitStats = (hubUrl: string, key: string): Promise<CommitStats | null> => hubCommits(hubUrl, key).catch(() => null);

/**
 * CPU ms used so far by the PostgreSQL processes that work for `database`
 * (its backends) and for everyone (WAL writer, checkpointer, background
 * writer), per pid: other databases' backends (tests running meanwhile) are
 * not counted. Null for a hub on PGlite (inside the hub process).
 */
async function postgresCpu(database: string | null): Promise<Map<number, number> | null> {
  return database === null ? null : cpuOf(await postgresPids(database));
}

/** The Postgres processes working for `database` (its backends and the server's writers). */
async function postgresPids(database: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: PG_SERVER_URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
      [database],
    );
    return rows.map((r) => r.pid);
  } finally {
    await c.end();
  }
}

/** CPU ms so far of each of `pids` (from /proc; synchronous and cheap: no socket, no new process). */
function cpuOf(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      out.set(pid, procCpuMs(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ms between two postgresCpu readings, over the pids in both. */
function postgresCpuSpent(before: Map<number, number> | null, after: Map<number, number> | null): number {
  if (before === null || after === null) return NaN;
  let ms = 0;
  for (const [pid, t] of after) {
    const t0 = before.get(pid);
    if (t0 !== undefined) ms += t - t0;
  }
  return ms;
}

const loadCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function throughput(agents: SimAgent[], hubUrl: string, key: string, hubPid: number, database: string | null): Promise<Throughput> {
  let measuring = false;
  let events = 0;
  let batches = 0;
  const lat: number[] = [];
  const acks: { at: number; events: number }[] = [];
  for (const a of agents) {
    a.onAck = (s, at) => {
      if (!measuring) return;
      events += s.events;
      batches++;
      lat.push(at - s.t0);
      acks.push({ at, events: s.events });
    };
  }
  for (const a of agents) {
    a.closedLoop = true;
    a.fill();
  }
  await sleep(WARMUP_MS);
  const before = await commitStats(hubUrl, key);
  measuring = true;
  const t0 = now();
  const cpu0 = { hub: procCpuMs(hubPid), postgres: await postgresCpu(database), load: loadCpuMs() };
  await sleep(MEASURE_MS);
  // A slow (shared, busy) machine makes commits longer than the window: go on
  // until it holds 3 whole commits, for at most 6 windows.
  while (wholeCommits(acks) === null && now() - t0 < 6 * MEASURE_MS) await sleep(MEASURE_MS / 4);
  measuring = false;
  const secs = (now() - t0) / 1000;
  const perEvent = (ms: number): number => (events > 0 ? (ms * 1000) / events : NaN);
  const cpuUsPerEvent = {
    hub: perEvent(procCpuMs(hubPid) - cpu0.hub),
    postgres: perEvent(postgresCpuSpent(cpu0.postgres, await postgresCpu(database))),
    load: perEvent(loadCpuMs() - cpu0.load),
  };
  const after = await commitStats(hubUrl, key);
  for (const a of agents) a.closedLoop = false;
  await waitDrained(agents);
  const whole = wholeCommits(acks);
  // 0: the hub did not answer GET /status in time.
  const tx = before && after ? after.transactions - before.transactions : 0;
  const inserted = before && after ? after.events - before.events : 0;
  return {
    // Fewer than 3 whole commits even so: the hub's own count (±1 commit), else the acks in the window.
    eventsPerSecond: whole?.eventsPerSecond ?? (before && after ? inserted / secs : events / secs),
    batchesPerSecond: batches / secs,
    commitsCounted: whole?.commits ?? 0,
    hub: {
      eventsPerSecond: inserted / secs,
      transactionsPerSecond: tx / secs,
      eventsPerCommit: tx > 0 ? inserted / tx : 0,
      batchesPerCommit: tx > 0 && before && after ? (after.items - before.items) / tx : 0,
    },
    ackP50: lat.length ? percentile(lat, 50) : NaN,
    ackP99: lat.length ? percentile(lat, 99) : NaN,
    cpuUsPerEvent,
  };
}

// ---------------------------------------------------------------- phase 3: open-loop latency

interface OpenLoop {
  p50: number;
  p99: number;
  /** How late the generator sent batches (incl. waiting for a window slot), p99. */
  sendLagP99: number;
  /** Max ack latency per second of the window (by due time). */
  perSecondMax: number[];
  max: number;
  batches: number;
  achievedEventsPerSecond: number;
  transactionsPerSecond: number;
  eventsPerCommit: number;
  /** CPU per event in the measured window, µs (see Throughput). */
  cpuUsPerEvent: { hub: number; postgres: number };
}

async function openLoop(agents: SimAgent[], intervalMs: number, hubUrl: string, key: string, hubPid: number, database: string | null): Promise<OpenLoop> {
  const perBatch = Math.round((OPEN_RATE / agents.length) * (intervalMs / 1000));
  const lat: number[] = [];
  const lags: number[] = [];
  const perSecondMax = new Array<number>(Math.ceil(OPEN_MS / 1000)).fill(0);
  let events = 0;
  let measureFrom = Infinity;
  let measureTo = Infinity;
  for (const a of agents) {
    a.onAck = (s) => {
      if (s.t0 >= measureFrom && s.t0 < measureTo) {
        const ms = now() - s.t0;
        lat.push(ms);
        events += s.events;
        const b = Math.floor((s.t0 - measureFrom) / 1000);
        perSecondMax[b] = Math.max(perSecondMax[b]!, ms);
      }
    };
    a.onSend = (lag, t0) => {
      if (t0 >= measureFrom && t0 < measureTo) lags.push(lag);
    };
  }
  const start = now() + 50;
  measureFrom = start + OPEN_WARMUP_MS;
  measureTo = measureFrom + OPEN_MS;
  // Agent i is due at start + i/AGENTS * interval + k * interval.
  const next = agents.map((_, i) => start + (i / agents.length) * intervalMs);
  let before: CommitStats | null = null;
  let cpuFrom = 0;
  let pgFrom: Map<number, number> | null = null;
  let cpuTo = 0;
  let pgTo: Map<number, number> | null = null;
  // The probes inside the measured window only read /proc and GET /status on a
  // connection already open: a new Postgres connection (a forked backend) or
  // fetch's first use there showed up as the window's first-second spike.
  const pgPids = database === null ? null : await postgresPids(database);
  await hubCommits(hubUrl, key);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = now();
      if (before === null && t >= measureFrom) {
        cpuFrom = procCpuMs(hubPid);
        if (pgPids !== null) pgFrom = cpuOf(pgPids);
        before = { transactions: -1, items: 0, events: 0, failures: 0, degraded: false };
        void hubCommits(hubUrl, key).then((s) => (before = s));
      }
      if (t >= measureTo) {
        cpuTo = procCpuMs(hubPid);
        if (pgPids !== null) pgTo = cpuOf(pgPids);
        return resolve();
      }
      for (let i = 0; i < agents.length; i++) {
        while (next[i]! <= t) {
          agents[i]!.due(perBatch, next[i]!);
          next[i]! += intervalMs;
        }
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  const after = await hubCommits(hubUrl, key);
  // Backends the hub's pool opened during the window (more commits in flight
  // than during the restock): all of their CPU so far, read now, just after it.
  if (pgPids !== null && pgTo !== null) {
    const known = new Set(pgPids);
    for (const [pid, ms] of cpuOf((await postgresPids(database!)).filter((p) => !known.has(p)))) {
      (pgFrom as Map<number, number> | null)?.set(pid, 0);
      (pgTo as Map<number, number>).set(pid, ms);
    }
  }
  await waitDrained(agents);
  const b = before as CommitStats | null;
  const tx = b && b.transactions >= 0 ? after.transactions - b.transactions : NaN;
  const ev = b && b.transactions >= 0 ? after.events - b.events : NaN;
  const secs = OPEN_MS / 1000;
  for (const a of agents) a.onSend = () => {};
  return {
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    sendLagP99: percentile(lags, 99),
    cpuUsPerEvent: { hub: ((cpuTo - cpuFrom) * 1000) / Math.max(1, events), postgres: (postgresCpuSpent(pgFrom, pgTo) * 1000) / Math.max(1, events) },
    perSecondMax,
    max: Math.max(...lat),
    batches: lat.length,
    achievedEventsPerSecond: events / secs,
    transactionsPerSecond: tx / secs,
    eventsPerCommit: ev / tx,
  };
}

// ---------------------------------------------------------------- rigs: a hub, its database and its agents

/** A hub of one checkout (this one, or BENCH_HUB_AB_BIN's) on its own database, with its agents online and restocked. */
interface Rig {
  label: string;
  hub: HubProcess;
  /** The PostgreSQL database's name, null on PGlite. */
  database: string | null;
  agents: SimAgent[];
  readKey: string;
  close(): Promise<void>;
}

type RigDatabase = { url: string } | { dataDir: string };

/** The root of the checkout whose `apps/sync-hub/bin/sync-hub.js` is `bin`. */
function rootOf(bin: string): string {
  return path.resolve(path.dirname(bin), '../../..');
}

async function openRig(label: string, root: string, db: RigDatabase, stores: readonly string[], release: () => Promise<void>): Promise<Rig> {
  const agents: SimAgent[] = [];
  let hub: HubProcess | null = null;
  try {
    const reg = await registerStores('url' in db ? db.url : db, stores, root);
    // spawnHub takes the entry point from BENCH_HUB_BIN and PGlite's folder reaches the CLI as SCOVILLE_HUB_DATA.
    const saved = { bin: process.env.BENCH_HUB_BIN, data: process.env.SCOVILLE_HUB_DATA };
    if (root !== REPO_ROOT) process.env.BENCH_HUB_BIN = path.join(root, 'apps/sync-hub/bin/sync-hub.js');
    if ('dataDir' in db) process.env.SCOVILLE_HUB_DATA = db.dataDir;
    try {
      hub = await spawnHub('url' in db ? db.url : '', `hub-${label}`);
    } finally {
      for (const [k, v] of [['BENCH_HUB_BIN', saved.bin], ['SCOVILLE_HUB_DATA', saved.data]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    log(`${label}: hub ${hub.url} (pid ${hub.pid}) from ${root}`);
    stores.forEach((s, i) => agents.push(new SimAgent(s, reg.tokens.get(s)!, 7 + i)));
    const h = hub;
    await Promise.all(agents.map((a) => a.connect(h.syncUrl)));
    for (const a of agents) a.restock();
    await waitDrained(agents);
    if ('url' in db) {
      // The restock's rows would have autovacuum analyze and vacuum the tables
      // about a minute later, inside whichever phase runs then (a likely source
      // of the spikes seen in the latency phases' first second): do it now, so
      // every phase starts from the same settled tables.
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query('VACUUM ANALYZE').finally(() => c.end());
    }
    log(`${label}: ${stores.length} agents online and restocked (${stores.length * SKUS_PER_STORE} restock events committed)`);
    return {
      label,
      hub: h,
      database: 'url' in db ? decodeURIComponent(new URL(db.url).pathname.slice(1)) : null,
      agents,
      readKey: reg.readKey,
      close: async () => {
        for (const a of agents) a.close();
        await h.stop();
        await release();
      },
    };
  } catch (e) {
    for (const a of agents) a.close();
    await hub?.stop();
    await release();
    throw e;
  }
}

async function postgresRig(label: string, root: string): Promise<{ rig: Rig; db: BenchDatabase }> {
  const db = await createBenchDatabase();
  log(`${label}: database ${db.name}`);
  return { rig: await openRig(label, root, { url: db.url }, storeIds, () => db.drop()), db };
}

async function pgliteRig(label: string, root: string): Promise<Rig> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'scoville-bench-pglite-'));
  return openRig(label, root, { dataDir }, storeIds.slice(0, PGLITE_AGENTS), () => rm(dataDir, { recursive: true, force: true }));
}

/**
 * Closed-loop throughput of each rig, in rounds; the rigs take turns in
 * ABBA order (A B, B A, ...) so a drift of the machine's load hits both alike.
 */
async function throughputRounds(rigs: readonly Rig[], rounds: number): Promise<Map<string, Throughput[]>> {
  const out = new Map<string, Throughput[]>(rigs.map((r) => [r.label, []]));
  for (let i = 0; i < rounds; i++) {
    for (const rig of i % 2 === 0 ? rigs : [...rigs].reverse()) {
      const t = await throughput(rig.agents, rig.hub.url, rig.readKey, rig.hub.pid, rig.database);
      out.get(rig.label)!.push(t);
      log(
        `${rig.label} round ${i + 1}: ${t.eventsPerSecond.toFixed(0)} events/s acked (over ${t.commitsCounted} whole commits; ${t.batchesPerSecond.toFixed(0)} batches/s); hub counted ` +
          `${t.hub.eventsPerSecond.toFixed(0)} events/s inserted in ${t.hub.transactionsPerSecond.toFixed(2)} tx/s ` +
          `(${t.hub.eventsPerCommit.toFixed(0)} events, ${t.hub.batchesPerCommit.toFixed(0)} batches per commit); closed-loop ack p50 ${t.ackP50.toFixed(0)} ms p99 ${t.ackP99.toFixed(0)} ms; ` +
          `CPU per event: hub ${t.cpuUsPerEvent.hub.toFixed(1)} µs, postgres ${t.cpuUsPerEvent.postgres.toFixed(1)} µs, load generator ${t.cpuUsPerEvent.load.toFixed(1)} µs`,
      );
    }
  }
  return out;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The rounds of one rig as one Throughput (means). */
function merged(ts: readonly Throughput[]): Throughput {
  if (ts.length === 0) return SKIPPED_THROUGHPUT;
  const m = (f: (t: Throughput) => number) => mean(ts.map(f));
  return {
    eventsPerSecond: m((t) => t.eventsPerSecond),
    commitsCounted: ts.reduce((a, t) => a + t.commitsCounted, 0),
    batchesPerSecond: m((t) => t.batchesPerSecond),
    hub: {
      eventsPerSecond: m((t) => t.hub.eventsPerSecond),
      transactionsPerSecond: m((t) => t.hub.transactionsPerSecond),
      eventsPerCommit: m((t) => t.hub.eventsPerCommit),
      batchesPerCommit: m((t) => t.hub.batchesPerCommit),
    },
    ackP50: m((t) => t.ackP50),
    ackP99: m((t) => t.ackP99),
    cpuUsPerEvent: { hub: m((t) => t.cpuUsPerEvent.hub), postgres: m((t) => t.cpuUsPerEvent.postgres), load: m((t) => t.cpuUsPerEvent.load) },
  };
}

function logOpenLoop(label: string, every: number, o: OpenLoop): void {
  log(
    `${label}: open loop 5,000 events/s, batches every ${every} ms: ack p50 ${o.p50.toFixed(1)} ms, p99 ${o.p99.toFixed(1)} ms, max ${o.max.toFixed(1)} ms ` +
      `(${o.batches} batches, ${o.achievedEventsPerSecond.toFixed(0)} events/s, ${o.transactionsPerSecond.toFixed(1)} tx/s, ${o.eventsPerCommit.toFixed(1)} events/commit; ` +
      `generator send lag p99 ${o.sendLagP99.toFixed(1)} ms; max per second: ${o.perSecondMax.map((x) => x.toFixed(0)).join(' ')}; ` +
      `CPU per event: hub ${o.cpuUsPerEvent.hub.toFixed(1)} µs, postgres ${o.cpuUsPerEvent.postgres.toFixed(1)} µs)`,
  );
}

// ---------------------------------------------------------------- main

const SKIPPED_OPEN: OpenLoop = { p50: 0, p99: 0, sendLagP99: 0, perSecondMax: [], max: 0, batches: 0, achievedEventsPerSecond: 0, transactionsPerSecond: 0, eventsPerCommit: 0, cpuUsPerEvent: { hub: 0, postgres: 0 } };
const SKIPPED_THROUGHPUT: Throughput = {
  eventsPerSecond: 0,
  commitsCounted: 0,
  batchesPerSecond: 0,
  hub: { eventsPerSecond: 0, transactionsPerSecond: 0, eventsPerCommit: 0, batchesPerCommit: 0 },
  ackP50: 0,
  ackP99: 0,
  cpuUsPerEvent: { hub: 0, postgres: 0, load: 0 },
};

async function main(): Promise<void> {
  log(`${AGENTS} agents x ${SKUS_PER_STORE} SKUs, window ${WINDOW}, ${EVENTS_PER_BATCH} events per batch (closed loop)` + (OTHER_ROOT ? `; A/B against ${OTHER_ROOT}, ${AB_ROUNDS} rounds` : ''));
  const rigs: Rig[] = [];
  const figures: Figure[] = [];
  try {
    const here = await postgresRig('this', REPO_ROOT);
    rigs.push(here.rig);
    if (OTHER_ROOT) rigs.push((await postgresRig('other', OTHER_ROOT)).rig);

    // Latency first: the closed-loop overload below leaves ~0.5 GB of WAL and
    // dead counter tuples behind, which is not what a hub at 5,000 events/s sees.
    const ol100 = new Map<string, OpenLoop>();
    const ol20 = new Map<string, OpenLoop>();
    for (const [every, into] of [[100, ol100], [20, ol20]] as const) {
      if (!PHASES.has(`latency${every}`)) continue;
      for (const rig of rigs) {
        const o = await openLoop(rig.agents, every, rig.hub.url, rig.readKey, rig.hub.pid, rig.database);
        into.set(rig.label, o);
        logOpenLoop(rig.label, every, o);
      }
    }

    // The baseline right before the figure it is compared with (the hubs sit idle meanwhile).
    const nv = PHASES.has('naive') ? await naive(here.db.url) : { perSecond: 0, p50: 0, p99: 0 };
    log(`naive: ${nv.perSecond.toFixed(0)} sales/s (${NAIVE_CLIENTS} clients, one transaction per sale), p50 ${nv.p50.toFixed(2)} ms, p99 ${nv.p99.toFixed(2)} ms`);

    const tps = PHASES.has('throughput') ? await throughputRounds(rigs, OTHER_ROOT ? AB_ROUNDS : 1) : new Map<string, Throughput[]>();
    const tp = merged(tps.get('this') ?? []);
    for (const r of rigs.splice(0)) await r.close();

    // The embedded database: the hub with PGlite in its own process.
    const pgl = new Map<string, Throughput>();
    if (PHASES.has('pglite')) {
      rigs.push(await pgliteRig('this-pglite', REPO_ROOT));
      if (OTHER_ROOT) rigs.push(await pgliteRig('other-pglite', OTHER_ROOT));
      for (const [label, ts] of await throughputRounds(rigs, OTHER_ROOT ? AB_ROUNDS : 1)) pgl.set(label, merged(ts));
      for (const r of rigs.splice(0)) await r.close();
    }

    const o100 = ol100.get('this') ?? SKIPPED_OPEN;
    const o20 = ol20.get('this') ?? SKIPPED_OPEN;
    const pglite = pgl.get('this-pglite') ?? SKIPPED_THROUGHPUT;
    figures.push(
      {
        name: 'hub_events_per_s',
        value: tp.eventsPerSecond,
        unit: 'events/s',
        goal: { op: '>=', value: 50_000 },
        baseline: 'naive_events_per_s',
        note: `acked after COMMIT, over ${tp.commitsCounted} whole commits in ${tps.get('this')?.length ?? 0} steady windows of ${MEASURE_MS / 1000} s or more; ${AGENTS} agents x window ${WINDOW} x ${EVENTS_PER_BATCH} events/batch; hub GET /status: ${tp.hub.eventsPerSecond.toFixed(0)} inserted/s`,
      },
      {
        name: 'naive_events_per_s',
        value: nv.perSecond,
        unit: 'events/s',
        note: `${NAIVE_CLIENTS} pg clients, BEGIN; UPDATE inventory; INSERT sale_log; COMMIT per sale; p99 ${nv.p99.toFixed(1)} ms`,
      },
      { name: 'hub_vs_naive_ratio', value: nv.perSecond > 0 ? tp.eventsPerSecond / nv.perSecond : 0, unit: 'ratio', goal: { op: '>=', value: 15 } },
      { name: 'hub_cpu_us_per_event', value: tp.cpuUsPerEvent.hub, unit: 'µs', note: 'the hub process, closed loop (CPU moves less with the machine\'s load than throughput does)' },
      { name: 'postgres_cpu_us_per_event', value: tp.cpuUsPerEvent.postgres, unit: 'µs', note: `every postgres process; the load generator: ${tp.cpuUsPerEvent.load.toFixed(1)} µs` },
      { name: 'pg_transactions_per_s', value: tp.hub.transactionsPerSecond, unit: 'tx/s', note: 'hub commits during the throughput window (GET /status; ±1 commit)' },
      { name: 'events_per_commit', value: tp.hub.eventsPerCommit, unit: 'events', note: `${tp.hub.batchesPerCommit.toFixed(0)} agent batches per commit` },
      { name: 'ack_p50_ms', value: o100.p50, unit: 'ms', note: 'open loop, 5,000 events/s: 100 agents x 5 events every 100 ms' },
      { name: 'ack_p99_ms', value: o100.p99, unit: 'ms', goal: { op: '<=', value: 50 }, note: `max ${o100.max.toFixed(1)} ms; ${o100.eventsPerCommit.toFixed(1)} events per commit` },
      { name: 'ack_p50_ms_20ms_batches', value: o20.p50, unit: 'ms', note: 'open loop, 5,000 events/s: 100 agents x 1 event every 20 ms' },
      { name: 'ack_p99_ms_20ms_batches', value: o20.p99, unit: 'ms', goal: { op: '<=', value: 50 }, note: `max ${o20.max.toFixed(1)} ms; ${o20.eventsPerCommit.toFixed(1)} events per commit` },
      {
        name: 'pglite_events_per_s',
        value: pglite.eventsPerSecond,
        unit: 'events/s',
        goal: { op: '>=', value: 5_000 },
        note: `the same closed loop, ${PGLITE_AGENTS} agents, against a hub on embedded PGlite (start without --database-url); ${pglite.hub.eventsPerCommit.toFixed(0)} events per commit`,
      },
    );
    if (OTHER_ROOT) {
      const other = merged(tps.get('other') ?? []);
      const otherPglite = pgl.get('other-pglite') ?? SKIPPED_THROUGHPUT;
      figures.push(
        { name: 'ab_other_events_per_s', value: other.eventsPerSecond, unit: 'events/s', note: `${OTHER_ROOT}, rounds taking turns with this checkout's` },
        { name: 'ab_events_ratio', value: ratio(tp.eventsPerSecond, other.eventsPerSecond), unit: 'ratio', note: 'this checkout / the other' },
        { name: 'ab_hub_cpu_ratio', value: ratio(tp.cpuUsPerEvent.hub, other.cpuUsPerEvent.hub), unit: 'ratio', note: `hub CPU per event, this / the other (${other.cpuUsPerEvent.hub.toFixed(1)} µs)` },
        {
          name: 'ab_postgres_cpu_ratio',
          value: ratio(tp.cpuUsPerEvent.postgres, other.cpuUsPerEvent.postgres),
          unit: 'ratio',
          note: `postgres CPU per event, this / the other (${other.cpuUsPerEvent.postgres.toFixed(1)} µs)`,
        },
        { name: 'ab_other_ack_p99_ms', value: ol100.get('other')?.p99 ?? 0, unit: 'ms', note: 'the other checkout, open loop 5,000 events/s, 100 ms batches' },
        { name: 'ab_other_ack_p99_ms_20ms_batches', value: ol20.get('other')?.p99 ?? 0, unit: 'ms', note: 'the other checkout, open loop 5,000 events/s, 20 ms batches' },
        { name: 'ab_other_pglite_events_per_s', value: otherPglite.eventsPerSecond, unit: 'events/s' },
        { name: 'ab_pglite_ratio', value: otherPglite.eventsPerSecond > 0 ? pglite.eventsPerSecond / otherPglite.eventsPerSecond : 0, unit: 'ratio' },
      );
    }
  } finally {
    for (const r of rigs) await r.close().catch((e) => log(`closing ${r.label}: ${String(e)}`));
  }
  report(figures);
}

/** a / b, or 0 where there is no b (a phase that was not run). */
function ratio(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}

await main();

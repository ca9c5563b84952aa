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
 *      MEASURE_MS steady window (see wholeCommits), plus the hub's own commit
 *      counters (GET /status) over the window.
 *
 * Every agent restocks its 1,000 SKUs first (batch 1: entries P and 1,000
 * `restock` events), then sells uniformly random SKUs, 1 unit per sale: the
 * worst case for coalescing (a batch of 100 sales carries ~95 entries).
 *
 * Run alone: node --import tsx bench/hub-ingest.ts
 * Env: BENCH_HUB_INGEST_MS (default 10000), BENCH_HUB_EVENTS_PER_BATCH
 * (closed loop, default 100), BENCH_HUB_PHASES=latency100,latency20,naive,throughput
 * (a subset, for profiling), BENCH_HUB_CPU_PROF=<dir> (profile the hub).
 */
import WebSocket from 'ws';
import pg from 'pg';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, hubCommits, registerStores, sleep, spawnHub, type CommitStats } from './lib/hub-fixture.js';
import { now, percentile } from './lib/stats.js';
import { rng } from './lib/random.js';

const AGENTS = 100;
const SKUS_PER_STORE = 1_000;
const WINDOW = 8;
const EVENTS_PER_BATCH = Number(process.env.BENCH_HUB_EVENTS_PER_BATCH ?? 100);
const WARMUP_MS = 3_000;
const MEASURE_MS = Number(process.env.BENCH_HUB_INGEST_MS ?? 10_000);
const NAIVE_CLIENTS = 16;
const NAIVE_WARMUP_MS = 1_000;
const NAIVE_MS = 8_000;
const OPEN_RATE = 5_000; // events/s, all agents together
const OPEN_WARMUP_MS = 2_000;
const OPEN_MS = 8_000;
const START_P = 1_000_000;
/** For profiling one phase: BENCH_HUB_PHASES=latency20 (default: all; figures of skipped phases read 0). */
const PHASES = new Set((process.env.BENCH_HUB_PHASES ?? 'latency100,latency20,naive,throughput').split(','));

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

async function throughput(agents: SimAgent[], hubUrl: string, key: string): Promise<Throughput> {
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
  const before: CommitStats = await hubCommits(hubUrl, key);
  measuring = true;
  const t0 = now();
  await sleep(MEASURE_MS);
  measuring = false;
  const secs = (now() - t0) / 1000;
  const after: CommitStats = await hubCommits(hubUrl, key);
  for (const a of agents) a.closedLoop = false;
  await waitDrained(agents);
  const tx = after.transactions - before.transactions;
  const whole = wholeCommits(acks);
  return {
    eventsPerSecond: whole?.eventsPerSecond ?? events / secs,
    batchesPerSecond: batches / secs,
    commitsCounted: whole?.commits ?? 0,
    hub: {
      eventsPerSecond: (after.events - before.events) / secs,
      transactionsPerSecond: tx / secs,
      eventsPerCommit: tx > 0 ? (after.events - before.events) / tx : 0,
      batchesPerCommit: tx > 0 ? (after.items - before.items) / tx : 0,
    },
    ackP50: lat.length ? percentile(lat, 50) : NaN,
    ackP99: lat.length ? percentile(lat, 99) : NaN,
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
}

async function openLoop(agents: SimAgent[], intervalMs: number, hubUrl: string, key: string): Promise<OpenLoop> {
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
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = now();
      if (before === null && t >= measureFrom) {
        before = { transactions: -1, items: 0, events: 0, failures: 0, degraded: false };
        void hubCommits(hubUrl, key).then((s) => (before = s));
      }
      if (t >= measureTo) return resolve();
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
    perSecondMax,
    max: Math.max(...lat),
    batches: lat.length,
    achievedEventsPerSecond: events / secs,
    transactionsPerSecond: tx / secs,
    eventsPerCommit: ev / tx,
  };
}

// ---------------------------------------------------------------- main

const SKIPPED_OPEN: OpenLoop = { p50: 0, p99: 0, sendLagP99: 0, perSecondMax: [], max: 0, batches: 0, achievedEventsPerSecond: 0, transactionsPerSecond: 0, eventsPerCommit: 0 };
const SKIPPED_THROUGHPUT: Throughput = {
  eventsPerSecond: 0,
  commitsCounted: 0,
  batchesPerSecond: 0,
  hub: { eventsPerSecond: 0, transactionsPerSecond: 0, eventsPerCommit: 0, batchesPerCommit: 0 },
  ackP50: 0,
  ackP99: 0,
};

async function main(): Promise<void> {
  const db = await createBenchDatabase();
  log(`database ${db.name}; ${AGENTS} agents x ${SKUS_PER_STORE} SKUs, window ${WINDOW}, ${EVENTS_PER_BATCH} events per batch (closed loop)`);
  let hub: Awaited<ReturnType<typeof spawnHub>> | null = null;
  const agents: SimAgent[] = [];
  try {
    const reg = await registerStores(db.url, storeIds);

    hub = await spawnHub(db.url);
    log(`hub ${hub.url} (pid ${hub.pid})`);
    storeIds.forEach((s, i) => agents.push(new SimAgent(s, reg.tokens.get(s)!, 7 + i)));
    await Promise.all(agents.map((a) => a.connect(hub!.syncUrl)));
    for (const a of agents) a.restock();
    await waitDrained(agents);
    log(`${AGENTS} agents online and restocked (${AGENTS * SKUS_PER_STORE} restock events committed)`);

    // Latency first: the closed-loop overload below leaves ~0.5 GB of WAL and
    // dead counter tuples behind, which is not what a hub at 5,000 events/s sees.
    const ol100 = PHASES.has('latency100') ? await openLoop(agents, 100, hub.url, reg.readKey) : SKIPPED_OPEN;
    log(
      `open loop 5,000 events/s, batches every 100 ms: ack p50 ${ol100.p50.toFixed(1)} ms, p99 ${ol100.p99.toFixed(1)} ms, max ${ol100.max.toFixed(1)} ms ` +
        `(${ol100.batches} batches, ${ol100.achievedEventsPerSecond.toFixed(0)} events/s, ${ol100.transactionsPerSecond.toFixed(1)} tx/s, ${ol100.eventsPerCommit.toFixed(1)} events/commit; ` +
        `generator send lag p99 ${ol100.sendLagP99.toFixed(1)} ms; max per second: ${ol100.perSecondMax.map((x) => x.toFixed(0)).join(' ')})`,
    );
    const ol20 = PHASES.has('latency20') ? await openLoop(agents, 20, hub.url, reg.readKey) : SKIPPED_OPEN;
    log(
      `open loop 5,000 events/s, batches every 20 ms: ack p50 ${ol20.p50.toFixed(1)} ms, p99 ${ol20.p99.toFixed(1)} ms, max ${ol20.max.toFixed(1)} ms ` +
        `(${ol20.batches} batches, ${ol20.achievedEventsPerSecond.toFixed(0)} events/s, ${ol20.transactionsPerSecond.toFixed(1)} tx/s, ${ol20.eventsPerCommit.toFixed(1)} events/commit; ` +
        `generator send lag p99 ${ol20.sendLagP99.toFixed(1)} ms; max per second: ${ol20.perSecondMax.map((x) => x.toFixed(0)).join(' ')})`,
    );

    // The baseline right before the figure it is compared with (the hub sits idle meanwhile).
    const nv = PHASES.has('naive') ? await naive(db.url) : { perSecond: 0, p50: 0, p99: 0 };
    log(`naive: ${nv.perSecond.toFixed(0)} sales/s (${NAIVE_CLIENTS} clients, one transaction per sale), p50 ${nv.p50.toFixed(2)} ms, p99 ${nv.p99.toFixed(2)} ms`);

    const tp = PHASES.has('throughput') ? await throughput(agents, hub.url, reg.readKey) : SKIPPED_THROUGHPUT;
    log(
      `throughput: ${tp.eventsPerSecond.toFixed(0)} events/s acked (over ${tp.commitsCounted} whole commits; ${tp.batchesPerSecond.toFixed(0)} batches/s); hub counted ` +
        `${tp.hub.eventsPerSecond.toFixed(0)} events/s inserted in ${tp.hub.transactionsPerSecond.toFixed(2)} tx/s ` +
        `(${tp.hub.eventsPerCommit.toFixed(0)} events, ${tp.hub.batchesPerCommit.toFixed(0)} batches per commit); ` +
        `closed-loop ack p50 ${tp.ackP50.toFixed(0)} ms p99 ${tp.ackP99.toFixed(0)} ms`,
    );

    const figures: Figure[] = [
      {
        name: 'hub_events_per_s',
        value: tp.eventsPerSecond,
        unit: 'events/s',
        goal: { op: '>=', value: 50_000 },
        baseline: 'naive_events_per_s',
        note: `acked after COMMIT, over ${tp.commitsCounted} whole commits in a ${MEASURE_MS / 1000} s steady window; ${AGENTS} agents x window ${WINDOW} x ${EVENTS_PER_BATCH} events/batch; hub GET /status: ${tp.hub.eventsPerSecond.toFixed(0)} inserted/s`,
      },
      {
        name: 'naive_events_per_s',
        value: nv.perSecond,
        unit: 'events/s',
        note: `${NAIVE_CLIENTS} pg clients, BEGIN; UPDATE inventory; INSERT sale_log; COMMIT per sale; p99 ${nv.p99.toFixed(1)} ms`,
      },
      { name: 'hub_vs_naive_ratio', value: nv.perSecond > 0 ? tp.eventsPerSecond / nv.perSecond : 0, unit: 'ratio', goal: { op: '>=', value: 15 } },
      { name: 'pg_transactions_per_s', value: tp.hub.transactionsPerSecond, unit: 'tx/s', note: 'hub commits during the throughput window (GET /status; ±1 commit)' },
      { name: 'events_per_commit', value: tp.hub.eventsPerCommit, unit: 'events', note: `${tp.hub.batchesPerCommit.toFixed(0)} agent batches per commit` },
      { name: 'ack_p50_ms', value: ol100.p50, unit: 'ms', note: 'open loop, 5,000 events/s: 100 agents x 5 events every 100 ms' },
      { name: 'ack_p99_ms', value: ol100.p99, unit: 'ms', goal: { op: '<=', value: 50 }, note: `max ${ol100.max.toFixed(1)} ms; ${ol100.eventsPerCommit.toFixed(1)} events per commit` },
      { name: 'ack_p50_ms_20ms_batches', value: ol20.p50, unit: 'ms', note: 'open loop, 5,000 events/s: 100 agents x 1 event every 20 ms' },
      { name: 'ack_p99_ms_20ms_batches', value: ol20.p99, unit: 'ms', goal: { op: '<=', value: 50 }, note: `max ${ol20.max.toFixed(1)} ms; ${ol20.eventsPerCommit.toFixed(1)} events per commit` },
    ];
    report(figures);
  } finally {
    for (const a of agents) a.close();
    await hub?.stop();
    await db.drop();
  }
}

await main();

/**
 * Scale: how a hub's cost grows with the number of stores. For each size N
 * (default 100 and 1,000; BENCH_SCALE_STORES=100,1000), a fresh PostgreSQL
 * database holding N stores x 1,000 SKUs, two agent replicas per store (so
 * N x 2,000 counter_entries rows, N x 1,000 counters), seeded with SQL in
 * the hub's own schema (its migrations first), then the real hub CLI as a
 * child process (`sync-hub --database-url URL start --port 0`) so its memory
 * is its own:
 *
 *   1. start-up: spawn until the hub logs `hub listening` (state loaded from
 *      Postgres); resident memory (VmRSS, settled) after it, and the peak
 *      (VmHWM) during loading; V8 heap used from its /metrics. An empty hub
 *      (no stores) started first in the same run is the baseline: the part
 *      of start-up and memory that is not state.
 *   2. links: N agents (one per store, replica `<store>.a`) connected at once,
 *      real `ws` clients in this process speaking the protocol (hello 1.1 →
 *      welcome + the other replica's entries + allocation policy); hub RSS
 *      before and after = memory per link.
 *   3. trickle: every link sends one sale (a batch with its entry and event)
 *      every TRICKLE_PERIOD_MS on average, random phase, for TRICKLE_MS: ack
 *      latency (sent → ack, i.e. after the hub's COMMIT).
 *   4. digest: every agent sends the digest of its store (computed here, equal
 *      to the hub's unless something is wrong: a mismatch fails the bench) at
 *      once; round time = first send → last answer, DIGEST_ROUNDS rounds.
 *   5. reads: `GET /inventory/:sku` one at a time (keep-alive) for SKUs carried
 *      by 10, 100 and all N stores (the catalogue below), links still up.
 *
 * SKU catalogue of store i (1,000 slots): C-000..C-099 in every store,
 * B<i/100>-000..299 shared by a block of 100 stores, D<i/10>-000..599 by a
 * block of 10: spreads 10, 100 and N.
 *
 * Run alone: node --import tsx --expose-gc bench/scale.ts
 * Env: BENCH_SCALE_STORES (comma list, 1..2000), BENCH_SCALE_TRICKLE_MS,
 * BENCH_HUB_CPU_PROF=<dir> (profile the hubs, see lib/hub-fixture.ts).
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import pg from 'pg';
import { digestOf, type CounterEntry, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { migrate } from '../apps/sync-hub/src/db/migrations.js';
import { openSqlClient } from '../apps/sync-hub/src/db/open.js';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, sleep, spawnHub, type BenchDatabase, type HubProcess } from './lib/hub-fixture.js';
import { procMemory, settledRss } from './lib/proc-memory.js';
import { rng } from './lib/random.js';
import { now, percentile } from './lib/stats.js';

const SKUS_PER_STORE = 1_000;
const MAX_STORES = 2_000;
const TRICKLE_MS = Number(process.env.BENCH_SCALE_TRICKLE_MS ?? 15_000);
/** Each link sells once per this period on average: 1,000 links → 200 sales/s. */
const TRICKLE_PERIOD_MS = 5_000;
const DIGEST_ROUNDS = 3;
const READS_PER_TIER = 200;
const READ_WARMUP = 30;
const SETTLE_MS = 3_000;
const START_TIMEOUT_MS = 180_000;
const HUB_ARGS = ['--rate-limit-key', '0', '--rate-limit-ip', '0'];
const MB = 1024 * 1024;

function parseSizes(raw: string): number[] {
  const sizes = raw.split(',').map((s) => s.trim());
  for (const s of sizes) {
    if (!/^[1-9][0-9]*$/.test(s) || Number(s) > MAX_STORES) {
      throw new Error(`BENCH_SCALE_STORES: ${JSON.stringify(s)} is not a store count from 1 to ${MAX_STORES} (e.g. 100,1000)`);
    }
  }
  return [...new Set(sizes.map(Number))].sort((a, b) => a - b);
}

// ---------------------------------------------------------------- the seeded data (SQL and JS agree)

const pad = (x: number, w: number): string => String(x).padStart(w, '0');
const storeId = (i: number): StoreId => `st${pad(i, 4)}` as StoreId;
function skuOf(i: number, k: number): Sku {
  if (k < 100) return `C-${pad(k, 3)}` as Sku;
  if (k < 400) return `B${pad(Math.floor(i / 100), 4)}-${pad(k - 100, 3)}` as Sku;
  return `D${pad(Math.floor(i / 10), 4)}-${pad(k - 400, 3)}` as Sku;
}
const SKU_SQL = `CASE WHEN k < 100 THEN 'C-' || lpad(k::text, 3, '0')
  WHEN k < 400 THEN 'B' || lpad((i / 100)::text, 4, '0') || '-' || lpad((k - 100)::text, 3, '0')
  ELSE 'D' || lpad((i / 10)::text, 4, '0') || '-' || lpad((k - 400)::text, 3, '0') END`;
const seededA = (i: number, k: number) => ({ p: 1000 + ((i * 7 + k) % 100), n: (i + k * 3) % 50 });
const seededB = (i: number, k: number) => ({ p: 200 + ((i + k * 11) % 60), n: (i * 3 + k) % 40 });
const P_SQL = `CASE r WHEN 'a' THEN 1000 + (i * 7 + k) % 100 ELSE 200 + (i + k * 11) % 60 END`;
const N_SQL = `CASE r WHEN 'a' THEN (i + k * 3) % 50 ELSE (i * 3 + k) % 40 END`;
const tokenOf = (secret: string, i: number): string => `st_scale_${secret}_${storeId(i)}`;

interface Seeded {
  secret: string;
  readKey: string;
  ms: number;
}

/**
 * The hub's migrations, then stores (token hashes in SQL: sha256 hex, as
 * auth/tokens.ts), replicas, counters and a read key. The counter table's
 * indexes are dropped for the bulk insert and re-created under their own
 * names: the schema ends exactly as migrated, the seed twice as fast.
 */
async function seed(dbUrl: string, stores: number): Promise<Seeded> {
  const t0 = now();
  const client = await openSqlClient({ databaseUrl: dbUrl, poolSize: 2 });
  try {
    await migrate(client);
  } finally {
    await client.close();
  }
  const secret = randomBytes(8).toString('hex');
  const readKey = `sk_scale_${randomBytes(16).toString('hex')}`;
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const at = Date.now();
    await c.query('SET synchronous_commit = off');
    await c.query(
      `INSERT INTO stores (store_id, token_hash, created_at)
       SELECT 'st' || lpad(i::text, 4, '0'), encode(sha256(convert_to('st_scale_' || $2::text || '_st' || lpad(i::text, 4, '0'), 'UTF8')), 'hex'), $3
       FROM generate_series(0, $1::int - 1) i`,
      [stores, secret, at],
    );
    await c.query(
      `INSERT INTO replicas (replica_id, store_id, kind, first_seen)
       SELECT 'st' || lpad(i::text, 4, '0') || '.' || r, 'st' || lpad(i::text, 4, '0'), 'agent', $2
       FROM generate_series(0, $1::int - 1) i, (VALUES ('a'), ('b')) v(r)`,
      [stores, at],
    );
    await c.query(`INSERT INTO api_keys (id, key_hash, role, created_at) VALUES ('key_scale', encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'read', $2)`, [
      readKey,
      at,
    ]);
    await c.query('ALTER TABLE counter_entries DROP CONSTRAINT counter_entries_pkey');
    await c.query(
      `INSERT INTO counter_entries (store_id, sku, replica_id, p, n, change_id)
       SELECT st, sku, st || '.' || r, ${P_SQL}, ${N_SQL}, 1
       FROM (SELECT i, k, 'st' || lpad(i::text, 4, '0') AS st, ${SKU_SQL} AS sku
             FROM generate_series(0, $1::int - 1) i, generate_series(0, ${SKUS_PER_STORE - 1}) k) x, (VALUES ('a'), ('b')) v(r)
       ORDER BY 1, 2, 3`,
      [stores],
    );
    await c.query('ALTER TABLE counter_entries ADD CONSTRAINT counter_entries_pkey PRIMARY KEY (store_id, sku, replica_id)');
    // As if change 1 wrote them: change_log holds nothing at or below its floor (decision 32).
    await c.query(`SELECT setval('hub_change_seq', 1)`);
    await c.query('UPDATE change_log_floor SET floor = 1');
    await c.query('VACUUM ANALYZE');
    const [row] = (await c.query<{ n: string }>('SELECT count(*) AS n FROM counter_entries')).rows;
    if (Number(row?.n) !== stores * SKUS_PER_STORE * 2) throw new Error(`seeded ${row?.n} counter rows, expected ${stores * SKUS_PER_STORE * 2}`);
  } finally {
    await c.end();
  }
  return { secret, readKey, ms: now() - t0 };
}

// ---------------------------------------------------------------- the hub

async function heapUsedBytes(hub: HubProcess, key: string): Promise<number> {
  const r = await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`GET /metrics: ${r.status}`);
  const m = /^scoville_nodejs_heap_size_used_bytes\s+([0-9.e+]+)/m.exec(await r.text());
  if (m === null) throw new Error('GET /metrics: no scoville_nodejs_heap_size_used_bytes');
  return Number(m[1]);
}

interface Started {
  hub: HubProcess;
  /** Spawn until `hub listening`. */
  ms: number;
  /** Spawn until the hub answers promptly (QUIET_MS of /health answers each within QUIET_ANSWER_MS). */
  readyMs: number;
  /** Slowest /health answer after listening: the longest the event loop stood still. */
  stallMs: number;
}

const QUIET_MS = 5_000;
const QUIET_ANSWER_MS = 250;

/**
 * Starts the hub and times it. Listening is not yet serving: work started
 * after the listen (alert checks of every counter) can hold the event loop,
 * so /health is polled until it has answered promptly for QUIET_MS.
 */
async function startTimed(dbUrl: string): Promise<Started> {
  const t0 = now();
  const hub = await spawnHub(dbUrl, 'hub-scale', START_TIMEOUT_MS, HUB_ARGS);
  const ms = now() - t0;
  let quietSince: number | null = null;
  let stallMs = 0;
  for (;;) {
    const a = now();
    const r = await fetch(`${hub.url}/health`, { signal: AbortSignal.timeout(START_TIMEOUT_MS) });
    await r.text();
    const b = now();
    if (b - t0 > START_TIMEOUT_MS) throw new Error(`hub not answering promptly ${START_TIMEOUT_MS} ms after spawn`);
    stallMs = Math.max(stallMs, b - a);
    if (b - a > QUIET_ANSWER_MS) quietSince = null;
    else if (quietSince === null) quietSince = a;
    else if (b - quietSince >= QUIET_MS) return { hub, ms, readyMs: quietSince - t0, stallMs };
    await sleep(100);
  }
}

// ---------------------------------------------------------------- a simulated agent

class ScaleAgent {
  readonly store: StoreId;
  readonly replica: ReplicaId;
  private ws: WebSocket | null = null;
  /** Own entries the bench sold on since the seed: slot k → n. */
  private readonly sold = new Map<number, number>();
  private eventSeq = 0;
  private batchSeq = 0;
  private readonly inflight: { seq: number; t0: number }[] = [];
  /** Entries of the other replica received since welcome. */
  received = 0;
  onAck: (ms: number) => void = () => {};
  onDigest: ((digest: string) => void) | null = null;
  closedWith: string | null = null;
  problems: string[] = [];

  constructor(
    readonly index: number,
    private readonly token: string,
    private readonly rand: () => number,
  ) {
    this.store = storeId(index);
    this.replica = `${this.store}.a` as ReplicaId;
  }

  connect(syncUrl: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(syncUrl, { headers: { authorization: `Bearer ${this.token}` }, perMessageDeflate: false });
      this.ws = ws;
      let welcomed = false;
      ws.on('error', (e) => (welcomed ? this.problems.push(String(e)) : reject(e)));
      ws.on('close', (code, reason) => {
        this.closedWith = `${code} ${reason.toString()}`;
        if (!welcomed) reject(new Error(`${this.store}: closed before welcome: ${this.closedWith}`));
      });
      ws.once('open', () => this.send({ type: 'hello', protocol: '1.1', store: this.store, replica: this.replica, ackedHubSeq: 0, lastEventSeq: 0 }));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as {
          type: string;
          stream?: string;
          upTo?: number;
          seq?: number;
          t?: number;
          digest?: string;
          code?: string;
          message?: string;
          delta?: { entries: unknown[] };
        };
        switch (m.type) {
          case 'welcome':
            welcomed = true;
            resolve();
            return;
          case 'batch':
            this.received += m.delta?.entries.length ?? 0;
            this.send({ type: 'ack', stream: 'batch', upTo: m.seq });
            return;
          case 'ack':
            if (m.stream === 'batch') this.acked(m.upTo!);
            return;
          case 'digest':
            this.onDigest?.(m.digest!);
            return;
          case 'ping':
            this.send({ type: 'pong', t: m.t });
            return;
          case 'error':
            this.problems.push(`hub error ${m.code}: ${m.message}`);
            return;
          default:
            return; // allocation, repair (a mismatch is caught by the digest check)
        }
      });
    });
  }

  private send(msg: unknown): void {
    this.ws!.send(JSON.stringify(msg));
  }

  private acked(upTo: number): void {
    const at = now();
    while (this.inflight.length > 0 && this.inflight[0]!.seq <= upTo) this.onAck(at - this.inflight.shift()!.t0);
  }

  get unacked(): number {
    return this.inflight.length;
  }

  /** One sale of a random SKU: its grown entry and its event, in one batch. */
  sell(): void {
    const k = Math.floor(this.rand() * SKUS_PER_STORE);
    const base = seededA(this.index, k);
    const n = (this.sold.get(k) ?? base.n) + 1;
    this.sold.set(k, n);
    const sku = skuOf(this.index, k);
    const seq = ++this.eventSeq;
    const bseq = ++this.batchSeq;
    this.inflight.push({ seq: bseq, t0: now() });
    this.send({
      type: 'batch',
      seq: bseq,
      delta: { entries: [{ store: this.store, sku, replica: this.replica, p: base.p, n }], transfers: [], reservations: [] },
      events: [{ id: `${this.replica}:${seq}`, store: this.store, replica: this.replica, seq, type: 'sale', sku, qty: 1, at: Date.now(), idempotencyKey: `pos-${this.replica}-${seq}`, terminal: 't1' }],
    });
  }

  /** The digest of the store as this agent holds it: the seed plus its own sales. */
  digest(): { digest: string; entries: number } {
    const entries: CounterEntry[] = [];
    const other = `${this.store}.b` as ReplicaId;
    for (let k = 0; k < SKUS_PER_STORE; k++) {
      const sku = skuOf(this.index, k);
      const a = seededA(this.index, k);
      const b = seededB(this.index, k);
      entries.push({ store: this.store, sku, replica: this.replica, p: a.p, n: this.sold.get(k) ?? a.n });
      entries.push({ store: this.store, sku, replica: other, p: b.p, n: b.n });
    }
    return { digest: digestOf({ entries, transfers: [], reservations: [] }), entries: entries.length };
  }

  sendDigest(d: { digest: string; entries: number }): void {
    this.send({ type: 'digest', store: this.store, digest: d.digest, entries: d.entries });
  }

  close(): void {
    this.ws?.close(1000, 'bench done');
  }
}

function checkAlive(agents: readonly ScaleAgent[]): void {
  const dead = agents.find((a) => a.closedWith !== null || a.problems.length > 0);
  if (dead) throw new Error(`${dead.store}: ${dead.closedWith !== null ? `the hub closed the link: ${dead.closedWith}` : dead.problems[0]}`);
}

async function waitFor(what: string, done: () => boolean, agents: readonly ScaleAgent[], timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    checkAlive(agents);
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------- phases

async function trickle(agents: ScaleAgent[]): Promise<{ p50: number; p99: number; max: number; sales: number }> {
  const lat: number[] = [];
  for (const a of agents) a.onAck = (ms) => lat.push(ms);
  const rand = rng(4242);
  const start = now();
  // Agent i sells at start + phase_i + j * period (random phase, fixed period).
  const next = agents.map(() => start + rand() * TRICKLE_PERIOD_MS);
  let sales = 0;
  await new Promise<void>((resolve, reject) => {
    const tick = (): void => {
      try {
        checkAlive(agents);
      } catch (e) {
        return reject(e);
      }
      const t = now();
      if (t - start >= TRICKLE_MS) return resolve();
      for (let i = 0; i < agents.length; i++) {
        while (next[i]! <= t) {
          agents[i]!.sell();
          sales++;
          next[i]! += TRICKLE_PERIOD_MS;
        }
      }
      setTimeout(tick, 5);
    };
    tick();
  });
  await waitFor('the trickle acks', () => agents.every((a) => a.unacked === 0), agents);
  for (const a of agents) a.onAck = () => {};
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat), sales };
}

/** All agents send their digest at once; time until the hub answered them all. */
async function digestRound(agents: ScaleAgent[]): Promise<{ roundMs: number; p50: number; p99: number; mismatches: string[] }> {
  const ours = agents.map((a) => a.digest());
  const lat: number[] = [];
  const mismatches: string[] = [];
  let answered = 0;
  const t0 = now();
  agents.forEach((a, i) => {
    a.onDigest = (d) => {
      lat.push(now() - t0);
      answered++;
      if (d !== ours[i]!.digest) mismatches.push(a.store);
      a.onDigest = null;
    };
  });
  for (let i = 0; i < agents.length; i++) agents[i]!.sendDigest(ours[i]!);
  await waitFor('the digest answers', () => answered === agents.length, agents);
  return { roundMs: now() - t0, p50: percentile(lat, 50), p99: percentile(lat, 99), mismatches };
}

interface Tier {
  spread: number;
  skus: Sku[];
}

/** SKUs by how many stores carry them: 10 (a D block), 100 (a B block), N (C). */
function tiers(stores: number): Tier[] {
  const out: Tier[] = [];
  const rand = rng(99);
  const pick = (n: number, f: () => Sku): Sku[] => Array.from({ length: n }, f);
  if (stores >= 10) out.push({ spread: 10, skus: pick(20, () => skuOf(Math.floor(rand() * Math.floor(stores / 10)) * 10, 400 + Math.floor(rand() * 600))) });
  if (stores >= 100) out.push({ spread: 100, skus: pick(20, () => skuOf(Math.floor(rand() * Math.floor(stores / 100)) * 100, 100 + Math.floor(rand() * 300))) });
  if (stores !== 10 && stores !== 100) out.push({ spread: stores, skus: pick(20, () => skuOf(0, Math.floor(rand() * 100))) });
  return out;
}

async function reads(hub: HubProcess, key: string, stores: number): Promise<{ all: number[]; byTier: { spread: number; p50: number; p99: number; bytes: number }[] }> {
  const all: number[] = [];
  const byTier = [];
  const get = async (sku: Sku, spread: number): Promise<{ ms: number; bytes: number }> => {
    const t0 = now();
    const r = await fetch(`${hub.url}/inventory/${sku}`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(30_000) });
    const body = await r.text();
    const ms = now() - t0;
    if (r.status !== 200) throw new Error(`GET /inventory/${sku}: ${r.status} ${body.slice(0, 200)}`);
    const n = (JSON.parse(body) as { stores: unknown[] }).stores.length;
    if (n !== Math.min(spread, stores)) throw new Error(`GET /inventory/${sku}: ${n} stores, expected ${spread}`);
    return { ms, bytes: body.length };
  };
  const ts = tiers(stores);
  for (const t of ts) for (let i = 0; i < READ_WARMUP / ts.length; i++) await get(t.skus[i % t.skus.length]!, t.spread);
  for (const t of ts) {
    const lat: number[] = [];
    let bytes = 0;
    for (let i = 0; i < READS_PER_TIER; i++) {
      const r = await get(t.skus[i % t.skus.length]!, t.spread);
      lat.push(r.ms);
      bytes = r.bytes;
    }
    all.push(...lat);
    byTier.push({ spread: t.spread, p50: percentile(lat, 50), p99: percentile(lat, 99), bytes });
  }
  return { all, byTier };
}

// ---------------------------------------------------------------- one size

interface SizeResult {
  stores: number;
  counters: number;
  seedMs: number;
  startMs: number;
  readyMs: number;
  stallMs: number;
  rss: number;
  peakRss: number;
  heap: number;
  linksConnectMs: number;
  linksRssDelta: number;
  linksHeapDelta: number;
  trickle: Awaited<ReturnType<typeof trickle>>;
  digest: { roundMs: number; p50: number; p99: number };
  reads: { p50: number; p99: number; byTier: { spread: number; p50: number; p99: number; bytes: number }[] };
}

async function runSize(stores: number): Promise<SizeResult> {
  const db: BenchDatabase = await createBenchDatabase();
  let hub: HubProcess | null = null;
  const agents: ScaleAgent[] = [];
  try {
    log(`--- ${stores} stores: database ${db.name}`);
    const s = await seed(db.url, stores);
    log(`seeded ${stores} stores x ${SKUS_PER_STORE} SKUs x 2 replicas (${stores * SKUS_PER_STORE * 2} rows) in ${(s.ms / 1000).toFixed(1)} s`);

    const started = await startTimed(db.url);
    hub = started.hub;
    const rss = await settledRss(hub.pid);
    const peakRss = procMemory(hub.pid).peakRssBytes;
    const heap = await heapUsedBytes(hub, s.readKey);
    log(`start-up ${started.ms.toFixed(0)} ms, answering promptly from ${started.readyMs.toFixed(0)} ms (slowest answer ${started.stallMs.toFixed(0)} ms); RSS ${(rss / MB).toFixed(0)} MB (peak ${(peakRss / MB).toFixed(0)} MB), heap used ${(heap / MB).toFixed(0)} MB`);

    for (let i = 0; i < stores; i++) agents.push(new ScaleAgent(i, tokenOf(s.secret, i), rng(1000 + i)));
    const tl = now();
    await Promise.all(agents.map((a) => a.connect(hub!.syncUrl)));
    await waitFor('the catch-up batches', () => agents.every((a) => a.received >= SKUS_PER_STORE), agents);
    const linksConnectMs = now() - tl;
    await sleep(SETTLE_MS);
    const rssLinks = await settledRss(hub.pid);
    const heapLinks = await heapUsedBytes(hub, s.readKey);
    log(`${stores} links connected in ${linksConnectMs.toFixed(0)} ms; RSS ${(rssLinks / MB).toFixed(0)} MB (+${((rssLinks - rss) / MB).toFixed(1)} MB), heap used +${((heapLinks - heap) / MB).toFixed(1)} MB`);

    const tr = await trickle(agents);
    log(`trickle: ${tr.sales} sales in ${TRICKLE_MS / 1000} s, ack p50 ${tr.p50.toFixed(1)} ms, p99 ${tr.p99.toFixed(1)} ms, max ${tr.max.toFixed(1)} ms`);

    const rounds = [];
    for (let r = 0; r < DIGEST_ROUNDS; r++) {
      const d = await digestRound(agents);
      if (d.mismatches.length > 0) throw new Error(`digest mismatch for ${d.mismatches.length} stores (${d.mismatches.slice(0, 3).join(', ')}): the bench and the hub disagree on the state`);
      rounds.push(d);
      log(`digest round ${r + 1}: ${d.roundMs.toFixed(0)} ms for ${stores} stores (answer p50 ${d.p50.toFixed(0)} ms, p99 ${d.p99.toFixed(0)} ms)`);
      await sleep(500);
    }
    rounds.sort((a, b) => a.roundMs - b.roundMs);
    const digest = rounds[Math.floor(rounds.length / 2)]!;

    const rd = await reads(hub, s.readKey, stores);
    log(`GET /inventory/:sku p50 ${percentile(rd.all, 50).toFixed(2)} ms, p99 ${percentile(rd.all, 99).toFixed(2)} ms; ${rd.byTier.map((t) => `${t.spread} stores: p50 ${t.p50.toFixed(2)} p99 ${t.p99.toFixed(2)} ms (${(t.bytes / 1024).toFixed(0)} KiB)`).join('; ')}`);
    checkAlive(agents);
    return {
      stores,
      counters: stores * SKUS_PER_STORE,
      seedMs: s.ms,
      startMs: started.ms,
      readyMs: started.readyMs,
      stallMs: started.stallMs,
      rss,
      peakRss,
      heap,
      linksConnectMs,
      linksRssDelta: rssLinks - rss,
      linksHeapDelta: heapLinks - heap,
      trickle: tr,
      digest,
      reads: { p50: percentile(rd.all, 50), p99: percentile(rd.all, 99), byTier: rd.byTier },
    };
  } finally {
    for (const a of agents) a.close();
    await hub?.stop();
    await db.drop();
  }
}

/** A hub on an empty database: what start-up and memory cost without any state. */
async function emptyHub(): Promise<{ startMs: number; rss: number }> {
  const db = await createBenchDatabase();
  let hub: HubProcess | null = null;
  try {
    const client = await openSqlClient({ databaseUrl: db.url, poolSize: 2 });
    await migrate(client).finally(() => client.close());
    const started = await startTimed(db.url);
    hub = started.hub;
    const rss = await settledRss(hub.pid);
    log(`empty hub: start-up ${started.ms.toFixed(0)} ms (answering promptly from ${started.readyMs.toFixed(0)} ms), RSS ${(rss / MB).toFixed(0)} MB`);
    return { startMs: started.ms, rss };
  } finally {
    await hub?.stop();
    await db.drop();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const sizes = parseSizes(process.env.BENCH_SCALE_STORES ?? '100,1000');
  const empty = await emptyHub();
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await runSize(n));

  const figures: Figure[] = [
    { name: 'startup_ms_empty', value: empty.startMs, unit: 'ms', note: 'hub on an empty database: tsx, migrations check, listeners (the part of start-up that is not state)' },
    { name: 'rss_mb_empty', value: empty.rss / MB, unit: 'MB', note: 'hub on an empty database, settled' },
  ];
  const smallest = results[0]!;
  for (const r of results) {
    const big = r.stores >= 1_000;
    // Growth from the smallest size: the figure's ratio column.
    const base = (name: string): { baseline?: string } => (r === smallest ? {} : { baseline: `${name}_${smallest.stores}` });
    const n = r.stores;
    figures.push(
      {
        name: `startup_ms_${n}`,
        value: r.startMs,
        unit: 'ms',
        ...(big ? { goal: { op: '<=' as const, value: 10_000 } } : {}),
        ...base('startup_ms'),
        note: `${r.counters.toLocaleString('en-US')} counters (${(r.counters * 2).toLocaleString('en-US')} rows): spawn until 'hub listening'; seed took ${(r.seedMs / 1000).toFixed(1)} s`,
      },
      {
        name: `state_load_ms_${n}`,
        value: Math.max(0, r.startMs - empty.startMs),
        unit: 'ms',
        ...base('state_load_ms'),
        note: 'start-up minus the empty hub\'s: the part that grows with the state (two hubs started minutes apart: noisy)',
      },
      {
        name: `ready_ms_${n}`,
        value: r.readyMs,
        unit: 'ms',
        ...base('ready_ms'),
        note: `spawn until /health answered within ${QUIET_ANSWER_MS} ms for ${QUIET_MS / 1000} s; slowest answer after listening ${r.stallMs.toFixed(0)} ms`,
      },
      {
        name: `rss_mb_${n}`,
        value: r.rss / MB,
        unit: 'MB',
        ...(big ? { goal: { op: '<=' as const, value: 1024 } } : {}),
        ...base('rss_mb'),
        note: `after ready; peak during start-up ${(r.peakRss / MB).toFixed(0)} MB; V8 heap used ${(r.heap / MB).toFixed(0)} MB; ${(((r.rss - empty.rss) / r.counters) | 0)} B/counter over the empty hub`,
      },
      { name: `peak_rss_mb_${n}`, value: r.peakRss / MB, unit: 'MB', ...base('peak_rss_mb'), note: 'VmHWM: the most the hub held during start-up' },
      {
        name: `links_mb_${n}`,
        value: r.linksRssDelta / MB,
        unit: 'MB',
        ...(big ? { goal: { op: '<=' as const, value: 200 } } : {}),
        ...base('links_mb'),
        note: `hub RSS with ${n} agent links (after their catch-up) minus before; ${((r.linksRssDelta / n / 1024) | 0)} KiB/link (V8 heap used ${((r.linksHeapDelta / n / 1024) | 0)} KiB/link); all connected in ${r.linksConnectMs.toFixed(0)} ms`,
      },
      {
        name: `ack_p99_ms_${n}`,
        value: r.trickle.p99,
        unit: 'ms',
        ...base('ack_p99_ms'),
        note: `${n} links, each a sale every ${TRICKLE_PERIOD_MS / 1000} s (${(n / (TRICKLE_PERIOD_MS / 1000)).toFixed(0)}/s), ${r.trickle.sales} sales; p50 ${r.trickle.p50.toFixed(1)} ms, max ${r.trickle.max.toFixed(0)} ms`,
      },
      {
        name: `digest_round_ms_${n}`,
        value: r.digest.roundMs,
        unit: 'ms',
        ...base('digest_round_ms'),
        note: `all ${n} stores' digests sent at once until the last answer (median of ${DIGEST_ROUNDS}); answer p50 ${r.digest.p50.toFixed(0)} ms`,
      },
      { name: `get_sku_p50_ms_${n}`, value: r.reads.p50, unit: 'ms', ...base('get_sku_p50_ms') },
      {
        name: `get_sku_p99_ms_${n}`,
        value: r.reads.p99,
        unit: 'ms',
        ...base('get_sku_p99_ms'),
        note: `GET /inventory/:sku one at a time, ${READS_PER_TIER} per spread: ${r.reads.byTier.map((t) => `${t.spread} stores p50 ${t.p50.toFixed(1)} / p99 ${t.p99.toFixed(1)} ms, ${(t.bytes / 1024).toFixed(0)} KiB`).join('; ')}`,
      },
    );
  }
  report(figures);
}

await main();

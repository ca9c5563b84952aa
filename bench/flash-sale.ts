/**
 * Flash sale: one hot SKU, many shoppers at once, every hold durable before
 * its 201, and never more holds than units.
 *
 * One warehouse store `wh1` without an agent (`sync-hub stores add wh1`,
 * stocked through `POST /inventory/updates` with its token), one SKU
 * `HOT-1`, UNITS units per sale. CLIENTS concurrent shoppers, each a loop of
 * `POST /reservations {idempotencyKey, storeId, lines: [{sku, qty: 1}],
 * ttlSeconds}` with a reserve key (`sync-hub keys add --role reserve`) on
 * keep-alive connections (node:http Agent), one request at a time; a shopper
 * leaves at its first refusal (409). The sale is over when every shopper has
 * left. Throughput = 201s / (last 201 - start); latency = per 201.
 *
 * Four systems in the same run, all alive side by side (idle while another
 * is measured), measured in turn, ROUNDS times (after one warmup sale each
 * of WARMUP_UNITS), so background load on the machine hits all alike:
 *   - bare:  hono + @hono/node-server, POST /reservations parses the JSON
 *            and answers 201, no work; the shoppers stop after UNITS 201s in
 *            all: the machine's HTTP ceiling with this load generator.
 *   - hub:   one sync hub (the real CLI, `sync-hub start`) on a fresh database.
 *   - naive: a node:http server doing one PostgreSQL transaction per hold
 *            (pg Pool of NAIVE_POOL): BEGIN; UPDATE stock SET available =
 *            available - 1 WHERE sku = $1 AND available >= 1; INSERT INTO
 *            holds ...; COMMIT (409 when the UPDATE changed no row), on its
 *            own fresh database.
 *   - two hubs: two hub processes (`--replica hub-a`, `hub-b`) on one fresh
 *            database; the stock is restocked at hub-a (so hub-a holds the
 *            rights), shoppers split evenly across the two; hub-b borrows
 *            rights from hub-a through the peer link (NOTIFY).
 *
 * Checks, after every sale (warmup included) and at the end:
 *   - oversell: 201s of a sale <= the available units before it (GET
 *     /inventory), and `held` (GET /inventory, on every hub process, once
 *     they agree) == all 201s so far; naive: the holds table and stock row.
 *   - refusals while stock remained: a 409 whose answer arrived before a
 *     later-sent request got its 201 (nothing is released during the run,
 *     so that unit was unreserved when the 409 was decided); and units still
 *     available once every shopper has left.
 *   - durability: every 201's reservation id is a row of `carts` in the
 *     hub's database (read directly after the run).
 * Correctness figures have the goal 0; a violation is reported (figure,
 * notes, log lines with the details), not thrown.
 *
 * Same-run A/B: BENCH_FLASH_COMPARE=<another checkout>/apps/sync-hub/bin/sync-hub.js
 * adds a fifth system `hub_cmp` (that checkout's hub, one process, its own
 * fresh database), measured right after `hub` in every round, so both see
 * the same background load; figures `cmp_*` and `hub_vs_cmp_ratio`.
 *
 * Run alone: node --import tsx bench/flash-sale.ts
 * Env: BENCH_FLASH_UNITS (default 2000), BENCH_FLASH_ROUNDS (default 3),
 * BENCH_FLASH_CLIENTS (default 200), BENCH_FLASH_COMPARE (default none). The servers are children: this file
 * again with `--serve bare` or `--serve naive <databaseUrl>`, and the hubs.
 */
import { randomBytes } from 'node:crypto';
import { Agent, createServer, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, hubCli, hubCommits, sleep, spawnHub, type BenchDatabase, type HubProcess } from './lib/hub-fixture.js';
import { post, serveBareHono, startServerChild, type Reply, type Server } from './lib/http-load.js';
import { now, percentile } from './lib/stats.js';

const UNITS = Number(process.env.BENCH_FLASH_UNITS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_FLASH_ROUNDS ?? 3);
const CLIENTS = Number(process.env.BENCH_FLASH_CLIENTS ?? 200);
const COMPARE_BIN = process.env.BENCH_FLASH_COMPARE ?? '';
const WARMUP_UNITS = 1_000;
const NAIVE_POOL = 20;
const STORE = 'wh1';
const SKU = 'HOT-1';
const TTL_SECONDS = 86_400; // nothing lapses during the run
/** A sale that has not ended after this long is cut off (and reported). */
const SALE_DEADLINE_MS = 180_000;

// ---------------------------------------------------------------- children: bare and naive servers

function answer(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

/** The naive design: one transaction (one WAL flush) per hold, on the hot row. */
async function serveNaive(dbUrl: string): Promise<Server> {
  const pool = new pg.Pool({ connectionString: dbUrl, max: NAIVE_POOL });
  pool.on('error', () => undefined);
  const hold = async (raw: string, res: ServerResponse): Promise<void> => {
    let b: { idempotencyKey: string; storeId: string; lines: { sku: string; qty: number }[] };
    try {
      b = JSON.parse(raw) as typeof b;
    } catch {
      return answer(res, 400, { error: { code: 'bad_json' } });
    }
    const line = b.lines?.[0];
    if (typeof b.idempotencyKey !== 'string' || line === undefined || !(Number.isInteger(line.qty) && line.qty > 0)) {
      return answer(res, 400, { error: { code: 'invalid_request' } });
    }
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const u = await c.query('UPDATE stock SET available = available - $2 WHERE sku = $1 AND available >= $2', [line.sku, line.qty]);
      if (u.rowCount === 0) {
        await c.query('ROLLBACK');
        return answer(res, 409, { error: { code: 'insufficient_stock', lines: [{ sku: line.sku, requested: line.qty }] } });
      }
      const id = `r_${randomBytes(12).toString('hex')}`;
      await c.query('INSERT INTO holds (id, idempotency_key, store_id, sku, qty, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        b.idempotencyKey,
        b.storeId,
        line.sku,
        line.qty,
        Date.now(),
      ]);
      await c.query('COMMIT');
      answer(res, 201, { id, storeId: b.storeId, status: 'active', lines: [{ sku: line.sku, qty: line.qty }] });
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      answer(res, 500, { error: { code: 'internal', message: String(e) } });
    } finally {
      c.release();
    }
  };
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/reservations') return answer(res, 404, { error: { code: 'not_found' } });
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => void hold(raw, res));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    stop: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await pool.end();
    },
  };
}

async function serveChild(mode: string, dbUrl: string | undefined): Promise<void> {
  const s = mode === 'bare' ? await serveBareHono('/reservations') : await serveNaive(dbUrl!);
  process.stdout.write(`READY ${s.url}\n`);
  process.once('SIGTERM', () => {
    const force = setTimeout(() => process.exit(0), 3_000);
    void s.stop().finally(() => {
      clearTimeout(force);
      process.exit(0);
    });
  });
}

function startChild(mode: 'bare' | 'naive', dbUrl?: string): Promise<Server> {
  return startServerChild(fileURLToPath(import.meta.url), ['--serve', mode, ...(dbUrl ? [dbUrl] : [])], mode);
}

// ---------------------------------------------------------------- the load: shoppers

/** Where one group of shoppers sends its holds. */
interface Endpoint {
  name: string;
  url: string;
  agent: Agent;
  headers: Record<string, string>;
}

function endpoint(name: string, url: string, auth?: string): Endpoint {
  return {
    name,
    url,
    agent: new Agent({ keepAlive: true, maxSockets: CLIENTS, keepAliveMsecs: 30_000 }),
    headers: auth ? { authorization: `Bearer ${auth}` } : {},
  };
}

interface Refusal {
  /** performance.now() when the 409 arrived. */
  at: number;
  endpoint: string;
  /** What the refusing process said it had (409 body `error.lines[0].available`). */
  available: number | null;
}

interface Sale {
  label: string;
  /** performance.now() at the start. */
  started: number;
  holds: number;
  durationMs: number;
  perSecond: number;
  latencies: number[];
  holdsByEndpoint: Record<string, number>;
  refusals: Refusal[];
  /** 409s answered before some later-sent request got a 201. */
  refusedWithStock: Refusal[];
  errors: string[];
  ids: string[];
  cutOff: boolean;
}

/**
 * One flash sale: CLIENTS shoppers, shopper c at endpoints[c % n], each
 * holding 1 unit per request until its first refusal. With `cap`, the
 * shoppers stop after `cap` requests in all (the bare server never refuses).
 */
async function flashSale(label: string, endpoints: readonly Endpoint[], cap: number | null, stockHint: number): Promise<Sale> {
  const latencies: number[] = [];
  const okSends: number[] = [];
  const refusals: Refusal[] = [];
  const errors: string[] = [];
  const ids: string[] = [];
  const holdsByEndpoint: Record<string, number> = Object.fromEntries(endpoints.map((e) => [e.name, 0]));
  let issued = 0;
  let lastOk = 0;
  let cutOff = false;
  const start = now();
  const deadline = start + SALE_DEADLINE_MS;
  const runaway = stockHint * 2 + 1_000;
  const shopper = async (c: number): Promise<void> => {
    const ep = endpoints[c % endpoints.length]!;
    for (let n = 0; ; n++) {
      if (cap !== null && issued >= cap) return;
      if (now() > deadline || ids.length > runaway) {
        cutOff = true;
        return;
      }
      issued++;
      const payload = `{"idempotencyKey":"${label}-c${c}-${n}","storeId":"${STORE}","lines":[{"sku":"${SKU}","qty":1}],"ttlSeconds":${TTL_SECONDS}}`;
      const t0 = now();
      let r: Reply;
      try {
        r = await post(ep.agent, ep.url, '/reservations', payload, ep.headers);
      } catch (e) {
        errors.push(`${ep.name}: ${(e as Error).message}`);
        return;
      }
      const t1 = now();
      if (r.status === 201) {
        latencies.push(t1 - t0);
        okSends.push(t0);
        lastOk = Math.max(lastOk, t1);
        holdsByEndpoint[ep.name]!++;
        const id = (JSON.parse(r.body) as { id?: string }).id;
        if (id !== undefined) ids.push(id);
        continue;
      }
      if (r.status === 409) {
        let available: number | null = null;
        try {
          available = (JSON.parse(r.body) as { error: { lines?: { available?: number }[] } }).error.lines?.[0]?.available ?? null;
        } catch {
          // not JSON
        }
        refusals.push({ at: t1, endpoint: ep.name, available });
        return;
      }
      errors.push(`${ep.name}: ${r.status} ${r.body.slice(0, 300)}`);
      return;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => shopper(c)));
  const lastOkSend = okSends.reduce((a, b) => Math.max(a, b), -Infinity);
  const durationMs = (lastOk || now()) - start;
  return {
    label,
    started: start,
    holds: latencies.length,
    durationMs,
    perSecond: latencies.length / (durationMs / 1000),
    latencies,
    holdsByEndpoint,
    refusals,
    refusedWithStock: refusals.filter((r) => r.at < lastOkSend),
    errors,
    ids,
    cutOff,
  };
}

// ---------------------------------------------------------------- the systems

interface Stock {
  available: number;
  held: number;
}

interface System {
  name: string;
  endpoints: Endpoint[];
  /** Adds `units` and returns what is available to sell now (every process agreeing). */
  restock(units: number): Promise<number>;
  /** After a sale: stock as the system reports it (for hubs: once every process agrees, or the first's view). */
  stock(expectHeld: number): Promise<Stock & { agree: boolean; views: string }>;
  /** Ids of every durable hold, read from the database (null: nothing to check). */
  durableIds(): Promise<Set<string> | null>;
  /** Hub transactions so far, summed over the processes (GET /status), for holds per commit. */
  transactions?(): Promise<number>;
}

/** `bin`: the CLI that registers (the compared checkout's own, for its own schema). */
async function hubSystem(name: string, db: BenchDatabase, hubs: HubProcess[], bin?: string): Promise<System> {
  const cli = <T>(args: readonly string[]): Promise<T> => hubCli<T>(db.url, args, undefined, bin);
  const token = (await cli<{ token: string }>(['stores', 'add', STORE])).token;
  const reserveKey = (await cli<{ key: string }>(['keys', 'add', '--role', 'reserve'])).key;
  const readKey = (await cli<{ key: string }>(['keys', 'add', '--role', 'read'])).key;
  let restocks = 0;
  const view = async (h: HubProcess): Promise<Stock> => {
    const r = await fetch(`${h.url}/inventory?storeId=${STORE}&sku=${SKU}`, { headers: { authorization: `Bearer ${readKey}` }, signal: AbortSignal.timeout(10_000) });
    if (r.status === 404) return { available: 0, held: 0 };
    if (!r.ok) throw new Error(`${name}: GET /inventory ${r.status} ${await r.text()}`);
    const j = (await r.json()) as Stock;
    return { available: j.available, held: j.held };
  };
  /** Polls every hub until `ok` holds for all of them (or 15 s). */
  const views = async (ok: (s: Stock) => boolean): Promise<{ all: Stock[]; agree: boolean }> => {
    const until = Date.now() + 15_000;
    for (;;) {
      const all = await Promise.all(hubs.map(view));
      if (all.every(ok)) return { all, agree: true };
      if (Date.now() > until) return { all, agree: false };
      await sleep(50);
    }
  };
  return {
    name,
    endpoints: hubs.map((h, i) => endpoint(hubs.length > 1 ? `${name}/${String.fromCharCode(97 + i)}` : name, h.url, reserveKey)),
    async restock(units) {
      const before = await view(hubs[0]!);
      const body = JSON.stringify({ idempotencyKey: `restock-${++restocks}`, storeId: STORE, type: 'restock', lines: [{ sku: SKU, qty: units }] });
      const r = await post(new Agent(), hubs[0]!.url, '/inventory/updates', body, { authorization: `Bearer ${token}` });
      if (r.status !== 201) throw new Error(`${name}: restock answered ${r.status}: ${r.body}`);
      const want = before.available + units;
      const v = await views((s) => s.available === want);
      if (!v.agree) {
        const raw = await Promise.all(
          hubs.map(async (h) => {
            const x = await fetch(`${h.url}/inventory?storeId=${STORE}&sku=${SKU}`, { headers: { authorization: `Bearer ${readKey}` } });
            return `${h.url}: ${x.status} ${await x.text()}`;
          }),
        );
        throw new Error(`${name}: after restocking ${units} at ${hubs[0]!.url} (${r.body}), the hubs report ${raw.join('; ')}; want available ${want}`);
      }
      return want;
    },
    async stock(expectHeld) {
      const v = await views((s) => s.held === expectHeld);
      const first = v.all[0]!;
      const agree = v.agree && v.all.every((s) => s.available === first.available);
      return { ...first, agree, views: v.all.map((s, i) => `${hubs[i]!.url}: held ${s.held}, available ${s.available}`).join('; ') };
    },
    transactions: async () => (await Promise.all(hubs.map((h) => hubCommits(h.url, readKey)))).reduce((a, x) => a + x.transactions, 0),
    async durableIds() {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const r = await c.query<{ cart_id: string }>('SELECT cart_id FROM carts WHERE store_id = $1', [STORE]);
        return new Set(r.rows.map((x) => x.cart_id));
      } finally {
        await c.end();
      }
    },
  };
}

async function naiveSystem(db: BenchDatabase, server: Server): Promise<System> {
  const q = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query<R>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    name: 'naive',
    endpoints: [endpoint('naive', server.url)],
    async restock(units) {
      const [r] = await q<{ available: string }>('UPDATE stock SET available = available + $2 WHERE sku = $1 RETURNING available', [SKU, units]);
      return Number(r!.available);
    },
    async stock() {
      const [s] = await q<{ available: string }>('SELECT available FROM stock WHERE sku = $1', [SKU]);
      const [h] = await q<{ n: string }>('SELECT coalesce(sum(qty), 0) AS n FROM holds WHERE sku = $1', [SKU]);
      const st = { available: Number(s!.available), held: Number(h!.n) };
      return { ...st, agree: true, views: `held ${st.held}, available ${st.available}` };
    },
    async durableIds() {
      return new Set((await q<{ id: string }>('SELECT id FROM holds')).map((r) => r.id));
    },
  };
}

function bareSystem(server: Server): System {
  return {
    name: 'bare',
    endpoints: [endpoint('bare', server.url)],
    restock: async (units) => units,
    stock: async (expectHeld) => ({ available: 0, held: expectHeld, agree: true, views: '' }),
    durableIds: async () => null,
  };
}

// ---------------------------------------------------------------- bookkeeping per system

interface Tally {
  sales: Sale[];
  /** Measured sales only (not the warmup). */
  measured: Sale[];
  holdsSoFar: number;
  oversold: number;
  refusedWithStock: number;
  /** Units still available after a sale in which every shopper had left. */
  unsold: number;
  heldMismatch: number;
  errors: number;
  problems: string[];
  ids: string[];
}

const newTally = (): Tally => ({ sales: [], measured: [], holdsSoFar: 0, oversold: 0, refusedWithStock: 0, unsold: 0, heldMismatch: 0, errors: 0, problems: [], ids: [] });

async function runSale(sys: System, t: Tally, label: string, units: number, measured: boolean): Promise<void> {
  const forSale = await sys.restock(units);
  const tx0 = await sys.transactions?.();
  const sale = await flashSale(label, sys.endpoints, sys.name === 'bare' ? units : null, forSale);
  const tx = tx0 === undefined ? null : (await sys.transactions!()) - tx0;
  t.sales.push(sale);
  if (measured) t.measured.push(sale);
  t.holdsSoFar += sale.holds;
  t.ids.push(...sale.ids);
  const after = await sys.stock(t.holdsSoFar);
  const over = Math.max(0, sale.holds - forSale);
  const byEp = Object.entries(sale.holdsByEndpoint)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  log(
    `${label}: ${sale.holds} holds of ${forSale} units in ${sale.durationMs.toFixed(0)} ms = ${sale.perSecond.toFixed(0)}/s ` +
      `(${byEp}); p50 ${percentile(sale.latencies, 50).toFixed(1)} ms, p99 ${percentile(sale.latencies, 99).toFixed(1)} ms; ` +
      `${sale.refusals.length} refusals, ${sale.errors.length} errors` +
      (tx === null ? '' : `; ${tx} hub transactions (${(sale.holds / Math.max(1, tx)).toFixed(1)} holds each)`) +
      `; after: ${after.views || 'n/a'}`,
  );
  if (sys.name === 'bare') return;
  if (over > 0) {
    t.oversold += over;
    t.problems.push(`${label}: OVERSOLD ${over}: ${sale.holds} holds answered 201 for ${forSale} units`);
  }
  if (!after.agree || after.held !== t.holdsSoFar) {
    t.heldMismatch += Math.abs(after.held - t.holdsSoFar) || 1;
    t.problems.push(`${label}: held != 201s so far (${t.holdsSoFar}), or the processes disagree: ${after.views}`);
  }
  // Units left at the end of the run (a sale's leftover is for sale again in the next one).
  t.unsold = after.available;
  if (after.available > 0) {
    // Nothing is released during the run: every refusal of this sale was answered while these units were free.
    t.refusedWithStock += sale.refusals.length;
    t.problems.push(
      `${label}: ${after.available} units still available after every shopper had been refused, so all ${sale.refusals.length} refusals ` +
        `were answered while stock remained (${after.views})`,
    );
  } else t.refusedWithStock += sale.refusedWithStock.length;
  if (sale.refusedWithStock.length > 0) {
    const first = sale.refusedWithStock.reduce((a, r) => (r.at < a.at ? r : a));
    const byEpRef = new Map<string, number>();
    for (const r of sale.refusedWithStock) byEpRef.set(r.endpoint, (byEpRef.get(r.endpoint) ?? 0) + 1);
    const avail = [...new Set(sale.refusedWithStock.map((r) => r.available))].slice(0, 10);
    t.problems.push(
      `${label}: ${sale.refusedWithStock.length} of ${sale.refusals.length} refusals (409 insufficient_stock) were answered while stock remained ` +
        `(a request sent after the 409 arrived still got a 201); by process: ${[...byEpRef].map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
        `'available' in those 409 bodies: ${avail.join(', ')}; the first ${(first.at - sale.started).toFixed(0)} ms into the sale, ` +
        `the last 201 at ${sale.durationMs.toFixed(0)} ms; ` +
        `${sale.holds} holds of ${forSale} units, ${after.available} left unsold`,
    );
  }
  if (sale.errors.length > 0 || sale.cutOff) {
    t.errors += sale.errors.length + (sale.cutOff ? 1 : 0);
    t.problems.push(`${label}: ${sale.errors.length} errors${sale.cutOff ? ' (cut off)' : ''}: ${[...new Set(sale.errors)].slice(0, 5).join(' | ')}`);
  }
}

function summary(t: Tally): { perSecond: number; p50: number; p99: number; holds: number } {
  const holds = t.measured.reduce((a, s) => a + s.holds, 0);
  const ms = t.measured.reduce((a, s) => a + s.durationMs, 0);
  const lat = t.measured.flatMap((s) => s.latencies);
  return { perSecond: holds / (ms / 1000), p50: lat.length ? percentile(lat, 50) : NaN, p99: lat.length ? percentile(lat, 99) : NaN, holds };
}

async function checkDurable(sys: System, t: Tally): Promise<number> {
  const durable = await sys.durableIds();
  if (durable === null) return 0;
  const missing = t.ids.filter((id) => !durable.has(id));
  const dupes = t.ids.length - new Set(t.ids).size;
  if (missing.length > 0 || dupes > 0 || durable.size !== t.ids.length) {
    t.problems.push(
      `${sys.name}: ${missing.length} of ${t.ids.length} reservation ids answered 201 are not in the database (e.g. ${missing.slice(0, 3).join(', ')}); ` +
        `${dupes} duplicate ids; the database holds ${durable.size} for ${STORE}`,
    );
  }
  return missing.length + dupes;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  log(`${CLIENTS} shoppers (keep-alive), 1 unit per hold; warmup sale of ${WARMUP_UNITS}, then ${ROUNDS} sales of ${UNITS} units per system, interleaved`);
  const dbs: BenchDatabase[] = [];
  const servers: Server[] = [];
  const hubs: HubProcess[] = [];
  try {
    const [hubDb, twoDb, naiveDb] = await Promise.all([createBenchDatabase(), createBenchDatabase(), createBenchDatabase()]);
    dbs.push(hubDb!, twoDb!, naiveDb!);
    const admin = new pg.Client({ connectionString: naiveDb!.url });
    await admin.connect();
    await admin.query(`
      CREATE TABLE stock (sku text COLLATE "C" PRIMARY KEY, available bigint NOT NULL CHECK (available >= 0));
      CREATE TABLE holds (id text COLLATE "C" PRIMARY KEY, idempotency_key text COLLATE "C" NOT NULL UNIQUE, store_id text NOT NULL,
        sku text COLLATE "C" NOT NULL, qty bigint NOT NULL, created_at bigint NOT NULL);
      INSERT INTO stock VALUES ('${SKU}', 0);`);
    await admin.end();

    // Migrate each hub database (through the CLI) before its hub starts.
    await Promise.all([hubCli(hubDb!.url, ['stores', 'list']), hubCli(twoDb!.url, ['stores', 'list'])]);
    const [bare, naive, one, a] = await Promise.all([
      startChild('bare'),
      startChild('naive', naiveDb!.url),
      spawnHub(hubDb!.url, 'hub-one'),
      spawnHub(twoDb!.url, 'hub-a'),
    ]);
    servers.push(bare, naive);
    hubs.push(one, a);
    // hub-b after hub-a is registered, so it knows whom to borrow from.
    const b = await spawnHub(twoDb!.url, 'hub-b');
    hubs.push(b);
    log(`bare ${bare.url}; naive ${naive.url} (db ${naiveDb!.name}); hub ${one.url} (db ${hubDb!.name}); hub-a ${a.url}, hub-b ${b.url} (db ${twoDb!.name})`);

    const sys: System[] = await Promise.all([bareSystem(bare), hubSystem('hub', hubDb!, [one]), naiveSystem(naiveDb!, naive), hubSystem('two_hubs', twoDb!, [a, b])]);
    if (COMPARE_BIN !== '') {
      const cmpDb = await createBenchDatabase();
      dbs.push(cmpDb);
      // Migrated and registered by the compared checkout's own CLI: it may understand an older schema only.
      await hubCli(cmpDb.url, ['stores', 'list'], undefined, COMPARE_BIN);
      const cmp = await spawnOtherHub(COMPARE_BIN, cmpDb.url, 'hub-cmp');
      hubs.push(cmp);
      log(`hub_cmp ${cmp.url} (${COMPARE_BIN}, db ${cmpDb.name})`);
      sys.splice(2, 0, await hubSystem('hub_cmp', cmpDb, [cmp], COMPARE_BIN));
    }
    const tallies = new Map(sys.map((s) => [s.name, newTally()]));
    for (const s of sys) await runSale(s, tallies.get(s.name)!, `${s.name}-warmup`, WARMUP_UNITS, false);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const s of sys) await runSale(s, tallies.get(s.name)!, `${s.name}-r${round}`, UNITS, true);
    }
    const lost = new Map<string, number>();
    for (const s of sys) lost.set(s.name, await checkDurable(s, tallies.get(s.name)!));

    const T = (n: string) => tallies.get(n)!;
    const [sb, sh, sn, s2] = ['bare', 'hub', 'naive', 'two_hubs'].map((n) => summary(T(n))) as [ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>];
    for (const n of ['hub', 'naive', 'two_hubs', ...(COMPARE_BIN !== '' ? ['hub_cmp'] : [])]) for (const p of T(n).problems) log(`PROBLEM ${p}`);
    log(
      `summary: bare ${sb.perSecond.toFixed(0)}/s (p99 ${sb.p99.toFixed(1)} ms); hub ${sh.perSecond.toFixed(0)}/s (p50 ${sh.p50.toFixed(1)}, p99 ${sh.p99.toFixed(1)} ms); ` +
        `naive ${sn.perSecond.toFixed(0)}/s (p50 ${sn.p50.toFixed(1)}, p99 ${sn.p99.toFixed(1)} ms); two hubs ${s2.perSecond.toFixed(0)}/s (p50 ${s2.p50.toFixed(1)}, p99 ${s2.p99.toFixed(1)} ms)`,
    );
    const split = (t: Tally) => {
      const m = new Map<string, number>();
      for (const s of t.measured) for (const [k, v] of Object.entries(s.holdsByEndpoint)) m.set(k, (m.get(k) ?? 0) + v);
      return [...m].map(([k, v]) => `${k.split('/')[1] ?? k} ${v}`).join(', ');
    };
    const bad = (t: Tally, n: string) => t.oversold + t.heldMismatch + (lost.get(n) ?? 0);
    const setup = `${CLIENTS} keep-alive clients, ${ROUNDS} sales of ${UNITS} units after a ${WARMUP_UNITS}-unit warmup; rate = 201s / (last 201 - start)`;
    const figures: Figure[] = [
      { name: 'hub_holds_per_s', value: sh.perSecond, unit: 'holds/s', baseline: 'bare_posts_per_s', note: `one hub process; ${setup}` },
      { name: 'hub_vs_bare_ratio', value: sh.perSecond / sb.perSecond, unit: 'ratio', goal: { op: '>=', value: 0.6 } },
      { name: 'hub_vs_naive_ratio', value: sh.perSecond / sn.perSecond, unit: 'ratio', goal: { op: '>=', value: 10 } },
      { name: 'hold_p50_ms', value: sh.p50, unit: 'ms' },
      { name: 'hold_p99_ms', value: sh.p99, unit: 'ms', goal: { op: '<=', value: 50 } },
      { name: 'bare_posts_per_s', value: sb.perSecond, unit: 'req/s', note: `hono + @hono/node-server, parse JSON, answer 201; p50 ${sb.p50.toFixed(1)} ms, p99 ${sb.p99.toFixed(1)} ms` },
      {
        name: 'naive_holds_per_s',
        value: sn.perSecond,
        unit: 'holds/s',
        baseline: 'hub_holds_per_s',
        note: `node:http + pg Pool(${NAIVE_POOL}), one transaction per hold (UPDATE ... WHERE available >= 1; INSERT); p50 ${sn.p50.toFixed(1)} ms, p99 ${sn.p99.toFixed(1)} ms`,
      },
      { name: 'two_hubs_holds_per_s', value: s2.perSecond, unit: 'holds/s', baseline: 'hub_holds_per_s', note: `hub-a holds the stock, hub-b borrows; 201s by process: ${split(T('two_hubs'))}` },
      { name: 'two_hubs_hold_p50_ms', value: s2.p50, unit: 'ms' },
      { name: 'two_hubs_hold_p99_ms', value: s2.p99, unit: 'ms', goal: { op: '<=', value: 50 } },
      { name: 'hub_oversold_units', value: bad(T('hub'), 'hub'), unit: 'units', goal: { op: '<=', value: 0 }, note: 'holds beyond stock + held/201 mismatches + 201s not in the database' },
      { name: 'hub_refused_with_stock', value: T('hub').refusedWithStock, unit: 'refusals', goal: { op: '<=', value: 0 } },
      { name: 'hub_unsold_units', value: T('hub').unsold, unit: 'units', goal: { op: '<=', value: 0 } },
      { name: 'two_hubs_oversold_units', value: bad(T('two_hubs'), 'two_hubs'), unit: 'units', goal: { op: '<=', value: 0 } },
      {
        name: 'two_hubs_refused_with_stock',
        value: T('two_hubs').refusedWithStock,
        unit: 'refusals',
        goal: { op: '<=', value: 0 },
        note: '409s answered while stock remained: all of a sale that ended with units unsold, else those before a later-sent request got a 201; details: PROBLEM lines in the log',
      },
      { name: 'two_hubs_unsold_units', value: T('two_hubs').unsold, unit: 'units', goal: { op: '<=', value: 0 }, note: 'still available after the last sale, every shopper refused' },
      { name: 'naive_oversold_units', value: bad(T('naive'), 'naive'), unit: 'units', goal: { op: '<=', value: 0 } },
    ];
    if (COMPARE_BIN !== '') {
      const sc = summary(T('hub_cmp'));
      const perRound = T('hub')
        .measured.map((s, i) => (s.perSecond / T('hub_cmp').measured[i]!.perSecond).toFixed(2))
        .join(', ');
      log(`hub vs hub_cmp per round: ${perRound}`);
      figures.push(
        { name: 'cmp_holds_per_s', value: sc.perSecond, unit: 'holds/s', baseline: 'hub_holds_per_s', note: `hub of ${COMPARE_BIN}, measured right after hub in every round; p50 ${sc.p50.toFixed(1)} ms, p99 ${sc.p99.toFixed(1)} ms` },
        { name: 'hub_vs_cmp_ratio', value: sh.perSecond / sc.perSecond, unit: 'ratio', note: `per round: ${perRound}` },
        { name: 'cmp_hold_p50_ms', value: sc.p50, unit: 'ms' },
        { name: 'cmp_hold_p99_ms', value: sc.p99, unit: 'ms' },
        { name: 'cmp_oversold_units', value: bad(T('hub_cmp'), 'hub_cmp'), unit: 'units', goal: { op: '<=', value: 0 } },
      );
    }
    report(figures);
  } finally {
    await Promise.all([...hubs.map((h) => h.stop()), ...servers.map((s) => s.stop())]).catch(() => undefined);
    await Promise.all(dbs.map((d) => d.drop())).catch(() => undefined);
  }
}

/** spawnHub with another checkout's CLI (spawnHub reads BENCH_HUB_BIN before its first await). */
function spawnOtherHub(bin: string, dbUrl: string, replica: string): Promise<HubProcess> {
  const prev = process.env.BENCH_HUB_BIN;
  process.env.BENCH_HUB_BIN = bin;
  try {
    return spawnHub(dbUrl, replica);
  } finally {
    if (prev === undefined) delete process.env.BENCH_HUB_BIN;
    else process.env.BENCH_HUB_BIN = prev;
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) await serveChild(process.argv[serveAt + 1]!, process.argv[serveAt + 2]);
else await main();

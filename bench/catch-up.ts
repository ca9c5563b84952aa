/**
 * Catch-up after a long outage: a store agent that sold 1,000,000 times over
 * 10,000 SKUs while offline reconnects to the hub.
 *
 * Setup: a real agent data folder (`initAgent`, then the SqliteAgentStore in
 * big transactions, numbered exactly as AgentInventory numbers its writes:
 * one event and one change number per restock/sale): 10,000 restocks, then
 * 1,000,000 sales of uniformly random SKUs, every entry stamped with the
 * change number of its last event, nothing acked. `verifyAgent` (the
 * `edge-agent verify` check: state = fold of the event log) must pass.
 * Then a fresh database, the store registered, the hub as a child process,
 * and the agent started in this process with sync (`startAgent({hub})`).
 *
 * Figures:
 *   - catchup_state_converged_ms: from startAgent() until GET /inventory at
 *     the hub shows, for every SKU, the agent's onHand and available (one
 *     sentinel SKU polled back to back, then the whole store), timed by the
 *     `at` of the hub's converged answer (the same wall clock); when this
 *     process read that answer is in the note.
 *   - catchup_state_bytes_ratio: bytes the sync client had sent (bytesSent,
 *     timestamped at every change) when the hub produced the converged answer
 *     (its `at`) ÷ bytes of the agent's entries as JSON. An upper bound; the
 *     note gives the bytes at the hub's last answer before, a lower bound.
 *   - backfill_events_per_s: events inserted at the hub (GET /status) per
 *     second from agent start until all 1,010,000 are in (capped at
 *     BACKFILL_CAP_MS).
 *   - live_sale_ack_ms_during_backfill: while the backfill runs, a sale at
 *     the agent's POS API until GET /inventory?storeId&sku at the hub shows
 *     it; p50 and max.
 *
 * Run alone: node --import tsx bench/catch-up.ts
 * Env: BENCH_HUB_CPU_PROF=<dir> profiles the hub.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventId, InventoryEvent, ReplicaId, Sku, StoreId } from '@scoville/crdt-inventory';
import { initAgent, openAgent, startAgent, type RunningAgent } from '../apps/edge-agent/src/agent.js';
import { dataPaths } from '../apps/edge-agent/src/data-dir.js';
import { SqliteAgentStore } from '../apps/edge-agent/src/store/sqlite-store.js';
import { verifyAgent } from '../apps/edge-agent/src/verify.js';
import { log, report, type Figure } from './lib/figures.js';
import { createBenchDatabase, hubCommits, hubGet, registerStores, sleep, spawnHub, type HubProcess } from './lib/hub-fixture.js';
import { now, percentile } from './lib/stats.js';
import { rng } from './lib/random.js';

const STORE = 's001';
const SKUS = 10_000;
const SALES = 1_000_000;
const RESTOCK_QTY = 1_000;
const TX_ROWS = 100_000;
const BACKFILL_CAP_MS = Number(process.env.BENCH_CATCHUP_CAP_MS ?? 60_000);
const LIVE_SALE_EVERY_MS = 2_500;

const skus = Array.from({ length: SKUS }, (_, i) => `HSS-${String(i).padStart(5, '0')}` as Sku);


// ---------------------------------------------------------------- the offline agent's file

interface Built {
  replica: ReplicaId;
  /** Expected onHand per SKU (P - N of the agent's own entry). */
  onHand: Map<string, number>;
  /** JSON bytes of the agent's current entries (the state to converge). */
  entriesJsonBytes: number;
  events: number;
}

function buildAgent(dir: string): Built {
  const { replica: r } = initAgent(dir, STORE, Date.now() - 8 * 86_400_000);
  const replica = r as ReplicaId;
  const store = STORE as StoreId;
  const db = new SqliteAgentStore(dataPaths(dir).db);
  const p = new Array<number>(SKUS).fill(0);
  const n = new Array<number>(SKUS).fill(0);
  const changed = new Array<number>(SKUS).fill(0);
  const rand = rng(42);
  const t0 = Date.now() - 7 * 86_400_000;
  let seq = 0;
  const ev = (type: 'restock' | 'sale', k: number, qty: number, terminal: string): InventoryEvent => {
    seq++;
    return {
      id: `${replica}:${seq}` as EventId,
      store,
      replica,
      seq,
      type,
      sku: skus[k]!,
      qty,
      at: t0 + seq * 500,
      idempotencyKey: randomUUID(),
      terminal,
    };
  };
  try {
    // One event and one change number per write, as AgentInventory.record does.
    db.transaction(() => {
      for (let k = 0; k < SKUS; k++) {
        db.appendEvent(ev('restock', k, RESTOCK_QTY, 'backoffice'));
        p[k] = RESTOCK_QTY;
        changed[k] = seq;
      }
    });
    for (let done = 0; done < SALES; ) {
      const upTo = Math.min(SALES, done + TX_ROWS);
      db.transaction(() => {
        for (; done < upTo; done++) {
          const k = Math.floor(rand() * SKUS);
          db.appendEvent(ev('sale', k, 1, `t${1 + (done % 8)}`));
          n[k]!++;
          changed[k] = seq;
        }
      });
    }
    // Each entry as last written, stamped with the change number of its last event.
    db.transaction(() => {
      for (let k = 0; k < SKUS; k++) {
        db.writeDelta({ entries: [{ store, sku: skus[k]!, replica, p: p[k]!, n: n[k]! }], transfers: [], reservations: [] }, changed[k]!);
      }
    });
  } finally {
    db.close();
  }
  const entries = skus.map((sku, k) => ({ store, sku, replica, p: p[k]!, n: n[k]! }));
  return {
    replica,
    onHand: new Map(skus.map((s, k) => [s, p[k]! - n[k]!])),
    entriesJsonBytes: Buffer.byteLength(JSON.stringify({ entries, transfers: [], reservations: [] })),
    events: seq,
  };
}

// ---------------------------------------------------------------- hub views

interface Item {
  sku: string;
  onHand: number;
  available: number;
  /** The hub's clock when it answered (single-SKU answers), ISO 8601. */
  at?: string;
}

/** An answer's `at` as epoch ms (the hub's clock; same machine), else `fallback`. */
const answeredAt = (item: Item | null, fallback: number): number => {
  const t = item?.at === undefined ? NaN : Date.parse(item.at);
  return Number.isNaN(t) ? fallback : t;
};

async function hubStoreItems(hub: HubProcess, key: string): Promise<Item[]> {
  const r = await hubGet<{ items: Item[] }>(hub.url, `/inventory?storeId=${STORE}`, key);
  return r.items;
}

/** One SKU of the store at the hub; null while the hub has no record of it. */
async function hubSku(hub: HubProcess, key: string, sku: string): Promise<Item | null> {
  const r = await fetch(`${hub.url}/inventory?storeId=${STORE}&sku=${sku}`, { headers: { authorization: `Bearer ${key}` } });
  if (r.status === 404) {
    await r.body?.cancel();
    return null;
  }
  if (!r.ok) throw new Error(`GET /inventory ${sku}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Item;
}

function converged(items: Item[], agent: RunningAgent): boolean {
  if (items.length < SKUS) return false;
  const t = Date.now();
  for (const it of items) {
    const a = agent.inventory.stock(it.sku as Sku, t);
    if (a.onHand !== it.onHand || a.available !== it.available) return false;
  }
  return true;
}

async function postSale(agentUrl: string, sku: string, key: string): Promise<void> {
  const r = await fetch(`${agentUrl}/sales`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ idempotencyKey: key, lines: [{ sku, qty: 1 }], terminal: 'live' }),
  });
  if (r.status !== 201) throw new Error(`POST /sales answered ${r.status}: ${await r.text()}`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'scoville-bench-catchup-'));
  const db = await createBenchDatabase();
  let hub: HubProcess | null = null;
  let agent: RunningAgent | null = null;
  try {
    let t = now();
    const built = buildAgent(dir);
    log(`built ${dir}: ${built.events.toLocaleString('en-US')} events (${SKUS} restocks + ${SALES} sales) in ${((now() - t) / 1000).toFixed(1)} s`);

    t = now();
    const opened = openAgent(dir);
    const openMs = now() - t;
    t = now();
    const v = verifyAgent(opened.inventory);
    const verifyMs = now() - t;
    for (const [sku, want] of built.onHand) {
      const got = opened.inventory.stock(sku as Sku, Date.now()).onHand;
      if (got !== want) throw new Error(`agent file: ${sku} onHand ${got}, expected ${want}`);
    }
    opened.store.close();
    if (!v.ok) throw new Error(`verify failed: ${v.problems.slice(0, 5).join('; ')}`);
    log(`verify ok: ${v.events.toLocaleString('en-US')} events fold to the stored entries (digest ${v.storedDigest}); open ${openMs.toFixed(0)} ms, verify ${verifyMs.toFixed(0)} ms`);

    const reg = await registerStores(db.url, [STORE]);
    hub = await spawnHub(db.url);
    const key = reg.readKey;
    log(`hub ${hub.url} (pid ${hub.pid}), database ${db.name}`);

    // ---- reconnect
    const tStart = now();
    const startWall = Date.now();
    agent = await startAgent({ dataDir: dir, port: 0, hub: { url: hub.syncUrl, token: reg.tokens.get(STORE)! } });
    const tSync = now();
    const syncStartedAt = Date.now();
    const sync = agent.sync!;
    // Every change of bytesSent, with the time (Date.now(), the clock the hub's
    // answers carry in `at`): the bytes sent before the hub answered can then be
    // read off exactly, whatever this process was busy with meanwhile.
    const sends: { at: number; total: number }[] = [];
    let sentTotal = sync.bytesSent;
    Object.defineProperty(sync, 'bytesSent', {
      configurable: true,
      enumerable: true,
      get: () => sentTotal,
      set: (v: number) => {
        sentTotal = v;
        sends.push({ at: Date.now(), total: v });
      },
    });
    const bytesSentBy = (t: number): number => {
      let b = 0;
      for (const x of sends) {
        if (x.at > t) break;
        b = x.total;
      }
      return b;
    };
    log(`agent started in ${(tSync - tStart).toFixed(0)} ms (opens its ${built.events.toLocaleString('en-US')}-event file before sync starts)`);

    // A cheap poll of one sentinel SKU (the last in key order, so in the last
    // chunk should the entries ever need several batches), back to back; when
    // it matches, the whole store is compared. Polling all 10,000 SKUs back to
    // back would cost the hub ~50 ms of CPU per poll and slow what it measures.
    const sentinel = skus[SKUS - 1]!;
    let tConverged = NaN;
    let bytesAtConvergence = NaN;
    let bytesLowerBound = NaN;
    let lastNotConvergedAt = 0;
    let convergedHubAt = NaN;
    let polls = 0;
    let fullChecks = 0;
    const deadline = tStart + 60_000;
    for (;;) {
      const asked = Date.now();
      const one = await hubSku(hub, key, sentinel);
      polls++;
      const at = now();
      if (one !== null && one.onHand === agent.inventory.stock(sentinel, Date.now()).onHand) {
        fullChecks++;
        if (converged(await hubStoreItems(hub, key), agent)) {
          tConverged = at;
          // Converged somewhere between the last answer that was not and this one.
          convergedHubAt = answeredAt(one, Date.now());
          bytesAtConvergence = bytesSentBy(convergedHubAt);
          bytesLowerBound = bytesSentBy(Math.max(lastNotConvergedAt, asked - 1_000));
          break;
        }
      }
      lastNotConvergedAt = answeredAt(one, asked);
      if (now() > deadline) throw new Error('the hub state did not converge within 60 s');
      await sleep(2);
    }
    // The hub's answer carries its clock (`at`, same machine): the state was
    // converged by then. This process (agent + poller) may only read the answer
    // later, e.g. while the agent encodes its next batches.
    const convergedMs = convergedHubAt - startWall;
    const observedMs = tConverged - tStart;
    const status0 = await hubCommits(hub.url, key);
    // sends[0] is the hello, sends[1] the first batch (its size: the bytes between them).
    const sendAt = (i: number) => (sends[i] === undefined ? NaN : sends[i]!.at - syncStartedAt);
    log(
      `timeline from sync start: hello sent at ${sendAt(0)} ms, first batch (${(((sends[1]?.total ?? 0) - (sends[0]?.total ?? 0)) / 1e6).toFixed(2)} MB) at ${sendAt(1)} ms, ` +
        `${sends.filter((x) => x.at <= convergedHubAt).length} frames in all before the hub's converged answer at ${convergedHubAt - syncStartedAt} ms`,
    );
    log(
      `state converged ${convergedMs} ms after start by the hub's clock (${(convergedMs - (tSync - tStart)).toFixed(0)} ms after sync start; read here after ${observedMs.toFixed(0)} ms, ${polls} polls, ${fullChecks} full); ` +
        `the agent had sent ${(bytesAtConvergence / 1e6).toFixed(2)} MB when the hub gave the converged answer (${(bytesLowerBound / 1e6).toFixed(2)} MB at its last answer before); ` +
        `entries as JSON: ${(built.entriesJsonBytes / 1e6).toFixed(2)} MB; hub had ${status0.events.toLocaleString('en-US')} events in ${status0.transactions} commits`,
    );

    // ---- backfill, with live sales meanwhile
    const liveMs: number[] = [];
    let backfillDone = NaN;
    let lastEvents = status0.events;
    let nextSale = now() + 500;
    let saleNo = 0;
    const rand = rng(99);
    while (now() - tStart < BACKFILL_CAP_MS) {
      const s = await hubCommits(hub.url, key);
      lastEvents = s.events;
      if (s.events >= built.events) {
        backfillDone = now();
        break;
      }
      if (now() >= nextSale) {
        const sku = skus[Math.floor(rand() * SKUS)]!;
        const t0 = now();
        await postSale(agent.url, sku, `live-${saleNo++}`);
        const want = agent.inventory.stock(sku as Sku, Date.now()).onHand;
        for (;;) {
          const c = await hubSku(hub, key, sku);
          if (c?.onHand === want) break;
          if (now() - t0 > 30_000) throw new Error(`live sale of ${sku} not visible at the hub after 30 s`);
          await sleep(5);
        }
        liveMs.push(now() - t0);
        log(`live sale ${saleNo}: visible at the hub after ${(now() - t0).toFixed(0)} ms (hub had ${lastEvents.toLocaleString('en-US')} events)`);
        nextSale = now() + LIVE_SALE_EVERY_MS;
      }
      await sleep(100);
    }
    const tEnd = Number.isNaN(backfillDone) ? now() : backfillDone;
    const backfillRate = lastEvents / ((tEnd - tStart) / 1000);
    const st = await hubCommits(hub.url, key);
    log(
      `backfill: ${lastEvents.toLocaleString('en-US')} of ${built.events.toLocaleString('en-US')} events at the hub after ${((tEnd - tStart) / 1000).toFixed(1)} s ` +
        `(${backfillRate.toFixed(0)} events/s; ${st.transactions} commits, ${(st.events / Math.max(1, st.transactions)).toFixed(0)} events per commit)` +
        (Number.isNaN(backfillDone) ? ' — capped' : ''),
    );

    const figures: Figure[] = [
      {
        name: 'catchup_state_converged_ms',
        value: convergedMs,
        unit: 'ms',
        goal: { op: '<=', value: 2_000 },
        note: `from startAgent() to the hub's converged answer (its clock); ${(tSync - tStart).toFixed(0)} ms of it is startAgent (opening the 1M-event file); the answer reached this process after ${observedMs.toFixed(0)} ms`,
      },
      {
        name: 'catchup_state_bytes_ratio',
        value: bytesAtConvergence / built.entriesJsonBytes,
        unit: 'ratio',
        goal: { op: '<=', value: 2 },
        note: `${(bytesAtConvergence / 1e6).toFixed(2)} MB sent before the hub's converged answer (${(bytesLowerBound / 1e6).toFixed(2)} MB before its last unconverged one) / ${(built.entriesJsonBytes / 1e6).toFixed(2)} MB of entries as JSON`,
      },
      {
        name: 'backfill_events_per_s',
        value: backfillRate,
        unit: 'events/s',
        note: `${lastEvents.toLocaleString('en-US')} events at the hub ${((tEnd - tStart) / 1000).toFixed(1)} s after agent start${Number.isNaN(backfillDone) ? ' (capped)' : ''}`,
      },
      ...(liveMs.length > 0
        ? [
            { name: 'live_sale_ack_ms_during_backfill_p50', value: percentile(liveMs, 50), unit: 'ms', note: `${liveMs.length} sales: POST /sales at the agent → visible in GET /inventory at the hub` },
            { name: 'live_sale_ack_ms_during_backfill_max', value: Math.max(...liveMs), unit: 'ms' },
          ]
        : []),
    ];
    report(figures);
  } finally {
    await agent?.stop().catch(() => undefined);
    await hub?.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

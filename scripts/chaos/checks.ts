/**
 * The end of a campaign: wait (bounded) until every agent and every live hub
 * agree, then check, event by event, what the terminals were told against
 * what the agents logged and what PostgreSQL holds.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { agentStatus, agentStock, exportEvents, syncNow, verify, type ExportedEvent, type StockLine } from '../../apps/sync-hub/test/sync/helpers/agents.js';
import { cleanEnv, HUB_BIN, hubSku, hubStore, REPO_ROOT, type Inventory } from '../../apps/sync-hub/test/sync/helpers/hub.js';
import { storedOnHand } from '../../apps/sync-hub/test/sync/helpers/postgres.js';
import { sleep, type AckedWrite } from './load.js';
import type { Topology } from './topology.js';

// ---------------------------------------------------------------- convergence

const same = (a: Inventory | undefined, b: StockLine | undefined): boolean =>
  a !== undefined && b !== undefined && a.onHand === b.onHand && a.held === b.held && a.available === b.available;

/** Differences between every live hub's view of each store and each agent's own view ('' when none). */
export async function divergence(topo: Topology): Promise<string> {
  const diffs: string[] = [];
  for (const [store, agents] of topo.stores) {
    for (const a of agents) {
      const st = await agentStatus(a.agent);
      if (!st.sync.online || st.sync.unackedEvents > 0 || st.sync.unackedBatches > 0) {
        diffs.push(`${a.name}: online=${st.sync.online} unackedEvents=${st.sync.unackedEvents} unackedBatches=${st.sync.unackedBatches} lastError=${st.sync.lastError}`);
      }
    }
    const views = await Promise.all(agents.map((a) => agentStock(a.agent)));
    for (const h of topo.liveHubs()) {
      const hv = await hubStore(h.url, topo.readKey, store);
      agents.forEach((a, i) => {
        const av = views[i]!;
        for (const sku of new Set([...hv.keys(), ...av.keys()])) {
          if (!same(hv.get(sku), av.get(sku))) diffs.push(`${store}/${sku}: ${h.name} ${JSON.stringify(hv.get(sku))} vs ${a.name} ${JSON.stringify(av.get(sku))}`);
        }
      });
    }
  }
  return diffs.join('\n');
}

/** Polls until nothing differs (nudging agents out of their reconnect backoff), or `timeoutMs`. */
export async function converge(topo: Topology, timeoutMs: number): Promise<{ ok: boolean; ms: number; last: string }> {
  const t0 = Date.now();
  let last = '';
  let nudged = 0;
  for (;;) {
    if (Date.now() - nudged > 2_000) {
      nudged = Date.now();
      await Promise.all(topo.agents.map((a) => syncNow(a.agent).catch(() => undefined)));
    }
    try {
      last = await divergence(topo);
      if (last === '') return { ok: true, ms: Date.now() - t0, last };
    } catch (e) {
      last = `probe failed: ${String(e)}`;
    }
    if (Date.now() - t0 > timeoutMs) return { ok: false, ms: Date.now() - t0, last };
    await sleep(250);
  }
}

// ---------------------------------------------------------------- the checks

export interface HubEvent {
  store_id: string;
  event_id: string;
  replica_id: string;
  type: string;
  sku: string;
  qty: number;
  idempotency_key: string | null;
  forced: boolean;
}

async function hubEvents(url: string): Promise<HubEvent[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const r = await c.query('SELECT store_id, event_id, replica_id, type, sku, qty::int AS qty, idempotency_key, forced FROM events');
    return r.rows as HubEvent[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** `sync-hub verify --json` on the database directly: every replica's stored entries = fold of its stored events. */
async function hubVerify(databaseUrl: string): Promise<{ ok: boolean; detail: string }> {
  const r = await new Promise<{ code: number | null; out: string; err: string }>((res) => {
    const child = spawn(process.execPath, [HUB_BIN, '--json', '--database-url', databaseUrl, 'verify'], { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('close', (code) => res({ code, out, err }));
  });
  try {
    const reports = JSON.parse(r.out) as { store: string; ok: boolean; replicas: { replica: string; events: number; matches: boolean; missingSeqs: number }[] }[];
    const bad = reports.flatMap((s) => s.replicas.filter((x) => !x.matches).map((x) => `${s.store}/${x.replica}: ${x.missingSeqs} missing seqs, digest mismatch`));
    return { ok: r.code === 0 && bad.length === 0, detail: bad.join('; ') };
  } catch {
    return { ok: false, detail: `exit ${r.code}: ${r.err.slice(0, 1_000)}` };
  }
}

/** On-hand effect of an event (what the fold adds). */
function effect(type: string, qty: number): number {
  switch (type) {
    case 'restock':
    case 'adjustment':
      return qty;
    case 'sale':
    case 'hold_commit':
      return -qty;
    default:
      return 0;
  }
}

export interface CheckResult {
  /** Acked sales whose events are nowhere (not at the hub, not in the agent's log). */
  lost: string[];
  /** Idempotency keys with more events than their request had lines (at the hub or at an agent). */
  duplicated: string[];
  /** Acked writes whose events the agent has but the hub does not. */
  undelivered: string[];
  /** Every agent event missing at the hub (any type). */
  agentEventsMissingAtHub: number;
  /** Events at the hub under a key no terminal got a 201 for. */
  unacknowledgedAtHub: string[];
  eventsAtHub: number;
  violations: string[];
}

export async function checkAll(topo: Topology, acked: readonly AckedWrite[], gaveUp: ReadonlySet<string>): Promise<CheckResult> {
  const violations: string[] = [];
  const v = (msg: string) => violations.push(msg);

  // What each agent logged, and what Postgres holds.
  const logs = new Map<number, ExportedEvent[]>();
  for (const a of topo.agents) logs.set(a.index, await exportEvents(a.agent));
  const stored = await hubEvents(topo.db.url);
  const atHub = new Map<string, HubEvent>();
  const hubByKey = new Map<string, HubEvent[]>();
  for (const e of stored) {
    const id = `${e.store_id}/${e.event_id}`;
    if (atHub.has(id)) v(`event ${id} stored twice`);
    atHub.set(id, e);
    if (e.idempotency_key !== null) hubByKey.set(e.idempotency_key, [...(hubByKey.get(e.idempotency_key) ?? []), e]);
  }

  // Per acknowledged write, by idempotency key.
  const lost: string[] = [];
  const duplicated: string[] = [];
  const undelivered: string[] = [];
  const ackedKeys = new Set<string>();
  const agentByKey = new Map<string, ExportedEvent[]>();
  for (const [, events] of logs) {
    for (const e of events) if (e.idempotencyKey) agentByKey.set(e.idempotencyKey, [...(agentByKey.get(e.idempotencyKey) ?? []), e]);
  }
  for (const w of acked) {
    ackedKeys.add(w.key);
    const store = w.store;
    const mine = new Set((logs.get(w.agent) ?? []).map((e) => e.id));
    if (w.events.length !== w.lines.length) v(`${w.key}: 201 named ${w.events.length} events for ${w.lines.length} lines`);
    w.events.forEach((id, i) => {
      const h = atHub.get(`${store}/${id}`);
      if (h === undefined) {
        if (mine.has(id)) undelivered.push(`${w.key} (${id})`);
        else lost.push(`${w.key} (${id})`);
        return;
      }
      const line = w.lines[i]!;
      if (h.type !== w.kind || h.sku !== line.sku || Number(h.qty) !== line.qty || h.idempotency_key !== w.key) {
        v(`${w.key}: event ${id} at the hub is ${h.type} ${h.sku}×${h.qty} key ${h.idempotency_key}, the terminal was told ${w.kind} ${line.sku}×${line.qty}`);
      }
    });
    const hubCount = hubByKey.get(w.key)?.length ?? 0;
    const agentCount = agentByKey.get(w.key)?.length ?? 0;
    if (hubCount > w.lines.length || agentCount > w.lines.length) duplicated.push(`${w.key} (hub ${hubCount}, agent ${agentCount}, lines ${w.lines.length})`);
  }
  if (lost.length) v(`${lost.length} acknowledged writes lost: ${lost.slice(0, 10).join(', ')}`);
  if (duplicated.length) v(`${duplicated.length} idempotency keys duplicated: ${duplicated.slice(0, 10).join(', ')}`);
  if (undelivered.length) v(`${undelivered.length} acknowledged writes not delivered to the hub: ${undelivered.slice(0, 10).join(', ')}`);

  // Every event of every agent is at the hub; nothing at the hub that no terminal was told about.
  let missing = 0;
  for (const a of topo.agents) for (const e of logs.get(a.index)!) if (!atHub.has(`${a.agent.store}/${e.id}`)) missing++;
  if (missing) v(`${missing} agent events missing at the hub`);
  // Only the agents' events: the hub's own (online holds) carry the reserve workload's keys.
  const agentReplicas = new Set(topo.agents.map((a) => a.agent.replica));
  const unacknowledgedAtHub = [
    ...new Set(stored.filter((e) => agentReplicas.has(e.replica_id) && e.idempotency_key !== null).map((e) => e.idempotency_key!)),
  ].filter((k) => !ackedKeys.has(k) && !gaveUp.has(k));
  if (unacknowledgedAtHub.length) v(`${unacknowledgedAtHub.length} keys at the hub no terminal got a 201 for: ${unacknowledgedAtHub.slice(0, 10).join(', ')}`);

  // Counts: hub (memory and Postgres) = every agent of the store = the fold of the store's events
  // (all of them, at the hub: the agents' and, with online holds, the hub's own); the hub's
  // aggregate = the sum over stores of what the agents hold.
  const skus = new Set<string>();
  const agentSum = new Map<string, number>();
  for (const [store, agents] of topo.stores) {
    const fold = new Map<string, number>();
    for (const e of stored) if (e.store_id === store) fold.set(e.sku, (fold.get(e.sku) ?? 0) + effect(e.type, Number(e.qty)));
    const forced = new Set(stored.filter((e) => e.store_id === store && e.forced).map((e) => e.sku));
    const durable = await storedOnHand(topo.db.url, store);
    for (const a of agents) {
      const stock = await agentStock(a.agent);
      for (const [sku, s] of stock) {
        skus.add(sku);
        if (s.onHand !== (fold.get(sku) ?? 0)) v(`${a.name} ${store}/${sku}: on hand ${s.onHand}, fold of the store's events at the hub ${fold.get(sku) ?? 0}`);
        if (s.onHand !== durable.get(sku)) v(`${a.name} ${store}/${sku}: on hand ${s.onHand}, Postgres counter_entries ${durable.get(sku)}`);
        if (s.onHand < 0 && !forced.has(sku)) v(`${a.name} ${store}/${sku}: on hand ${s.onHand} < 0 with no forced sale`);
      }
    }
    for (const h of topo.liveHubs()) {
      const hv = await hubStore(h.url, topo.readKey, store);
      for (const [sku, x] of hv) if (x.onHand !== (fold.get(sku) ?? 0)) v(`${h.name} ${store}/${sku}: on hand ${x.onHand}, fold ${fold.get(sku) ?? 0}`);
    }
    const first = await agentStock(agents[0]!.agent);
    for (const [sku, x] of first) agentSum.set(sku, (agentSum.get(sku) ?? 0) + x.onHand);
  }
  for (const h of topo.liveHubs()) {
    for (const sku of skus) {
      const agg = await hubSku(h.url, topo.readKey, sku);
      if (agg.onHand !== (agentSum.get(sku) ?? 0)) v(`${h.name} aggregate ${sku}: ${agg.onHand}, sum over stores of the agents' on hand ${agentSum.get(sku) ?? 0}`);
    }
  }

  // The tools' own verdicts.
  for (const a of topo.agents) {
    const r = await verify(a.agent);
    if (!r.ok) v(`edge-agent verify ${a.name}: ${r.problems.slice(0, 5).join('; ')}`);
  }
  const hv = await hubVerify(topo.db.url);
  if (!hv.ok) v(`sync-hub verify: ${hv.detail}`);

  return { lost, duplicated, undelivered, agentEventsMissingAtHub: missing, unacknowledgedAtHub, eventsAtHub: stored.length, violations };
}

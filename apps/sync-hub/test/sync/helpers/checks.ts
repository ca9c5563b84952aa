/**
 * The end state every sync story must reach: the hub, PostgreSQL and the
 * agent agree, and every event of the agent is stored exactly once.
 */
import { expect } from 'vitest';
import { agentStatus, agentStock, dumpAgentDb, exportEvents, verify, type StoreAgent } from './agents.js';
import { hubCounter } from './hub.js';
import { storedEvents, storedOnHand } from './postgres.js';

export interface ConvergenceReport {
  events: number;
  onHand: Map<string, number>;
}

/**
 * For one (running, synced) agent:
 *  - GET /inventory?storeId=&sku= at the hub equals the agent's own /stock, SKU by SKU;
 *  - the durable counters in Postgres give the same on-hand;
 *  - the events table holds exactly the agent's exported event ids, each once;
 *  - `edge-agent verify` passes.
 */
export async function expectConverged(a: StoreAgent, hubUrl: string, readKey: string, dbUrl: string): Promise<ConvergenceReport> {
  const stock = await agentStock(a);
  expect(stock.size, `agent ${a.store} has stock records`).toBeGreaterThan(0);
  for (const [sku, mine] of stock) {
    const theirs = await hubCounter(hubUrl, readKey, a.store, sku);
    expect(theirs, `hub view of ${a.store}/${sku}`).toEqual({ onHand: mine.onHand, held: mine.held, available: mine.available });
  }
  const durable = await storedOnHand(dbUrl, a.store);
  expect(durable, `Postgres on-hand of ${a.store}`).toEqual(new Map([...stock].map(([sku, s]) => [sku, s.onHand])));

  const status = await agentStatus(a);
  const exported = await exportEvents(a);
  expect(exported.length, `${a.store}: export vs status event count`).toBe(status.events);
  const stored = await storedEvents(dbUrl, a.store);
  expect(stored.duplicates, `${a.store}: event ids stored more than once`).toEqual([]);
  expect(stored.ids.length, `${a.store}: events in Postgres vs events at the agent`).toBe(exported.length);
  expect(new Set(stored.ids), `${a.store}: event ids in Postgres`).toEqual(new Set(exported.map((e) => e.id)));

  const v = await verify(a);
  expect(v, `${a.store}: edge-agent verify\n${v.ok ? '' : dumpAgentDb(a)}`).toMatchObject({ ok: true, events: exported.length, problems: [] });
  return { events: exported.length, onHand: new Map([...stock].map(([sku, s]) => [sku, s.onHand])) };
}

/** Every sale a terminal got a 201 for is in the agent's log, once, whole. */
export async function expectAckedSalesLogged(a: StoreAgent, acked: readonly { key: string; lines: { sku: string; qty: number }[] }[]): Promise<void> {
  const events = await exportEvents(a);
  const byKey = new Map<string, { sku: string; qty: number }[]>();
  for (const e of events) {
    if (e.type !== 'sale' || !e.idempotencyKey) continue;
    const list = byKey.get(e.idempotencyKey) ?? [];
    list.push({ sku: e.sku, qty: e.qty });
    byKey.set(e.idempotencyKey, list);
  }
  const missing = acked.filter((s) => !byKey.has(s.key)).map((s) => s.key);
  expect(missing, `${a.store}: acknowledged sales missing from the agent's log`).toEqual([]);
  for (const s of acked) expect(byKey.get(s.key), `${a.store}: sale ${s.key}`).toEqual(s.lines);
}

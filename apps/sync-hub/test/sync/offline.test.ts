/**
 * Offline first: two stores restock and sell while the hub does not exist
 * yet (their --hub points at a port nobody listens on). When the hub comes
 * up on that port, both agents connect on their own, send their backlog,
 * and everything agrees: the hub's /inventory equals each agent's /stock,
 * Postgres holds every event exactly once, both agents' `verify` passes.
 * Reconnecting again (an agent restart, and an agent that lost its acks and
 * resends its whole log) stores nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  agentStatus,
  createAgent,
  forgetAcks,
  killAllAgents,
  post,
  removeTempDirs,
  startAgent,
  stopAgent,
  waitSynced,
  type StoreAgent,
} from './helpers/agents.js';
import { expectConverged } from './helpers/checks.js';
import { addReadKey, addStore, freePort, hubCli, hubCommits, killAllHubs, spawnHub } from './helpers/hub.js';
import { eventCount } from './helpers/postgres.js';

const SKUS = ['HOT-1', 'HOT-2', 'HOT-3', 'HOT-4', 'HOT-5'];

let db: TestDatabase;
let readKey: string;
let s1: StoreAgent;
let s2: StoreAgent;

beforeAll(async () => {
  db = await createTestDatabase();
  const [t1, t2, key] = await Promise.all([addStore(db.url, 's1'), addStore(db.url, 's2'), addReadKey(db.url)]);
  readKey = key;
  [s1, s2] = await Promise.all([createAgent('s1', t1), createAgent('s2', t2)]);
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await db?.drop();
  removeTempDirs();
}, 30_000);

/** Concurrent restocks, then concurrent multi-SKU sales; every request must be a 201. */
async function tradeOffline(a: StoreAgent, salesCount: number): Promise<void> {
  const restocks = await Promise.all(SKUS.map((sku, i) => post(a, '/restocks', [{ sku, qty: 50 + 10 * i }])));
  expect(restocks.map((r) => r.status)).toEqual(SKUS.map(() => 201));
  const sales = await Promise.all(
    Array.from({ length: salesCount }, (_, i) =>
      post(a, '/sales', [
        { sku: SKUS[i % SKUS.length]!, qty: 1 + (i % 3) },
        ...(i % 4 === 0 ? [{ sku: SKUS[(i + 2) % SKUS.length]!, qty: 1 }] : []),
      ]),
    ),
  );
  expect(sales.map((r) => r.status)).toEqual(sales.map(() => 201));
}

describe('agents that sold offline catch up when the hub appears', () => {
  it('syncs both backlogs exactly once and converges', async () => {
    const port = await freePort();
    const syncUrl = `ws://127.0.0.1:${port}/sync`;
    await Promise.all([startAgent(s1, syncUrl), startAgent(s2, syncUrl)]);

    await Promise.all([tradeOffline(s1, 40), tradeOffline(s2, 30)]);
    for (const a of [s1, s2]) {
      const st = await agentStatus(a);
      expect(st.sync.online, `${a.store} offline`).toBe(false);
      expect(st.sync.unackedEvents, `${a.store} unacked events`).toBe(st.events);
      expect(st.sync.unackedEvents).toBeGreaterThan(0);
      expect(st.sync.lastAckAt).toBeNull();
    }
    expect(await eventCount(db.url)).toBe(0);

    const hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-a', port });
    expect(hub.port).toBe(port);
    await Promise.all([waitSynced(s1), waitSynced(s2)]);

    const r1 = await expectConverged(s1, hub.url, readKey, db.url);
    const r2 = await expectConverged(s2, hub.url, readKey, db.url);
    expect(await eventCount(db.url)).toBe(r1.events + r2.events);

    // Reconnect 1: an orderly restart of s1. Reconnect 2: s2 lost its acks
    // and resends its whole log. Neither may store anything twice.
    await stopAgent(s1, 'SIGTERM');
    await stopAgent(s2, 'SIGTERM');
    forgetAcks(s2);
    const before = await hubCommits(hub.url, readKey);
    await Promise.all([startAgent(s1, hub.syncUrl), startAgent(s2, hub.syncUrl)]);
    await Promise.all([waitSynced(s1), waitSynced(s2)]);
    // The hub did receive and commit s2's whole log again, and inserted none of it.
    const after = await hubCommits(hub.url, readKey);
    expect(after.items, 'batches committed by the resend').toBeGreaterThan(before.items);
    expect(after.events, 'events inserted by the resend').toBe(before.events);

    const again1 = await expectConverged(s1, hub.url, readKey, db.url);
    const again2 = await expectConverged(s2, hub.url, readKey, db.url);
    expect(again1).toEqual(r1);
    expect(again2).toEqual(r2);
    expect(await eventCount(db.url)).toBe(r1.events + r2.events);

    // The hub's own verify: every replica's stored entries are the fold of its stored events.
    const reports = await hubCli<{ store: string; ok: boolean; replicas: { matches: boolean; missingSeqs: number }[] }[]>(db.url, ['verify']);
    expect(reports.map((r) => r.store).sort()).toEqual(['s1', 's2']);
    for (const r of reports) expect(r.replicas.every((x) => x.matches && x.missingSeqs === 0), r.store).toBe(true);
  }, 90_000);
});

/**
 * Crashes in the middle of sync, with real processes and SIGKILL.
 *
 * (a) The hub is killed at a seeded random moment while two agents stream
 *     sales (batches in flight), and restarted on the same port. The agents
 *     keep selling throughout; once they have reconnected and resent what was
 *     never acked, nothing is lost (every sale a terminal got a 201 for is in
 *     Postgres exactly once) and nothing is doubled (hub on-hand = agent on-hand).
 * (b) An agent is killed while it sends a large backlog (some batches acked,
 *     others not), and restarted: same checks, and its `verify` passes.
 *
 * Replay a failure: SYNC_CRASH_SEED=<seed in the test name> npx vitest run apps/sync-hub/test/sync/crash.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../../edge-agent/test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  agentStatus,
  createAgent,
  killAllAgents,
  mustPost,
  post,
  removeTempDirs,
  startAgent,
  startSelling,
  stopAgent,
  waitSynced,
} from './helpers/agents.js';
import { expectAckedSalesLogged, expectConverged } from './helpers/checks.js';
import { addReadKey, addStore, freePort, killAllHubs, spawnHub, type SpawnedHub } from './helpers/hub.js';
import { eventCount } from './helpers/postgres.js';
import { sleep, waitFor } from './helpers/wait.js';

const SEED = Number(process.env.SYNC_CRASH_SEED ?? Date.now() % 1_000_000);
const SKUS = ['HOT-1', 'HOT-2', 'HOT-3', 'HOT-4', 'HOT-5', 'HOT-6'];

let db: TestDatabase;
let readKey: string;
let port: number;
let hub: SpawnedHub;
const tokens = new Map<string, string>();

beforeAll(async () => {
  db = await createTestDatabase();
  const [t1, t2, t3, key] = await Promise.all([addStore(db.url, 's1'), addStore(db.url, 's2'), addStore(db.url, 's3'), addReadKey(db.url)]);
  tokens.set('s1', t1).set('s2', t2).set('s3', t3);
  readKey = key;
  port = await freePort();
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-a', port });
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await db?.drop();
  removeTempDirs();
}, 30_000);

describe(`crashes mid-sync (seed ${SEED})`, () => {
  it('(a) hub SIGKILLed while agents stream sales: nothing lost, nothing doubled', async () => {
    const random = rng(SEED);
    const agents = await Promise.all(['s1', 's2'].map((s) => createAgent(s, tokens.get(s)!)));
    await Promise.all(agents.map((a) => startAgent(a, hub.syncUrl)));
    await Promise.all(agents.map((a) => mustPost(a, '/restocks', SKUS.map((sku) => ({ sku, qty: 100_000 })))));
    await Promise.all(agents.map((a) => waitSynced(a)));

    const sellers = agents.map((a) => startSelling(a, SKUS, { terminals: 4, random }));
    await sleep(500 + random() * 2_000);
    // Kill while a batch is in flight (sent, not yet acked) at one of the agents.
    await waitFor(
      'a batch in flight',
      async () => (await Promise.all(agents.map(agentStatus))).some((s) => s.sync.unackedBatches > 0),
      { timeoutMs: 5_000, intervalMs: 5 },
    );
    await hub.kill('SIGKILL');

    // The stores keep selling with the hub gone, then it comes back on the same port.
    await sleep(1_000 + random() * 1_000);
    const offline = await Promise.all(agents.map(agentStatus));
    expect(offline.map((s) => s.sync.online)).toEqual([false, false]);
    expect(offline.map((s) => s.sync.unackedEvents > 0)).toEqual([true, true]);
    hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-a', port });
    await sleep(1_000);
    await Promise.all(sellers.map((s) => s.stop()));
    for (const s of sellers) {
      expect(s.failed).toEqual([]);
      expect(s.acked.length).toBeGreaterThan(10);
    }

    await Promise.all(agents.map((a) => waitSynced(a)));
    for (const [i, a] of agents.entries()) {
      await expectAckedSalesLogged(a, sellers[i]!.acked);
      await expectConverged(a, hub.url, readKey, db.url);
    }
  }, 90_000);

  it('(b) agent SIGKILLed while it sends a backlog: resent after restart, stored once, verify passes', async () => {
    const a = await createAgent('s3', tokens.get('s3')!);
    // Build the backlog offline: its hub URL points at a port nobody listens on.
    await startAgent(a, `ws://127.0.0.1:${await freePort()}/sync`);
    await mustPost(a, '/restocks', SKUS.map((sku) => ({ sku, qty: 1_000_000 })));
    const LINES = 500;
    const REQUESTS = 60;
    for (let i = 0; i < REQUESTS; i += 6) {
      const rs = await Promise.all(
        Array.from({ length: 6 }, (_, j) => post(a, '/sales', Array.from({ length: LINES }, (_, k) => ({ sku: SKUS[(i + j + k) % SKUS.length]!, qty: 1 })))),
      );
      expect(rs.map((r) => r.status)).toEqual(rs.map(() => 201));
    }
    const total = (await agentStatus(a)).events;
    expect(total).toBe(SKUS.length + LINES * REQUESTS);
    await stopAgent(a, 'SIGTERM');

    // Reconnect to the hub and kill the agent once some of the backlog is acked, not all.
    await startAgent(a, hub.syncUrl);
    const seen = await waitFor(
      'part of the backlog acked',
      async () => {
        const s = await agentStatus(a);
        return s.sync.unackedEvents < total && s.sync.unackedEvents > 0 ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 2 },
    );
    await stopAgent(a, 'SIGKILL');
    const stored = await eventCount(db.url, 's3');
    expect(stored, `events stored when the agent died (it had ${seen.sync.unackedEvents} unacked)`).toBeGreaterThan(0);
    expect(stored).toBeLessThan(total);

    await startAgent(a, hub.syncUrl);
    await waitSynced(a);
    const r = await expectConverged(a, hub.url, readKey, db.url);
    expect(r.events).toBe(total);
  }, 90_000);
});

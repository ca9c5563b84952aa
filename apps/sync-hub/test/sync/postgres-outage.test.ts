/**
 * PostgreSQL goes away under load, and comes back.
 *
 * Proxy variant: the hub reaches Postgres through a TCP proxy; cut() kills
 * every connection and refuses new ones for ~3 s while an agent sells
 * continuously. The agent keeps answering 201, its acks stop (lastAckAt
 * stands still, unacked events grow), the hub's /health says 503 degraded.
 * After restore() acks resume and everything converges, each event stored once.
 *
 * Server-side variant: pg_terminate_backend on every connection of the test
 * database, several times, under the same load: the hub rides it out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  agentStatus,
  createAgent,
  killAllAgents,
  mustPost,
  removeTempDirs,
  startAgent,
  startSelling,
  stopAgent,
  waitSynced,
} from './helpers/agents.js';
import { expectAckedSalesLogged, expectConverged } from './helpers/checks.js';
import { addReadKey, addStore, hubHealth, killAllHubs, spawnHub } from './helpers/hub.js';
import { startPgProxy, type PgProxy } from './helpers/pg-proxy.js';
import { terminateBackends } from './helpers/postgres.js';
import { sleep, waitFor } from './helpers/wait.js';

const SKUS = ['HOT-1', 'HOT-2', 'HOT-3', 'HOT-4'];

let db: TestDatabase;
let proxy: PgProxy | null = null;
let readKey: string;
const tokens = new Map<string, string>();

beforeAll(async () => {
  db = await createTestDatabase();
  const [t1, t2, key] = await Promise.all([addStore(db.url, 's1'), addStore(db.url, 's2'), addReadKey(db.url)]);
  tokens.set('s1', t1).set('s2', t2);
  readKey = key;
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await proxy?.close();
  await db?.drop();
  removeTempDirs();
}, 30_000);

describe('PostgreSQL outage under load', () => {
  it('proxy cut for ~3 s: sales go on, acks stop, /health degrades; after restore everything converges once', async () => {
    proxy = await startPgProxy();
    const hub = await spawnHub({ databaseUrl: proxy.urlFor(db.url), replica: 'hub-proxy' });
    const a = await createAgent('s1', tokens.get('s1')!);
    await startAgent(a, hub.syncUrl);
    await mustPost(a, '/restocks', SKUS.map((sku) => ({ sku, qty: 100_000 })));
    await waitSynced(a);

    const seller = startSelling(a, SKUS, { terminals: 3, pauseMs: 5 });
    await waitFor('acks under load', async () => ((await agentStatus(a)).sync.lastAckAt ?? 0) > Date.now() - 500, { timeoutMs: 5_000 });
    expect((await hubHealth(hub.url)).status).toBe(200);

    proxy.cut();
    const cutAt = Date.now();
    const soldBeforeCut = seller.acked.length;
    let sawDegraded = false;
    const samples: { at: number; lastAckAt: number | null; unackedEvents: number; online: boolean }[] = [];
    while (Date.now() - cutAt < 3_000) {
      const [st, health] = await Promise.all([agentStatus(a), hubHealth(hub.url)]);
      samples.push({ at: Date.now(), lastAckAt: st.sync.lastAckAt, unackedEvents: st.sync.unackedEvents, online: st.sync.online });
      if (health.status === 503) {
        sawDegraded = true;
        expect(health.body).toMatchObject({ ok: false, degraded: true });
      }
      await sleep(100);
    }
    expect(sawDegraded, 'hub /health answered 503 during the outage').toBe(true);
    expect(seller.acked.length - soldBeforeCut, 'sales answered 201 during the outage').toBeGreaterThan(20);
    // Acks of commits that were already done may still land right after the
    // cut; after that lastAckAt stands still while unacked events pile up.
    const settled = samples.filter((s) => s.at > cutAt + 1_000);
    expect(settled.length).toBeGreaterThan(5);
    expect(new Set(settled.map((s) => s.lastAckAt)).size, 'no acks once the database is gone').toBe(1);
    expect(settled[settled.length - 1]!.unackedEvents).toBeGreaterThan(settled[0]!.unackedEvents);
    expect(settled.every((s) => s.online), 'the agent stays connected to the hub').toBe(true);
    const frozenAck = settled[0]!.lastAckAt ?? 0;

    proxy.restore();
    await waitFor('acks to resume', async () => ((await agentStatus(a)).sync.lastAckAt ?? 0) > frozenAck, { timeoutMs: 15_000 });
    await waitFor('/health back to 200', async () => (await hubHealth(hub.url)).status === 200, { timeoutMs: 15_000 });
    await sleep(500);
    await seller.stop();
    expect(seller.failed).toEqual([]);

    await waitSynced(a);
    await expectAckedSalesLogged(a, seller.acked);
    await expectConverged(a, hub.url, readKey, db.url);
    expect(hub.child.exitCode).toBeNull();
    await stopAgent(a, 'SIGTERM');
    await hub.kill('SIGTERM');
  }, 90_000);

  it('pg_terminate_backend on the hub connections, repeatedly: the hub recovers, every event once', async () => {
    const hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-direct' });
    const a = await createAgent('s2', tokens.get('s2')!);
    await startAgent(a, hub.syncUrl);
    await mustPost(a, '/restocks', SKUS.map((sku) => ({ sku, qty: 100_000 })));
    await waitSynced(a);

    const seller = startSelling(a, SKUS, { terminals: 3, pauseMs: 5 });
    let terminated = 0;
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      terminated += await terminateBackends(db.name);
    }
    expect(terminated, 'hub connections terminated').toBeGreaterThan(0);
    await sleep(500);
    await seller.stop();
    expect(seller.failed).toEqual([]);
    expect(seller.acked.length).toBeGreaterThan(50);

    await waitSynced(a);
    expect(hub.child.exitCode, `the hub survived:\n${hub.output().slice(-2_000)}`).toBeNull();
    await expectAckedSalesLogged(a, seller.acked);
    await expectConverged(a, hub.url, readKey, db.url);
    await waitFor('/health 200', async () => (await hubHealth(hub.url)).status === 200, { timeoutMs: 10_000 });
  }, 90_000);
});

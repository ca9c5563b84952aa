/**
 * Scale-out: two hub processes (replicas hub-a and hub-b) on one Postgres
 * database. Store s1's agent syncs with hub A, store s2's with hub B. Each
 * hub learns of the other's commits through LISTEN/NOTIFY, so a sale at
 * either store shows in BOTH hubs' aggregate GET /inventory?sku= within 2 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  agentStock,
  createAgent,
  killAllAgents,
  mustPost,
  removeTempDirs,
  startAgent,
  startSelling,
  waitSynced,
  type StoreAgent,
} from './helpers/agents.js';
import { expectConverged } from './helpers/checks.js';
import { addReadKey, addStore, hubSku, killAllHubs, spawnHub, type SpawnedHub } from './helpers/hub.js';
import { waitFor } from './helpers/wait.js';

const VISIBLE_WITHIN_MS = 2_000;

let db: TestDatabase;
let readKey: string;
let hubA: SpawnedHub;
let hubB: SpawnedHub;
let s1: StoreAgent;
let s2: StoreAgent;

beforeAll(async () => {
  db = await createTestDatabase();
  const [t1, t2, key] = await Promise.all([addStore(db.url, 's1'), addStore(db.url, 's2'), addReadKey(db.url)]);
  readKey = key;
  // Started together: they also race to migrate the fresh database.
  [hubA, hubB] = await Promise.all([spawnHub({ databaseUrl: db.url, replica: 'hub-a' }), spawnHub({ databaseUrl: db.url, replica: 'hub-b' })]);
  [s1, s2] = await Promise.all([createAgent('s1', t1), createAgent('s2', t2)]);
  await Promise.all([startAgent(s1, hubA.syncUrl), startAgent(s2, hubB.syncUrl)]);
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await db?.drop();
  removeTempDirs();
}, 30_000);

/** Waits until `hub`'s aggregate for `sku` has `onHand`; returns how long that took from `since`. */
async function visibleAt(hub: SpawnedHub, sku: string, onHand: number, since: number): Promise<number> {
  let last: unknown = null;
  await waitFor(
    `${sku} on hand ${onHand} at ${hub.replica}`,
    async () => {
      const v = await hubSku(hub.url, readKey, sku);
      last = v;
      return v.onHand === onHand;
    },
    { timeoutMs: 10_000, intervalMs: 20, describe: () => JSON.stringify(last) },
  );
  return Date.now() - since;
}

async function agentOnHand(a: StoreAgent, sku: string): Promise<number> {
  return (await agentStock(a)).get(sku)?.onHand ?? 0;
}

describe('two hubs on one database', () => {
  it('a sale at either store shows in both hubs within 2 s, and the aggregates agree', async () => {
    await Promise.all([
      mustPost(s1, '/restocks', [
        { sku: 'HOT-X', qty: 50_000 },
        { sku: 'HOT-Y', qty: 50_000 },
      ]),
      mustPost(s2, '/restocks', [
        { sku: 'HOT-X', qty: 30_000 },
        { sku: 'HOT-Z', qty: 50_000 },
      ]),
    ]);
    for (const hub of [hubA, hubB]) await visibleAt(hub, 'HOT-X', 80_000, Date.now());

    // One sale at a time, alternating stores: each is measured at the hub its agent does NOT talk to.
    let expected = 80_000;
    const lags: number[] = [];
    for (let i = 0; i < 6; i++) {
      const [at, other] = i % 2 === 0 ? [s1, hubB] : [s2, hubA];
      const qty = 1 + (i % 3);
      const t0 = Date.now();
      await mustPost(at, '/sales', [{ sku: 'HOT-X', qty }]);
      expected -= qty;
      lags.push(await visibleAt(other, 'HOT-X', expected, t0));
    }
    for (const lag of lags) expect(lag).toBeLessThan(VISIBLE_WITHIN_MS);

    // Both stores selling at once: afterwards both hubs give the same totals, equal to the stores' own.
    const sellers = [startSelling(s1, ['HOT-X', 'HOT-Y'], { terminals: 2, pauseMs: 5 }), startSelling(s2, ['HOT-X', 'HOT-Z'], { terminals: 2, pauseMs: 5 })];
    await new Promise((r) => setTimeout(r, 1_500));
    await Promise.all(sellers.map((s) => s.stop()));
    for (const s of sellers) expect(s.failed).toEqual([]);
    const stoppedAt = Date.now();
    const totalX = (await agentOnHand(s1, 'HOT-X')) + (await agentOnHand(s2, 'HOT-X'));
    expect(totalX).toBeLessThan(expected);
    for (const hub of [hubA, hubB]) {
      expect(await visibleAt(hub, 'HOT-X', totalX, stoppedAt)).toBeLessThan(VISIBLE_WITHIN_MS);
    }
    const [xa, xb] = await Promise.all([hubSku(hubA.url, readKey, 'HOT-X'), hubSku(hubB.url, readKey, 'HOT-X')]);
    expect(xa).toMatchObject({ onHand: totalX, held: 0, available: totalX });
    // The numbers agree; `online` and `updatedAt` are each process's own view.
    const numbers = (x: typeof xa) => ({ ...x, at: 0, stores: x.stores.map((st) => ({ ...st, online: null, updatedAt: null })) });
    expect(numbers(xb)).toEqual(numbers(xa));

    await Promise.all([waitSynced(s1), waitSynced(s2)]);
    for (const hub of [hubA, hubB]) {
      await expectConverged(s1, hub.url, readKey, db.url);
      await expectConverged(s2, hub.url, readKey, db.url);
    }
  }, 90_000);
});

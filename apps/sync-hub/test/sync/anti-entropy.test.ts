/**
 * Anti-entropy (digest + repair) with real processes: a real hub CLI on a
 * real PostgreSQL, real edge agents.
 *
 * After every (re)connect, once it has nothing in flight, the agent sends
 * `digest`; the hub answers with its own and, when they differ, logs
 * `digest mismatch, repairing` and sends `repair` (its entries of the store
 * minus the agent's own); the agent, seeing a different digest, sends
 * `repair` with its own entries, which the hub commits (own entries only).
 *
 * (a) The hub's database is damaged while the hub is down, as a restore from
 *     an older backup would: one counter row deleted, two lowered. The
 *     agent's watermarks say all of it was acked, so it resends nothing; only
 *     anti-entropy can put the rows back. They come back, exactly.
 * (b) The damaged row is *higher* than the agent's (p + 5). Entries only
 *     grow and merge is max, so no repair can lower it: the hub keeps the
 *     higher value, every digest round mismatches again (logged each time,
 *     no crash), and the agent is never raised, because the hub's repair and
 *     batches leave out the agent's own entries. (The agent itself does not
 *     filter them: `SyncClient.handle` passes hub batches and repairs to
 *     `AgentInventory.applyRemote` unfiltered. It is the hub that never sends
 *     them.) The store needs an operator: this test pins down that nothing
 *     else happens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  agentEntries,
  agentStatus,
  agentStock,
  createAgent,
  exportEvents,
  killAllAgents,
  mustPost,
  removeTempDirs,
  startAgent,
  stopAgent,
  syncNow,
  waitSynced,
  type StoreAgent,
} from './helpers/agents.js';
import { expectConverged } from './helpers/checks.js';
import { addReadKey, addStore, freePort, hubCommits, hubCounter, hubHealth, hubStore, killAllHubs, spawnHub, type SpawnedHub } from './helpers/hub.js';
import { counterRows, execSql, storedEvents, storedOnHand } from './helpers/postgres.js';
import { sleep, waitFor } from './helpers/wait.js';

const SKUS = ['AE-1', 'AE-2', 'AE-3', 'AE-4'];

let db: TestDatabase;
let readKey: string;
let port: number;
let hub: SpawnedHub;
const tokens = new Map<string, string>();

beforeAll(async () => {
  db = await createTestDatabase();
  const [t1, t2, key] = await Promise.all([addStore(db.url, 's1'), addStore(db.url, 's2'), addReadKey(db.url)]);
  tokens.set('s1', t1).set('s2', t2);
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

/** `digest mismatch, repairing` lines the hub logged for `store`. */
function mismatches(h: SpawnedHub, store: string): number {
  let n = 0;
  for (const line of h.output().split('\n')) {
    try {
      const j = JSON.parse(line) as { msg?: string; store?: string };
      if (j.msg?.startsWith('digest mismatch') && j.store === store) n++;
    } catch {
      // not a log line
    }
  }
  return n;
}

/** The agent's /stock as sku → {onHand, held, available} (the shape of the hub's /inventory). */
async function agentView(a: StoreAgent): Promise<Map<string, { onHand: number; held: number; available: number }>> {
  const stock = await agentStock(a);
  return new Map([...stock].map(([sku, s]) => [sku, { onHand: s.onHand, held: s.held, available: s.available }]));
}

/** A store with stock and sales, fully synced and converged. */
async function syncedStore(store: string): Promise<StoreAgent> {
  const a = await createAgent(store, tokens.get(store)!);
  await startAgent(a, hub.syncUrl);
  await mustPost(a, '/restocks', SKUS.map((sku) => ({ sku, qty: 40 })));
  await mustPost(a, '/sales', [{ sku: 'AE-1', qty: 3 }]);
  await mustPost(a, '/sales', [
    { sku: 'AE-2', qty: 2 },
    { sku: 'AE-3', qty: 1 },
  ]);
  await mustPost(a, '/sales', [{ sku: 'AE-2', qty: 3 }]);
  await mustPost(a, '/restocks', [{ sku: 'AE-3', qty: 12 }]);
  await mustPost(a, '/sales', [
    { sku: 'AE-4', qty: 5 },
    { sku: 'AE-1', qty: 1 },
  ]);
  await waitSynced(a);
  await expectConverged(a, hub.url, readKey, db.url);
  return a;
}

/** SIGTERM the hub, run `damage` on its database while it is down, start it again on the same port. */
async function restartHubWith(damage: () => Promise<void>): Promise<number> {
  const exit = await hub.kill('SIGTERM');
  expect(exit, 'orderly hub shutdown').toEqual({ code: 0, signal: null });
  await damage();
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-a', port });
  return Date.now();
}

async function waitOnline(a: StoreAgent): Promise<void> {
  await waitFor('agent back online', async () => (await agentStatus(a)).sync.online, { timeoutMs: 30_000, intervalMs: 50 });
}

describe('anti-entropy: digest and repair after the hub lost data', () => {
  it('(a) hub restored from an older backup: the agent repairs the rows it had acked', async () => {
    const a = await syncedStore('s1');
    const rowsBefore = await counterRows(db.url, 's1');
    const stockBefore = await agentView(a);
    expect(rowsBefore.map((r) => [r.sku, r.replica])).toEqual(SKUS.map((sku) => [sku, a.replica]));
    const before = new Map(rowsBefore.map((r) => [r.sku, r]));
    expect(before.get('AE-2')!.n).toBe(5);
    expect(before.get('AE-3')!.p).toBe(52);

    const restartedAt = await restartHubWith(async () => {
      const whose = [a.replica];
      expect(await execSql(db.url, "DELETE FROM counter_entries WHERE store_id = 's1' AND sku = 'AE-1' AND replica_id = $1", whose)).toBe(1);
      expect(await execSql(db.url, "UPDATE counter_entries SET n = n - 2 WHERE store_id = 's1' AND sku = 'AE-2' AND replica_id = $1", whose)).toBe(1);
      expect(await execSql(db.url, "UPDATE counter_entries SET p = p - 12 WHERE store_id = 's1' AND sku = 'AE-3' AND replica_id = $1", whose)).toBe(1);
      // The damage is real: Postgres no longer gives the agent's numbers (the events table is untouched).
      const damaged = await storedOnHand(db.url, 's1');
      expect(damaged.has('AE-1')).toBe(false);
      expect(damaged.get('AE-2')).toBe(stockBefore.get('AE-2')!.onHand + 2);
      expect(damaged.get('AE-3')).toBe(stockBefore.get('AE-3')!.onHand - 12);
    });

    await waitOnline(a);
    const onlineAt = Date.now();
    // Converges without any new sale, resend or catch-up: only digest + repair can do it.
    await waitFor(
      "the hub's /inventory of s1 to equal the agent's /stock",
      async () => {
        const [hubView, agent] = await Promise.all([hubStore(hub.url, readKey, 's1'), agentView(a)]);
        expect(agent).toEqual(stockBefore);
        return JSON.stringify([...hubView].sort()) === JSON.stringify([...agent].sort());
      },
      { timeoutMs: 10_000, intervalMs: 50, describe: async () => JSON.stringify([...(await hubStore(hub.url, readKey, 's1'))]) },
    );
    const repairedAt = Date.now();
    console.info(
      `(a) agent online ${onlineAt - restartedAt} ms after the hub restart; hub repaired ${repairedAt - onlineAt} ms after that`,
    );

    expect(mismatches(hub, 's1'), 'the hub saw the mismatch and started a repair round').toBeGreaterThanOrEqual(1);
    // The new hub process inserted no event and committed only the agent's repair:
    // nothing was resent (the agent's watermarks were right; the hub's rows were not).
    const commits = await hubCommits(hub.url, readKey);
    expect(commits.events, 'events inserted by the restarted hub').toBe(0);
    expect(commits.items, 'commit items at the restarted hub: the one repair').toBe(1);
    expect(await hubCounter(hub.url, readKey, 's1', 'AE-1')).toEqual(stockBefore.get('AE-1'));

    // Postgres is repaired row for row, not just in sum.
    expect(await counterRows(db.url, 's1')).toEqual(rowsBefore);
    await expectConverged(a, hub.url, readKey, db.url);

    // Now the digests agree: another round on demand finds nothing to repair.
    const seen = mismatches(hub, 's1');
    await syncNow(a);
    await sleep(500);
    expect(mismatches(hub, 's1'), 'no mismatch once repaired').toBe(seen);
    await stopAgent(a);
  }, 60_000);

  it('(b) hub row higher than the agent: max-merge keeps it, digests keep differing, nothing crashes, the agent is not raised', async () => {
    const b = await syncedStore('s2');
    const rowsBefore = await counterRows(db.url, 's2');
    const entriesBefore = agentEntries(b);
    const stockBefore = await agentView(b);
    const eventsBefore = (await exportEvents(b)).map((e) => e.id).sort();

    const restartedAt = await restartHubWith(async () => {
      expect(
        await execSql(db.url, "UPDATE counter_entries SET p = p + 5 WHERE store_id = 's2' AND sku = 'AE-1' AND replica_id = $1", [b.replica]),
      ).toBe(1);
    });
    await waitOnline(b);
    // The reconnect digest round: a mismatch, logged.
    await waitFor('a digest mismatch for s2 at the restarted hub', () => mismatches(hub, 's2') >= 1, { timeoutMs: 10_000, intervalMs: 50 });
    console.info(`(b) first mismatch logged ${Date.now() - restartedAt} ms after the hub restart`);

    // Every further round (POST /sync = `edge-agent sync`) mismatches again: the repair cannot lower a max-merged entry.
    for (const want of [2, 3]) {
      await syncNow(b);
      await waitFor(`digest mismatch #${want} for s2`, () => mismatches(hub, 's2') >= want, { timeoutMs: 5_000, intervalMs: 50 });
    }

    // The hub keeps the higher value, in memory and in Postgres, and is healthy.
    expect((await hubHealth(hub.url)).status).toBe(200);
    expect(hub.child.exitCode).toBeNull();
    const up = stockBefore.get('AE-1')!;
    expect(await hubCounter(hub.url, readKey, 's2', 'AE-1')).toEqual({ onHand: up.onHand + 5, held: up.held, available: up.available + 5 });
    for (const sku of SKUS.filter((s) => s !== 'AE-1')) expect(await hubCounter(hub.url, readKey, 's2', sku), sku).toEqual(stockBefore.get(sku));
    expect(await counterRows(db.url, 's2')).toEqual(rowsBefore.map((r) => (r.sku === 'AE-1' ? { ...r, p: r.p + 5 } : r)));

    // The agent is untouched: same stock, same stored entries (p not raised), still online with nothing pending.
    expect(await agentView(b)).toEqual(stockBefore);
    expect(agentEntries(b)).toEqual(entriesBefore);
    const s = await agentStatus(b);
    expect(s.sync).toMatchObject({ online: true, unackedBatches: 0, unackedEvents: 0, lastError: null });
    // Only entries were damaged; the event log at the hub is still exactly the agent's.
    const stored = await storedEvents(db.url, 's2');
    expect(stored.duplicates).toEqual([]);
    expect(stored.ids.sort()).toEqual(eventsBefore);
    await stopAgent(b);
  }, 60_000);
});

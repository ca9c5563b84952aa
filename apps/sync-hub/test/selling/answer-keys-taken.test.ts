/**
 * What a hub process does when its commit carries an idempotency key that
 * another hub process stored first (both missed it at lookup: the same
 * request sent to each at once). Decision 35: the commit is rolled back
 * whole, that job answers the stored record, the rest of its group is decided
 * again and committed once, and a batch of another replica that shared the
 * transaction commits without it.
 *
 * In one process over real PostgreSQL, deterministically: seller B's jobs go
 * straight to `submitStored` with a key seller A already committed, which
 * is what B's write path does when its lookup ran before A's COMMIT (the
 * interleaving across real processes is apps/sync-hub/test/selling/idempotency-race.test.ts).
 */
import { requestHash } from '@scoville/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventIdFor, increment, InventoryState, replicaId, sku, storeId, type ReplicaId } from '@scoville/crdt-inventory';
import { openSqlClient } from '../../src/db/open.js';
import { silentLogger } from '../../src/log.js';
import { HubSeller, HUB_SCOPE, type ResponseSlot } from '../../src/selling/hub-seller.js';
import { applyUpdate } from '../../src/selling/stock-updates.js';
import { HubState } from '../../src/state/hub-state.js';
import type { HubStorage } from '../../src/store/hub-storage.js';
import type { CommitItem } from '../../src/store/inventory-store.js';
import { openHubStorage } from '../../src/store/sql-hub-storage.js';
import { HubCommitter } from '../../src/sync/hub-committer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const WH = storeId('wh1');
const K = sku('K-1');

let db: TestDatabase;
let storage: HubStorage;
let sql: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  storage = openHubStorage(await openSqlClient({ databaseUrl: db.url }));
  await storage.migrate();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
}, 60_000);

afterAll(async () => {
  await sql?.end().catch(() => undefined);
  await storage?.close();
  await db?.drop();
});

/** A hub process's selling replica, with its own committer and memory, on the shared database. */
async function hubProcess(name: string): Promise<{ seller: HubSeller; committer: HubCommitter; me: ReplicaId }> {
  const me = replicaId(name);
  await storage.access.claimReplica(me, HUB_SCOPE, 'hub', Date.now());
  const state = new HubState();
  const committer = new HubCommitter(storage.inventory, state, { maxRetryDelayMs: 20 });
  return { seller: new HubSeller({ state, committer, me, firstSeq: 1, clock: Date.now, log: silentLogger }), committer, me };
}

const slot = (key: string, qty: number): ResponseSlot => ({ scope: 'store:wh1', key, requestHash: requestHash('POST /inventory/updates', { qty }), status: 201 });
const sale = (qty: number) => (b: Parameters<typeof applyUpdate>[0]) => applyUpdate(b, { storeId: WH, type: 'sale', lines: [{ sku: K, qty }] });
const restock = (s: HubSeller, qty: number) => s.submit((b) => applyUpdate(b, { storeId: WH, type: 'restock', lines: [{ sku: K, qty }] }));

/** Hub processes x<n> and y<n>, each with 10 units of its own to sell. */
async function twoProcesses(n: number) {
  const [a, b] = [await hubProcess(`hub-x${n}`), await hubProcess(`hub-y${n}`)];
  for (const p of [a, b]) expect((await restock(p.seller, 10)).ok).toBe(true);
  return { a, b };
}

/** A batch as an agent's sync session commits it: one restock of its own. */
function agentRestock(name: string, qty: number): CommitItem {
  const agent = replicaId(name);
  const r = increment(new InventoryState(), { store: WH, sku: K, replica: agent, qty });
  if (!r.ok) throw new Error('increment refused');
  const at = Date.now();
  return { delta: r.delta, events: [{ id: eventIdFor(agent, 1), store: WH, replica: agent, seq: 1, type: 'restock', sku: K, qty, at }], from: { replica: agent, store: WH, at } };
}

async function eventsOf(replica: string): Promise<[number, string, number][]> {
  const r = await sql.query<{ seq: number; type: string; qty: number }>('SELECT seq::int, type, qty::int FROM events WHERE replica_id = $1 ORDER BY seq', [replica]);
  return r.rows.map((e) => [e.seq, e.type, e.qty]);
}

describe('a commit whose idempotency key another hub process stored first', () => {
  it('is rolled back whole: that job answers the stored record, the rest of its group commits once', async () => {
    const { a, b } = await twoProcesses(1);
    const first = await a.seller.submitStored(sale(1), slot('k1', 1));
    if (!first.ok) throw new Error('sale refused');

    // One group at B (submitted in one turn): a sale without a key, the taken key, a fresh key.
    const [plain, taken, fresh] = await Promise.all([b.seller.submit(sale(2)), b.seller.submitStored(sale(1), slot('k1', 1)), b.seller.submitStored(sale(3), slot('k2', 3))]);
    expect(taken).toEqual({ ok: true, value: { ...first.value, adopted: true } });
    expect(plain.ok && plain.value.lines[0]!.onHand).toBe(8);
    expect(fresh.ok && fresh.value.adopted).toBe(undefined);
    expect(fresh.ok && JSON.parse(fresh.value.body).lines[0].onHand).toBe(5);
    // B's own sale for k1 was never stored; its seqs stay contiguous.
    expect(await eventsOf(b.me)).toEqual([
      [1, 'restock', 10],
      [2, 'sale', 2],
      [3, 'sale', 3],
    ]);
    expect((await storage.selling.response('store:wh1', 'k1'))?.body).toBe(first.value.body);
    expect((await storage.selling.response('store:wh1', 'k2'))?.body).toBe(fresh.ok && fresh.value.body);
    await Promise.all([a.seller.close(), b.seller.close()]);
  });

  it('answers 422 when the key was stored for another request, and stores nothing of it', async () => {
    const { a, b } = await twoProcesses(2);
    expect((await a.seller.submitStored(sale(1), slot('k3', 1))).ok).toBe(true);
    const other = await b.seller.submitStored(sale(2), slot('k3', 2));
    expect(!other.ok && [other.error.status, other.error.code]).toEqual([422, 'idempotency_key_reused']);
    expect(await eventsOf(b.me)).toEqual([[1, 'restock', 10]]);
    await Promise.all([a.seller.close(), b.seller.close()]);
  });

  it('does not take down the other batches of its transaction', async () => {
    const { a, b } = await twoProcesses(3);
    expect((await a.seller.submitStored(sale(1), slot('k4', 1))).ok).toBe(true);

    // Hold B's committer on a first transaction (an agent's batch whose events wait for a lock), so
    // B's group and another agent's batch queue behind it and go into the next transaction together.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
    const blocker = b.committer.submit(agentRestock('agent-w3', 2));
    await new Promise((r) => setTimeout(r, 100));
    const batch = b.committer.submit(agentRestock('agent-z3', 4));
    const taken = b.seller.submitStored(sale(1), slot('k4', 1));
    await new Promise((r) => setTimeout(r, 50));
    const failuresBefore = b.committer.stats.failures;
    await locker.query('COMMIT');
    await locker.end();

    expect(await blocker).toMatchObject({ eventsInserted: 1 });
    expect(await batch).toMatchObject({ eventsInserted: 1 });
    expect(await taken).toMatchObject({ ok: true, value: { key: 'k4', adopted: true } });
    // They did share one: it failed, then B's group failed again alone (the batch went through alone).
    expect(b.committer.stats.failures - failuresBefore).toBe(2);
    expect(await eventsOf('agent-z3')).toEqual([[1, 'restock', 4]]);
    expect(await eventsOf(b.me)).toEqual([[1, 'restock', 10]]);
    await Promise.all([a.seller.close(), b.seller.close()]);
  });
});

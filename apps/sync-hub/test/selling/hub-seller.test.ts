/**
 * HubSeller's pipeline on real PostgreSQL: the next group is decided while
 * the previous one commits, on top of it, but submitted only after that
 * COMMIT; if the previous group fails, the next one is decided again on the
 * committed state, and no answer (a refusal included) is sent before the
 * commit it depends on. Commits are held back by locking the events table
 * from another connection (a group's COPY waits for it).
 *
 * Also the idempotency answers' read path (StoredAnswers): memory first,
 * else one query for every key that queued meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { replicaId, sku, storeId, type ReplicaId } from '@scoville/crdt-inventory';
import { openSqlClient } from '../../src/db/open.js';
import { idempotentWrites } from '../../src/http/idempotent-write.js';
import { silentLogger } from '../../src/log.js';
import { HubSeller, HUB_SCOPE } from '../../src/selling/hub-seller.js';
import type { SellOutcome } from '../../src/selling/sell-error.js';
import { applyUpdate, type UpdateResult } from '../../src/selling/stock-updates.js';
import { StoredAnswers } from '../../src/selling/stored-answers.js';
import { HubState } from '../../src/state/hub-state.js';
import { openHubStorage } from '../../src/store/sql-hub-storage.js';
import type { HubStorage } from '../../src/store/hub-storage.js';
import type { SellingStore } from '../../src/store/selling-store.js';
import { HubCommitter } from '../../src/sync/hub-committer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const WH = storeId('wh1');
const K = sku('K-1');

let db: TestDatabase;
let storage: HubStorage;
let n = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  storage = openHubStorage(await openSqlClient({ databaseUrl: db.url }));
  await storage.migrate();
}, 60_000);

afterAll(async () => {
  await storage?.close();
  await db?.drop();
});

/** A seller of its own replica over the real committer and inventory store. */
async function seller(clock: () => number = Date.now): Promise<{ seller: HubSeller; state: HubState; me: ReplicaId }> {
  const me = replicaId(`hub-t${++n}`);
  await storage.access.claimReplica(me, HUB_SCOPE, 'hub', Date.now());
  const state = new HubState();
  const committer = new HubCommitter(storage.inventory, state, { maxRetryDelayMs: 20 });
  return { seller: new HubSeller({ state, committer, me, firstSeq: 1, clock, log: silentLogger }), state, me };
}

const update = (s: HubSeller, type: 'sale' | 'restock', qty: number, terminal: string | null = null): Promise<SellOutcome<UpdateResult>> =>
  s.submit((b) => applyUpdate(b, { storeId: WH, type, lines: [{ sku: K, qty }], terminal }));

/** Holds every commit back (at its COPY into events) until the returned release is called. */
async function holdCommits(): Promise<() => Promise<void>> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE events IN EXCLUSIVE MODE');
  return async () => {
    await c.query('COMMIT');
    await c.end();
  };
}

const settled = <T>(p: Promise<T>) => {
  const s = { done: false };
  p.then(
    () => (s.done = true),
    () => (s.done = true),
  );
  return s;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This replica's events in the database: seq, quantity and the change (transaction) that stored them. */
async function eventsOf(me: ReplicaId): Promise<{ seq: number; qty: number; change: number }[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query(
      'SELECT e.seq::int AS seq, e.qty::int AS qty, ec.change_id::int AS change FROM events e JOIN event_commits ec ON ec.tx = e.tx WHERE e.replica_id = $1 ORDER BY e.seq',
      [me],
    );
    return r.rows as { seq: number; qty: number; change: number }[];
  } finally {
    await c.end();
  }
}

describe('HubSeller pipeline', () => {
  it('decides the next group on top of the committing one, commits it after, answers nothing early', async () => {
    const { seller: s, state, me } = await seller();
    expect((await update(s, 'restock', 5)).ok).toBe(true);

    const release = await holdCommits();
    const a = update(s, 'sale', 3);
    await sleep(100); // a's group is in the committer, waiting for the lock
    const b = update(s, 'sale', 3); // only 2 left after a: refused
    const c = update(s, 'sale', 2);
    const [sa, sb, sc] = [settled(a), settled(b), settled(c)];
    await sleep(150);
    expect([sa.done, sb.done, sc.done]).toEqual([false, false, false]); // not even the refusal
    expect(state.state.counter(WH, K)?.onHand()).toBe(5); // memory holds committed data only
    await release();

    const [ra, rb, rc] = await Promise.all([a, b, c]);
    expect(ra.ok && ra.value.lines[0]!.onHand).toBe(2);
    expect(!rb.ok && rb.error.code).toBe('insufficient_stock');
    expect(rc.ok && rc.value.lines[0]!.onHand).toBe(0);
    expect(state.state.counter(WH, K)?.onHand()).toBe(0);

    // Contiguous seqs; a and c in two transactions, a's first.
    const ev = await eventsOf(me);
    expect(ev.map((e) => [e.seq, e.qty])).toEqual([
      [1, 5],
      [2, 3],
      [3, 2],
    ]);
    expect(ev[2]!.change).toBeGreaterThan(ev[1]!.change);
    await s.close();
  });

  it('decides the next group again when the one before it fails: a refusal against the lost sale becomes a sale', async () => {
    const { seller: s, state, me } = await seller();
    expect((await update(s, 'restock', 5)).ok).toBe(true);

    const release = await holdCommits();
    // A NUL byte cannot be stored: this group fails for good (SQLSTATE 22) once the lock is gone.
    const bad = update(s, 'sale', 3, 'till\u0000');
    // Handled from the start: it may reject while release() is still awaited.
    const badRefused = expect(bad).rejects.toThrow();
    await sleep(100);
    const b = update(s, 'sale', 4); // refused on top of the bad sale, fine without it
    const sb = settled(b);
    await sleep(150);
    expect(sb.done).toBe(false);
    await release();

    await badRefused;
    const rb = await b;
    expect(rb.ok && rb.value.lines[0]!.onHand).toBe(1);
    expect(state.state.counter(WH, K)?.onHand()).toBe(1);
    // The failed group's seq was given again: no gap in the log.
    expect((await eventsOf(me)).map((e) => [e.seq, e.qty])).toEqual([
      [1, 5],
      [2, 4],
    ]);
    await s.close();
  });
});

describe('idempotent writes decided while their key is looked up', () => {
  it('a key stored earlier (not in this memory) replays its answer byte for byte and stores nothing; another body is 422', async () => {
    const { seller: s, state } = await seller();
    expect((await update(s, 'restock', 10)).ok).toBe(true);
    const sale = (qty: number) => ({
      scope: 'store:wh1',
      idempotencyKey: 'sale-1',
      route: 'POST /inventory/updates',
      request: { qty },
      status: 201 as const,
      run: (b: Parameters<typeof applyUpdate>[0]) => applyUpdate(b, { storeId: WH, type: 'sale', lines: [{ sku: K, qty }] }),
    });
    const first = await idempotentWrites(s, new StoredAnswers(storage.selling))(sale(2));
    expect(first).toMatchObject({ ok: true, status: 201, replayed: false });
    expect(state.state.counter(WH, K)?.onHand()).toBe(8);

    // A fresh memory (another process, a restart): the job is decided, then dropped once the lookup finds the key.
    const again = await idempotentWrites(s, new StoredAnswers(storage.selling))(sale(2));
    expect(again).toEqual({ ok: true, status: 201, json: (first as { json: string }).json, replayed: true });
    const other = await idempotentWrites(s, new StoredAnswers(storage.selling))(sale(3));
    expect(other).toMatchObject({ ok: false, status: 422, code: 'idempotency_key_reused' });
    // Concurrent unrelated sales in the same groups still go through.
    const w = idempotentWrites(s, new StoredAnswers(storage.selling));
    const mixed = await Promise.all([w(sale(2)), w({ ...sale(1), idempotencyKey: 'sale-2' }), w({ ...sale(1), idempotencyKey: 'sale-3' })]);
    expect(mixed.map((m) => m.ok && m.replayed)).toEqual([true, false, false]);
    expect(state.state.counter(WH, K)?.onHand()).toBe(6);
    await s.close();
  });
});

describe('idempotent write answers: serialised once, at the group time', () => {
  it('answers the bytes the group stored, remembers that record (at = the group time, not the wall clock), replays them byte for byte', async () => {
    // A group time far from Date.now(), so a wall-clock `at` cannot pass for it.
    const T = Date.now() - 86_400_000;
    const { seller: s, me } = await seller(() => T);
    expect((await update(s, 'restock', 10)).ok).toBe(true);
    const scope = `store:${me}`;
    const sale = (qty: number) => ({
      scope,
      idempotencyKey: 'once-1',
      route: 'POST /inventory/updates',
      request: { qty },
      status: 201 as const,
      run: (b: Parameters<typeof applyUpdate>[0]) => applyUpdate(b, { storeId: WH, type: 'sale', lines: [{ sku: K, qty }] }),
    });
    const answers = new StoredAnswers(storage.selling);
    const w = idempotentWrites(s, answers);
    const first = await w(sale(2));
    if (!first.ok) throw new Error('sale refused');
    expect(first).toMatchObject({ status: 201, replayed: false });
    expect(JSON.parse(first.json)).toMatchObject({ storeId: WH, type: 'sale', lines: [{ sku: K, onHand: 8 }] });

    // Stored in the group's transaction and remembered: one record, the same bytes, the group's time.
    const inDb = await storage.selling.response(scope, 'once-1');
    expect(inDb).toEqual({ scope, key: 'once-1', requestHash: expect.any(String), status: 201, body: first.json, at: T });
    expect(await answers.get(scope, 'once-1')).toEqual(inDb);

    // Replayed from this memory and from a fresh one (another process): byte for byte.
    expect(await w(sale(2))).toEqual({ ok: true, status: 201, json: first.json, replayed: true });
    expect(await idempotentWrites(s, new StoredAnswers(storage.selling))(sale(2))).toEqual({ ok: true, status: 201, json: first.json, replayed: true });
    // The same key for another request: 422, from memory and from the database.
    expect(await w(sale(3))).toMatchObject({ ok: false, status: 422, code: 'idempotency_key_reused' });
    expect(await idempotentWrites(s, new StoredAnswers(storage.selling))(sale(3))).toMatchObject({ ok: false, status: 422, code: 'idempotency_key_reused' });
    await s.close();
  });

  it('a refusal is not stored: the key is judged afresh', async () => {
    const { seller: s, me } = await seller();
    const scope = `store:${me}`;
    expect((await update(s, 'restock', 1)).ok).toBe(true);
    const w = idempotentWrites(s, new StoredAnswers(storage.selling));
    const req = {
      scope,
      idempotencyKey: 'short-1',
      route: 'POST /inventory/updates',
      request: { qty: 5 },
      status: 201 as const,
      run: (b: Parameters<typeof applyUpdate>[0]) => applyUpdate(b, { storeId: WH, type: 'sale', lines: [{ sku: K, qty: 5 }] }),
    };
    expect(await w(req)).toMatchObject({ ok: false, code: 'insufficient_stock' });
    expect(await storage.selling.response(scope, 'short-1')).toBeNull();
    expect((await update(s, 'restock', 10)).ok).toBe(true);
    const later = await w(req);
    expect(later).toMatchObject({ ok: true, status: 201, replayed: false });
    expect((await storage.selling.response(scope, 'short-1'))?.body).toBe((later as { json: string }).json);
    await s.close();
  });
});

describe('StoredAnswers', () => {
  it('reads stored answers in one query for keys asked together, serves remembered ones from memory, never caches a miss', async () => {
    const { seller: s, me } = await seller();
    // Store three answers the way the write path does: in the group's commit.
    const keys = ['k1', 'k2', 'k3'];
    for (const key of keys) {
      await s.submitStored((b) => applyUpdate(b, { storeId: WH, type: 'restock', lines: [{ sku: K, qty: 1 }] }), {
        scope: `store:${me}`,
        key,
        requestHash: `h-${key}`,
        status: 201,
      });
    }
    let queries = 0;
    const counting: SellingStore = {
      response: (scope, key) => storage.selling.response(scope, key),
      responses: (k) => {
        queries++;
        return storage.selling.responses(k);
      },
      cart: (id) => storage.selling.cart(id),
      hubReplicas: () => storage.selling.hubReplicas(),
    };
    const answers = new StoredAnswers(counting);
    const got = await Promise.all([...keys, 'missing'].map((k) => answers.get(`store:${me}`, k)));
    expect(got.map((r) => r?.requestHash ?? null)).toEqual(['h-k1', 'h-k2', 'h-k3', null]);
    expect(queries).toBe(1);
    expect(JSON.parse(got[0]!.body)).toMatchObject({ storeId: WH, type: 'restock' });
    // Read back once: from memory now. A miss is asked again.
    await answers.get(`store:${me}`, 'k2');
    expect(queries).toBe(1);
    expect(await answers.get(`store:${me}`, 'missing')).toBeNull();
    expect(queries).toBe(2);
    answers.remember({ scope: 'store:x', key: 'new', requestHash: 'h', status: 201, body: '{}', at: 0 });
    expect((await answers.get('store:x', 'new'))?.body).toBe('{}');
    expect(queries).toBe(2);
    await s.close();
  });
});

/**
 * Flash sales without oversell, on real PostgreSQL and real hub processes:
 * 500 concurrent holds of one unit on a SKU with 100 units online give
 * exactly 100 carts, whether one hub process serves them, two processes
 * share the rights (the one without stock borrows from the other), or the
 * hub is SIGKILLed in the middle (every 201 survives the restart, none
 * beyond 100).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';

const UNITS = 100;
const CLIENTS = 500;

interface Setup {
  db: TestDatabase;
  token: string;
  reserveKey: string;
  readKey: string;
}

const dbs: TestDatabase[] = [];

async function setup(): Promise<Setup> {
  const db = await createTestDatabase();
  dbs.push(db);
  const [token, reserveKey, readKey] = await Promise.all([
    addStore(db.url, 'wh'),
    hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'reserve']).then((r) => r.key),
    hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read']).then((r) => r.key),
  ]);
  return { db, token, reserveKey, readKey };
}

async function post(url: string, auth: string, body: unknown): Promise<{ status: number; body: any }> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null }; // the hub went away mid-request
  }
}

async function stockUp(hub: SpawnedHub, s: Setup): Promise<void> {
  const r = await post(`${hub.url}/inventory/updates`, s.token, { storeId: 'wh', idempotencyKey: 'stock', type: 'restock', lines: [{ sku: 'HOT', qty: UNITS }] });
  expect(r.status).toBe(201);
}

/** CLIENTS concurrent single-unit holds spread over `hubs`; the ids of the 201s. */
async function burst(hubs: SpawnedHub[], s: Setup, tag: string): Promise<{ ok: string[]; statuses: Map<number, number> }> {
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      post(`${hubs[i % hubs.length]!.url}/reservations`, s.reserveKey, { idempotencyKey: `${tag}-${i}`, storeId: 'wh', lines: [{ sku: 'HOT', qty: 1 }] }),
    ),
  );
  const statuses = new Map<number, number>();
  for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  return { ok: results.filter((r) => r.status === 201).map((r) => r.body.id as string), statuses };
}

async function held(hub: SpawnedHub, s: Setup): Promise<{ onHand: number; held: number; available: number }> {
  const res = await fetch(`${hub.url}/inventory?storeId=wh&sku=HOT`, { headers: { authorization: `Bearer ${s.readKey}` } });
  return (await res.json()) as { onHand: number; held: number; available: number };
}

afterEach(async () => {
  await killAllHubs();
});

afterAll(async () => {
  for (const db of dbs) await db.drop();
});

describe('flash sale: 500 holds of 1 unit, 100 units online', () => {
  it('one hub process: exactly 100 carts, the rest 409', async () => {
    const s = await setup();
    const hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-one' });
    await stockUp(hub, s);
    const { ok, statuses } = await burst([hub], s, 'one');
    expect(ok).toHaveLength(UNITS);
    expect(new Set(ok).size).toBe(UNITS);
    expect(statuses.get(409)).toBe(CLIENTS - UNITS);
    expect(await held(hub, s)).toMatchObject({ onHand: UNITS, held: UNITS, available: 0 });
  }, 120_000);

  it('two hub processes on one database: the one without stock borrows; exactly 100 carts', async () => {
    const s = await setup();
    const [a, b] = await Promise.all([spawnHub({ databaseUrl: s.db.url, replica: 'hub-a' }), spawnHub({ databaseUrl: s.db.url, replica: 'hub-b' })]);
    await stockUp(a, s); // every right is hub-a's
    const { ok, statuses } = await burst([a, b], s, 'two');
    expect(new Set(ok).size).toBe(ok.length);
    expect(ok.length, JSON.stringify([...statuses])).toBe(UNITS);
    expect(statuses.get(409)).toBe(CLIENTS - UNITS);
    for (const h of [a, b]) {
      await expect.poll(async () => (await held(h, s)).held, { timeout: 5_000 }).toBe(UNITS);
    }
    // A cart made at hub-b is committed through hub-a (forwarded to its owner), and the other way round.
    const commit = await post(`${a.url}/reservations/${ok[1]}/commit`, s.reserveKey, {});
    expect(commit.status).toBe(200);
    const commit2 = await post(`${b.url}/reservations/${ok[0]}/commit`, s.reserveKey, {});
    expect(commit2.status).toBe(200);
    await expect.poll(async () => (await held(b, s)).onHand, { timeout: 5_000 }).toBe(UNITS - 2);
  }, 120_000);

  it('hub SIGKILLed mid-burst: every 201 survives the restart, none beyond 100', async () => {
    const s = await setup();
    let hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-k' });
    await stockUp(hub, s);
    const running = burst([hub], s, 'kill');
    await new Promise((r) => setTimeout(r, 60));
    await hub.kill('SIGKILL');
    const { ok } = await running;
    hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-k' });
    // Every acknowledged cart is there, active.
    for (const id of ok) {
      const res = await fetch(`${hub.url}/reservations/${id}`, { headers: { authorization: `Bearer ${s.reserveKey}` } });
      expect(res.status, id).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('active');
    }
    // Fill up the rest (the same keys replay their stored answers): never more than 100 in all.
    const again = await burst([hub], s, 'kill');
    expect(new Set([...ok, ...again.ok]).size).toBe(UNITS);
    for (const id of ok) expect(again.ok).toContain(id);
    expect(await held(hub, s)).toMatchObject({ onHand: UNITS, held: UNITS, available: 0 });
    const reports = await hubCli<{ ok: boolean }[]>(s.db.url, ['verify', '--strict']);
    expect(reports.every((r) => r.ok)).toBe(true);
  }, 120_000);
});

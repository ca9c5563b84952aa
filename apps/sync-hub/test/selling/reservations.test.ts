/**
 * Online selling at one hub process on real PostgreSQL: a warehouse without
 * an agent stocked through `POST /inventory/updates`, storefront carts with
 * a reserve key, HQ transfers. Every answer that promises something is
 * checked against the hub's durable log afterwards (`sync-hub verify`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let hub: SpawnedHub;
let wh: string;
let other: string;
let reserveKey: string;
let readKey: string;
let adminKey: string;

const addKey = (role: string) => hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', role]).then((r) => r.key);

async function call(method: string, path: string, auth: string | null, body?: unknown): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

let seq = 0;
const key = (p: string) => `${p}-${++seq}`;

async function stock(store: string, sku: string): Promise<{ onHand: number; held: number; available: number }> {
  const r = await call('GET', `/inventory?storeId=${store}&sku=${sku}`, readKey);
  if (r.status === 404) return { onHand: 0, held: 0, available: 0 };
  expect(r.status).toBe(200);
  return { onHand: r.body.onHand, held: r.body.held, available: r.body.available };
}

const update = (token: string, body: Record<string, unknown>) => call('POST', '/inventory/updates', token, { idempotencyKey: key('u'), ...body });

beforeAll(async () => {
  db = await createTestDatabase();
  [wh, other, reserveKey, readKey, adminKey] = await Promise.all([addStore(db.url, 'wh1'), addStore(db.url, 'wh2'), addKey('reserve'), addKey('read'), addKey('admin')]);
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-sell' });
  const r = await update(wh, { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT-1', qty: 10 }, { sku: 'MILD-1', qty: 3 }] });
  expect(r.status).toBe(201);
}, 90_000);

afterAll(async () => {
  await killAllHubs();
  await db?.drop();
});

describe('POST /inventory/updates (a store without an agent)', () => {
  it('restocks, sells and answers the new stock per line, after the commit', async () => {
    const before = await stock('wh1', 'HOT-1');
    const r = await update(wh, { storeId: 'wh1', type: 'sale', lines: [{ sku: 'HOT-1', qty: 2 }] });
    expect(r.status).toBe(201);
    expect(r.body.lines).toEqual([expect.objectContaining({ sku: 'HOT-1', onHand: before.onHand - 2 })]);
    expect((await stock('wh1', 'HOT-1')).onHand).toBe(before.onHand - 2);
    const back = await update(wh, { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT-1', qty: 2 }] });
    expect(back.status).toBe(201);
  });

  it('refuses another store\'s id (403), a bad token (401), bad input (400), and changes nothing', async () => {
    const before = await stock('wh1', 'HOT-1');
    expect((await update(other, { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT-1', qty: 5 }] })).status).toBe(403);
    expect((await update('st_nope', { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT-1', qty: 5 }] })).status).toBe(401);
    expect((await call('POST', '/inventory/updates', null, {})).status).toBe(401);
    for (const bad of [
      { storeId: 'wh1', type: 'sale', lines: [{ sku: 'HOT-1', qty: 0 }] },
      { storeId: 'wh1', type: 'sale', lines: [{ sku: 'HOT-1', qty: 1.5 }] },
      { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT 1', qty: 1 }] },
      { storeId: 'wh1', type: 'teleport', lines: [{ sku: 'HOT-1', qty: 1 }] },
      { storeId: 'wh1', type: 'restock', lines: [] },
      { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT-1', qty: 1 }], extra: true },
    ]) {
      const r = await update(wh, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect((await call('POST', '/inventory/updates', wh, '{"not json')).body.error.code).toBe('bad_json');
    expect(await stock('wh1', 'HOT-1')).toEqual(before);
  });

  it('refuses a sale beyond stock (409) unless forced; replays a key and refuses it for another body (422)', async () => {
    const r = await update(wh, { storeId: 'wh1', type: 'sale', lines: [{ sku: 'MILD-1', qty: 99 }] });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'insufficient_stock', lines: [{ sku: 'MILD-1', requested: 99, available: 3 }] });
    const k = key('same');
    const body = { idempotencyKey: k, storeId: 'wh1', type: 'restock', lines: [{ sku: 'MILD-1', qty: 1 }] };
    const first = await call('POST', '/inventory/updates', wh, body);
    const again = await call('POST', '/inventory/updates', wh, body);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text); // byte for byte
    expect(first.headers.get('content-type')).toBe('application/json');
    const other = await call('POST', '/inventory/updates', wh, { ...body, lines: [{ sku: 'MILD-1', qty: 2 }] });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
  });

  it('counts set the absolute shelf count', async () => {
    const r = await update(wh, { storeId: 'wh1', type: 'count', lines: [{ sku: 'CNT-1', qty: 7 }] });
    expect(r.status).toBe(201);
    expect((await stock('wh1', 'CNT-1')).onHand).toBe(7);
    await update(wh, { storeId: 'wh1', type: 'count', lines: [{ sku: 'CNT-1', qty: 5 }] });
    expect((await stock('wh1', 'CNT-1')).onHand).toBe(5);
  });
});

describe('carts (/reservations, reserve key)', () => {
  it('holds all lines or none, commits (sale) and releases idempotently', async () => {
    const before = await stock('wh1', 'HOT-1');
    const none = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('c'), storeId: 'wh1', lines: [{ sku: 'HOT-1', qty: 1 }, { sku: 'MILD-1', qty: 500 }] });
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('insufficient_stock');
    expect(await stock('wh1', 'HOT-1')).toEqual(before);

    const r = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('c'), storeId: 'wh1', lines: [{ sku: 'HOT-1', qty: 2 }] });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ storeId: 'wh1', status: 'active', lines: [{ sku: 'HOT-1', qty: 2 }] });
    expect((await stock('wh1', 'HOT-1')).held).toBe(before.held + 2);
    expect((await call('GET', `/reservations/${r.body.id}`, reserveKey)).body.status).toBe('active');

    const c1 = await call('POST', `/reservations/${r.body.id}/commit`, reserveKey);
    const c2 = await call('POST', `/reservations/${r.body.id}/commit`, reserveKey);
    expect([c1.status, c2.status]).toEqual([200, 200]);
    expect(c2.body.status).toBe('committed');
    expect(await stock('wh1', 'HOT-1')).toMatchObject({ onHand: before.onHand - 2, held: before.held });
    const rel = await call('DELETE', `/reservations/${r.body.id}`, reserveKey);
    expect(rel.status).toBe(409);
    expect(rel.body.error.code).toBe('reservation_committed');

    const r2 = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('c'), storeId: 'wh1', lines: [{ sku: 'HOT-1', qty: 1 }] });
    expect((await call('DELETE', `/reservations/${r2.body.id}`, reserveKey)).status).toBe(200);
    expect((await call('DELETE', `/reservations/${r2.body.id}`, reserveKey)).status).toBe(200);
    const late = await call('POST', `/reservations/${r2.body.id}/commit`, reserveKey);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('reservation_released');
    await update(wh, { storeId: 'wh1', type: 'restock', lines: [{ sku: 'HOT-1', qty: 2 }] });
  });

  it('replays a cart for the same key and body; 422 for another body', async () => {
    const body = { idempotencyKey: key('same-cart'), storeId: 'wh1', lines: [{ sku: 'HOT-1', qty: 1 }] };
    const [a, b] = await Promise.all([call('POST', '/reservations', reserveKey, body), call('POST', '/reservations', reserveKey, body)]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.id).toBe(b.body.id);
    expect(b.text).toBe(a.text); // byte for byte, the waiting one replayed
    const later = await call('POST', '/reservations', reserveKey, body);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(later.text).toBe(a.text);
    const c = await call('POST', '/reservations', reserveKey, { ...body, lines: [{ sku: 'HOT-1', qty: 2 }] });
    expect(c.status).toBe(422);
    await call('DELETE', `/reservations/${a.body.id}`, reserveKey);
  });

  it('expires: units come back by themselves, commit after expiry is 410', async () => {
    const before = await stock('wh1', 'MILD-1');
    const r = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('ttl'), storeId: 'wh1', ttlSeconds: 1, lines: [{ sku: 'MILD-1', qty: 1 }] });
    expect(r.status).toBe(201);
    expect((await stock('wh1', 'MILD-1')).available).toBe(before.available - 1);
    await waitFor('the lapsed hold to be recorded expired', async () => (await stock('wh1', 'MILD-1')).available === before.available, { timeoutMs: 5_000 });
    const late = await call('POST', `/reservations/${r.body.id}/commit`, reserveKey);
    expect(late.status).toBe(410);
    expect(late.body.error.code).toBe('reservation_expired');
    expect((await call('GET', `/reservations/${r.body.id}`, reserveKey)).body.status).toBe('expired');
  });

  it('picks the store with the most unreserved rights (ties by store id) when none is given', async () => {
    await update(other, { storeId: 'wh2', type: 'restock', lines: [{ sku: 'PICK-1', qty: 5 }] });
    await update(wh, { storeId: 'wh1', type: 'restock', lines: [{ sku: 'PICK-1', qty: 5 }] });
    const tie = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('pick'), lines: [{ sku: 'PICK-1', qty: 1 }] });
    expect(tie.body.storeId).toBe('wh1');
    const next = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('pick'), lines: [{ sku: 'PICK-1', qty: 1 }] });
    expect(next.body.storeId).toBe('wh2');
    const tooBig = await call('POST', '/reservations', reserveKey, { idempotencyKey: key('pick'), lines: [{ sku: 'PICK-1', qty: 5 }] });
    expect(tooBig.status).toBe(409);
    expect(tooBig.body.error.lines).toEqual([{ sku: 'PICK-1', requested: 5, available: 4 }]);
  });

  it('enforces roles and ids', async () => {
    const body = { idempotencyKey: key('role'), storeId: 'wh1', lines: [{ sku: 'HOT-1', qty: 1 }] };
    expect((await call('POST', '/reservations', null, body)).status).toBe(401);
    expect((await call('POST', '/reservations', readKey, body)).status).toBe(403);
    expect((await call('GET', '/reservations/r_000000000000000000000000', reserveKey)).status).toBe(404);
    expect((await call('GET', '/reservations/..%2Fetc', reserveKey)).status).toBe(404);
    expect((await call('POST', '/reservations', reserveKey, { ...body, ttlSeconds: 86_401 })).status).toBe(400);
  });
});

describe('POST /transfers (admin)', () => {
  it('moves stock between stores as a pair of events, refused beyond what the source can promise', async () => {
    const a = await stock('wh1', 'HOT-1');
    const b = await stock('wh2', 'HOT-1');
    const r = await call('POST', '/transfers', adminKey, { idempotencyKey: key('t'), from: 'wh1', to: 'wh2', lines: [{ sku: 'HOT-1', qty: 3 }] });
    expect(r.status).toBe(201);
    expect(r.body.events).toHaveLength(2);
    expect((await stock('wh1', 'HOT-1')).onHand).toBe(a.onHand - 3);
    expect((await stock('wh2', 'HOT-1')).onHand).toBe(b.onHand + 3);
    const no = await call('POST', '/transfers', adminKey, { idempotencyKey: key('t'), from: 'wh1', to: 'wh2', lines: [{ sku: 'HOT-1', qty: 10_000 }] });
    expect(no.status).toBe(409);
    expect((await call('POST', '/transfers', reserveKey, { idempotencyKey: key('t'), from: 'wh1', to: 'wh2', lines: [{ sku: 'HOT-1', qty: 1 }] })).status).toBe(403);
  });
});

describe('the hub as a replica', () => {
  it('its event log folds to its entries (sync-hub verify)', async () => {
    const reports = await hubCli<{ store: string; ok: boolean; replicas: { replica: string; matches: boolean }[] }[]>(db.url, ['verify', '--strict']);
    expect(reports.map((r) => r.store).sort()).toEqual(['wh1', 'wh2']);
    for (const r of reports) {
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(r.replicas).toContainEqual(expect.objectContaining({ replica: 'hub-sell', matches: true }));
    }
  });
});

/**
 * Oversell alerts on real PostgreSQL, two hub processes (in this process) on
 * one database: a store without an agent stocked through
 * `POST /inventory/updates`, a storefront cart held, then a forced sale at
 * the till beyond what is left raises one open `oversell` alert naming the
 * cart's hold (logged at warn, listed by `GET /alerts`); a restock clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type RunningHub } from '../../src/hub.js';
import type { Logger } from '../../src/log.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let hub: RunningHub;
let peer: RunningHub;
let wh: string;
let reserveKey: string;
let readKey: string;
const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
const log: Logger = { info() {}, error() {}, warn: (msg, fields) => void warnings.push({ msg, fields }) };

async function call(url: string, method: string, path: string, auth: string | null, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

let seq = 0;
const update = (body: Record<string, unknown>) => call(hub.url, 'POST', '/inventory/updates', wh, { idempotencyKey: `u-${++seq}`, storeId: 'wh1', ...body });
// Only oversell alerts: the same counter is out of stock meanwhile (ops-alerts.test.ts).
const alerts = (q = '', url = hub.url) => call(url, 'GET', `/alerts${q}${q ? '&' : '?'}kind=oversell`, readKey);

beforeAll(async () => {
  db = await createTestDatabase();
  [wh, reserveKey, readKey] = await Promise.all([
    addStore(db.url, 'wh1'),
    hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'reserve']).then((r) => r.key),
    hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read']).then((r) => r.key),
  ]);
  hub = await startHub({ databaseUrl: db.url, port: 0, replica: 'hub-alert-a', log });
  peer = await startHub({ databaseUrl: db.url, port: 0, replica: 'hub-alert-b', log });
}, 90_000);

afterAll(async () => {
  await peer?.stop();
  await hub?.stop();
  await db?.drop();
});

describe('oversell alert', () => {
  it('a forced sale past the holds raises one alert naming the cart; a restock clears it', async () => {
    expect((await update({ type: 'restock', lines: [{ sku: 'HOT-1', qty: 5 }] })).status).toBe(201);
    const cart = await call(hub.url, 'POST', '/reservations', reserveKey, { idempotencyKey: 'cart-1', storeId: 'wh1', lines: [{ sku: 'HOT-1', qty: 3 }] });
    expect(cart.status).toBe(201);
    // Not a deficit yet: 5 on hand, 3 held.
    await new Promise((r) => setTimeout(r, 500));
    expect((await alerts()).body).toEqual({ alerts: [] });

    // The till sells 4 regardless (force): 1 on hand, 3 promised.
    const sale = await update({ type: 'sale', force: true, lines: [{ sku: 'HOT-1', qty: 4 }] });
    expect(sale.status).toBe(201);
    const open = await waitFor('an open oversell alert', async () => {
      const r = await alerts('?open=true');
      return r.body.alerts.length > 0 ? (r.body.alerts as any[]) : false;
    }, { timeoutMs: 5_000 });
    expect(open).toEqual([
      {
        id: expect.any(Number),
        kind: 'oversell',
        storeId: 'wh1',
        sku: 'HOT-1',
        raisedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        clearedAt: null,
        detail: {
          onHand: 1,
          held: 3,
          deficit: 2,
          holdsAtRisk: [{ holdId: `${cart.body.id}.1`, cartId: cart.body.id, owner: 'hub-alert-a', qty: 3, expiresAt: cart.body.expiresAt }],
        },
      },
    ]);
    expect(warnings).toContainEqual({ msg: 'oversell alert', fields: expect.objectContaining({ store: 'wh1', sku: 'HOT-1', deficit: 2 }) });
    // Both processes answer from the same table; only one alert row was written.
    expect((await alerts('', peer.url)).body.alerts).toEqual(open);

    // Selling one more deepens the deficit: the same alert, its detail refreshed.
    await update({ type: 'sale', force: true, lines: [{ sku: 'HOT-1', qty: 1 }] });
    await waitFor('the deficit to grow', async () => (await alerts('?open=true')).body.alerts[0]?.detail.deficit === 3, { timeoutMs: 5_000 });
    expect((await alerts()).body.alerts.map((a: any) => a.id)).toEqual([open[0].id]);

    expect((await update({ type: 'restock', lines: [{ sku: 'HOT-1', qty: 10 }] })).status).toBe(201);
    await waitFor('the alert to clear', async () => (await alerts('?open=true')).body.alerts.length === 0, { timeoutMs: 5_000 });
    const closed = (await alerts('?open=false')).body.alerts;
    expect(closed).toEqual([expect.objectContaining({ id: open[0].id, raisedAt: open[0].raisedAt, clearedAt: expect.stringMatching(/T/) })]);
  });

  it('GET /alerts: read key, open and limit checked', async () => {
    expect((await call(hub.url, 'GET', '/alerts', null)).status).toBe(401);
    expect((await alerts('?open=maybe')).status).toBe(400);
    expect((await alerts('?limit=0')).status).toBe(400);
    expect((await alerts('?limit=abc')).status).toBe(400);
    expect((await alerts('?limit=1')).body.alerts.length).toBeLessThanOrEqual(1);
  });
});

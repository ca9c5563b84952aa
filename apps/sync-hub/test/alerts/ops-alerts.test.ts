/**
 * Operations alerts, the alert webhook and replenishment on real PostgreSQL:
 * two hub processes (in this process) on one database, stores stocked and
 * sold through `POST /inventory/updates`, holds through `POST /reservations`.
 * Low stock (hub option and catalog threshold) per store and in aggregate,
 * out of stock, bulk hold expiries, a store offline, a refused replica;
 * each raised once and cleared when resolved, listed by `GET /alerts`,
 * pushed on `/stream` and POSTed to a local receiver that fails twice first.
 * `GET /replenishment` and `sync-hub replenishment` print the same lines.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '@scoville/protocol';
import { startHub, type RunningHub } from '../../src/hub.js';
import type { Logger } from '../../src/log.js';
import type { StoreId } from '@scoville/crdt-inventory';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

const SECRET = 'whsec_test_0123456789abcdef';
let db: TestDatabase;
let hub: RunningHub;
let peer: RunningHub;
let tokens: Record<string, string>;
let readKey: string;
let adminKey: string;
let reserveKey: string;
let receiver: Server;
const received: { headers: Record<string, string | string[] | undefined>; body: string; status: number }[] = [];
const log: Logger = { info() {}, warn() {}, error() {} };

async function call(url: string, method: string, path: string, auth: string | null, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

let seq = 0;
const update = (store: string, body: Record<string, unknown>) => call(hub.url, 'POST', '/inventory/updates', tokens[store]!, { idempotencyKey: `u-${++seq}`, storeId: store, ...body });
const openAlerts = async (q = '') => (await call(hub.url, 'GET', `/alerts?open=true${q}`, readKey)).body.alerts as any[];
const has = (list: any[], kind: string, storeId: string, sku: string) => list.some((a) => a.kind === kind && a.storeId === storeId && a.sku === sku);

beforeAll(async () => {
  db = await createTestDatabase();
  // One CLI at a time: several tsx starts at once are slow on busy cores.
  tokens = { wh1: await addStore(db.url, 'wh1'), wh2: await addStore(db.url, 'wh2') };
  readKey = (await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read'])).key;
  adminKey = (await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'admin'])).key;
  reserveKey = (await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'reserve'])).key;
  // The webhook receiver answers 500 to the first two requests, then 204.
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const status = received.length < 2 ? 500 : 204;
      received.push({ headers: req.headers, body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  await hubCli(db.url, ['webhook', 'set', webhookUrl, '--secret', SECRET]);
  const common = { databaseUrl: db.url, port: 0, log, lowStockThreshold: 3, offlineAlertMinutes: 0.05, bulkExpiriesPerMinute: 2, sweepEveryMs: 100, alertWebhook: { baseDelayMs: 50 } };
  hub = await startHub({ ...common, replica: 'hub-ops-a' });
  peer = await startHub({ ...common, replica: 'hub-ops-b' });
}, 120_000);

afterAll(async () => {
  await peer?.stop();
  await hub?.stop();
  await new Promise((r) => receiver?.close(r));
  await db?.drop();
});

describe('operations alerts', () => {
  it('low stock per store and in aggregate, out of stock: raised once, cleared when resolved, pushed on /stream, POSTed signed with retries', async () => {
    const stream = await fetch(`${peer.url}/stream?types=alert`, { headers: { authorization: `Bearer ${readKey}` } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let streamed = '';
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        streamed += Buffer.from(value).toString('utf8');
      }
    })().catch(() => undefined);

    await update('wh1', { type: 'restock', lines: [{ sku: 'SKU-A', qty: 10 }] });
    await update('wh2', { type: 'restock', lines: [{ sku: 'SKU-A', qty: 2 }] });
    await waitFor('wh2 low on SKU-A', async () => has(await openAlerts(), 'low_stock', 'wh2', 'SKU-A'), { timeoutMs: 5_000 });
    // 12 in all against 3 + 3: not low in aggregate.
    expect(has(await openAlerts(), 'low_stock', '*', 'SKU-A')).toBe(false);

    await update('wh1', { type: 'sale', lines: [{ sku: 'SKU-A', qty: 8 }] });
    await waitFor('wh1 and the aggregate low', async () => {
      const open = await openAlerts();
      return has(open, 'low_stock', 'wh1', 'SKU-A') && has(open, 'low_stock', '*', 'SKU-A');
    }, { timeoutMs: 5_000 });
    const [agg] = await openAlerts('&kind=low_stock&storeId=*');
    expect(agg).toMatchObject({ kind: 'low_stock', storeId: '*', sku: 'SKU-A', clearedAt: null, detail: { available: 4, threshold: 6, stores: 2 } });

    // wh2 sells its last two: out of stock there, its low-stock alert cleared.
    await update('wh2', { type: 'sale', lines: [{ sku: 'SKU-A', qty: 2 }] });
    await waitFor('wh2 out of stock', async () => {
      const open = await openAlerts();
      return has(open, 'out_of_stock', 'wh2', 'SKU-A') && !has(open, 'low_stock', 'wh2', 'SKU-A');
    }, { timeoutMs: 5_000 });
    // More sales of an alerted counter write nothing new: one alert row per condition.
    await update('wh1', { type: 'sale', lines: [{ sku: 'SKU-A', qty: 1 }] });
    await new Promise((r) => setTimeout(r, 600));
    const all = (await call(hub.url, 'GET', '/alerts?kind=low_stock&storeId=wh1', readKey)).body.alerts;
    expect(all).toHaveLength(1);

    // A restock resolves every one of them.
    await update('wh1', { type: 'restock', lines: [{ sku: 'SKU-A', qty: 50 }] });
    await update('wh2', { type: 'restock', lines: [{ sku: 'SKU-A', qty: 50 }] });
    await waitFor('the stock alerts to clear', async () => (await openAlerts()).filter((a) => a.sku === 'SKU-A').length === 0, { timeoutMs: 5_000 });
    const history = (await call(hub.url, 'GET', '/alerts?open=false', readKey)).body.alerts as any[];
    expect(history.filter((a) => a.sku === 'SKU-A').map((a) => `${a.kind} ${a.storeId}`).sort()).toEqual(['low_stock *', 'low_stock wh1', 'low_stock wh2', 'out_of_stock wh2']);

    // Pushed on the feed of the other process too.
    await waitFor('alerts on /stream', async () => streamed.includes('"kind":"out_of_stock"') && streamed.includes('"state":"cleared"'), { timeoutMs: 5_000 });
    await reader.cancel();
    await pump;

    // Webhook: every change, in order; the first failed twice (500) and was retried with the same delivery id.
    await waitFor('webhook deliveries', async () => received.filter((r) => r.status === 204).length >= 8, { timeoutMs: 10_000 });
    expect(received.slice(0, 3).map((r) => r.status)).toEqual([500, 500, 204]);
    expect(new Set(received.slice(0, 3).map((r) => r.headers['x-scoville-delivery'])).size).toBe(1);
    for (const r of received) {
      expect(r.headers['x-scoville-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
    }
    const first = JSON.parse(received[2]!.body);
    expect(first).toMatchObject({ type: 'alert', state: 'open', kind: 'low_stock', storeId: 'wh2', sku: 'SKU-A', detail: { available: 2, threshold: 3 } });
    const bodies = received.filter((r) => r.status === 204).map((r) => JSON.parse(r.body));
    expect(bodies.filter((b) => b.state === 'cleared').map((b) => `${b.kind} ${b.storeId}`).sort()).toEqual(['low_stock *', 'low_stock wh1', 'low_stock wh2', 'out_of_stock wh2']);
  });

  it('the catalog threshold wins over the hub option', async () => {
    expect((await call(hub.url, 'PUT', '/catalog/SKU-B', adminKey, { name: 'Hot sauce B', lowStockThreshold: 10 })).status).toBe(200);
    await update('wh1', { type: 'restock', lines: [{ sku: 'SKU-B', qty: 8 }] });
    await waitFor('SKU-B low at 8 ≤ 10', async () => has(await openAlerts(), 'low_stock', 'wh1', 'SKU-B'), { timeoutMs: 5_000 });
    expect((await openAlerts('&kind=low_stock&storeId=wh1')).find((a) => a.sku === 'SKU-B').detail).toMatchObject({ available: 8, threshold: 10 });
    // Lowering the threshold clears it without any stock change.
    await call(hub.url, 'PUT', '/catalog/SKU-B', adminKey, { name: 'Hot sauce B', lowStockThreshold: 2 });
    await waitFor('SKU-B no longer low', async () => !has(await openAlerts(), 'low_stock', 'wh1', 'SKU-B'), { timeoutMs: 5_000 });
  });

  it('holds expiring in bulk at one store', async () => {
    await update('wh1', { type: 'restock', lines: [{ sku: 'SKU-C', qty: 100 }] });
    for (let i = 0; i < 3; i++) {
      const r = await call(hub.url, 'POST', '/reservations', reserveKey, { idempotencyKey: `exp-${i}`, storeId: 'wh1', ttlSeconds: 1, lines: [{ sku: 'SKU-C', qty: 1 }] });
      expect(r.status).toBe(201);
    }
    await waitFor('a holds_expiring alert', async () => has(await openAlerts(), 'holds_expiring', 'wh1', ''), { timeoutMs: 10_000 });
    expect((await openAlerts('&kind=holds_expiring'))[0].detail).toEqual({ expiredLastMinute: 3, threshold: 2 });
  });

  it('a store offline longer than the limit (any hub process may have seen it)', async () => {
    await hub.storage.alerts.seen(['wh2' as StoreId], Date.now() - 60_000);
    await waitFor('wh2 offline', async () => has(await openAlerts(), 'store_offline', 'wh2', ''), { timeoutMs: 10_000 });
    // Another process saw it online just now: cleared.
    await peer.storage.alerts.seen(['wh2' as StoreId], Date.now());
    await waitFor('wh2 back', async () => !has(await openAlerts(), 'store_offline', 'wh2', ''), { timeoutMs: 10_000 });
  });

  it('a refused replica (replica_in_use) raises replica_refused', async () => {
    const hello = { type: 'hello', protocol: PROTOCOL_VERSION, store: 'wh1', replica: 'agent-copy', ackedHubSeq: 0, lastEventSeq: 0 };
    const link = (url: string) =>
      new Promise<{ ws: WebSocket; first: any }>((resolve, reject) => {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/sync`, { headers: { authorization: `Bearer ${tokens.wh1}` } });
        ws.once('open', () => ws.send(JSON.stringify(hello)));
        ws.once('message', (d) => resolve({ ws, first: JSON.parse(String(d)) }));
        ws.once('error', reject);
      });
    const a = await link(hub.url);
    expect(a.first.type).toBe('welcome');
    const b = await link(hub.url);
    expect(b.first).toMatchObject({ type: 'error', code: 'replica_in_use' });
    await waitFor('replica_refused', async () => has(await openAlerts(), 'replica_refused', 'wh1', 'agent-copy'), { timeoutMs: 5_000 });
    expect((await openAlerts('&kind=replica_refused'))[0].detail).toMatchObject({ code: 'replica_in_use', replica: 'agent-copy', count: 1 });
    a.ws.close();
    b.ws.close();
  });

  it('GET /alerts checks kind and storeId', async () => {
    expect((await call(hub.url, 'GET', '/alerts?kind=nope', readKey)).status).toBe(400);
    expect((await call(hub.url, 'GET', '/alerts?storeId=a%20b', readKey)).status).toBe(400);
  });
});

describe('replenishment', () => {
  it('GET /replenishment and the CLI list what runs out first with a suggested restock', async () => {
    await update('wh2', { type: 'restock', lines: [{ sku: 'SKU-D', qty: 3 }] });
    await update('wh2', { type: 'sale', lines: [{ sku: 'SKU-D', qty: 2 }] });
    // wh2: SKU-A sold 2 (50 left after the restock), SKU-D sold 2 (1 left).
    const r = await call(hub.url, 'GET', '/replenishment?storeId=wh2&targetDays=7', readKey);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ storeId: 'wh2', targetDays: 7 });
    expect(r.body.lines.map((l: any) => l.sku)).toEqual(['SKU-D', 'SKU-A']);
    expect(r.body.lines[0]).toEqual({
      sku: 'SKU-D',
      onHand: 1,
      held: 0,
      safetyStock: 0,
      available: 1,
      velocity: { d1: 2, d7: 0.286, d28: 0.071 },
      rate: 0.286,
      daysOfCover: 3.5,
      suggestedQty: 1,
    });
    expect((await call(hub.url, 'GET', '/replenishment?storeId=wh2', readKey)).body.lines[0].suggestedQty).toBe(3); // 14 days: 4 − 1
    expect((await call(hub.url, 'GET', '/replenishment?storeId=wh2&targetDays=0', readKey)).status).toBe(400);
    expect((await call(hub.url, 'GET', '/replenishment', readKey)).status).toBe(400);
    expect((await call(hub.url, 'GET', '/replenishment?storeId=wh2', null)).status).toBe(401);

    const cli = await hubCli<any>(db.url, ['replenishment', '--store', 'wh2', '--target-days', '7']);
    expect(cli.lines).toEqual(r.body.lines);
  });
});

/**
 * The catalog and store settings as Yjs documents, with real processes on
 * real PostgreSQL: HQ edits the catalog at the hub (PUT /catalog/:sku), a
 * store adds a local item while it is offline, both merge and reach every
 * agent and the hub; a store token cannot write the catalog or another
 * store's settings; an agent starts offline with the last catalog; unknown
 * SKUs are refused; hub and agent agree on availability with safety stock.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { catalogItem, putCatalogItem, putLocalItem, settingsDocName } from '@scoville/protocol/docs';
import { runCli } from '../../../edge-agent/test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { createAgent, killAllAgents, newKey, removeTempDirs, startAgent, stopAgent, type StoreAgent } from './helpers/agents.js';
import { addStore, freePort, hubCli, killAllHubs, spawnHub, type SpawnedHub } from './helpers/hub.js';
import { sleep, waitFor } from './helpers/wait.js';

let db: TestDatabase;
let port: number;
let hub: SpawnedHub | null = null;
let admin: string;
let s1: StoreAgent;
let s2: StoreAgent;
const syncUrl = () => `ws://127.0.0.1:${port}/sync`;
const hubUrl = () => `http://127.0.0.1:${port}`;

/** Polls until `probe` holds (throws after `ms`). */
const until = (probe: () => unknown, ms = 20_000) => waitFor('the condition', async () => (await probe()) === true || undefined, { timeoutMs: ms });

const startHub = async () => (hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-docs', port }));

async function hubJson(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hubUrl()}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function agentJson(a: StoreAgent, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${a.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const agentSkus = async (a: StoreAgent): Promise<string[]> => ((await agentJson(a, 'GET', '/catalog')).body.items as { sku: string }[]).map((i) => i.sku).sort();

/** A raw y-websocket client (as any program could open one). */
function client(doc: string, token: string): { doc: Y.Doc; provider: WebsocketProvider; closes: number[] } {
  const d = new Y.Doc();
  const closes: number[] = [];
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/yjs`, doc, d, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  provider.on('connection-close', (e) => closes.push(e?.code ?? 0));
  return { doc: d, provider, closes };
}

beforeAll(async () => {
  db = await createTestDatabase();
  port = await freePort();
  // One CLI at a time: each start costs seconds of CPU, and on busy cores three at once outlast the helper's timeout.
  const t1 = await addStore(db.url, 's1');
  const t2 = await addStore(db.url, 's2');
  admin = (await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'admin'])).key;
  s1 = await createAgent('s1', t1);
  s2 = await createAgent('s2', t2);
  await startHub();
}, 180_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await db?.drop();
  removeTempDirs();
}, 30_000);

describe('catalog and settings documents', () => {
  it('HQ edits reach every agent; unknown SKUs are refused unless allowNew; hub and agent agree with safety stock', async () => {
    expect((await hubJson('PUT', '/catalog/HOT-1', { name: 'Ghost Pepper 150ml', priceCents: 1299, safetyStock: 2, lowStockThreshold: 3 })).status).toBe(200);
    expect((await hubJson('GET', '/catalog/HOT-1')).body).toMatchObject({ sku: 'HOT-1', name: 'Ghost Pepper 150ml', safetyStock: 2, active: true });
    expect((await hubJson('PUT', '/catalog/HOT-1', { priceCents: 5 })).status).toBe(400); // a name is required
    await Promise.all([startAgent(s1, syncUrl()), startAgent(s2, syncUrl())]);
    for (const a of [s1, s2]) await until(async () => (await agentSkus(a)).includes('HOT-1'), 20_000);

    const typo = await agentJson(s1, 'POST', '/restocks', { idempotencyKey: newKey(), lines: [{ sku: 'HOT-l', qty: 5 }] });
    expect(typo.status).toBe(404);
    expect(typo.body.error.code).toBe('unknown_sku');
    const count = await agentJson(s1, 'POST', '/counts', { idempotencyKey: newKey(), lines: [{ sku: 'HOT-l', count: 5 }] });
    expect(count.body.error.code).toBe('unknown_sku');
    expect((await agentJson(s1, 'POST', '/restocks', { idempotencyKey: newKey(), lines: [{ sku: 'NEW-1', qty: 1 }], allowNew: true })).status).toBe(201);
    // The CLI says the same.
    const cli = await runCli(['--data', s1.dir, '--json', 'restock', 'HOT-x', '1']);
    expect(cli.code).not.toBe(0);
    expect(cli.stdout + cli.stderr).toContain('unknown_sku');
    expect((await runCli(['--data', s1.dir, '--json', 'restock', 'HOT-x', '1', '--new'])).code).toBe(0);

    expect((await agentJson(s1, 'POST', '/restocks', { idempotencyKey: newKey(), lines: [{ sku: 'HOT-1', qty: 10 }] })).status).toBe(201);
    const atAgent = (await agentJson(s1, 'GET', '/stock/HOT-1')).body;
    expect(atAgent).toMatchObject({ onHand: 10, safetyStock: 2, available: 8 });
    await until(async () => {
      const r = await hubJson('GET', '/inventory/HOT-1?storeId=s1');
      const st = (r.body.stores ?? []).find((x: any) => x.storeId === 's1');
      return st?.onHand === 10;
    }, 20_000);
    const atHub = (await hubJson('GET', '/inventory/HOT-1?storeId=s1')).body.stores.find((x: any) => x.storeId === 's1');
    expect({ onHand: atHub.onHand, safetyStock: atHub.safetyStock, available: atHub.available }).toEqual({ onHand: atAgent.onHand, safetyStock: atAgent.safetyStock, available: atAgent.available });
  }, 120_000);

  it('a store token cannot write the catalog or open another store’s settings; its own settings it can', async () => {
    const cat = client('catalog', s1.token);
    await until(() => cat.provider.synced, 10_000);
    expect(catalogItem(cat.doc, 'HOT-1')?.name).toBe('Ghost Pepper 150ml');
    putCatalogItem(cat.doc, 'EVIL-1', { name: 'not from HQ' });
    putCatalogItem(cat.doc, 'HOT-1', { safetyStock: 0 });
    const other = client(settingsDocName('s2'), s1.token);
    await until(() => other.closes.includes(4403), 10_000);
    const own = client(settingsDocName('s1'), s1.token);
    await until(() => own.provider.synced, 10_000);
    putLocalItem(own.doc, 'OWN-1', { name: 'store-made sauce' });
    await sleep(1_000);
    expect((await hubJson('GET', '/catalog/EVIL-1')).status).toBe(404);
    expect((await hubJson('GET', '/catalog/HOT-1')).body.safetyStock).toBe(2);
    expect(await agentSkus(s2)).not.toContain('EVIL-1');
    await until(async () => (await agentSkus(s1)).includes('OWN-1'), 10_000);
    for (const c of [cat, other, own]) c.provider.destroy();
  }, 60_000);

  it('an offline store edit (settings) and an HQ edit (catalog) merge and reach every agent and the hub', async () => {
    await stopAgent(s1);
    // At the store, offline: a local item via `catalog import` (the agent is not running).
    const csv = join(s1.dir, 'local.csv');
    writeFileSync(csv, 'sku,name,safety_stock\nLOCAL-1,House Sauce,1\n');
    const imp = await runCli(['--data', s1.dir, '--json', 'catalog', 'import', csv]);
    expect(imp.code).toBe(0);
    // At HQ, meanwhile: a new product and a change to an existing one.
    expect((await hubJson('PUT', '/catalog/HOT-2', { name: 'Habanero 100ml', safetyStock: 1 })).status).toBe(200);
    expect((await hubJson('PUT', '/catalog/HOT-1', { name: 'Ghost Pepper 150ml (new label)' })).status).toBe(200);
    await startAgent(s1, syncUrl());
    await until(async () => {
      const skus = await agentSkus(s1);
      return skus.includes('HOT-2') && skus.includes('LOCAL-1');
    }, 20_000);
    expect((await agentJson(s1, 'GET', '/catalog')).body.items.find((i: any) => i.sku === 'HOT-1').name).toBe('Ghost Pepper 150ml (new label)');
    await until(async () => (await agentSkus(s2)).includes('HOT-2'), 20_000);
    // The hub has the store's local item (its settings doc), with its safety stock in availability.
    expect((await agentJson(s1, 'POST', '/restocks', { idempotencyKey: newKey(), lines: [{ sku: 'LOCAL-1', qty: 4 }] })).status).toBe(201);
    await until(async () => {
      const st = (await hubJson('GET', '/inventory/LOCAL-1?storeId=s1')).body.stores?.find((x: any) => x.storeId === 's1');
      return st?.onHand === 4 && st.safetyStock === 1 && st.available === 3;
    }, 20_000);
  }, 120_000);

  it('an agent starts offline with the last catalog, and the hub restarts with the stored documents', async () => {
    await stopAgent(s2);
    await hub!.kill('SIGTERM');
    await startAgent(s2, syncUrl()); // nothing listens there now
    expect(await agentSkus(s2)).toEqual(expect.arrayContaining(['HOT-1', 'HOT-2']));
    expect((await agentJson(s2, 'GET', '/stock/HOT-2')).body.safetyStock).toBe(1);
    expect((await agentJson(s2, 'POST', '/restocks', { idempotencyKey: newKey(), lines: [{ sku: 'HOT-2', qty: 3 }] })).status).toBe(201);
    expect((await agentJson(s2, 'POST', '/restocks', { idempotencyKey: newKey(), lines: [{ sku: 'TYPO-2', qty: 3 }] })).status).toBe(404);
    await startHub();
    expect((await hubJson('GET', '/catalog')).body.items.map((i: any) => i.sku)).toEqual(['HOT-1', 'HOT-2']);
    expect((await hubJson('GET', '/catalog/HOT-1')).body.name).toBe('Ghost Pepper 150ml (new label)');
  }, 120_000);
});

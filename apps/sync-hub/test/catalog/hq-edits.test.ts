/**
 * HQ edits of the Yjs documents through the admin API and the CLI, with real
 * processes on real PostgreSQL (a hub, an agent, the `sync-hub` CLI):
 *
 * - `GET/PUT /stores/:id/settings` and `sync-hub settings get|set`: bad input
 *   is a 400 / exit 2 with a code and changes nothing; a good edit is stored,
 *   read back, reaches the store's agent (a safety-stock override changes its
 *   catalog projection) and sets the replenishment target;
 * - `POST /catalog/import` and `sync-hub catalog import`: one bad row refuses
 *   the whole file with its line number and changes nothing; a good file is
 *   one edit that reaches the agent; a CLI edit reaches the running hub (NOTIFY);
 * - `PUT /catalog/:sku` with a body that is not JSON: 400 `bad_json`;
 * - presence (`GET /presence`): an agent under the store of its token, with
 *   the terminals it announces; a link that claims another store in its
 *   awareness state is still listed under its own token's store.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { createAgent, killAllAgents, removeTempDirs, startAgent, type StoreAgent } from '../sync/helpers/agents.js';
import { addReadKey, addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let hub: SpawnedHub;
let agent: StoreAgent;
let admin: string;
let read: string;
let dir: string;
let whToken: string;

async function call(method: string, path: string, key: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const agentItem = async (sku: string) => ((await (await fetch(`${agent.url}/catalog`)).json()) as { items: { sku: string; name: string; safetyStock: number; priceCents: number | null }[] }).items.find((i) => i.sku === sku);

/** The CLI's failure: exit code and its `{error:{code,message}}` (the CLI runs with --json). */
async function cliFails(args: string[]): Promise<{ exit: number; code: string; message: string }> {
  try {
    await hubCli(db.url, args);
  } catch (e) {
    const m = /exited (\d+): (.*)$/s.exec(String((e as Error).message));
    const err = JSON.parse(m![2]!.trim().split('\n').at(-1)!) as { error: { code: string; message: string } };
    return { exit: Number(m![1]), ...err.error };
  }
  throw new Error(`sync-hub ${args.join(' ')} succeeded`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'scoville-hq-'));
  const token = await addStore(db.url, 'brooklyn');
  whToken = await addStore(db.url, 'wh-east');
  admin = (await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'admin'])).key;
  read = await addReadKey(db.url);
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-hq' });
  agent = await createAgent('brooklyn', token);
  await startAgent(agent, hub.syncUrl);
}, 180_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  removeTempDirs();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await db?.drop();
}, 30_000);

describe('catalog import', () => {
  it('refuses a file with one bad row (its line number), changes nothing; a good file is one edit that reaches the agent', async () => {
    const before = (await call('GET', '/catalog', read)).body;
    const bad = 'sku,name,price_cents,safety_stock\nHSS-001,Habanero Classic,899,1\n"HSS-002","Ghost Pepper, Reserve",1299,x\n';
    const r = await call('POST', '/catalog/import', admin, bad, 'text/csv');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_csv', row: 3, message: expect.stringContaining('safetyStock') });
    expect((await call('POST', '/catalog/import', admin, 'sku,name,colour\nA,B,red\n', 'text/csv')).body.error).toMatchObject({ code: 'invalid_csv', row: 1 });
    expect((await call('POST', '/catalog/import', admin, 'sku,name\nA,"unterminated\n', 'text/csv')).body.error.code).toBe('invalid_csv');
    expect((await call('POST', '/catalog/import', admin, 'sku,name\nNEW-1,\n', 'text/csv')).body.error).toMatchObject({ code: 'invalid_csv', row: 2, message: expect.stringContaining('give it a name') });
    expect((await call('POST', '/catalog/import', admin, 'sku,name\nA,B\nA,C\n', 'text/csv')).body.error).toMatchObject({ code: 'invalid_csv', row: 3 });
    expect((await call('POST', '/catalog/import', admin, { sku: 'A' })).status).toBe(415);
    expect((await call('POST', '/catalog/import', read, bad, 'text/csv')).status).toBe(403);
    expect((await call('GET', '/catalog', read)).body).toEqual(before);

    const good = '\uFEFFSKU,Name,Price_Cents,Safety_Stock,active\nHSS-001,Habanero Classic,899,1,yes\n"HSS-002","Ghost Pepper, Reserve",1299,0,\r\nHSS-003,Chipotle Smoke,,,false\n';
    const ok = await call('POST', '/catalog/import', admin, good, 'text/csv; charset=utf-8');
    expect(ok).toEqual({ status: 200, body: { imported: 3, created: 3 } });
    expect((await call('GET', '/catalog/HSS-002', read)).body).toMatchObject({ name: 'Ghost Pepper, Reserve', priceCents: 1299 });
    expect((await call('GET', '/catalog/HSS-003', read)).body).toMatchObject({ active: false, priceCents: null });
    await waitFor('the imported catalog at the agent', async () => (await agentItem('HSS-002'))?.name === 'Ghost Pepper, Reserve', { timeoutMs: 20_000 });
    // An empty name for a SKU the catalog has keeps its name; other fields change.
    expect((await call('POST', '/catalog/import', admin, 'sku,name,price_cents\nHSS-001,,949\n', 'text/csv')).body).toEqual({ imported: 1, created: 0 });
    expect((await call('GET', '/catalog/HSS-001', read)).body).toMatchObject({ name: 'Habanero Classic', priceCents: 949 });
  });

  it('sync-hub catalog import: a bad file exits with invalid_csv and its line; a good one reaches the running hub and the agent', async () => {
    const badFile = join(dir, 'bad.csv');
    writeFileSync(badFile, 'sku,name,price_cents\nCLI-1,From the CLI,100\nCLI-2,Negative,-5\n');
    const f = await cliFails(['catalog', 'import', badFile]);
    expect(f).toMatchObject({ exit: 1, code: 'invalid_csv', message: expect.stringContaining(`${badFile}:3:`) });
    expect((await call('GET', '/catalog/CLI-1', read)).status).toBe(404);
    expect(await cliFails(['catalog', 'import', join(dir, 'missing.csv')])).toMatchObject({ code: 'file_unreadable' });

    const goodFile = join(dir, 'good.csv');
    writeFileSync(goodFile, 'sku,name,price_cents\nCLI-1,From the CLI,100\nHSS-003,,1500\n');
    expect(await hubCli(db.url, ['catalog', 'import', goodFile])).toEqual({ imported: 2, created: 1 });
    await waitFor('the CLI import at the running hub', async () => (await call('GET', '/catalog/CLI-1', read)).status === 200, { timeoutMs: 10_000 });
    expect((await call('GET', '/catalog/HSS-003', read)).body).toMatchObject({ name: 'Chipotle Smoke', priceCents: 1500 });
    await waitFor('the CLI import at the agent', async () => (await agentItem('CLI-1'))?.priceCents === 100, { timeoutMs: 20_000 });
  });

  it('PUT /catalog/:sku: a body that is not JSON is bad_json, like every other route', async () => {
    const r = await call('PUT', '/catalog/HSS-001', admin, '{"name":', 'application/json');
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'bad_json' } } });
    const v = await call('PUT', '/catalog/HSS-001', admin, { name: '' });
    expect(v).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', issues: [expect.objectContaining({ path: 'name' })] } } });
  });
});

describe('store settings', () => {
  it('GET/PUT /stores/:id/settings: refused input changes nothing; an edit is stored, reaches the agent and sets the replenishment target', async () => {
    const empty = { storeId: 'brooklyn', targetDays: null, openingHours: {}, notes: null, overrides: {} };
    expect((await call('GET', '/stores/brooklyn/settings', read)).body).toEqual(empty);
    expect((await call('GET', '/stores/nowhere/settings', read)).body.error.code).toBe('unknown_store');
    expect((await call('PUT', '/stores/brooklyn/settings', read, { targetDays: 10 })).status).toBe(403);
    expect((await call('PUT', '/stores/brooklyn/settings', admin, 'nope')).body.error.code).toBe('bad_json');
    for (const bad of [{}, { targetDays: 0 }, { targetDays: 10, openingHours: { mon: 'nine to five' } }, { openingHours: { someday: 'closed' } }, { colour: 'red' }, { overrides: { 'bad sku': { safetyStock: 1 } } }, { overrides: { 'HSS-001': { safetyStock: -1 } } }, { notes: 'a\u0000b' }]) {
      const r = await call('PUT', '/stores/brooklyn/settings', admin, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.issues.length).toBeGreaterThan(0);
    }
    expect((await call('GET', '/stores/brooklyn/settings', read)).body).toEqual(empty);

    const want = {
      storeId: 'brooklyn',
      targetDays: 10,
      openingHours: { mon: '09:00-18:00', sat: '10:00-13:00,14:00-17:00', sun: 'closed' },
      notes: 'Deliveries at the back door',
      overrides: { 'HSS-001': { lowStockThreshold: 5, safetyStock: 2 } },
    };
    const put = await call('PUT', '/stores/brooklyn/settings', admin, { targetDays: 10, openingHours: want.openingHours, notes: want.notes, overrides: want.overrides });
    expect(put).toEqual({ status: 200, body: want });
    expect((await call('GET', '/stores/brooklyn/settings', read)).body).toEqual(want);
    // The override reaches the agent's projection (catalog safety stock 1 → 2 at this store).
    await waitFor('the override at the agent', async () => (await agentItem('HSS-001'))?.safetyStock === 2, { timeoutMs: 20_000 });
    expect((await call('GET', '/replenishment?storeId=brooklyn', read)).body.targetDays).toBe(10);
    expect((await call('GET', '/replenishment?storeId=brooklyn&targetDays=3', read)).body.targetDays).toBe(3);
    // A patch: null removes, the rest stays.
    const patched = await call('PUT', '/stores/brooklyn/settings', admin, { notes: null, openingHours: { sat: null } });
    expect(patched.body).toEqual({ ...want, notes: null, openingHours: { mon: '09:00-18:00', sun: 'closed' } });
    // Another store's settings are its own.
    expect((await call('GET', '/stores/wh-east/settings', read)).body).toEqual({ ...empty, storeId: 'wh-east' });
  });

  it('sync-hub settings set|get: the same validation; an edit reaches the running hub and the agent', async () => {
    expect(await cliFails(['settings', 'set', 'brooklyn', '--target-days', '0'])).toMatchObject({ exit: 2, code: 'invalid_argument', message: expect.stringContaining('targetDays') });
    expect(await cliFails(['settings', 'set', 'brooklyn', '--hours', 'mon=9-5'])).toMatchObject({ exit: 2, code: 'invalid_argument' });
    expect(await cliFails(['settings', 'set', 'brooklyn', '--safety-stock', '3'])).toMatchObject({ exit: 2, code: 'invalid_argument' });
    expect(await cliFails(['settings', 'set', 'nowhere', '--target-days', '3'])).toMatchObject({ exit: 1, code: 'unknown_store' });
    expect((await call('GET', '/stores/brooklyn/settings', read)).body.targetDays).toBe(10);

    const set = await hubCli<{ targetDays: number; openingHours: Record<string, string>; overrides: Record<string, unknown> }>(db.url, ['settings', 'set', 'brooklyn', '--target-days', '21', '--hours', 'tue=08:30-20:00', '--sku', 'HSS-001', '--safety-stock', 'none']);
    expect(set).toMatchObject({ targetDays: 21, openingHours: { mon: '09:00-18:00', tue: '08:30-20:00', sun: 'closed' }, overrides: { 'HSS-001': { lowStockThreshold: 5 } } });
    await waitFor('the CLI edit at the running hub', async () => (await call('GET', '/stores/brooklyn/settings', read)).body.targetDays === 21, { timeoutMs: 10_000 });
    expect((await call('GET', '/replenishment?storeId=brooklyn', read)).body.targetDays).toBe(21);
    // The override is gone: the agent is back at the catalog's safety stock.
    await waitFor('the catalog safety stock at the agent again', async () => (await agentItem('HSS-001'))?.safetyStock === 1, { timeoutMs: 20_000 });
    expect(await hubCli(db.url, ['settings', 'get', 'brooklyn'])).toEqual((await call('GET', '/stores/brooklyn/settings', read)).body);
    expect(await hubCli(db.url, ['settings', 'set', 'wh-east', '--body', '{"notes":"Forklift on site"}'])).toMatchObject({ storeId: 'wh-east', notes: 'Forklift on site' });
  });
});

describe('presence', () => {
  it("lists each agent under its token's store with the terminals it announces, whatever its awareness state claims", async () => {
    expect((await fetch(`${agent.url}/restocks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ idempotencyKey: 'p-1', lines: [{ sku: 'P-1', qty: 1 }], terminal: 'till-7', allowNew: true }) })).status).toBe(201);
    const brooklyn = await waitFor('the till in presence', async () => {
      const p = (await call('GET', '/presence', read)).body as { stores: { storeId: string; agents: { replica: string; terminals: string[]; docs: string[] }[] }[] };
      const b = p.stores.find((x) => x.storeId === 'brooklyn');
      return b?.agents[0]?.terminals.includes('till-7') ? b : undefined;
    });
    expect(brooklyn.agents).toEqual([expect.objectContaining({ terminals: ['till-7'], docs: ['catalog', 'settings:brooklyn'], url: agent.url })]);

    // A program with wh-east's token that claims to be brooklyn's till: listed under wh-east.
    const doc = new Y.Doc();
    const liar = new WebsocketProvider(`${hub.url.replace('http:', 'ws:')}/yjs`, 'catalog', doc, { params: { token: whToken }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true });
    liar.awareness.setLocalState({ store: 'brooklyn', replica: 'brooklyn.fake', terminals: ['till-666'] });
    try {
      const p = await waitFor('the liar in presence', async () => {
        const b = (await call('GET', '/presence', read)).body as { stores: { storeId: string; agents: { replica: string; terminals: string[] }[] }[] };
        return b.stores.some((x) => x.storeId === 'wh-east') ? b : undefined;
      });
      expect(p.stores.find((x) => x.storeId === 'wh-east')!.agents).toEqual([expect.objectContaining({ replica: 'brooklyn.fake', terminals: ['till-666'] })]);
      expect(p.stores.find((x) => x.storeId === 'brooklyn')!.agents.map((a) => a.replica)).not.toContain('brooklyn.fake');
    } finally {
      liar.destroy();
      doc.destroy();
    }
    await waitFor('the liar gone from presence', async () => !((await call('GET', '/presence', read)).body.stores as { storeId: string }[]).some((x) => x.storeId === 'wh-east'));
  });
});

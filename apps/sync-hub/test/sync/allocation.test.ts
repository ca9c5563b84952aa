/**
 * Online allocation (issue 7) end to end: a hub on real PostgreSQL (in this
 * process, so the test can read its replica's rights), real edge-agent
 * processes over real sockets. The policy reaches the agent; the agent
 * hands the hub its online share; the hub holds carts from it; a till sale
 * short of rights gets them back from the hub instead of a 409; a store
 * offline and the hub both sell their own rights and nothing is promised twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onHand, rights, sellable, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { hashSecret } from '../../src/auth/tokens.js';
import { openSqlClient } from '../../src/db/open.js';
import { startHub, type RunningHub } from '../../src/hub.js';
import { jsonLogger, silentLogger } from '../../src/log.js';
import { openHubStorage } from '../../src/store/sql-hub-storage.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { createAgent, killAllAgents, mustPost, post, removeTempDirs, startAgent, stopAgent, waitSynced, type StoreAgent } from './helpers/agents.js';
import { waitFor } from './helpers/wait.js';
import { hubCli } from './helpers/hub.js';
import WebSocket from 'ws';
import { runCli } from '../../../edge-agent/test/helpers/cli.js';

let db: TestDatabase;
let hub: RunningHub;
let syncUrl: string;
const ADMIN = 'sk_admin_allocation_test';
const RESERVE = 'sk_reserve_allocation_test';
const TOKENS = { s1: 'st_alloc_s1', s2: 'st_alloc_s2' };
const S1 = 's1' as StoreId;
const S2 = 's2' as StoreId;
const HOT = 'HOT-1' as Sku;

async function call(method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

let keys = 0;
const hubRights = (store: StoreId, sku: Sku = HOT) => rights(hub.state.state, store, sku, hub.replica);
const agentRights = (a: StoreAgent, sku: Sku = HOT) => rights(hub.state.state, a.store as StoreId, sku, a.replica as ReplicaId);
const reserve = (store: string, qty: number) => call('POST', '/reservations', RESERVE, { idempotencyKey: `alloc-${++keys}`, storeId: store, lines: [{ sku: HOT, qty }] });
const waitUntil = (what: string, cond: () => boolean) => waitFor(what, () => cond() || undefined, { timeoutMs: 20_000, intervalMs: 50 });

beforeAll(async () => {
  db = await createTestDatabase();
  const storage = openHubStorage(await openSqlClient({ databaseUrl: db.url }));
  await storage.migrate();
  const now = Date.now();
  await storage.access.addStore(S1, hashSecret(TOKENS.s1), now);
  await storage.access.addStore(S2, hashSecret(TOKENS.s2), now);
  await storage.access.addApiKey('key_admin', hashSecret(ADMIN), 'admin', now);
  await storage.access.addApiKey('key_reserve', hashSecret(RESERVE), 'reserve', now);
  await storage.close();
  hub = await startHub({ port: 0, databaseUrl: db.url, replica: 'hub-alloc', log: process.env.ALLOC_LOG ? jsonLogger({}) : silentLogger });
  syncUrl = `${hub.url.replace(/^http/, 'ws')}/sync`;
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await hub?.stop();
  await db?.drop();
  removeTempDirs();
});

describe('online allocation', () => {
  let a: StoreAgent;

  it('admin API: default none, validation (400 with a code), unknown store (404), audited', async () => {
    const none = await call('GET', '/stores/s1/allocation', ADMIN);
    expect(none.status).toBe(200);
    expect(none.body.policy).toEqual({ default: { mode: 'none' }, skus: {} });
    expect((await call('GET', '/stores/nope/allocation', ADMIN)).body.error.code).toBe('unknown_store');
    expect((await call('GET', '/stores/s1/allocation', RESERVE)).status).toBe(403);
    for (const [body, code] of [
      [{ default: { mode: 'share', share: 1.5 } }, 'invalid_rule'],
      [{ default: { mode: 'units', units: -1 } }, 'invalid_rule'],
      [{ skus: { 'bad sku': { mode: 'none' } } }, 'invalid_sku'],
      [{ nope: 1 }, 'invalid_request'],
      [{}, 'invalid_request'],
    ] as const) {
      const r = await call('PUT', '/stores/s1/allocation', ADMIN, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe(code);
    }
    expect((await call('PUT', '/stores/nope/allocation', ADMIN, { default: { mode: 'none' } })).status).toBe(404);
    const audit = await hub.storage.audit.auditLog(5);
    expect(audit.some((e) => e.action === 'allocation.set')).toBe(false);
  });

  it('a policy set through the API reaches the agent, which hands the hub its online share', async () => {
    a = await createAgent('s1', TOKENS.s1);
    await startAgent(a, syncUrl);
    await mustPost(a, '/restocks', [{ sku: HOT, qty: 10 }]);
    await waitSynced(a);
    expect(hubRights(S1)).toBe(0); // default none: the store keeps everything
    const put = await call('PUT', '/stores/s1/allocation', ADMIN, { default: { mode: 'share', share: 0.5 } });
    expect(put.status).toBe(200);
    expect(put.body.policy.default).toEqual({ mode: 'share', share: 0.5 });
    expect((await hub.storage.audit.auditLog(1))[0]).toMatchObject({ actor: 'key:key_admin', action: 'allocation.set' });
    await waitUntil('the agent to hand over 5', () => hubRights(S1) === 5);
    expect(agentRights(a)).toBe(5);
    // The hub can now hold a cart from those rights, and no more.
    expect((await reserve('s1', 6)).status).toBe(409);
    const cart = await reserve('s1', 2);
    expect(cart.status).toBe(201);
    expect(hubRights(S1)).toBe(3);
  });

  it('a till sale short of rights while online gets them from the hub instead of a 409', async () => {
    // Agent 5 rights, hub 3 unreserved (+2 held in a cart). A sale of 7 lacks 2.
    const r = await post(a, '/sales', [{ sku: HOT, qty: 7 }]);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await waitSynced(a);
    // sellable = 10 − 7 − 2 held = 1; target floor(0.5) = 0; the cart's hold stays.
    await waitUntil('rights to settle', () => hubRights(S1) === 0 && agentRights(a) === 1);
    expect(onHand(hub.state.state, S1, HOT)).toBe(3);
    // Beyond everything: still refused.
    const over = await post(a, '/sales', [{ sku: HOT, qty: 2 }]);
    expect(over.status).toBe(409);
  });

  it('a shrinking policy gives the hub’s rights back; a per-SKU override applies', async () => {
    await mustPost(a, '/restocks', [{ sku: HOT, qty: 9 }]);
    await waitSynced(a);
    // sellable 10 (12 on hand − 2 held): share 0.5 → hub 5
    await waitUntil('hub to hold 5', () => hubRights(S1) === 5);
    const put = await call('PUT', '/stores/s1/allocation?sku=HOT-1', ADMIN, { mode: 'units', units: 2 });
    expect(put.status).toBe(200);
    expect(put.body.policy.skus).toEqual({ 'HOT-1': { mode: 'units', units: 2 } });
    await waitUntil('hub to give back down to 2', () => hubRights(S1) === 2 && agentRights(a) === 8);
    expect(sellable(hub.state.state, S1, HOT)).toBe(10);
  });

  it('store offline: both sides sell only their own rights; after reconnect nothing was promised twice', async () => {
    await stopAgent(a);
    // The hub sells its 2 (a cart, committed) and the first cart's 2.
    const cart = await reserve('s1', 2);
    expect(cart.status).toBe(201);
    expect((await reserve('s1', 1)).status).toBe(409);
    const carts = [cart.body.id];
    for (const id of carts) expect((await call('POST', `/reservations/${id}/commit`, RESERVE)).status).toBe(200);
    // The store, offline (no hub reachable), sells its own 8 and no more.
    await startAgent(a, 'ws://127.0.0.1:1/sync');
    await mustPost(a, '/sales', [{ sku: HOT, qty: 8 }]);
    const refused = await post(a, '/sales', [{ sku: HOT, qty: 1 }]);
    expect(refused.status).toBe(409);
    await stopAgent(a);
    await startAgent(a, syncUrl);
    await waitSynced(a);
    await waitUntil('the hub to see the store’s sales', () => agentRights(a) === 0);
    const left = onHand(hub.state.state, S1, HOT);
    expect(left).toBeGreaterThanOrEqual(0);
    // 19 in, 7 + 8 sold at the till, 2 online; 2 still held by the first cart.
    expect(left).toBe(2);
    expect(sellable(hub.state.state, S1, HOT)).toBe(0);
    const v = await runCli(['--data', a.dir, '--json', 'verify']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});

describe('policy through the CLI, and a 1.0 agent', () => {
  it('`sync-hub allocation set/get` writes the policy; the running hub pushes it to a connected agent within the poll', async () => {
    const b = await createAgent('s2', TOKENS.s2);
    await startAgent(b, syncUrl);
    await mustPost(b, '/restocks', [{ sku: HOT, qty: 10 }]);
    await waitSynced(b);
    const set = await hubCli<{ policy: { default: unknown } }>(db.url, ['allocation', 'set', 's2', '--keep', '3']);
    expect(set.policy.default).toEqual({ mode: 'keep', keep: 3 });
    const sku = await hubCli<{ policy: { skus: Record<string, unknown> } }>(db.url, ['allocation', 'set', 's2', '--sku', 'MILD-1', '--none']);
    expect(sku.policy.skus).toEqual({ 'MILD-1': { mode: 'none' } });
    const got = await hubCli<{ policy: unknown }>(db.url, ['allocation', 'get', 's2']);
    expect(got.policy).toEqual({ default: { mode: 'keep', keep: 3 }, skus: { 'MILD-1': { mode: 'none' } } });
    await expect(hubCli(db.url, ['allocation', 'set', 's2', '--share', '2'])).rejects.toThrow();
    await expect(hubCli(db.url, ['allocation', 'set', 'nope', '--none'])).rejects.toThrow(/unknown_store|no store/);
    // keep 3 of 10: the hub ends up with 7.
    await waitUntil('the agent to hand over 7', () => hubRights(S2) === 7);
    expect((await hub.storage.audit.auditLog(3)).some((e) => e.actor === 'cli' && e.action === 'allocation.set')).toBe(true);
  });

  it('a 1.0 agent gets a 1.0 welcome and no allocation message', async () => {
    const frames: any[] = [];
    const ws = new WebSocket(syncUrl, { headers: { authorization: `Bearer ${TOKENS.s2}` } });
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'hello', protocol: '1.0', store: 's2', replica: 's2.old-agent', ackedHubSeq: 0, lastEventSeq: 0 }));
    await waitUntil('welcome', () => frames.some((f) => f.type === 'welcome'));
    await new Promise((r) => setTimeout(r, 500));
    expect(frames.find((f) => f.type === 'welcome').protocol).toBe('1.0');
    expect(frames.some((f) => f.type === 'allocation')).toBe(false);
    ws.close();
  });
});

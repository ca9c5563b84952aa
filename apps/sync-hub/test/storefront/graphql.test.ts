/**
 * GraphQL at /graphql against a real hub process on real PostgreSQL: the
 * same numbers as REST, holds through mutations (one selling service, so an
 * idempotency key replays across REST and GraphQL), REST error codes in
 * `extensions.code`, roles, and subscriptions over graphql-ws (a change
 * made by `POST /inventory/updates`, a sale made at an agent) and SSE.
 */
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { createAgent, killAllAgents, mustPost, removeTempDirs, startAgent, waitSynced, type StoreAgent } from '../sync/helpers/agents.js';
import { addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let hub: SpawnedHub;
let token: string;
let agentToken: string;
let readKey: string;
let reserveKey: string;
const clients: Client[] = [];

const addKey = (role: string) => hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', role]).then((r) => r.key);

let seq = 0;
async function update(type: string, lines: { sku: string; qty: number }[]): Promise<void> {
  const res = await fetch(`${hub.url}/inventory/updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ storeId: 'gq1', idempotencyKey: `u${++seq}`, type, lines }),
  });
  expect(res.status).toBe(201);
}

async function rest(method: string, path: string, key: string | null, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function gql(key: string | null, query: string, variables: Record<string, unknown> = {}): Promise<{ status: number; data: any; errors?: any[] }> {
  const res = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: any; errors?: any[] };
  return { status: res.status, data: body.data, errors: body.errors };
}

const codes = (r: { errors?: any[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

function wsClient(params: Record<string, unknown> | undefined, query = ''): Client {
  const c = createClient({ url: `${hub.url.replace('http', 'ws')}/graphql${query}`, webSocketImpl: WebSocket, connectionParams: params, retryAttempts: 0, lazy: true });
  clients.push(c);
  return c;
}

/** Collects a subscription's results until disposed. */
function collect(c: Client, query: string, variables: Record<string, unknown> = {}) {
  const results: any[] = [];
  let error: unknown = null;
  let completed = false;
  const dispose = c.subscribe(
    { query, variables },
    {
      next: (r) => results.push(r),
      error: (e) => (error = e),
      complete: () => (completed = true),
    },
  );
  return { results, dispose, get error() { return error; }, get completed() { return completed; } };
}

const AVAILABILITY = `subscription($skus: [String!], $storeId: String, $snapshot: Boolean) {
  availabilityChanged(skus: $skus, storeId: $storeId, snapshot: $snapshot) { eventId snapshot stock { storeId sku onHand held available deficit } }
}`;

const RESERVE = `mutation($input: ReserveInput!) { reserve(input: $input) { replayed reservation { id storeId status expiresAt lines { sku qty } } } }`;

beforeAll(async () => {
  db = await createTestDatabase();
  // One CLI call at a time: each costs seconds of start-up on a loaded machine.
  token = await addStore(db.url, 'gq1');
  agentToken = await addStore(db.url, 'ag1');
  readKey = await addKey('read');
  reserveKey = await addKey('reserve');
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-gql', timeoutMs: 60_000 });
  await update('restock', ['G-1', 'G-2', 'G-3', 'G-4', 'G-5'].map((sku) => ({ sku, qty: 10 })));
}, 240_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await killAllAgents();
  await killAllHubs();
  removeTempDirs();
  await db?.drop();
});

describe('queries', () => {
  it('inventory(sku, storeId) gives the numbers of GET /inventory/:sku', async () => {
    await update('sale', [{ sku: 'G-2', qty: 3 }]);
    const r = await gql(readKey, `{ inventory(sku: "G-2") { sku onHand held available deficit stores { storeId sku onHand held safetyStock available deficit online updatedAt } } }`);
    expect(r.errors).toBeUndefined();
    const { at: _at, ...viaRest } = (await rest('GET', '/inventory/G-2', readKey)).body;
    expect(r.data.inventory).toEqual(viaRest);
    expect(r.data.inventory).toMatchObject({ sku: 'G-2', onHand: 7, available: 7, stores: [{ storeId: 'gq1', onHand: 7 }] });
    const one = await gql(readKey, `{ inventory(sku: "G-2", storeId: "gq1") { available stores { storeId } } }`);
    expect(one.data.inventory).toEqual({ available: 7, stores: [{ storeId: 'gq1' }] });
  });

  it('unknown_sku, unknown_store, invalid_request as extensions.code', async () => {
    expect(codes(await gql(readKey, `{ inventory(sku: "NOPE") { sku } }`))).toEqual(['unknown_sku']);
    expect(codes(await gql(readKey, `{ inventory(sku: "G-1", storeId: "nowhere") { sku } }`))).toEqual(['unknown_store']);
    expect(codes(await gql(readKey, `{ inventory(sku: "bad sku") { sku } }`))).toEqual(['invalid_request']);
    expect(codes(await gql(readKey, `{ skus(first: 0) { nodes { sku } } }`))).toEqual(['invalid_request']);
    expect(codes(await gql(readKey, `{ skus(after: "%%%") { nodes { sku } } }`))).toEqual(['invalid_cursor']);
  });

  it('skus pages like GET /inventory (same cursors), every SKU once; lowStock', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let restCursor: string | null = null;
    for (;;) {
      const r: { data: any } = await gql(readKey, `query($after: String) { skus(first: 2, after: $after) { edges { cursor node { sku available } } pageInfo { hasNextPage endCursor } } }`, { after });
      const viaRest: any = (await rest('GET', `/inventory?limit=2${restCursor ? `&cursor=${restCursor}` : ''}`, readKey)).body;
      const page = r.data.skus;
      expect(page.edges.map((e: any) => e.node)).toEqual(viaRest.items.map((i: any) => ({ sku: i.sku, available: i.available })));
      seen.push(...page.edges.map((e: any) => e.node.sku));
      expect(page.pageInfo.hasNextPage).toBe(viaRest.nextCursor !== null);
      if (!page.pageInfo.hasNextPage) break;
      expect(page.pageInfo.endCursor).toBe(viaRest.nextCursor);
      after = page.pageInfo.endCursor;
      restCursor = viaRest.nextCursor;
    }
    expect(seen).toEqual(['G-1', 'G-2', 'G-3', 'G-4', 'G-5']);
    await update('sale', [{ sku: 'G-4', qty: 8 }]);
    const low = await gql(readKey, `{ skus(lowStock: true) { nodes { sku available } } }`);
    const lowRest = (await rest('GET', '/inventory?lowStock=true', readKey)).body;
    expect(low.data.skus.nodes).toEqual(lowRest.items.map((i: any) => ({ sku: i.sku, available: i.available })));
    expect(low.data.skus.nodes.map((n: any) => n.sku)).toContain('G-4');
  });

  it('stores lists registered stores and whether they are online', async () => {
    const r = await gql(readKey, `{ stores { id online } }`);
    expect(r.data.stores).toEqual(expect.arrayContaining([{ id: 'gq1', online: false }, { id: 'ag1', online: false }]));
  });
});

describe('mutations (reserve key)', () => {
  it('reserve → commit, with idempotent replay (also across REST), the same cart through REST', async () => {
    const input = { idempotencyKey: 'gq-cart-1', lines: [{ sku: 'G-1', qty: 2 }], ttlSeconds: 600 };
    const first = await gql(reserveKey, RESERVE, { input });
    expect(first.errors).toBeUndefined();
    const cart = first.data.reserve.reservation;
    expect(first.data.reserve.replayed).toBe(false);
    expect(cart).toMatchObject({ storeId: 'gq1', status: 'active', lines: [{ sku: 'G-1', qty: 2 }] });
    const again = await gql(reserveKey, RESERVE, { input });
    expect(again.data.reserve).toEqual({ replayed: true, reservation: cart });
    // The same key over REST replays the GraphQL answer (one idempotency scope per API key).
    const viaRest = await rest('POST', '/reservations', reserveKey, input);
    expect(viaRest.status).toBe(201);
    expect(viaRest.headers.get('idempotent-replayed')).toBe('true');
    expect(viaRest.body).toEqual(cart);
    // Another request under the key: 422 over REST, idempotency_key_reused here.
    expect(codes(await gql(reserveKey, RESERVE, { input: { ...input, lines: [{ sku: 'G-1', qty: 3 }] } }))).toEqual(['idempotency_key_reused']);

    const inv = await gql(readKey, `{ inventory(sku: "G-1") { held available } }`);
    expect(inv.data.inventory).toEqual({ held: 2, available: 8 });
    const got = await gql(reserveKey, `query($id: ID!) { reservation(id: $id) { id status } }`, { id: cart.id });
    expect(got.data.reservation).toEqual({ id: cart.id, status: 'active' });
    const committed = await gql(reserveKey, `mutation($id: ID!) { commitReservation(id: $id) { id status } }`, { id: cart.id });
    expect(committed.data.commitReservation).toEqual({ id: cart.id, status: 'committed' });
    const twice = await gql(reserveKey, `mutation($id: ID!) { commitReservation(id: $id) { status } }`, { id: cart.id });
    expect(twice.data.commitReservation).toEqual({ status: 'committed' });
    expect((await rest('GET', `/reservations/${cart.id}`, reserveKey)).body.status).toBe('committed');
    expect(codes(await gql(reserveKey, `mutation($id: ID!) { releaseReservation(id: $id) { status } }`, { id: cart.id }))).toEqual(['reservation_committed']);
    expect((await gql(readKey, `{ inventory(sku: "G-1") { onHand held available } }`)).data.inventory).toEqual({ onHand: 8, held: 0, available: 8 });
  });

  it('release frees the units; a cart made over REST is released over GraphQL', async () => {
    const made = await rest('POST', '/reservations', reserveKey, { idempotencyKey: 'rest-cart-1', lines: [{ sku: 'G-3', qty: 4 }] });
    expect(made.status).toBe(201);
    expect((await gql(readKey, `{ inventory(sku: "G-3") { held } }`)).data.inventory.held).toBe(4);
    const r = await gql(reserveKey, `mutation($id: ID!) { releaseReservation(id: $id) { id status } }`, { id: made.body.id });
    expect(r.data.releaseReservation).toEqual({ id: made.body.id, status: 'released' });
    expect((await gql(readKey, `{ inventory(sku: "G-3") { held available } }`)).data.inventory).toEqual({ held: 0, available: 10 });
    expect(codes(await gql(reserveKey, `mutation($id: ID!) { commitReservation(id: $id) { status } }`, { id: made.body.id }))).toEqual(['reservation_released']);
  });

  it('insufficient_stock with lines, invalid_request, reservation_not_found', async () => {
    const short = await gql(reserveKey, RESERVE, { input: { idempotencyKey: 'gq-short', lines: [{ sku: 'G-5', qty: 99 }] } });
    expect(codes(short)).toEqual(['insufficient_stock']);
    expect(short.errors![0].extensions.lines).toEqual([{ sku: 'G-5', requested: 99, available: 10 }]);
    const viaRest = await rest('POST', '/reservations', reserveKey, { idempotencyKey: 'rest-short', lines: [{ sku: 'G-5', qty: 99 }] });
    expect(viaRest.body.error.lines).toEqual(short.errors![0].extensions.lines);
    expect(codes(await gql(reserveKey, RESERVE, { input: { idempotencyKey: 'gq-bad', lines: [{ sku: 'G-5', qty: 0 }] } }))).toEqual(['invalid_request']);
    expect(codes(await gql(reserveKey, RESERVE, { input: { idempotencyKey: 'gq-bad2', lines: [] } }))).toEqual(['invalid_request']);
    expect(codes(await gql(reserveKey, RESERVE, { input: { idempotencyKey: 'gq-nosku', lines: [{ sku: 'NOPE-9', qty: 1 }] } }))).toEqual(['unknown_sku']);
    expect(codes(await gql(reserveKey, `{ reservation(id: "r_000000000000000000000000") { id } }`))).toEqual(['reservation_not_found']);
    expect(codes(await gql(reserveKey, `{ reservation(id: "nonsense") { id } }`))).toEqual(['reservation_not_found']);
  });

  it('reservation_expired when committing a lapsed hold', async () => {
    const r = await gql(reserveKey, RESERVE, { input: { idempotencyKey: 'gq-lapse', lines: [{ sku: 'G-5', qty: 1 }], ttlSeconds: 1 } });
    const id = r.data.reserve.reservation.id;
    await new Promise((res) => setTimeout(res, 1_300));
    expect(codes(await gql(reserveKey, `mutation($id: ID!) { commitReservation(id: $id) { status } }`, { id }))).toEqual(['reservation_expired']);
  });
});

describe('roles', () => {
  it('no key or a bad key: unauthorized; a read key cannot reserve: forbidden; nothing changes', async () => {
    expect(codes(await gql(null, `{ stores { id } }`))).toEqual(['unauthorized']);
    expect(codes(await gql('sk_nope', `{ inventory(sku: "G-1") { sku } }`))).toEqual(['unauthorized']);
    const before = (await gql(readKey, `{ inventory(sku: "G-5") { held } }`)).data.inventory.held;
    expect(codes(await gql(readKey, RESERVE, { input: { idempotencyKey: 'gq-ro', lines: [{ sku: 'G-5', qty: 1 }] } }))).toEqual(['forbidden']);
    expect(codes(await gql(readKey, `{ reservation(id: "r_000000000000000000000000") { id } }`))).toEqual(['forbidden']);
    expect(codes(await gql(null, `mutation { commitReservation(id: "r_000000000000000000000000") { id } }`))).toEqual(['unauthorized']);
    expect((await gql(readKey, `{ inventory(sku: "G-5") { held } }`)).data.inventory.held).toBe(before);
  });

  it('graphql-ws refuses a connection without a read key; a read key cannot mutate over it', async () => {
    const closed = await new Promise<{ code: number }>((resolve) => {
      const c = wsClient(undefined);
      c.on('closed', (e) => resolve(e as { code: number }));
      c.subscribe({ query: '{ stores { id } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    });
    expect(closed.code).toBe(4401);
    const c = wsClient({ authorization: `Bearer ${readKey}` });
    const r = collect(c, RESERVE, { input: { idempotencyKey: 'gq-ws-ro', lines: [{ sku: 'G-5', qty: 1 }] } });
    await waitFor('r.completed || r.error !== null', () => r.completed || r.error !== null, { timeoutMs: 10_000 });
    expect(r.results[0].errors[0].extensions.code).toBe('forbidden');
  });
});

describe('subscriptions', () => {
  it('graphql-ws: an availability change made by POST /inventory/updates arrives (key as connectionParams or ?key=)', async () => {
    const a = collect(wsClient({ authorization: `Bearer ${readKey}` }), AVAILABILITY, { skus: ['G-2'], snapshot: true });
    const b = collect(wsClient(undefined, `?key=${readKey}`), AVAILABILITY, { skus: ['G-2'], storeId: 'gq1' });
    await waitFor('a.results.length >= 1', () => a.results.length >= 1, { timeoutMs: 10_000 });
    expect(a.results[0].data.availabilityChanged).toMatchObject({ snapshot: true, stock: { storeId: 'gq1', sku: 'G-2', onHand: 7 } });
    await new Promise((r) => setTimeout(r, 300)); // b subscribed
    await update('sale', [{ sku: 'G-2', qty: 1 }, { sku: 'G-3', qty: 1 }]);
    await waitFor('a.results.length >= 2 && b.results.lengt', () => a.results.length >= 2 && b.results.length >= 1, { timeoutMs: 10_000 });
    for (const got of [a.results[1], b.results[0]]) {
      expect(got.errors).toBeUndefined();
      expect(got.data.availabilityChanged).toMatchObject({ snapshot: false, stock: { storeId: 'gq1', sku: 'G-2', onHand: 6, available: 6 } });
    }
    // Filtered on G-2: the G-3 change is not sent.
    await new Promise((r) => setTimeout(r, 200));
    expect([...a.results, ...b.results].every((x) => x.data.availabilityChanged.stock.sku === 'G-2')).toBe(true);
    a.dispose();
    b.dispose();
  });

  it('SSE (Accept: text/event-stream) receives a change too', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${readKey}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: AVAILABILITY, variables: { skus: ['G-5'] } }),
      signal: ctrl.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    setTimeout(() => void update('restock', [{ sku: 'G-5', qty: 1 }]), 300);
    const deadline = Date.now() + 10_000;
    while (!text.includes('availabilityChanged') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ctrl.abort();
    const data = JSON.parse(text.split('\n').find((l) => l.startsWith('data:') && l.includes('availabilityChanged'))!.slice(5));
    expect(data.data.availabilityChanged.stock).toMatchObject({ storeId: 'gq1', sku: 'G-5' });
  });

  it('graphql-ws: a sale made at an agent arrives', async () => {
    const agent: StoreAgent = await createAgent('ag1', agentToken);
    await startAgent(agent, hub.syncUrl);
    await mustPost(agent, '/restocks', [{ sku: 'AG-1', qty: 5 }]);
    await waitSynced(agent);
    const sub = collect(wsClient({ authorization: `Bearer ${readKey}` }), AVAILABILITY, { skus: ['AG-1'], storeId: 'ag1' });
    await new Promise((r) => setTimeout(r, 300));
    await mustPost(agent, '/sales', [{ sku: 'AG-1', qty: 2 }]);
    await waitFor('sub.results.some((r) => r.data?.availabi', () => sub.results.some((r) => r.data?.availabilityChanged.stock.onHand === 3), { timeoutMs: 20_000 });
    const got = sub.results.find((r) => r.data?.availabilityChanged.stock.onHand === 3);
    expect(got.data.availabilityChanged.stock).toMatchObject({ storeId: 'ag1', sku: 'AG-1', onHand: 3, available: 3 });
    sub.dispose();
  }, 60_000);
});

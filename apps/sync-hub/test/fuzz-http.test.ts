/**
 * Fuzzing the hub's HTTP API (a real hub in this process on a test
 * PostgreSQL database, real HTTP): arbitrary JSON, wrong types,
 * huge/negative/fractional quantities, unicode and control characters in
 * ids, oversized bodies, missing fields, wrong content types, on the selling
 * routes (/reservations, /inventory/updates with a store token, /transfers)
 * and the reads.
 *
 * Every answer: never a 5xx; an error (≥ 400) is JSON `{error:{code,message}}`;
 * a refused request leaves every store's digest (in memory) and the stored
 * events, carts and idempotent answers (in PostgreSQL) as they were.
 *
 * Runs per property: FUZZ_RUNS (default 120). Chaos: `FUZZ_RUNS=10000 npx vitest run apps/sync-hub/test/fuzz-http.test.ts`.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreId } from '@scoville/crdt-inventory';
import { hashSecret, newSecret } from '../src/auth/tokens.js';
import { startHub, type RunningHub } from '../src/hub.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { recordingLogger } from './sync/helpers/logs.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const TIMEOUT = Math.max(60_000, RUNS * 60);
const NOW = Date.parse('2026-11-28T10:00:00Z');

let db: TestDatabase;
let hub: RunningHub;
let sql: pg.Client;
const { log, logged } = recordingLogger();
const secrets = {
  wh1: newSecret('st'),
  wh2: newSecret('st'),
  revokedStore: newSecret('st'),
  read: newSecret('sk'),
  reserve: newSecret('sk'),
  admin: newSecret('sk'),
  revokedKey: newSecret('sk'),
};
let cartId: string;

async function call(method: string, path: string, opts: { auth?: string; body?: string; type?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.auth !== undefined) headers.authorization = opts.auth;
  if (opts.type !== undefined) headers['content-type'] = opts.type;
  const res = await fetch(`${hub.url}${path}`, { method, headers, body: opts.body });
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  db = await createTestDatabase();
  hub = await startHub({ port: 0, host: '127.0.0.1', databaseUrl: db.url, replica: 'hub-fuzz-http', log, clock: () => NOW, sweepEveryMs: 3_600_000 });
  const a = hub.storage.access;
  await a.addStore('wh1' as StoreId, hashSecret(secrets.wh1), NOW);
  await a.addStore('wh2' as StoreId, hashSecret(secrets.wh2), NOW);
  await a.addStore('gone' as StoreId, hashSecret(secrets.revokedStore), NOW);
  await a.revokeStore('gone' as StoreId, NOW);
  await a.addApiKey('key_read', hashSecret(secrets.read), 'read', NOW);
  await a.addApiKey('key_reserve', hashSecret(secrets.reserve), 'reserve', NOW);
  await a.addApiKey('key_admin', hashSecret(secrets.admin), 'admin', NOW);
  await a.addApiKey('key_revoked', hashSecret(secrets.revokedKey), 'admin', NOW);
  await a.revokeApiKey('key_revoked', NOW);
  const json = 'application/json';
  for (const [store, token] of [['wh1', secrets.wh1], ['wh2', secrets.wh2]] as const) {
    const r = await call('POST', '/inventory/updates', {
      auth: `Bearer ${token}`,
      type: json,
      body: JSON.stringify({ storeId: store, idempotencyKey: `seed-${store}`, type: 'restock', lines: [{ sku: 'A', qty: 50 }, { sku: 'HSS-001', qty: 20 }] }),
    });
    expect(r.status, r.text).toBe(201);
  }
  const cart = await call('POST', '/reservations', { auth: `Bearer ${secrets.reserve}`, type: json, body: JSON.stringify({ idempotencyKey: 'seed-cart', storeId: 'wh1', lines: [{ sku: 'A', qty: 1 }] }) });
  expect(cart.status, cart.text).toBe(201);
  cartId = JSON.parse(cart.text).id ?? JSON.parse(cart.text).reservationId;
  sql = new pg.Client({ connectionString: db.url });
  sql.on('error', () => undefined);
  await sql.connect();
}, 60_000);

afterAll(async () => {
  await sql?.end().catch(() => undefined);
  await hub?.stop().catch(() => undefined);
  await db?.drop();
}, 30_000);

async function snapshot() {
  const s = hub.state.state;
  const digests = Object.fromEntries(s.storeIds().sort().map((st) => [st, hub.state.digest(st)]));
  const { rows } = await sql.query<{ e: string; c: string; h: string; a: string }>(
    'SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM carts) AS c, (SELECT count(*) FROM http_responses) AS h, (SELECT count(*) FROM audit) AS a',
  );
  return { digests, db: rows[0] };
}

// ------------------------------------------------------------------ arbitraries

const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', 'A\u0000', 'A\n', 'A\u007f', '../etc', 'A B', '😀', 'a'.repeat(129), 'a'.repeat(5_000), '%00', '\u202e', '__proto__', '*'),
  fc.constantFrom('A', 'HSS-001', 'NOPE', 'wh1', 'wh2', 'gone', 'hub-fuzz-http'),
);
const nastyNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 0.1, 1e9, 1e9 + 1, 1e12, 1e21, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.integer({ min: 1, max: 3 }),
);
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: nastyNumber },
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [1], '1', 'NaN') },
);
const line = fc.record({ sku: nastyValue, qty: nastyValue, extra: nastyValue }, { requiredKeys: [] });
const okLine = fc.record({ sku: fc.constantFrom('A', 'HSS-001'), qty: nastyNumber });
const shapedBody = fc.record(
  {
    idempotencyKey: fc.oneof(nastyString, nastyValue),
    storeId: fc.oneof(fc.constantFrom('wh1', 'wh2', 'gone'), nastyValue),
    from: fc.oneof(fc.constantFrom('wh1', 'wh2'), nastyValue),
    to: fc.oneof(fc.constantFrom('wh1', 'wh2'), nastyValue),
    type: fc.oneof(fc.constantFrom('sale', 'restock', 'adjustment', 'count', 'transfer', ''), nastyValue),
    lines: fc.oneof(fc.array(fc.oneof(line, okLine), { maxLength: 4 }), nastyValue, fc.constant(Array.from({ length: 501 }, () => ({ sku: 'A', qty: 1 })))),
    reason: fc.oneof(fc.constantFrom('damaged', 'lost'), nastyValue),
    force: nastyValue,
    terminal: nastyValue,
    ttlSeconds: nastyValue,
    extra: nastyValue,
  },
  { requiredKeys: [] },
);
const rawBody = fc.oneof(
  { weight: 6, arbitrary: shapedBody.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom('{', 'null', '[]', '""', '\u0000', '{"a":1}{"b":2}') },
  { weight: 1, arbitrary: fc.constantFrom(JSON.stringify({ idempotencyKey: 'k', lines: [{ sku: 'A', qty: 1 }], pad: 'x'.repeat(2_000_000) }), '['.repeat(100_000)) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const contentType = fc.constantFrom<string | undefined>('application/json', 'application/json', undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz');
const auth = fc.oneof(
  fc.constantFrom(
    `Bearer ${secrets.wh1}`,
    `Bearer ${secrets.wh2}`,
    `Bearer ${secrets.revokedStore}`,
    `Bearer ${secrets.read}`,
    `Bearer ${secrets.reserve}`,
    `Bearer ${secrets.admin}`,
    `Bearer ${secrets.revokedKey}`,
  ),
  fc.constantFrom<string | undefined>(undefined, 'Bearer', 'Basic abc', `Bearer ${secrets.admin} extra`),
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => `Bearer ${s}`),
);
const idInPath = fc.oneof(nastyString, fc.constantFrom('r_000000000000000000000000', 'r_', 'CART'));
const request = fc.oneof(
  fc.record({ method: fc.constant('POST'), path: fc.constantFrom('/reservations', '/inventory/updates', '/transfers'), body: rawBody, type: contentType, auth }),
  fc.record({
    method: fc.constantFrom('GET', 'DELETE', 'POST'),
    path: idInPath.map((id) => (id === 'CART' ? `/reservations/${cartId}` : `/reservations/${encodeURIComponent(id)}`)),
    body: rawBody,
    type: contentType,
    auth,
  }).map((r) => ({ ...r, path: r.method === 'POST' ? `${r.path}/commit` : r.path, body: r.method === 'GET' ? undefined : r.body })),
  fc.record({
    method: fc.constant('GET'),
    path: fc.tuple(fc.option(nastyString), fc.option(nastyString)).map(([s, k]) => {
      const q = new URLSearchParams();
      if (s !== null) q.set('storeId', s);
      if (k !== null) q.set('sku', k);
      return `/inventory?${q}`;
    }),
    body: fc.constant(undefined),
    type: contentType,
    auth,
  }),
  fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
    path: fc.oneof(fc.constantFrom('/', '/stores', '/status', '/health', '/dashboard/state', '/inventory', '/nope', '//transfers'), nastyString.map((s) => `/${encodeURIComponent(s)}`)),
    body: rawBody,
    type: contentType,
    auth,
  }).map((r) => (r.method === 'GET' ? { ...r, body: undefined } : r)),
);

describe('hub HTTP API under fuzzing', () => {
  it(
    'never answers 5xx, errors are {error:{code,message}}, refusals change nothing',
    async () => {
      let refused = 0;
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const before = await snapshot();
          const what = `${r.method} ${r.path.slice(0, 100)} [${r.type}] auth=${r.auth?.slice(0, 12)} ${String(r.body).slice(0, 120)}`;
          let res: { status: number; text: string };
          try {
            res = await call(r.method, r.path, { auth: r.auth, body: r.body, type: r.type });
          } catch (e) {
            // A header value fetch itself refuses never reaches the hub.
            if (e instanceof TypeError && /header/i.test(String(e.message) + String((e as Error & { cause?: Error }).cause?.message))) return;
            // An oversized body is refused (413) before it is read, and the connection closed
            // while the client may still be sending it: fetch then fails. Nothing may have changed.
            if ((r.body?.length ?? 0) > 256 * 1024 && (e as Error & { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET') {
              expect(await snapshot(), what).toEqual(before);
              return;
            }
            throw e;
          }
          // /health may be 503 when the database is slow; it is not an error of the request.
          if (r.path === '/health' && r.method === 'GET') return;
          expect(res.status, `${what} → ${res.text.slice(0, 200)}`).toBeLessThan(500);
          if (res.status >= 400) {
            refused++;
            let body: any;
            expect(() => (body = JSON.parse(res.text)), `${what}: error body is JSON: ${res.text.slice(0, 200)}`).not.toThrow();
            expect(typeof body?.error?.code, `${what}: ${res.text.slice(0, 200)}`).toBe('string');
            expect(typeof body.error.message, what).toBe('string');
            expect(await snapshot(), what).toEqual(before);
          } else accepted++;
        }),
        { numRuns: RUNS },
      );
      expect(refused).toBeGreaterThan(accepted);
      expect(logged.filter((l) => l.level === 'error')).toEqual([]);
    },
    TIMEOUT,
  );
});

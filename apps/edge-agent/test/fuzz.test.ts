/**
 * Fuzzing the POS API in process (a real SQLite file, `app.request`): arbitrary
 * JSON, wrong types, huge/negative/fractional quantities, unicode and control
 * characters in ids, oversized bodies, missing fields, wrong content types.
 *
 * Every answer: never a 5xx; an error (≥ 400) is JSON `{error:{code,message}}`;
 * a refused request leaves the state digest, the event log and the catalog
 * exactly as they were.
 *
 * Runs per property: FUZZ_RUNS (default 300, so `npm test` stays fast).
 * The chaos run uses e.g. `FUZZ_RUNS=10000 npx vitest run apps/edge-agent/test/fuzz.test.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initAgent, openAgent, startAgent } from '../src/agent.js';
import { createApp } from '../src/http/app.js';
import { WriteService } from '../src/inventory/write-service.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const TIMEOUT = Math.max(60_000, RUNS * 40);
const TOKEN = 'terminal-secret-0123456789';

let dir: string;
let opened: ReturnType<typeof openAgent>;
let writes: WriteService;
let open: ReturnType<typeof createApp>;
let guarded: ReturnType<typeof createApp>;
const now = Date.parse('2026-11-28T10:00:00Z');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-fuzz-'));
  initAgent(dir, 's1');
  opened = openAgent(dir);
  writes = new WriteService(opened.store, opened.inventory, () => now);
  open = createApp({ inventory: opened.inventory, writes, clock: () => now });
  guarded = createApp({ inventory: opened.inventory, writes, clock: () => now, terminalToken: TOKEN });
  // Some stock and catalog to refuse things against.
  for (const sku of ['A', 'B', 'HSS-001']) {
    const r = await open.request('/restocks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ idempotencyKey: `seed-${sku}`, lines: [{ sku, qty: 50 }] }) });
    expect(r.status).toBe(201);
  }
  const h = await open.request('/holds', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ idempotencyKey: 'seed-hold', lines: [{ sku: 'A', qty: 1 }] }) });
  expect(h.status).toBe(201);
});

afterAll(() => {
  writes?.close();
  opened?.store.close();
  rmSync(dir, { recursive: true, force: true });
});

function snapshot() {
  const { inventory, store } = opened;
  return {
    digest: inventory.state.digest(inventory.identity.store),
    events: store.eventCount(),
    catalog: JSON.stringify(store.catalog()),
  };
}

// ------------------------------------------------------------------ arbitraries

/** Strings that are hostile as ids: unicode, control characters, separators, huge. */
const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', 'A\u0000', 'A\n', 'A\u007f', '../etc', 'A B', '😀', 'a'.repeat(129), 'a'.repeat(10_000), '%00', '\u202e', 'A\r\nX-Evil: 1', '__proto__', 'constructor'),
  fc.constantFrom('A', 'B', 'HSS-001', 'NOPE'),
);
const nastyNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 0.1, -1e-9, 1e9, 1e9 + 1, 1e12, 1e21, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e308),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.integer({ min: 1, max: 5 }),
);
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: nastyNumber },
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [1], { qty: 1 }, '1', '-1', 'NaN', 'Infinity') },
);
const line = fc.record(
  { sku: nastyValue, qty: nastyValue, count: nastyValue, extra: nastyValue },
  { requiredKeys: [] },
);
const okLine = fc.record({ sku: fc.constantFrom('A', 'B', 'HSS-001'), qty: nastyNumber });
/** Bodies shaped like the real ones with one or more fields broken, missing or extra. */
const shapedBody = fc.record(
  {
    idempotencyKey: fc.oneof(nastyString, nastyValue),
    lines: fc.oneof(fc.array(fc.oneof(line, okLine), { maxLength: 4 }), nastyValue, fc.constant(Array.from({ length: 501 }, () => ({ sku: 'A', qty: 1 })))),
    reason: fc.oneof(fc.constantFrom('damaged', 'correction', 'lost', ''), nastyValue),
    terminal: fc.oneof(nastyString, nastyValue),
    force: nastyValue,
    ttlSeconds: nastyValue,
    items: fc.oneof(fc.array(fc.record({ sku: nastyValue, name: nastyValue, priceCents: nastyValue, safetyStock: nastyValue }, { requiredKeys: [] }), { maxLength: 3 }), nastyValue),
    price: nastyValue,
  },
  { requiredKeys: [] },
);
const rawBody = fc.oneof(
  { weight: 5, arbitrary: shapedBody.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"idempotencyKey":', 'null', '[]', '""', '{"lines":[{"sku":"A","qty":1}]}', '\u0000', '{"a":1}{"b":2}') },
  // Oversized: past the 256 KiB limit, valid JSON and not.
  { weight: 1, arbitrary: fc.constantFrom(JSON.stringify({ idempotencyKey: 'k', lines: [{ sku: 'A', qty: 1 }], pad: 'x'.repeat(300_000) }), 'x'.repeat(270_000)) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const contentType = fc.constantFrom<string | undefined>(
  'application/json',
  'application/json',
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=zz',
  'application/json; charset=latin1',
  '\u00ff/\u00fe',
);
const idInPath = fc.oneof(nastyString, fc.constantFrom('h123', 'x'.repeat(65)));
const request = fc.oneof(
  fc.record({
    method: fc.constantFrom('POST'),
    path: fc.constantFrom('/sales', '/restocks', '/adjustments', '/counts', '/holds', '/sync'),
    body: rawBody,
    type: contentType,
  }),
  fc.record({ method: fc.constantFrom('PUT'), path: fc.constant('/catalog'), body: rawBody, type: contentType }),
  fc.record({
    method: fc.constantFrom('POST', 'DELETE', 'GET'),
    path: idInPath.map((id) => `/holds/${encodeURIComponent(id)}`),
    body: rawBody,
    type: contentType,
  }).map((r) => ({ ...r, path: r.method === 'POST' ? `${r.path}/commit` : r.path, body: r.method === 'GET' ? undefined : r.body })),
  fc.record({ method: fc.constant('GET'), path: idInPath.map((id) => `/stock/${encodeURIComponent(id)}`), body: fc.constant(undefined), type: contentType }),
  fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
    path: fc.oneof(fc.constantFrom('/', '/stock', '/status', '/catalog', '/health', '/nope', '/sales/1', '//sales'), nastyString.map((s) => `/${encodeURIComponent(s)}`)),
    body: rawBody,
    type: contentType,
  }).map((r) => (r.method === 'GET' ? { ...r, body: undefined } : r)),
);

async function send(app: ReturnType<typeof createApp>, r: { method: string; path: string; body: string | undefined; type: string | undefined }, auth?: string) {
  const headers: Record<string, string> = {};
  if (r.type !== undefined) headers['content-type'] = r.type;
  if (auth !== undefined) headers.authorization = auth;
  const res = await app.request(new Request(`http://127.0.0.1${r.path}`, { method: r.method, headers, body: r.body }));
  const text = await res.text();
  return { status: res.status, text };
}

/** The contract of every answer; returns the parsed body. */
function checkAnswer(status: number, text: string, what: string): unknown {
  expect(status, what).toBeLessThan(500);
  if (status >= 400) {
    let body: any;
    expect(() => (body = JSON.parse(text)), `${what}: error body is JSON: ${text.slice(0, 200)}`).not.toThrow();
    expect(typeof body?.error?.code, `${what}: ${text.slice(0, 200)}`).toBe('string');
    expect(body.error.code.length, what).toBeGreaterThan(0);
    expect(typeof body.error.message, what).toBe('string');
    return body;
  }
  return text ? JSON.parse(text) : null;
}

describe('POS API under fuzzing', () => {
  it(
    'never answers 5xx, errors are {error:{code,message}}, refusals change nothing',
    async () => {
      let accepted = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const before = snapshot();
          const res = await send(open, r);
          const what = `${r.method} ${r.path} [${r.type}] ${String(r.body).slice(0, 120)}`;
          checkAnswer(res.status, res.text, what);
          if (res.status >= 400) {
            refused++;
            expect(snapshot(), what).toEqual(before);
          } else accepted++;
        }),
        { numRuns: RUNS },
      );
      // The generator must mostly produce refusals (else it tests little).
      expect(refused).toBeGreaterThan(accepted);
    },
    TIMEOUT,
  );

  it(
    'with a terminal token: anything without the right token is 401 and changes nothing',
    async () => {
      const auth = fc.oneof(
        fc.constant(undefined),
        fc.constantFrom('Bearer', 'Bearer ', `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `bearer${TOKEN}`, `Basic ${TOKEN}`, TOKEN, `Bearer  ${TOKEN}`, `Bearer ${TOKEN.toUpperCase()}`),
        fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
        fc.string({ minLength: TOKEN.length, maxLength: TOKEN.length }).map((s) => `Bearer ${s}`),
      );
      await fc.assert(
        fc.asyncProperty(request, auth, async (r, a) => {
          const before = snapshot();
          let res: { status: number; text: string };
          try {
            res = await send(guarded, r, a);
          } catch (e) {
            // Header values Request refuses (control characters) never reach the agent.
            if (e instanceof TypeError) return;
            throw e;
          }
          const what = `${r.method} ${r.path} auth=${JSON.stringify(a)}`;
          const body = checkAnswer(res.status, res.text, what) as any;
          if (r.path === '/health') return;
          expect(res.status, what).toBe(401);
          expect(body.error.code).toBe('unauthorized');
          expect(snapshot(), what).toEqual(before);
        }),
        { numRuns: Math.max(20, Math.floor(RUNS / 3)) },
      );
    },
    TIMEOUT,
  );

  it('the right token gets through; a wrong one of the same length does not', async () => {
    const ok = await send(guarded, { method: 'GET', path: '/stock', body: undefined, type: undefined }, `Bearer ${TOKEN}`);
    expect(ok.status).toBe(200);
    const same = await send(guarded, { method: 'GET', path: '/stock', body: undefined, type: undefined }, `Bearer ${'x'.repeat(TOKEN.length)}`);
    expect(same.status).toBe(401);
    expect((await send(guarded, { method: 'GET', path: '/health', body: undefined, type: undefined })).status).toBe(200);
  });

  it('refuses to listen beyond loopback without a terminal token; with one, a remote-facing agent asks for it', async () => {
    const d = mkdtempSync(join(tmpdir(), 'scoville-bind-'));
    try {
      initAgent(d, 's9');
      for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
        await expect(startAgent({ dataDir: d, host, port: 0 }), host).rejects.toThrow(/terminal-token/);
      }
      const agent = await startAgent({ dataDir: d, host: '0.0.0.0', port: 0, terminalToken: TOKEN });
      try {
        const port = new URL(agent.url).port;
        expect((await fetch(`http://127.0.0.1:${port}/stock`)).status).toBe(401);
        expect((await fetch(`http://127.0.0.1:${port}/stock`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      } finally {
        await agent.stop();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

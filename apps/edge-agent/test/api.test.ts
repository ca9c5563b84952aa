import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initAgent, openAgent } from '../src/agent.js';
import { createApp } from '../src/http/app.js';
import { WriteService } from '../src/inventory/write-service.js';
import { verifyAgent } from '../src/verify.js';
import { MAX_TOTAL, type Sku } from '@scoville/crdt-inventory';

let dir: string;
let now: number;
let ctx: ReturnType<typeof setup>;

function setup(token?: string) {
  const opened = openAgent(dir);
  const writes = new WriteService(opened.store, opened.inventory, () => now);
  const app = createApp({ inventory: opened.inventory, writes, clock: () => now, terminalToken: token ?? null });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, text, headers: res.headers };
  };
  return { ...opened, writes, app, call };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-api-'));
  initAgent(dir, 's1');
  now = Date.parse('2026-11-28T10:00:00Z');
  ctx = setup();
});
afterEach(() => {
  ctx.store.close();
  rmSync(dir, { recursive: true, force: true });
});

const restock = (sku: string, qty: number, key = `r-${sku}-${qty}-${Math.random()}`) =>
  ctx.call('POST', '/restocks', { idempotencyKey: key, lines: [{ sku, qty }] });

describe('POST /sales', () => {
  it('sells within stock and returns the new stock per line', async () => {
    await restock('HSS-001', 10);
    const r = await ctx.call('POST', '/sales', { idempotencyKey: 'k1', lines: [{ sku: 'HSS-001', qty: 3 }], terminal: 't1' });
    expect(r.status).toBe(201);
    expect(r.body.forced).toBe(false);
    expect(r.body.lines).toEqual([expect.objectContaining({ sku: 'HSS-001', onHand: 7, available: 7, rights: 7 })]);
  });

  it('replays the first answer for a retried key and changes nothing', async () => {
    await restock('HSS-001', 10);
    const body = { idempotencyKey: 'k1', lines: [{ sku: 'HSS-001', qty: 3 }] };
    const first = await ctx.call('POST', '/sales', body);
    const again = await ctx.call('POST', '/sales', body);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // The stored bytes are the sent bytes: a replay is byte-identical, also after a restart.
    expect(again.text).toBe(first.text);
    expect(ctx.store.findAnswer('k1')!.json).toBe(first.text);
    for (const r of [first, again]) expect(r.headers.get('content-type')).toBe('application/json');
    expect((await ctx.call('GET', '/stock/HSS-001')).body.onHand).toBe(7);
    expect(ctx.store.eventCount()).toBe(2);
    ctx.writes.close();
    ctx.store.close();
    ctx = setup();
    const afterRestart = await ctx.call('POST', '/sales', body);
    expect(afterRestart.headers.get('idempotent-replayed')).toBe('true');
    expect(afterRestart.text).toBe(first.text);
  });

  it('refuses a key reused for a different request', async () => {
    await restock('HSS-001', 10);
    await ctx.call('POST', '/sales', { idempotencyKey: 'k1', lines: [{ sku: 'HSS-001', qty: 3 }] });
    const r = await ctx.call('POST', '/sales', { idempotencyKey: 'k1', lines: [{ sku: 'HSS-001', qty: 4 }] });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('idempotency_key_reused');
    expect((await ctx.call('GET', '/stock/HSS-001')).body.onHand).toBe(7);
  });

  it('refuses a sale short of rights with 409 and what is available, all lines or none', async () => {
    await restock('A', 5);
    await restock('B', 1);
    const r = await ctx.call('POST', '/sales', {
      idempotencyKey: 'k2',
      lines: [
        { sku: 'A', qty: 2 },
        { sku: 'B', qty: 2 },
      ],
    });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'insufficient_stock', lines: [{ sku: 'B', requested: 2, available: 1 }] });
    expect((await ctx.call('GET', '/stock/A')).body.onHand).toBe(5);
    // A refusal is not stored: once stock arrives the same key can succeed.
    await restock('B', 5);
    expect((await ctx.call('POST', '/sales', { idempotencyKey: 'k2', lines: [{ sku: 'A', qty: 2 }, { sku: 'B', qty: 2 }] })).status).toBe(201);
  });

  it('counts duplicate lines of one SKU together against rights', async () => {
    await restock('A', 3);
    const r = await ctx.call('POST', '/sales', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: 2 }, { sku: 'A', qty: 2 }] });
    expect(r.status).toBe(409);
  });

  it('records a forced sale past rights and marks it', async () => {
    await restock('A', 1);
    const r = await ctx.call('POST', '/sales', { idempotencyKey: 'k3', lines: [{ sku: 'A', qty: 3 }], force: true });
    expect(r.status).toBe(201);
    expect(r.body.forced).toBe(true);
    expect(r.body.lines[0]).toMatchObject({ onHand: -2, available: 0, availableRaw: -2, rights: -2 });
    expect(ctx.store.events(0, 10).at(-1)).toMatchObject({ type: 'sale', forced: true, qty: 3 });
  });

  it('refuses unknown SKUs with 404 unknown_sku', async () => {
    const r = await ctx.call('POST', '/sales', { idempotencyKey: 'k', lines: [{ sku: 'NOPE', qty: 1 }] });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('unknown_sku');
  });

  it.each([
    ['not json', '{nope', 'invalid_json'],
    ['missing key', { lines: [{ sku: 'A', qty: 1 }] }, 'invalid_request'],
    ['zero qty', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: 0 }] }, 'invalid_request'],
    ['negative qty', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: -1 }] }, 'invalid_request'],
    ['fractional qty', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: 1.5 }] }, 'invalid_request'],
    ['huge qty', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: 1e12 }] }, 'invalid_request'],
    ['string qty', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: '1' }] }, 'invalid_request'],
    ['bad sku', { idempotencyKey: 'k', lines: [{ sku: 'a b', qty: 1 }] }, 'invalid_request'],
    ['no lines', { idempotencyKey: 'k', lines: [] }, 'invalid_request'],
    ['unknown field', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: 1 }], price: 3 }, 'invalid_request'],
  ])('rejects %s with 400 and changes nothing', async (_name, body, code) => {
    await restock('A', 5);
    const before = ctx.store.eventCount();
    const r = await ctx.call('POST', '/sales', body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    expect(ctx.store.eventCount()).toBe(before);
  });

  it('rejects an oversized body with 413', async () => {
    const r = await ctx.call('POST', '/sales', { idempotencyKey: 'k', lines: [], pad: 'x'.repeat(300_000) });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('body_too_large');
  });
});

describe('body size over a real socket (@hono/node-server)', () => {
  /** One raw POST /sales: a Content-Length body, or chunked (no Content-Length) when `chunked`. */
  const postRaw = async (payload: string, opts: { chunked?: boolean; declaredLength?: number } = {}) => {
    const r = await postRawText(payload, opts);
    return { status: r.status, body: JSON.parse(r.text) as { error?: { code: string } } };
  };
  const postRawText = async (payload: string, opts: { chunked?: boolean; declaredLength?: number } = {}) => {
    const server = serve({ fetch: ctx.app.fetch, hostname: '127.0.0.1', port: 0 }) as HttpServer;
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    try {
      const { port } = server.address() as AddressInfo;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (!opts.chunked) headers['content-length'] = String(opts.declaredLength ?? Buffer.byteLength(payload));
      return await new Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/sales', method: 'POST', headers }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
        });
        req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
        if (opts.declaredLength === undefined) req.end(payload);
        else req.write(payload.slice(0, 10)); // the header alone must decide
      });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  };

  it('replays a sale byte for byte: the same body, Content-Type and Content-Length', async () => {
    await restock('HSS-001', 10);
    const sale = JSON.stringify({ idempotencyKey: 'raw-replay', lines: [{ sku: 'HSS-001', qty: 2 }], terminal: 't1' });
    const first = await postRawText(sale);
    const again = await postRawText(sale);
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.text).toBe(first.text);
    expect(JSON.parse(first.text)).toMatchObject({ forced: false, lines: [{ sku: 'HSS-001', onHand: 8 }] });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (const r of [first, again]) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['content-length']).toBe(String(Buffer.byteLength(first.text)));
    }
  });

  it('sells with a Content-Length body, refuses a declared length over the limit before reading it, and limits a chunked body', async () => {
    await restock('HSS-001', 10);
    const sale = JSON.stringify({ idempotencyKey: 'raw-1', lines: [{ sku: 'HSS-001', qty: 1 }] });
    expect((await postRaw(sale)).status).toBe(201);
    const declared = await postRaw(sale, { declaredLength: 300_000 });
    expect(declared.status).toBe(413);
    expect(declared.body.error?.code).toBe('body_too_large');
    const big = JSON.stringify({ idempotencyKey: 'raw-2', lines: [{ sku: 'HSS-001', qty: 1 }], pad: 'x'.repeat(300_000) });
    const chunked = await postRaw(big, { chunked: true });
    expect(chunked.status).toBe(413);
    expect(chunked.body.error?.code).toBe('body_too_large');
    expect((await postRaw(JSON.stringify({ idempotencyKey: 'raw-3', lines: [{ sku: 'HSS-001', qty: 1 }] }), { chunked: true })).status).toBe(201);
    expect(ctx.inventory.stock('HSS-001' as Sku, now).onHand).toBe(8);
  });
});

describe('adjustments and counts', () => {
  it('requires a known reason and applies signed deltas, removals even past rights', async () => {
    await restock('A', 2);
    expect((await ctx.call('POST', '/adjustments', { idempotencyKey: 'a0', lines: [{ sku: 'A', qty: -1 }] })).status).toBe(400);
    expect((await ctx.call('POST', '/adjustments', { idempotencyKey: 'a0', lines: [{ sku: 'A', qty: -1 }], reason: 'lost' })).status).toBe(400);
    const r = await ctx.call('POST', '/adjustments', { idempotencyKey: 'a1', lines: [{ sku: 'A', qty: -3 }], reason: 'damaged' });
    expect(r.status).toBe(201);
    expect(r.body.lines[0].onHand).toBe(-1);
    const up = await ctx.call('POST', '/adjustments', { idempotencyKey: 'a2', lines: [{ sku: 'A', qty: 4 }], reason: 'correction' });
    expect(up.body.lines[0].onHand).toBe(3);
  });

  it('sets an absolute count as the adjustment that reaches it, and records a matching count', async () => {
    await restock('A', 10);
    const r = await ctx.call('POST', '/counts', { idempotencyKey: 'c1', lines: [{ sku: 'A', count: 7 }] });
    expect(r.status).toBe(201);
    expect(r.body.lines[0].onHand).toBe(7);
    const same = await ctx.call('POST', '/counts', { idempotencyKey: 'c2', lines: [{ sku: 'A', count: 7 }] });
    expect(same.body.lines[0].onHand).toBe(7);
    const events = ctx.store.events(0, 10);
    expect(events.slice(-2).map((e) => [e.type, e.qty, e.reason, e.count])).toEqual([
      ['adjustment', -3, 'cycle_count', 7],
      ['adjustment', 0, 'cycle_count', 7],
    ]);
    // A count may discover an item the agent did not know.
    const fresh = await ctx.call('POST', '/counts', { idempotencyKey: 'c3', lines: [{ sku: 'NEW', count: 4 }] });
    expect(fresh.body.lines[0].onHand).toBe(4);
  });
});

describe('holds', () => {
  it('holds stock, commits it as a sale, and a second commit is a replay', async () => {
    await restock('A', 5);
    const h = await ctx.call('POST', '/holds', { idempotencyKey: 'h1', lines: [{ sku: 'A', qty: 2 }], ttlSeconds: 60 });
    expect(h.status).toBe(201);
    expect(h.body.lines[0]).toMatchObject({ onHand: 5, held: 2, available: 3, rights: 3 });
    const c = await ctx.call('POST', `/holds/${h.body.holdId}/commit`);
    expect(c.status).toBe(200);
    expect(c.body.lines[0]).toMatchObject({ onHand: 3, held: 0, available: 3 });
    const again = await ctx.call('POST', `/holds/${h.body.holdId}/commit`);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await ctx.call('DELETE', `/holds/${h.body.holdId}`)).body.error.code).toBe('hold_closed');
  });

  it('refuses to commit an expired hold with hold_expired, and expiry frees the stock', async () => {
    await restock('A', 5);
    const h = await ctx.call('POST', '/holds', { idempotencyKey: 'h1', lines: [{ sku: 'A', qty: 5 }], ttlSeconds: 60 });
    expect((await ctx.call('POST', '/sales', { idempotencyKey: 's', lines: [{ sku: 'A', qty: 1 }] })).status).toBe(409);
    now += 61_000;
    const c = await ctx.call('POST', `/holds/${h.body.holdId}/commit`);
    expect(c.status).toBe(409);
    expect(c.body.error.code).toBe('hold_expired');
    expect((await ctx.call('GET', '/stock/A')).body).toMatchObject({ held: 0, available: 5 });
    expect(await ctx.writes.internal(() => ctx.inventory.expireHolds(now))).toBe(1);
    // the lapse is recorded as 'expired' (crdt-inventory), not as a release
    expect((await ctx.call('GET', `/holds/${h.body.holdId}`)).body.status).toBe('expired');
  });

  it('refuses a hold beyond stock and 404s unknown holds', async () => {
    await restock('A', 1);
    expect((await ctx.call('POST', '/holds', { idempotencyKey: 'h', lines: [{ sku: 'A', qty: 2 }] })).status).toBe(409);
    expect((await ctx.call('POST', '/holds/nope/commit')).status).toBe(404);
    expect((await ctx.call('DELETE', '/holds/bad%20id')).status).toBe(400);
  });
});

describe('reads, auth and verification', () => {
  it('lists stock with catalog names, safety stock and low-stock flags', async () => {
    await ctx.call('PUT', '/catalog', { items: [{ sku: 'A', name: 'Ghost Pepper 150ml', safetyStock: 2, lowStockThreshold: 4 }] });
    await restock('A', 5);
    const r = await ctx.call('GET', '/stock');
    expect(r.body.items).toEqual([
      expect.objectContaining({ sku: 'A', name: 'Ghost Pepper 150ml', onHand: 5, available: 3, safetyStock: 2, lowStock: false }),
    ]);
    await ctx.call('POST', '/sales', { idempotencyKey: 's', lines: [{ sku: 'A', qty: 1 }] });
    expect((await ctx.call('GET', '/stock/A')).body.lowStock).toBe(true);
    expect((await ctx.call('GET', '/stock/ZZZ')).status).toBe(404);
  });

  it('requires the terminal token when one is set', async () => {
    ctx.store.close();
    ctx = setup('s3cret');
    expect((await ctx.call('GET', '/health')).status).toBe(200);
    const denied = await ctx.call('GET', '/stock');
    expect(denied.status).toBe(401);
    expect(denied.body.error.code).toBe('unauthorized');
    expect((await ctx.call('GET', '/stock', undefined, { authorization: 'Bearer s3cret' })).status).toBe(200);
  });

  it('survives a reopen and verifies the state against the event log', async () => {
    await restock('A', 9);
    await ctx.call('POST', '/sales', { idempotencyKey: 's1', lines: [{ sku: 'A', qty: 4 }] });
    await ctx.call('POST', '/holds', { idempotencyKey: 'h1', lines: [{ sku: 'A', qty: 1 }] });
    ctx.store.close();
    ctx = setup();
    expect((await ctx.call('GET', '/stock/A')).body).toMatchObject({ onHand: 5, held: 1 });
    expect(verifyAgent(ctx.inventory)).toMatchObject({ ok: true, events: 3 });
  });

  it('groups concurrent writes into few transactions, each answered after commit', async () => {
    await restock('A', 1000);
    const before = ctx.writes.commits.stats.transactions;
    const rs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ctx.call('POST', '/sales', { idempotencyKey: `g${i}`, lines: [{ sku: 'A', qty: 1 }] })),
    );
    expect(rs.every((r) => r.status === 201)).toBe(true);
    expect(ctx.writes.commits.stats.transactions - before).toBeLessThan(10);
    expect((await ctx.call('GET', '/stock/A')).body.onHand).toBe(950);
  });

  it('refuses a sync request when no hub is configured', async () => {
    const r = await ctx.call('POST', '/sync');
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('no_hub');
  });

  it('never reuses a change number the hub acked, even after a count that changed nothing and a restart', async () => {
    await restock('A', 10);
    await restock('B', 1);
    await ctx.call('POST', '/counts', { idempotencyKey: 'c', lines: [{ sku: 'A', count: 10 }] });
    const acked = ctx.inventory.lastChange;
    ctx.store.setSyncValue('acked_change', acked);
    ctx.store.close();
    ctx = setup();
    await ctx.call('POST', '/sales', { idempotencyKey: 's', lines: [{ sku: 'A', qty: 3 }] });
    const pending = ctx.store.changesSince(ctx.inventory.identity.store, acked);
    expect(pending.entries).toEqual([expect.objectContaining({ sku: 'A', p: 10, n: 3 })]);
  });

  it('refuses a restock that would overflow any line, applying none of its lines', async () => {
    await restock('B', 1);
    const { store, replica } = ctx.inventory.identity;
    // A counter already near MAX_TOTAL (far beyond what the API lets one request add).
    await ctx.writes.internal(() =>
      ctx.inventory.applyRemote(
        { entries: [{ store, sku: 'A' as Sku, replica, p: MAX_TOTAL - 10, n: 0 }], transfers: [], reservations: [] },
        now,
      ),
    );
    const before = ctx.store.eventCount();
    const r = await ctx.call('POST', '/restocks', {
      idempotencyKey: 'big',
      lines: [
        { sku: 'B', qty: 5 },
        { sku: 'A', qty: 11 },
      ],
    });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({ code: 'quantity_overflow', sku: 'A' });
    expect(ctx.store.eventCount()).toBe(before);
    expect((await ctx.call('GET', '/stock/B')).body.onHand).toBe(1);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await ctx.call('GET', '/nope');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });
});

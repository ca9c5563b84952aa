/**
 * The storefront read side against a real hub process on real PostgreSQL:
 * cacheable reads (ETag/304), paging, CORS, the SSE feed with resume, a slow
 * SSE client dropped while others keep receiving, and the WebSocket feed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let hub: SpawnedHub;
let token: string;
let readKey: string;

let seq = 0;
async function update(type: string, lines: { sku: string; qty: number }[]): Promise<void> {
  const res = await fetch(`${hub.url}/inventory/updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ storeId: 'web1', idempotencyKey: `k${++seq}`, type, lines }),
  });
  expect(res.status).toBe(201);
}

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${readKey}`, ...headers } });

/** A minimal SSE reader over fetch: collects {id, event, data} until stopped. */
function sse(path: string, headers: Record<string, string> = {}) {
  const ctrl = new AbortController();
  const events: { id?: string; event: string; data: any }[] = [];
  const done = (async () => {
    const res = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${readKey}`, ...headers }, signal: ctrl.signal });
    if (res.status !== 200) throw new Error(`SSE ${res.status}`);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) return;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: { id?: string; event: string; data: any } = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) ev.id = line.slice(3).trim();
          else if (line.startsWith('event:')) ev.event = line.slice(6).trim();
          else if (line.startsWith('data:')) ev.data += line.slice(5).trim();
        }
        if (ev.data !== '') {
          ev.data = JSON.parse(ev.data);
          events.push(ev);
        }
      }
    }
  })().catch(() => {
    // Aborted by stop(), or the hub went away at the end of the file: the events read so far stay.
  });
  return { events, stop: () => ctrl.abort(), done };
}

beforeAll(async () => {
  db = await createTestDatabase();
  [token, readKey] = await Promise.all([addStore(db.url, 'web1'), hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read']).then((r) => r.key)]);
  await addStore(db.url, 'empty1');
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-sf', extraArgs: ['--cors-origin', 'https://shop.example'] });
  await update('restock', ['A-1', 'B-1', 'C-1', 'D-1', 'E-1'].map((sku) => ({ sku, qty: 10 })));
}, 90_000);

afterAll(async () => {
  await killAllHubs();
  await db?.drop();
});

describe('reads', () => {
  it('GET /inventory/:sku: aggregate + breakdown, ETag and 304, a new ETag after a change', async () => {
    const r = await get('/inventory/A-1');
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body).toMatchObject({ sku: 'A-1', onHand: 10, available: 10, deficit: 0, stores: [{ storeId: 'web1', onHand: 10, online: false }] });
    expect(r.headers.get('cache-control')).toBe('public, max-age=1, stale-while-revalidate=5');
    const etag = r.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]+\.\d+\.\d+\.\d+"$/);
    const same = await get('/inventory/A-1', { 'if-none-match': etag });
    expect(same.status).toBe(304);
    await update('sale', [{ sku: 'A-1', qty: 1 }]);
    const changed = await get('/inventory/A-1', { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('404 unknown_store for an unknown store, unknown_sku for a known store without that SKU', async () => {
    const a = await get('/inventory?storeId=nope&sku=A-1');
    expect(a.status).toBe(404);
    expect(((await a.json()) as any).error.code).toBe('unknown_store');
    const b = await get('/inventory?storeId=web1&sku=ZZZ');
    expect(((await b.json()) as any).error.code).toBe('unknown_sku');
    const c = await get('/inventory?storeId=empty1&sku=A-1');
    expect(((await c.json()) as any).error.code).toBe('unknown_sku');
    expect((await get('/inventory/ZZZ')).status).toBe(404);
  });

  it('paging walks every SKU exactly once; repeatable sku filter', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await get(`/inventory?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const body = (await r.json()) as any;
      seen.push(...body.items.map((i: { sku: string }) => i.sku));
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(['A-1', 'B-1', 'C-1', 'D-1', 'E-1']);
    const two = (await (await get('/inventory?sku=B-1&sku=D-1&limit=10')).json()) as any;
    expect(two.items.map((i: { sku: string }) => i.sku)).toEqual(['B-1', 'D-1']);
    expect((await get('/inventory?cursor=%%%')).status).toBe(400);
  });

  it('answers CORS preflights for the configured origin', async () => {
    const r = await fetch(`${hub.url}/inventory`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    const other = await fetch(`${hub.url}/inventory`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('live feed', () => {
  it('SSE: snapshot, then changes; Last-Event-ID resumes without a gap', async () => {
    const a = sse('/stream?sku=B-1');
    await waitFor('snapshot', () => a.events.find((e) => e.event === 'snapshot'));
    expect(a.events[0]!.data.items).toEqual([expect.objectContaining({ storeId: 'web1', sku: 'B-1', onHand: 10 })]);
    await update('sale', [{ sku: 'B-1', qty: 1 }]);
    await update('sale', [{ sku: 'C-1', qty: 1 }]); // filtered out
    const first = await waitFor('a B-1 change', () => a.events.find((e) => e.event === 'availability'));
    expect(first.data).toMatchObject({ sku: 'B-1', onHand: 9 });
    a.stop();
    await update('sale', [{ sku: 'B-1', qty: 1 }]);
    await update('sale', [{ sku: 'B-1', qty: 2 }]);
    const b = sse('/stream?sku=B-1', { 'last-event-id': first.id! });
    const missed = await waitFor('two missed changes', () => {
      const av = b.events.filter((e) => e.event === 'availability');
      return av.length >= 2 ? av : undefined;
    });
    expect(missed.map((e) => e.data.onHand)).toEqual([8, 6]);
    expect(b.events.some((e) => e.event === 'snapshot')).toBe(false);
    b.stop();
    const c = sse('/stream?sku=B-1', { 'last-event-id': 'deadbeef.1' });
    const snap = await waitFor('a reset snapshot', () => c.events.find((e) => e.event === 'snapshot'));
    expect(snap.data.reset).toBe(true);
    c.stop();
  });

  it('WebSocket: subscribe with a filter, snapshot, then events', async () => {
    const ws = new WebSocket(`${hub.url.replace('http', 'ws')}/ws?key=${readKey}`);
    const got: any[] = [];
    ws.on('message', (m) => got.push(JSON.parse(String(m))));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.send(JSON.stringify({ type: 'subscribe', skus: ['D-1'] }));
    await waitFor('snapshot', () => got.find((m) => m.type === 'snapshot'));
    await update('sale', [{ sku: 'D-1', qty: 3 }]);
    const ev = await waitFor('an event', () => got.find((m) => m.type === 'event'));
    expect(ev).toMatchObject({ event: 'availability', sku: 'D-1', data: { onHand: 7 } });
    ws.send('not json');
    await waitFor('an error', () => got.find((m) => m.type === 'error' && m.code === 'bad_json'));
    ws.close();
    const refused = new WebSocket(`${hub.url.replace('http', 'ws')}/ws`);
    await new Promise((r) => refused.once('error', r).once('close', r));
  });

  it('pushes oversell alerts on the stream', async () => {
    const reserveKey = await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'reserve']).then((r) => r.key);
    await update('restock', [{ sku: 'ALERT-1', qty: 1 }]);
    const s = sse('/stream?types=alert');
    await waitFor('snapshot', () => s.events.find((e) => e.event === 'snapshot'));
    const hold = await fetch(`${hub.url}/reservations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reserveKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: 'alert-cart', storeId: 'web1', lines: [{ sku: 'ALERT-1', qty: 1 }] }),
    });
    expect(hold.status).toBe(201);
    const cart = (await hold.json()) as { id: string };
    const forced = await fetch(`${hub.url}/inventory/updates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ storeId: 'web1', idempotencyKey: 'forced-1', type: 'sale', force: true, lines: [{ sku: 'ALERT-1', qty: 1 }] }),
    });
    expect(forced.status).toBe(201);
    // Other alerts (out of stock, low stock) may come first for the same counter.
    const alert = await waitFor('an oversell alert event', () => s.events.find((e) => e.event === 'alert' && e.data.kind === 'oversell'), { timeoutMs: 5_000 });
    expect(alert.data).toMatchObject({ kind: 'oversell', state: 'open', storeId: 'web1', sku: 'ALERT-1' });
    expect(JSON.stringify(alert.data.detail)).toContain(cart.id);
    s.stop();
  });

  it('drops a client that stops reading while others keep receiving', async () => {
    // A raw HTTP client that never reads its socket.
    const net = await import('node:net');
    const sock = net.connect(Number(new URL(hub.url).port), '127.0.0.1');
    sock.write(`GET /stream HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${readKey}\r\n\r\n`);
    sock.pause();
    const reader = sse('/stream?sku=E-1');
    await waitFor('snapshot', () => reader.events.find((e) => e.event === 'snapshot'));
    const before = ((await (await get('/status')).json()) as any).storefront.dropped as number;
    for (let round = 0; round < 60; round++) {
      await update('restock', Array.from({ length: 400 }, (_, i) => ({ sku: `BULK-${i}`, qty: 1 })));
      const now = ((await (await get('/status')).json()) as any).storefront.dropped as number;
      if (now > before) break;
    }
    await update('sale', [{ sku: 'E-1', qty: 1 }]);
    await waitFor('the reader still receives', () => reader.events.find((e) => e.event === 'availability' && e.data.sku === 'E-1'));
    expect(((await (await get('/status')).json()) as any).storefront.dropped).toBeGreaterThan(before);
    reader.stop();
    sock.destroy();
  }, 120_000);
});

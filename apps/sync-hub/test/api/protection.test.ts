/**
 * Rate limits, request size limits and JSON errors (http/protection.ts) on a
 * small app: token buckets with a fake clock, 429 + Retry-After per key,
 * /health never limited, 413 payload_too_large, JSON 404 and 405.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { mountProtection, notFoundOrNotAllowed, TokenBuckets } from '../../src/http/protection.js';

describe('TokenBuckets', () => {
  it('admits a burst of `capacity`, then `rate` a second, and says how long to wait', () => {
    let now = 0;
    const b = new TokenBuckets(10, 20, () => now);
    for (let i = 0; i < 20; i++) expect(b.take('k')).toBe(0);
    expect(b.take('k')).toBe(100); // one token takes 100 ms at 10/s
    expect(b.take('other')).toBe(0); // buckets are per key
    now += 250; // 2.5 tokens
    expect(b.take('k')).toBe(0);
    expect(b.take('k')).toBe(0);
    expect(b.take('k')).toBe(50);
    now += 60_000; // refills to capacity, not beyond
    for (let i = 0; i < 20; i++) expect(b.take('k')).toBe(0);
    expect(b.take('k')).toBeGreaterThan(0);
  });

  it('drops idle full buckets when the table is full instead of growing', () => {
    let now = 0;
    const b = new TokenBuckets(1_000, 1_000, () => now, 100);
    for (let i = 0; i < 100; i++) b.take(`k${i}`);
    now += 10_000;
    b.take('new');
    expect(b.size).toBe(1);
  });
});

function app(opts: Parameters<typeof mountProtection>[1]) {
  const a = new Hono();
  mountProtection(a, opts);
  a.notFound(notFoundOrNotAllowed(a));
  a.get('/health', (c) => c.json({ ok: true }));
  a.get('/inventory/:sku', (c) => c.json({ sku: c.req.param('sku') }));
  a.post('/reservations', async (c) => c.json({ got: (await c.req.text()).length }, 201));
  return a;
}
const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

describe('rate limits', () => {
  it('429 {error:{code:rate_limited}} with Retry-After once a key spends its burst; other keys and /health go on', async () => {
    const a = app({ rateLimitKey: 5, rateLimitIp: 0, burstSeconds: 1 });
    for (let i = 0; i < 5; i++) expect((await a.request('/inventory/A', as('sk_one'))).status).toBe(200);
    const r = await a.request('/inventory/A', as('sk_one'));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(await r.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect((await a.request('/inventory/A', as('sk_two'))).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await a.request('/health', as('sk_one'))).status).toBe(200);
  });

  it('per IP: every request from one address counts, with or without a key', async () => {
    const a = app({ rateLimitKey: 0, rateLimitIp: 3, burstSeconds: 1 });
    expect((await a.request('/inventory/A')).status).toBe(200);
    expect((await a.request('/inventory/A', as('sk_a'))).status).toBe(200);
    expect((await a.request('/inventory/A', as('sk_b'))).status).toBe(200);
    expect((await a.request('/inventory/A', as('sk_c'))).status).toBe(429);
  });

  it('0 turns a limit off', async () => {
    const a = app({ rateLimitKey: 0, rateLimitIp: 0 });
    for (let i = 0; i < 200; i++) expect((await a.request('/inventory/A', as('k'))).status).toBe(200);
  });
});

describe('request size and JSON errors', () => {
  it('413 payload_too_large above the limit (declared length or streamed), through at the limit', async () => {
    const a = app({ bodyLimitBytes: 1024 });
    const ok = await a.request('/reservations', { method: 'POST', body: 'x'.repeat(1024), headers: { 'content-type': 'application/json' } });
    expect(ok.status).toBe(201);
    const big = await a.request('/reservations', { method: 'POST', body: 'x'.repeat(1025), headers: { 'content-type': 'application/json' } });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(512));
        c.close();
      },
    });
    const streamed = await a.request('/reservations', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('404 not_found and 405 method_not_allowed (with Allow) are JSON', async () => {
    const a = app({});
    const nf = await a.request('/nope');
    expect(nf.status).toBe(404);
    expect(await nf.json()).toMatchObject({ error: { code: 'not_found' } });
    const na = await a.request('/inventory/A', { method: 'DELETE' });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('GET, HEAD');
    expect(await na.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
    expect((await a.request('/reservations', { method: 'GET' })).status).toBe(405);
  });
});

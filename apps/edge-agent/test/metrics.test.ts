/**
 * The request id (`X-Request-Id`) of observability/metrics.ts: echoed when the
 * caller's is plain and short, else a fresh UUID, on every answer. Over a real
 * socket it goes straight on Node's response (merged into the head
 * @hono/node-server writes); in-process (app.request) through hono.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initAgent, openAgent } from '../src/agent.js';
import { createApp } from '../src/http/app.js';
import { WriteService } from '../src/inventory/write-service.js';
import { agentMetrics } from '../src/observability/metrics.js';
import { ACKED_EVENT_SEQ } from '../src/sync/sync-client.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let dir: string;
let opened: ReturnType<typeof openAgent>;
let writes: WriteService;
let app: ReturnType<typeof createApp>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-metrics-'));
  initAgent(dir, 's1');
  opened = openAgent(dir);
  writes = new WriteService(opened.store, opened.inventory);
  const metrics = agentMetrics({ store: opened.store, lastEventSeq: () => opened.inventory.lastEventSeq, ackedKey: ACKED_EVENT_SEQ });
  app = createApp({ inventory: opened.inventory, writes, observe: (a) => metrics.mount(a) });
});
afterEach(() => {
  writes.close();
  opened.store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function overSocket(calls: { method: string; path: string; body?: unknown; headers?: Record<string, string> }[]) {
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as HttpServer;
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  try {
    const { port } = server.address() as AddressInfo;
    const out: { status: number; headers: IncomingHttpHeaders; text: string }[] = [];
    for (const call of calls) {
      const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
      const headers: Record<string, string> = { ...call.headers };
      if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
      out.push(
        await new Promise((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: call.path, method: call.method, headers }, (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
          });
          req.on('error', reject);
          req.end(payload);
        }),
      );
    }
    return out;
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('X-Request-Id', () => {
  it('over a socket: on a sale, a refusal, a 404 and a GET; the caller id echoed when plain, else a UUID', async () => {
    const [restock, sale, refused, missing, health, odd] = await overSocket([
      { method: 'POST', path: '/restocks', body: { idempotencyKey: 'r1', lines: [{ sku: 'A', qty: 5 }] }, headers: { 'x-request-id': 'till-7.r1' } },
      { method: 'POST', path: '/sales', body: { idempotencyKey: 's1', lines: [{ sku: 'A', qty: 1 }] } },
      { method: 'POST', path: '/sales', body: { idempotencyKey: 's2', lines: [{ sku: 'A', qty: 99 }] }, headers: { 'x-request-id': 'till-7.s2' } },
      { method: 'GET', path: '/nowhere' },
      { method: 'GET', path: '/health', headers: { 'x-request-id': 'h1' } },
      { method: 'GET', path: '/health', headers: { 'x-request-id': 'not plain!' } },
    ]);
    expect([restock!.status, sale!.status, refused!.status, missing!.status, health!.status]).toEqual([201, 201, 409, 404, 200]);
    expect(restock!.headers['x-request-id']).toBe('till-7.r1');
    expect(sale!.headers['x-request-id']).toMatch(UUID);
    expect(refused!.headers['x-request-id']).toBe('till-7.s2');
    expect(missing!.headers['x-request-id']).toMatch(UUID);
    expect(health!.headers['x-request-id']).toBe('h1');
    expect(odd!.headers['x-request-id']).toMatch(UUID);
    // One header each, next to the answer's own.
    expect(sale!.headers['content-type']).toBe('application/json');
    expect(sale!.headers['content-length']).toBe(String(Buffer.byteLength(sale!.text)));
  });

  it('in-process (app.request, no Node response): the same header', async () => {
    const given = await app.request('/health', { headers: { 'x-request-id': 'abc' } });
    expect(given.headers.get('x-request-id')).toBe('abc');
    const made = await app.request('/health');
    expect(made.headers.get('x-request-id')).toMatch(UUID);
  });
});

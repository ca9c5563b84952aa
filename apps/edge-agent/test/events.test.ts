/**
 * GET /events: the in-store live feed (SSE) over a real socket. Every stock
 * change is pushed once, after its transaction committed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initAgent, startAgent, type RunningAgent } from '../src/agent.js';

let dir: string;
let agent: RunningAgent;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-sse-'));
  initAgent(dir, 's1');
  agent = await startAgent({ dataDir: dir, port: 0 });
});
afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown) =>
  fetch(`${agent.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

it('pushes every committed stock change to SSE listeners, and nothing for a refusal', async () => {
  const ctrl = new AbortController();
  const res = await fetch(`${agent.url}/events`, { signal: ctrl.signal });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const next = async (): Promise<{ event: string; data: unknown }> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (event && data) return { event, data: JSON.parse(data) };
        continue;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      buffer += value;
    }
  };
  expect(await next()).toEqual({ event: 'hello', data: { store: 's1' } });

  expect((await post('/restocks', { idempotencyKey: 'r1', lines: [{ sku: 'HSS-001', qty: 5 }] })).status).toBe(201);
  expect((await post('/sales', { idempotencyKey: 's1', lines: [{ sku: 'HSS-001', qty: 9 }] })).status).toBe(409);
  expect((await post('/sales', { idempotencyKey: 's2', lines: [{ sku: 'HSS-001', qty: 2 }], terminal: 'till-2' })).status).toBe(201);

  const first = await next();
  expect(first.event).toBe('stock');
  expect(first.data).toMatchObject({ event: { type: 'restock', qty: 5 }, stock: { sku: 'HSS-001', onHand: 5 } });
  const second = await next();
  expect(second.data).toMatchObject({ event: { type: 'sale', qty: 2, terminal: 'till-2' }, stock: { onHand: 3, available: 3 } });
  ctrl.abort();
});

/**
 * Several hub processes: a subscriber on hub B sees a write that hub A
 * committed (B follows A's commits through LISTEN/NOTIFY and its feed
 * publishes what reaches its memory), and a read key revoked through one
 * process stops working on the other within about a second.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let a: SpawnedHub;
let b: SpawnedHub;
let token: string;
let readKey: { id: string; key: string };

beforeAll(async () => {
  db = await createTestDatabase();
  [token, readKey] = await Promise.all([addStore(db.url, 'wh'), hubCli<{ id: string; key: string }>(db.url, ['keys', 'add', '--role', 'read'])]);
  [a, b] = await Promise.all([spawnHub({ databaseUrl: db.url, replica: 'hub-ca' }), spawnHub({ databaseUrl: db.url, replica: 'hub-cb' })]);
}, 90_000);

afterAll(async () => {
  await killAllHubs();
  await db?.drop();
});

it('a subscriber on hub B receives a change committed at hub A', async () => {
  const ctrl = new AbortController();
  const res = await fetch(`${b.url}/stream?sku=CL-1&types=availability&key=${readKey.key}`, { signal: ctrl.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += new TextDecoder().decode(value);
    }
  })().catch(() => undefined);
  await waitFor('the snapshot', () => text.includes('event: snapshot'));
  const w = await fetch(`${a.url}/inventory/updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ storeId: 'wh', idempotencyKey: 'cl-1', type: 'restock', lines: [{ sku: 'CL-1', qty: 4 }] }),
  });
  expect(w.status).toBe(201);
  await waitFor('the change at hub B', () => /event: availability\ndata: .*"sku":"CL-1".*"onHand":4/.test(text), { timeoutMs: 5_000 });
  ctrl.abort();
  await reading;
});

it('a key revoked through the CLI stops working on every hub within about a second', async () => {
  const read = (h: SpawnedHub) => fetch(`${h.url}/inventory?limit=1`, { headers: { authorization: `Bearer ${readKey.key}` } }).then((r) => r.status);
  expect(await read(a)).toBe(200);
  expect(await read(b)).toBe(200);
  await hubCli(db.url, ['keys', 'revoke', readKey.id]);
  const revokedAt = Date.now();
  await waitFor('401 at both hubs', async () => (await read(a)) === 401 && (await read(b)) === 401, { timeoutMs: 5_000, intervalMs: 50 });
  expect(Date.now() - revokedAt).toBeLessThan(2_500);
});

/**
 * The browser example of docs/storefront.md (docs/examples/stock-badge.js),
 * run in Node against a real hub: EventSource (the `eventsource` package,
 * the browser's API) + fetch. If the docs' example breaks, this fails.
 */
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { holdCart, watchStock } from '../../../../docs/examples/stock-badge.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let hub: SpawnedHub;

beforeAll(async () => {
  db = await createTestDatabase();
  const token = await addStore(db.url, 'shop-wh');
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-example', extraArgs: ['--cors-origin', '*'] });
  const r = await fetch(`${hub.url}/inventory/updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ storeId: 'shop-wh', idempotencyKey: 'po-1', type: 'restock', lines: [{ sku: 'HSS-001', qty: 5 }] }),
  });
  expect(r.status).toBe(201);
}, 90_000);

afterAll(async () => {
  await killAllHubs();
  await db?.drop();
});

it('the stock badge follows a cart hold live', async () => {
  const [readKey, reserveKey] = await Promise.all(['read', 'reserve'].map((role) => hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', role]).then((k) => k.key)));
  const seen: number[] = [];
  const stop = watchStock({ hubUrl: hub.url, readKey: readKey!, sku: 'HSS-001', onChange: (s) => seen.push(s.available), EventSource });
  await waitFor('the first figure', () => seen.includes(5));
  const held = await holdCart({ hubUrl: hub.url, reserveKey: reserveKey!, cartKey: 'cart-1', lines: [{ sku: 'HSS-001', qty: 2 }] });
  expect(held.ok).toBe(true);
  await waitFor('the badge to show the hold', () => seen.at(-1) === 3);
  const again = await holdCart({ hubUrl: hub.url, reserveKey: reserveKey!, cartKey: 'cart-1', lines: [{ sku: 'HSS-001', qty: 2 }] });
  expect(again.ok && held.ok && again.reservation.id === held.reservation.id).toBe(true);
  const tooMany = await holdCart({ hubUrl: hub.url, reserveKey: reserveKey!, cartKey: 'cart-2', lines: [{ sku: 'HSS-001', qty: 4 }] });
  expect(tooMany).toMatchObject({ ok: false, status: 409, error: { code: 'insufficient_stock' } });
  stop();
});

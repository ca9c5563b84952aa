/**
 * Connection lifecycle at the hub: a silent client is dropped, a store whose
 * token is revoked is cut off while connected, and /health tells the truth
 * about the database even before any commit has failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, PROTOCOL_VERSION } from '@scoville/protocol';
import { emptyDelta, eventIdFor, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { hashSecret, newSecret } from '../../src/auth/tokens.js';
import { startHub, type RunningHub } from '../../src/hub.js';
import { silentLogger } from '../../src/log.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startPgProxy, type PgProxy } from './helpers/pg-proxy.js';
import { LEFT_OPEN, rawSession } from './helpers/raw-ws.js';

let db: TestDatabase;
let hub: RunningHub;
const token = newSecret('st');
const token2 = newSecret('st');

beforeAll(async () => {
  db = await createTestDatabase();
  hub = await startHub({ port: 0, databaseUrl: db.url, replica: 'hub-life', log: silentLogger, heartbeatMs: 200, helloTimeoutMs: 300 });
  await hub.storage.access.addStore('s1' as StoreId, hashSecret(token), Date.now());
  await hub.storage.access.addStore('s2' as StoreId, hashSecret(token2), Date.now());
}, 60_000);

afterAll(async () => {
  await hub?.stop().catch(() => undefined);
  await db?.drop();
}, 30_000);

const syncUrl = () => `ws://127.0.0.1:${hub.port}/sync`;

describe('sync connection lifecycle', () => {
  it('drops a connection that never says hello', async () => {
    const out = await rawSession(syncUrl(), token, [], 5_000);
    expect(out.code).toBe(CloseCode.BadMessage);
    expect(out.received.at(-1)).toMatchObject({ type: 'error', code: 'hello_timeout', fatal: true });
  });

  it('cuts a connected store off once its token is revoked', async () => {
    const hello = { type: 'hello', protocol: PROTOCOL_VERSION, store: 's1', replica: 's1.lifecycle', ackedHubSeq: 0, lastEventSeq: 0 };
    const session = rawSession(syncUrl(), token, [hello], 5_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(await hub.storage.access.revokeStore('s1' as StoreId, Date.now())).toBe(true);
    const out = await session;
    expect(out.received[0]).toMatchObject({ type: 'welcome' });
    expect(out.code).toBe(CloseCode.Unauthorized);
    expect(out.received.at(-1)).toMatchObject({ type: 'error', code: 'unauthorized' });
  });
});

describe('a replica restored from an old backup', () => {
  it('is refused (4403 replica_regressed) when its log is behind what the hub stored, and accepted when level', async () => {
    const replica = 's2.restored' as ReplicaId;
    const events = [1, 2, 3, 4, 5].map((seq) => ({
      id: eventIdFor(replica, seq),
      store: 's2' as StoreId,
      replica,
      seq,
      type: 'restock' as const,
      sku: 'K' as Sku,
      qty: 1,
      at: 1_790_000_000_000,
    }));
    await hub.storage.access.claimReplica(replica, 's2' as StoreId, 'agent', Date.now());
    await hub.storage.inventory.commit([{ delta: emptyDelta(), events, from: { replica, store: 's2' as StoreId, at: Date.now() } }]);
    const hello = (lastEventSeq: number) => ({ type: 'hello', protocol: PROTOCOL_VERSION, store: 's2', replica, ackedHubSeq: 0, lastEventSeq });
    const behind = await rawSession(syncUrl(), token2, [hello(2)], 5_000);
    expect(behind.code).toBe(CloseCode.Forbidden);
    expect(behind.received.at(-1)).toMatchObject({ type: 'error', code: 'replica_regressed', fatal: true });
    const level = await rawSession(syncUrl(), token2, [hello(5)], 600);
    expect(level.received[0]).toMatchObject({ type: 'welcome', hubSeq: 5 });
  });
});

describe('one replica id on two live links', () => {
  it('keeps the first and refuses the second (4403 replica_in_use)', async () => {
    const hello = { type: 'hello', protocol: PROTOCOL_VERSION, store: 's2', replica: 's2.twin', ackedHubSeq: 0, lastEventSeq: 0 };
    const first = rawSession(syncUrl(), token2, [hello], 1_500);
    await new Promise((r) => setTimeout(r, 300));
    const second = await rawSession(syncUrl(), token2, [hello], 3_000);
    expect(second.code).toBe(CloseCode.Forbidden);
    expect(second.received.at(-1)).toMatchObject({ type: 'error', code: 'replica_in_use' });
    const kept = await first;
    expect(kept.code).toBe(LEFT_OPEN);
    expect(kept.received[0]).toMatchObject({ type: 'welcome' });
  });
});

describe('two writers behind one replica id', () => {
  it('refuses a resent event whose content differs from the stored one (4403 event_conflict), storing nothing of it', async () => {
    const replica = 's2.copied' as ReplicaId;
    const sale = (qty: number) => ({ id: eventIdFor(replica, 1), store: 's2' as StoreId, replica, seq: 1, type: 'sale' as const, sku: 'K' as Sku, qty, at: 1_790_000_000_000 });
    await hub.storage.access.claimReplica(replica, 's2' as StoreId, 'agent', Date.now());
    await hub.storage.inventory.commit([{ delta: emptyDelta(), events: [sale(1)], from: { replica, store: 's2' as StoreId, at: Date.now() } }]);
    const hello = { type: 'hello', protocol: PROTOCOL_VERSION, store: 's2', replica, ackedHubSeq: 0, lastEventSeq: 1 };
    const batch = { type: 'batch', seq: 1, delta: { entries: [], transfers: [], reservations: [] }, events: [sale(4)] };
    const out = await rawSession(syncUrl(), token2, [hello, batch], 5_000);
    expect(out.code).toBe(CloseCode.Forbidden);
    expect(out.received.at(-1)).toMatchObject({ type: 'error', code: 'event_conflict' });
    expect(out.received.some((m) => m.type === 'ack')).toBe(false);
    const stored = await hub.storage.inventory.events('s2' as StoreId, null, 100);
    expect(stored.filter((e) => e.replica === replica).map((e) => e.qty)).toEqual([1]);
  });
});

describe('/health', () => {
  let proxy: PgProxy;
  let viaProxy: RunningHub;

  beforeAll(async () => {
    proxy = await startPgProxy();
    viaProxy = await startHub({ port: 0, databaseUrl: proxy.urlFor(db.url), replica: 'hub-health', log: silentLogger });
  }, 60_000);

  afterAll(async () => {
    proxy?.restore();
    await viaProxy?.stop().catch(() => undefined);
    await proxy?.close();
  }, 30_000);

  it('reports the database down (503) without waiting for a failed commit, and up again after', async () => {
    const health = async () => {
      const res = await fetch(`${viaProxy.url}/health`);
      return { status: res.status, body: (await res.json()) as { database: string; degraded: boolean } };
    };
    expect(await health()).toMatchObject({ status: 200, body: { database: 'up', degraded: false } });
    proxy.cut();
    await new Promise((r) => setTimeout(r, 1_100)); // past the cached ping
    expect(await health()).toMatchObject({ status: 503, body: { database: 'down', degraded: true } });
    proxy.restore();
    let last = await health();
    for (let i = 0; i < 50 && last.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      last = await health();
    }
    expect(last).toMatchObject({ status: 200, body: { database: 'up' } });
  }, 30_000);
});

/**
 * A replica must never be locked out by a link that is gone: neither by a
 * session built on a socket that closed while its token was being checked
 * (Postgres stalled), nor by a half-open link that no longer answers pings.
 * Real Postgres behind the TCP proxy, an in-process hub, raw ws clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, PROTOCOL_VERSION } from '@scoville/protocol';
import type { StoreId } from '@scoville/crdt-inventory';
import { hashSecret, newSecret } from '../../src/auth/tokens.js';
import { startHub, type RunningHub } from '../../src/hub.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { recordingLogger } from './helpers/logs.js';
import { startPgProxy, type PgProxy } from './helpers/pg-proxy.js';
import { LEFT_OPEN, rawSession } from './helpers/raw-ws.js';
import { sleep, waitFor } from './helpers/wait.js';

let db: TestDatabase;
let proxy: PgProxy;
let hub: RunningHub;
const token = newSecret('st');
const { log, logged } = recordingLogger();

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startPgProxy();
  // The default heartbeat (15 s): what is tested here must not wait for it.
  hub = await startHub({ port: 0, databaseUrl: proxy.urlFor(db.url), replica: 'hub-zombie', log });
  await hub.storage.access.addStore('z1' as StoreId, hashSecret(token), Date.now());
}, 60_000);

afterAll(async () => {
  proxy?.restore();
  await hub?.stop().catch(() => undefined);
  await proxy?.close();
  await db?.drop();
}, 30_000);

const syncUrl = () => `ws://127.0.0.1:${hub.port}/sync`;
const hello = (replica: string) => ({ type: 'hello', protocol: PROTOCOL_VERSION, store: 'z1', replica, ackedHubSeq: 0, lastEventSeq: 0 });
const onlineReplicas = () => hub.sync.connected().flatMap((c) => c.replicas);

describe('a socket that closes while its token is checked', () => {
  it('gets no session, and the replica connects fine afterwards', async () => {
    const replica = 'z1.stalled';
    proxy.stall();
    // Says hello, waits 500 ms for an answer that cannot come, then goes away.
    const gone = await rawSession(syncUrl(), token, [hello(replica)], 500);
    expect(gone.code).toBe(LEFT_OPEN);
    await sleep(200);
    proxy.restore();
    // The lookup returns now; give the hub time to (wrongly) build the session.
    await sleep(1_500);
    expect(onlineReplicas()).not.toContain(replica);
    expect(logged.filter((l) => l.msg === 'agent online' && l.fields?.agent === replica)).toEqual([]);

    const again = await rawSession(syncUrl(), token, [hello(replica)], 1_000);
    expect(again.received[0]).toMatchObject({ type: 'welcome' });
    expect(again.code).toBe(LEFT_OPEN);
  }, 30_000);
});

describe('a half-open old link of a replica', () => {
  /** A raw link that says hello; with autoPong off it receives pings but never answers, like a peer whose network vanished. */
  function link(replica: string, autoPong: boolean) {
    const ws = new WebSocket(syncUrl(), { headers: { authorization: `Bearer ${token}` }, autoPong });
    const frames: { type: string; code?: string }[] = [];
    ws.on('error', () => undefined);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    const first = new Promise<{ type: string; code?: string }>((r) =>
      ws.on('message', (d) => {
        frames.push(JSON.parse(String(d)));
        if (frames.length === 1) r(frames[0]!);
      }),
    );
    ws.once('open', () => ws.send(JSON.stringify(hello(replica))));
    return { ws, frames, closed, first };
  }

  it('is replaced by a new link of the same replica within a few seconds', async () => {
    const replica = 'z1.halfopen';
    const old = link(replica, false);
    expect(await old.first).toMatchObject({ type: 'welcome' });
    await waitFor('the old link online', () => onlineReplicas().includes(replica));

    const started = Date.now();
    const next = link(replica, true);
    expect(await next.first).toMatchObject({ type: 'welcome' });
    expect(Date.now() - started).toBeLessThan(4_000);
    // The hub cut the silent link, and the newcomer holds the replica.
    expect(await Promise.race([old.closed, sleep(3_000).then(() => -1)])).not.toBe(-1);
    expect(onlineReplicas().filter((r) => r === replica)).toHaveLength(1);
    await sleep(300);
    expect(next.ws.readyState).toBe(WebSocket.OPEN);
    next.ws.terminate();
    old.ws.terminate();
  }, 30_000);

  it('still refuses a newcomer while the old link answers pings', async () => {
    const replica = 'z1.alive';
    const first = rawSession(syncUrl(), token, [hello(replica)], 4_000);
    await waitFor('the first link online', () => onlineReplicas().includes(replica));
    const second = await rawSession(syncUrl(), token, [hello(replica)], 4_000);
    expect(second.code).toBe(CloseCode.Forbidden);
    expect(second.received.at(-1)).toMatchObject({ type: 'error', code: 'replica_in_use' });
    expect((await first).code).toBe(LEFT_OPEN);
  }, 30_000);
});

/**
 * Hostile and broken peers on /sync, with raw WebSocket clients against a
 * hub running in this process (real Postgres, real sockets). Each one gets
 * its close code and an error frame, and none of them changes anything: no
 * counter moves at the hub, no event row appears. Meanwhile a well-behaved
 * agent (a child process) stays connected throughout and still syncs.
 *
 * Frames the ws library refuses by itself (above its hard size cap, text
 * that is not UTF-8) are sent to a hub in a child process, which must stay up.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, PROTOCOL_VERSION } from '@scoville/protocol';
import { hashSecret, newSecret } from '../../src/auth/tokens.js';
import { startHub, type RunningHub } from '../../src/hub.js';
import type { StoreId } from '@scoville/crdt-inventory';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  agentStatus,
  agentStock,
  createAgent,
  killAllAgents,
  mustPost,
  removeTempDirs,
  startAgent,
  waitSynced,
  type StoreAgent,
} from './helpers/agents.js';
import { expectConverged } from './helpers/checks.js';
import { hubCounter, hubHealth, killAllHubs, spawnHub } from './helpers/hub.js';
import { eventCount, storedEvents, storedOnHand } from './helpers/postgres.js';
import { recordingLogger } from './helpers/logs.js';
import { LEFT_OPEN, rawSession, TextBytes } from './helpers/raw-ws.js';
import { waitFor } from './helpers/wait.js';

let db: TestDatabase;
let hub: RunningHub;
let readKey: string;
const tokens: Record<'s1' | 's2' | 's3', string> = { s1: newSecret('st'), s2: newSecret('st'), s3: newSecret('st') };
let agent: StoreAgent;
/** What the hub logged; 'agent offline' for the good agent would mean its link was dropped. */
const { log, logged } = recordingLogger();

beforeAll(async () => {
  db = await createTestDatabase();
  hub = await startHub({ port: 0, host: '127.0.0.1', databaseUrl: db.url, replica: 'hub-hostile', log });
  const now = Date.now();
  for (const s of ['s1', 's2', 's3'] as const) await hub.storage.access.addStore(s as StoreId, hashSecret(tokens[s]), now);
  await hub.storage.access.revokeStore('s3' as StoreId, now);
  readKey = newSecret('sk');
  await hub.storage.access.addApiKey('key_read', hashSecret(readKey), 'read', now);

  // A second hub process on the same database registers its replica id when it starts.
  const other = await startHub({ port: 0, host: '127.0.0.1', databaseUrl: db.url, replica: 'hub-other', log });
  await other.stop();

  agent = await createAgent('s1', tokens.s1);
  await startAgent(agent, `ws://127.0.0.1:${hub.port}/sync`);
  await mustPost(agent, '/restocks', [
    { sku: 'HOT-1', qty: 40 },
    { sku: 'HOT-2', qty: 25 },
  ]);
  await mustPost(agent, '/sales', [{ sku: 'HOT-1', qty: 3 }]);
  await waitSynced(agent);
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await hub?.stop().catch(() => undefined);
  await db?.drop();
  removeTempDirs();
}, 30_000);

const hello = (store: string, replica: string, protocol = PROTOCOL_VERSION) => ({
  type: 'hello',
  protocol,
  store,
  replica,
  ackedHubSeq: 0,
  lastEventSeq: 0,
});
const fresh = (store: string) => `${store}.hostile${randomBytes(4).toString('hex')}`;
const entry = (store: string, sku: string, replica: string, p: number, n = 0) => ({ store, sku, replica, p, n });
const delta = (entries: object[] = []) => ({ entries, transfers: [], reservations: [] });
const sale = (store: string, replica: string, seq: number, sku = 'HOT-1', qty = 5) => ({
  id: `${replica}:${seq}`,
  store,
  replica,
  seq,
  type: 'sale',
  sku,
  qty,
  at: Date.now(),
});

/** Everything the hostile clients must not change, read from Postgres and the hub's API. */
async function snapshot() {
  return {
    events: await eventCount(db.url),
    s1Events: (await storedEvents(db.url, 's1')).ids.sort(),
    s1OnHand: await storedOnHand(db.url, 's1'),
    s2OnHand: await storedOnHand(db.url, 's2'),
    hub1: await hubCounter(hub.url, readKey, 's1', 'HOT-1'),
    hub2: await hubCounter(hub.url, readKey, 's1', 'HOT-2'),
    hubS2: await hubCounter(hub.url, readKey, 's2', 'HOT-1'),
  };
}

describe('hostile peers on /sync', () => {
  it('refuses each with the right close code, applies nothing, and keeps serving the good agent', async () => {
    const before = await snapshot();
    expect(before.hub1).toEqual({ onHand: 37, held: 0, available: 37 });
    expect(before.hubS2).toBeNull();
    const good = agent.replica;
    const url = `ws://127.0.0.1:${hub.port}/sync`;

    const cases: { name: string; token: string | null; frames: (string | Buffer | object)[]; code: number; error?: string }[] = [
      { name: 'wrong token', token: newSecret('st'), frames: [hello('s1', fresh('s1'))], code: CloseCode.Unauthorized, error: 'unauthorized' },
      { name: 'no token', token: null, frames: [hello('s1', fresh('s1'))], code: CloseCode.Unauthorized, error: 'unauthorized' },
      { name: 'revoked store token', token: tokens.s3, frames: [hello('s3', fresh('s3'))], code: CloseCode.Unauthorized, error: 'unauthorized' },
      { name: "hello for another store than the token's", token: tokens.s2, frames: [hello('s1', fresh('s1'))], code: CloseCode.Forbidden, error: 'forbidden' },
      {
        name: "batch with another store's entries",
        token: tokens.s2,
        frames: (() => {
          const r = fresh('s2');
          return [hello('s2', r), { type: 'batch', seq: 1, delta: delta([entry('s2', 'HOT-1', r, 5), entry('s1', 'HOT-1', r, 1_000)]), events: [] }];
        })(),
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: "batch with another store's events",
        token: tokens.s2,
        frames: (() => {
          const r = fresh('s2');
          return [hello('s2', r), { type: 'batch', seq: 1, delta: delta([entry('s2', 'HOT-1', r, 5)]), events: [sale('s1', r, 1)] }];
        })(),
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: "batch with another replica's entries (same store)",
        token: tokens.s1,
        frames: (() => {
          const r = fresh('s1');
          return [hello('s1', r), { type: 'batch', seq: 1, delta: delta([entry('s1', 'HOT-1', r, 7), entry('s1', 'HOT-1', good, 999, 0)]), events: [] }];
        })(),
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: "batch with another replica's events (same store)",
        token: tokens.s1,
        frames: (() => {
          const r = fresh('s1');
          return [hello('s1', r), { type: 'batch', seq: 1, delta: delta(), events: [sale('s1', good, 10_001)] }];
        })(),
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: "events backfill with another replica's events",
        token: tokens.s1,
        frames: (() => {
          const r = fresh('s1');
          return [hello('s1', r), { type: 'events', seq: 1, events: [sale('s1', r, 1), sale('s1', good, 10_002)] }];
        })(),
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: 'repair for another store',
        token: tokens.s2,
        frames: (() => {
          const r = fresh('s2');
          return [hello('s2', r), { type: 'repair', store: 's1', delta: delta([entry('s1', 'HOT-1', r, 50)]), final: true }];
        })(),
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      { name: 'malformed JSON before hello', token: tokens.s1, frames: ['{"type":"hello",'], code: CloseCode.BadMessage, error: 'bad_json' },
      {
        name: 'malformed JSON after hello',
        token: tokens.s2,
        frames: [hello('s2', fresh('s2')), '{"type":"batch","seq":1,"delta":{'],
        code: CloseCode.BadMessage,
        error: 'bad_json',
      },
      {
        name: 'binary frame that is not UTF-8',
        token: tokens.s2,
        frames: [hello('s2', fresh('s2')), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
        code: CloseCode.BadMessage,
        error: 'bad_json',
      },
      {
        name: 'a second hello',
        token: tokens.s2,
        frames: (() => {
          const r = fresh('s2');
          return [hello('s2', r), hello('s2', r)];
        })(),
        code: CloseCode.BadMessage,
        error: 'unexpected_message',
      },
      {
        name: 'unknown message type',
        token: tokens.s2,
        frames: [hello('s2', fresh('s2')), { type: 'drop_tables', seq: 1 }],
        code: CloseCode.BadMessage,
        error: 'bad_shape',
      },
      {
        name: 'batch of the wrong shape (negative count)',
        token: tokens.s2,
        frames: (() => {
          const r = fresh('s2');
          return [hello('s2', r), { type: 'batch', seq: 1, delta: delta([entry('s2', 'HOT-1', r, -5)]), events: [] }];
        })(),
        code: CloseCode.BadMessage,
        error: 'bad_shape',
      },
      {
        name: 'oversized frame (> 8 MiB)',
        token: tokens.s2,
        frames: (() => {
          const r = fresh('s2');
          // Valid JSON of a known type, 9 MiB: refused by size before it is parsed.
          return [hello('s2', r), JSON.stringify({ type: 'ping', t: 1, pad: 'x'.repeat(9 * 1024 * 1024) })];
        })(),
        code: CloseCode.TooLarge,
        error: 'too_large',
      },
      { name: "hello with protocol '2.0'", token: tokens.s2, frames: [hello('s2', fresh('s2'), '2.0')], code: CloseCode.UnsupportedVersion, error: 'unsupported_version' },
      {
        name: 'batch before hello',
        token: tokens.s2,
        frames: [{ type: 'batch', seq: 1, delta: delta([entry('s2', 'HOT-1', 's2.early', 5)]), events: [] }],
        code: CloseCode.BadMessage,
        error: 'hello_required',
      },
      {
        // The welcome tells every agent the hub's replica id; claiming it would let a store write entries
        // (transfers from the hub, the hub's holds) as the hub.
        name: "hello with this hub's own replica id",
        token: tokens.s1,
        frames: [hello('s1', 'hub-hostile'), { type: 'batch', seq: 1, delta: delta([entry('s1', 'HOT-1', 'hub-hostile', 0, 30)]), events: [] }],
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: "hello with another hub process's replica id",
        token: tokens.s1,
        frames: [hello('s1', 'hub-other'), { type: 'batch', seq: 1, delta: delta([entry('s1', 'HOT-1', 'hub-other', 0, 30)]), events: [] }],
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
      {
        name: "a replica id claimed by s1, used with s2's token",
        token: tokens.s2,
        frames: [hello('s2', good), { type: 'batch', seq: 1, delta: delta([entry('s2', 'HOT-1', good, 5)]), events: [sale('s2', good, 1)] }],
        code: CloseCode.Forbidden,
        error: 'forbidden',
      },
    ];

    const outcomes: { name: string; code: number; error: string | undefined; welcomed: boolean; acked: boolean }[] = [];
    for (const c of cases) {
      const o = await rawSession(url, c.token, c.frames);
      const err = o.received.find((m) => m.type === 'error');
      outcomes.push({
        name: c.name,
        code: o.code,
        error: err?.code,
        welcomed: o.received.some((m) => m.type === 'welcome'),
        acked: o.received.some((m) => m.type === 'ack'),
      });
    }
    expect(outcomes.map((o) => ({ name: o.name, code: o.code, error: o.error }))).toEqual(
      cases.map((c) => ({ name: c.name, code: c.code, error: c.error })),
    );
    // The valid hellos were welcomed (so the refusals came from the later frames), and nothing was acked.
    expect(outcomes.filter((o) => o.welcomed).map((o) => o.name)).toContain("batch with another store's entries");
    expect(outcomes.filter((o) => o.acked).map((o) => o.name)).toEqual([]);

    // Nothing applied: same rows, same answers, nothing for s2 at all.
    const after = await snapshot();
    expect(after).toEqual(before);
    expect(await eventCount(db.url, 's2')).toBe(0);
    expect(after.s2OnHand.size).toBe(0);

    // The good agent was never dropped, and it still syncs.
    const st = await agentStatus(agent);
    expect(st.sync.online).toBe(true);
    expect(logged.filter((l) => l.msg === 'agent offline' && l.fields?.agent === good)).toEqual([]);
    await mustPost(agent, '/sales', [{ sku: 'HOT-2', qty: 4 }]);
    const mine = (await agentStock(agent)).get('HOT-2')!;
    expect(mine.onHand).toBe(21);
    await waitFor('the new sale at the hub', async () => (await hubCounter(hub.url, readKey, 's1', 'HOT-2'))?.onHand === 21, { timeoutMs: 5_000 });
    await waitSynced(agent);
    await expectConverged(agent, hub.url, readKey, db.url);
  }, 60_000);
});

describe('frames the WebSocket layer itself refuses', () => {
  it('never take the hub process down, before or after the token is checked', async () => {
    // A child process: if one of these crashed the hub, it must not take the test runner with it.
    const child = await spawnHub({ databaseUrl: db.url, replica: 'hub-hostile-child' });
    const huge = 'x'.repeat(17 * 1024 * 1024); // above ws's own hard cap (2 × 8 MiB): refused from the frame header
    const notUtf8 = new TextBytes(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    const cases: { name: string; token: string | null; frames: (string | TextBytes | object)[]; codes: number[] }[] = [
      { name: 'bad token, then a frame above the hard cap', token: newSecret('st'), frames: [huge], codes: [CloseCode.Unauthorized, 1009] },
      { name: 'no token, then a text frame that is not UTF-8', token: null, frames: [notUtf8], codes: [CloseCode.Unauthorized, 1007] },
      { name: 'good token, a frame above the hard cap while the token is checked', token: tokens.s2, frames: [huge], codes: [1009] },
      { name: 'good token, hello, then a text frame that is not UTF-8', token: tokens.s2, frames: [hello('s2', fresh('s2')), notUtf8], codes: [1007] },
    ];
    for (const c of cases) {
      const o = await rawSession(child.syncUrl, c.token, c.frames);
      expect(c.codes, `${c.name}: closed with ${o.code}`).toContain(o.code);
      await new Promise((r) => setTimeout(r, 100));
      expect(child.child.exitCode, `${c.name} crashed the hub:\n${child.output().slice(-1_500)}`).toBeNull();
    }
    expect((await hubHealth(child.url)).status).toBe(200);
    const ok = await rawSession(child.syncUrl, tokens.s2, [hello('s2', fresh('s2'))], 1_000);
    expect(ok.code).toBe(LEFT_OPEN);
    expect(ok.received.map((m) => m.type)).toContain('welcome');
    await child.kill('SIGTERM');
  }, 60_000);
});

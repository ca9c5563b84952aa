/**
 * The event export on real PostgreSQL and real RabbitMQ (127.0.0.1:5672):
 * hubs run as child processes with `--export`, events come from
 * `POST /inventory/updates` at two stores, and a consumer bound to `#` on a
 * fresh exclusive queue checks what arrives. Each test has its own database
 * and its own exchange. The broker is taken away with a TCP proxy in front
 * of it (only this test's connections), the hub with SIGKILL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type ChannelModel } from 'amqplib';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addReadKey, addStore, hubCli, killAllHubs, spawnHub, type SpawnedHub } from '../sync/helpers/hub.js';
import { startPgProxy, type PgProxy } from '../sync/helpers/pg-proxy.js';
import { sleep, waitFor } from '../sync/helpers/wait.js';

const AMQP = 'amqp://guest:guest@127.0.0.1:5672';

interface Received {
  id: string;
  routingKey: string;
  body: { schema: string; id: string; store: string; replica: string; seq: number; type: string; sku: string; qty: number; change: number };
}

/** A consumer bound to `#` of `exchange` on a fresh exclusive queue. */
async function consumer(exchange: string): Promise<{ got: Received[]; close(): Promise<void> }> {
  const conn: ChannelModel = await connect(AMQP);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: true });
  const q = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(q.queue, exchange, '#');
  const got: Received[] = [];
  await ch.consume(
    q.queue,
    (m) => {
      if (m) got.push({ id: String(m.properties.messageId), routingKey: m.fields.routingKey, body: JSON.parse(m.content.toString('utf8')) });
    },
    { noAck: true },
  );
  return {
    got,
    async close() {
      await ch.deleteExchange(exchange).catch(() => undefined);
      await conn.close().catch(() => undefined);
    },
  };
}

interface Setup {
  db: TestDatabase;
  exchange: string;
  tokens: Record<string, string>;
  readKey: string;
  sink: Awaited<ReturnType<typeof consumer>>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await killAllHubs();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});
afterAll(async () => {
  await killAllHubs();
});

async function setup(): Promise<Setup> {
  const db = await createTestDatabase();
  const exchange = `scoville.test.${randomBytes(4).toString('hex')}`;
  const [wh1, wh2, readKey] = await Promise.all([addStore(db.url, 'wh1'), addStore(db.url, 'wh2'), addReadKey(db.url)]);
  const sink = await consumer(exchange);
  cleanups.push(() => sink.close(), () => db.drop());
  return { db, exchange, tokens: { wh1, wh2 }, readKey, sink };
}

const exportArgs = (s: Setup, url = AMQP, more: string[] = []) => ['--export', url, '--export-exchange', s.exchange, ...more];

let keyN = 0;
async function update(hub: SpawnedHub, s: Setup, store: string, type: 'restock' | 'sale', lines: { sku: string; qty: number }[]): Promise<number> {
  const res = await fetch(`${hub.url}/inventory/updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tokens[store]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ idempotencyKey: `k-${++keyN}`, storeId: store, type, lines }),
  });
  await res.text();
  return res.status;
}

/** `rounds` restock+sale pairs at each of the two stores, concurrently. */
async function trade(hub: SpawnedHub | (() => SpawnedHub), s: Setup, rounds: number): Promise<void> {
  const h = () => (typeof hub === 'function' ? hub() : hub);
  await Promise.all(
    ['wh1', 'wh2'].map(async (store) => {
      for (let i = 0; i < rounds; i++) {
        expect(await update(h(), s, store, 'restock', [{ sku: 'HOT-1', qty: 2 }, { sku: `SKU.${i % 3}`, qty: 1 }])).toBe(201);
        expect(await update(h(), s, store, 'sale', [{ sku: 'HOT-1', qty: 1 }])).toBe(201);
      }
    }),
  );
}

interface LoggedEvent {
  event_id: string;
  store_id: string;
  replica_id: string;
  seq: number;
  change_id: number;
}

/** Every stored event with the change id of its commit (the log order). */
async function storedEvents(db: TestDatabase): Promise<LoggedEvent[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query<LoggedEvent>(
      `SELECT e.event_id, e.store_id, e.replica_id, e.seq::int AS seq, c.change_id::int AS change_id
       FROM events e JOIN event_commits c ON c.tx = e.tx AND c.at = e.received_at
       ORDER BY c.change_id, e.store_id, e.replica_id, e.seq`,
    );
    return r.rows;
  } finally {
    await c.end();
  }
}

/** Waits until every stored event arrived; returns the log, the first copies in arrival order and the duplicates. */
async function allArrived(s: Setup, timeoutMs = 30_000) {
  let log: LoggedEvent[] = [];
  await waitFor(
    'every stored event at the consumer',
    async () => {
      log = await storedEvents(s.db);
      const ids = new Set(s.sink.got.map((m) => m.id));
      return log.length > 0 && log.every((e) => ids.has(e.event_id));
    },
    { timeoutMs, describe: () => `${new Set(s.sink.got.map((m) => m.id)).size} distinct of ${log.length} stored` },
  );
  const seen = new Set<string>();
  const firsts: Received[] = [];
  let duplicates = 0;
  for (const m of s.sink.got) {
    if (seen.has(m.id)) duplicates++;
    else {
      seen.add(m.id);
      firsts.push(m);
    }
  }
  return { log, firsts, duplicates };
}

/** Per store, the first copies arrive in log order (change, replica, seq). */
function expectPerStoreLogOrder(log: LoggedEvent[], firsts: Received[]): void {
  const rank = new Map(log.map((e, i) => [e.event_id, i]));
  for (const store of ['wh1', 'wh2']) {
    const ranks = firsts.filter((m) => m.body.store === store).map((m) => rank.get(m.id)!);
    expect(ranks.length).toBeGreaterThan(0);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  }
}

async function exportStatus(hub: SpawnedHub, readKey: string): Promise<{ role: string; eventsBehind: number; secondsBehind: number; connected: boolean }> {
  const r = await fetch(`${hub.url}/status`, { headers: { authorization: `Bearer ${readKey}` } });
  return ((await r.json()) as { export: any }).export;
}

describe('event export to RabbitMQ', () => {
  it('sales at two stores: every event exactly once, per-store order, schema v1 bodies and routing keys', async () => {
    const s = await setup();
    const hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-x1', extraArgs: exportArgs(s) });
    await trade(hub, s, 15);
    const { log, firsts, duplicates } = await allArrived(s);
    expect(log.length).toBe(2 * 15 * 3);
    expect(duplicates).toBe(0);
    expect(firsts).toHaveLength(log.length);
    expectPerStoreLogOrder(log, firsts);
    const m = firsts.find((x) => x.body.sku === 'SKU.1')!;
    expect(m.routingKey).toBe(`${m.body.store}.restock.SKU~1`);
    expect(m.body).toMatchObject({ schema: 'scoville.event.v1', id: m.id, type: 'restock', qty: 1, replica: 'hub-x1' });
    expect(typeof m.body.change).toBe('number');
    await waitFor('lag 0 in /status', async () => (await exportStatus(hub, s.readKey)).eventsBehind === 0);
    expect(await exportStatus(hub, s.readKey)).toMatchObject({ role: 'publisher', connected: true, secondsBehind: 0 });

    const st = await hubCli<{ eventsBehind: number; holder: string; cursor: { changeId: number } }>(s.db.url, ['export', 'status', '--exchange', s.exchange]);
    expect(st).toMatchObject({ eventsBehind: 0, holder: 'hub-x1' });

    // replay from a position republishes exactly that range
    const from = log[10]!.change_id;
    const to = log[20]!.change_id;
    const before = s.sink.got.length;
    const r = await hubCli<{ events: number }>(s.db.url, ['export', 'replay', '--from', String(from), '--to', String(to), '--url', AMQP, '--exchange', s.exchange]);
    const range = log.filter((e) => e.change_id >= from && e.change_id <= to).map((e) => e.event_id);
    expect(r.events).toBe(range.length);
    await waitFor('the replayed range', () => s.sink.got.length === before + range.length);
    expect(s.sink.got.slice(before).map((x) => x.id)).toEqual(range);
  }, 120_000);

  it('broker connection lost mid-stream: the hub keeps serving, lag shows, then it catches up with nothing lost', async () => {
    const s = await setup();
    const proxy: PgProxy = await startPgProxy({ host: '127.0.0.1', port: 5672 });
    cleanups.push(() => proxy.close());
    const hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-x2', extraArgs: exportArgs(s, `amqp://guest:guest@127.0.0.1:${proxy.port}`, ['--export-batch', '5']) });
    const trading = trade(hub, s, 25);
    await waitFor('some events out', () => s.sink.got.length >= 10);
    proxy.cut();
    await sleep(300);
    const during = s.sink.got.length;
    await trading; // the hub kept acking while the broker was away
    await waitFor('lag visible', async () => {
      const st = await exportStatus(hub, s.readKey);
      return st.eventsBehind > 0 && !st.connected;
    });
    expect(s.sink.got.length).toBeLessThan(2 * 25 * 3);
    proxy.restore();
    const { log, firsts, duplicates } = await allArrived(s);
    expect(firsts).toHaveLength(log.length);
    expect(during).toBeLessThan(log.length);
    expect(duplicates).toBeLessThanOrEqual(5);
    expectPerStoreLogOrder(log, firsts);
    await waitFor('lag back to 0', async () => (await exportStatus(hub, s.readKey)).eventsBehind === 0);
  }, 120_000);

  it('hub SIGKILLed mid-publish: the restarted hub resends only the unconfirmed tail', async () => {
    const s = await setup();
    // A backlog first (no export), then a hub that publishes it in small batches.
    const quiet = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-x3' });
    await trade(quiet, s, 40);
    await quiet.kill('SIGKILL');
    const batch = 10;
    let hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-x3', extraArgs: exportArgs(s, AMQP, ['--export-batch', String(batch)]) });
    await waitFor('part of the backlog out', () => s.sink.got.length >= 60, { intervalMs: 1 });
    await hub.kill('SIGKILL');
    await sleep(500); // what the hub had written before it died is routed by now
    const atKill = s.sink.got.length;
    const st = await hubCli<{ eventsBehind: number }>(s.db.url, ['export', 'status', '--exchange', s.exchange]);
    const log0 = await storedEvents(s.db);
    expect(atKill).toBeLessThan(log0.length);
    // confirmed = stored cursor; what arrived beyond it is the unconfirmed tail (at most one batch)
    const confirmed = log0.length - st.eventsBehind;
    expect(atKill - confirmed).toBeLessThanOrEqual(batch);
    hub = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-x3', extraArgs: exportArgs(s, AMQP, ['--export-batch', String(batch)]) });
    const { log, firsts, duplicates } = await allArrived(s);
    expect(firsts).toHaveLength(log.length);
    expect(duplicates).toBe(atKill - confirmed);
    expectPerStoreLogOrder(log, firsts);
  }, 120_000);

  it('two hubs: one publishes, each event once; the other takes over when it dies', async () => {
    const s = await setup();
    const args = exportArgs(s, AMQP, ['--export-lease-ms', '1500']);
    const a = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-a', extraArgs: args });
    const b = await spawnHub({ databaseUrl: s.db.url, replica: 'hub-b', extraArgs: args });
    await Promise.all([trade(a, s, 8), trade(b, s, 8)]);
    const first = await allArrived(s);
    expect(first.duplicates).toBe(0);
    const roles = await Promise.all([exportStatus(a, s.readKey), exportStatus(b, s.readKey)]);
    expect(roles.map((r) => r.role).sort()).toEqual(['publisher', 'standby']);
    const [publisher, survivor] = roles[0]!.role === 'publisher' ? [a, b] : [b, a];
    await publisher.kill('SIGKILL');
    await trade(survivor, s, 5);
    const { log, firsts } = await allArrived(s);
    expect(firsts).toHaveLength(log.length);
    expectPerStoreLogOrder(log, firsts);
    expect((await exportStatus(survivor, s.readKey)).role).toBe('publisher');
  }, 120_000);
});

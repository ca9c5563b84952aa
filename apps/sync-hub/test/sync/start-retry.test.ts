/**
 * `sync-hub start` while PostgreSQL is not reachable yet (a service started
 * before its database): the real CLI in a child process waits, retrying with
 * backoff and saying so at warn level, and serves once the database is there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { freePort, hubHealth, killAllHubs, spawnHub } from './helpers/hub.js';
import { parseLogLines } from './helpers/logs.js';
import { startPgProxy, type PgProxy } from './helpers/pg-proxy.js';
import { sleep } from './helpers/wait.js';

let db: TestDatabase;
let proxy: PgProxy | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
}, 30_000);

afterAll(async () => {
  await killAllHubs();
  await proxy?.close();
  await db?.drop();
}, 30_000);

describe('sync-hub start before its database is up', () => {
  it('retries (warn, with the reason) until PostgreSQL answers, then serves', async () => {
    // Nothing listens on this port yet: connections are refused.
    const port = await freePort();
    const u = new URL(db.url);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    const starting = spawnHub({ databaseUrl: u.toString(), replica: 'hub-retry', timeoutMs: 40_000 });
    starting.catch(() => undefined);
    // Long enough for a few attempts even when the CLI is slow to start (tsx and the hub's
    // imports took more than 5 s on a busy CI machine: the first attempt then found the port open).
    await sleep(12_000);
    proxy = await startPgProxy({ host: '127.0.0.1', port: 5432 }, port);
    const hub = await starting;

    const lines = parseLogLines(hub.output());
    const retries = lines.filter((l) => l.msg === 'database unreachable at start, retrying');
    expect(retries.length, hub.output()).toBeGreaterThanOrEqual(2);
    for (const r of retries) {
      expect(r.level).toBe('warn');
      expect(r.err).toMatch(/ECONNREFUSED/);
    }
    // Exponential, capped at 5 s.
    const delays = retries.map((r) => Number(r.retryInMs));
    expect(delays).toEqual(delays.map((_, i) => Math.min(100 * 2 ** i, 5_000)));
    expect((await hubHealth(hub.url)).status).toBe(200);
    await hub.kill('SIGTERM');
  }, 60_000);
});

/**
 * `sync-hub verify --strict`: gaps in a replica's stored event log are a
 * failure when that replica is not connected (nothing is backfilling them),
 * named per replica with the missing seq ranges. The real CLI in a child
 * process against real Postgres; a hub in this process for "connected".
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '@scoville/protocol';
import { emptyDelta, eventIdFor, type ReplicaId, type Sku, type StoreId } from '@scoville/crdt-inventory';
import { hashSecret, newSecret } from '../src/auth/tokens.js';
import { startHub, type RunningHub } from '../src/hub.js';
import { silentLogger } from '../src/log.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { HUB_BIN, REPO_ROOT, cleanEnv, type CliResult } from './sync/helpers/hub.js';
import { waitFor } from './sync/helpers/wait.js';

let db: TestDatabase;
let hub: RunningHub;
const token = newSecret('st');
const readKey = newSecret('sk');

function verifyCli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HUB_BIN, '--database-url', db.url, 'verify', ...args], { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Stores events `seqs` of `replica` (and nothing else) at the hub. */
async function storeEvents(replica: ReplicaId, seqs: number[]): Promise<void> {
  const events = seqs.map((seq) => ({
    id: eventIdFor(replica, seq),
    store: 'v1' as StoreId,
    replica,
    seq,
    type: 'restock' as const,
    sku: 'K' as Sku,
    qty: 1,
    at: 1_790_000_000_000,
  }));
  await hub.storage.access.claimReplica(replica, 'v1' as StoreId, 'agent', Date.now());
  await hub.storage.inventory.commit([{ delta: emptyDelta(), events, from: { replica, store: 'v1' as StoreId, at: Date.now() } }]);
}

beforeAll(async () => {
  db = await createTestDatabase();
  hub = await startHub({ port: 0, databaseUrl: db.url, replica: 'hub-verify', log: silentLogger });
  await hub.storage.access.addStore('v1' as StoreId, hashSecret(token), Date.now());
  await hub.storage.access.addApiKey('key_read', hashSecret(readKey), 'read', Date.now());
  await storeEvents('v1.gone' as ReplicaId, [1, 2, 5, 6, 9]);
  await storeEvents('v1.live' as ReplicaId, [1, 4]);
}, 60_000);

afterAll(async () => {
  await hub?.stop().catch(() => undefined);
  await db?.drop();
}, 30_000);

describe('sync-hub verify with gaps in the event log', () => {
  it('passes without --strict (backfilling)', async () => {
    const r = await verifyCli([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/v1\.gone.*backfilling/);
  }, 30_000);

  it('fails with --strict, naming each replica and its missing seq ranges', async () => {
    const r = await verifyCli(['--strict']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('v1/v1.gone: missing seqs 3-4, 7-8');
    expect(r.stderr).toContain('v1/v1.live: missing seqs 2-3');
    const json = await verifyCli(['--strict', '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { replicas: { replica: string; missingRanges: number[][] }[] }[];
    expect(report[0]!.replicas.find((x) => x.replica === 'v1.gone')?.missingRanges).toEqual([
      [3, 4],
      [7, 8],
    ]);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'event_log_gaps' } });
  }, 30_000);

  it('with --hub, does not fail on a replica that is connected (its backfill is running)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/sync`, { headers: { authorization: `Bearer ${token}` } });
    ws.on('error', () => undefined);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, store: 'v1', replica: 'v1.live', ackedHubSeq: 0, lastEventSeq: 4 })));
    try {
      await waitFor('v1.live online', () => hub.sync.connected().some((c) => c.replicas.includes('v1.live')));
      const r = await verifyCli(['--strict', '--hub', hub.url, '--key', readKey]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('v1/v1.gone: missing seqs 3-4, 7-8');
      expect(r.stderr).not.toContain('v1/v1.live: missing');
      expect(r.stdout).toMatch(/v1\.live.*backfilling.*connected/);
    } finally {
      ws.terminate();
    }
  }, 30_000);
});

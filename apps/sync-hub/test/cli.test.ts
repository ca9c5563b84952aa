/**
 * The `sync-hub` CLI as a child process against a real PostgreSQL database:
 * secrets shown once and stored hashed, --json everywhere, clear codes and
 * exit statuses for bad input, every admin action audited.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';

const BIN = fileURLToPath(new URL('../bin/sync-hub.js', import.meta.url));
let db: TestDatabase;

function hub(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '--database-url', db.url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function sql<T>(text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

describe('sync-hub stores', () => {
  it('adds a store, prints its token once and keeps only the hash', async () => {
    const r = await hub(['--json', 'stores', 'add', 'brooklyn']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { storeId: string; token: string };
    expect(out.storeId).toBe('brooklyn');
    expect(out.token).toMatch(/^st_[A-Za-z0-9_-]{40,}$/);
    const rows = await sql<{ token_hash: string }>(`SELECT token_hash FROM stores WHERE store_id = 'brooklyn'`);
    expect(rows).toEqual([{ token_hash: createHash('sha256').update(out.token).digest('hex') }]);
    expect(JSON.stringify(await sql('SELECT * FROM stores'))).not.toContain(out.token);
  });

  it('refuses a store id twice (store_exists) and bad ids (exit 2), changing nothing', async () => {
    const again = await hub(['--json', 'stores', 'add', 'brooklyn']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stderr).error.code).toBe('store_exists');
    const bad = await hub(['--json', 'stores', 'add', 'not ok']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr).error.code).toBe('invalid_argument');
    expect(await sql(`SELECT store_id FROM stores ORDER BY store_id`)).toEqual([{ store_id: 'brooklyn' }]);
  });

  it('lists and revokes stores; revoking an unknown store is not_found', async () => {
    const list = JSON.parse((await hub(['--json', 'stores', 'list'])).stdout) as { storeId: string; revokedAt: number | null }[];
    expect(list).toEqual([expect.objectContaining({ storeId: 'brooklyn', revokedAt: null })]);
    const r = await hub(['--json', 'stores', 'revoke', 'brooklyn']);
    expect(JSON.parse(r.stdout)).toEqual({ storeId: 'brooklyn', revoked: true });
    const gone = await hub(['--json', 'stores', 'revoke', 'nowhere']);
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stderr).error.code).toBe('not_found');
    const human = await hub(['stores', 'list']);
    expect(human.stdout).toMatch(/^brooklyn\s+revoked\s/m);
  });
});

describe('sync-hub keys', () => {
  it('adds keys with a role, shown once and stored hashed; lists and revokes them', async () => {
    const r = await hub(['--json', 'keys', 'add', '--role', 'read']);
    expect(r.code).toBe(0);
    const k = JSON.parse(r.stdout) as { id: string; key: string; role: string };
    expect(k.role).toBe('read');
    expect(k.key).toMatch(/^sk_/);
    expect(await sql(`SELECT role FROM api_keys WHERE key_hash = '${createHash('sha256').update(k.key).digest('hex')}'`)).toEqual([{ role: 'read' }]);
    const list = JSON.parse((await hub(['--json', 'keys', 'list'])).stdout) as { id: string; role: string }[];
    expect(list.map((x) => [x.id, x.role])).toEqual([[k.id, 'read']]);
    expect(JSON.parse((await hub(['--json', 'keys', 'revoke', k.id])).stdout)).toEqual({ id: k.id, revoked: true });
  });

  it('refuses an unknown role as a usage error (exit 2, JSON on stderr)', async () => {
    const r = await hub(['--json', 'keys', 'add', '--role', 'owner']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr.split('\n')[0]!).error).toMatchObject({ code: 'usage' });
    expect(await sql(`SELECT count(*)::int AS n FROM api_keys`)).toEqual([{ n: 1 }]);
  });

  it('audits every admin action', async () => {
    const actions = (await sql<{ action: string }>(`SELECT action FROM audit ORDER BY id`)).map((a) => a.action);
    expect(actions).toEqual(['store.add', 'store.revoke', 'key.add', 'key.revoke']);
  });
});

describe('sync-hub verify', () => {
  it('passes when entries equal the fold of the events, reports a backfill gap, and exits 1 on a mismatch', async () => {
    const { openSqlClient } = await import('../src/db/open.js');
    const { openHubStorage } = await import('../src/store/sql-hub-storage.js');
    const { eventIdFor, InventoryState, foldEvents, replicaId, storeId } = await import('@scoville/crdt-inventory');
    const store = openHubStorage(await openSqlClient({ databaseUrl: db.url }));
    try {
      await store.migrate();
      const S = storeId('verify-1');
      const A = replicaId('verify-1.a');
      const B = replicaId('verify-1.b');
      const ev = (replica: typeof A, seq: number, type: 'restock' | 'sale', qty: number) => ({
        id: eventIdFor(replica, seq),
        store: S,
        replica,
        seq,
        type,
        sku: 'HSS-001' as never,
        qty,
        at: 1_790_000_000_000 + seq,
      });
      const aEvents = [ev(A, 1, 'restock', 10), ev(A, 2, 'sale', 3)];
      // B's seq 2 has not arrived yet: its entries are ahead of its log.
      const bAll = [ev(B, 1, 'restock', 4), ev(B, 2, 'sale', 1), ev(B, 3, 'sale', 1)];
      const entries = foldEvents([...aEvents, ...bAll], new InventoryState()).toDelta(S);
      await store.inventory.commit([{ delta: entries, events: [...aEvents, bAll[0]!, bAll[2]!] }]);

      const ok = await hub(['--json', 'verify', '--store', 'verify-1']);
      expect(ok.code).toBe(0);
      const [report] = JSON.parse(ok.stdout) as { ok: boolean; replicas: { replica: string; matches: boolean; missingSeqs: number }[] }[];
      expect(report!.ok).toBe(true);
      expect(report!.replicas).toEqual([
        expect.objectContaining({ replica: A, matches: true, missingSeqs: 0 }),
        expect.objectContaining({ replica: B, matches: false, missingSeqs: 1 }),
      ]);

      await sql(`UPDATE counter_entries SET n = n + 1 WHERE store_id = 'verify-1' AND replica_id = 'verify-1.a'`);
      const bad = await hub(['verify', '--store', 'verify-1']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/verify-1\tverify-1\.a\t2 events\tMISMATCH/);
      expect(bad.stdout).toMatch(/verify-1\.b\t2 events\tbackfilling \(1 events to come\)/);
    } finally {
      await store.close();
    }
  });
});

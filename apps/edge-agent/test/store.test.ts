/**
 * The SQLite store on real files: migrations, refusing a file from a newer
 * agent, identity created once, max-merge writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventIdFor, replicaId, sku, storeId } from '@scoville/crdt-inventory';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/migrations.js';
import { SqliteAgentStore } from '../src/store/sqlite-store.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-store-'));
  file = join(dir, 'agent.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteAgentStore', () => {
  it('creates the schema once, in WAL mode with synchronous=FULL', () => {
    new SqliteAgentStore(file).close();
    const s = new SqliteAgentStore(file);
    s.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })),
    );
    db.close();
    const probe = new SqliteAgentStore(file);
    // synchronous is per connection: check the store's own.
    expect((probe as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true })).toBe(2);
    probe.close();
  });

  it('refuses a file written by a newer agent with schema_too_new, changing nothing', () => {
    new SqliteAgentStore(file).close();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 1);
    db.close();
    expect(() => new SqliteAgentStore(file)).toThrow(expect.objectContaining({ code: 'schema_too_new', fileVersion: SCHEMA_VERSION + 1 }));
    const after = new Database(file, { readonly: true });
    expect((after.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v).toBe(SCHEMA_VERSION + 1);
    after.close();
  });

  it('migrations 5 and 6 keep every event of an older file, drop both indexes of events and keep each SKU\'s latest event time', () => {
    // A file as an agent of schema 4 left it: identity, events, one of them with every optional column.
    const old = new Database(file);
    old.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
    for (let v = 1; v <= 4; v++) {
      old.exec(MIGRATIONS[v - 1]!);
      old.prepare(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`).run(v);
    }
    const replica = replicaId('s1.abc');
    old.prepare(`INSERT INTO identity (id, store_id, replica_id, created_at) VALUES (1, 's1', ?, 1)`).run(replica);
    const insert = old.prepare(
      `INSERT INTO events (seq, id, idempotency_key, type, sku, qty, reason, terminal, at, forced, count, reservation_id, expires_at, to_replica) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    insert.run(1, eventIdFor(replica, 1), 'k1', 'restock', 'A', 5, null, null, 10, 0, null, null, null, null);
    insert.run(2, eventIdFor(replica, 2), 'k2', 'adjustment', 'A', 1, 'damaged', 't1', 11, 1, 4, 'h1.0', 99, 'hub');
    insert.run(3, eventIdFor(replica, 3), null, 'sale', 'B', 2, null, 't2', 12, 0, null, null, null, null);
    // The clock went back: A's latest event (highest seq) is older than its one before.
    insert.run(4, eventIdFor(replica, 4), 'k4', 'sale', 'A', 1, null, 't1', 9, 0, null, null, null, null);
    const before = old.prepare(`SELECT * FROM events ORDER BY seq`).all();
    expect(old.prepare(`SELECT name FROM pragma_index_list('events') ORDER BY name`).all()).toHaveLength(2);
    old.close();

    const s = new SqliteAgentStore(file);
    const lastSku = s.lastEventAtBySku();
    // Every event appended from now on moves its SKU's time, in the same transaction.
    s.transaction(() => {
      s.appendEvent({ id: eventIdFor(replica, 5), store: storeId('s1'), replica, seq: 5, type: 'restock', sku: sku('C'), qty: 1, at: 20 });
      s.appendEvent({ id: eventIdFor(replica, 6), store: storeId('s1'), replica, seq: 6, type: 'sale', sku: sku('B'), qty: 1, at: 21 });
    });
    expect(() =>
      s.transaction(() => {
        s.appendEvent({ id: eventIdFor(replica, 7), store: storeId('s1'), replica, seq: 7, type: 'sale', sku: sku('C'), qty: 1, at: 30 });
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    const afterAppends = s.lastEventAtBySku();
    s.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare(`SELECT * FROM events WHERE seq <= 4 ORDER BY seq`).all()).toEqual(before);
    // No index left on events: the primary key (seq) is all the agent reads it by.
    expect(db.prepare(`SELECT name FROM pragma_index_list('events')`).all()).toEqual([]);
    expect((db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v).toBe(SCHEMA_VERSION);
    db.close();
    const bySku = (rows: { sku: string; at: number }[]) => [...rows].sort((a, b) => a.sku.localeCompare(b.sku));
    expect(bySku(lastSku)).toEqual([
      { sku: 'A', at: 9 },
      { sku: 'B', at: 12 },
    ]);
    expect(bySku(afterAppends)).toEqual([
      { sku: 'A', at: 9 },
      { sku: 'B', at: 21 },
      { sku: 'C', at: 20 },
    ]);
  });

  it('creates the identity once and refuses a second one', () => {
    const s = new SqliteAgentStore(file);
    const id = { store: storeId('s1'), replica: replicaId('s1.abc'), createdAt: 1 };
    s.createIdentity(id);
    expect(() => s.createIdentity({ ...id, replica: replicaId('s1.def') })).toThrow(expect.objectContaining({ code: 'already_initialized' }));
    s.close();
    const again = new SqliteAgentStore(file);
    expect(again.identity()).toEqual(id);
    again.close();
  });

  it('max-merges entries: a lower or equal value never overwrites, and the change number moves only on growth', () => {
    const s = new SqliteAgentStore(file);
    const S = storeId('s1');
    const e = (p: number, n: number) => ({ entries: [{ store: S, sku: sku('K'), replica: replicaId('r1'), p, n }], transfers: [], reservations: [] });
    s.transaction(() => s.writeDelta(e(5, 2), 1));
    s.transaction(() => s.writeDelta(e(3, 1), 2));
    expect(s.changesSince(S, 0).entries).toEqual([{ store: S, sku: 'K', replica: 'r1', p: 5, n: 2 }]);
    expect(s.changesSince(S, 1).entries).toEqual([]);
    s.transaction(() => s.writeDelta(e(5, 4), 3));
    expect(s.changesSince(S, 2).entries).toEqual([{ store: S, sku: 'K', replica: 'r1', p: 5, n: 4 }]);
    s.close();
  });
});

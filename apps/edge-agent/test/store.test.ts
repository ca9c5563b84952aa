/**
 * The SQLite store on real files: migrations, refusing a file from a newer
 * agent, identity created once, max-merge writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replicaId, sku, storeId } from '@scoville/crdt-inventory';
import { SCHEMA_VERSION } from '../src/store/migrations.js';
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

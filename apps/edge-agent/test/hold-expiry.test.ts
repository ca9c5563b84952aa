/**
 * Holds whose expiry is recorded (crdt-inventory: status 'expired'), and
 * reservations keyed by (owner, id), through the agent's inventory and its
 * SQLite store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replicaId, reservationId, sku, storeId, type ReservationRecord } from '@scoville/crdt-inventory';
import { AgentInventory } from '../src/inventory/agent-inventory.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SqliteAgentStore } from '../src/store/sqlite-store.js';
import { verifyAgent } from '../src/verify.js';

const S = storeId('s1');
const K = sku('HAB-1');
const ME = replicaId('s1.aaaaaaaaaaaa');
const OTHER = replicaId('s1.bbbbbbbbbbbb');

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-expiry-'));
  file = join(dir, 'agent.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function open(): { store: SqliteAgentStore; inv: AgentInventory } {
  const store = new SqliteAgentStore(file);
  if (store.identity() === null) store.createIdentity({ store: S, replica: ME, createdAt: 0 });
  return { store, inv: new AgentInventory(store, store.identity()!) };
}

describe('agent: recorded expiry', () => {
  it('a sale after a hold lapsed records its expiry (hold_expire), and the hold cannot be committed at an earlier clock', () => {
    const { store, inv } = open();
    store.transaction(() => inv.restock([{ sku: K, qty: 1 }], { now: 0 }));
    store.transaction(() => inv.hold('cart-1', [{ sku: K, qty: 1 }], 1000, { now: 0 }));
    const sold = store.transaction(() => inv.sell([{ sku: K, qty: 1 }], { now: 1000 }));
    expect(sold).toMatchObject({ ok: true, value: { forced: false } });
    expect(inv.holdRecords('cart-1')[0]?.status).toBe('expired');
    const commit = store.transaction(() => inv.commitHold('cart-1', { now: 999 }));
    expect(commit).toMatchObject({ ok: false, error: { code: 'hold_expired' } });
    expect(inv.stock(K, 999).onHand).toBe(0);
    expect(store.events(0, 100).map((e) => e.type)).toEqual(['restock', 'hold', 'hold_expire', 'sale']);
    expect(verifyAgent(inv)).toMatchObject({ ok: true, problems: [] });
    // the same after a restart: memory rebuilt from disk
    store.close();
    const again = open();
    expect(again.inv.holdRecords('cart-1')[0]?.status).toBe('expired');
    expect(verifyAgent(again.inv).ok).toBe(true);
    again.store.close();
  });

  it('expireHolds records expired, not released', () => {
    const { store, inv } = open();
    store.transaction(() => inv.restock([{ sku: K, qty: 3 }], { now: 0 }));
    store.transaction(() => inv.hold('cart-1', [{ sku: K, qty: 2 }], 1000, { now: 0 }));
    expect(store.transaction(() => inv.expireHolds(5000))).toBe(1);
    expect(inv.holdRecords('cart-1')[0]?.status).toBe('expired');
    expect(inv.stock(K, 0).rights).toBe(3);
    expect(verifyAgent(inv).ok).toBe(true);
    store.close();
  });
});

describe('agent store: reservations keyed by (owner, id)', () => {
  const rec = (owner: typeof ME, status: ReservationRecord['status']): ReservationRecord => ({
    id: reservationId('cart-1.1'),
    store: S,
    sku: K,
    owner,
    qty: 1,
    expiresAt: 1000,
    status,
  });

  it('keeps another replica’s hold under the same id, and moves each by rank (expired included)', () => {
    const s = new SqliteAgentStore(file);
    s.transaction(() => s.writeDelta({ entries: [], transfers: [], reservations: [rec(ME, 'active'), rec(OTHER, 'active')] }, 1));
    s.transaction(() => s.writeDelta({ entries: [], transfers: [], reservations: [rec(ME, 'expired')] }, 2));
    s.transaction(() => s.writeDelta({ entries: [], transfers: [], reservations: [rec(ME, 'active'), rec(OTHER, 'committed')] }, 3));
    const got = s.changesSince(S, 0).reservations.map((r) => [r.owner, r.status]).sort();
    expect(got).toEqual([
      [ME, 'expired'],
      [OTHER, 'committed'],
    ]);
    s.close();
  });

  it('migration 2 keeps the rows of a version-1 file', () => {
    const db = new Database(file);
    db.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
    db.exec(MIGRATIONS[0]!);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)').run();
    db.prepare(`INSERT INTO reservations (id, hold_id, sku, owner, qty, expires_at, status, changed) VALUES ('cart-1.1', 'cart-1', ?, ?, 2, 1000, 'active', 7)`).run(K, ME);
    db.close();
    const s = new SqliteAgentStore(file);
    expect(s.changesSince(S, 0).reservations).toEqual([{ ...rec(ME, 'active'), qty: 2 }]);
    s.close();
  });
});

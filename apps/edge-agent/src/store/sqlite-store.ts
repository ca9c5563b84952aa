import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  AdjustmentReason,
  Delta,
  EventId,
  EventType,
  InventoryEvent,
  ReplicaId,
  ReservationId,
  ReservationStatus,
  Sku,
  StoreId,
} from '@scoville/crdt-inventory';
import { emptyDelta, RESERVATION_STATUSES, statusRank } from '@scoville/crdt-inventory';
import type { AgentStore, CatalogItem, Identity, LoadedState, StoredAnswer } from './agent-store.js';
import { AlreadyInitializedError, SchemaTooNewError } from './errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';

/** statusRank (crdt-inventory) in SQL: a stored status only moves to a higher rank. */
const STATUS_RANK_SQL = (col: string): string =>
  `(CASE ${col} ${RESERVATION_STATUSES.map((s) => `WHEN '${s}' THEN ${statusRank(s)}`).join(' ')} ELSE -1 END)`;

interface EventRow {
  seq: number;
  id: string;
  idempotency_key: string | null;
  type: string;
  sku: string;
  qty: number;
  reason: string | null;
  terminal: string | null;
  at: number;
  forced: number;
  count: number | null;
  reservation_id: string | null;
  expires_at: number | null;
  to_replica: string | null;
}

/**
 * SQLite store: one file per agent, WAL with synchronous=FULL, so a
 * committed transaction survives power loss and a 2xx means "on disk".
 */
export class SqliteAgentStore implements AgentStore {
  private readonly db: Database.Database;
  private cachedIdentity: Identity | null = null;
  private readonly stmts;
  private readonly wal: WalFile;
  /**
   * One better-sqlite3 transaction function, made once: `db.transaction(fn)`
   * per call builds the wrapper anew (~6 µs, a third of a one-sale commit).
   */
  private readonly inTransaction: (fn: () => unknown) => unknown;

  constructor(readonly path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.wal = new WalFile(`${path}-wal`);
    // A process killed between an unsynced commit and its fsync leaves the
    // commit in the page cache, where this connection reads it: make it
    // durable before anything built on it is answered or sent to the hub.
    this.syncToDiskNow();
    const db = this.db;
    const tx = db.transaction((fn: () => unknown) => fn());
    this.inTransaction = (fn) => tx.immediate(fn);
    this.stmts = {
      insertEvent: db.prepare(
        `INSERT INTO events (seq, id, idempotency_key, type, sku, qty, reason, terminal, at, forced, count, reservation_id, expires_at, to_replica)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      upsertEntry: db.prepare(
        `INSERT INTO entries (sku, replica, p, n, changed) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sku, replica) DO UPDATE SET p = max(p, excluded.p), n = max(n, excluded.n), changed = excluded.changed
         WHERE excluded.p > p OR excluded.n > n`,
      ),
      upsertTransfer: db.prepare(
        `INSERT INTO transfers (sku, from_replica, to_replica, amount, changed) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sku, from_replica, to_replica) DO UPDATE SET amount = excluded.amount, changed = excluded.changed
         WHERE excluded.amount > amount`,
      ),
      upsertReservation: db.prepare(
        `INSERT INTO reservations (id, hold_id, sku, owner, qty, expires_at, status, changed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (owner, id) DO UPDATE SET status = excluded.status, changed = excluded.changed
         WHERE ${STATUS_RANK_SQL('excluded.status')} > ${STATUS_RANK_SQL('status')}`,
      ),
      findAnswer: db.prepare(`SELECT route, request_hash, status, response, at FROM idempotency WHERE key = ?`),
      saveAnswer: db.prepare(
        `INSERT INTO idempotency (key, route, request_hash, status, response, at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      events: db.prepare(`SELECT * FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      eventCount: db.prepare(`SELECT count(*) AS c FROM events`),
      lastEventAtBySku: db.prepare(`SELECT sku, at FROM sku_last_event`),
      // Events are appended in seq order: the last upsert of a SKU is its highest seq's (even when the clock went back).
      setLastEvent: db.prepare(`INSERT INTO sku_last_event (sku, at) VALUES (?, ?) ON CONFLICT (sku) DO UPDATE SET at = excluded.at`),
      syncGet: db.prepare(`SELECT value FROM sync_state WHERE key = ?`),
      syncSet: db.prepare(
        `INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      ),
      catalogAll: db.prepare(`SELECT * FROM catalog ORDER BY sku`),
      catalogOne: db.prepare(`SELECT * FROM catalog WHERE sku = ?`),
      catalogUpsert: db.prepare(
        `INSERT INTO catalog (sku, name, price_cents, low_stock_threshold, safety_stock, updated_at)
         VALUES (@sku, @name, @priceCents, @lowStockThreshold, @safetyStock, @updatedAt)
         ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents,
           low_stock_threshold = excluded.low_stock_threshold, safety_stock = excluded.safety_stock,
           updated_at = excluded.updated_at`,
      ),
      entriesSince: db.prepare(`SELECT sku, replica, p, n FROM entries WHERE changed > ? AND changed <= ?`),
      transfersSince: db.prepare(
        `SELECT sku, from_replica, to_replica, amount FROM transfers WHERE changed > ? AND changed <= ?`,
      ),
      reservationsSince: db.prepare(
        `SELECT id, sku, owner, qty, expires_at, status FROM reservations WHERE changed > ? AND changed <= ?`,
      ),
    };
  }

  private migrate(): void {
    const db = this.db;
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
    const row = db.prepare(`SELECT max(version) AS v FROM schema_migrations`).get() as { v: number | null };
    const current = row.v ?? 0;
    if (current > SCHEMA_VERSION) {
      db.close();
      throw new SchemaTooNewError(this.path, current, SCHEMA_VERSION);
    }
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v - 1]!);
        db.prepare(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`).run(v, Date.now());
      }).immediate();
    }
  }

  identity(): Identity | null {
    if (this.cachedIdentity) return this.cachedIdentity;
    const row = this.db.prepare(`SELECT store_id, replica_id, created_at FROM identity WHERE id = 1`).get() as
      | { store_id: string; replica_id: string; created_at: number }
      | undefined;
    if (!row) return null;
    this.cachedIdentity = {
      store: row.store_id as StoreId,
      replica: row.replica_id as ReplicaId,
      createdAt: row.created_at,
    };
    return this.cachedIdentity;
  }

  createIdentity(identity: Identity): void {
    const existing = this.identity();
    if (existing) throw new AlreadyInitializedError(this.path, existing.store);
    this.db
      .prepare(`INSERT INTO identity (id, store_id, replica_id, created_at) VALUES (1, ?, ?, ?)`)
      .run(identity.store, identity.replica, identity.createdAt);
    this.cachedIdentity = identity;
  }

  load(store: StoreId): LoadedState {
    const lastChange = (
      this.db.prepare(
        `SELECT max(c) AS c FROM (SELECT max(changed) AS c FROM entries UNION ALL SELECT max(changed) FROM transfers UNION ALL SELECT max(changed) FROM reservations)`,
      ).get() as { c: number | null }
    ).c ?? 0;
    const lastEventSeq = (this.db.prepare(`SELECT max(seq) AS s FROM events`).get() as { s: number | null }).s ?? 0;
    // Never below what the hub acknowledged: a number at or under the
    // watermark would make the sync client skip the rows stamped with it.
    const acked = this.syncValue('acked_change');
    return { delta: this.changesSince(store, -1, Number.MAX_SAFE_INTEGER), lastChange: Math.max(lastChange, acked), lastEventSeq };
  }

  transaction<T>(fn: () => T): T {
    return this.inTransaction(fn) as T;
  }

  transactionUnsynced<T>(fn: () => T): T {
    // synchronous=NORMAL in WAL mode: COMMIT writes the frames to the WAL
    // file without fsync; syncToDisk() makes them durable. Only this commit:
    // every other write on the connection stays FULL.
    this.stmts.syncNormal.run();
    try {
      return this.inTransaction(fn) as T;
    } finally {
      this.stmts.syncFull.run();
    }
  }

  syncToDisk(done: (error: Error | null) => void): void {
    let fd: number | null;
    try {
      fd = this.wal.open();
    } catch (error) {
      process.nextTick(done, error as Error);
      return;
    }
    if (fd === null) {
      process.nextTick(done, null);
      return;
    }
    this.wal.busy++;
    // fdatasync, as SQLite syncs its WAL: the data and the file size, not the mtime.
    fdatasync(fd, (error) => {
      this.wal.busy--;
      this.wal.closeIfIdle();
      done(error);
    });
  }

  syncToDiskNow(): void {
    const fd = this.wal.open();
    if (fd !== null) fdatasyncSync(fd);
  }

  appendEvent(e: InventoryEvent): void {
    // Positional parameters: binding by name looks up every key (a third of the insert's cost).
    this.stmts.insertEvent.run(
      e.seq,
      e.id,
      e.idempotencyKey ?? null,
      e.type,
      e.sku,
      e.qty,
      e.reason ?? null,
      e.terminal ?? null,
      e.at,
      e.forced === true ? 1 : 0,
      e.count ?? null,
      e.reservationId ?? null,
      e.expiresAt ?? null,
      e.to ?? null,
    );
    this.stmts.setLastEvent.run(e.sku, e.at);
  }

  writeDelta(delta: Delta, change: number): void {
    for (const e of delta.entries) this.stmts.upsertEntry.run(e.sku, e.replica, e.p, e.n, change);
    for (const t of delta.transfers) this.stmts.upsertTransfer.run(t.sku, t.from, t.to, t.amount, change);
    for (const r of delta.reservations) {
      const dot = r.id.lastIndexOf('.');
      const holdId = dot > 0 ? r.id.slice(0, dot) : r.id;
      this.stmts.upsertReservation.run(r.id, holdId, r.sku, r.owner, r.qty, r.expiresAt, r.status, change);
    }
  }

  findAnswer(key: string): StoredAnswer | undefined {
    const row = this.stmts.findAnswer.get(key) as
      | { route: string; request_hash: string; status: number; response: string; at: number }
      | undefined;
    if (!row) return undefined;
    return { route: row.route, requestHash: row.request_hash, status: row.status, json: row.response, at: row.at };
  }

  saveAnswer(key: string, a: StoredAnswer): void {
    this.stmts.saveAnswer.run(key, a.route, a.requestHash, a.status, a.json, a.at);
  }

  events(afterSeq: number, limit: number, upToSeq = Number.MAX_SAFE_INTEGER): InventoryEvent[] {
    const identity = this.identity();
    if (!identity) return [];
    const rows = this.stmts.events.all(afterSeq, upToSeq, limit) as EventRow[];
    return rows.map((r) => rowToEvent(r, identity));
  }

  eventCount(): number {
    return (this.stmts.eventCount.get() as { c: number }).c;
  }

  lastEventAtBySku(): { sku: Sku; at: number }[] {
    return this.stmts.lastEventAtBySku.all() as { sku: Sku; at: number }[];
  }

  changesSince(store: StoreId, change: number, upTo = Number.MAX_SAFE_INTEGER): Delta {
    const d = emptyDelta();
    for (const r of this.stmts.entriesSince.all(change, upTo) as { sku: string; replica: string; p: number; n: number }[]) {
      d.entries.push({ store, sku: r.sku as Sku, replica: r.replica as ReplicaId, p: r.p, n: r.n });
    }
    for (const r of this.stmts.transfersSince.all(change, upTo) as {
      sku: string;
      from_replica: string;
      to_replica: string;
      amount: number;
    }[]) {
      d.transfers.push({ store, sku: r.sku as Sku, from: r.from_replica as ReplicaId, to: r.to_replica as ReplicaId, amount: r.amount });
    }
    for (const r of this.stmts.reservationsSince.all(change, upTo) as {
      id: string;
      sku: string;
      owner: string;
      qty: number;
      expires_at: number;
      status: string;
    }[]) {
      d.reservations.push({
        id: r.id as ReservationId,
        store,
        sku: r.sku as Sku,
        owner: r.owner as ReplicaId,
        qty: r.qty,
        expiresAt: r.expires_at,
        status: r.status as ReservationStatus,
      });
    }
    return d;
  }

  catalog(): CatalogItem[] {
    return (this.stmts.catalogAll.all() as CatalogRow[]).map(rowToCatalog);
  }

  catalogItem(sku: Sku): CatalogItem | undefined {
    const row = this.stmts.catalogOne.get(sku) as CatalogRow | undefined;
    return row ? rowToCatalog(row) : undefined;
  }

  upsertCatalog(items: readonly CatalogItem[]): void {
    this.transaction(() => {
      for (const item of items) this.stmts.catalogUpsert.run(item);
    });
  }

  syncValue(key: string): number {
    return (this.stmts.syncGet.get(key) as { value: number } | undefined)?.value ?? 0;
  }

  setSyncValue(key: string, value: number): void {
    this.stmts.syncSet.run(key, value);
  }

  allocationPolicy(): string | null {
    return (this.db.prepare('SELECT policy FROM allocation_policy WHERE id = 1').get() as { policy: string } | undefined)?.policy ?? null;
  }

  saveAllocationPolicy(policy: string, at: number): void {
    this.db
      .prepare('INSERT INTO allocation_policy (id, policy, received_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, received_at = excluded.received_at')
      .run(policy, at);
  }

  yjsUpdates(doc: string): { id: number; update: Uint8Array }[] {
    const rows = this.db.prepare('SELECT id, update_ FROM yjs_updates WHERE doc = ? ORDER BY id').all(doc) as { id: number; update_: Buffer }[];
    return rows.map((r) => ({ id: r.id, update: new Uint8Array(r.update_) }));
  }

  appendYjsUpdate(doc: string, update: Uint8Array, at: number): void {
    this.db.prepare('INSERT INTO yjs_updates (doc, update_, at) VALUES (?, ?, ?)').run(doc, Buffer.from(update), at);
  }

  compactYjs(doc: string, throughId: number, merged: Uint8Array, at: number): void {
    this.transaction(() => {
      this.db.prepare('DELETE FROM yjs_updates WHERE doc = ? AND id <= ?').run(doc, throughId);
      this.appendYjsUpdate(doc, merged, at);
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
    this.wal.closing = true;
    this.wal.closeIfIdle();
  }
}

/**
 * A descriptor of the database's WAL file, for syncToDisk: fsync on any
 * descriptor of a file flushes all of it (Linux, macOS). SQLite creates the
 * WAL at the first write and deletes it only when the last connection closes
 * (after checkpointing it into the synced database file); open() follows a
 * new file by its inode, and fsyncs the folder once per new file so its
 * directory entry survives a power cut too.
 */
class WalFile {
  private fd: number | null = null;
  private ino = -1;
  /** Descriptors of WAL files SQLite has replaced, closed once no fsync uses them. */
  private retired: number[] = [];
  /** fsyncs in progress: descriptors are closed only when none is. */
  busy = 0;
  closing = false;

  constructor(private readonly path: string) {}

  /** The descriptor of the current WAL file; null when there is none (nothing left to sync). */
  open(): number | null {
    if (this.closing) throw new Error('the store is closed');
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (st === undefined) return null;
    if (this.fd !== null && st.ino === this.ino) return this.fd;
    if (this.fd !== null) this.retired.push(this.fd);
    this.fd = openSync(this.path, 'r');
    this.ino = fstatSync(this.fd).ino;
    const dir = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    this.closeIfIdle();
    return this.fd;
  }

  closeIfIdle(): void {
    if (this.busy > 0) return;
    for (const fd of this.retired) closeSync(fd);
    this.retired = [];
    if (this.closing && this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

interface CatalogRow {
  sku: string;
  name: string;
  price_cents: number | null;
  low_stock_threshold: number;
  safety_stock: number;
  updated_at: number;
}

function rowToCatalog(r: CatalogRow): CatalogItem {
  return {
    sku: r.sku as Sku,
    name: r.name,
    priceCents: r.price_cents,
    lowStockThreshold: r.low_stock_threshold,
    safetyStock: r.safety_stock,
    updatedAt: r.updated_at,
  };
}

function rowToEvent(r: EventRow, identity: Identity): InventoryEvent {
  const e: InventoryEvent = {
    id: r.id as EventId,
    store: identity.store,
    replica: identity.replica,
    seq: r.seq,
    type: r.type as EventType,
    sku: r.sku as Sku,
    qty: r.qty,
    at: r.at,
  };
  if (r.idempotency_key !== null) e.idempotencyKey = r.idempotency_key;
  if (r.terminal !== null) e.terminal = r.terminal;
  if (r.reason !== null) e.reason = r.reason as AdjustmentReason;
  if (r.forced === 1) e.forced = true;
  if (r.count !== null) e.count = r.count;
  if (r.reservation_id !== null) e.reservationId = r.reservation_id as ReservationId;
  if (r.expires_at !== null) e.expiresAt = r.expires_at;
  if (r.to_replica !== null) e.to = r.to_replica as ReplicaId;
  return e;
}

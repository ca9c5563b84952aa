import {
  statusRank,
  type CounterEntry,
  type Delta,
  type InventoryEvent,
  type ReplicaId,
  type ReservationRecord,
  type StoreId,
  type TransferEntry,
} from '@scoville/crdt-inventory';
import { writeCommitRecords } from './sql-selling-store.js';
import { COMMIT_LOCK_KEY } from '../db/migrations.js';
import { copyText, runHot, type SqlClient, type SqlTx } from '../db/sql-client.js';
import { chunks, columnsOf } from '../db/unnest.js';
import type { CommitItem, CommitResult, InventoryStore, LoadedHubState, SyncPosition } from './inventory-store.js';

/** The NOTIFY channel carrying each commit's change id. */
export const CHANGES_CHANNEL = 'scoville_changes';

export interface SqlInventoryStoreOptions {
  /** Rows per INSERT statement in `commit` (default 20,000). */
  chunkRows?: number;
  /** Rows per SELECT page in `loadState` (default 50,000). */
  pageRows?: number;
  /** Clock for received_at (default Date.now). */
  now?: () => number;
  /**
   * Events go in with COPY where the client has it (PostgreSQL; default
   * true); a commit that brings an event already stored falls back to
   * INSERT ... ON CONFLICT DO NOTHING. False: always the INSERT.
   */
  copyEvents?: boolean;
  /** COPY only commits of at least this many events (default 500; fewer go in by INSERT, one round trip instead of two). */
  copyMinEvents?: number;
  /** How long change_log keeps a commit's counter entries for other hub processes (default 5 min). */
  changeLogKeepMs?: number;
  /** Every this many change ids, a commit also prunes change_log (one more statement, under the lock; default 256). */
  changeLogPruneEvery?: number;
}

const STATUS_RANK_SQL = (col: string): string =>
  `(CASE ${col} WHEN 'active' THEN 0 WHEN 'expired' THEN 1 WHEN 'released' THEN 2 ELSE 3 END)`;

/** `$first, $first+1, ...` typed as `types`, for `unnest(...)`. */
const arrays = (first: number, types: readonly string[]): string => types.map((t, i) => `$${first + i}::${t}[]`).join(', ');

/*
 * The statements a commit runs under the change-id lock. Each takes its
 * column arrays from parameter `first` on, and the change id from a CTE
 * named `change` (CHANGE_ID; see writeChange, which joins them into one WITH
 * statement).
 */
const CHANGE_ID = '(SELECT id FROM change)';
const UPSERT_COUNTERS = (first: number): string => `
  INSERT INTO counter_entries AS t (store_id, sku, replica_id, p, n, change_id)
  SELECT u.s, u.k, u.r, u.p, u.n, ${CHANGE_ID}
  FROM unnest(${arrays(first, ['text', 'text', 'text', 'int8', 'int8'])}) AS u(s, k, r, p, n)
  ON CONFLICT (store_id, sku, replica_id) DO UPDATE
    SET p = GREATEST(t.p, EXCLUDED.p), n = GREATEST(t.n, EXCLUDED.n), change_id = EXCLUDED.change_id
    WHERE EXCLUDED.p > t.p OR EXCLUDED.n > t.n
  RETURNING store_id, sku, replica_id, p, n`;
const COUNTER_FIELDS: readonly ((e: CounterEntry) => unknown)[] = [(e) => e.store, (e) => e.sku, (e) => e.replica, (e) => e.p, (e) => e.n];

const UPSERT_TRANSFERS = (first: number): string => `
  INSERT INTO transfers AS t (store_id, sku, from_replica, to_replica, amount, change_id)
  SELECT u.s, u.k, u.f, u.o, u.a, ${CHANGE_ID}
  FROM unnest(${arrays(first, ['text', 'text', 'text', 'text', 'int8'])}) AS u(s, k, f, o, a)
  ON CONFLICT (store_id, sku, from_replica, to_replica) DO UPDATE
    SET amount = EXCLUDED.amount, change_id = EXCLUDED.change_id
    WHERE EXCLUDED.amount > t.amount`;
const TRANSFER_FIELDS: readonly ((t: TransferEntry) => unknown)[] = [(t) => t.store, (t) => t.sku, (t) => t.from, (t) => t.to, (t) => t.amount];

const UPSERT_RESERVATIONS = (first: number): string => `
  INSERT INTO reservations AS t (store_id, id, sku, owner, qty, expires_at, status, change_id)
  SELECT u.s, u.i, u.k, u.o, u.q, u.e, u.st, ${CHANGE_ID}
  FROM unnest(${arrays(first, ['text', 'text', 'text', 'text', 'int8', 'int8', 'text'])}) AS u(s, i, k, o, q, e, st)
  ON CONFLICT (store_id, owner, id) DO UPDATE
    SET status = EXCLUDED.status, change_id = EXCLUDED.change_id
    WHERE ${STATUS_RANK_SQL('EXCLUDED.status')} > ${STATUS_RANK_SQL('t.status')}
      -- only the owner moves its record: a record under the same id that
      -- differs in who or what it holds is someone else's, and is ignored
      AND t.owner = EXCLUDED.owner AND t.sku = EXCLUDED.sku AND t.qty = EXCLUDED.qty AND t.expires_at = EXCLUDED.expires_at`;
const RESERVATION_FIELDS: readonly ((r: ReservationRecord) => unknown)[] = [
  (r) => r.store,
  (r) => r.id,
  (r) => r.sku,
  (r) => r.owner,
  (r) => r.qty,
  (r) => r.expiresAt,
  (r) => r.status,
];

const UPSERT_POSITIONS = (first: number): string => `
  INSERT INTO sync_positions AS t (replica_id, store_id, last_event_seq, last_batch_at)
  SELECT * FROM unnest(${arrays(first, ['text', 'text', 'int8', 'int8'])})
  ON CONFLICT (replica_id) DO UPDATE
    SET last_event_seq = GREATEST(t.last_event_seq, EXCLUDED.last_event_seq),
        last_batch_at = GREATEST(t.last_batch_at, EXCLUDED.last_batch_at)`;
const POSITION_FIELDS: readonly ((p: Position) => unknown)[] = [(p) => p.replica, (p) => p.store, (p) => p.seq, (p) => p.at];

/** The export's per-commit row; $first is received_at, $first+1 the number of events stored. */
const INSERT_EVENT_COMMIT = (first: number): string => `
  INSERT INTO event_commits (change_id, tx, at, events) VALUES (${CHANGE_ID}, pg_current_xact_id()::text::bigint, $${first}, $${first + 1})`;

/**
 * Takes the change-id lock, then the next change id. The OFFSET 0 keeps the
 * subquery from being flattened, so its row (the lock) exists before the
 * outer projection (nextval) is computed. As the `change` CTE of the
 * commit's one statement (MATERIALIZED: evaluated once), the lock is taken
 * after that statement's snapshot; its upserts are all ON CONFLICT, which in
 * READ COMMITTED act on the latest committed row whatever the snapshot, and
 * its inserts are of rows keyed by the new change id.
 */
const NEXT_CHANGE_ID = `SELECT nextval('hub_change_seq') AS id FROM (SELECT pg_advisory_xact_lock(${COMMIT_LOCK_KEY}) OFFSET 0) AS locked`;

/** Below this many events a commit INSERTs them (one round trip) rather than COPY (two, cheaper per row). */
const COPY_MIN_EVENTS = 500;

export const EVENT_COLUMNS =
  'store_id, event_id, replica_id, seq, type, sku, qty, at, idempotency_key, terminal, reason, forced, count, reservation_id, expires_at, to_replica';

const INSERT_EVENTS = `
  WITH ins AS (
    INSERT INTO events (${EVENT_COLUMNS}, received_at)
    SELECT u.*, $17::int8
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::int8[], $8::int8[],
                $9::text[], $10::text[], $11::text[], $12::bool[], $13::int8[], $14::text[], $15::int8[], $16::text[]) AS u
    ON CONFLICT DO NOTHING
    RETURNING 1
  )
  SELECT count(*)::int4 AS n FROM ins`;

/**
 * Highest change id of any stored entry, in the caller's snapshot. Counter
 * changes are in change_log (or at or below its floor); transfers and
 * reservations carry an indexed change id.
 */
const MAX_CHANGE_ID = `
  SELECT COALESCE(GREATEST(
    (SELECT max(change_id) FROM change_log),
    (SELECT floor FROM change_log_floor),
    (SELECT max(change_id) FROM transfers),
    (SELECT max(change_id) FROM reservations)), 0) AS id`;

/**
 * Counter rows (store_id, sku, replica_id, p, n) as ONE text value, `store
 * sku replica p n` per entry, all space-separated (ids never contain a
 * space, see isValidId); NULL for no rows. decodeCounterPage reads it back.
 */
const ENTRIES_TEXT = `string_agg(store_id || ' ' || sku || ' ' || replica_id || ' ' || p || ' ' || n, ' ')`;

/** What a counter upsert's RETURNING (the CTE `from`) changed, as ENTRIES_TEXT. */
const CHANGED_TEXT = (from: string): string => `(SELECT ${ENTRIES_TEXT} FROM ${from})`;

/**
 * The counter entries this commit changed, for change_log: $first is
 * received_at, $first+1 what earlier chunks changed (or NULL).
 */
const INSERT_CHANGE_LOG = (first: number): string => `
  INSERT INTO change_log (change_id, at, counters)
  SELECT ${CHANGE_ID}, $${first}, x.t FROM (SELECT concat_ws(' ', $${first + 1}::text, ${CHANGED_TEXT('counters')}) AS t) AS x WHERE x.t <> ''`;

/**
 * Drops change_log rows older than $first and raises the floor to the
 * highest id dropped (under the change-id lock: every lower id is committed).
 */
const PRUNE_CHANGE_LOG = (first: number): string => `
  WITH gone AS (DELETE FROM change_log WHERE at < $${first} RETURNING change_id)
  UPDATE change_log_floor SET floor = GREATEST(floor, (SELECT max(change_id) FROM gone))
  WHERE EXISTS (SELECT 1 FROM gone)`;

/**
 * A keyset page of counter entries (after ($2, $3, $4) in primary-key order)
 * as one text value: `store sku replica p n` per entry, all space-separated
 * (ids never contain a space, see isValidId), in no particular order.
 */
const COUNTER_PAGE = (after: boolean): string => `
  SELECT ${ENTRIES_TEXT} AS page
  FROM (SELECT store_id, sku, replica_id, p, n FROM counter_entries
        ${after ? 'WHERE (store_id, sku, replica_id) > ($2, $3, $4)' : ''}
        ORDER BY store_id, sku, replica_id LIMIT $1) AS x`;

/**
 * COUNTER_PAGE's text as entries, and the page's greatest key (the next page
 * starts after it; ids are ASCII, so JS string order is the "C" collation's).
 * Scanned in place rather than split: an id equal to the previous entry's
 * (the same store, the two replicas of a counter) is reused, not copied, so
 * a million counters load with a fraction of the garbage.
 */
function decodeCounterPage(text: string): { entries: CounterEntry[]; last: [string, string, string] } {
  const entries: CounterEntry[] = [];
  let at = 0;
  const bad = (): Error => new Error(`malformed counter page at ${at}: ${JSON.stringify(text.slice(at, at + 60))}`);
  const id = (prev: string, other = ''): string => {
    const end = text.indexOf(' ', at);
    if (end <= at) throw bad();
    const len = end - at;
    const v = len === prev.length && text.startsWith(prev, at) ? prev : len === other.length && text.startsWith(other, at) ? other : text.slice(at, end);
    at = end + 1;
    return v;
  };
  const count = (): number => {
    const from = at;
    let v = 0;
    for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at)) v = v * 10 + (c - 48);
    if (at === from || (at < text.length && text.charCodeAt(at) !== 32)) throw bad();
    at++;
    return v;
  };
  let store = '';
  let sku = '';
  let replica = '';
  let before = '';
  let [ls, lk, lr] = ['', '', ''];
  while (at < text.length) {
    store = id(store);
    sku = id(sku);
    const r = id(replica, before);
    if (r !== replica) {
      before = replica;
      replica = r;
    }
    entries.push({ store: store as StoreId, sku: sku as CounterEntry['sku'], replica: replica as ReplicaId, p: count(), n: count() });
    if (store > ls || (store === ls && (sku > lk || (sku === lk && replica > lr)))) [ls, lk, lr] = [store, sku, replica];
  }
  return { entries, last: [ls, lk, lr] };
}

interface TransferRow {
  store_id: string;
  sku: string;
  from_replica: string;
  to_replica: string;
  amount: number;
  change_id: number;
}
interface ReservationRow {
  store_id: string;
  id: string;
  sku: string;
  owner: string;
  qty: number;
  expires_at: number;
  status: ReservationRecord['status'];
  change_id: number;
}
export interface EventRow {
  store_id: string;
  event_id: string;
  replica_id: string;
  seq: number;
  type: InventoryEvent['type'];
  sku: string;
  qty: number;
  at: number;
  idempotency_key: string | null;
  terminal: string | null;
  reason: NonNullable<InventoryEvent['reason']> | null;
  forced: boolean;
  count: number | null;
  reservation_id: string | null;
  expires_at: number | null;
  to_replica: string | null;
}

const toTransfer = (r: TransferRow): TransferEntry => ({
  store: r.store_id as StoreId,
  sku: r.sku as TransferEntry['sku'],
  from: r.from_replica as ReplicaId,
  to: r.to_replica as ReplicaId,
  amount: r.amount,
});
const toReservation = (r: ReservationRow): ReservationRecord => ({
  id: r.id as ReservationRecord['id'],
  store: r.store_id as StoreId,
  sku: r.sku as ReservationRecord['sku'],
  owner: r.owner as ReplicaId,
  qty: r.qty,
  expiresAt: r.expires_at,
  status: r.status,
});

export function toEvent(r: EventRow): InventoryEvent {
  const e: InventoryEvent = {
    id: r.event_id as InventoryEvent['id'],
    store: r.store_id as StoreId,
    replica: r.replica_id as ReplicaId,
    seq: r.seq,
    type: r.type,
    sku: r.sku as InventoryEvent['sku'],
    qty: r.qty,
    at: r.at,
  };
  if (r.idempotency_key !== null) e.idempotencyKey = r.idempotency_key;
  if (r.terminal !== null) e.terminal = r.terminal;
  if (r.reason !== null) e.reason = r.reason;
  if (r.forced) e.forced = true;
  if (r.count !== null) e.count = r.count;
  if (r.reservation_id !== null) e.reservationId = r.reservation_id as InventoryEvent['reservationId'];
  if (r.expires_at !== null) e.expiresAt = r.expires_at;
  if (r.to_replica !== null) e.to = r.to_replica as ReplicaId;
  return e;
}

interface Position {
  replica: ReplicaId;
  store: StoreId;
  seq: number;
  at: number;
}

/** All items of one commit, merged so that each primary key appears once. */
interface Coalesced {
  entries: Map<string, CounterEntry>;
  transfers: Map<string, TransferEntry>;
  reservations: Map<string, ReservationRecord>;
  events: Map<string, InventoryEvent>;
  positions: Map<ReplicaId, Position>;
}

// Ids never contain a space (see isValidId), so it separates key parts.
function coalesce(items: readonly CommitItem[]): Coalesced {
  const c: Coalesced = { entries: new Map(), transfers: new Map(), reservations: new Map(), events: new Map(), positions: new Map() };
  for (const item of items) {
    for (const e of item.delta.entries) {
      if (e.p === 0 && e.n === 0) continue; // absent and zero are the same entry
      const key = `${e.store} ${e.sku} ${e.replica}`;
      const had = c.entries.get(key);
      if (had === undefined) c.entries.set(key, { store: e.store, sku: e.sku, replica: e.replica, p: e.p, n: e.n });
      else {
        if (e.p > had.p) had.p = e.p;
        if (e.n > had.n) had.n = e.n;
      }
    }
    for (const t of item.delta.transfers) {
      if (t.amount <= 0) continue;
      const key = `${t.store} ${t.sku} ${t.from} ${t.to}`;
      const had = c.transfers.get(key);
      if (had === undefined) c.transfers.set(key, { ...t });
      else if (t.amount > had.amount) had.amount = t.amount;
    }
    for (const r of item.delta.reservations) {
      const key = `${r.store} ${r.owner} ${r.id}`;
      const had = c.reservations.get(key);
      if (had === undefined || statusRank(r.status) > statusRank(had.status)) c.reservations.set(key, r);
    }
    for (const ev of item.events) {
      const key = `${ev.store} ${ev.id}`;
      if (!c.events.has(key)) c.events.set(key, ev);
    }
    if (item.from !== undefined) {
      const { replica, store, at } = item.from;
      let seq = 0;
      for (const ev of item.events) if (ev.replica === replica && ev.seq > seq) seq = ev.seq;
      const had = c.positions.get(replica);
      if (had === undefined) c.positions.set(replica, { replica, store, seq, at });
      else {
        if (seq > had.seq) had.seq = seq;
        if (at > had.at) had.at = at;
      }
    }
  }
  return c;
}

/**
 * InventoryStore over any SqlClient: the same SQL on PostgreSQL and PGlite.
 *
 * `commit` serialises on a transaction-scoped advisory lock and takes the
 * change id under it, so commits become visible in change-id order across
 * every process sharing the database.
 */
export class SqlInventoryStore implements InventoryStore {
  private readonly chunkRows: number;
  private readonly pageRows: number;
  private readonly now: () => number;
  private readonly copyEvents: boolean;
  private readonly copyMinEvents: number;
  private readonly changeLogKeepMs: number;
  private readonly pruneEvery: number;

  /** Subscribers of this instance, sharing one LISTEN. */
  private readonly subscribers = new Set<(changeId: number) => void>();
  private unlisten: (() => Promise<void>) | null = null;
  private listening: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly db: SqlClient,
    opts: SqlInventoryStoreOptions = {},
  ) {
    this.chunkRows = Math.max(1, opts.chunkRows ?? 20_000);
    this.pageRows = Math.max(1, opts.pageRows ?? 50_000);
    this.now = opts.now ?? Date.now;
    this.copyEvents = opts.copyEvents ?? true;
    this.copyMinEvents = opts.copyMinEvents ?? COPY_MIN_EVENTS;
    this.changeLogKeepMs = opts.changeLogKeepMs ?? 5 * 60_000;
    this.pruneEvery = Math.max(1, opts.changeLogPruneEvery ?? 256);
  }

  // ---------------------------------------------------------------- commit

  async commit(items: readonly CommitItem[]): Promise<CommitResult> {
    const c = coalesce(items);
    const events = [...c.events.values()];
    const records = items.flatMap((i) => (i.records ? [i.records] : []));
    const receivedAt = this.now();
    const attempt = (copy: boolean): Promise<CommitResult> =>
      this.db.transaction(async (tx) => {
        // Events first, before the lock: they carry no change id, so two hub
        // commits (or two processes) insert their events in parallel and only
        // the entry upserts below are serialised.
        const eventsInserted = await this.storeEvents(tx, events, receivedAt, copy);
        const changeId = await this.writeChange(tx, c, receivedAt, eventsInserted);
        // The selling path's records (stored answers, carts) after the lock: two
        // processes writing the same keys take turns instead of risking a deadlock.
        if (records.length > 0) await writeCommitRecords(tx, records);
        return { changeId, eventsInserted };
      });
    if (!this.copyEvents || events.length < this.copyMinEvents) return attempt(false);
    try {
      return await attempt(true);
    } catch (err) {
      // A resent event (already stored, or being stored by a concurrent
      // commit) failed the COPY and with it the transaction, which rolled
      // back whole: do it again with INSERT ... ON CONFLICT DO NOTHING.
      if (!(err instanceof DuplicateInCopy)) throw err;
      return attempt(false);
    }
  }

  /**
   * Stores events exactly once; resolves to how many were new. With `copy`,
   * COPY (all or nothing, no ON CONFLICT; cheaper, no savepoint round trips):
   * a duplicate fails it with DuplicateInCopy, and the caller starts over
   * without it. Otherwise INSERT ... ON CONFLICT DO NOTHING, which skips the
   * duplicates and checks that they match.
   */
  private async storeEvents(tx: SqlTx, events: readonly InventoryEvent[], receivedAt: number, copy: boolean): Promise<number> {
    if (events.length === 0) return 0;
    let n = 0;
    const copyFrom = copy ? tx.copyFrom?.bind(tx) : undefined;
    if (copyFrom !== undefined) {
      try {
        for (const part of chunks(events, this.chunkRows)) n += await copyFrom(COPY_EVENTS, eventsCopyData(part, receivedAt));
        return n;
      } catch (err) {
        throw (err as { code?: unknown }).code === UNIQUE_VIOLATION ? new DuplicateInCopy(err) : err;
      }
    }
    for (const part of chunks(events, this.chunkRows)) n += await insertEvents(tx, part, receivedAt);
    return n;
  }

  /**
   * Everything of a commit that takes its change id, in ONE statement (a
   * round trip is a turn of a busy event loop, and this runs under the
   * change-id lock): the lock and the id (NEXT_CHANGE_ID, held until COMMIT:
   * the next commit takes its change id only after this one is visible, so
   * readers never see id k+1 without id k), the entry upserts, the
   * change_log and event_commits rows, the replicas' positions and the
   * NOTIFY. Rows beyond one chunk per table (a very large commit) go first,
   * in statements of their own, after the id was taken by itself.
   */
  private async writeChange(tx: SqlTx, c: Coalesced, receivedAt: number, eventsInserted: number): Promise<number> {
    const counters = chunked('counters', UPSERT_COUNTERS, [...c.entries.values()], COUNTER_FIELDS, this.chunkRows);
    const kinds = [
      counters,
      chunked('transfers', UPSERT_TRANSFERS, [...c.transfers.values()], TRANSFER_FIELDS, this.chunkRows),
      chunked('reservations', UPSERT_RESERVATIONS, [...c.reservations.values()], RESERVATION_FIELDS, this.chunkRows),
      chunked('positions', UPSERT_POSITIONS, [...c.positions.values()], POSITION_FIELDS, this.chunkRows),
    ];
    const params: unknown[] = [CHANGES_CHANNEL];
    let change = NEXT_CHANGE_ID;
    let changedBefore: string | null = null;
    if (kinds.some((k) => k.overflow.length > 0)) {
      const [row] = await tx.query<{ id: number }>(NEXT_CHANGE_ID);
      if (row === undefined) throw new Error('nextval returned no row');
      const texts: string[] = [];
      for (const k of kinds) {
        for (const columns of k.overflow) {
          // What a counter chunk changed comes back as text, for the change_log row.
          const sql = k === counters ? `, counters AS (${k.sql(2)}) SELECT ${CHANGED_TEXT('counters')} AS t` : ` ${k.sql(2)}`;
          const [out] = await tx.query<{ t?: string | null }>(`WITH change AS (SELECT $1::int8 AS id)${sql}`, [row.id, ...columns]);
          if (typeof out?.t === 'string') texts.push(out.t);
        }
      }
      if (texts.length > 0) changedBefore = texts.join(' ');
      change = `SELECT $${params.push(row.id)}::int8 AS id`;
    }
    const ctes = [`change AS MATERIALIZED (${change})`];
    for (const k of kinds) {
      if (k.last === null) continue;
      ctes.push(`${k.name} AS (${k.sql(params.length + 1)})`);
      params.push(...k.last);
    }
    if (counters.last !== null) {
      ctes.push(`log AS (${INSERT_CHANGE_LOG(params.length + 1)})`);
      params.push(receivedAt, changedBefore);
    }
    if (eventsInserted > 0) {
      // The export's log (store/export-store.ts): this commit's events, found by
      // this transaction's id, in change-id order (the row is written under the lock).
      ctes.push(`commits AS (${INSERT_EVENT_COMMIT(params.length + 1)})`);
      params.push(receivedAt, eventsInserted);
    }
    // The NOTIFY is delivered to listeners when (and only if) this transaction commits.
    const sql = `WITH ${ctes.join(',\n')}\nSELECT id, pg_notify($1, id::text) FROM change`;
    const [row] = await runHot<{ id: number }>(tx, sql, params);
    if (row === undefined) throw new Error('the commit statement returned no change id');
    if (row.id % this.pruneEvery === 0) await tx.query(PRUNE_CHANGE_LOG(1), [receivedAt - this.changeLogKeepMs]);
    return row.id;
  }

  // ---------------------------------------------------------------- reads of the state

  async loadState(onPage?: (page: Delta) => void): Promise<LoadedHubState> {
    return this.snapshot(async (tx) => {
      const all: Delta = { entries: [], transfers: [], reservations: [] };
      // With onPage each page is folded in by the caller as soon as it is read, so
      // its rows die young: no second copy of the whole state (rows + delta) at the peak.
      const take =
        onPage ??
        ((page: Delta): void => {
          for (const e of page.entries) all.entries.push(e);
          for (const t of page.transfers) all.transfers.push(t);
          for (const r of page.reservations) all.reservations.push(r);
        });
      await this.counterPages(tx, (entries) => take({ entries, transfers: [], reservations: [] }));
      // Keyset pages in primary-key order: bounded result sets however many rows.
      await this.pages<TransferRow>(
        tx,
        'SELECT store_id, sku, from_replica, to_replica, amount, change_id FROM transfers',
        ['store_id', 'sku', 'from_replica', 'to_replica'],
        (rows) => take({ entries: [], transfers: rows.map(toTransfer), reservations: [] }),
      );
      await this.pages<ReservationRow>(
        tx,
        'SELECT store_id, id, sku, owner, qty, expires_at, status, change_id FROM reservations',
        ['store_id', 'owner', 'id'],
        (rows) => take({ entries: [], transfers: [], reservations: rows.map(toReservation) }),
      );
      const [max] = await tx.query<{ id: number }>(MAX_CHANGE_ID);
      return { delta: all, changeId: max?.id ?? 0 };
    });
  }

  async changesSince(changeId: number): Promise<LoadedHubState> {
    return this.snapshot(async (tx) => {
      let max = changeId;
      const seen = (r: { change_id: number }): void => {
        if (r.change_id > max) max = r.change_id;
      };
      const delta: Delta = { entries: [], transfers: [], reservations: [] };
      const [floor] = await tx.query<{ floor: number }>('SELECT floor FROM change_log_floor');
      if (floor === undefined || changeId < floor.floor) {
        // Behind what change_log still holds: every counter (max-merge makes it a valid delta).
        await this.counterPages(tx, (entries) => {
          for (const e of entries) delta.entries.push(e);
        });
        const [all] = await tx.query<{ id: number }>(MAX_CHANGE_ID);
        if (all !== undefined && all.id > max) max = all.id;
      } else {
        const logged = await tx.query<{ change_id: number; counters: string }>(
          'SELECT change_id, counters FROM change_log WHERE change_id > $1 ORDER BY change_id',
          [changeId],
        );
        // Rows in change-id order, and values only grow: the last one of a key is its greatest.
        const latest = new Map<string, CounterEntry>();
        for (const r of logged) {
          seen(r);
          for (const e of decodeCounterPage(r.counters).entries) latest.set(`${e.store} ${e.sku} ${e.replica}`, e);
        }
        for (const e of latest.values()) delta.entries.push(e);
      }
      const transfers = await tx.query<TransferRow>(
        'SELECT store_id, sku, from_replica, to_replica, amount, change_id FROM transfers WHERE change_id > $1',
        [changeId],
      );
      const reservations = await tx.query<ReservationRow>(
        'SELECT store_id, id, sku, owner, qty, expires_at, status, change_id FROM reservations WHERE change_id > $1',
        [changeId],
      );
      for (const r of transfers) {
        seen(r);
        delta.transfers.push(toTransfer(r));
      }
      for (const r of reservations) {
        seen(r);
        delta.reservations.push(toReservation(r));
      }
      return { delta, changeId: max };
    });
  }

  /** Runs reads in one REPEATABLE READ snapshot (entries and change id agree). */
  private snapshot<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      return fn(tx);
    });
  }

  /**
   * Every counter entry, in keyset pages of `pageRows`, each page ONE text
   * value (COUNTER_PAGE): decoding a million counters' rows field by field was
   * most of the hub's start-up (bench/scale.ts). The next page is read by
   * Postgres while `each` folds in the current one.
   */
  private async counterPages(tx: SqlTx, each: (entries: CounterEntry[]) => void): Promise<void> {
    let pending = tx.query<{ page: string | null }>(COUNTER_PAGE(false), [this.pageRows]);
    for (;;) {
      const [row] = await pending;
      if (row?.page == null) return;
      const { entries, last } = decodeCounterPage(row.page);
      const more = entries.length >= this.pageRows;
      if (more) pending = tx.query<{ page: string | null }>(COUNTER_PAGE(true), [this.pageRows, ...last]);
      try {
        each(entries);
      } catch (e) {
        if (more) await pending.catch(() => undefined);
        throw e;
      }
      if (!more) return;
    }
  }

  private async pages<R extends object>(tx: SqlTx, select: string, key: readonly (keyof R & string)[], each: (rows: R[]) => void): Promise<void> {
    const order = key.join(', ');
    const next = `${select} WHERE (${order}) > (${key.map((_, i) => `$${i + 1}`).join(', ')}) ORDER BY ${order} LIMIT $${key.length + 1}`;
    let rows = await tx.query<R>(`${select} ORDER BY ${order} LIMIT $1`, [this.pageRows]);
    for (;;) {
      if (rows.length > 0) each(rows);
      const last = rows[rows.length - 1];
      if (rows.length < this.pageRows || last === undefined) return;
      rows = await tx.query<R>(next, [...key.map((k) => last[k]), this.pageRows]);
    }
  }

  // ---------------------------------------------------------------- replicas' streams and events

  async syncPosition(replica: ReplicaId): Promise<SyncPosition | null> {
    const [row] = await this.db.query<{ replica_id: string; store_id: string; last_event_seq: number; last_batch_at: number | null }>(
      'SELECT replica_id, store_id, last_event_seq, last_batch_at FROM sync_positions WHERE replica_id = $1',
      [replica],
    );
    if (row === undefined) return null;
    return {
      replica: row.replica_id as ReplicaId,
      store: row.store_id as StoreId,
      lastEventSeq: row.last_event_seq,
      lastBatchAt: row.last_batch_at,
    };
  }

  async eventCount(store?: StoreId): Promise<number> {
    const [row] =
      store === undefined
        ? await this.db.query<{ n: number }>('SELECT count(*) AS n FROM events')
        : await this.db.query<{ n: number }>('SELECT count(*) AS n FROM events WHERE store_id = $1', [store]);
    return row?.n ?? 0;
  }

  async events(store: StoreId, after: { replica: string; seq: number } | null, limit: number): Promise<InventoryEvent[]> {
    const rows =
      after === null
        ? await this.db.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events WHERE store_id = $1 ORDER BY replica_id, seq LIMIT $2`,
            [store, limit],
          )
        : await this.db.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events
             WHERE store_id = $1 AND (store_id, replica_id, seq) > ($1, $2, $3)
             ORDER BY replica_id, seq LIMIT $4`,
            [store, after.replica, after.seq, limit],
          );
    return rows.map(toEvent);
  }

  // ---------------------------------------------------------------- change notifications

  async subscribe(onChange: (changeId: number) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('store closed');
    this.subscribers.add(onChange);
    try {
      await this.ensureListening();
    } catch (err) {
      this.subscribers.delete(onChange);
      throw err;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      this.subscribers.delete(onChange);
      if (this.subscribers.size === 0) await this.stopListening();
    };
  }

  private ensureListening(): Promise<void> {
    if (this.unlisten !== null) return Promise.resolve();
    this.listening ??= (async () => {
      try {
        this.unlisten = await this.db.listen(CHANGES_CHANNEL, (payload) => this.notified(payload), {
          onReconnect: () => void this.caughtUp(),
        });
      } finally {
        this.listening = null;
      }
    })();
    return this.listening;
  }

  private async stopListening(): Promise<void> {
    if (this.listening) await this.listening.catch(() => undefined);
    // Someone subscribed again meanwhile: keep listening for them.
    if (this.subscribers.size > 0) return;
    const off = this.unlisten;
    this.unlisten = null;
    if (off !== null) await off();
  }

  private notified(payload: string): void {
    const id = Number(payload);
    if (Number.isSafeInteger(id)) this.emit(id);
  }

  /** After a lost LISTEN connection: report the latest change id so subscribers catch up. */
  private async caughtUp(): Promise<void> {
    try {
      const [row] = await this.db.query<{ id: number }>(MAX_CHANGE_ID);
      this.emit(row?.id ?? 0);
    } catch {
      // the next notification (or reconnect) will try again
    }
  }

  private emit(id: number): void {
    for (const cb of [...this.subscribers]) {
      try {
        cb(id);
      } catch {
        // a subscriber's failure is its own; the others still hear of it
      }
    }
  }

  /** Stops listening (subscribers hear nothing more). The client is its owner's to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribers.clear();
    await this.stopListening().catch(() => undefined);
  }
}

/** The INSERT_EVENTS columns, in order, as accessors of an event. */
const EVENT_FIELDS: readonly ((e: InventoryEvent) => unknown)[] = [
  (e) => e.store,
  (e) => e.id,
  (e) => e.replica,
  (e) => e.seq,
  (e) => e.type,
  (e) => e.sku,
  (e) => e.qty,
  (e) => e.at,
  (e) => e.idempotencyKey ?? null,
  (e) => e.terminal ?? null,
  (e) => e.reason ?? null,
  (e) => e.forced === true,
  (e) => e.count ?? null,
  (e) => e.reservationId ?? null,
  (e) => e.expiresAt ?? null,
  (e) => e.to ?? null,
];

/** One table's rows of a commit as `unnest` column arrays: every chunk but the last, and the last (null: no rows). */
function chunked<T>(
  name: string,
  sql: (first: number) => string,
  rows: readonly T[],
  columns: readonly ((row: T) => unknown)[],
  size: number,
): { name: string; sql: (first: number) => string; overflow: unknown[][][]; last: unknown[][] | null } {
  const parts = [...chunks(rows, size)].map((part) => columnsOf(part, columns));
  const last = parts.pop() ?? null;
  return { name, sql, overflow: parts, last };
}

const UNIQUE_VIOLATION = '23505';

/** COPY met an event already stored (or being stored): the transaction is lost, and commit starts over with INSERT. */
class DuplicateInCopy extends Error {
  constructor(cause: unknown) {
    super('an event of the COPY is already stored', { cause });
    this.name = 'DuplicateInCopy';
  }
}

const COPY_EVENTS = `COPY events (${EVENT_COLUMNS}, received_at) FROM STDIN`;

/** `part` as COPY_EVENTS's text-format rows (EVENT_FIELDS, then received_at). */
function eventsCopyData(part: readonly InventoryEvent[], receivedAt: number): string {
  const end = `\t${receivedAt}\n`;
  let out = '';
  for (const e of part) {
    for (let i = 0; i < EVENT_FIELDS.length; i++) out += (i === 0 ? '' : '\t') + copyText(EVENT_FIELDS[i]!(e) as Parameters<typeof copyText>[0]);
    out += end;
  }
  return out;
}

async function insertEvents(tx: SqlTx, part: readonly InventoryEvent[], receivedAt: number): Promise<number> {
  const params = [...columnsOf(part, EVENT_FIELDS), receivedAt];
  const [row] = await runHot<{ n: number }>(tx, INSERT_EVENTS, params);
  const inserted = row?.n ?? 0;
  if (inserted < part.length) await checkDuplicatesMatch(tx, part);
  return inserted;
}

const CONFLICTING_EVENTS = `
  SELECT e.event_id AS id FROM events e
  JOIN unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[], $7::int8[]) AS u(s, r, q, ty, k, qty, at)
    ON e.store_id = u.s AND e.replica_id = u.r AND e.seq = u.q
  WHERE e.type <> u.ty OR e.sku <> u.k OR e.qty <> u.qty OR e.at <> u.at
  LIMIT 5`;

/**
 * A resent event must be the same event. Different content under a stored
 * (store, replica, seq) means two writers share one replica id (a copied
 * data folder): refuse loudly instead of dropping one of them silently.
 */
async function checkDuplicatesMatch(tx: SqlTx, part: readonly InventoryEvent[]): Promise<void> {
  const rows = await tx.query<{ id: string }>(
    CONFLICTING_EVENTS,
    columnsOf(part, [(e) => e.store, (e) => e.replica, (e) => e.seq, (e) => e.type, (e) => e.sku, (e) => e.qty, (e) => e.at]),
  );
  if (rows.length > 0) throw new EventConflictError(rows.map((r) => r.id));
}

/** Events arrived under ids the hub already holds with different content. */
export class EventConflictError extends Error {
  readonly code = 'event_conflict';
  constructor(readonly eventIds: string[]) {
    super(`events ${eventIds.join(', ')} were already stored with different content: two writers share one replica id`);
    this.name = 'EventConflictError';
  }
}

import type { SqlClient } from '../db/sql-client.js';
import type { CommittedEvents, EventKey, ExportCursor, ExportLease, ExportState, ExportStore } from './export-store.js';
import { EVENT_COLUMNS, toEvent, type EventRow } from './sql-inventory-store.js';

interface CursorRow {
  change_id: number;
  store_id: string | null;
  replica_id: string | null;
  seq: number | null;
}

const toCursor = (r: CursorRow): ExportCursor => ({
  changeId: Number(r.change_id),
  after: r.store_id === null || r.replica_id === null || r.seq === null ? null : { store: r.store_id, replica: r.replica_id, seq: Number(r.seq) },
});

/** Log order within a commit (ids are ASCII, so JS order is the "C" collation's). */
export function compareKeys(a: EventKey, b: EventKey): number {
  if (a.store !== b.store) return a.store < b.store ? -1 : 1;
  if (a.replica !== b.replica) return a.replica < b.replica ? -1 : 1;
  return a.seq - b.seq;
}

const COMMITS_PER_READ = 1_000;

/** ExportStore over any SqlClient: the same SQL on PostgreSQL and PGlite. */
export class SqlExportStore implements ExportStore {
  constructor(private readonly db: SqlClient) {}

  async acquire(sink: string, holder: string, now: number, ttlMs: number): Promise<ExportLease | null> {
    const [row] = await this.db.query<CursorRow & { epoch: number }>(
      `INSERT INTO export_cursors AS t (sink, holder, epoch, until) VALUES ($1, $2, 1, $3::int8 + $4::int8)
       ON CONFLICT (sink) DO UPDATE SET holder = EXCLUDED.holder, epoch = t.epoch + 1, until = EXCLUDED.until
         WHERE t.holder IS NULL OR t.holder = EXCLUDED.holder OR t.until < $3::int8
       RETURNING epoch, change_id, store_id, replica_id, seq`,
      [sink, holder, now, ttlMs],
    );
    return row === undefined ? null : { sink, holder, epoch: Number(row.epoch), cursor: toCursor(row) };
  }

  async renew(lease: ExportLease, now: number, ttlMs: number): Promise<boolean> {
    const rows = await this.db.query(
      'UPDATE export_cursors SET until = $4::int8 + $5::int8 WHERE sink = $1 AND holder = $2 AND epoch = $3 RETURNING 1',
      [lease.sink, lease.holder, lease.epoch, now, ttlMs],
    );
    return rows.length > 0;
  }

  async advance(lease: ExportLease, cursor: ExportCursor, now: number, ttlMs: number): Promise<boolean> {
    const a = cursor.after;
    const rows = await this.db.query(
      `UPDATE export_cursors SET change_id = $4, store_id = $5, replica_id = $6, seq = $7, until = $8::int8 + $9::int8, updated_at = $8
       WHERE sink = $1 AND holder = $2 AND epoch = $3 RETURNING 1`,
      [lease.sink, lease.holder, lease.epoch, cursor.changeId, a?.store ?? null, a?.replica ?? null, a?.seq ?? null, now, ttlMs],
    );
    return rows.length > 0;
  }

  async release(lease: ExportLease): Promise<void> {
    await this.db.query('UPDATE export_cursors SET until = 0 WHERE sink = $1 AND holder = $2 AND epoch = $3', [lease.sink, lease.holder, lease.epoch]);
  }

  async read(cursor: ExportCursor, maxEvents: number, upTo = Number.MAX_SAFE_INTEGER): Promise<CommittedEvents[]> {
    const from = cursor.after === null ? cursor.changeId + 1 : cursor.changeId;
    const commits = await this.db.query<{ change_id: number; at: number; events: number }>(
      'SELECT change_id, at, events FROM event_commits WHERE change_id >= $1 AND change_id <= $2 ORDER BY change_id LIMIT $3',
      [from, upTo, COMMITS_PER_READ],
    );
    const ids: number[] = [];
    let n = 0;
    for (const c of commits) {
      if (ids.length > 0 && n + c.events > maxEvents) break;
      ids.push(Number(c.change_id));
      n += c.events;
    }
    if (ids.length === 0) return [];
    const rows = await this.db.query<EventRow & { change_id: number }>(
      `SELECT c.change_id, ${EVENT_COLUMNS.split(', ')
        .map((col) => `e.${col}`)
        .join(', ')}
       FROM event_commits c JOIN events e ON e.tx = c.tx AND e.received_at = c.at
       WHERE c.change_id = ANY($1::int8[])
       ORDER BY c.change_id, e.store_id, e.replica_id, e.seq`,
      [ids],
    );
    const byId = new Map<number, CommittedEvents>(
      commits.filter((c) => ids.includes(Number(c.change_id))).map((c) => [Number(c.change_id), { changeId: Number(c.change_id), at: Number(c.at), events: [] }]),
    );
    const after = cursor.after;
    for (const r of rows) {
      const id = Number(r.change_id);
      if (after !== null && id === cursor.changeId && compareKeys({ store: r.store_id, replica: r.replica_id, seq: Number(r.seq) }, after) <= 0) continue;
      byId.get(id)!.events.push(toEvent(r));
    }
    return [...byId.values()];
  }

  async state(sink: string): Promise<ExportState> {
    const [row] = await this.db.query<CursorRow & { holder: string | null; until: number; updated_at: number }>(
      'SELECT change_id, store_id, replica_id, seq, holder, until, updated_at FROM export_cursors WHERE sink = $1',
      [sink],
    );
    const cursor = row === undefined ? { changeId: 0, after: null } : toCursor(row);
    const [behind] = await this.db.query<{ n: number; oldest: number | null; head: number }>(
      `SELECT COALESCE(sum(events) FILTER (WHERE change_id > $1), 0)::int8 AS n,
              min(at) FILTER (WHERE change_id > $1) AS oldest,
              COALESCE(max(change_id), 0) AS head
       FROM event_commits WHERE change_id >= $1`,
      [cursor.changeId],
    );
    let eventsBehind = Number(behind?.n ?? 0);
    let oldest = behind?.oldest == null ? null : Number(behind.oldest);
    const a = cursor.after;
    if (a !== null) {
      // The rest of the commit the cursor stopped in.
      const [part] = await this.db.query<{ n: number; at: number | null }>(
        `SELECT count(*)::int8 AS n, min(c.at) AS at FROM event_commits c JOIN events e ON e.tx = c.tx AND e.received_at = c.at
         WHERE c.change_id = $1 AND (e.store_id, e.replica_id, e.seq) > ($2, $3, $4)`,
        [cursor.changeId, a.store, a.replica, a.seq],
      );
      if (part !== undefined && Number(part.n) > 0) {
        eventsBehind += Number(part.n);
        oldest = Number(part.at);
      }
    }
    const head = Math.max(Number(behind?.head ?? 0), 0);
    return {
      sink,
      cursor,
      holder: row?.holder ?? null,
      until: Number(row?.until ?? 0),
      updatedAt: Number(row?.updated_at ?? 0),
      head: head === 0 ? await this.head() : head,
      eventsBehind,
      oldestBehindAt: oldest,
    };
  }

  async cursorAt(at: number): Promise<ExportCursor> {
    const [row] = await this.db.query<{ id: number | null }>('SELECT min(change_id) AS id FROM event_commits WHERE at >= $1', [at]);
    const id = row?.id == null ? (await this.head()) + 1 : Number(row.id);
    return { changeId: id - 1, after: null };
  }

  async head(): Promise<number> {
    const [row] = await this.db.query<{ id: number }>('SELECT COALESCE(max(change_id), 0) AS id FROM event_commits');
    return Number(row?.id ?? 0);
  }
}

import type { ReplicaId, StoreId } from '@scoville/crdt-inventory';
import { runHot, type SqlClient, type SqlTx } from '../db/sql-client.js';
import { AnswerKeysTaken, type CartLineRow, type CartRow, type CommitRecords, type SellingStore, type StoredResponse } from './selling-store.js';

const RESPONSES = `
  INSERT INTO http_responses (scope, key, request_hash, status, body, at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])
  ON CONFLICT (scope, key) DO NOTHING
  RETURNING 1`;

const CARTS = (p: number) => `
  INSERT INTO carts (cart_id, store_id, owner, lines, expires_at, created_at)
  SELECT id, store, owner, lines::jsonb, exp, created
    FROM unnest($${p}::text[], $${p + 1}::text[], $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::bigint[], $${p + 5}::bigint[])
    AS t(id, store, owner, lines, exp, created)
  ON CONFLICT (cart_id) DO NOTHING`;

/** Both in one statement (one round trip of the commit instead of two: a hold group writes both); a row per answer stored. */
const CARTS_AND_RESPONSES = `WITH new_carts AS (${CARTS(7)}) ${RESPONSES}`;

const STORED_ANSWERS = `
  SELECT r.scope, r.key, r.request_hash, r.status, r.body, r.at
    FROM unnest($1::text[], $2::text[]) AS k(scope, key)
    JOIN http_responses r ON r.scope = k.scope COLLATE "C" AND r.key = k.key COLLATE "C"`;

/**
 * Of the answers under some keys, those another transaction stored: rows
 * carry the id of the transaction that inserted them (xmin), and this path
 * takes no savepoint, so its own rows carry the transaction's id.
 */
const TAKEN_ANSWERS = `${STORED_ANSWERS} WHERE r.xmin <> pg_current_xact_id()::xid`;

/** The answers stored under some keys (any order; keys without one left out), in one round trip. */
async function storedAnswers(db: Pick<SqlTx, 'query'>, sql: string, keys: readonly { scope: string; key: string }[]): Promise<StoredResponse[]> {
  const rows = await db.query<{ scope: string; key: string; request_hash: string; status: number; body: string; at: number }>(sql, [keys.map((k) => k.scope), keys.map((k) => k.key)]);
  return rows.map((row) => ({ scope: row.scope, key: row.key, requestHash: row.request_hash, status: row.status, body: row.body, at: row.at }));
}

/**
 * Writes a commit's records inside its transaction (called by the
 * inventory store's `commit`, under its change-id lock, so a row another
 * process stored under one of these keys is committed and visible here).
 *
 * A key is stored once. If one of these keys already holds an answer, the
 * commit must not go on: its effects (holds, sales) would be a second effect
 * of one request. It throws AnswerKeysTaken with the answers stored under
 * those keys, which rolls the whole transaction back; the seller answers
 * those requests with the stored bytes and decides the rest again. The
 * statement returns a row per answer it stored (`RETURNING 1`), so the usual
 * case costs no extra round trip; only a shortfall looks further.
 */
export async function writeCommitRecords(tx: SqlTx, records: readonly CommitRecords[]): Promise<void> {
  const responses = records.flatMap((r) => r.responses ?? []);
  const carts = records.flatMap((r) => r.carts ?? []);
  const responseColumns = [
    responses.map((r) => r.scope),
    responses.map((r) => r.key),
    responses.map((r) => r.requestHash),
    responses.map((r) => r.status),
    responses.map((r) => r.body),
    responses.map((r) => r.at),
  ];
  const cartColumns = [
    carts.map((c) => c.id),
    carts.map((c) => c.store),
    carts.map((c) => c.owner),
    carts.map((c) => JSON.stringify(c.lines)),
    carts.map((c) => c.expiresAt),
    carts.map((c) => c.createdAt),
  ];
  if (responses.length === 0) {
    if (carts.length > 0) await runHot(tx, CARTS(1), cartColumns);
    return;
  }
  // Run at every selling commit: prepared where the client has it.
  const stored = carts.length > 0 ? await runHot(tx, CARTS_AND_RESPONSES, [...responseColumns, ...cartColumns]) : await runHot(tx, RESPONSES, responseColumns);
  if (stored.length === responses.length) return;
  // Fewer rows than answers: some keys were taken (or one key came twice in this commit: not taken).
  const taken = await storedAnswers(tx, TAKEN_ANSWERS, responses);
  if (taken.length > 0) throw new AnswerKeysTaken(taken);
}

export class SqlSellingStore implements SellingStore {
  constructor(private readonly db: SqlClient) {}

  async response(scope: string, key: string): Promise<StoredResponse | null> {
    const [row] = await this.db.query<{ request_hash: string; status: number; body: string; at: number }>(
      'SELECT request_hash, status, body, at FROM http_responses WHERE scope = $1 AND key = $2',
      [scope, key],
    );
    return row ? { scope, key, requestHash: row.request_hash, status: row.status, body: row.body, at: row.at } : null;
  }

  async responses(keys: readonly { scope: string; key: string }[]): Promise<StoredResponse[]> {
    return keys.length === 0 ? [] : storedAnswers(this.db, STORED_ANSWERS, keys);
  }

  async cart(id: string): Promise<CartRow | null> {
    const [row] = await this.db.query<{ store_id: string; owner: string; lines: CartLineRow[] | string; expires_at: number; created_at: number }>(
      'SELECT store_id, owner, lines, expires_at, created_at FROM carts WHERE cart_id = $1',
      [id],
    );
    if (!row) return null;
    const lines = typeof row.lines === 'string' ? (JSON.parse(row.lines) as CartLineRow[]) : row.lines;
    return { id, store: row.store_id as StoreId, owner: row.owner as ReplicaId, lines, expiresAt: row.expires_at, createdAt: row.created_at };
  }

  async hubReplicas(): Promise<ReplicaId[]> {
    const rows = await this.db.query<{ replica_id: string }>("SELECT replica_id FROM replicas WHERE kind = 'hub' ORDER BY replica_id");
    return rows.map((r) => r.replica_id as ReplicaId);
  }
}

import type { SqlClient } from './sql-client.js';

/**
 * Advisory lock keys (bigint). Advisory locks are per database, so these
 * only have to be distinct from each other and from other apps' keys.
 */
export const MIGRATION_LOCK_KEY = 0x5c0f_0001;
export const COMMIT_LOCK_KEY = 0x5c0f_0002;

/**
 * Schema migrations of the hub's PostgreSQL (or PGlite) database. Version N
 * is MIGRATIONS[N - 1]; applied versions are rows of `schema_migrations`.
 *
 * Every table that belongs to a store has `store_id` first in its primary
 * key, so stores can be sharded across PostgreSQL nodes (Citus by
 * `store_id`). `replicas`, `sync_positions`, `api_keys`, `audit` and
 * `schema_migrations` are global directories (Citus reference tables).
 *
 * Ids are `text COLLATE "C"`: byte order, identical on every server and in
 * PGlite, and cheaper to compare than a linguistic collation.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE SEQUENCE hub_change_seq AS bigint;

  CREATE TABLE stores (
    store_id    text COLLATE "C" PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    created_at  bigint NOT NULL,
    revoked_at  bigint
  );

  -- Which store each replica (agent or hub process) belongs to, fixed at first use.
  CREATE TABLE replicas (
    replica_id  text COLLATE "C" PRIMARY KEY,
    store_id    text COLLATE "C" NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('agent', 'hub')),
    first_seen  bigint NOT NULL
  );
  CREATE INDEX replicas_store ON replicas (store_id);

  -- CRDT entries. change_id: the commit that last grew the row.
  CREATE TABLE counter_entries (
    store_id    text COLLATE "C" NOT NULL,
    sku         text COLLATE "C" NOT NULL,
    replica_id  text COLLATE "C" NOT NULL,
    p           bigint NOT NULL,
    n           bigint NOT NULL,
    change_id   bigint NOT NULL,
    PRIMARY KEY (store_id, sku, replica_id)
  );
  CREATE INDEX counter_entries_change ON counter_entries (change_id);

  CREATE TABLE transfers (
    store_id     text COLLATE "C" NOT NULL,
    sku          text COLLATE "C" NOT NULL,
    from_replica text COLLATE "C" NOT NULL,
    to_replica   text COLLATE "C" NOT NULL,
    amount       bigint NOT NULL,
    change_id    bigint NOT NULL,
    PRIMARY KEY (store_id, sku, from_replica, to_replica)
  );
  CREATE INDEX transfers_change ON transfers (change_id);

  CREATE TABLE reservations (
    store_id    text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    sku         text COLLATE "C" NOT NULL,
    owner       text COLLATE "C" NOT NULL,
    qty         bigint NOT NULL,
    expires_at  bigint NOT NULL,
    status      text NOT NULL CHECK (status IN ('active', 'released', 'committed')),
    change_id   bigint NOT NULL,
    PRIMARY KEY (store_id, id)
  );
  CREATE INDEX reservations_change ON reservations (change_id);

  -- Every event of every replica, exactly once.
  CREATE TABLE events (
    store_id         text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL,
    replica_id       text COLLATE "C" NOT NULL,
    seq              bigint NOT NULL,
    type             text NOT NULL,
    sku              text COLLATE "C" NOT NULL,
    qty              bigint NOT NULL,
    at               bigint NOT NULL,
    idempotency_key  text,
    terminal         text,
    reason           text,
    forced           boolean NOT NULL DEFAULT false,
    count            bigint,
    reservation_id   text,
    expires_at       bigint,
    to_replica       text,
    received_at      bigint NOT NULL,
    PRIMARY KEY (store_id, event_id)
  );
  CREATE INDEX events_replica_seq ON events (store_id, replica_id, seq);

  CREATE TABLE sync_positions (
    replica_id      text COLLATE "C" PRIMARY KEY,
    store_id        text COLLATE "C" NOT NULL,
    last_event_seq  bigint NOT NULL,
    last_batch_at   bigint
  );

  CREATE TABLE api_keys (
    id          text COLLATE "C" PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('read', 'reserve', 'admin')),
    created_at  bigint NOT NULL,
    revoked_at  bigint
  );

  CREATE TABLE audit (
    id      bigserial PRIMARY KEY,
    at      bigint NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
  );
  `,
  // 2: one index on events instead of two. An event id is always
  // `${replica}:${seq}` (the protocol refuses anything else), so
  // (store_id, replica_id, seq) is exactly as unique as (store_id, event_id)
  // and already needed for paging; keeping both cost ~40% of each insert.
  `
  ALTER TABLE events DROP CONSTRAINT events_pkey;
  DROP INDEX events_replica_seq;
  ALTER TABLE events ADD PRIMARY KEY (store_id, replica_id, seq);
  `,
  // Reservations are keyed by (owner, id): ids are unique per owner only, so
  // two replicas' holds may share an id (docs/decisions.md). A hold's lapse
  // is recorded as status 'expired'.
  `
  ALTER TABLE reservations DROP CONSTRAINT reservations_pkey;
  ALTER TABLE reservations ADD PRIMARY KEY (store_id, owner, id);
  ALTER TABLE reservations DROP CONSTRAINT IF EXISTS reservations_status_check;
  ALTER TABLE reservations ADD CONSTRAINT reservations_status_check CHECK (status IN ('active', 'expired', 'released', 'committed'));
  `,
  // Online selling: the answers promised under idempotency keys and the
  // storefront carts, both written in the same transaction as the holds and
  // events they describe (CommitItem.records). Keyed by their own ids: a
  // cart's store is a column (a cart is looked up by id alone).
  `
  CREATE TABLE http_responses (
    scope         text COLLATE "C" NOT NULL,
    key           text COLLATE "C" NOT NULL,
    request_hash  text NOT NULL,
    status        integer NOT NULL,
    body          text NOT NULL,
    at            bigint NOT NULL,
    PRIMARY KEY (scope, key)
  );

  CREATE TABLE carts (
    cart_id     text COLLATE "C" PRIMARY KEY,
    store_id    text COLLATE "C" NOT NULL,
    owner       text COLLATE "C" NOT NULL,
    lines       jsonb NOT NULL,
    expires_at  bigint NOT NULL,
    created_at  bigint NOT NULL
  );
  CREATE INDEX carts_store ON carts (store_id, expires_at);
  `,
  // Alerts (store/alert-store.ts), history kept: at most one open alert per
  // (store, kind, sku), cleared ones stay. alert_writer is the one-row lease
  // of the hub process that writes alerts (a global directory).
  `
  CREATE TABLE alerts (
    store_id    text COLLATE "C" NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    kind        text COLLATE "C" NOT NULL,
    sku         text COLLATE "C" NOT NULL,
    raised_at   bigint NOT NULL,
    cleared_at  bigint,
    detail      jsonb NOT NULL,
    PRIMARY KEY (store_id, id)
  );
  CREATE UNIQUE INDEX alerts_open ON alerts (store_id, kind, sku) WHERE cleared_at IS NULL;
  CREATE INDEX alerts_raised ON alerts (raised_at DESC, id DESC);

  CREATE TABLE alert_writer (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    replica_id  text COLLATE "C" NOT NULL,
    until       bigint NOT NULL
  );
  `,
  // Event export (store/export-store.ts, export/): the committed event log in
  // change-id order. Events are inserted before the change-id lock, so they
  // carry the inserting transaction's id (tx); each commit that stored events
  // writes one event_commits row under the lock, so those rows become visible
  // in change-id order and a reader that saw change N never sees a lower one
  // appear later. Events stored before this migration have no tx: not exported.
  // export_cursors: per sink, the last published (confirmed) position, and the
  // publisher lease (holder, epoch fence, until) of the one exporting process.
  `
  ALTER TABLE events ADD COLUMN tx bigint;
  ALTER TABLE events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
  CREATE INDEX events_tx ON events (tx);

  CREATE TABLE event_commits (
    change_id  bigint PRIMARY KEY,
    tx         bigint NOT NULL,
    at         bigint NOT NULL,
    events     integer NOT NULL
  );
  CREATE INDEX event_commits_at ON event_commits (at);

  CREATE TABLE export_cursors (
    sink        text COLLATE "C" PRIMARY KEY,
    change_id   bigint NOT NULL DEFAULT 0,
    store_id    text COLLATE "C",
    replica_id  text COLLATE "C",
    seq         bigint,
    holder      text COLLATE "C",
    epoch       bigint NOT NULL DEFAULT 0,
    until       bigint NOT NULL DEFAULT 0,
    updated_at  bigint NOT NULL DEFAULT 0
  );
  `,
  // Online allocation policies (store/allocation-store.ts): one row per store,
  // the whole policy as jsonb; version from one sequence, so hub processes
  // poll `version > last seen` to pick up changes made elsewhere.
  `
  CREATE SEQUENCE allocation_version_seq AS bigint;
  CREATE TABLE allocation_policies (
    store_id    text COLLATE "C" PRIMARY KEY,
    policy      jsonb NOT NULL,
    version     bigint NOT NULL,
    updated_at  bigint NOT NULL
  );
  CREATE INDEX allocation_policies_version ON allocation_policies (version);
  `,
  // Yjs documents (store/yjs-store.ts): the catalog and each store's settings,
  // one row per accepted update, merged into one row when they pile up.
  `
  CREATE TABLE yjs_updates (
    id      bigserial PRIMARY KEY,
    doc     text COLLATE "C" NOT NULL,
    update  bytea NOT NULL,
    at      bigint NOT NULL
  );
  CREATE INDEX yjs_updates_doc ON yjs_updates (doc, id);
  `,
  // Operations alerts and replenishment (alerts/ops-alerts.ts, alerts/webhook.ts,
  // store/replenishment-store.ts). store_presence: when any hub process last
  // saw an agent of the store online (store_offline alerts across processes).
  // alert_webhook: the one webhook, its signing secret in plain (decision 25).
  // events_sold: sales and hold commits by store and time, for sales velocity
  // (a partial index: other event types cost nothing on insert).
  `
  CREATE TABLE store_presence (
    store_id  text COLLATE "C" PRIMARY KEY,
    seen_at   bigint NOT NULL
  );
  CREATE TABLE alert_webhook (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    url         text NOT NULL,
    secret      text,
    updated_at  bigint NOT NULL
  );
  CREATE INDEX events_sold ON events (store_id, at) WHERE type IN ('sale', 'hold_commit');
  `,
  // Counter upserts become HOT (decision 32): no index on counter_entries.change_id
  // any more, so an update that changes only p, n and change_id writes no index
  // entry, and pages keep room for the new versions (fillfactor). Other hub
  // processes catch up from change_log instead: each commit's counter entries
  // as one text value (COUNTER_PAGE's format), kept for a few minutes. The log
  // holds every counter change with a change id above change_log_floor.floor;
  // a reader further behind reads the whole table. The floor starts at the
  // highest id handed out so far, read under the commit lock so that no
  // commit below it is still in flight.
  `
  SELECT pg_advisory_xact_lock(${COMMIT_LOCK_KEY});
  DROP INDEX counter_entries_change;
  ALTER TABLE counter_entries SET (fillfactor = 70);
  CREATE TABLE change_log (
    change_id  bigint PRIMARY KEY,
    at         bigint NOT NULL,
    counters   text NOT NULL
  );
  CREATE INDEX change_log_at ON change_log (at);
  CREATE TABLE change_log_floor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    floor      bigint NOT NULL
  );
  INSERT INTO change_log_floor (floor) SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM hub_change_seq;
  `,
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;


/** The database was migrated by a newer hub than this one. */
export class SchemaTooNewError extends Error {
  readonly code = 'schema_too_new';
  constructor(
    readonly databaseVersion: number,
    readonly supportedVersion: number,
  ) {
    super(
      `the hub database has schema version ${databaseVersion}, this sync-hub understands up to ${supportedVersion}: upgrade the hub before using it`,
    );
    this.name = 'SchemaTooNewError';
  }
}

export interface MigrationResult {
  /** Version found (0: empty database). */
  from: number;
  /** Version now. */
  to: number;
}

/**
 * Brings the schema to SCHEMA_VERSION. Runs in one transaction that first
 * takes a transaction-scoped advisory lock, so hub processes starting
 * together migrate one after the other (the later ones find nothing to do),
 * and a failed migration leaves the database as it was. A database newer
 * than this code is refused with SchemaTooNewError (nothing is changed).
 */
export async function migrate(db: SqlClient, now: () => number = Date.now): Promise<MigrationResult> {
  return db.transaction(async (tx) => {
    // Transaction-scoped (pg_advisory_xact_lock), not session-scoped: with a
    // pool, a session lock and the statements after it may use different
    // connections; this one is released by COMMIT/ROLLBACK whatever happens.
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     integer PRIMARY KEY,
      applied_at  bigint NOT NULL
    )`);
    const [row] = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const from = row?.v ?? 0;
    if (from > SCHEMA_VERSION) throw new SchemaTooNewError(from, SCHEMA_VERSION);
    for (let v = from + 1; v <= SCHEMA_VERSION; v++) {
      await tx.exec(MIGRATIONS[v - 1]!);
      await tx.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v, now()]);
    }
    return { from, to: Math.max(from, SCHEMA_VERSION) };
  });
}

/**
 * Schema migrations of the agent's SQLite file, applied in order inside one
 * transaction each. A file whose version is newer than the last migration
 * here was written by a newer agent: opening it is refused.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    store_id    TEXT NOT NULL,
    replica_id  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
  );

  -- Append-only log of every change this replica made. seq is the replica's
  -- own event sequence; id is globally unique (replica:seq).
  CREATE TABLE events (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    idempotency_key  TEXT,
    type             TEXT NOT NULL,
    sku              TEXT NOT NULL,
    qty              INTEGER NOT NULL,
    reason           TEXT,
    terminal         TEXT,
    at               INTEGER NOT NULL,
    forced           INTEGER NOT NULL DEFAULT 0,
    count            INTEGER,
    reservation_id   TEXT,
    expires_at       INTEGER,
    to_replica       TEXT
  );
  CREATE INDEX events_sku ON events (sku, seq);

  -- CRDT entries (this replica's and those received from others), with the
  -- local change number at which each last changed (for outgoing batches).
  CREATE TABLE entries (
    sku         TEXT NOT NULL,
    replica     TEXT NOT NULL,
    p           INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    PRIMARY KEY (sku, replica)
  ) WITHOUT ROWID;
  CREATE INDEX entries_changed ON entries (changed);

  CREATE TABLE transfers (
    sku         TEXT NOT NULL,
    from_replica TEXT NOT NULL,
    to_replica  TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    PRIMARY KEY (sku, from_replica, to_replica)
  ) WITHOUT ROWID;
  CREATE INDEX transfers_changed ON transfers (changed);

  CREATE TABLE reservations (
    id          TEXT PRIMARY KEY,
    hold_id     TEXT,
    sku         TEXT NOT NULL,
    owner       TEXT NOT NULL,
    qty         INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    status      TEXT NOT NULL,
    changed     INTEGER NOT NULL
  );
  CREATE INDEX reservations_hold ON reservations (hold_id);
  CREATE INDEX reservations_changed ON reservations (changed);

  -- First answer to each idempotency key, replayed on retry.
  CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    route        TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    at           INTEGER NOT NULL
  );

  CREATE TABLE catalog (
    sku                  TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    price_cents          INTEGER,
    low_stock_threshold  INTEGER NOT NULL DEFAULT 0,
    safety_stock         INTEGER NOT NULL DEFAULT 0,
    updated_at           INTEGER NOT NULL
  );

  -- Sync bookkeeping: watermarks of what the hub has acknowledged, etc.
  CREATE TABLE sync_state (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
  );
  `,
  // 2: reservations are keyed by (owner, id): ids are unique per owner only
  // (docs/decisions.md), so another replica's hold may share an id with ours.
  // SQLite cannot change a primary key in place: copy into a new table.
  `
  CREATE TABLE reservations_by_owner (
    id          TEXT NOT NULL,
    hold_id     TEXT,
    sku         TEXT NOT NULL,
    owner       TEXT NOT NULL,
    qty         INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    status      TEXT NOT NULL,
    changed     INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
  );
  INSERT INTO reservations_by_owner (id, hold_id, sku, owner, qty, expires_at, status, changed)
    SELECT id, hold_id, sku, owner, qty, expires_at, status, changed FROM reservations;
  DROP TABLE reservations;
  ALTER TABLE reservations_by_owner RENAME TO reservations;
  CREATE INDEX reservations_hold ON reservations (hold_id);
  CREATE INDEX reservations_changed ON reservations (changed);
  `,
  // 3: the store's online allocation policy, as last received from the hub
  // (JSON of crdt-inventory's AllocationPolicy); one row.
  `
  CREATE TABLE allocation_policy (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    policy       TEXT NOT NULL,
    received_at  INTEGER NOT NULL
  );
  `,
  // The catalog and store settings documents (Yjs), as stored updates:
  // appended as they happen, merged into one row when they pile up.
  `
  CREATE TABLE yjs_updates (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    doc     TEXT NOT NULL,
    update_ BLOB NOT NULL,
    at      INTEGER NOT NULL
  );
  CREATE INDEX yjs_updates_doc ON yjs_updates (doc, id);
  `,
  // 5: events.id loses its UNIQUE index. The id is `<replica>:<seq>` (crdt-inventory's
  // eventIdFor), one replica per file and seq the primary key, so it is unique by
  // construction; the index was a B-tree leaf written by every event (WAL frames in every
  // commit): ~5 % of a sale's CPU at 16 terminals (docs/benchmarks.md, "Agent CPU per sale,
  // session 5"). SQLite cannot drop a UNIQUE constraint in place: copy into a new table
  // (once, at the upgrade: seconds per million events).
  `
  CREATE TABLE events_v5 (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL,
    idempotency_key  TEXT,
    type             TEXT NOT NULL,
    sku              TEXT NOT NULL,
    qty              INTEGER NOT NULL,
    reason           TEXT,
    terminal         TEXT,
    at               INTEGER NOT NULL,
    forced           INTEGER NOT NULL DEFAULT 0,
    count            INTEGER,
    reservation_id   TEXT,
    expires_at       INTEGER,
    to_replica       TEXT
  );
  INSERT INTO events_v5 (seq, id, idempotency_key, type, sku, qty, reason, terminal, at, forced, count, reservation_id, expires_at, to_replica)
    SELECT seq, id, idempotency_key, type, sku, qty, reason, terminal, at, forced, count, reservation_id, expires_at, to_replica FROM events ORDER BY seq;
  DROP TABLE events;
  ALTER TABLE events_v5 RENAME TO events;
  CREATE INDEX events_sku ON events (sku, seq);
  `,
  // 6: each SKU's latest event time in a table of its own (one row per SKU, upserted with every
  // event) instead of the index events_sku, which served only that start-up lookup and was a
  // leaf written into one of the SKUs' places in a growing B-tree by every event: ~6 % of a
  // sale's CPU at 16 terminals (docs/benchmarks.md, "Agent CPU per sale, session 5").
  `
  CREATE TABLE sku_last_event (
    sku  TEXT PRIMARY KEY,
    at   INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO sku_last_event (sku, at)
    SELECT e.sku, e.at FROM (SELECT max(seq) AS seq FROM events GROUP BY sku) m JOIN events e ON e.seq = m.seq;
  DROP INDEX events_sku;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

//! The versioned schema migrations compiled into the binary, one SQL script per backend.
//!
//! Rules: append only (never edit a released migration), versions strictly increasing from 1,
//! each migration runs in its own transaction and is recorded in `schema_migrations`.

/// One schema change.
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Bootstrap for the bookkeeping table itself (idempotent).
pub(crate) const SQLITE_BOOTSTRAP: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
) STRICT;
";

pub(crate) const POSTGRES_BOOTSTRAP: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
";

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tokens and events",
        sqlite: "
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash)
) STRICT;
-- A name is unique among active tokens; a revoked token's name can be reused.
CREATE UNIQUE INDEX api_tokens_active_name_key ON api_tokens (name) WHERE revoked_at IS NULL;

-- `id` is a rowid alias assigned max(id)+1 by the single writer: gap-free and commit-ordered
-- (rows are never deleted). `at` is UTC RFC 3339 with exactly 6 fractional digits, so text order
-- is time order.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at      TEXT NOT NULL,
    payload TEXT NOT NULL CHECK (json_valid(payload))
) STRICT;
CREATE INDEX events_kind_id ON events (kind, id);
CREATE INDEX events_actor_id ON events (actor, id);
CREATE INDEX events_at ON events (at);
",
        postgres: "
CREATE TABLE api_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL,
    hash       text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash)
);
-- A name is unique among active tokens; a revoked token's name can be reused.
CREATE UNIQUE INDEX api_tokens_active_name_key ON api_tokens (name) WHERE revoked_at IS NULL;

-- `id` is assigned by the store as max(id)+1 while holding an EXCLUSIVE lock on the table (see
-- postgres.rs): gap-free and in commit order, so paging with `id > after_id` never skips a row.
CREATE TABLE events (
    id      bigint PRIMARY KEY CHECK (id > 0),
    kind    text NOT NULL,
    actor   text NOT NULL,
    subject text NOT NULL,
    outcome text NOT NULL,
    at      timestamptz NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX events_kind_id ON events (kind, id);
CREATE INDEX events_actor_id ON events (actor, id);
CREATE INDEX events_at ON events (at);
",
    },
    Migration {
        version: 2,
        name: "audit ledger",
        sqlite: "
-- The verifiable audit ledger (crates/ledger, crates/audit). `idx` is the 0-based leaf index;
-- `entry` the canonical bytes the leaf hash covers; time/kind/actor are copies for queries.
-- Only `time_us` is indexed (it grows with `idx`, so the index appends cheaply); an index on
-- `actor` inserts at random positions and cut the group-commit rate about threefold.
CREATE TABLE ledger_entries (
    idx     INTEGER PRIMARY KEY CHECK (idx >= 0),
    entry   BLOB NOT NULL,
    time_us INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    actor   TEXT NOT NULL
) STRICT;
CREATE INDEX ledger_entries_time ON ledger_entries (time_us);
-- Stored hashes of complete subtrees, keyed by `NodeId::stored_index`.
CREATE TABLE ledger_hashes (
    sidx INTEGER PRIMARY KEY CHECK (sidx >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
-- One row: the tree head and its right edge (concatenated 32-byte hashes, largest subtree
-- first). Appends update it inside the same write transaction.
CREATE TABLE ledger_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    edge BLOB NOT NULL
) STRICT;
INSERT INTO ledger_head (id, size, root, edge) VALUES
    (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', X'');
-- Signed checkpoints (C2SP signed-note text), kept so any two can be proven consistent.
CREATE TABLE ledger_checkpoints (
    id         INTEGER PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX ledger_checkpoints_size ON ledger_checkpoints (size);
",
        postgres: "
CREATE TABLE ledger_entries (
    idx     bigint PRIMARY KEY CHECK (idx >= 0),
    entry   bytea NOT NULL,
    time_us bigint NOT NULL,
    kind    text NOT NULL,
    actor   text NOT NULL
);
CREATE INDEX ledger_entries_time ON ledger_entries (time_us);
CREATE TABLE ledger_hashes (
    sidx bigint PRIMARY KEY CHECK (sidx >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32)
);
-- Appenders lock this row FOR UPDATE: one sequence of leaves across all replicas.
CREATE TABLE ledger_head (
    id   smallint PRIMARY KEY CHECK (id = 1),
    size bigint NOT NULL CHECK (size >= 0),
    root bytea NOT NULL CHECK (length(root) = 32),
    edge bytea NOT NULL
);
INSERT INTO ledger_head (id, size, root, edge) VALUES
    (1, 0, '\\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea, ''::bytea);
CREATE TABLE ledger_checkpoints (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size       bigint NOT NULL CHECK (size >= 0),
    note       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX ledger_checkpoints_size ON ledger_checkpoints (size);
",
    },
    Migration {
        version: 3,
        name: "developer keys",
        sqlite: "
-- Developer keys (kind `developer`) belong to an inventory person and may carry a default
-- repository scope (`owner/name`). SQLite checks the constraint against existing rows, which
-- are all admin tokens.
ALTER TABLE api_tokens ADD COLUMN person TEXT
    CONSTRAINT api_tokens_developer_person
    CHECK (kind <> 'developer' OR (person IS NOT NULL AND person <> ''));
ALTER TABLE api_tokens ADD COLUMN repo TEXT;
-- Names are unique among the active credentials of one kind (admin tokens and developer keys
-- are listed and revoked separately).
DROP INDEX api_tokens_active_name_key;
CREATE UNIQUE INDEX api_tokens_active_kind_name_key ON api_tokens (kind, name)
    WHERE revoked_at IS NULL;
",
        postgres: "
ALTER TABLE api_tokens
    ADD COLUMN person text,
    ADD COLUMN repo text,
    ADD CONSTRAINT api_tokens_developer_person
        CHECK (kind <> 'developer' OR (person IS NOT NULL AND person <> ''));
DROP INDEX api_tokens_active_name_key;
CREATE UNIQUE INDEX api_tokens_active_kind_name_key ON api_tokens (kind, name)
    WHERE revoked_at IS NULL;
",
    },
    Migration {
        version: 4,
        name: "usage counters",
        sqlite: "
-- The AI gateway's budget counters (crates/meter): usage per budget scope (budget, window kind
-- and the request's dimension values, e.g. `developer-monthly|month|developer=alice`) and
-- calendar window. Replicas add their deltas (upsert-add) and read the totals back; rows are
-- enforcement state, pruned some time after their window ends (the ledger keeps each
-- request's usage). Times are Unix seconds, UTC.
CREATE TABLE usage_counters (
    scope          TEXT NOT NULL,
    window_start   INTEGER NOT NULL,
    window_end     INTEGER NOT NULL CHECK (window_end > window_start),
    requests       INTEGER NOT NULL CHECK (requests >= 0),
    tokens         INTEGER NOT NULL CHECK (tokens >= 0),
    cost_micro_usd INTEGER NOT NULL CHECK (cost_micro_usd >= 0),
    PRIMARY KEY (scope, window_start)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_counters_window_end ON usage_counters (window_end);
",
        postgres: "
CREATE TABLE usage_counters (
    scope          text NOT NULL,
    window_start   bigint NOT NULL,
    window_end     bigint NOT NULL CHECK (window_end > window_start),
    requests       bigint NOT NULL CHECK (requests >= 0),
    tokens         bigint NOT NULL CHECK (tokens >= 0),
    cost_micro_usd bigint NOT NULL CHECK (cost_micro_usd >= 0),
    PRIMARY KEY (scope, window_start)
);
CREATE INDEX usage_counters_window_end ON usage_counters (window_end);
",
    },
    Migration {
        version: 5,
        name: "webhook deliveries and change records",
        sqlite: "
-- Webhook deliveries as received from GitHub and GitLab, stored before they are answered and
-- processed after (crates/server/src/webhooks): the raw body is kept, so a delivery accepted
-- before a crash is processed after the restart. A redelivery has the same (forge,
-- delivery_id) and is not stored twice. `id` is the arrival order. The processor claims
-- pending rows for a while (`claimed_by`, `claim_expires_us`: Unix microseconds) so that one
-- replica at a time processes them, in order; then marks them processed, ignored or failed.
-- Bodies (tens of kilobytes) live in their own table: SQLite rewrites a whole row on UPDATE,
-- and a delivery's row is updated twice (claimed, finished).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    forge            TEXT NOT NULL CHECK (forge <> ''),
    delivery_id      TEXT NOT NULL CHECK (delivery_id <> ''),
    event            TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    body_bytes       INTEGER NOT NULL CHECK (body_bytes >= 0),
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'processed', 'ignored', 'failed')),
    error            TEXT,
    processed_at     TEXT,
    claimed_by       TEXT,
    claim_expires_us INTEGER,
    CONSTRAINT webhook_deliveries_key UNIQUE (forge, delivery_id)
) STRICT;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_claimed ON webhook_deliveries (claim_expires_us)
    WHERE state = 'pending' AND claimed_by IS NOT NULL;
CREATE TABLE webhook_delivery_bodies (
    delivery INTEGER PRIMARY KEY REFERENCES webhook_deliveries (id),
    body     BLOB NOT NULL
) STRICT;
-- The change record of each pull request (GitHub) or merge request (GitLab): the serialized
-- `change::ChangeRecord`, folded from its deliveries.
CREATE TABLE change_records (
    id         INTEGER PRIMARY KEY,
    forge      TEXT NOT NULL,
    repo       TEXT NOT NULL,
    number     INTEGER NOT NULL CHECK (number >= 0),
    record     TEXT NOT NULL CHECK (json_valid(record)),
    updated_at TEXT NOT NULL,
    CONSTRAINT change_records_key UNIQUE (forge, repo, number)
) STRICT;
",
        postgres: "
CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    forge            text NOT NULL CHECK (forge <> ''),
    delivery_id      text NOT NULL CHECK (delivery_id <> ''),
    event            text NOT NULL,
    received_at      timestamptz NOT NULL,
    body_bytes       bigint NOT NULL CHECK (body_bytes >= 0),
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'processed', 'ignored', 'failed')),
    error            text,
    processed_at     timestamptz,
    claimed_by       text,
    claim_expires_us bigint,
    CONSTRAINT webhook_deliveries_key UNIQUE (forge, delivery_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_claimed ON webhook_deliveries (claim_expires_us)
    WHERE state = 'pending' AND claimed_by IS NOT NULL;
CREATE TABLE webhook_delivery_bodies (
    delivery bigint PRIMARY KEY REFERENCES webhook_deliveries (id),
    body     bytea NOT NULL
);
CREATE TABLE change_records (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    forge      text NOT NULL,
    repo       text NOT NULL,
    number     bigint NOT NULL CHECK (number >= 0),
    record     jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT change_records_key UNIQUE (forge, repo, number)
);
",
    },
    Migration {
        version: 6,
        name: "exception alerts and branch commits",
        sqlite: "
-- Exception alerts: bypasses of the change process (a deployment nobody authorized, a merge
-- the gate denied, a push straight to a protected branch) and overdue break-glass
-- retro-reviews. One per `alert_key`. An alert may wait (`pending`) until `due_us` (Unix
-- microseconds), e.g. for the pull request event that explains a push to a protected branch;
-- raised alerts (`open`) get a ledger entry (`ledger_index`).
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind <> ''),
    alert_key    TEXT NOT NULL CHECK (alert_key <> ''),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'open', 'dismissed')),
    subject      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    details      TEXT NOT NULL CHECK (json_valid(details)),
    created_at   TEXT NOT NULL,
    due_us       INTEGER,
    raised_at    TEXT,
    ledger_index INTEGER CHECK (ledger_index >= 0),
    resolution   TEXT,
    CONSTRAINT alerts_key UNIQUE (alert_key)
) STRICT;
CREATE INDEX alerts_due ON alerts (due_us) WHERE state = 'pending';
CREATE INDEX alerts_unrecorded ON alerts (id) WHERE state = 'open' AND ledger_index IS NULL;
-- Commits pushed to a branch that no open pull request had yet (the usual order: push, then
-- open the pull request), kept so the pull request's record gets them when it is opened.
CREATE TABLE branch_commits (
    id         INTEGER PRIMARY KEY,
    forge      TEXT NOT NULL,
    repo       TEXT NOT NULL,
    branch     TEXT NOT NULL,
    commits    TEXT NOT NULL CHECK (json_valid(commits)),
    updated_at TEXT NOT NULL,
    CONSTRAINT branch_commits_key UNIQUE (forge, repo, branch)
) STRICT;
",
        postgres: "
CREATE TABLE alerts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind <> ''),
    alert_key    text NOT NULL CHECK (alert_key <> ''),
    state        text NOT NULL CHECK (state IN ('pending', 'open', 'dismissed')),
    subject      text NOT NULL,
    summary      text NOT NULL,
    details      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    due_us       bigint,
    raised_at    timestamptz,
    ledger_index bigint CHECK (ledger_index >= 0),
    resolution   text,
    CONSTRAINT alerts_key UNIQUE (alert_key)
);
CREATE INDEX alerts_due ON alerts (due_us) WHERE state = 'pending';
CREATE INDEX alerts_unrecorded ON alerts (id) WHERE state = 'open' AND ledger_index IS NULL;
CREATE TABLE branch_commits (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    forge      text NOT NULL,
    repo       text NOT NULL,
    branch     text NOT NULL,
    commits    jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT branch_commits_key UNIQUE (forge, repo, branch)
);
",
    },
    Migration {
        version: 7,
        name: "deployment authorizations",
        sqlite: "
-- Deployment authorizations (crates/server/src/deploys.rs): the DSSE envelope signed with the
-- log's key, the details of the ledger entry that recorded it (their digest is in the entry)
-- and that entry's index; later its revocation and, for a break-glass deployment, its
-- retro-review, each with its own ledger entry. Rows are written after their entries commit
-- and never deleted. Times are UTC RFC 3339 with six fractional digits (text order is time
-- order).
CREATE TABLE deploy_authorizations (
    id                        INTEGER PRIMARY KEY,
    app                       TEXT NOT NULL CHECK (app <> ''),
    environment               TEXT NOT NULL CHECK (environment <> ''),
    repo                      TEXT,
    commit_sha                TEXT NOT NULL CHECK (length(commit_sha) = 40),
    kind                      TEXT NOT NULL CHECK (kind IN ('standard', 'break-glass')),
    approver                  TEXT NOT NULL CHECK (approver <> ''),
    reason                    TEXT,
    authorized_at             TEXT NOT NULL,
    expires_at                TEXT NOT NULL,
    envelope                  TEXT NOT NULL CHECK (json_valid(envelope)),
    details                   TEXT NOT NULL CHECK (json_valid(details)),
    ledger_index              INTEGER NOT NULL CHECK (ledger_index >= 0),
    retro_review_due          TEXT,
    revoked_at                TEXT,
    revoked_by                TEXT,
    revoked_reason            TEXT,
    revoked_ledger_index      INTEGER,
    revocation_details        TEXT CHECK (revocation_details IS NULL OR json_valid(revocation_details)),
    retro_reviewed_at         TEXT,
    retro_reviewed_by         TEXT,
    retro_review_notes        TEXT,
    retro_review_ledger_index INTEGER,
    CONSTRAINT deploy_authorizations_break_glass
        CHECK (kind <> 'break-glass' OR (reason IS NOT NULL AND retro_review_due IS NOT NULL))
) STRICT;
CREATE INDEX deploy_authorizations_target
    ON deploy_authorizations (app, environment, commit_sha, id);
CREATE INDEX deploy_authorizations_retro_due ON deploy_authorizations (retro_review_due)
    WHERE kind = 'break-glass' AND retro_reviewed_at IS NULL;
",
        postgres: "
CREATE TABLE deploy_authorizations (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app                       text NOT NULL CHECK (app <> ''),
    environment               text NOT NULL CHECK (environment <> ''),
    repo                      text,
    commit_sha                text NOT NULL CHECK (length(commit_sha) = 40),
    kind                      text NOT NULL CHECK (kind IN ('standard', 'break-glass')),
    approver                  text NOT NULL CHECK (approver <> ''),
    reason                    text,
    authorized_at             timestamptz NOT NULL,
    expires_at                timestamptz NOT NULL,
    envelope                  jsonb NOT NULL,
    details                   jsonb NOT NULL,
    ledger_index              bigint NOT NULL CHECK (ledger_index >= 0),
    retro_review_due          timestamptz,
    revoked_at                timestamptz,
    revoked_by                text,
    revoked_reason            text,
    revoked_ledger_index      bigint,
    revocation_details        jsonb,
    retro_reviewed_at         timestamptz,
    retro_reviewed_by         text,
    retro_review_notes        text,
    retro_review_ledger_index bigint,
    CONSTRAINT deploy_authorizations_break_glass
        CHECK (kind <> 'break-glass' OR (reason IS NOT NULL AND retro_review_due IS NOT NULL))
);
CREATE INDEX deploy_authorizations_target
    ON deploy_authorizations (app, environment, commit_sha, id);
CREATE INDEX deploy_authorizations_retro_due ON deploy_authorizations (retro_review_due)
    WHERE kind = 'break-glass' AND retro_reviewed_at IS NULL;
",
    },
];

/// The schema version this build creates and understands.
pub const LATEST_SCHEMA_VERSION: u32 = latest();

const fn latest() -> u32 {
    let mut i = 0;
    let mut max = 0;
    while i < MIGRATIONS.len() {
        // Compile-time check that versions strictly increase.
        assert!(
            MIGRATIONS[i].version > max,
            "migration versions must increase"
        );
        max = MIGRATIONS[i].version;
        i += 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_are_contiguous() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "migration `{}`", m.name);
            assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
        }
        assert_eq!(LATEST_SCHEMA_VERSION as usize, MIGRATIONS.len());
    }

    /// Migration 3 on a database that already holds tokens: existing admin tokens keep working,
    /// developer keys need a person, and names become unique per kind.
    #[test]
    fn developer_keys_migration_upgrades_existing_tokens() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for m in &MIGRATIONS[..2] {
            conn.execute_batch(m.sqlite).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO api_tokens (name, kind, hash, created_at)
             VALUES ('ci', 'admin', 'h1', '2025-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[2].sqlite).unwrap();
        let (person, repo): (Option<String>, Option<String>) = conn
            .query_row(
                "SELECT person, repo FROM api_tokens WHERE name = 'ci'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((person, repo), (None, None));
        let insert = |name: &str, kind: &str, hash: &str, person: Option<&str>| {
            conn.execute(
                "INSERT INTO api_tokens (name, kind, hash, created_at, person)
                 VALUES (?1, ?2, ?3, '2025-01-01T00:00:00.000000Z', ?4)",
                rusqlite::params![name, kind, hash, person],
            )
        };
        insert("ci", "developer", "h2", Some("lena")).expect("same name, other kind");
        let err = insert("nobody", "developer", "h3", None).expect_err("no person");
        assert!(
            err.to_string().contains("api_tokens_developer_person"),
            "{err}"
        );
        insert("ci", "admin", "h4", None).expect_err("same name, same kind");
    }
}

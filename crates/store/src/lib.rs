//! Persistence: small query traits per area, implemented by an embedded SQLite backend and a
//! PostgreSQL backend. Versioned migrations run at open; a newer database is refused.

mod alerts;
mod changes;
mod deploys;
mod migrations;
mod postgres;
mod sqlite;

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use time::{OffsetDateTime, UtcOffset};

pub use alerts::{AlertState, AlertStore, NewAlert, StoredAlert};
pub use changes::{
    ChangeStore, ClaimedDelivery, DeliveryCounts, DeliveryInsert, DeliveryOutcome, DeliveryRecord,
    DeliveryState, FinishedBatch, NewDelivery, StoredBranch, StoredChangeRecord,
};
pub use deploys::{
    AuthorizationKind, DeployAuthorization, DeployStore, NewDeployAuthorization, RetroReview,
    Revocation,
};
pub use migrations::LATEST_SCHEMA_VERSION;

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// Embedded default: one SQLite file in WAL mode.
    Sqlite { path: PathBuf },
    /// `postgres://user@host:port/db` without a password; the password comes separately, already
    /// resolved from its `env:`/`file:` reference.
    Postgres {
        url: String,
        password: Option<String>,
    },
}

/// Human-readable description for logs; never contains a password.
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Sqlite { path } => write!(f, "sqlite `{}`", path.display()),
            StoreConfig::Postgres { url, .. } => match postgres::describe_url(url) {
                Some(target) => write!(f, "postgres `{target}`"),
                None => f.write_str("postgres (invalid connection string)"),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database schema version {found} is newer than this aigov supports ({supported}); upgrade aigov, or point it at another database"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("{0}")]
    Other(String),
    /// A uniqueness rule was violated, e.g. an active token with that name exists already.
    #[error("{what} `{name}` already exists")]
    Duplicate { what: &'static str, name: String },
    /// The SQLite file could not be opened or set up (WAL, pragmas).
    #[error("cannot open SQLite database `{}`: {message}", path.display())]
    SqliteOpen { path: PathBuf, message: String },
    /// Any other SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// The PostgreSQL connection string could not be parsed (the string itself is not echoed,
    /// since it might contain a password).
    #[error("invalid PostgreSQL connection string: {0}")]
    PostgresConfig(String),
    /// The PostgreSQL server could not be reached or refused the login. `target` is host, port,
    /// database and user; never the password.
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    PostgresConnect { target: String, message: String },
    /// Any other PostgreSQL failure (the message includes the server's error text).
    #[error("postgres: {}", postgres::error_chain(.0))]
    Postgres(tokio_postgres::Error),
    /// A migration failed; the database stays at the previous version.
    #[error("migration {version} (`{name}`) failed: {message}")]
    Migration {
        version: u32,
        name: &'static str,
        message: String,
    },
    /// A stored value could not be decoded (e.g. unknown token kind, malformed timestamp).
    #[error("invalid data in the database: {0}")]
    InvalidData(String),
    /// Webhook deliveries being finished are no longer claimed by this claimant (the claim
    /// expired and another replica took them over); nothing was written.
    #[error(
        "{count} webhook deliveries are no longer claimed by this replica (the claim expired); nothing was written and they are processed again"
    )]
    ClaimLost { count: usize },
    /// A background database task failed (panicked or was cancelled).
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Handle to the store; clone freely.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Backend>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Backend::Sqlite(s) => f
                .debug_struct("Store")
                .field("backend", &"sqlite")
                .field("path", &s.path())
                .finish(),
            Backend::Postgres(p) => f
                .debug_struct("Store")
                .field("backend", &"postgres")
                .field("target", &p.target())
                .finish(),
        }
    }
}

impl Store {
    /// Opens (creating if needed) and migrates.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let backend = match config {
            StoreConfig::Sqlite { path } => Backend::Sqlite(sqlite::SqliteStore::open(path).await?),
            StoreConfig::Postgres { url, password } => {
                Backend::Postgres(postgres::PgStore::open(url, password.as_deref()).await?)
            }
        };
        Ok(Store {
            inner: Arc::new(backend),
        })
    }
    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &*self.inner {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
    /// SQLite only: whether a ledger append is fsynced before it returns (`synchronous =
    /// FULL`, survives power loss) instead of only written to the WAL (`NORMAL`, the default,
    /// survives the process being killed). PostgreSQL commits are always flushed
    /// (`synchronous_commit` is the server's setting), so this does nothing there.
    pub async fn set_ledger_power_safe(&self, on: bool) -> Result<(), StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.set_ledger_power_safe(on).await,
            Backend::Postgres(_) => Ok(()),
        }
    }
    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.ping().await,
            Backend::Postgres(p) => p.ping().await,
        }
    }
    /// Highest applied migration version.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.schema_version().await,
            Backend::Postgres(p) => p.schema_version().await,
        }
    }
}

/// Converts to UTC and drops sub-microsecond precision: what both backends store, so a value
/// read back compares equal to the value written.
pub fn normalize_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Full access to the API and dashboard.
    Admin,
    /// A person's key for the AI gateway; no access to the API or dashboard.
    Developer,
}

impl TokenKind {
    /// The stored spelling, e.g. `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Admin => "admin",
            TokenKind::Developer => "developer",
        }
    }

    /// What [`StoreError::Duplicate`] calls a credential of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            TokenKind::Admin => "token",
            TokenKind::Developer => "developer key",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(TokenKind::Admin),
            "developer" => Ok(TokenKind::Developer),
            other => Err(StoreError::InvalidData(format!(
                "unknown token kind `{other}`"
            ))),
        }
    }
}

/// A credential to store. Names are unique among the active credentials of one kind.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub kind: TokenKind,
    /// SHA-256 of the token, hex. The token itself is never stored.
    pub hash: String,
    /// The inventory person a developer key belongs to (required for
    /// [`TokenKind::Developer`]; the database refuses a developer key without one).
    pub person: Option<String>,
    /// A developer key's default repository scope, `owner/name`.
    pub repo: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub kind: TokenKind,
    pub hash: String,
    /// The inventory person a developer key belongs to.
    pub person: Option<String>,
    /// A developer key's default repository scope, `owner/name`.
    pub repo: Option<String>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

pub trait TokenStore {
    /// Fails with [`StoreError::Duplicate`] (`what` is [`TokenKind::noun`]) when an active
    /// credential of the same kind has that name, or any credential has that hash.
    fn insert_token(
        &self,
        token: NewToken,
    ) -> impl Future<Output = Result<TokenRecord, StoreError>> + Send;
    /// Only tokens that are not revoked, of any kind: callers check
    /// [`TokenRecord::kind`].
    fn active_token_by_hash(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    /// Every credential of every kind, revoked ones included, oldest first.
    fn list_tokens(&self) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;
    /// Revokes the active credential of this kind and name; returns whether one existed.
    fn revoke_token(
        &self,
        kind: TokenKind,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A governance-relevant event (bundle loaded, decision made, admin action…). Later issues put
/// gateway requests, change records, deployments and alerts through the same table.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Dotted kind, e.g. `bundle.loaded`, `policy.decision`, `token.created`.
    pub kind: String,
    pub actor: String,
    pub subject: String,
    /// `success` / `failure` / `allow` / `deny`.
    pub outcome: String,
    pub at: OffsetDateTime,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Gap-free, increasing per store.
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub outcome: String,
    pub at: OffsetDateTime,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub since: Option<OffsetDateTime>,
    /// Only events with `id > after_id` (paging).
    pub after_id: Option<i64>,
    /// At most this many, oldest first; `0` means 100.
    pub limit: u32,
}

impl EventQuery {
    /// The limit to apply (`0` means 100).
    pub fn effective_limit(&self) -> u32 {
        if self.limit == 0 { 100 } else { self.limit }
    }
}

pub trait EventStore {
    fn append_event(
        &self,
        event: NewEvent,
    ) -> impl Future<Output = Result<EventRecord, StoreError>> + Send;
    fn list_events(
        &self,
        query: EventQuery,
    ) -> impl Future<Output = Result<Vec<EventRecord>, StoreError>> + Send;
}

impl TokenStore for Store {
    async fn insert_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.insert_token(token).await,
            Backend::Postgres(p) => p.insert_token(token).await,
        }
    }

    async fn active_token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.active_token_by_hash(hash).await,
            Backend::Postgres(p) => p.active_token_by_hash(hash).await,
        }
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.list_tokens().await,
            Backend::Postgres(p) => p.list_tokens().await,
        }
    }

    async fn revoke_token(&self, kind: TokenKind, name: &str) -> Result<bool, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.revoke_token(kind, name).await,
            Backend::Postgres(p) => p.revoke_token(kind, name).await,
        }
    }
}

impl EventStore for Store {
    async fn append_event(&self, event: NewEvent) -> Result<EventRecord, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.append_event(event).await,
            Backend::Postgres(p) => p.append_event(event).await,
        }
    }

    async fn list_events(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        match &*self.inner {
            Backend::Sqlite(s) => s.list_events(query).await,
            Backend::Postgres(p) => p.list_events(query).await,
        }
    }
}

/// One entry to append to the audit ledger: its canonical bytes (what the leaf hash covers)
/// plus copies of a few fields for queries.
#[derive(Debug, Clone)]
pub struct NewLedgerEntry {
    pub bytes: Vec<u8>,
    /// Event time, microseconds since the Unix epoch.
    pub time_micros: i64,
    pub kind: String,
    pub actor: String,
    /// The event row holding the entry's details, written in the same transaction (so an
    /// event is recorded entirely or not at all, with one commit). Its payload must be a JSON
    /// object; the store adds [`LEDGER_INDEX_KEY`] with the entry's index.
    pub details: Option<NewEvent>,
}

/// Key the store adds to an event row written with its ledger entry: the entry's index.
pub const LEDGER_INDEX_KEY: &str = "ledger_index";

/// A stored ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntryRecord {
    /// 0-based leaf index.
    pub index: u64,
    /// Canonical bytes as stored.
    pub bytes: Vec<u8>,
}

/// A filtered scan of one range of ledger indexes ([`LedgerStore::ledger_search`]). Callers
/// page through a large log by calling it once per range, so they can show progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSearch {
    /// First index scanned.
    pub start: u64,
    /// End of the scanned range (exclusive).
    pub end: u64,
    /// Only entries whose event time (microseconds since the Unix epoch) is at or after this.
    pub since_micros: Option<i64>,
    /// Only entries whose event time is before this (exclusive).
    pub until_micros: Option<i64>,
    /// Only entries by exactly this actor.
    pub actor: Option<String>,
    /// Only entries of one of these kinds (`policy_decision`, ...); empty means every kind.
    pub kinds: Vec<String>,
    /// At most this many entries (the first matches in index order); `0` means no limit.
    pub limit: u32,
}

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub id: i64,
    /// Tree size the checkpoint claims (copied from the note for queries).
    pub size: u64,
    /// C2SP signed-note text.
    pub note: String,
    pub created_at: OffsetDateTime,
}

/// Persistence of the verifiable audit ledger: entries, stored hashes, the head with its
/// right edge, and signed checkpoints.
pub trait LedgerStore {
    /// Appends a batch in one transaction (serialized across processes: SQLite's write lock,
    /// PostgreSQL's `ledger_head` row lock). Returns the first new index and the new head;
    /// when it returns, the batch is durable.
    fn ledger_append_batch(
        &self,
        entries: Vec<NewLedgerEntry>,
    ) -> impl Future<Output = Result<(u64, ledger::TreeHead), StoreError>> + Send;
    /// The current size and root, as recorded by the last append.
    fn ledger_head(&self) -> impl Future<Output = Result<ledger::TreeHead, StoreError>> + Send;
    /// The stored hashes of `nodes`, in order; an error if any is missing.
    fn ledger_read_hashes(
        &self,
        nodes: Vec<ledger::NodeId>,
    ) -> impl Future<Output = Result<Vec<ledger::Hash>, StoreError>> + Send;
    /// Stored hashes with stored index in `start..end`, in order (missing ones are skipped).
    fn ledger_hash_range(
        &self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<(u64, ledger::Hash)>, StoreError>> + Send;
    /// Up to `limit` entries with index `>= start`, in index order.
    fn ledger_entries(
        &self,
        start: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LedgerEntryRecord>, StoreError>> + Send;
    /// The smallest range of indexes holding every entry whose event time is in
    /// `since_micros..until_micros` (either end open when `None`); `None` when no entry is.
    /// Event times only roughly follow the index, so the range may also hold other entries;
    /// it narrows a time-filtered [`ledger_search`](LedgerStore::ledger_search) scan.
    fn ledger_time_span(
        &self,
        since_micros: Option<i64>,
        until_micros: Option<i64>,
    ) -> impl Future<Output = Result<Option<Range<u64>>, StoreError>> + Send;
    /// The entries with index in `search.start..search.end` that match every filter of
    /// `search`, in index order, at most `search.limit` of them.
    fn ledger_search(
        &self,
        search: LedgerSearch,
    ) -> impl Future<Output = Result<Vec<LedgerEntryRecord>, StoreError>> + Send;
    /// Stores a signed checkpoint for tree size `size`.
    fn ledger_add_checkpoint(
        &self,
        size: u64,
        note: String,
    ) -> impl Future<Output = Result<CheckpointRecord, StoreError>> + Send;
    /// Every stored checkpoint, oldest first.
    fn ledger_checkpoints(
        &self,
    ) -> impl Future<Output = Result<Vec<CheckpointRecord>, StoreError>> + Send;
}

/// Decodes the stored right edge (concatenated 32-byte hashes).
pub(crate) fn decode_edge(size: u64, edge: &[u8]) -> Result<ledger::CompactRange, StoreError> {
    if !edge.len().is_multiple_of(32) {
        return Err(StoreError::InvalidData(format!(
            "ledger edge is {} bytes, not a multiple of 32",
            edge.len()
        )));
    }
    let hashes = edge
        .chunks_exact(32)
        .filter_map(ledger::Hash::from_slice)
        .collect();
    ledger::CompactRange::from_hashes(size, hashes)
        .map_err(|e| StoreError::InvalidData(format!("ledger edge: {e}")))
}

pub(crate) fn encode_edge(edge: &ledger::CompactRange) -> Vec<u8> {
    edge.hashes().iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_hash(what: &str, bytes: &[u8]) -> Result<ledger::Hash, StoreError> {
    ledger::Hash::from_slice(bytes).ok_or_else(|| {
        StoreError::InvalidData(format!("{what} is {} bytes, expected 32", bytes.len()))
    })
}

pub(crate) fn to_u64(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::InvalidData(format!("{what} {v} is negative")))
}

/// An index bound for a query: indexes beyond `i64::MAX` cannot exist, so larger bounds mean
/// "no bound".
pub(crate) fn clamp_index(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidData(format!("{what} {v} is out of range")))
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match &*$self.inner {
            Backend::Sqlite($s) => $e,
            Backend::Postgres($s) => $e,
        }
    };
}
pub(crate) use dispatch;

impl LedgerStore for Store {
    async fn ledger_append_batch(
        &self,
        entries: Vec<NewLedgerEntry>,
    ) -> Result<(u64, ledger::TreeHead), StoreError> {
        dispatch!(self, s => s.ledger_append_batch(entries).await)
    }

    async fn ledger_head(&self) -> Result<ledger::TreeHead, StoreError> {
        dispatch!(self, s => s.ledger_head().await)
    }

    async fn ledger_read_hashes(
        &self,
        nodes: Vec<ledger::NodeId>,
    ) -> Result<Vec<ledger::Hash>, StoreError> {
        dispatch!(self, s => s.ledger_read_hashes(nodes).await)
    }

    async fn ledger_hash_range(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, ledger::Hash)>, StoreError> {
        dispatch!(self, s => s.ledger_hash_range(start, end).await)
    }

    async fn ledger_entries(
        &self,
        start: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        dispatch!(self, s => s.ledger_entries(start, limit).await)
    }

    async fn ledger_time_span(
        &self,
        since_micros: Option<i64>,
        until_micros: Option<i64>,
    ) -> Result<Option<Range<u64>>, StoreError> {
        dispatch!(self, s => s.ledger_time_span(since_micros, until_micros).await)
    }

    async fn ledger_search(
        &self,
        search: LedgerSearch,
    ) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        dispatch!(self, s => s.ledger_search(search).await)
    }

    async fn ledger_add_checkpoint(
        &self,
        size: u64,
        note: String,
    ) -> Result<CheckpointRecord, StoreError> {
        dispatch!(self, s => s.ledger_add_checkpoint(size, note).await)
    }

    async fn ledger_checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        dispatch!(self, s => s.ledger_checkpoints().await)
    }
}

/// One budget counter of the AI gateway: a scope (budget, window kind and the request's
/// dimension values, as `crates/meter` spells it) and the start of its calendar window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    pub scope: String,
    /// Unix seconds, UTC.
    pub window_start: i64,
}

/// What a counter holds, or what to add to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub requests: u64,
    pub tokens: u64,
    pub cost_micro_usd: u64,
}

/// An amount to add to one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub key: UsageKey,
    /// End of the window (Unix seconds, exclusive), for pruning.
    pub window_end: i64,
    pub add: UsageTotals,
}

/// The gateway's budget counters, shared by every replica: each adds its own usage and reads
/// the sum of all replicas' back.
pub trait UsageStore {
    /// Adds every delta to its counter (a missing counter starts at zero), all in one
    /// transaction. Deltas for the same key are summed first.
    fn usage_add(
        &self,
        deltas: Vec<UsageDelta>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The totals of `keys`, in the same order; zero for a counter never written.
    fn usage_totals(
        &self,
        keys: Vec<UsageKey>,
    ) -> impl Future<Output = Result<Vec<UsageTotals>, StoreError>> + Send;
    /// Deletes the counters whose window ended at or before `ended_by` (Unix seconds);
    /// returns how many.
    fn usage_prune(&self, ended_by: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

impl UsageStore for Store {
    async fn usage_add(&self, deltas: Vec<UsageDelta>) -> Result<(), StoreError> {
        let deltas = merge_usage(deltas);
        if deltas.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => s.usage_add(deltas).await)
    }

    async fn usage_totals(&self, keys: Vec<UsageKey>) -> Result<Vec<UsageTotals>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.usage_totals(keys).await)
    }

    async fn usage_prune(&self, ended_by: i64) -> Result<u64, StoreError> {
        dispatch!(self, s => s.usage_prune(ended_by).await)
    }
}

/// A stored counter row: the deltas summed per key, sorted by key (so concurrent batches
/// from several replicas lock rows in one order), as `i64`s for the database.
pub(crate) struct UsageRow {
    pub scope: String,
    pub window_start: i64,
    pub window_end: i64,
    pub requests: i64,
    pub tokens: i64,
    pub cost_micro_usd: i64,
}

fn merge_usage(deltas: Vec<UsageDelta>) -> Vec<UsageDelta> {
    let mut merged: std::collections::BTreeMap<UsageKey, UsageDelta> =
        std::collections::BTreeMap::new();
    for d in deltas {
        match merged.get_mut(&d.key) {
            Some(m) => {
                m.window_end = m.window_end.max(d.window_end);
                m.add.requests = m.add.requests.saturating_add(d.add.requests);
                m.add.tokens = m.add.tokens.saturating_add(d.add.tokens);
                m.add.cost_micro_usd = m.add.cost_micro_usd.saturating_add(d.add.cost_micro_usd);
            }
            None => {
                merged.insert(d.key.clone(), d);
            }
        }
    }
    merged.into_values().collect()
}

pub(crate) fn usage_rows(deltas: Vec<UsageDelta>) -> Result<Vec<UsageRow>, StoreError> {
    deltas
        .into_iter()
        .map(|d| {
            Ok(UsageRow {
                requests: to_i64("usage requests", d.add.requests)?,
                tokens: to_i64("usage tokens", d.add.tokens)?,
                cost_micro_usd: to_i64("usage cost", d.add.cost_micro_usd)?,
                scope: d.key.scope,
                window_start: d.key.window_start,
                window_end: d.window_end,
            })
        })
        .collect()
}

pub(crate) fn usage_totals_from(
    requests: i64,
    tokens: i64,
    cost_micro_usd: i64,
) -> Result<UsageTotals, StoreError> {
    Ok(UsageTotals {
        requests: to_u64("usage requests", requests)?,
        tokens: to_u64("usage tokens", tokens)?,
        cost_micro_usd: to_u64("usage cost", cost_micro_usd)?,
    })
}

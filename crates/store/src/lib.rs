//! Persistence: small query traits per area, implemented by an embedded SQLite backend and a
//! PostgreSQL backend. Versioned migrations run at open; a newer database is refused.

use std::future::Future;
use std::path::PathBuf;

use time::OffsetDateTime;

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// Embedded default: one SQLite file in WAL mode.
    Sqlite { path: PathBuf },
    /// `postgres://user@host:port/db` without a password; the password comes separately, already
    /// resolved from its `env:`/`file:` reference.
    Postgres { url: String, password: Option<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database schema version {found} is newer than this aigov supports ({supported}); upgrade aigov, or point it at another database")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("{0}")]
    Other(String),
}

/// Handle to the store; clone freely.
#[derive(Clone, Debug)]
pub struct Store {}

impl Store {
    /// Opens (creating if needed) and migrates.
    pub async fn open(_config: &StoreConfig) -> Result<Store, StoreError> {
        unimplemented!()
    }
    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        unimplemented!()
    }
    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        unimplemented!()
    }
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        unimplemented!()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Full access to the API and dashboard.
    Admin,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub kind: TokenKind,
    /// SHA-256 of the token, hex. The token itself is never stored.
    pub hash: String,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub kind: TokenKind,
    pub hash: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

pub trait TokenStore {
    fn insert_token(&self, token: NewToken) -> impl Future<Output = Result<TokenRecord, StoreError>> + Send;
    /// Only tokens that are not revoked.
    fn active_token_by_hash(&self, hash: &str) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    fn list_tokens(&self) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;
    /// Returns whether an active token of that name existed.
    fn revoke_token(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
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

pub trait EventStore {
    fn append_event(&self, event: NewEvent) -> impl Future<Output = Result<EventRecord, StoreError>> + Send;
    fn list_events(&self, query: EventQuery) -> impl Future<Output = Result<Vec<EventRecord>, StoreError>> + Send;
}

//! Exception alerts (bypasses, overdue retro-reviews): raised once per key, possibly after a
//! grace period (`pending` until `due`), recorded in the audit ledger once raised.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::{Backend, Store, StoreError, dispatch};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Waiting for its grace period to end; it may still be dismissed (e.g. a push to a
    /// protected branch that a merge explains once its pull request event arrives).
    Pending,
    /// Raised.
    Open,
    /// Dropped while pending, or resolved once open; `resolution` says why.
    Dismissed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Open => "open",
            AlertState::Dismissed => "dismissed",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => AlertState::Pending,
            "open" => AlertState::Open,
            "dismissed" => AlertState::Dismissed,
            other => {
                return Err(StoreError::InvalidData(format!(
                    "unknown alert state `{other}`"
                )));
            }
        })
    }
}

/// An alert to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// What happened, e.g. `unauthorized-deployment`.
    pub kind: String,
    /// One alert per key (e.g. `unauthorized-deployment:github:acme/app:42`): adding it again
    /// does nothing.
    pub key: String,
    /// What it is about (`repo:acme/app#12`, `app:payments-api/production`).
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Everything else, as JSON.
    pub details: serde_json::Value,
    /// `Some`: pending until then; `None`: open at once.
    pub due: Option<OffsetDateTime>,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub id: u64,
    pub kind: String,
    pub key: String,
    pub state: AlertState,
    pub subject: String,
    pub summary: String,
    pub details: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub due: Option<OffsetDateTime>,
    /// When it was raised (became open).
    pub raised_at: Option<OffsetDateTime>,
    /// Its ledger entry, once recorded.
    pub ledger_index: Option<u64>,
    /// Why it was dismissed.
    pub resolution: Option<String>,
}

/// Exception alerts.
pub trait AlertStore {
    /// Adds each alert unless its key exists (race-free across replicas); returns the new
    /// alerts' ids, `None` for keys that existed.
    fn add_alerts(
        &self,
        alerts: Vec<NewAlert>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Option<u64>>, StoreError>> + Send;
    /// Pending alerts due at `now`, oldest first.
    fn due_alerts(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredAlert>, StoreError>> + Send;
    /// Raises a pending alert (`true`), unless it is no longer pending (`false`).
    fn raise_alert(
        &self,
        id: u64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Dismisses a pending or open alert with a reason (`false` if it was dismissed already).
    fn dismiss_alert(
        &self,
        id: u64,
        resolution: String,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Open alerts without a ledger entry yet, oldest first.
    fn unrecorded_alerts(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredAlert>, StoreError>> + Send;
    /// Notes the ledger entry of an open alert.
    fn set_alert_ledger_index(
        &self,
        id: u64,
        index: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Alerts, newest first, optionally only those in `state`.
    fn alerts(
        &self,
        state: Option<AlertState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredAlert>, StoreError>> + Send;
}

impl AlertStore for Store {
    async fn add_alerts(
        &self,
        alerts: Vec<NewAlert>,
        now: OffsetDateTime,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(a) = alerts
            .iter()
            .find(|a| a.kind.is_empty() || a.key.is_empty())
        {
            return Err(StoreError::InvalidData(format!(
                "alert `{}` needs a kind and a key",
                a.key
            )));
        }
        dispatch!(self, s => s.add_alerts(alerts, now).await)
    }

    async fn due_alerts(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        dispatch!(self, s => s.select_alerts(Query::Due(now), limit).await)
    }

    async fn raise_alert(&self, id: u64, now: OffsetDateTime) -> Result<bool, StoreError> {
        dispatch!(self, s => s.raise_alert(id, now).await)
    }

    async fn dismiss_alert(&self, id: u64, resolution: String) -> Result<bool, StoreError> {
        dispatch!(self, s => s.dismiss_alert(id, resolution).await)
    }

    async fn unrecorded_alerts(&self, limit: u32) -> Result<Vec<StoredAlert>, StoreError> {
        dispatch!(self, s => s.select_alerts(Query::Unrecorded, limit).await)
    }

    async fn set_alert_ledger_index(&self, id: u64, index: u64) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_alert_ledger_index(id, index).await)
    }

    async fn alerts(
        &self,
        state: Option<AlertState>,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        dispatch!(self, s => s.select_alerts(Query::List(state), limit).await)
    }
}

/// Which alerts a backend selects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Query {
    /// Pending, due at the time; oldest first.
    Due(OffsetDateTime),
    /// Open without ledger entry; oldest first.
    Unrecorded,
    /// By state (all without one); newest first.
    List(Option<AlertState>),
}

/// The columns every backend selects, in this order.
pub(crate) const COLUMNS: &str = "id, kind, alert_key, state, subject, summary, details, \
     created_at, due_us, raised_at, ledger_index, resolution";

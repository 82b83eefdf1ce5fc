//! Change management's persistence: webhook deliveries (stored before they are answered, then
//! claimed and processed in arrival order) and the change record of each pull or merge request.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use time::OffsetDateTime;

use crate::{Backend, Store, StoreError, dispatch};

/// A webhook delivery to store, as received.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `github` or `gitlab`.
    pub forge: String,
    /// The forge's delivery id (`X-GitHub-Delivery`, GitLab's `Idempotency-Key` or
    /// `X-Gitlab-Event-UUID`); unique per forge.
    pub delivery_id: String,
    /// The event header (`pull_request`, `Merge Request Hook`).
    pub event: String,
    pub received_at: OffsetDateTime,
    /// The raw body, exactly as signed.
    pub body: Vec<u8>,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryInsert {
    /// Stored, pending processing.
    Inserted,
    /// A delivery with this forge and id was stored before (or earlier in the same batch);
    /// nothing was stored.
    Duplicate,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Stored, not yet processed.
    Pending,
    /// Applied to at least one change record.
    Processed,
    /// Concerns no change record (an event change management does not use, or one about no
    /// known pull request).
    Ignored,
    /// Could not be read (the error says why); never retried.
    Failed,
}

impl DeliveryState {
    /// The stored spelling, e.g. `processed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Processed => "processed",
            DeliveryState::Ignored => "ignored",
            DeliveryState::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => DeliveryState::Pending,
            "processed" => DeliveryState::Processed,
            "ignored" => DeliveryState::Ignored,
            "failed" => DeliveryState::Failed,
            other => {
                return Err(StoreError::InvalidData(format!(
                    "unknown webhook delivery state `{other}`"
                )));
            }
        })
    }
}

/// A pending delivery claimed for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// Arrival order.
    pub id: i64,
    pub forge: String,
    pub delivery_id: String,
    pub event: String,
    pub received_at: OffsetDateTime,
    pub body: Vec<u8>,
}

/// How processing a claimed delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// [`ClaimedDelivery::id`].
    pub id: i64,
    /// Processed, ignored or failed (not pending).
    pub state: DeliveryState,
    /// Why it failed.
    pub error: Option<String>,
}

/// A stored delivery, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub forge: String,
    pub delivery_id: String,
    pub event: String,
    pub received_at: OffsetDateTime,
    pub body_bytes: u64,
    pub state: DeliveryState,
    pub error: Option<String>,
    pub processed_at: Option<OffsetDateTime>,
}

/// How many stored deliveries are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub processed: u64,
    pub ignored: u64,
    pub failed: u64,
}

impl DeliveryCounts {
    /// Every stored delivery.
    pub fn total(&self) -> u64 {
        self.pending + self.processed + self.ignored + self.failed
    }
}

/// The change record of one pull or merge request, serialized (`change::ChangeRecord` as JSON;
/// the store does not look inside).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChangeRecord {
    pub forge: String,
    /// `owner/name` (GitLab: `group/project`).
    pub repo: String,
    /// Pull request number (GitLab: the merge request's `iid`).
    pub number: u64,
    pub record: serde_json::Value,
    pub updated_at: OffsetDateTime,
}

/// The commits pushed to one branch before any pull request had it as its head (serialized
/// `change::Commit`s; the store does not look inside). An empty list deletes the row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBranch {
    pub forge: String,
    pub repo: String,
    pub branch: String,
    pub commits: serde_json::Value,
    pub updated_at: OffsetDateTime,
}

/// What a processed batch saves besides the deliveries' states.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinishedBatch {
    /// Change records to insert or replace.
    pub records: Vec<StoredChangeRecord>,
    /// Branch commits to insert or replace (or delete, when empty).
    pub branches: Vec<StoredBranch>,
}

/// Webhook deliveries and change records. Deliveries are stored first and processed after:
/// [`insert_deliveries`](ChangeStore::insert_deliveries) when one arrives,
/// [`claim_deliveries`](ChangeStore::claim_deliveries) then
/// [`finish_deliveries`](ChangeStore::finish_deliveries) in the processor.
pub trait ChangeStore {
    /// Stores deliveries in one transaction, each unless its (forge, delivery id) is stored
    /// already (`INSERT … ON CONFLICT DO NOTHING`: race-free across replicas). Returns what
    /// happened to each, in order; of two equal keys in one batch, the second is a duplicate.
    fn insert_deliveries(
        &self,
        deliveries: Vec<NewDelivery>,
    ) -> impl Future<Output = Result<Vec<DeliveryInsert>, StoreError>> + Send;
    /// Claims up to `limit` pending deliveries for `claimant` for `lease`, oldest first, and
    /// returns them. One claimant at a time: while another claimant holds an unexpired claim on
    /// any pending delivery, returns nothing (so deliveries are processed in arrival order
    /// across replicas). A claimant gets its own claimed deliveries again (a retry after a
    /// failed [`finish_deliveries`](ChangeStore::finish_deliveries)); an expired claim is
    /// taken over.
    fn claim_deliveries(
        &self,
        claimant: String,
        limit: u32,
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<ClaimedDelivery>, StoreError>> + Send;
    /// In one transaction: marks each delivery as its outcome says (only if `claimant` still
    /// holds its claim, else nothing is written and the error is [`StoreError::ClaimLost`])
    /// and saves the change records (insert or replace by forge, repository and number) and
    /// branch commits (by forge, repository and branch).
    fn finish_deliveries(
        &self,
        claimant: String,
        outcomes: Vec<DeliveryOutcome>,
        batch: FinishedBatch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The branch commits kept for one repository, by branch.
    fn branch_commits(
        &self,
        forge: &str,
        repo: &str,
    ) -> impl Future<Output = Result<Vec<StoredBranch>, StoreError>> + Send;
    /// Every change record of one repository, by number.
    fn change_records(
        &self,
        forge: &str,
        repo: &str,
    ) -> impl Future<Output = Result<Vec<StoredChangeRecord>, StoreError>> + Send;
    /// One change record.
    fn change_record(
        &self,
        forge: &str,
        repo: &str,
        number: u64,
    ) -> impl Future<Output = Result<Option<StoredChangeRecord>, StoreError>> + Send;
    /// One stored delivery, without its body.
    fn webhook_delivery(
        &self,
        forge: &str,
        delivery_id: &str,
    ) -> impl Future<Output = Result<Option<DeliveryRecord>, StoreError>> + Send;
    /// How many deliveries are in each state.
    fn delivery_counts(&self) -> impl Future<Output = Result<DeliveryCounts, StoreError>> + Send;
}

/// Microseconds since the Unix epoch.
pub(crate) fn unix_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn lease_micros(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)
}

impl ChangeStore for Store {
    async fn insert_deliveries(
        &self,
        deliveries: Vec<NewDelivery>,
    ) -> Result<Vec<DeliveryInsert>, StoreError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        // Equal keys within the batch: only the first is offered to the database.
        let mut seen = std::collections::HashSet::new();
        let mut first = Vec::with_capacity(deliveries.len());
        let mut offered = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let is_first = seen.insert((d.forge.clone(), d.delivery_id.clone()));
            first.push(is_first);
            if is_first {
                offered.push(d);
            }
        }
        let inserted = dispatch!(self, s => s.insert_deliveries(offered).await)?;
        let mut inserted = inserted.into_iter();
        Ok(first
            .into_iter()
            .map(|is_first| {
                if is_first {
                    inserted.next().unwrap_or(DeliveryInsert::Duplicate)
                } else {
                    DeliveryInsert::Duplicate
                }
            })
            .collect())
    }

    async fn claim_deliveries(
        &self,
        claimant: String,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.claim_deliveries(claimant, limit, lease).await)
    }

    async fn finish_deliveries(
        &self,
        claimant: String,
        outcomes: Vec<DeliveryOutcome>,
        batch: FinishedBatch,
    ) -> Result<(), StoreError> {
        let FinishedBatch { records, branches } = batch;
        if let Some(o) = outcomes.iter().find(|o| o.state == DeliveryState::Pending) {
            return Err(StoreError::InvalidData(format!(
                "webhook delivery {} cannot be finished as `pending`",
                o.id
            )));
        }
        // One row per key (the last one wins), so an upsert never touches a row twice.
        let mut by_key = std::collections::BTreeMap::new();
        for r in records {
            by_key.insert((r.forge.clone(), r.repo.clone(), r.number), r);
        }
        let records = by_key.into_values().collect();
        let mut by_branch = std::collections::BTreeMap::new();
        for b in branches {
            by_branch.insert((b.forge.clone(), b.repo.clone(), b.branch.clone()), b);
        }
        let branches = by_branch.into_values().collect();
        dispatch!(self, s => s.finish_deliveries(claimant, outcomes, records, branches).await)
    }

    async fn branch_commits(
        &self,
        forge: &str,
        repo: &str,
    ) -> Result<Vec<StoredBranch>, StoreError> {
        dispatch!(self, s => s.branch_commits(forge.to_owned(), repo.to_owned()).await)
    }

    async fn change_records(
        &self,
        forge: &str,
        repo: &str,
    ) -> Result<Vec<StoredChangeRecord>, StoreError> {
        dispatch!(self, s => s.change_records(forge.to_owned(), repo.to_owned(), None).await)
    }

    async fn change_record(
        &self,
        forge: &str,
        repo: &str,
        number: u64,
    ) -> Result<Option<StoredChangeRecord>, StoreError> {
        let found = dispatch!(self, s => s.change_records(forge.to_owned(), repo.to_owned(), Some(number)).await)?;
        Ok(found.into_iter().next())
    }

    async fn webhook_delivery(
        &self,
        forge: &str,
        delivery_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        dispatch!(self, s => s.webhook_delivery(forge.to_owned(), delivery_id.to_owned()).await)
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        dispatch!(self, s => s.delivery_counts().await)
    }
}

/// Adds `n` deliveries in `state` to `counts`.
pub(crate) fn count_state(
    counts: &mut DeliveryCounts,
    state: &str,
    n: i64,
) -> Result<(), StoreError> {
    let n = crate::to_u64("delivery count", n)?;
    match state.parse::<DeliveryState>()? {
        DeliveryState::Pending => counts.pending += n,
        DeliveryState::Processed => counts.processed += n,
        DeliveryState::Ignored => counts.ignored += n,
        DeliveryState::Failed => counts.failed += n,
    }
    Ok(())
}

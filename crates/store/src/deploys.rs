//! Deployment authorizations: each one's signed envelope and ledger index, its revocation and,
//! for a break-glass deployment, its retro-review (`DeployStore`).

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::{Backend, Store, StoreError, dispatch};

/// A standard authorization or a break-glass one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationKind {
    Standard,
    BreakGlass,
}

impl AuthorizationKind {
    /// The stored spelling: `standard` or `break-glass`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationKind::Standard => "standard",
            AuthorizationKind::BreakGlass => "break-glass",
        }
    }
}

impl fmt::Display for AuthorizationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthorizationKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(AuthorizationKind::Standard),
            "break-glass" => Ok(AuthorizationKind::BreakGlass),
            other => Err(StoreError::InvalidData(format!(
                "unknown authorization kind `{other}`"
            ))),
        }
    }
}

/// An authorization to store, once its ledger entry is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeployAuthorization {
    /// Inventory application id.
    pub app: String,
    pub environment: String,
    /// `owner/name`, when the commit's change record is known.
    pub repo: Option<String>,
    /// 40 hex digits.
    pub commit_sha: String,
    pub kind: AuthorizationKind,
    /// Inventory person id.
    pub approver: String,
    /// Break-glass: why (required).
    pub reason: Option<String>,
    pub authorized_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The DSSE envelope (JSON).
    pub envelope: serde_json::Value,
    /// The details of the ledger entry, exactly as recorded (their digest is in the entry).
    pub details: serde_json::Value,
    pub ledger_index: u64,
    /// Break-glass: when the retro-review is due (required).
    pub retro_review_due: Option<OffsetDateTime>,
}

/// How an authorization was revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub at: OffsetDateTime,
    /// Inventory person id.
    pub by: String,
    pub reason: String,
    /// The revocation's ledger entry.
    pub ledger_index: u64,
    /// Its details, exactly as recorded.
    pub details: serde_json::Value,
}

/// A break-glass deployment's retro-review.
#[derive(Debug, Clone, PartialEq)]
pub struct RetroReview {
    pub at: OffsetDateTime,
    /// Inventory person id.
    pub by: String,
    pub notes: String,
    /// The review's ledger entry.
    pub ledger_index: u64,
}

/// A stored authorization.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployAuthorization {
    pub id: i64,
    pub app: String,
    pub environment: String,
    pub repo: Option<String>,
    pub commit_sha: String,
    pub kind: AuthorizationKind,
    pub approver: String,
    pub reason: Option<String>,
    pub authorized_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub envelope: serde_json::Value,
    pub details: serde_json::Value,
    pub ledger_index: u64,
    pub retro_review_due: Option<OffsetDateTime>,
    pub revocation: Option<Revocation>,
    pub retro_review: Option<RetroReview>,
}

impl DeployAuthorization {
    pub(crate) fn new(id: i64, a: NewDeployAuthorization) -> DeployAuthorization {
        DeployAuthorization {
            id,
            app: a.app,
            environment: a.environment,
            repo: a.repo,
            commit_sha: a.commit_sha,
            kind: a.kind,
            approver: a.approver,
            reason: a.reason,
            authorized_at: crate::normalize_time(a.authorized_at),
            expires_at: crate::normalize_time(a.expires_at),
            envelope: a.envelope,
            details: a.details,
            ledger_index: a.ledger_index,
            retro_review_due: a.retro_review_due.map(crate::normalize_time),
            revocation: None,
            retro_review: None,
        }
    }
}

/// Deployment authorizations. Rows are written after their ledger entries are committed;
/// none is ever deleted.
pub trait DeployStore {
    /// Stores an authorization; returns it with its id.
    fn insert_deploy_authorization(
        &self,
        authorization: NewDeployAuthorization,
    ) -> impl Future<Output = Result<DeployAuthorization, StoreError>> + Send;
    /// One authorization by id.
    fn deploy_authorization(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<DeployAuthorization>, StoreError>> + Send;
    /// The newest authorization (highest id) of `commit_sha` to `environment` of `app`,
    /// revoked or expired ones included.
    fn newest_deploy_authorization(
        &self,
        app: &str,
        environment: &str,
        commit_sha: &str,
    ) -> impl Future<Output = Result<Option<DeployAuthorization>, StoreError>> + Send;
    /// Up to `limit` authorizations to `environment` of `app`, newest first.
    fn deploy_authorizations(
        &self,
        app: &str,
        environment: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DeployAuthorization>, StoreError>> + Send;
    /// Records the revocation of authorization `id` unless it is revoked already; returns
    /// whether it was (`false`: no such authorization, or revoked before).
    fn revoke_deploy_authorization(
        &self,
        id: i64,
        revocation: Revocation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records the retro-review of break-glass authorization `id` unless it has one already;
    /// returns whether it was (`false`: no such break-glass authorization, or reviewed before).
    fn record_retro_review(
        &self,
        id: i64,
        review: RetroReview,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Break-glass authorizations whose retro-review is due before `before` and not done,
    /// oldest due first (the overdue-alert sweep).
    fn retro_reviews_due(
        &self,
        before: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<DeployAuthorization>, StoreError>> + Send;
}

impl DeployStore for Store {
    async fn insert_deploy_authorization(
        &self,
        authorization: NewDeployAuthorization,
    ) -> Result<DeployAuthorization, StoreError> {
        if authorization.kind == AuthorizationKind::BreakGlass
            && (authorization.reason.is_none() || authorization.retro_review_due.is_none())
        {
            return Err(StoreError::InvalidData(
                "a break-glass authorization needs a reason and a retro-review deadline".to_owned(),
            ));
        }
        crate::to_i64("ledger index", authorization.ledger_index)?;
        dispatch!(self, s => s.insert_deploy_authorization(authorization).await)
    }

    async fn deploy_authorization(
        &self,
        id: i64,
    ) -> Result<Option<DeployAuthorization>, StoreError> {
        let found =
            dispatch!(self, s => s.select_deploy_authorizations(DeployQuery::Id(id)).await)?;
        Ok(found.into_iter().next())
    }

    async fn newest_deploy_authorization(
        &self,
        app: &str,
        environment: &str,
        commit_sha: &str,
    ) -> Result<Option<DeployAuthorization>, StoreError> {
        let query = DeployQuery::Commit {
            app: app.to_owned(),
            environment: environment.to_owned(),
            commit_sha: commit_sha.to_owned(),
        };
        let found = dispatch!(self, s => s.select_deploy_authorizations(query).await)?;
        Ok(found.into_iter().next())
    }

    async fn deploy_authorizations(
        &self,
        app: &str,
        environment: &str,
        limit: u32,
    ) -> Result<Vec<DeployAuthorization>, StoreError> {
        let query = DeployQuery::Target {
            app: app.to_owned(),
            environment: environment.to_owned(),
            limit,
        };
        dispatch!(self, s => s.select_deploy_authorizations(query).await)
    }

    async fn revoke_deploy_authorization(
        &self,
        id: i64,
        revocation: Revocation,
    ) -> Result<bool, StoreError> {
        crate::to_i64("ledger index", revocation.ledger_index)?;
        dispatch!(self, s => s.revoke_deploy_authorization(id, revocation).await)
    }

    async fn record_retro_review(&self, id: i64, review: RetroReview) -> Result<bool, StoreError> {
        crate::to_i64("ledger index", review.ledger_index)?;
        dispatch!(self, s => s.record_retro_review(id, review).await)
    }

    async fn retro_reviews_due(
        &self,
        before: OffsetDateTime,
    ) -> Result<Vec<DeployAuthorization>, StoreError> {
        dispatch!(self, s => s.select_deploy_authorizations(DeployQuery::RetroDue(before)).await)
    }
}

/// Which rows a select reads (each backend has one query per variant).
#[derive(Debug, Clone)]
pub(crate) enum DeployQuery {
    Id(i64),
    /// Newest first, at most one.
    Commit {
        app: String,
        environment: String,
        commit_sha: String,
    },
    /// Newest first.
    Target {
        app: String,
        environment: String,
        limit: u32,
    },
    /// Break-glass, not reviewed, due before; oldest due first.
    RetroDue(OffsetDateTime),
}

/// The selected columns, in order, shared by both backends.
pub(crate) const DEPLOY_COLUMNS: &str = "id, app, environment, repo, commit_sha, kind, approver, \
     reason, authorized_at, expires_at, envelope, details, ledger_index, retro_review_due, \
     revoked_at, revoked_by, revoked_reason, revoked_ledger_index, revocation_details, \
     retro_reviewed_at, retro_reviewed_by, retro_review_notes, retro_review_ledger_index";

/// One row's values, decoded by a backend into plain types.
pub(crate) struct DeployRow {
    pub id: i64,
    pub app: String,
    pub environment: String,
    pub repo: Option<String>,
    pub commit_sha: String,
    pub kind: String,
    pub approver: String,
    pub reason: Option<String>,
    pub authorized_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub envelope: serde_json::Value,
    pub details: serde_json::Value,
    pub ledger_index: i64,
    pub retro_review_due: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<String>,
    pub revoked_reason: Option<String>,
    pub revoked_ledger_index: Option<i64>,
    pub revocation_details: Option<serde_json::Value>,
    pub retro_reviewed_at: Option<OffsetDateTime>,
    pub retro_reviewed_by: Option<String>,
    pub retro_review_notes: Option<String>,
    pub retro_review_ledger_index: Option<i64>,
}

impl DeployRow {
    pub(crate) fn decode(self) -> Result<DeployAuthorization, StoreError> {
        let incomplete = |what: &str| {
            StoreError::InvalidData(format!(
                "deploy authorization {} has an incomplete {what}",
                self.id
            ))
        };
        let revocation = match self.revoked_at {
            None => None,
            Some(at) => Some(Revocation {
                at,
                by: self
                    .revoked_by
                    .clone()
                    .ok_or_else(|| incomplete("revocation"))?,
                reason: self
                    .revoked_reason
                    .clone()
                    .ok_or_else(|| incomplete("revocation"))?,
                ledger_index: crate::to_u64(
                    "ledger index",
                    self.revoked_ledger_index
                        .ok_or_else(|| incomplete("revocation"))?,
                )?,
                details: self
                    .revocation_details
                    .clone()
                    .ok_or_else(|| incomplete("revocation"))?,
            }),
        };
        let retro_review = match self.retro_reviewed_at {
            None => None,
            Some(at) => Some(RetroReview {
                at,
                by: self
                    .retro_reviewed_by
                    .clone()
                    .ok_or_else(|| incomplete("retro-review"))?,
                notes: self
                    .retro_review_notes
                    .clone()
                    .ok_or_else(|| incomplete("retro-review"))?,
                ledger_index: crate::to_u64(
                    "ledger index",
                    self.retro_review_ledger_index
                        .ok_or_else(|| incomplete("retro-review"))?,
                )?,
            }),
        };
        Ok(DeployAuthorization {
            id: self.id,
            kind: self.kind.parse()?,
            ledger_index: crate::to_u64("ledger index", self.ledger_index)?,
            app: self.app,
            environment: self.environment,
            repo: self.repo,
            commit_sha: self.commit_sha,
            approver: self.approver,
            reason: self.reason,
            authorized_at: self.authorized_at,
            expires_at: self.expires_at,
            envelope: self.envelope,
            details: self.details,
            retro_review_due: self.retro_review_due,
            revocation,
            retro_review,
        })
    }
}

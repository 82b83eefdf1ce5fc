//! Deployment authorization as a service (no HTTP), shared by `aigov deploy` and
//! `/api/v1/deployments/...`: authorize a commit for an application's environment (a signed
//! in-toto statement recorded in the ledger, then stored), revoke, retro-review a break-glass
//! deployment, answer whether a deployment is authorized, and build the bundle a CD pipeline
//! verifies offline. Every function takes the time as `now` (an injectable clock).

use attest::{
    AuthorizationBundle, BUNDLE_FORMAT, ChangeRef, Envelope, GateRef, Kind, LoggedEntry,
    PAYLOAD_TYPE, Predicate, Statement,
};
use audit::{AuditError, AuditLog, Record};
use base64::Engine as _;
use bundle::Bundle;
use change::{ChangeRecord, Forge};
use ledger::{EntryKind, Outcome};
use serde_json::{Value, json};
use store::{
    AuthorizationKind, ChangeStore, DeployAuthorization, DeployStore, LedgerStore,
    NewDeployAuthorization, RetroReview, Revocation, Store, StoreError, StoredChangeRecord,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use attest::bundle::{EVENT_AUTHORIZED, EVENT_BREAK_GLASS, EVENT_REVOKED};
/// Ledger event of a refused authorization (entry kind `approval`, outcome failure).
pub const EVENT_DENIED: &str = "deploy.denied";
/// Ledger event of a break-glass deployment's retro-review (entry kind `review`).
pub const EVENT_RETRO_REVIEW: &str = "deploy.retro_review";
/// Ledger event of a merge-gate evaluation made for an authorization (`policy_decision`).
pub const EVENT_MERGE_GATE: &str = "gate.merge";

/// How many of an environment's newest authorizations [`status`] looks at for the commits
/// that are authorized when the asked one is not.
const OTHER_COMMITS_SCAN: u32 = 200;

/// Why an authorization, revocation or retro-review was not made.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The request itself is wrong (what, and how to fix it).
    #[error("{0}")]
    Invalid(String),
    /// The authorization was refused; the refusal is in the ledger at `ledger_index`.
    #[error("deployment not authorized: {}", reasons.join("; "))]
    Denied {
        reasons: Vec<String>,
        ledger_index: u64,
    },
    #[error("{0}")]
    NotFound(String),
    /// Revoked or reviewed already.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the deployment authorization could not be recorded in the audit ledger, so it was not made"
    )]
    Audit(#[from] AuditError),
}

/// What to authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// Inventory application id.
    pub app: String,
    pub environment: String,
    /// The commit to deploy (40 hex digits).
    pub commit: String,
    /// Inventory person id of the approver.
    pub approver: String,
    /// `Some(reason)`: an emergency (break-glass) authorization.
    pub break_glass: Option<String>,
}

/// A revocation: authorization `id`, revoked by inventory person `by` because `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    pub id: i64,
    pub by: String,
    pub reason: String,
}

/// A retro-review of break-glass authorization `id` by inventory person `reviewer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetroReviewRequest {
    pub id: i64,
    pub reviewer: String,
    pub notes: String,
}

/// Whether deploying `commit` to an environment is authorized now.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployStatus {
    Valid(DeployAuthorization),
    /// No authorization of this commit, and none of another.
    Missing,
    Expired(DeployAuthorization),
    Revoked(DeployAuthorization),
    /// No authorization of this commit, but of these (valid now, newest first).
    OtherCommit {
        authorized: Vec<String>,
    },
}

impl DeployStatus {
    /// `valid`, `missing`, `expired`, `revoked` or `other_commit`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeployStatus::Valid(_) => "valid",
            DeployStatus::Missing => "missing",
            DeployStatus::Expired(_) => "expired",
            DeployStatus::Revoked(_) => "revoked",
            DeployStatus::OtherCommit { .. } => "other_commit",
        }
    }

    /// The authorization the status is about, if any.
    pub fn authorization(&self) -> Option<&DeployAuthorization> {
        match self {
            DeployStatus::Valid(a) | DeployStatus::Expired(a) | DeployStatus::Revoked(a) => Some(a),
            DeployStatus::Missing | DeployStatus::OtherCommit { .. } => None,
        }
    }

    /// Why a deployment is not authorized, in words (`None` when it is).
    pub fn reason(&self, commit: &str) -> Option<String> {
        match self {
            DeployStatus::Valid(_) => None,
            DeployStatus::Missing => Some(format!("no authorization for commit {commit}")),
            DeployStatus::Expired(a) => Some(format!("expired at {}", rfc3339(a.expires_at))),
            DeployStatus::Revoked(a) => a.revocation.as_ref().map(|r| {
                format!(
                    "revoked by {} at {} because {}",
                    r.by,
                    rfc3339(r.at),
                    r.reason
                )
            }),
            DeployStatus::OtherCommit { authorized } => Some(format!(
                "authorization is for commit {}",
                authorized.join(", ")
            )),
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// `unknown <what> `x`: …; did you mean `y`?`
fn unknown(what: &str, id: &str, known: impl Iterator<Item = String>, fix: &str) -> DeployError {
    let hint = policy::closest(id, known)
        .map_or_else(|| fix.to_owned(), |c| format!("did you mean `{c}`?"));
    DeployError::Invalid(format!("unknown {what} `{}`: {hint}", id.escape_debug()))
}

/// Checks the request against the inventory; returns the commit in lowercase.
fn validate(bundle: &Bundle, request: &AuthorizeRequest) -> Result<String, DeployError> {
    let inv = &bundle.inventory;
    let app = inv.applications.get(&request.app).ok_or_else(|| {
        unknown(
            "application",
            &request.app,
            inv.applications.keys().cloned(),
            "add it to the bundle's `inventory/` first",
        )
    })?;
    if !app.environments.contains(&request.environment) {
        return Err(unknown(
            &format!("environment of `{}`", app.id),
            &request.environment,
            app.environments.iter().cloned(),
            &format!("its environments are: {}", app.environments.join(", ")),
        ));
    }
    let commit = request.commit.trim().to_ascii_lowercase();
    if !attest::is_commit_sha(&commit) {
        return Err(DeployError::Invalid(format!(
            "invalid commit `{}`: expected the full 40-hex-digit commit id",
            request.commit.escape_debug()
        )));
    }
    check_person(bundle, "approver", &request.approver)?;
    if let Some(reason) = &request.break_glass
        && reason.trim().is_empty()
    {
        return Err(DeployError::Invalid(
            "a break-glass authorization needs a reason (what is broken, why it cannot wait)"
                .to_owned(),
        ));
    }
    Ok(commit)
}

fn check_person(bundle: &Bundle, role: &str, id: &str) -> Result<(), DeployError> {
    let people = &bundle.inventory.people;
    if people.contains_key(id) {
        return Ok(());
    }
    Err(unknown(
        &format!("{role} (not an inventory person)"),
        id,
        people.keys().cloned(),
        "add them to the bundle's `inventory/` first",
    ))
}

/// A change record that has the commit, with where it was found.
struct Found {
    forge: Forge,
    stored: StoredChangeRecord,
    record: ChangeRecord,
    /// The head the merge gate decides on for this commit: the merged head when the commit is
    /// the merge commit, else the commit itself.
    gate_head: String,
}

/// The change record among the app's repositories whose merge commit or head is `commit`
/// (GitHub first, then GitLab; the highest number when several are).
async fn find_change(
    store: &Store,
    repositories: &[String],
    commit: &str,
) -> Result<Option<Found>, DeployError> {
    for forge in [Forge::GitHub, Forge::GitLab] {
        let mut best: Option<Found> = None;
        for repo in repositories {
            for stored in store.change_records(forge.as_str(), repo).await? {
                let Ok(record) = serde_json::from_value::<ChangeRecord>(stored.record.clone())
                else {
                    tracing::warn!(forge = forge.as_str(), %repo, number = stored.number, "unreadable change record skipped");
                    continue;
                };
                let merged_head = record
                    .merge
                    .as_ref()
                    .filter(|m| m.commit_sha.as_deref() == Some(commit))
                    .map(|m| m.head_sha.clone());
                let gate_head = match merged_head {
                    Some(head) => head,
                    None if record.head_sha == commit => commit.to_owned(),
                    None => continue,
                };
                if best
                    .as_ref()
                    .is_none_or(|b| b.stored.number < stored.number)
                {
                    best = Some(Found {
                        forge,
                        stored,
                        record,
                        gate_head,
                    });
                }
            }
        }
        if best.is_some() {
            return Ok(best);
        }
    }
    Ok(None)
}

/// The merge gate's decision for the found change: the record's own when it was decided on
/// the commit's head and recorded, else evaluated now and recorded first.
async fn merge_gate(
    audit: &AuditLog,
    bundle: &Bundle,
    actor: &str,
    found: &Found,
    now: OffsetDateTime,
) -> Result<GateRef, DeployError> {
    if let Some(gate) = &found.record.gate
        && gate.head_sha == found.gate_head
        && gate.ledger_index.is_some()
    {
        return Ok(GateRef {
            outcome: outcome_str(gate.outcome).to_owned(),
            reasons: gate.reasons.clone(),
            ledger_index: gate.ledger_index,
        });
    }
    let gate = crate::gate::evaluate_merge(bundle, found.forge, &found.record);
    let allowed = gate.decision.is_allowed();
    let record = &found.record;
    let mut entry = Record::new(
        EntryKind::PolicyDecision,
        EVENT_MERGE_GATE,
        actor,
        format!("repo:{}#{}", record.repo, record.number),
        Outcome::Success,
    )
    .decision(if allowed {
        ledger::Decision::Allow
    } else {
        ledger::Decision::Deny
    })
    .field("action", "MergeChange")
    .field("forge", found.forge.as_str())
    .field("bundle", bundle.digest.as_str())
    .details(json!({
        "forge": found.forge.as_str(),
        "repo": record.repo,
        "number": record.number,
        "head_sha": record.head_sha,
        "principal": gate.principal,
        "facts": gate.facts,
        "decision": gate.decision,
        "bundle_digest": bundle.digest,
        "reason": "deployment authorization",
    }));
    if let Some(p) = &gate.principal {
        entry = entry.field("principal", p.as_str());
    }
    entry.time = Some(now);
    let recorded = audit.record(entry).await?;
    Ok(GateRef {
        outcome: outcome_str(gate.decision.outcome).to_owned(),
        reasons: gate.decision.reasons(),
        ledger_index: Some(recorded.index),
    })
}

fn outcome_str(o: model::Outcome) -> &'static str {
    match o {
        model::Outcome::Allow => "allow",
        model::Outcome::Deny => "deny",
    }
}

/// Records a refused authorization and returns the error carrying the reasons.
async fn deny(
    audit: &AuditLog,
    actor: &str,
    request: &AuthorizeRequest,
    commit: &str,
    reasons: Vec<String>,
    now: OffsetDateTime,
) -> DeployError {
    let mut entry = Record::new(
        EntryKind::Approval,
        EVENT_DENIED,
        actor,
        format!("deploy:{}/{}", request.app, request.environment),
        Outcome::Failure,
    )
    .decision(ledger::Decision::Deny)
    .field("app", request.app.as_str())
    .field("environment", request.environment.as_str())
    .field("commit", commit)
    .field("approver", request.approver.as_str())
    .details(json!({
        "app": request.app,
        "environment": request.environment,
        "commit": commit,
        "approver": request.approver,
        "break_glass": request.break_glass.is_some(),
        "reasons": reasons,
    }));
    entry.time = Some(now);
    match audit.record(entry).await {
        Ok(recorded) => DeployError::Denied {
            reasons,
            ledger_index: recorded.index,
        },
        Err(e) => e.into(),
    }
}

/// Authorizes deploying `request.commit` to an environment of an application, on behalf of
/// `actor` (the token or CLI user), with `request.approver` as the approver.
///
/// A standard authorization needs the commit's change record (its head or merge commit among
/// the application's repositories), a merge gate that allows it, and an approver who is not
/// the change's author; otherwise it is refused, and the refusal recorded
/// ([`DeployError::Denied`]). A break-glass one needs only a reason; it is flagged and its
/// retro-review falls due after the bundle's `retro_review_within`. The statement is signed
/// with the log's key and recorded in the ledger (details hold the envelope) before the row
/// is stored.
pub async fn authorize(
    store: &Store,
    audit: &AuditLog,
    bundle: &Bundle,
    actor: &str,
    request: AuthorizeRequest,
    now: OffsetDateTime,
) -> Result<DeployAuthorization, DeployError> {
    let commit = validate(bundle, &request)?;
    let app = &bundle.inventory.applications[&request.app];
    let found = find_change(store, &app.repositories, &commit).await?;
    let now = store::normalize_time(now);
    let kind = if request.break_glass.is_some() {
        Kind::BreakGlass
    } else {
        Kind::Standard
    };
    let change = found.as_ref().map(|f| ChangeRef {
        forge: f.forge.as_str().to_owned(),
        repo: f.stored.repo.clone(),
        number: f.stored.number,
        record_sha256: ledger::sha256(&audit::record::canonical_json(&f.stored.record)).to_hex(),
    });
    let gate = match (kind, &found) {
        (Kind::BreakGlass, _) => None,
        (Kind::Standard, None) => {
            let reasons = vec![format!(
                "no change record of `{}` ({}) has commit {commit} as its head or merge commit; a standard authorization needs the reviewed change (or use break-glass with a reason)",
                app.id,
                app.repositories.join(", ")
            )];
            return Err(deny(audit, actor, &request, &commit, reasons, now).await);
        }
        (Kind::Standard, Some(found)) => {
            let gate = merge_gate(audit, bundle, actor, found, now).await?;
            let mut reasons = Vec::new();
            if gate.outcome != "allow" {
                reasons.push(format!(
                    "the merge gate denies {}#{} at {}",
                    found.record.repo, found.record.number, found.gate_head
                ));
                reasons.extend(gate.reasons.iter().cloned());
            }
            let login = found.record.author.as_deref().unwrap_or_default();
            match bundle
                .inventory
                .person_by_login(found.forge.as_str(), login)
            {
                Some(author) if author.id == request.approver => reasons.push(format!(
                    "`{}` is the change's author and cannot approve its deployment (separation of duties)",
                    request.approver
                )),
                Some(_) => {}
                None => reasons.push(format!(
                    "the change's author `{login}` is not an inventory person, so separation of duties cannot be checked"
                )),
            }
            if !reasons.is_empty() {
                return Err(deny(audit, actor, &request, &commit, reasons, now).await);
            }
            Some(gate)
        }
    };
    let settings = &bundle.change;
    let expires_at = now + settings.authorization_valid_for;
    let retro_review_due = request
        .break_glass
        .as_ref()
        .map(|_| now + settings.retro_review_within);
    let reason = request.break_glass.as_ref().map(|r| r.trim().to_owned());
    let statement = Statement::new(Predicate {
        app: request.app.clone(),
        environment: request.environment.clone(),
        repository: found.as_ref().map(|f| f.stored.repo.clone()),
        commit: commit.clone(),
        approver: request.approver.clone(),
        authorized_at: now,
        expires_at,
        kind,
        reason: reason.clone(),
        retro_review_due,
        change,
        gate,
    });
    let envelope = Envelope::sign(PAYLOAD_TYPE, &statement.to_bytes(), audit.signer()).to_json();
    let (entry_kind, event) = match kind {
        Kind::Standard => (EntryKind::Approval, EVENT_AUTHORIZED),
        Kind::BreakGlass => (EntryKind::BreakGlass, EVENT_BREAK_GLASS),
    };
    let details = json!({
        "envelope": envelope,
        "app": request.app,
        "environment": request.environment,
        "commit": commit,
        "approver": request.approver,
        "kind": kind.as_str(),
        "reason": reason,
        "expires_at": rfc3339(expires_at),
        "retro_review_due": retro_review_due.map(rfc3339),
    });
    let mut entry = Record::new(
        entry_kind,
        event,
        actor,
        format!("deploy:{}/{}", request.app, request.environment),
        Outcome::Success,
    )
    .decision(ledger::Decision::Allow)
    .field("app", request.app.as_str())
    .field("environment", request.environment.as_str())
    .field("commit", commit.as_str())
    .field("approver", request.approver.as_str())
    .field("kind", kind.as_str())
    .details(details.clone());
    entry.time = Some(now);
    let recorded = audit.record(entry).await?;
    let stored = store
        .insert_deploy_authorization(NewDeployAuthorization {
            app: request.app,
            environment: request.environment,
            repo: found.map(|f| f.stored.repo),
            commit_sha: commit,
            kind: match kind {
                Kind::Standard => AuthorizationKind::Standard,
                Kind::BreakGlass => AuthorizationKind::BreakGlass,
            },
            approver: request.approver,
            reason,
            authorized_at: now,
            expires_at,
            envelope,
            details,
            ledger_index: recorded.index,
            retro_review_due,
        })
        .await?;
    Ok(stored)
}

async fn existing(store: &Store, id: i64) -> Result<DeployAuthorization, DeployError> {
    store
        .deploy_authorization(id)
        .await?
        .ok_or_else(|| DeployError::NotFound(format!("no deployment authorization {id}")))
}

fn non_empty(what: &str, text: &str) -> Result<String, DeployError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DeployError::Invalid(format!("{what} must not be empty")));
    }
    Ok(text.to_owned())
}

/// Revokes authorization `id`: `by` (an inventory person) says why. Recorded (`approval`,
/// event `deploy.revoked`, details naming the authorization's ledger entry) before it is
/// stored; the revocation entry is what `aigov deploy verify --server` proves.
pub async fn revoke(
    store: &Store,
    audit: &AuditLog,
    bundle: &Bundle,
    actor: &str,
    request: &RevokeRequest,
    now: OffsetDateTime,
) -> Result<DeployAuthorization, DeployError> {
    let (id, by) = (request.id, request.by.as_str());
    check_person(bundle, "revoker", by)?;
    let reason = non_empty("the revocation's reason", &request.reason)?;
    let authorization = existing(store, id).await?;
    if let Some(r) = &authorization.revocation {
        return Err(DeployError::Conflict(format!(
            "deployment authorization {id} was revoked already, by {} at {}",
            r.by,
            rfc3339(r.at)
        )));
    }
    let now = store::normalize_time(now);
    let details = json!({
        "authorization_id": id,
        "authorization_ledger_index": authorization.ledger_index,
        "app": authorization.app,
        "environment": authorization.environment,
        "commit": authorization.commit_sha,
        "revoked_by": by,
        "revoked_at": rfc3339(now),
        "reason": reason,
    });
    let mut entry = Record::new(
        EntryKind::Approval,
        EVENT_REVOKED,
        actor,
        format!("deploy:{}/{}", authorization.app, authorization.environment),
        Outcome::Success,
    )
    .field("commit", authorization.commit_sha.as_str())
    .field("revoked_by", by)
    .field("authorization", authorization.ledger_index.to_string())
    .details(details.clone());
    entry.time = Some(now);
    let recorded = audit.record(entry).await?;
    let revocation = Revocation {
        at: now,
        by: by.to_owned(),
        reason,
        ledger_index: recorded.index,
        details,
    };
    if !store
        .revoke_deploy_authorization(id, revocation.clone())
        .await?
    {
        return Err(DeployError::Conflict(format!(
            "deployment authorization {id} was revoked concurrently"
        )));
    }
    Ok(DeployAuthorization {
        revocation: Some(revocation),
        ..authorization
    })
}

/// Records the retro-review of break-glass authorization `id` by `reviewer` (an inventory
/// person other than its approver) with `notes` (`review`, event `deploy.retro_review`).
pub async fn retro_review(
    store: &Store,
    audit: &AuditLog,
    bundle: &Bundle,
    actor: &str,
    request: &RetroReviewRequest,
    now: OffsetDateTime,
) -> Result<DeployAuthorization, DeployError> {
    let (id, reviewer) = (request.id, request.reviewer.as_str());
    check_person(bundle, "reviewer", reviewer)?;
    let notes = non_empty("the retro-review's notes", &request.notes)?;
    let authorization = existing(store, id).await?;
    if authorization.kind != AuthorizationKind::BreakGlass {
        return Err(DeployError::Invalid(format!(
            "deployment authorization {id} is not a break-glass one; only those are retro-reviewed"
        )));
    }
    if let Some(r) = &authorization.retro_review {
        return Err(DeployError::Conflict(format!(
            "deployment authorization {id} was retro-reviewed already, by {} at {}",
            r.by,
            rfc3339(r.at)
        )));
    }
    if authorization.approver == reviewer {
        return Err(DeployError::Invalid(format!(
            "`{reviewer}` approved the break-glass deployment and cannot retro-review it (separation of duties)"
        )));
    }
    let now = store::normalize_time(now);
    let overdue = authorization.retro_review_due.is_some_and(|due| now > due);
    let mut entry = Record::new(
        EntryKind::Review,
        EVENT_RETRO_REVIEW,
        actor,
        format!("deploy:{}/{}", authorization.app, authorization.environment),
        Outcome::Success,
    )
    .field("commit", authorization.commit_sha.as_str())
    .field("reviewer", reviewer)
    .field("authorization", authorization.ledger_index.to_string())
    .details(json!({
        "authorization_id": id,
        "authorization_ledger_index": authorization.ledger_index,
        "reviewer": reviewer,
        "reviewed_at": rfc3339(now),
        "retro_review_due": authorization.retro_review_due.map(rfc3339),
        "overdue": overdue,
        "notes": notes,
    }));
    entry.time = Some(now);
    let recorded = audit.record(entry).await?;
    let review = RetroReview {
        at: now,
        by: reviewer.to_owned(),
        notes,
        ledger_index: recorded.index,
    };
    if !store.record_retro_review(id, review.clone()).await? {
        return Err(DeployError::Conflict(format!(
            "deployment authorization {id} was retro-reviewed concurrently"
        )));
    }
    Ok(DeployAuthorization {
        retro_review: Some(review),
        ..authorization
    })
}

/// Whether deploying `commit` to `environment` of `app` is authorized at `now`. The newest
/// authorization of the commit decides (so revoking it stops the commit even if an older one
/// is unrevoked); without one, the commits that are authorized are named.
pub async fn status(
    store: &Store,
    app: &str,
    environment: &str,
    commit: &str,
    now: OffsetDateTime,
) -> Result<DeployStatus, StoreError> {
    let commit = commit.trim().to_ascii_lowercase();
    if let Some(a) = store
        .newest_deploy_authorization(app, environment, &commit)
        .await?
    {
        return Ok(if a.revocation.is_some() {
            DeployStatus::Revoked(a)
        } else if now >= a.expires_at {
            DeployStatus::Expired(a)
        } else {
            DeployStatus::Valid(a)
        });
    }
    let mut authorized: Vec<String> = Vec::new();
    for a in store
        .deploy_authorizations(app, environment, OTHER_COMMITS_SCAN)
        .await?
    {
        if a.revocation.is_none() && now < a.expires_at && !authorized.contains(&a.commit_sha) {
            authorized.push(a.commit_sha);
        }
    }
    Ok(if authorized.is_empty() {
        DeployStatus::Missing
    } else {
        DeployStatus::OtherCommit { authorized }
    })
}

/// The status of a deployment and, when an authorization of the commit exists, the bundle
/// that proves it (and its revocation) offline against the newest checkpoint, which is
/// signed first if the log grew since.
pub async fn authorization_bundle(
    store: &Store,
    audit: &AuditLog,
    app: &str,
    environment: &str,
    commit: &str,
    now: OffsetDateTime,
) -> Result<(DeployStatus, Option<AuthorizationBundle>), DeployError> {
    let status = status(store, app, environment, commit, now).await?;
    let Some(authorization) = status.authorization() else {
        return Ok((status, None));
    };
    audit.checkpoint_now().await?;
    let checkpoint =
        store.ledger_checkpoints().await?.pop().ok_or_else(|| {
            DeployError::NotFound("the audit log has no checkpoint yet".to_owned())
        })?;
    let logged = |index: u64, details: Value| {
        let checkpoint = &checkpoint;
        async move {
            let proof = audit::tiles::tlog_proof(store, index, checkpoint)
                .await
                .map_err(|e| {
                    DeployError::NotFound(format!("cannot prove ledger entry {index}: {e}"))
                })?;
            let entry = store
                .ledger_entries(index, 1)
                .await?
                .into_iter()
                .find(|e| e.index == index)
                .ok_or_else(|| DeployError::NotFound(format!("no ledger entry {index}")))?;
            Ok::<_, DeployError>(LoggedEntry {
                index,
                entry: base64::engine::general_purpose::STANDARD.encode(&entry.bytes),
                details,
                proof,
            })
        }
    };
    let envelope = Envelope::from_json(&authorization.envelope)
        .map_err(|e| StoreError::InvalidData(format!("stored envelope: {e}")))?;
    let revocation = match &authorization.revocation {
        Some(r) => Some(logged(r.ledger_index, r.details.clone()).await?),
        None => None,
    };
    let bundle = AuthorizationBundle {
        format: BUNDLE_FORMAT.to_owned(),
        id: authorization.id,
        envelope,
        authorization: logged(authorization.ledger_index, authorization.details.clone()).await?,
        revocation,
    };
    Ok((status, Some(bundle)))
}

/// Break-glass authorizations whose retro-review is due before `now` and not done (for the
/// overdue-alert sweep).
pub async fn overdue_retro_reviews(
    store: &Store,
    now: OffsetDateTime,
) -> Result<Vec<DeployAuthorization>, StoreError> {
    store.retro_reviews_due(now).await
}

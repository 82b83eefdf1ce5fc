//! Exception alerts: each raised alert gets a ledger entry (`alert`, event `alert.raised`);
//! the sweep raises pending alerts that came due (unless something explained them meanwhile)
//! and overdue break-glass retro-reviews; the API lists them.

use std::sync::Arc;
use std::time::Duration;

use audit::Record;
use change::{ChangeRecord, Forge};
use ledger::EntryKind;
use serde_json::json;
use store::{AlertStore as _, ChangeStore as _, NewAlert, StoreError, StoredAlert};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::AppState;

/// How often the sweep runs.
const SWEEP: Duration = Duration::from_secs(30);
/// Most alerts handled per store round trip.
const BATCH: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("audit ledger: {0}")]
    Audit(#[from] audit::AuditError),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Pending alerts raised.
    pub raised: usize,
    /// Pending alerts dismissed because something explained them.
    pub dismissed: usize,
    /// Raised alerts recorded in the ledger.
    pub recorded: usize,
}

/// Records every raised alert that has no ledger entry yet (also those a crash left
/// unrecorded). One caller at a time per replica.
pub(crate) async fn record_raised(state: &AppState) -> Result<usize, AlertError> {
    let _one = state.alert_lock.lock().await;
    let store = state.store();
    let mut n = 0;
    loop {
        let batch = store.unrecorded_alerts(BATCH).await?;
        if batch.is_empty() {
            return Ok(n);
        }
        for alert in batch {
            let recorded = state.record(entry(&alert)).await?;
            store
                .set_alert_ledger_index(alert.id, recorded.index)
                .await?;
            n += 1;
        }
    }
}

fn time_text(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

/// The ledger entry of a raised alert.
fn entry(a: &StoredAlert) -> Record {
    Record::new(
        EntryKind::Alert,
        "alert.raised",
        "aigov",
        crate::webhooks::fit(&a.subject),
        ledger::Outcome::Success,
    )
    .field("alert", a.kind.as_str())
    .field("alert_id", a.id.to_string())
    .details(json!({
        "id": a.id,
        "kind": a.kind,
        "key": a.key,
        "summary": a.summary,
        "details": a.details,
        "created_at": time_text(Some(a.created_at)),
        "due": time_text(a.due),
        "raised_at": time_text(a.raised_at),
    }))
}

/// Raises the pending alerts due at `now`, except those explained meanwhile (a push to a
/// protected branch whose commit a merged change now has), and an alert for every break-glass
/// deployment whose retro-review is overdue; then records what was raised.
pub async fn sweep(state: &AppState, now: OffsetDateTime) -> Result<SweepReport, AlertError> {
    let store = state.store();
    let mut report = SweepReport::default();
    let overdue: Vec<NewAlert> = crate::deploys::overdue_retro_reviews(store, now)
        .await?
        .iter()
        .map(retro_review_alert)
        .collect();
    report.raised += store
        .add_alerts(overdue, now)
        .await?
        .iter()
        .filter(|id| id.is_some())
        .count();
    loop {
        let due = store.due_alerts(now, BATCH).await?;
        if due.is_empty() {
            break;
        }
        for alert in due {
            match explanation(state, &alert).await? {
                Some(why) => {
                    if store.dismiss_alert(alert.id, why).await? {
                        report.dismissed += 1;
                    }
                }
                None => {
                    if store.raise_alert(alert.id, now).await? {
                        report.raised += 1;
                    }
                }
            }
        }
    }
    report.recorded = record_raised(state).await?;
    Ok(report)
}

/// The alert of a break-glass deployment whose retro-review is overdue.
fn retro_review_alert(a: &store::DeployAuthorization) -> NewAlert {
    let due = time_text(a.retro_review_due).unwrap_or_default();
    NewAlert {
        kind: "retro-review-overdue".to_owned(),
        key: format!("retro-review-overdue:{}", a.id),
        subject: format!("app:{}/{}", a.app, a.environment),
        summary: format!(
            "the break-glass deployment of {} to {} of {} (approved by {}: {}) needed a retro-review by {due}; none was recorded",
            a.commit_sha.get(..12).unwrap_or(&a.commit_sha),
            a.environment,
            a.app,
            a.approver,
            a.reason.as_deref().unwrap_or("no reason given"),
        ),
        details: json!({
            "authorization": a.id,
            "app": a.app,
            "environment": a.environment,
            "commit": a.commit_sha,
            "approver": a.approver,
            "reason": a.reason,
            "authorized_at": time_text(Some(a.authorized_at)),
            "retro_review_due": due,
            "authorization_ledger_index": a.ledger_index,
        }),
        due: None,
    }
}

/// Why a pending alert is no longer one, if it is not.
async fn explanation(state: &AppState, alert: &StoredAlert) -> Result<Option<String>, AlertError> {
    if alert.kind != "push-to-protected-branch" {
        return Ok(None);
    }
    let text = |k: &str| alert.details.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let (forge, repo, sha) = (text("forge"), text("repo"), text("after"));
    let forge = if forge == Forge::GitLab.as_str() {
        Forge::GitLab
    } else {
        Forge::GitHub
    };
    let records: Vec<ChangeRecord> = state
        .store()
        .change_records(forge.as_str(), repo)
        .await?
        .into_iter()
        // A record that cannot be read explains nothing; the processor reports it.
        .filter_map(|s| serde_json::from_value(s.record).ok())
        .collect();
    Ok(crate::webhooks::merged_by(&records, sha)
        .map(|r| format!("the commit is the merge of {}#{}", r.repo, r.number)))
}

/// Sweeps every [`SWEEP`] until `stop` is dropped.
pub(crate) async fn run(state: Arc<AppState>, mut stop: watch::Receiver<()>) {
    if !state.webhooks.process {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = sweep(&state, state.now()).await {
            tracing::warn!(error = %e, "alert sweep failed; retrying");
        }
    }
}

/// Alerts for the API, newest first.
pub(crate) async fn list(
    state: &AppState,
    filter: Option<store::AlertState>,
    limit: u32,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let alerts = state.store().alerts(filter, limit).await?;
    Ok(alerts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "kind": a.kind,
                "state": a.state.as_str(),
                "subject": a.subject,
                "summary": a.summary,
                "details": a.details,
                "created_at": time_text(Some(a.created_at)),
                "due": time_text(a.due),
                "raised_at": time_text(a.raised_at),
                "ledger_index": a.ledger_index,
                "resolution": a.resolution,
            })
        })
        .collect())
}

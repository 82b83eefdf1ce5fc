//! The processor: claims stored deliveries in arrival order, parses them (`change::github`,
//! `change::gitlab`), applies each event to the change records of its pull or merge requests
//! and records one ledger entry (`change`) per delivery; then marks the deliveries and saves the
//! records in one transaction.
//!
//! Woken after each accepted delivery, every few seconds, and at start-up (so deliveries
//! accepted before a crash are processed after the restart). The ledger entries are committed
//! before the deliveries are marked: a crash in between processes the batch again from the
//! unchanged records, so nothing is lost, and its entries appear twice (same delivery ids).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use audit::Record;
use change::record::PrState;
use change::{ChangeEvent, ChangeRecord, Delivery, Forge, ParseError};
use ledger::EntryKind;
use store::{
    AlertStore as _, ChangeStore as _, ClaimedDelivery, DeliveryOutcome, DeliveryState, StoreError,
    StoredChangeRecord,
};
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use super::followup::{self, Observed};
use crate::AppState;

/// Most deliveries per batch.
const BATCH: u32 = 512;
/// How long the processor waits after being woken, so deliveries arriving together are
/// processed together.
const GATHER: Duration = Duration::from_millis(100);
/// How long a claim keeps other replicas away; a batch takes far less.
const LEASE: Duration = Duration::from_secs(60);
/// How often the processor looks for deliveries without being woken (other replicas' intake).
const POLL: Duration = Duration::from_secs(2);
/// Pause after a failed batch before it is claimed again.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("audit ledger: {0}")]
    Audit(#[from] audit::AuditError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    #[error("stored change record `{key}` cannot be read: {message}")]
    Record { key: String, message: String },
}

/// Processes deliveries until `stop` is dropped; the batch in progress is finished first.
pub(crate) async fn run(state: Arc<AppState>, mut stop: watch::Receiver<()>) {
    if !state.webhooks.process {
        return;
    }
    loop {
        // Drain what is pending (at start-up too: deliveries accepted before a restart).
        loop {
            match process_batch(&state).await {
                // Caught up: wait for more rather than claim them one by one.
                Ok(n) if n < BATCH as usize => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot process webhook deliveries; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
            if stop.has_changed().unwrap_or(true) {
                return;
            }
        }
        tokio::select! {
            _ = state.webhooks.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
        // Let the deliveries arriving meanwhile join the batch: under load, one batch per
        // `GATHER` instead of one per delivery (each batch rewrites the records it touches).
        tokio::select! {
            _ = tokio::time::sleep(GATHER) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One delivery after parsing.
struct Parsed {
    claimed: ClaimedDelivery,
    forge: Forge,
    sender: Option<String>,
    result: Result<Delivery, ParseError>,
}

fn parse(claimed: ClaimedDelivery) -> Parsed {
    let forge = if claimed.forge == Forge::GitLab.as_str() {
        Forge::GitLab
    } else {
        Forge::GitHub
    };
    let (result, sender) = match forge {
        Forge::GitHub => (
            change::github::parse(&claimed.event, &claimed.delivery_id, &claimed.body),
            change::github::sender(&claimed.body),
        ),
        Forge::GitLab => (
            change::gitlab::parse(&claimed.event, &claimed.delivery_id, &claimed.body),
            change::gitlab::sender(&claimed.body),
        ),
    };
    Parsed {
        claimed,
        forge,
        sender,
        result,
    }
}

/// The pull request an event names by number (a pull request or review event).
fn numbered(event: &ChangeEvent) -> Option<u64> {
    match event {
        ChangeEvent::PullRequest(pr) => Some(pr.number),
        ChangeEvent::Review(r) => Some(r.number),
        _ => None,
    }
}

/// The change records of one repository, as loaded, plus which of them changed.
#[derive(Default)]
struct RepoRecords {
    records: Vec<ChangeRecord>,
    dirty: Vec<bool>,
    /// Commits pushed to branches no open pull request had, by branch, and whether changed.
    branches: BTreeMap<String, (Vec<change::Commit>, bool)>,
}

/// Most commits kept per branch without a pull request (the newest).
const BRANCH_COMMITS: usize = 250;

impl RepoRecords {
    /// Remembers a push no record took (a branch without an open pull request yet).
    fn remember(&mut self, push: &change::Push) {
        let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
            return;
        };
        let (commits, dirty) = self.branches.entry(branch.to_owned()).or_default();
        if push.deleted {
            *dirty |= !commits.is_empty();
            commits.clear();
            return;
        }
        for c in &push.commits {
            if !commits.iter().any(|k| k.sha == c.id) {
                commits.push(c.to_commit());
                *dirty = true;
            }
        }
        if commits.len() > BRANCH_COMMITS {
            commits.drain(..commits.len() - BRANCH_COMMITS);
        }
    }

    /// Gives the record at `i` the commits remembered for its head branch, and forgets them.
    fn adopt(&mut self, i: usize) {
        let record = &mut self.records[i];
        if let Some((commits, dirty)) = self.branches.get_mut(&record.head_ref)
            && !commits.is_empty()
        {
            for c in commits.drain(..) {
                record.add_commit(c);
            }
            *dirty = true;
            self.dirty[i] = true;
        }
    }
}

/// Claims, processes and finishes one batch; returns how many deliveries it held.
async fn process_batch(state: &AppState) -> Result<usize, ProcessError> {
    let webhooks = &state.webhooks;
    let store = state.store();
    let claimed = store
        .claim_deliveries(webhooks.claimant.clone(), BATCH, LEASE)
        .await?;
    let count = claimed.len();
    if count == 0 {
        return Ok(0);
    }
    // Parsing is CPU work (bodies are tens of kilobytes): off the async workers.
    let parsed = tokio::task::spawn_blocking(move || {
        claimed.into_iter().map(parse).collect::<Vec<Parsed>>()
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?;

    // Every record of every repository the batch's events concern.
    let mut repos: BTreeMap<(Forge, String), RepoRecords> = BTreeMap::new();
    for p in &parsed {
        if let Ok(d) = &p.result
            && let Some(repo) = d.event.repo()
            && !repos.contains_key(&(p.forge, repo.to_owned()))
        {
            let mut loaded = RepoRecords::default();
            for stored in store.change_records(p.forge.as_str(), repo).await? {
                let record: ChangeRecord =
                    serde_json::from_value(stored.record).map_err(|e| ProcessError::Record {
                        key: format!("{}#{}", stored.repo, stored.number),
                        message: e.to_string(),
                    })?;
                loaded.records.push(record);
                loaded.dirty.push(false);
            }
            for stored in store.branch_commits(p.forge.as_str(), repo).await? {
                let commits: Vec<change::Commit> =
                    serde_json::from_value(stored.commits).map_err(|e| ProcessError::Record {
                        key: format!("{}@{}", stored.repo, stored.branch),
                        message: e.to_string(),
                    })?;
                loaded.branches.insert(stored.branch, (commits, false));
            }
            repos.insert((p.forge, repo.to_owned()), loaded);
        }
    }

    // Which pull requests were merged before this batch (a merge in it is decided on).
    let merged_before: std::collections::HashSet<(Forge, String, u64)> = repos
        .iter()
        .flat_map(|((forge, repo), rr)| {
            rr.records
                .iter()
                .filter(|r| r.state == PrState::Merged)
                .map(move |r| (*forge, repo.clone(), r.number))
        })
        .collect();
    let mut observed = Observed::default();
    let mut outcomes = Vec::with_capacity(count);
    let mut entries = Vec::with_capacity(count);
    for p in &parsed {
        if let Ok(d) = &p.result {
            match &d.event {
                ChangeEvent::Push(push) => observed.pushes.push((p.forge, push.clone())),
                ChangeEvent::DeploymentStatus(s) => {
                    observed.deployment_statuses.push((p.forge, s.clone()));
                }
                ChangeEvent::DeploymentProtectionRule(r) => {
                    observed.protection_rules.push((p.forge, r.clone()));
                }
                _ => {}
            }
        }
        let (state_of, updated, error) = match &p.result {
            Err(e) => (DeliveryState::Failed, Vec::new(), Some(e.to_string())),
            Ok(d) => match d.event.repo() {
                None => (DeliveryState::Ignored, Vec::new(), None),
                Some(repo) => {
                    let rr = repos.entry((p.forge, repo.to_owned())).or_default();
                    if let Some(number) = numbered(&d.event)
                        && !rr.records.iter().any(|r| r.number == number)
                    {
                        rr.records.push(ChangeRecord::new(repo, number));
                        rr.dirty.push(false);
                    }
                    let mut updated = Vec::new();
                    for (record, dirty) in rr.records.iter_mut().zip(rr.dirty.iter_mut()) {
                        if record.apply(&d.event) {
                            *dirty = true;
                            updated.push(record.number);
                        }
                    }
                    match &d.event {
                        // Pushed before the pull request was opened: kept for it.
                        ChangeEvent::Push(push) if updated.is_empty() => rr.remember(push),
                        ChangeEvent::PullRequest(pr) => {
                            if let Some(i) = rr.records.iter().position(|r| r.number == pr.number) {
                                rr.adopt(i);
                            }
                        }
                        _ => {}
                    }
                    let state_of = if updated.is_empty() {
                        DeliveryState::Ignored
                    } else {
                        DeliveryState::Processed
                    };
                    (state_of, updated, None)
                }
            },
        };
        entries.push(entry(p, state_of, &updated, error.as_deref()));
        outcomes.push(DeliveryOutcome {
            id: p.claimed.id,
            state: state_of,
            error,
        });
    }

    // The merge gate over every record that changed.
    let loaded = state.bundle();
    let bundle = &loaded.bundle;
    let mut gates = Vec::new();
    for ((forge, repo), rr) in &repos {
        for (i, (record, dirty)) in rr.records.iter().zip(&rr.dirty).enumerate() {
            let merged_now = record.state == PrState::Merged
                && !merged_before.contains(&(*forge, repo.clone(), record.number));
            if *dirty && let Some(update) = followup::decide(bundle, *forge, record, merged_now) {
                gates.push(((*forge, repo.clone(), i), update));
            }
        }
    }
    let now = state.now();
    let mut alerts: Vec<store::NewAlert> =
        gates.iter().filter_map(|(_, g)| g.bypass_alert()).collect();
    for (forge, push) in &observed.pushes {
        let records = repos
            .get(&(*forge, push.repo.clone()))
            .map_or(&[][..], |rr| &rr.records[..]);
        alerts.extend(followup::push_alert(
            *forge,
            push,
            &bundle.change.protected_branches,
            records,
            now,
        ));
    }

    // Deployments: successful ones nobody authorized raise alerts; protection rules are
    // decided (and answered once their decisions are recorded).
    alerts.extend(
        super::deploy::unauthorized(state, bundle, &observed.deployment_statuses, now).await?,
    );
    let rule_answers = {
        let records = |forge: Forge, repo: &str| -> Vec<ChangeRecord> {
            repos
                .get(&(forge, repo.to_owned()))
                .map(|rr| rr.records.clone())
                .unwrap_or_default()
        };
        super::deploy::decide_rules(state, bundle, &observed.protection_rules, &records, now)
            .await?
    };

    // The evidence first, then the records and states. The appends are queued in delivery
    // order and share group commits; the gate decisions follow their deliveries.
    futures_util::future::try_join_all(entries.into_iter().map(|r| state.record(r))).await?;
    let recorded = futures_util::future::try_join_all(
        gates
            .iter()
            .map(|(_, g)| state.record(g.entry(&bundle.digest))),
    )
    .await?;
    futures_util::future::try_join_all(rule_answers.iter().map(|a| state.record(a.entry.clone())))
        .await?;
    for (((forge, repo, i), update), rec) in gates.iter().zip(&recorded) {
        if let Some(rr) = repos.get_mut(&(*forge, repo.clone())) {
            rr.records[*i].gate = Some(update.record(now, rec.index));
        }
    }
    // Alerts before the deliveries are finished: a batch processed again adds them again,
    // which their keys make a no-op; one finished without them would lose them.
    if !alerts.is_empty() {
        store.add_alerts(alerts, now).await?;
    }
    let mut records = Vec::new();
    let mut branches = Vec::new();
    for ((forge, repo), rr) in repos {
        for (branch, (commits, dirty)) in rr.branches {
            if dirty {
                branches.push(store::StoredBranch {
                    forge: forge.as_str().to_owned(),
                    repo: repo.clone(),
                    branch,
                    commits: serde_json::to_value(&commits).unwrap_or_default(),
                    updated_at: now,
                });
            }
        }
        for (record, dirty) in rr.records.into_iter().zip(rr.dirty) {
            if dirty {
                records.push(StoredChangeRecord {
                    forge: forge.as_str().to_owned(),
                    repo: repo.clone(),
                    number: record.number,
                    record: serde_json::to_value(&record).map_err(|e| ProcessError::Record {
                        key: format!("{repo}#{}", record.number),
                        message: e.to_string(),
                    })?,
                    updated_at: now,
                });
            }
        }
    }
    store
        .finish_deliveries(
            webhooks.claimant.clone(),
            outcomes,
            store::FinishedBatch { records, branches },
        )
        .await?;
    crate::alerts::record_raised(state).await?;
    let updates: Vec<_> = gates.into_iter().map(|(_, g)| g).collect();
    super::report::gates(state, &bundle.change, &updates).await;
    super::deploy::answer_rules(state, &rule_answers).await;
    Ok(count)
}

/// The ledger entry of one processed delivery.
fn entry(p: &Parsed, state_of: DeliveryState, updated: &[u64], error: Option<&str>) -> Record {
    let forge = p.forge.as_str();
    let repo = p.result.as_ref().ok().and_then(|d| d.event.repo());
    let subject = match (repo, updated) {
        (Some(repo), [number]) => format!("repo:{repo}#{number}"),
        (Some(repo), _) => format!("repo:{repo}"),
        (None, _) => format!("webhook:{forge}"),
    };
    let actor = p
        .sender
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("webhook:{forge}"));
    let outcome = match state_of {
        DeliveryState::Failed => ledger::Outcome::Failure,
        _ => ledger::Outcome::Success,
    };
    let c = &p.claimed;
    let mut details = serde_json::json!({
        "forge": forge,
        "event": c.event,
        "delivery": c.delivery_id,
        "received_at": c.received_at.format(&Rfc3339).unwrap_or_default(),
        "body_sha256": ledger::sha256(&c.body).to_string(),
        "body_bytes": c.body.len(),
        "state": state_of.as_str(),
        "records": updated
            .iter()
            .map(|n| format!("{}#{n}", repo.unwrap_or_default()))
            .collect::<Vec<_>>(),
    });
    match (&p.result, error) {
        (Ok(d), _) => details["change"] = serde_json::to_value(&d.event).unwrap_or_default(),
        (Err(_), Some(e)) => details["error"] = e.into(),
        (Err(_), None) => {}
    }
    let mut record = Record::new(
        EntryKind::Change,
        format!("webhook.{}", state_of.as_str()),
        fit(&actor),
        fit(&subject),
        outcome,
    )
    .field("forge", forge)
    .field("webhook_event", shorten(&c.event))
    .field("delivery", shorten(&c.delivery_id))
    .details(details);
    if updated.len() > 1 {
        let list: Vec<String> = updated.iter().map(|n| format!("#{n}")).collect();
        record = record.field("records", shorten(&list.join(",")));
    }
    record
}

/// An actor or subject within the ledger's limit (GitLab project paths can be longer): an
/// entry that cannot be written would stop the processor.
pub(crate) fn fit(value: &str) -> String {
    let max = ledger::entry::MAX_IDENTIFIER - '…'.len_utf8();
    if value.len() <= ledger::entry::MAX_IDENTIFIER {
        return value.to_owned();
    }
    let end = (0..=max)
        .rev()
        .find(|&i| value.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &value[..end])
}

/// At most 256 characters of a field value (only ASCII reaches here: header values checked
/// by the receiver).
fn shorten(value: &str) -> String {
    match value.char_indices().nth(256) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_fit_the_ledger() {
        let max = ledger::entry::MAX_IDENTIFIER;
        assert_eq!(fit("repo:a/b#1"), "repo:a/b#1");
        let long = format!("repo:{}", "é".repeat(400));
        let fitted = fit(&long);
        assert!(
            fitted.len() <= max && fitted.ends_with('…'),
            "{}",
            fitted.len()
        );
        assert_eq!(fit(&"x".repeat(max)).len(), max);
    }
}

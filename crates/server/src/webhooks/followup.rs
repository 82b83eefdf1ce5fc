//! What a processed batch leads to beyond its change records: merge-gate decisions (recorded in
//! the ledger, kept in the record, reported to the forge) and exception alerts for bypasses of
//! the change process (a merge the gate denied, a push straight to a protected branch).

use audit::Record;
use change::record::PrState;
use change::{ChangeRecord, Forge, GateRecord};
use change::{DeploymentStatus, ProtectionRule, Push};
use ledger::EntryKind;
use serde_json::json;
use store::NewAlert;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::gate::{self, MergeGate};

/// How long a push to a protected branch may wait for the pull request event that explains
/// it (GitHub sends the push and the `closed` event of a merge at about the same time, in no
/// set order) before it raises an alert.
pub(crate) const PUSH_GRACE: time::Duration = time::Duration::minutes(5);

/// What the events of a batch showed besides their effect on change records.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Pushes, by forge.
    pub pushes: Vec<(Forge, Push)>,
    /// Deployment status changes.
    pub deployment_statuses: Vec<(Forge, DeploymentStatus)>,
    /// Protection-rule requests.
    pub protection_rules: Vec<(Forge, ProtectionRule)>,
}

/// A new merge-gate decision for one record.
#[derive(Debug)]
pub(crate) struct GateUpdate {
    pub forge: Forge,
    pub repo: String,
    pub number: u64,
    pub gate: MergeGate,
    pub head_sha: String,
    /// The pull request was merged by this batch.
    pub merged_now: bool,
}

/// The record's new gate decision, if it differs from the one it holds (or the record was
/// merged in this batch: a merge is always decided on, so a denied merge raises an alert).
/// Only open and merged pull requests with a known head are decided on.
pub(crate) fn decide(
    bundle: &bundle::Bundle,
    forge: Forge,
    record: &ChangeRecord,
    merged_now: bool,
) -> Option<GateUpdate> {
    if record.state == PrState::Closed || record.head_sha.is_empty() {
        return None;
    }
    let head = match (&record.state, &record.merge) {
        (PrState::Merged, Some(m)) if !m.head_sha.is_empty() => m.head_sha.clone(),
        _ => record.head_sha.clone(),
    };
    let gate = gate::evaluate_merge(bundle, forge, record);
    let reasons = gate.decision.reasons();
    let unchanged = record.gate.as_ref().is_some_and(|g| {
        g.head_sha == head
            && g.outcome == gate.decision.outcome
            && g.reasons == reasons
            && g.facts == gate.facts
    });
    if unchanged && !merged_now {
        return None;
    }
    Some(GateUpdate {
        forge,
        repo: record.repo.clone(),
        number: record.number,
        gate,
        head_sha: head,
        merged_now,
    })
}

impl GateUpdate {
    /// The ledger entry of the decision (`policy_decision`, event `gate.merge`).
    pub(crate) fn entry(&self, bundle_digest: &str) -> Record {
        let d = &self.gate.decision;
        let verdict = if d.is_allowed() {
            ledger::Decision::Allow
        } else {
            ledger::Decision::Deny
        };
        Record::new(
            EntryKind::PolicyDecision,
            "gate.merge",
            "aigov",
            super::process::fit(&format!("repo:{}#{}", self.repo, self.number)),
            ledger::Outcome::Success,
        )
        .decision(verdict)
        .field("action", "MergeChange")
        .field("forge", self.forge.as_str())
        .field("head_sha", self.head_sha.as_str())
        .field("bundle", bundle_digest)
        .details(json!({
            "forge": self.forge.as_str(),
            "repo": self.repo,
            "number": self.number,
            "head_sha": self.head_sha,
            "principal": self.gate.principal,
            "facts": self.gate.facts,
            "decision": d,
            "reasons": d.reasons(),
            "merged": self.merged_now,
            "bundle_digest": bundle_digest,
        }))
    }

    /// What the record keeps of the decision.
    pub(crate) fn record(&self, now: OffsetDateTime, ledger_index: u64) -> GateRecord {
        GateRecord {
            head_sha: self.head_sha.clone(),
            outcome: self.gate.decision.outcome,
            reasons: self.gate.decision.reasons(),
            facts: self.gate.facts.clone(),
            decided_at: now.format(&Rfc3339).unwrap_or_default(),
            ledger_index: Some(ledger_index),
        }
    }

    /// A merge the gate denies: somebody overrode it (an administrator merging without the
    /// required reviews, or branch protection not requiring `aigov/gate`).
    pub(crate) fn bypass_alert(&self) -> Option<NewAlert> {
        if !self.merged_now || self.gate.decision.is_allowed() {
            return None;
        }
        let reasons = self.gate.decision.reasons();
        Some(NewAlert {
            kind: "merge-without-approval".to_owned(),
            key: format!(
                "merge-without-approval:{}:{}#{}",
                self.forge.as_str(),
                self.repo,
                self.number
            ),
            subject: format!("repo:{}#{}", self.repo, self.number),
            summary: format!(
                "{}#{} was merged although the merge gate denies it: {}",
                self.repo,
                self.number,
                reasons.join("; ")
            ),
            details: json!({
                "forge": self.forge.as_str(),
                "repo": self.repo,
                "number": self.number,
                "head_sha": self.head_sha,
                "facts": self.gate.facts,
                "reasons": reasons,
            }),
            due: None,
        })
    }
}

/// The merged change whose merge commit `sha` is, if any.
pub(crate) fn merged_by<'a>(records: &'a [ChangeRecord], sha: &str) -> Option<&'a ChangeRecord> {
    records.iter().find(|r| {
        r.merge
            .as_ref()
            .and_then(|m| m.commit_sha.as_deref())
            .is_some_and(|c| c == sha)
    })
}

/// The branch a push updated, if it is protected and the push did not delete it.
pub(crate) fn protected_branch<'a>(push: &'a Push, protected: &[String]) -> Option<&'a str> {
    let branch = push.git_ref.strip_prefix("refs/heads/")?;
    (!push.deleted && protected.iter().any(|p| p == branch)).then_some(branch)
}

/// A push to a protected branch that no merged change of `records` explains: an alert that
/// waits [`PUSH_GRACE`] for the explaining pull request event (see
/// `crate::alerts::sweep`).
pub(crate) fn push_alert(
    forge: Forge,
    push: &Push,
    protected: &[String],
    records: &[ChangeRecord],
    now: OffsetDateTime,
) -> Option<NewAlert> {
    let branch = protected_branch(push, protected)?;
    if merged_by(records, &push.after).is_some() {
        return None;
    }
    Some(NewAlert {
        kind: "push-to-protected-branch".to_owned(),
        key: format!(
            "push-to-protected-branch:{}:{}:{}",
            forge.as_str(),
            push.repo,
            push.after
        ),
        subject: format!("repo:{}", push.repo),
        summary: format!(
            "{} pushed {} straight to protected branch `{branch}` of {} (no merged change has that commit)",
            if push.pusher.is_empty() {
                "someone"
            } else {
                &push.pusher
            },
            short(&push.after),
            push.repo
        ),
        details: json!({
            "forge": forge.as_str(),
            "repo": push.repo,
            "branch": branch,
            "before": push.before,
            "after": push.after,
            "forced": push.forced,
            "pusher": push.pusher,
            "commits": push.commits.iter().map(|c| &c.id).collect::<Vec<_>>(),
        }),
        due: Some(now + PUSH_GRACE),
    })
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

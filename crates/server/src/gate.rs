//! The merge gate (decision point 2) over a change record: the facts the bundle's
//! `change.yaml` says count, the author as an inventory person, the policy decision.

use bundle::Bundle;
use change::{ChangeRecord, Forge, GateChecks};
use model::{ChangeFacts, Decision, DecisionRequest, MergeContext};

/// A merge-gate evaluation: the facts decided on and the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeGate {
    /// The inventory person the change's author is, if known.
    pub principal: Option<String>,
    pub facts: ChangeFacts,
    pub decision: Decision,
}

/// The gate's facts for `record` under the bundle's change-management settings.
pub fn facts(bundle: &Bundle, record: &ChangeRecord) -> ChangeFacts {
    let cm = &bundle.change;
    let items: Vec<&str> = cm.review_checklist.iter().map(String::as_str).collect();
    let checks = GateChecks {
        tests: cm.test_checks.clone(),
        security: cm.security_checks.clone(),
    };
    record.facts(&items, &checks)
}

/// Decides whether `record` may merge. An author the inventory does not know (by their
/// `github`/`gitlab` login) is a deny with a note saying how to fix it (fail closed).
pub fn evaluate_merge(bundle: &Bundle, forge: Forge, record: &ChangeRecord) -> MergeGate {
    let facts = facts(bundle, record);
    let login = record.author.as_deref().unwrap_or_default();
    let Some(person) = bundle.inventory.person_by_login(forge.as_str(), login) else {
        let note = if login.is_empty() {
            "the change's author is not known yet; the gate decides once the pull request event arrives".to_owned()
        } else {
            format!(
                "the author `{login}` is not a person in the inventory: add `{}: {login}` to their record in inventory/people.yaml",
                forge.as_str()
            )
        };
        return MergeGate {
            principal: None,
            facts,
            decision: Decision::deny_with_note(note),
        };
    };
    let request = DecisionRequest::MergeChange {
        principal: person.id.clone(),
        resource: record.repo.clone(),
        context: MergeContext {
            change: facts.clone(),
        },
    };
    MergeGate {
        principal: Some(person.id.clone()),
        decision: bundle.engine.decide(&request),
        facts,
    }
}

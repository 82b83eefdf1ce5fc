//! The bundle's data-handling policy: what the AI gateway does with secrets and personal data
//! found in a prompt, per data classification of the repository.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::DataClassification;

/// What happens to findings of one kind (secrets or personal data) in a prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingAction {
    /// Sent as is; the policy sees the findings (`context.findings`) and decides. The default.
    #[default]
    Pass,
    /// Each finding is replaced by a typed placeholder (`[REDACTED:aws-access-key]`) before
    /// the policy decides and before anything is sent; the policy no longer sees it.
    Redact,
    /// The request is refused and nothing is sent.
    Block,
}

impl FindingAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingAction::Pass => "pass",
            FindingAction::Redact => "redact",
            FindingAction::Block => "block",
        }
    }
}

impl fmt::Display for FindingAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with secrets and with personal data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HandlingRule {
    pub secrets: FindingAction,
    pub pii: FindingAction,
}

/// The data-handling policy of a bundle (`handling.yaml`); without that file every finding
/// passes to the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Handling {
    /// Applies where no classification rule does, including repositories aigov does not know.
    pub default: HandlingRule,
    /// Per data classification of the repository; a field left out takes the default's.
    pub by_classification: BTreeMap<DataClassification, HandlingRule>,
}

impl Handling {
    /// The rule for a repository with this classification (`None`: unknown repository).
    pub fn rule_for(&self, classification: Option<DataClassification>) -> HandlingRule {
        classification
            .and_then(|c| self.by_classification.get(&c).copied())
            .unwrap_or(self.default)
    }
}

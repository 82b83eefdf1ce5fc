//! Decision requests for aigov's three decision points, and the decisions the policy engine gives.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The actions policies are written against. Their Cedar names are `Action::"SendPrompt"` etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    /// Decision point 1, the gateway: may developer D, using tool T, send context from repository
    /// R to model M? Principal `Person`, resource `Repository`.
    SendPrompt,
    /// Decision point 2, the change gate: may a change to repository R merge?
    /// Principal `Person` (the change's author), resource `Repository`.
    MergeChange,
    /// Decision point 3, deployment: may change C deploy to environment E of application A?
    /// Principal `Person` (who deploys), resource `Environment` (`app/env`).
    Deploy,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::SendPrompt, Action::MergeChange, Action::Deploy];
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SendPrompt => "SendPrompt",
            Action::MergeChange => "MergeChange",
            Action::Deploy => "Deploy",
        }
    }
    /// The Cedar entity type of this action's principal.
    pub fn principal_type(self) -> &'static str {
        "Person"
    }
    /// The Cedar entity type of this action's resource.
    pub fn resource_type(self) -> &'static str {
        match self {
            Action::SendPrompt | Action::MergeChange => "Repository",
            Action::Deploy => "Environment",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        let s = s
            .strip_prefix("Action::")
            .map(|s| s.trim_matches('"'))
            .unwrap_or(s);
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown action `{s}`: expected one of `SendPrompt`, `MergeChange`, `Deploy`"
                )
            })
    }
}

/// A request to one of the decision points. Principal and resource are inventory ids
/// (`alice`, `acme/payments-api`, `payments/production`); their entity types follow from the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", deny_unknown_fields)]
pub enum DecisionRequest {
    SendPrompt {
        principal: String,
        resource: String,
        #[serde(default)]
        context: PromptContext,
    },
    MergeChange {
        principal: String,
        resource: String,
        #[serde(default)]
        context: MergeContext,
    },
    Deploy {
        principal: String,
        resource: String,
        #[serde(default)]
        context: DeployContext,
    },
}

impl DecisionRequest {
    pub fn action(&self) -> Action {
        match self {
            DecisionRequest::SendPrompt { .. } => Action::SendPrompt,
            DecisionRequest::MergeChange { .. } => Action::MergeChange,
            DecisionRequest::Deploy { .. } => Action::Deploy,
        }
    }
    pub fn principal(&self) -> &str {
        match self {
            DecisionRequest::SendPrompt { principal, .. }
            | DecisionRequest::MergeChange { principal, .. }
            | DecisionRequest::Deploy { principal, .. } => principal,
        }
    }
    pub fn resource(&self) -> &str {
        match self {
            DecisionRequest::SendPrompt { resource, .. }
            | DecisionRequest::MergeChange { resource, .. }
            | DecisionRequest::Deploy { resource, .. } => resource,
        }
    }
}

/// Context of decision point 1 (`SendPrompt`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptContext {
    /// AI tool id (`claude-code`).
    pub tool: String,
    /// Model id (`claude-sonnet-4`).
    pub model: String,
    /// What the content scanner found in the prompt.
    pub findings: FindingSummary,
    /// Estimated prompt tokens.
    pub token_estimate: u64,
    pub budget: BudgetState,
}

/// Counts and kinds of content-scanner findings. Never the secret values themselves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FindingSummary {
    pub secrets: u64,
    pub pii: u64,
    /// Rule families found, e.g. `aws-access-key`.
    pub secret_types: Vec<String>,
    /// PII kinds found, e.g. `email`, `credit-card`.
    pub pii_types: Vec<String>,
}

/// The budgets that apply to this request, as the gateway sees them before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetState {
    /// Some limit of some applicable budget would be exceeded by this request.
    pub exceeded: bool,
    /// Spent in the window of the applicable cost limit closest to being used up (in cents,
    /// rounded down); `0` when no cost limit applies.
    pub spent_cents: u64,
    /// That cost limit, in cents (rounded up); `0` means no cost limit applies.
    pub limit_cents: u64,
    /// Name of the budget closest to its limit (the one that blocks longest when exceeded);
    /// empty when no budget applies.
    pub name: String,
    /// How much of that budget's limit is used, in percent (may exceed 100).
    pub used_percent: u64,
    /// Details of that limit, for the developer's message; not part of the Cedar context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tightest: Option<crate::BudgetUse>,
}

/// Facts about a change (pull/merge request) that the gates decide on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeFacts {
    pub ai_assisted: bool,
    /// AI tool ids attributed to the change.
    pub ai_tools: Vec<String>,
    /// Approving human reviews, by someone other than the author, at the head commit.
    pub approvals: u64,
    /// Whether the AI-specific review checklist was completed by a reviewer.
    pub checklist_complete: bool,
    pub security_scan_passed: bool,
    /// High or critical security findings in the change.
    pub high_findings: u64,
    pub tests_passed: bool,
    /// Secrets found in the added lines of the diff.
    pub secret_findings: u64,
}

/// Context of decision point 2 (`MergeChange`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MergeContext {
    pub change: ChangeFacts,
}

/// Context of decision point 3 (`Deploy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployContext {
    pub change: ChangeFacts,
    /// A valid deployment authorization exists for this commit and environment.
    pub authorized: bool,
    /// This is an emergency (break-glass) deployment with a documented reason and approver.
    pub break_glass: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Permit,
    Forbid,
}

/// A policy that determined the decision, with the human reason from its `@reason` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeterminingPolicy {
    pub id: String,
    pub effect: Effect,
    pub reason: String,
}

/// A policy that failed to evaluate. An erroring `forbid` denies the request (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEvalError {
    pub policy_id: String,
    pub effect: Effect,
    pub message: String,
}

/// The policy engine's answer: never a `Result`; anything that goes wrong is a `Deny` with reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// Policies that determined the outcome (the satisfied forbids for a deny, the satisfied
    /// permits for an allow). Empty for a default deny.
    pub determining: Vec<DeterminingPolicy>,
    pub errors: Vec<PolicyEvalError>,
    /// Reasons that come from the engine itself (unknown principal, fail-closed, default deny).
    pub notes: Vec<String>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// A deny decided by the engine itself rather than by a policy.
    pub fn deny_with_note(note: impl Into<String>) -> Decision {
        Decision {
            outcome: Outcome::Deny,
            determining: Vec::new(),
            errors: Vec::new(),
            notes: vec![note.into()],
        }
    }

    /// Human-readable reasons, one per line: determining policies first, then engine notes.
    pub fn reasons(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .determining
            .iter()
            .map(|p| format!("{}: {}", p.id, p.reason))
            .collect();
        out.extend(self.notes.iter().cloned());
        out
    }
}

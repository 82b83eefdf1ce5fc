//! Reports merge-gate decisions to GitHub as `aigov/gate` check runs: the verdict, every reason
//! and what to do about it, and the facts decided on. Without a `[github] token` nothing is
//! posted; a branch protection rule requiring `aigov/gate` then blocks merges (fail closed).

use change::Forge;
use model::{ChangeFacts, ChangeManagement};

use super::followup::GateUpdate;
use crate::AppState;
use crate::github::{CheckRun, Conclusion, GATE_CHECK_NAME};

/// Posts one check run per decision on an open pull request's head.
pub(crate) async fn gates(state: &AppState, change: &ChangeManagement, updates: &[GateUpdate]) {
    let Some(github) = state.github() else {
        return;
    };
    for u in updates
        .iter()
        .filter(|u| u.forge == Forge::GitHub && !u.merged_now)
    {
        let run = check_run(change, u);
        if let Err(e) = github.create_check_run(&u.repo, &run).await {
            tracing::warn!(repo = %u.repo, number = u.number, error = %e, "cannot post the aigov/gate check run");
        }
    }
}

/// The check run of one decision.
pub(crate) fn check_run(change: &ChangeManagement, u: &GateUpdate) -> CheckRun {
    let d = &u.gate.decision;
    let reasons = d.reasons();
    let allowed = d.is_allowed();
    let title = if allowed {
        "Merge allowed".to_owned()
    } else {
        format!(
            "Merge blocked: {} reason{}",
            reasons.len(),
            if reasons.len() == 1 { "" } else { "s" }
        )
    };
    let mut summary = String::new();
    summary.push_str(if allowed {
        "The merge gate allows this change.\n\n"
    } else {
        "The merge gate blocks this change.\n\n"
    });
    for r in &reasons {
        summary.push_str(&format!("- {r}\n"));
    }
    if !allowed {
        let todo = to_do(change, &u.gate.facts);
        if !todo.is_empty() {
            summary.push_str("\n**What to do**\n\n");
            for t in todo {
                summary.push_str(&format!("- {t}\n"));
            }
        }
    }
    CheckRun {
        name: GATE_CHECK_NAME.to_owned(),
        head_sha: u.head_sha.clone(),
        conclusion: if allowed {
            Conclusion::Success
        } else {
            Conclusion::Failure
        },
        title,
        summary,
        text: Some(facts_table(&u.gate.facts)),
        details_url: None,
    }
}

/// What would change the facts a typical bundle's rules look at.
fn to_do(change: &ChangeManagement, f: &ChangeFacts) -> Vec<String> {
    let mut out = Vec::new();
    if !f.tests_passed {
        out.push(if change.test_checks.is_empty() {
            "no check counts as tests: name them under `checks.tests` in the bundle's change.yaml"
                .to_owned()
        } else {
            format!(
                "make the test checks pass at the head commit: {}",
                change.test_checks.join(", ")
            )
        });
    }
    if f.ai_assisted && f.approvals < 1 {
        out.push("get an approving review from someone other than the author".to_owned());
    }
    if f.ai_assisted && !f.checklist_complete && !change.review_checklist.is_empty() {
        let items: Vec<String> = change
            .review_checklist
            .iter()
            .map(|i| format!("`- [x] {i}`"))
            .collect();
        out.push(format!(
            "the approving reviewer ticks every item of the AI review checklist in the review: {}",
            items.join(", ")
        ));
    }
    if f.secret_findings > 0 {
        out.push("remove the secrets from the change and rotate them".to_owned());
    }
    out
}

fn facts_table(f: &ChangeFacts) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let tools = if f.ai_tools.is_empty() {
        "none".to_owned()
    } else {
        f.ai_tools.join(", ")
    };
    format!(
        "| fact | value |\n|---|---|\n\
         | AI-assisted | {} ({tools}) |\n\
         | approvals at the head (not the author's) | {} |\n\
         | AI review checklist complete | {} |\n\
         | tests passed | {} |\n\
         | security scan passed | {} |\n\
         | secrets found in the diff | {} |\n",
        yes(f.ai_assisted),
        f.approvals,
        yes(f.checklist_complete),
        yes(f.tests_passed),
        yes(f.security_scan_passed),
        f.secret_findings,
    )
}

//! Deployments seen in webhooks: a successful deployment of a commit nobody authorized raises an
//! alert; a GitHub deployment protection rule is decided (decision point 3, `Deploy`) and
//! answered through GitHub's callback.

use audit::Record;
use change::{ChangeRecord, DeploymentStatus, Forge, ProtectionRule};
use ledger::EntryKind;
use model::{DecisionRequest, DeployContext, Inventory};
use serde_json::json;
use store::{AuthorizationKind, NewAlert, StoreError};
use time::OffsetDateTime;

use crate::AppState;
use crate::deploys::{self, DeployStatus};

/// The application whose repositories include `repo` and whose environments include
/// `environment`: what aigov governs. `None`: not governed (no alert, no answer).
fn governed<'a>(inventory: &'a Inventory, repo: &str, environment: &str) -> Option<&'a str> {
    inventory
        .applications
        .values()
        .find(|a| {
            a.repositories.iter().any(|r| r.eq_ignore_ascii_case(repo))
                && a.environments.iter().any(|e| e == environment)
        })
        .map(|a| a.id.as_str())
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Alerts for successful deployments without a valid authorization (a break-glass one counts:
/// it is documented and has its own retro-review alert).
pub(crate) async fn unauthorized(
    state: &AppState,
    bundle: &bundle::Bundle,
    statuses: &[(Forge, DeploymentStatus)],
    now: OffsetDateTime,
) -> Result<Vec<NewAlert>, StoreError> {
    let mut alerts = Vec::new();
    for (forge, s) in statuses {
        if s.state != "success" {
            continue;
        }
        let Some(app) = governed(&bundle.inventory, &s.repo, &s.environment) else {
            continue;
        };
        let status = deploys::status(state.store(), app, &s.environment, &s.sha, now).await?;
        let Some(reason) = status.reason(&s.sha) else {
            continue;
        };
        alerts.push(NewAlert {
            kind: "unauthorized-deployment".to_owned(),
            key: format!(
                "unauthorized-deployment:{}:{}:{}",
                forge.as_str(),
                s.repo,
                s.deployment_id
            ),
            subject: format!("app:{app}/{}", s.environment),
            summary: format!(
                "{} deployed {} of {} to {} of {app} without a valid authorization: {reason}",
                s.creator.as_deref().unwrap_or("someone"),
                short(&s.sha),
                s.repo,
                s.environment
            ),
            details: json!({
                "forge": forge.as_str(),
                "repo": s.repo,
                "app": app,
                "environment": s.environment,
                "deployment_id": s.deployment_id,
                "sha": s.sha,
                "creator": s.creator,
                "authorization": status.as_str(),
                "reason": reason,
            }),
            due: None,
        });
    }
    Ok(alerts)
}

/// A decided protection rule, to record and then answer.
#[derive(Debug)]
pub(crate) struct RuleAnswer {
    pub rule: ProtectionRule,
    pub approve: bool,
    pub comment: String,
    pub entry: Record,
}

/// Decides each GitHub protection rule of a governed environment: the commit's authorization
/// status and the change's facts, decided by the bundle's `Deploy` policies.
pub(crate) async fn decide_rules(
    state: &AppState,
    bundle: &bundle::Bundle,
    rules: &[(Forge, ProtectionRule)],
    records: &(dyn Fn(Forge, &str) -> Vec<ChangeRecord> + Sync),
    now: OffsetDateTime,
) -> Result<Vec<RuleAnswer>, StoreError> {
    let mut out = Vec::new();
    for (forge, rule) in rules {
        if *forge != Forge::GitHub {
            continue;
        }
        let Some(app) = governed(&bundle.inventory, &rule.repo, &rule.environment) else {
            continue;
        };
        let status = deploys::status(state.store(), app, &rule.environment, &rule.sha, now).await?;
        let change = records(*forge, &rule.repo)
            .into_iter()
            .find(|r| r.deploys(&rule.sha));
        let facts = match &change {
            Some(record) => match &record.gate {
                Some(g) => g.facts.clone(),
                None => crate::gate::facts(bundle, record),
            },
            None => Default::default(),
        };
        let authorization = status.authorization();
        let valid = matches!(status, DeployStatus::Valid(_));
        let break_glass =
            valid && authorization.is_some_and(|a| a.kind == AuthorizationKind::BreakGlass);
        let request = authorization
            .filter(|_| valid)
            .map(|a| DecisionRequest::Deploy {
                principal: a.approver.clone(),
                resource: format!("{app}/{}", rule.environment),
                context: DeployContext {
                    change: facts,
                    authorized: !break_glass,
                    break_glass,
                },
            });
        // Without a valid authorization nothing permits a deployment: denied without asking
        // the policies (whose principal would be the missing approver).
        let mut decision = match &request {
            Some(r) => bundle.engine.decide(r),
            None => model::Decision::deny_with_note(format!(
                "not authorized: {}",
                status.reason(&rule.sha).unwrap_or_default()
            )),
        };
        if change.is_none() {
            decision.notes.push(format!(
                "no change record has commit {}: deployed commits should come from a reviewed change",
                short(&rule.sha)
            ));
        }
        let approve = decision.is_allowed();
        let comment = if approve {
            format!(
                "aigov: deployment of {} to {} allowed — {}",
                short(&rule.sha),
                rule.environment,
                decision.reasons().join("; ")
            )
        } else {
            format!(
                "aigov: deployment of {} to {} rejected — {}. Ask an approver to run `aigov deploy authorize --app {app} --env {} --commit {}`.",
                short(&rule.sha),
                rule.environment,
                decision.reasons().join("; "),
                rule.environment,
                rule.sha
            )
        };
        let entry = Record::new(
            EntryKind::PolicyDecision,
            "gate.deploy",
            "aigov",
            format!("app:{app}/{}", rule.environment),
            ledger::Outcome::Success,
        )
        .decision(if approve {
            ledger::Decision::Allow
        } else {
            ledger::Decision::Deny
        })
        .field("action", "Deploy")
        .field("forge", forge.as_str())
        .field("commit", rule.sha.as_str())
        .field("authorization", status.as_str())
        .field("bundle", bundle.digest.as_str())
        .details(json!({
            "repo": rule.repo,
            "app": app,
            "environment": rule.environment,
            "deployment_id": rule.deployment_id,
            "sha": rule.sha,
            "request": request,
            "decision": decision,
            "authorization": {
                "status": status.as_str(),
                "id": authorization.map(|a| a.id),
                "ledger_index": authorization.map(|a| a.ledger_index),
            },
            "change": change.as_ref().map(|r| format!("{}#{}", r.repo, r.number)),
            "bundle_digest": bundle.digest,
        }));
        out.push(RuleAnswer {
            rule: rule.clone(),
            approve,
            comment,
            entry,
        });
    }
    Ok(out)
}

/// Answers decided rules through GitHub (after their entries are committed). Without a
/// GitHub token nothing is answered: GitHub keeps the deployment waiting (fail closed).
pub(crate) async fn answer_rules(state: &AppState, answers: &[RuleAnswer]) {
    if answers.is_empty() {
        return;
    }
    let Some(github) = state.github() else {
        tracing::warn!(
            count = answers.len(),
            "deployment protection rules decided but not answered: no `[github] token` configured"
        );
        return;
    };
    for a in answers {
        if let Err(e) = github
            .review_deployment_protection_rule(
                &a.rule.callback_url,
                &a.rule.environment,
                a.approve,
                &a.comment,
            )
            .await
        {
            tracing::warn!(repo = %a.rule.repo, error = %e, "cannot answer a deployment protection rule");
        }
    }
}

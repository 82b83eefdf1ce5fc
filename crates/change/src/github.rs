//! GitHub webhook deliveries (`X-GitHub-Event`, `X-GitHub-Delivery`, JSON body) as change events.
//!
//! Payloads are read into small private structs holding only the fields a change record needs;
//! the rest of a payload is skipped, never built into a `serde_json::Value`.

use serde::Deserialize;

use crate::event::{
    ChangeEvent, Check, CheckKind, Delivery, Deployment, DeploymentStatus, Forge, ParseError,
    ProtectionRule, PullRequest, PullRequestAction, Push, PushCommit, Review, ReviewAction,
    ReviewState, Status, decode,
};

/// The GitHub events this module reads; any other event is [`ChangeEvent::Ignored`].
pub const EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "push",
    "check_run",
    "check_suite",
    "status",
    "deployment",
    "deployment_status",
    "deployment_protection_rule",
];

/// Parses one delivery: `event` is the `X-GitHub-Event` header, `delivery` the
/// `X-GitHub-Delivery` header, `body` the raw JSON body (verify its signature first with
/// [`crate::webhook::verify_github_signature`]).
///
/// Events not in [`EVENTS`] are [`ChangeEvent::Ignored`] without reading the body.
pub fn parse(event: &str, delivery: &str, body: &[u8]) -> Result<Delivery, ParseError> {
    let change = match event {
        "pull_request" => pull_request(decode(Forge::GitHub, event, delivery, body)?),
        "pull_request_review" => review(decode(Forge::GitHub, event, delivery, body)?),
        "push" => push(decode(Forge::GitHub, event, delivery, body)?),
        "check_run" => check_run(decode(Forge::GitHub, event, delivery, body)?),
        "check_suite" => check_suite(decode(Forge::GitHub, event, delivery, body)?),
        "status" => status(decode(Forge::GitHub, event, delivery, body)?),
        "deployment" => deployment(decode(Forge::GitHub, event, delivery, body)?),
        "deployment_status" => deployment_status(decode(Forge::GitHub, event, delivery, body)?),
        "deployment_protection_rule" => {
            protection_rule(decode(Forge::GitHub, event, delivery, body)?)
        }
        _ => ChangeEvent::Ignored {
            event: event.to_owned(),
        },
    };
    Ok(Delivery {
        forge: Forge::GitHub,
        id: delivery.to_owned(),
        event: change,
    })
}

/// The login of whoever triggered the delivery (`sender.login`), when the body names one. Reads
/// nothing else of the body; `None` for a body that is not such JSON.
pub fn sender(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Payload {
        sender: Option<User>,
    }
    login(serde_json::from_slice::<Payload>(body).ok()?.sender)
}

#[derive(Deserialize)]
struct Repo {
    full_name: String,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

fn login(u: Option<User>) -> Option<String> {
    u.map(|u| u.login)
}

#[derive(Deserialize)]
struct GitRef {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
}

#[derive(Deserialize)]
struct Number {
    number: u64,
}

fn numbers(prs: Option<Vec<Number>>) -> Vec<u64> {
    prs.unwrap_or_default()
        .into_iter()
        .map(|p| p.number)
        .collect()
}

#[derive(Deserialize)]
struct PrPayload {
    action: String,
    before: Option<String>,
    pull_request: Pr,
    repository: Repo,
}

#[derive(Deserialize)]
struct Pr {
    number: u64,
    title: String,
    body: Option<String>,
    user: Option<User>,
    head: GitRef,
    base: GitRef,
    merged: Option<bool>,
    merge_commit_sha: Option<String>,
    merged_by: Option<User>,
}

fn pull_request(p: PrPayload) -> ChangeEvent {
    let action = match p.action.as_str() {
        "opened" => PullRequestAction::Opened,
        "synchronize" => PullRequestAction::Synchronize,
        "closed" => PullRequestAction::Closed,
        "reopened" => PullRequestAction::Reopened,
        "edited" => PullRequestAction::Edited,
        _ => PullRequestAction::Other(p.action),
    };
    let pr = p.pull_request;
    ChangeEvent::PullRequest(PullRequest {
        action,
        repo: p.repository.full_name,
        number: pr.number,
        title: pr.title,
        body: pr.body,
        author: login(pr.user),
        head_sha: pr.head.sha,
        head_ref: pr.head.git_ref,
        base_ref: pr.base.git_ref,
        before: p.before,
        merged: pr.merged.unwrap_or(false),
        merge_commit_sha: pr.merge_commit_sha,
        merged_by: login(pr.merged_by),
    })
}

#[derive(Deserialize)]
struct ReviewPayload {
    action: String,
    review: WireReview,
    pull_request: ReviewPr,
    repository: Repo,
}

#[derive(Deserialize)]
struct WireReview {
    id: Option<u64>,
    user: Option<User>,
    body: Option<String>,
    commit_id: Option<String>,
    submitted_at: Option<String>,
    state: String,
}

#[derive(Deserialize)]
struct ReviewPr {
    number: u64,
    user: Option<User>,
    head: GitRef,
}

fn review(p: ReviewPayload) -> ChangeEvent {
    let action = match p.action.as_str() {
        "submitted" => ReviewAction::Submitted,
        "dismissed" => ReviewAction::Dismissed,
        "edited" => ReviewAction::Edited,
        _ => ReviewAction::Other(p.action),
    };
    ChangeEvent::Review(Review {
        action,
        repo: p.repository.full_name,
        number: p.pull_request.number,
        pr_author: login(p.pull_request.user),
        pr_head_sha: p.pull_request.head.sha,
        id: p.review.id,
        reviewer: login(p.review.user).unwrap_or_else(|| "ghost".to_owned()),
        state: ReviewState::parse(&p.review.state),
        commit_id: p.review.commit_id,
        submitted_at: p.review.submitted_at,
        body: p.review.body,
    })
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    created: bool,
    deleted: bool,
    forced: bool,
    pusher: Pusher,
    commits: Vec<WireCommit>,
    repository: Repo,
}

#[derive(Deserialize)]
struct Pusher {
    name: String,
}

#[derive(Deserialize)]
struct WireCommit {
    id: String,
    message: String,
    timestamp: String,
    author: Person,
    committer: Person,
}

#[derive(Deserialize)]
struct Person {
    name: String,
    email: Option<String>,
}

fn push(p: PushPayload) -> ChangeEvent {
    ChangeEvent::Push(Push {
        repo: p.repository.full_name,
        git_ref: p.git_ref,
        before: p.before,
        after: p.after,
        created: p.created,
        deleted: p.deleted,
        forced: Some(p.forced),
        pusher: p.pusher.name,
        commits: p
            .commits
            .into_iter()
            .map(|c| PushCommit {
                id: c.id,
                message: c.message,
                author_name: c.author.name,
                author_email: c.author.email.unwrap_or_default(),
                committer_name: Some(c.committer.name),
                committer_email: c.committer.email,
                timestamp: c.timestamp,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
struct App {
    slug: Option<String>,
    name: String,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    action: String,
    check_run: CheckRun,
    repository: Repo,
}

#[derive(Deserialize)]
struct CheckRun {
    name: String,
    head_sha: String,
    status: String,
    conclusion: Option<String>,
    app: Option<App>,
    pull_requests: Option<Vec<Number>>,
}

fn check_run(p: CheckRunPayload) -> ChangeEvent {
    let c = p.check_run;
    ChangeEvent::Check(Check {
        kind: CheckKind::Run,
        action: p.action,
        repo: p.repository.full_name,
        name: c.name,
        head_sha: c.head_sha,
        status: c.status,
        conclusion: c.conclusion,
        app_slug: c.app.and_then(|a| a.slug),
        pull_requests: numbers(c.pull_requests),
    })
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    action: String,
    check_suite: CheckSuite,
    repository: Repo,
}

#[derive(Deserialize)]
struct CheckSuite {
    head_sha: String,
    status: Option<String>,
    conclusion: Option<String>,
    app: App,
    pull_requests: Option<Vec<Number>>,
}

fn check_suite(p: CheckSuitePayload) -> ChangeEvent {
    let c = p.check_suite;
    ChangeEvent::Check(Check {
        kind: CheckKind::Suite,
        action: p.action,
        repo: p.repository.full_name,
        name: c.app.name,
        head_sha: c.head_sha,
        status: c.status.unwrap_or_default(),
        conclusion: c.conclusion,
        app_slug: c.app.slug,
        pull_requests: numbers(c.pull_requests),
    })
}

#[derive(Deserialize)]
struct StatusPayload {
    sha: String,
    context: String,
    state: String,
    repository: Repo,
}

fn status(p: StatusPayload) -> ChangeEvent {
    ChangeEvent::Status(Status {
        repo: p.repository.full_name,
        sha: p.sha,
        context: p.context,
        state: p.state,
    })
}

#[derive(Deserialize)]
struct DeploymentPayload {
    deployment: WireDeployment,
    repository: Repo,
}

#[derive(Deserialize)]
struct WireDeployment {
    id: u64,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    environment: String,
    creator: Option<User>,
}

fn deployment(p: DeploymentPayload) -> ChangeEvent {
    let d = p.deployment;
    ChangeEvent::Deployment(Deployment {
        repo: p.repository.full_name,
        id: d.id,
        sha: d.sha,
        git_ref: d.git_ref,
        environment: d.environment,
        creator: login(d.creator),
    })
}

#[derive(Deserialize)]
struct DeploymentStatusPayload {
    deployment_status: WireDeploymentStatus,
    deployment: WireDeployment,
    repository: Repo,
}

#[derive(Deserialize)]
struct WireDeploymentStatus {
    state: String,
    environment: Option<String>,
    creator: Option<User>,
}

fn deployment_status(p: DeploymentStatusPayload) -> ChangeEvent {
    let s = p.deployment_status;
    ChangeEvent::DeploymentStatus(DeploymentStatus {
        repo: p.repository.full_name,
        deployment_id: p.deployment.id,
        state: s.state,
        environment: s.environment.unwrap_or(p.deployment.environment),
        sha: p.deployment.sha,
        creator: login(s.creator),
    })
}

/// GitHub's schema marks everything but `action`, `repository` and `sender` optional; without an
/// environment, a callback URL and a deployment there is nothing to decide, so they are required
/// here.
#[derive(Deserialize)]
struct ProtectionRulePayload {
    environment: String,
    event: Option<String>,
    deployment_callback_url: String,
    deployment: WireDeploymentRef,
    pull_requests: Option<Vec<Number>>,
    repository: Repo,
}

#[derive(Deserialize)]
struct WireDeploymentRef {
    id: u64,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
}

fn protection_rule(p: ProtectionRulePayload) -> ChangeEvent {
    ChangeEvent::DeploymentProtectionRule(ProtectionRule {
        repo: p.repository.full_name,
        environment: p.environment,
        event: p.event,
        callback_url: p.deployment_callback_url,
        deployment_id: p.deployment.id,
        sha: p.deployment.sha,
        git_ref: p.deployment.git_ref,
        pull_requests: numbers(p.pull_requests),
    })
}

//! GitLab webhook deliveries (`X-Gitlab-Event`, `X-Gitlab-Event-UUID`, JSON body) as change
//! events, in the same shape as GitHub's where it fits.
//!
//! - `Merge Request Hook` → [`ChangeEvent::PullRequest`]; its `approved`/`approval` and
//!   `unapproved`/`unapproval` actions → [`ChangeEvent::Review`] (approved / dismissed, at the
//!   merge request's last commit). GitLab approvals carry no text, so no checklist.
//! - `Push Hook`, `Tag Push Hook` → [`ChangeEvent::Push`] (GitLab does not say whether a push was
//!   forced, nor who committed).
//! - `Pipeline Hook` → [`ChangeEvent::Pipeline`] with its jobs.
//! - `Deployment Hook` → [`ChangeEvent::DeploymentStatus`].

use serde::Deserialize;

use crate::event::{
    ChangeEvent, Delivery, DeploymentStatus, Forge, Job, ParseError, Pipeline, PullRequest,
    PullRequestAction, Push, PushCommit, Review, ReviewAction, ReviewState, decode,
};

/// The GitLab events this module reads; any other event is [`ChangeEvent::Ignored`].
pub const EVENTS: &[&str] = &[
    "Merge Request Hook",
    "Push Hook",
    "Tag Push Hook",
    "Pipeline Hook",
    "Deployment Hook",
];

/// Parses one delivery: `event` is the `X-Gitlab-Event` header, `delivery` the
/// `X-Gitlab-Event-UUID` header, `body` the raw JSON body (check the token first with
/// [`crate::webhook::verify_gitlab_token`]).
///
/// GitLab sends `System Hook` as the event for system hooks whatever the payload; those are
/// [`ChangeEvent::Ignored`] like every event not in [`EVENTS`].
pub fn parse(event: &str, delivery: &str, body: &[u8]) -> Result<Delivery, ParseError> {
    let change = match event {
        "Merge Request Hook" => merge_request(decode(Forge::GitLab, event, delivery, body)?),
        "Push Hook" | "Tag Push Hook" => push(decode(Forge::GitLab, event, delivery, body)?),
        "Pipeline Hook" => pipeline(decode(Forge::GitLab, event, delivery, body)?),
        "Deployment Hook" => deployment(decode(Forge::GitLab, event, delivery, body)?),
        _ => ChangeEvent::Ignored {
            event: event.to_owned(),
        },
    };
    Ok(Delivery {
        forge: Forge::GitLab,
        id: delivery.to_owned(),
        event: change,
    })
}

/// The username of whoever triggered the delivery (`user.username`, or a push's
/// `user_username`), when the body names one; `None` for a body that is not such JSON.
pub fn sender(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Payload {
        user: Option<User>,
        user_username: Option<String>,
    }
    let p = serde_json::from_slice::<Payload>(body).ok()?;
    p.user.map(|u| u.username).or(p.user_username)
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct MrPayload {
    user: User,
    project: Project,
    object_attributes: Mr,
}

#[derive(Deserialize)]
struct Mr {
    iid: u64,
    title: String,
    description: Option<String>,
    source_branch: String,
    target_branch: String,
    state: String,
    action: Option<String>,
    oldrev: Option<String>,
    merge_commit_sha: Option<String>,
    last_commit: LastCommit,
}

#[derive(Deserialize)]
struct LastCommit {
    id: String,
    timestamp: Option<String>,
}

fn merge_request(p: MrPayload) -> ChangeEvent {
    let mr = p.object_attributes;
    let repo = p.project.path_with_namespace;
    let action = mr.action.unwrap_or_default();
    let review = |state: ReviewState, action: ReviewAction| {
        ChangeEvent::Review(Review {
            action,
            repo: repo.clone(),
            number: mr.iid,
            pr_author: None,
            pr_head_sha: mr.last_commit.id.clone(),
            id: None,
            reviewer: p.user.username.clone(),
            state,
            commit_id: Some(mr.last_commit.id.clone()),
            submitted_at: mr.last_commit.timestamp.clone(),
            body: None,
        })
    };
    let pr_action = match action.as_str() {
        "approved" | "approval" => return review(ReviewState::Approved, ReviewAction::Submitted),
        "unapproved" | "unapproval" => {
            return review(ReviewState::Dismissed, ReviewAction::Dismissed);
        }
        "open" => PullRequestAction::Opened,
        "reopen" => PullRequestAction::Reopened,
        "close" | "merge" => PullRequestAction::Closed,
        "update" if mr.oldrev.is_some() => PullRequestAction::Synchronize,
        "update" => PullRequestAction::Edited,
        _ => PullRequestAction::Other(action.clone()),
    };
    let merged = mr.state == "merged";
    ChangeEvent::PullRequest(PullRequest {
        action: pr_action,
        repo,
        number: mr.iid,
        title: mr.title,
        body: mr.description.filter(|d| !d.is_empty()),
        author: (action == "open").then(|| p.user.username.clone()),
        head_sha: mr.last_commit.id,
        head_ref: mr.source_branch,
        base_ref: mr.target_branch,
        before: mr.oldrev,
        merged,
        merge_commit_sha: mr.merge_commit_sha,
        merged_by: (action == "merge").then_some(p.user.username),
    })
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    user_username: String,
    project: Project,
    commits: Vec<WireCommit>,
}

#[derive(Deserialize)]
struct WireCommit {
    id: String,
    message: String,
    timestamp: String,
    author: Person,
}

#[derive(Deserialize)]
struct Person {
    name: String,
    email: Option<String>,
}

fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

fn push(p: PushPayload) -> ChangeEvent {
    ChangeEvent::Push(Push {
        repo: p.project.path_with_namespace,
        created: is_zero(&p.before),
        deleted: is_zero(&p.after),
        git_ref: p.git_ref,
        before: p.before,
        after: p.after,
        forced: None,
        pusher: p.user_username,
        commits: p
            .commits
            .into_iter()
            .map(|c| PushCommit {
                id: c.id,
                message: c.message,
                author_name: c.author.name,
                author_email: c.author.email.unwrap_or_default(),
                committer_name: None,
                committer_email: None,
                timestamp: c.timestamp,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
struct PipelinePayload {
    object_attributes: WirePipeline,
    merge_request: Option<Iid>,
    project: Project,
    #[serde(default)]
    builds: Vec<Build>,
}

#[derive(Deserialize)]
struct WirePipeline {
    id: u64,
    name: Option<String>,
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    status: String,
}

#[derive(Deserialize)]
struct Iid {
    iid: u64,
}

#[derive(Deserialize)]
struct Build {
    id: u64,
    name: String,
    stage: String,
    status: String,
}

fn pipeline(p: PipelinePayload) -> ChangeEvent {
    let o = p.object_attributes;
    ChangeEvent::Pipeline(Pipeline {
        repo: p.project.path_with_namespace,
        id: o.id,
        name: o.name,
        git_ref: o.git_ref,
        sha: o.sha,
        status: o.status,
        merge_request: p.merge_request.map(|m| m.iid),
        jobs: p
            .builds
            .into_iter()
            .map(|b| Job {
                id: b.id,
                name: b.name,
                stage: b.stage,
                status: b.status,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
struct DeploymentPayload {
    status: String,
    deployment_id: u64,
    environment: String,
    project: Project,
    short_sha: String,
    commit_url: Option<String>,
    user: Option<User>,
}

fn deployment(p: DeploymentPayload) -> ChangeEvent {
    // The payload has only `short_sha`; the full SHA is the last segment of `commit_url`.
    let full = p
        .commit_url
        .as_deref()
        .and_then(|u| u.rsplit('/').next())
        .filter(|s| s.len() == 40 && s.starts_with(p.short_sha.as_str()))
        .map(str::to_owned);
    ChangeEvent::DeploymentStatus(DeploymentStatus {
        repo: p.project.path_with_namespace,
        deployment_id: p.deployment_id,
        state: p.status,
        environment: p.environment,
        sha: full.unwrap_or(p.short_sha),
        creator: p.user.map(|u| u.username),
    })
}

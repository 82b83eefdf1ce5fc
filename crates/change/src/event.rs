//! Change events: what aigov keeps of a forge's webhook delivery, in one shape for GitHub and
//! GitLab. Only the fields a change record needs; everything else in a payload is skipped.

use serde::{Deserialize, Serialize};

use crate::attribution::Commit;

/// The forge a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    /// GitHub (`X-GitHub-Event`).
    GitHub,
    /// GitLab (`X-Gitlab-Event`).
    GitLab,
}

impl Forge {
    /// `github` or `gitlab`, as stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }
}

/// One parsed webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Where it came from.
    pub forge: Forge,
    /// The delivery id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`), for deduplication and audit.
    pub id: String,
    /// What happened.
    pub event: ChangeEvent,
}

/// What a delivery says happened, as far as change management cares.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeEvent {
    /// A pull request (GitHub) or merge request (GitLab) was opened, updated, closed or merged.
    PullRequest(PullRequest),
    /// A review was submitted or dismissed (GitHub), or an approval given or withdrawn (GitLab).
    Review(Review),
    /// Commits were pushed to a branch or tag.
    Push(Push),
    /// A GitHub check run or check suite was created or completed.
    Check(Check),
    /// A GitLab pipeline changed status (with its jobs).
    Pipeline(Pipeline),
    /// A GitHub commit status was set.
    Status(Status),
    /// A deployment was created.
    Deployment(Deployment),
    /// A deployment changed state.
    DeploymentStatus(DeploymentStatus),
    /// GitHub asks whether a deployment may proceed (a custom deployment protection rule).
    DeploymentProtectionRule(ProtectionRule),
    /// An event change management does not use.
    Ignored {
        /// The event name as the forge sent it.
        event: String,
    },
}

impl ChangeEvent {
    /// The repository (`owner/name`, GitLab `group/project`) the event is about, if any.
    pub fn repo(&self) -> Option<&str> {
        Some(match self {
            ChangeEvent::PullRequest(e) => &e.repo,
            ChangeEvent::Review(e) => &e.repo,
            ChangeEvent::Push(e) => &e.repo,
            ChangeEvent::Check(e) => &e.repo,
            ChangeEvent::Pipeline(e) => &e.repo,
            ChangeEvent::Status(e) => &e.repo,
            ChangeEvent::Deployment(e) => &e.repo,
            ChangeEvent::DeploymentStatus(e) => &e.repo,
            ChangeEvent::DeploymentProtectionRule(e) => &e.repo,
            ChangeEvent::Ignored { .. } => return None,
        })
    }
}

/// What happened to a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestAction {
    /// Opened.
    Opened,
    /// New commits on the head branch (GitHub `synchronize`, GitLab `update` with `oldrev`).
    Synchronize,
    /// Closed, merged or not (see [`PullRequest::merged`]).
    Closed,
    /// Reopened.
    Reopened,
    /// Title, body or base changed.
    Edited,
    /// Any other action (`labeled`, `assigned`, …), kept verbatim.
    Other(String),
}

/// A pull request (merge request) as the event shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRequest {
    /// What happened.
    pub action: PullRequestAction,
    /// Repository full name.
    pub repo: String,
    /// Pull request number (GitLab: the merge request's `iid`).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Description; `None` when empty on GitHub (`null`).
    pub body: Option<String>,
    /// Login of the author. GitLab merge request hooks name only the acting user, so this is
    /// known there only when the action is `open`.
    pub author: Option<String>,
    /// Head commit.
    pub head_sha: String,
    /// Head branch.
    pub head_ref: String,
    /// Target branch.
    pub base_ref: String,
    /// The previous head, for [`PullRequestAction::Synchronize`] when the forge says.
    pub before: Option<String>,
    /// Whether it is merged.
    pub merged: bool,
    /// The merge commit. GitHub also fills this for unmerged pull requests (the test merge
    /// commit), so it means something only when [`PullRequest::merged`].
    pub merge_commit_sha: Option<String>,
    /// Login of who merged it.
    pub merged_by: Option<String>,
}

/// What happened to a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Submitted (GitLab: approval given).
    Submitted,
    /// Dismissed (GitLab: approval withdrawn).
    Dismissed,
    /// Body edited.
    Edited,
    /// Any other action, verbatim.
    Other(String),
}

/// A review's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// Comment only.
    Commented,
    /// Dismissed (or, on GitLab, an approval withdrawn).
    Dismissed,
    /// Any other state, verbatim.
    Other(String),
}

impl ReviewState {
    /// Parses GitHub's state (`approved`, `changes_requested`, …; any case).
    pub fn parse(s: &str) -> ReviewState {
        match s.to_ascii_lowercase().as_str() {
            "approved" => ReviewState::Approved,
            "changes_requested" => ReviewState::ChangesRequested,
            "commented" => ReviewState::Commented,
            "dismissed" => ReviewState::Dismissed,
            _ => ReviewState::Other(s.to_owned()),
        }
    }
}

/// A review of a pull request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    /// What happened.
    pub action: ReviewAction,
    /// Repository full name.
    pub repo: String,
    /// Pull request number.
    pub number: u64,
    /// Login of the pull request's author, when the payload names it.
    pub pr_author: Option<String>,
    /// The pull request's head when the event was sent.
    pub pr_head_sha: String,
    /// The review's id (GitHub), to match a dismissal or edit to the review it concerns.
    pub id: Option<u64>,
    /// Login of the reviewer (`ghost` for a deleted account).
    pub reviewer: String,
    /// Verdict.
    pub state: ReviewState,
    /// The commit the review was made at.
    pub commit_id: Option<String>,
    /// When it was submitted (RFC 3339, as sent).
    pub submitted_at: Option<String>,
    /// The review's text; may hold the AI-review checklist as task-list lines.
    pub body: Option<String>,
}

/// A push to a branch or tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Push {
    /// Repository full name.
    pub repo: String,
    /// Full ref (`refs/heads/main`).
    pub git_ref: String,
    /// The ref's old value (all zeros when created).
    pub before: String,
    /// The ref's new value (all zeros when deleted).
    pub after: String,
    /// The ref was created.
    pub created: bool,
    /// The ref was deleted.
    pub deleted: bool,
    /// A force push; `None` when the forge does not say (GitLab).
    pub forced: Option<bool>,
    /// Who pushed (GitHub: the pusher's name, which is their login; GitLab: `user_username`).
    pub pusher: String,
    /// The pushed commits, oldest first (GitHub lists at most 20, GitLab at most 20 too).
    pub commits: Vec<PushCommit>,
}

/// A commit as a push event lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushCommit {
    /// Commit SHA.
    pub id: String,
    /// Full message.
    pub message: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Committer name (GitLab does not send the committer).
    pub committer_name: Option<String>,
    /// Committer email.
    pub committer_email: Option<String>,
    /// Author timestamp as sent.
    pub timestamp: String,
}

impl PushCommit {
    /// The commit, for [`crate::attribution::attribute`].
    pub fn to_commit(&self) -> Commit {
        Commit {
            sha: self.id.clone(),
            author_name: self.author_name.clone(),
            author_email: self.author_email.clone(),
            committer_name: self.committer_name.clone().unwrap_or_default(),
            committer_email: self.committer_email.clone().unwrap_or_default(),
            message: self.message.clone(),
        }
    }
}

/// Whether a check, status, pipeline or job passed, normalised across forges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not finished.
    Pending,
    /// Finished successfully.
    Success,
    /// Finished without a verdict (`neutral`, `skipped`, GitLab `manual`); does not count as
    /// passed.
    Neutral,
    /// Failed, errored, was cancelled, timed out or needs action.
    Failure,
}

impl Verdict {
    /// A GitHub check run or suite: `status` and `conclusion`.
    pub fn of_check(status: &str, conclusion: Option<&str>) -> Verdict {
        if status != "completed" {
            return Verdict::Pending;
        }
        match conclusion {
            Some("success") => Verdict::Success,
            Some("neutral" | "skipped") => Verdict::Neutral,
            None => Verdict::Pending,
            Some(_) => Verdict::Failure,
        }
    }

    /// A GitHub commit status `state` (`pending`, `success`, `failure`, `error`).
    pub fn of_status(state: &str) -> Verdict {
        match state {
            "success" => Verdict::Success,
            "pending" => Verdict::Pending,
            _ => Verdict::Failure,
        }
    }

    /// A GitLab pipeline or job status.
    pub fn of_gitlab(status: &str) -> Verdict {
        match status {
            "success" => Verdict::Success,
            "skipped" | "manual" => Verdict::Neutral,
            "failed" | "canceled" | "canceling" => Verdict::Failure,
            _ => Verdict::Pending,
        }
    }
}

/// Whether a [`Check`] is a check run or a check suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// `check_run`: one named check.
    Run,
    /// `check_suite`: all check runs of one app; named after the app.
    Suite,
}

/// A GitHub check run or check suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Run or suite.
    pub kind: CheckKind,
    /// The event's action (`created`, `completed`, `rerequested`, …).
    pub action: String,
    /// Repository full name.
    pub repo: String,
    /// The check run's name; for a suite, its app's name.
    pub name: String,
    /// The commit checked.
    pub head_sha: String,
    /// `queued`, `in_progress`, `completed`, …
    pub status: String,
    /// `success`, `failure`, `neutral`, … once completed.
    pub conclusion: Option<String>,
    /// The GitHub App's slug (`github-actions`), when the payload has it.
    pub app_slug: Option<String>,
    /// Numbers of the pull requests the check belongs to (empty for forks).
    pub pull_requests: Vec<u64>,
}

impl Check {
    /// Normalised outcome.
    pub fn verdict(&self) -> Verdict {
        Verdict::of_check(&self.status, self.conclusion.as_deref())
    }
}

/// A GitHub commit status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Repository full name.
    pub repo: String,
    /// The commit.
    pub sha: String,
    /// The status's name (`ci/test`, `default`).
    pub context: String,
    /// `pending`, `success`, `failure` or `error`.
    pub state: String,
}

impl Status {
    /// Normalised outcome.
    pub fn verdict(&self) -> Verdict {
        Verdict::of_status(&self.state)
    }
}

/// A GitLab pipeline and its jobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pipeline {
    /// Project path (`group/project`).
    pub repo: String,
    /// Pipeline id.
    pub id: u64,
    /// The pipeline's name, if it has one.
    pub name: Option<String>,
    /// Branch or tag.
    pub git_ref: String,
    /// The commit.
    pub sha: String,
    /// `created`, `pending`, `running`, `success`, `failed`, `canceled`, `skipped`, `manual`, …
    pub status: String,
    /// The merge request's `iid`, for merge request pipelines.
    pub merge_request: Option<u64>,
    /// The pipeline's jobs (GitLab calls them builds).
    pub jobs: Vec<Job>,
}

/// A job of a GitLab pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Job id.
    pub id: u64,
    /// Job name (`test`, `sast`).
    pub name: String,
    /// Stage.
    pub stage: String,
    /// Status, as for pipelines.
    pub status: String,
}

/// A deployment was created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// Repository full name.
    pub repo: String,
    /// Deployment id.
    pub id: u64,
    /// The commit deployed.
    pub sha: String,
    /// The ref deployed.
    pub git_ref: String,
    /// Target environment.
    pub environment: String,
    /// Login of who created it.
    pub creator: Option<String>,
}

/// A deployment changed state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentStatus {
    /// Repository full name.
    pub repo: String,
    /// The deployment.
    pub deployment_id: u64,
    /// `queued`, `in_progress`, `success`, `failure`, `error`, `inactive` (GitLab: `created`,
    /// `running`, `success`, `failed`, `canceled`).
    pub state: String,
    /// Target environment.
    pub environment: String,
    /// The commit deployed. GitLab sends only a short SHA and the commit's URL; this is the full
    /// SHA from the URL when it has one, else the short SHA.
    pub sha: String,
    /// Login of who set the state (GitLab: who deployed).
    pub creator: Option<String>,
}

/// GitHub asks a custom deployment protection rule whether a deployment may proceed; the answer
/// goes to `callback_url`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtectionRule {
    /// Repository full name.
    pub repo: String,
    /// The protected environment.
    pub environment: String,
    /// The event that triggered the deployment (`deployment`, `push`, `workflow_dispatch`).
    pub event: Option<String>,
    /// Where to post the approval or rejection.
    pub callback_url: String,
    /// The deployment.
    pub deployment_id: u64,
    /// The commit to deploy.
    pub sha: String,
    /// The ref to deploy.
    pub git_ref: String,
    /// Numbers of the pull requests of that commit.
    pub pull_requests: Vec<u64>,
}

/// A delivery of an event aigov uses whose body it cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON at all.
    #[error("{forge} `{event}` delivery `{delivery}` is not valid JSON: {message}")]
    Json {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// The event name from the header.
        event: String,
        /// The delivery id.
        delivery: String,
        /// serde_json's message, with line and column.
        message: String,
    },
    /// A field is missing or has the wrong type.
    #[error("{forge} `{event}` delivery `{delivery}`: field `{path}`: {message}")]
    Field {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// The event name from the header.
        event: String,
        /// The delivery id.
        delivery: String,
        /// JSON path of the field (`pull_request.head.sha`, `commits[0].id`).
        path: String,
        /// What is wrong (`missing`, `invalid type: null, expected a string`).
        message: String,
    },
}

/// Deserializes `body` into `T`, naming the event and the JSON path of any bad field.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    forge: Forge,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Result<T, ParseError> {
    let forge = match forge {
        Forge::GitHub => "GitHub",
        Forge::GitLab => "GitLab",
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    let err = match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => return Ok(v),
        Err(err) => err,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let full = inner.to_string();
    let message = full.strip_suffix(&position).unwrap_or(&full).to_owned();
    if !inner.is_data() {
        return Err(ParseError::Json {
            forge,
            event: event.to_owned(),
            delivery: delivery.to_owned(),
            message: full,
        });
    }
    // serde reports a missing field at its parent; name the field itself.
    let (path, message) = match message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        Some(field) if path == "." => (field.to_owned(), "missing".to_owned()),
        Some(field) => (format!("{path}.{field}"), "missing".to_owned()),
        None => match message.find("expected struct ") {
            // Name no private wire struct.
            Some(i) => (path, format!("{}expected a JSON object", &message[..i])),
            None => (path, message),
        },
    };
    Err(ParseError::Field {
        forge,
        event: event.to_owned(),
        delivery: delivery.to_owned(),
        path,
        message,
    })
}

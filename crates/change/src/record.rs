//! The change record of one pull request, folded from its change events in delivery order, and
//! the [`model::ChangeFacts`] the merge and deploy gates decide on.

use std::collections::BTreeMap;

use model::{AiTool, ChangeFacts};
use serde::{Deserialize, Serialize};

use crate::attribution::{self, Attribution, Commit, ShadowAi};
use crate::event::{
    ChangeEvent, Check, CheckKind, PullRequest, PullRequestAction, Review, ReviewAction,
    ReviewState, Verdict,
};

/// The check names the gates look for at the head commit: GitHub check run names, check suite
/// app names, commit status contexts, GitLab pipeline and job names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateChecks {
    /// Checks that together mean "tests passed". Empty: tests never count as passed.
    pub tests: Vec<String>,
    /// Checks that together mean "the security scan passed". Empty: never passed.
    pub security: Vec<String>,
}

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open.
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// How the pull request was merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    /// The merge (or squash) commit.
    pub commit_sha: Option<String>,
    /// Login of who merged.
    pub by: Option<String>,
    /// The head commit that was merged.
    pub head_sha: String,
}

/// A commit of the change with what attributes it to AI tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The commit.
    pub commit: Commit,
    /// Its attributions (commit message and author, plus any Git AI note added).
    pub attributions: Vec<Attribution>,
}

/// A line of a GitHub task list (`- [x] text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskItem {
    /// The item's text, trimmed.
    pub text: String,
    /// Ticked (`[x]` or `[X]`).
    pub checked: bool,
    /// 1-based line in the text.
    pub line: usize,
}

/// A review as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    /// GitHub review id.
    pub id: Option<u64>,
    /// Reviewer login.
    pub reviewer: String,
    /// Verdict (`Dismissed` once dismissed).
    pub state: ReviewState,
    /// The commit reviewed.
    pub commit_id: Option<String>,
    /// When.
    pub submitted_at: Option<String>,
    /// The task list in the review's body.
    pub checklist: Vec<TaskItem>,
}

/// Where a check result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    /// GitHub check run.
    CheckRun,
    /// GitHub check suite.
    CheckSuite,
    /// GitHub commit status.
    Status,
    /// GitLab pipeline.
    Pipeline,
    /// GitLab job.
    Job,
}

/// A deployment of the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Deployment id.
    pub id: u64,
    /// Environment.
    pub environment: String,
    /// Commit deployed.
    pub sha: String,
    /// Who created it.
    pub creator: Option<String>,
    /// Its states in order (`in_progress`, `success`); empty until one is reported.
    pub states: Vec<String>,
    /// A protection-rule callback URL GitHub gave for it, awaiting aigov's answer.
    pub callback_url: Option<String>,
}

/// Who ticked a checklist item, at which commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Reviewer login.
    pub reviewer: String,
    /// The commit the review was made at.
    pub commit_id: Option<String>,
    /// The review's state.
    pub state: ReviewState,
}

/// The change record of one pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Repository full name.
    pub repo: String,
    /// Pull request number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Description.
    pub body: Option<String>,
    /// Author's login, once known.
    pub author: Option<String>,
    /// Current head commit.
    pub head_sha: String,
    /// Head branch.
    pub head_ref: String,
    /// Target branch.
    pub base_ref: String,
    /// Open, closed or merged.
    pub state: PrState,
    /// Set once merged.
    pub merge: Option<Merge>,
    /// Every head the pull request had, oldest first.
    pub heads: Vec<String>,
    /// Commits seen (pushed to the head branch or added), in order, without duplicates.
    pub commits: Vec<CommitRecord>,
    /// Reviews in order.
    pub reviews: Vec<ReviewRecord>,
    /// Latest result per (commit, check name, source). In JSON, a list of
    /// `{"sha", "name", "source", "verdict"}` objects (JSON object keys must be strings).
    #[serde(with = "check_list")]
    pub checks: BTreeMap<(String, String, CheckSource), Verdict>,
    /// Deployments of the change's head or merge commit.
    pub deployments: Vec<DeploymentRecord>,
    /// The latest merge-gate decision, once the gate has decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateRecord>,
}

/// A merge-gate decision as kept in the change record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRecord {
    /// The head commit decided on.
    pub head_sha: String,
    /// Allow or deny.
    pub outcome: model::Outcome,
    /// Why: the determining policies' reasons and the engine's notes.
    pub reasons: Vec<String>,
    /// The facts decided on.
    pub facts: ChangeFacts,
    /// When (RFC 3339).
    pub decided_at: String,
    /// The ledger entry of the decision.
    pub ledger_index: Option<u64>,
}

impl ChangeRecord {
    /// An empty record for pull request `number` of `repo`; fill it with [`ChangeRecord::apply`].
    pub fn new(repo: &str, number: u64) -> ChangeRecord {
        ChangeRecord {
            repo: repo.to_owned(),
            number,
            title: String::new(),
            body: None,
            author: None,
            head_sha: String::new(),
            head_ref: String::new(),
            base_ref: String::new(),
            state: PrState::Open,
            merge: None,
            heads: Vec::new(),
            commits: Vec::new(),
            reviews: Vec::new(),
            checks: BTreeMap::new(),
            deployments: Vec::new(),
            gate: None,
        }
    }

    /// Applies one event; returns whether it concerned this pull request (events of other
    /// repositories, other pull requests, other branches and unrelated commits are skipped).
    ///
    /// - Pushes count once a pull request event has named the head branch, and only while the
    ///   pull request is open; add earlier commits, or the commits a push did not list (GitHub
    ///   lists at most 20), with [`ChangeRecord::add_commit`]. Commits a force push dropped stay.
    /// - Checks, statuses and pipelines count for any head the pull request had (or a check
    ///   naming the pull request); the facts look only at the current head.
    /// - Deployments count for the merge commit and any head.
    pub fn apply(&mut self, event: &ChangeEvent) -> bool {
        if event.repo() != Some(self.repo.as_str()) {
            return false;
        }
        match event {
            ChangeEvent::PullRequest(pr) if pr.number == self.number => self.pull_request(pr),
            ChangeEvent::Review(r) if r.number == self.number => self.review(r),
            ChangeEvent::Push(p) => {
                if self.head_ref.is_empty()
                    || p.git_ref.strip_prefix("refs/heads/") != Some(self.head_ref.as_str())
                    || p.deleted
                    || self.state != PrState::Open
                {
                    return false;
                }
                for c in &p.commits {
                    self.add_commit(c.to_commit());
                }
                self.set_head(&p.after);
            }
            ChangeEvent::Check(c) => {
                if !(c.pull_requests.contains(&self.number) || self.knows(&c.head_sha)) {
                    return false;
                }
                self.check(c);
            }
            ChangeEvent::Status(s) => {
                if !self.knows(&s.sha) {
                    return false;
                }
                self.set_check(&s.sha, &s.context, CheckSource::Status, s.verdict());
            }
            ChangeEvent::Pipeline(p) => {
                if !(p.merge_request == Some(self.number) || self.knows(&p.sha)) {
                    return false;
                }
                let name = p.name.as_deref().unwrap_or("pipeline");
                let verdict = Verdict::of_gitlab(&p.status);
                self.set_check(&p.sha, name, CheckSource::Pipeline, verdict);
                for j in &p.jobs {
                    let verdict = Verdict::of_gitlab(&j.status);
                    self.set_check(&p.sha, &j.name, CheckSource::Job, verdict);
                }
            }
            ChangeEvent::Deployment(d) => {
                if !self.deploys(&d.sha) {
                    return false;
                }
                let dep = self.deployment(d.id, &d.environment, &d.sha);
                dep.creator.clone_from(&d.creator);
            }
            ChangeEvent::DeploymentStatus(s) => {
                if !self.deploys(&s.sha) {
                    return false;
                }
                let dep = self.deployment(s.deployment_id, &s.environment, &s.sha);
                dep.states.push(s.state.clone());
                if dep.creator.is_none() {
                    dep.creator.clone_from(&s.creator);
                }
            }
            ChangeEvent::DeploymentProtectionRule(r) => {
                if !(r.pull_requests.contains(&self.number) || self.deploys(&r.sha)) {
                    return false;
                }
                let dep = self.deployment(r.deployment_id, &r.environment, &r.sha);
                dep.callback_url = Some(r.callback_url.clone());
            }
            _ => return false,
        }
        true
    }

    /// Adds a commit of the change (from a push, or listed by the forge's API), with its
    /// attributions; a commit already present is left as it is.
    pub fn add_commit(&mut self, commit: Commit) {
        if self.commits.iter().any(|c| c.commit.sha == commit.sha) {
            return;
        }
        let attributions = attribution::attribute(&commit);
        self.commits.push(CommitRecord {
            commit,
            attributions,
        });
    }

    /// Adds attributions found elsewhere (a Git AI note) to a known commit; returns whether the
    /// commit is known.
    pub fn add_attributions(&mut self, sha: &str, attributions: &[Attribution]) -> bool {
        let Some(c) = self.commits.iter_mut().find(|c| c.commit.sha == sha) else {
            return false;
        };
        for a in attributions {
            if !c.attributions.contains(a) {
                c.attributions.push(a.clone());
            }
        }
        true
    }

    fn pull_request(&mut self, pr: &PullRequest) {
        self.title.clone_from(&pr.title);
        self.body.clone_from(&pr.body);
        if pr.author.is_some() {
            self.author.clone_from(&pr.author);
        }
        self.head_ref.clone_from(&pr.head_ref);
        self.base_ref.clone_from(&pr.base_ref);
        self.set_head(&pr.head_sha);
        match pr.action {
            PullRequestAction::Closed if pr.merged => {
                self.state = PrState::Merged;
                self.merge = Some(Merge {
                    commit_sha: pr.merge_commit_sha.clone(),
                    by: pr.merged_by.clone(),
                    head_sha: pr.head_sha.clone(),
                });
            }
            PullRequestAction::Closed => self.state = PrState::Closed,
            // A merged pull request stays merged.
            PullRequestAction::Reopened | PullRequestAction::Opened
                if self.state != PrState::Merged =>
            {
                self.state = PrState::Open;
            }
            _ => {}
        }
    }

    fn set_head(&mut self, sha: &str) {
        if sha.is_empty() || sha.bytes().all(|b| b == b'0') {
            return;
        }
        sha.clone_into(&mut self.head_sha);
        if self.heads.last().map(String::as_str) != Some(sha) {
            self.heads.push(sha.to_owned());
        }
    }

    fn review(&mut self, r: &Review) {
        if self.author.is_none() {
            self.author.clone_from(&r.pr_author);
        }
        let existing =
            r.id.and_then(|id| self.reviews.iter_mut().find(|x| x.id == Some(id)));
        match (&r.action, existing) {
            (ReviewAction::Dismissed, Some(x)) => x.state = ReviewState::Dismissed,
            (ReviewAction::Edited, Some(x)) => {
                x.checklist = task_list(r.body.as_deref().unwrap_or(""));
            }
            (ReviewAction::Submitted, Some(_)) => {}
            (action, _) => self.reviews.push(ReviewRecord {
                id: r.id,
                reviewer: r.reviewer.clone(),
                state: if *action == ReviewAction::Dismissed {
                    ReviewState::Dismissed
                } else {
                    r.state.clone()
                },
                commit_id: r.commit_id.clone(),
                submitted_at: r.submitted_at.clone(),
                checklist: task_list(r.body.as_deref().unwrap_or("")),
            }),
        }
    }

    fn check(&mut self, c: &Check) {
        let source = match c.kind {
            CheckKind::Run => CheckSource::CheckRun,
            CheckKind::Suite => CheckSource::CheckSuite,
        };
        self.set_check(&c.head_sha, &c.name, source, c.verdict());
    }

    fn set_check(&mut self, sha: &str, name: &str, source: CheckSource, verdict: Verdict) {
        self.checks
            .insert((sha.to_owned(), name.to_owned(), source), verdict);
    }

    /// A commit of this change (any head it had, or a commit seen).
    fn knows(&self, sha: &str) -> bool {
        self.heads.iter().any(|h| h == sha) || self.commits.iter().any(|c| c.commit.sha == sha)
    }

    /// A commit whose deployment deploys this change: its merge commit or any of its heads.
    pub fn deploys(&self, sha: &str) -> bool {
        self.merge
            .as_ref()
            .is_some_and(|m| m.commit_sha.as_deref() == Some(sha))
            || self.heads.iter().any(|h| h == sha)
    }

    fn deployment(&mut self, id: u64, environment: &str, sha: &str) -> &mut DeploymentRecord {
        let i = match self.deployments.iter().position(|d| d.id == id) {
            Some(i) => i,
            None => {
                self.deployments.push(DeploymentRecord {
                    id,
                    environment: environment.to_owned(),
                    sha: sha.to_owned(),
                    creator: None,
                    states: Vec::new(),
                    callback_url: None,
                });
                self.deployments.len() - 1
            }
        };
        &mut self.deployments[i]
    }

    /// Whether `login` is the pull request's author (logins compare case-insensitively).
    fn is_author(&self, login: &str) -> bool {
        self.author
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(login))
    }

    /// Each reviewer's effective review: their latest review that approves, requests changes or
    /// was dismissed. A later comment-only review does not change it, as on GitHub.
    pub fn effective_reviews(&self) -> Vec<&ReviewRecord> {
        let mut latest: Vec<&ReviewRecord> = Vec::new();
        for r in &self.reviews {
            if !matches!(
                r.state,
                ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
            ) {
                continue;
            }
            match latest
                .iter_mut()
                .find(|x| x.reviewer.eq_ignore_ascii_case(&r.reviewer))
            {
                Some(x) => *x = r,
                None => latest.push(r),
            }
        }
        latest
    }

    /// The approvals that count: effective reviews that approve the current head, by a human
    /// (not a `[bot]` account) other than the author.
    pub fn counting_approvals(&self) -> Vec<&ReviewRecord> {
        self.effective_reviews()
            .into_iter()
            .filter(|r| {
                r.state == ReviewState::Approved
                    && !self.head_sha.is_empty()
                    && r.commit_id.as_deref() == Some(self.head_sha.as_str())
                    && !self.is_author(&r.reviewer)
                    && !r.reviewer.ends_with("[bot]")
            })
            .collect()
    }

    /// For each required checklist item, every review that ticked it (any state, any commit),
    /// in review order.
    pub fn checklist_ticks(&self, items: &[&str]) -> Vec<(String, Vec<Tick>)> {
        items
            .iter()
            .map(|item| {
                let ticks = self
                    .reviews
                    .iter()
                    .filter(|r| ticks(r, item))
                    .map(|r| Tick {
                        reviewer: r.reviewer.clone(),
                        commit_id: r.commit_id.clone(),
                        state: r.state.clone(),
                    })
                    .collect();
                ((*item).to_owned(), ticks)
            })
            .collect()
    }

    /// Distinct AI tool ids attributed to the change's commits, sorted.
    pub fn ai_tools(&self) -> Vec<String> {
        let mut tools: Vec<String> = self
            .commits
            .iter()
            .flat_map(|c| c.attributions.iter().map(|a| a.tool.clone()))
            .collect();
        tools.sort();
        tools.dedup();
        tools
    }

    /// Distinct commit authors (`Name <email>`) in order of appearance.
    pub fn commit_authors(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.commits {
            let who = format!("{} <{}>", c.commit.author_name, c.commit.author_email);
            if !out.contains(&who) {
                out.push(who);
            }
        }
        out
    }

    /// Shadow-AI findings over all commits (see [`attribution::shadow_ai`]).
    pub fn shadow_ai(&self, tools: &[&AiTool]) -> Vec<ShadowAi> {
        self.commits
            .iter()
            .flat_map(|c| attribution::shadow_ai(&c.commit.sha, &c.attributions, tools))
            .collect()
    }

    /// Whether every named check has a result at the head commit and all of them succeeded.
    /// No names: `false`.
    pub fn passed(&self, names: &[String]) -> bool {
        !names.is_empty()
            && names.iter().all(|name| {
                let mut results = self
                    .checks
                    .iter()
                    .filter(|((sha, n, _), _)| *sha == self.head_sha && n == name)
                    .map(|(_, v)| *v)
                    .peekable();
                results.peek().is_some() && results.all(|v| v == Verdict::Success)
            })
    }

    /// The facts for the merge and deploy gates.
    ///
    /// - `approvals`: [`ChangeRecord::counting_approvals`].
    /// - `checklist_complete`: one counting approval ticks every item of `checklist_items`
    ///   (items compare case-insensitively, whitespace collapsed, a final `.` ignored); with no
    ///   items, any counting approval.
    /// - `tests_passed`, `security_scan_passed`: [`ChangeRecord::passed`] for `checks`.
    /// - `ai_assisted`, `ai_tools`: from the commits' attributions.
    /// - `high_findings`, `secret_findings`: `0`; the scanners fill them in.
    pub fn facts(&self, checklist_items: &[&str], checks: &GateChecks) -> ChangeFacts {
        let approvals = self.counting_approvals();
        let checklist_complete = approvals
            .iter()
            .any(|r| checklist_items.iter().all(|item| ticks(r, item)));
        let ai_tools = self.ai_tools();
        ChangeFacts {
            ai_assisted: !ai_tools.is_empty(),
            ai_tools,
            approvals: approvals.len() as u64,
            checklist_complete,
            security_scan_passed: self.passed(&checks.security),
            high_findings: 0,
            tests_passed: self.passed(&checks.tests),
            secret_findings: 0,
        }
    }
}

fn ticks(review: &ReviewRecord, item: &str) -> bool {
    let want = normalise(item);
    review
        .checklist
        .iter()
        .any(|t| t.checked && normalise(&t.text) == want)
}

fn normalise(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ").to_lowercase();
    joined.strip_suffix('.').unwrap_or(&joined).to_owned()
}

/// The task-list items of a Markdown text: lines like `- [x] text`, `* [ ] text`, `1. [X] text`
/// (any indentation).
pub fn task_list(text: &str) -> Vec<TaskItem> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        let rest = if let Some(r) = l.strip_prefix(['-', '*', '+']) {
            r
        } else {
            let digits = l.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                continue;
            }
            match l[digits..].strip_prefix(['.', ')']) {
                Some(r) => r,
                None => continue,
            }
        };
        let Some(rest) = rest.strip_prefix([' ', '\t']) else {
            continue;
        };
        let rest = rest.trim_start();
        let checked = if let Some(r) = rest.strip_prefix("[ ]") {
            (false, r)
        } else if let Some(r) = rest
            .strip_prefix("[x]")
            .or_else(|| rest.strip_prefix("[X]"))
        {
            (true, r)
        } else {
            continue;
        };
        let (checked, text) = checked;
        if !(text.is_empty() || text.starts_with([' ', '\t'])) {
            continue;
        }
        out.push(TaskItem {
            text: text.trim().to_owned(),
            checked,
            line: i + 1,
        });
    }
    out
}

/// `ChangeRecord::checks` as a JSON list: a map with tuple keys has no JSON object form.
mod check_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{CheckSource, Verdict};

    type Checks = BTreeMap<(String, String, CheckSource), Verdict>;

    #[derive(Serialize)]
    struct Out<'a> {
        sha: &'a str,
        name: &'a str,
        source: CheckSource,
        verdict: Verdict,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct In {
        sha: String,
        name: String,
        source: CheckSource,
        verdict: Verdict,
    }

    pub(super) fn serialize<S: Serializer>(checks: &Checks, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(checks.iter().map(|((sha, name, source), verdict)| Out {
            sha,
            name,
            source: *source,
            verdict: *verdict,
        }))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Checks, D::Error> {
        let list = Vec::<In>::deserialize(d)?;
        Ok(list
            .into_iter()
            .map(|c| ((c.sha, c.name, c.source), c.verdict))
            .collect())
    }
}

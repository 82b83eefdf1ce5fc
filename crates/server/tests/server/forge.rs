//! GitHub webhook payloads for scripted change stories: the fields GitHub sends that aigov
//! reads, in GitHub's shapes (see the vendored real payloads under `crates/change/test_data`
//! for complete ones).

use serde_json::{Value, json};

/// A repository's GitHub events, numbered deliveries included.
pub struct Repo {
    pub full_name: String,
    /// The last review id given out.
    reviews: std::sync::atomic::AtomicU64,
}

fn user(login: &str) -> Value {
    json!({ "login": login, "type": if login.ends_with("[bot]") { "Bot" } else { "User" } })
}

impl Repo {
    pub fn new(full_name: &str) -> Repo {
        Repo {
            full_name: full_name.to_owned(),
            reviews: Default::default(),
        }
    }

    fn repository(&self) -> Value {
        let (owner, name) = self.full_name.split_once('/').expect("owner/name");
        json!({ "full_name": self.full_name, "name": name, "owner": user(owner) })
    }

    /// `pull_request` with `action` (`opened`, `synchronize`, `closed`); `merge` is the merge
    /// commit of a merged pull request (with `merged_by`).
    pub fn pull_request(
        &self,
        action: &str,
        number: u64,
        author: &str,
        head: &str,
        merge: Option<(&str, &str)>,
    ) -> Vec<u8> {
        let body = json!({
            "action": action,
            "number": number,
            "pull_request": {
                "number": number,
                "title": format!("Change #{number}"),
                "body": "What and why.",
                "user": user(author),
                "head": { "ref": format!("feature-{number}"), "sha": head },
                "base": { "ref": "main", "sha": "0".repeat(40) },
                "merged": merge.is_some(),
                "merge_commit_sha": merge.map(|m| m.0),
                "merged_by": merge.map(|m| user(m.1)),
            },
            "repository": self.repository(),
            "sender": user(merge.map_or(author, |m| m.1)),
        });
        serde_json::to_vec(&body).unwrap()
    }

    /// `push` of `commits` (`(sha, message, author name, author email)`) to `git_ref`.
    pub fn push(
        &self,
        git_ref: &str,
        before: &str,
        after: &str,
        pusher: &str,
        commits: &[(&str, &str, &str, &str)],
    ) -> Vec<u8> {
        let commits: Vec<Value> = commits
            .iter()
            .map(|(sha, message, name, email)| {
                json!({
                    "id": sha,
                    "message": message,
                    "timestamp": "2026-11-20T10:00:00Z",
                    "author": { "name": name, "email": email },
                    "committer": { "name": name, "email": email },
                })
            })
            .collect();
        let body = json!({
            "ref": git_ref,
            "before": before,
            "after": after,
            "created": false,
            "deleted": false,
            "forced": false,
            "pusher": { "name": pusher, "email": format!("{pusher}@users.noreply.github.com") },
            "commits": commits,
            "repository": self.repository(),
            "sender": user(pusher),
        });
        serde_json::to_vec(&body).unwrap()
    }

    /// `pull_request_review` submitted by `reviewer` at `head` with `state` (`approved`,
    /// `changes_requested`, `commented`) and `body` (which may hold the checklist).
    pub fn review(
        &self,
        number: u64,
        author: &str,
        reviewer: &str,
        head: &str,
        state: &str,
        body: &str,
    ) -> Vec<u8> {
        let id = 1 + self
            .reviews
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({
            "action": "submitted",
            "review": {
                "id": id,
                "user": user(reviewer),
                "body": body,
                "commit_id": head,
                "submitted_at": "2026-11-20T11:00:00Z",
                "state": state,
            },
            "pull_request": {
                "number": number,
                "user": user(author),
                "head": { "ref": format!("feature-{number}"), "sha": head },
            },
            "repository": self.repository(),
            "sender": user(reviewer),
        });
        serde_json::to_vec(&body).unwrap()
    }

    /// `check_run` completed with `conclusion` at `head`, attached to pull request `number`.
    pub fn check_run(&self, number: u64, head: &str, name: &str, conclusion: &str) -> Vec<u8> {
        let body = json!({
            "action": "completed",
            "check_run": {
                "name": name,
                "head_sha": head,
                "status": "completed",
                "conclusion": conclusion,
                "app": { "slug": "github-actions", "name": "GitHub Actions" },
                "pull_requests": [{ "number": number }],
            },
            "repository": self.repository(),
            "sender": user("github-actions[bot]"),
        });
        serde_json::to_vec(&body).unwrap()
    }

    #[allow(dead_code, reason = "for the deployment stories")]
    fn deployment(&self, id: u64, sha: &str, environment: &str, creator: &str) -> Value {
        json!({
            "id": id,
            "sha": sha,
            "ref": "main",
            "environment": environment,
            "creator": user(creator),
        })
    }

    /// `deployment_status` with `state` (`success`, `failure`, …).
    #[allow(dead_code, reason = "for the deployment stories")]
    pub fn deployment_status(
        &self,
        id: u64,
        sha: &str,
        environment: &str,
        creator: &str,
        state: &str,
    ) -> Vec<u8> {
        let body = json!({
            "action": "created",
            "deployment_status": {
                "state": state,
                "environment": environment,
                "creator": user(creator),
            },
            "deployment": self.deployment(id, sha, environment, creator),
            "repository": self.repository(),
            "sender": user(creator),
        });
        serde_json::to_vec(&body).unwrap()
    }

    /// `deployment_protection_rule` asking about deployment `id` of `sha` to `environment`;
    /// the answer goes to `callback_url`.
    #[allow(dead_code, reason = "for the deployment stories")]
    pub fn protection_rule(
        &self,
        id: u64,
        sha: &str,
        environment: &str,
        callback_url: &str,
    ) -> Vec<u8> {
        let body = json!({
            "action": "requested",
            "environment": environment,
            "event": "workflow_dispatch",
            "deployment_callback_url": callback_url,
            "deployment": { "id": id, "sha": sha, "ref": "main" },
            "pull_requests": [],
            "repository": self.repository(),
            "sender": user("github-actions[bot]"),
        });
        serde_json::to_vec(&body).unwrap()
    }
}

/// A 40-hex commit id made from a short tag (`sha("a1")`).
pub fn sha(tag: &str) -> String {
    let hex: String = tag.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(hex.len() <= 40, "tag `{tag}` too long");
    format!("{hex:0<40}")
}

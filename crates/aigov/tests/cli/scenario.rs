//! The change-management story end to end, through real HTTP: signed GitHub webhooks into a
//! running server, `aigov/gate` check runs and protection-rule answers to a GitHub API
//! stand-in, a deployment authorized over the API and verified by `aigov deploy verify` in a
//! CD job, bypass and retro-review alerts (the server's clock is injected), and `aigov audit
//! verify` on the database at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use expect_test::expect;
use serde_json::{Value, json};
use store::{AlertStore as _, NewToken, Store, StoreConfig, TokenKind, TokenStore as _};
use tokio::sync::oneshot;

use super::forge::{Repo, sha};

const WEBHOOK_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_TOKEN: &str = "ghs_scenario_installation_token";
const ORIGIN: &str = "aigov.test/scenario";
const REPO: &str = "acme/storefront";

const CHECKLIST: &str = "Reviewed.\n\n\
    - [x] I read and understood every AI-generated line\n\
    - [x] Tests cover the AI-generated code paths\n\
    - [x] No secrets, personal data or licence-incompatible code was introduced\n";

/// A running server with its GitHub stand-in, on a temp dir.
struct World {
    dir: tempfile::TempDir,
    db: PathBuf,
    url: String,
    token: String,
    verifier: String,
    client: reqwest::Client,
    clock: Arc<meter::ManualClock>,
    state: Arc<server::AppState>,
    store: Store,
    github: standin::github::GithubStandin,
    deliveries: u64,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), server::ServerError>>>,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let bundle_dir = dir.path().join("bundle");
        bundle::example::write_to(&bundle_dir).unwrap();
        let db = dir.path().join("aigov.db");
        let store = Store::open(&StoreConfig::Sqlite { path: db.clone() })
            .await
            .unwrap();
        let token = server::token::generate_admin_token();
        store
            .insert_token(NewToken {
                name: "release-bot".to_owned(),
                kind: TokenKind::Admin,
                hash: server::token::hash_token(&token),
                person: None,
                repo: None,
            })
            .await
            .unwrap();
        let signer = ledger::SignerKey::from_seed("aigov.test", [9; 32]).unwrap();
        let verifier = signer.verifier().to_string();
        let mut settings = audit::AuditConfig::new(ORIGIN);
        settings.checkpoint_interval = Some(Duration::from_millis(50));
        let audit = audit::AuditLog::start(store.clone(), signer, settings);
        let github = standin::github::spawn(GITHUB_TOKEN).await.unwrap();
        let client = server::github::GithubApi::new(&config::GithubConfig {
            api_url: github.base_url(),
            token: Some(config::Secret::new(GITHUB_TOKEN)),
            ..config::GithubConfig::default()
        })
        .unwrap();
        let clock = Arc::new(meter::ManualClock::new(time::OffsetDateTime::now_utc()));
        let state = server::AppState::build(
            store.clone(),
            audit,
            server::load_bundle(&bundle_dir).await.unwrap(),
            bundle_dir,
            server::StateOptions {
                webhooks: config::WebhooksConfig {
                    github_secret: Some(config::Secret::new(WEBHOOK_SECRET)),
                    ..config::WebhooksConfig::default()
                },
                github: client,
                clock: clock.clone(),
                ..server::StateOptions::default()
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        World {
            dir,
            db,
            url,
            token,
            verifier,
            client: reqwest::Client::new(),
            clock,
            state,
            store,
            github,
            deliveries: 0,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Delivers a signed GitHub webhook and waits until it is processed.
    async fn deliver(&mut self, event: &str, body: Vec<u8>) {
        use store::ChangeStore as _;
        self.deliveries += 1;
        let id = format!("scenario-{}", self.deliveries);
        let response = self
            .client
            .post(format!("{}/webhooks/github", self.url))
            .header("content-type", "application/json")
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", &id)
            .header(
                "X-Hub-Signature-256",
                change::webhook::github_signature(WEBHOOK_SECRET.as_bytes(), &body),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{event} {id}");
        let want = self.deliveries;
        for _ in 0..200 {
            let counts = self.store.delivery_counts().await.unwrap();
            if counts.total() == want && counts.pending == 0 {
                // The follow-ups (check runs, answers) run right after the batch is saved.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("delivery {id} not processed");
    }

    /// `POST`s JSON to the API with the admin token.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The check runs and protection-rule answers posted to GitHub since the last call.
    fn github_calls(&self) -> String {
        let mut out = String::new();
        for c in self.github.calls() {
            if c.path.ends_with("/check-runs") {
                out.push_str(&format!(
                    "check-run {} {}: {}\n",
                    &c.body["head_sha"].as_str().unwrap_or("")[..8],
                    c.body["conclusion"].as_str().unwrap_or(""),
                    c.body["output"]["title"].as_str().unwrap_or("")
                ));
            } else if c.path.ends_with("/deployment_protection_rule") {
                out.push_str(&format!(
                    "protection-rule {} {}: {}\n",
                    c.body["environment_name"].as_str().unwrap_or(""),
                    c.body["state"].as_str().unwrap_or(""),
                    c.body["comment"].as_str().unwrap_or("")
                ));
            }
        }
        self.github.reset();
        out
    }

    async fn open_alerts(&self) -> String {
        self.store
            .alerts(Some(store::AlertState::Open), 100)
            .await
            .unwrap()
            .iter()
            .rev()
            .map(|a| format!("{}: {}\n", a.kind, a.summary))
            .collect()
    }

    /// `aigov deploy verify` as a CD job runs it: against the server, with the log's key.
    fn verify(&self, commit: &str) -> (i32, String) {
        let out = super::aigov(self.dir.path())
            .args([
                "deploy",
                "verify",
                "--app",
                "storefront",
                "--env",
                "production",
                "--commit",
                commit,
                "--key",
                &self.verifier,
                "--server",
                &self.url,
            ])
            .env("AIGOV_TOKEN", &self.token)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    async fn stop(mut self) -> (tempfile::TempDir, PathBuf, String) {
        self.shutdown.take().unwrap().send(()).unwrap();
        self.handle.take().unwrap().await.unwrap().unwrap();
        self.state.audit().shutdown().await.unwrap();
        (self.dir, self.db, self.verifier)
    }
}

fn short(s: &str) -> &str {
    &s[..8]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_goes_from_pull_request_to_verified_deployment_and_bypasses_raise_alerts() {
    let repo = Repo::new(REPO);
    let (head, merge, rogue, emergency) = (sha("head"), sha("merge"), sha("rogue"), sha("sos"));
    let mut w = World::start().await;

    // Lena pushes a commit Claude Code co-wrote and opens a pull request: no review, no tests.
    w.deliver(
        "push",
        repo.push(
            "refs/heads/feature-1",
            &"0".repeat(40),
            &head,
            "lena-acme",
            &[(
                &head,
                "Show the cart badge\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
                "Lena Fischer",
                "lena@acme.example",
            )],
        ),
    )
    .await;
    w.deliver(
        "pull_request",
        repo.pull_request("opened", 1, "lena-acme", &head, None),
    )
    .await;
    expect![[r#"
        check-run 68656164 failure: Merge blocked: 2 reasons
    "#]]
    .assert_eq(&w.github_calls());

    // CI passes; Omar approves with the AI review checklist ticked: the gate allows.
    w.deliver("check_run", repo.check_run(1, &head, "test", "success"))
        .await;
    w.deliver(
        "check_run",
        repo.check_run(1, &head, "security-scan", "success"),
    )
    .await;
    w.deliver(
        "pull_request_review",
        repo.review(1, "lena-acme", "omar-acme", &head, "approved", CHECKLIST),
    )
    .await;
    expect![[r#"
        check-run 68656164 failure: Merge blocked: 1 reason
        check-run 68656164 failure: Merge blocked: 1 reason
        check-run 68656164 success: Merge allowed
    "#]]
    .assert_eq(&w.github_calls());

    // Merged; the merge commit reaches main.
    w.deliver(
        "pull_request",
        repo.pull_request("closed", 1, "lena-acme", &head, Some((&merge, "lena-acme"))),
    )
    .await;
    w.deliver(
        "push",
        repo.push("refs/heads/main", &"0".repeat(40), &merge, "lena-acme", &[]),
    )
    .await;

    // Before anyone authorized it, CD's check fails.
    let (code, out) = w.verify(&merge);
    expect![[r#"
        exit 1
        not authorized: no authorization: the server has no authorization of commit 6d65726765000000000000000000000000000000 for `storefront` environment `production`
    "#]]
    .assert_eq(&format!("exit {code}\n{out}"));

    // Marcus (not the author) authorizes the merge commit for production over the API.
    let (status, body) = w
        .post(
            "/api/v1/deployments/authorizations",
            json!({"app": "storefront", "environment": "production", "commit": merge, "approver": "marcus"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // GitHub asks the protection rule: approved. CD verifies offline: passes.
    w.deliver(
        "deployment_protection_rule",
        repo.protection_rule(
            11,
            &merge,
            "production",
            &format!(
                "{}/repos/{REPO}/actions/runs/501/deployment_protection_rule",
                w.github.base_url()
            ),
        ),
    )
    .await;
    let (code, out) = w.verify(&merge);
    assert_eq!(code, 0, "{out}");
    w.deliver(
        "deployment_status",
        repo.deployment_status(11, &merge, "production", "lena-acme", "success"),
    )
    .await;

    // A commit nobody authorized: the protection rule rejects it, `deploy verify` fails, and
    // when it is deployed anyway (outside the protected workflow) an alert is raised.
    w.deliver(
        "deployment_protection_rule",
        repo.protection_rule(
            12,
            &rogue,
            "production",
            &format!(
                "{}/repos/{REPO}/actions/runs/502/deployment_protection_rule",
                w.github.base_url()
            ),
        ),
    )
    .await;
    let (code, out) = w.verify(&rogue);
    expect![[r#"
        exit 1
        not authorized: authorization is for commit 6d65726765000000000000000000000000000000
    "#]]
    .assert_eq(&format!("exit {code}\n{out}"));
    w.deliver(
        "deployment_status",
        repo.deployment_status(12, &rogue, "production", "bob-acme", "success"),
    )
    .await;
    expect![[r#"
        protection-rule production approved: aigov: deployment of 6d6572676500 to production allowed — authorized-deploys: deployments need an authorization for the commit, or a documented break-glass exception
        protection-rule production rejected: aigov: deployment of 726f67756500 to production rejected — not authorized: authorization is for commit 6d65726765000000000000000000000000000000; no change record has commit 726f67756500: deployed commits should come from a reviewed change. Ask an approver to run `aigov deploy authorize --app storefront --env production --commit 726f677565000000000000000000000000000000`.
    "#]]
    .assert_eq(&w.github_calls());

    // An emergency: break-glass authorization with a reason; deployed; no retro-review within
    // the bundle's 48 hours → an alert.
    let (status, body) = w
        .post(
            "/api/v1/deployments/authorizations",
            json!({"app": "storefront", "environment": "production", "commit": emergency,
                   "approver": "marcus", "break_glass": true,
                   "reason": "checkout is down for every customer"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let due = body["retro_review_due"].as_str().unwrap().to_owned();
    w.deliver(
        "deployment_status",
        repo.deployment_status(13, &emergency, "production", "marcus-acme", "success"),
    )
    .await;
    let now = w.state.now();
    server::alerts::sweep(&w.state, now).await.unwrap();
    w.clock.advance(time::Duration::hours(49));
    server::alerts::sweep(&w.state, w.state.now())
        .await
        .unwrap();
    expect![[r#"
        unauthorized-deployment: bob-acme deployed 726f67756500 of acme/storefront to production of storefront without a valid authorization: authorization is for commit 6d65726765000000000000000000000000000000
        retro-review-overdue: the break-glass deployment of 736f73000000 to production of storefront (approved by marcus: checkout is down for every customer) needed a retro-review by <due>; none was recorded
    "#]]
    .assert_eq(&w.open_alerts().await.replace(&due, "<due>"));

    // Every decision and record is in the ledger (besides one `change` entry per delivery).
    let (dir, db, verifier) = w.stop().await;
    let store = Store::open(&StoreConfig::Sqlite { path: db.clone() })
        .await
        .unwrap();
    let events: Vec<String> = {
        use store::LedgerStore as _;
        store
            .ledger_entries(0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|r| ledger::Entry::from_canonical_bytes(&r.bytes).unwrap())
            .filter(|e| {
                e.kind != ledger::EntryKind::Change && e.kind != ledger::EntryKind::BundleChange
            })
            .map(|e| {
                format!(
                    "{} {} {} {}",
                    e.fields.get("event").map_or("-", String::as_str),
                    e.actor,
                    e.subject,
                    e.decision.map_or(e.outcome.as_str(), |d| d.as_str())
                )
            })
            .collect()
    };
    expect![[r#"
        [
            "gate.merge aigov repo:acme/storefront#1 deny",
            "gate.merge aigov repo:acme/storefront#1 deny",
            "gate.merge aigov repo:acme/storefront#1 deny",
            "gate.merge aigov repo:acme/storefront#1 allow",
            "gate.merge aigov repo:acme/storefront#1 allow",
            "deploy.authorized release-bot deploy:storefront/production allow",
            "gate.deploy aigov app:storefront/production allow",
            "gate.deploy aigov app:storefront/production deny",
            "alert.raised aigov app:storefront/production success",
            "deploy.break_glass release-bot deploy:storefront/production allow",
            "alert.raised aigov app:storefront/production success",
        ]
    "#]]
    .assert_debug_eq(&events);
    drop(store);

    // And the ledger verifies offline, with the log's key.
    let out = super::run(
        dir.path(),
        &[
            "audit",
            "verify",
            "--db",
            db.to_str().unwrap(),
            "--origin",
            ORIGIN,
            "--key",
            &verifier,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = (short(&head), Path::new("."));
}

//! The webhook receiver over real HTTP, on SQLite and (when `AIGOV_TEST_POSTGRES_URL` is set)
//! PostgreSQL: signatures and tokens, duplicates, the vendored real payloads folded into change
//! records, a delivery accepted while processing is off processed after a restart, and the
//! ledger verifying afterwards.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use change::record::GateChecks;
use change::{ChangeRecord, record::PrState};
use config::{Secret, WebhooksConfig};
use expect_test::{Expect, expect};
use reqwest::StatusCode;
use store::{ChangeStore, DeliveryCounts, DeliveryState, StoreConfig};
use tempfile::TempDir;
use tokio_postgres::NoTls;

use super::{TestServer, eventually, render};

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITLAB_TOKEN: &str = "glpat-webhook-token";
const PG_URL_ENV: &str = "AIGOV_TEST_POSTGRES_URL";

fn webhooks(process: bool) -> WebhooksConfig {
    WebhooksConfig {
        github_secret: Some(Secret::new(GITHUB_SECRET)),
        gitlab_token: Some(Secret::new(GITLAB_TOKEN)),
        process,
        ..WebhooksConfig::default()
    }
}

/// A fresh PostgreSQL database, dropped with this value.
struct PgDb {
    admin: tokio_postgres::Config,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) = admin.connect(NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                }
            });
        })
        .join();
    }
}

/// One backend for one test.
pub(super) struct Backend {
    pub(super) label: &'static str,
    dir: TempDir,
    database: StoreConfig,
    _pg: Option<PgDb>,
}

/// A temp dir with the example bundle plus a fresh database: SQLite always, PostgreSQL when
/// `AIGOV_TEST_POSTGRES_URL` is set.
pub(super) async fn backends() -> Vec<Backend> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let new_dir = || {
        let dir = tempfile::tempdir().unwrap();
        bundle::example::write_to(&dir.path().join("bundle")).unwrap();
        dir
    };
    let dir = new_dir();
    let sqlite = StoreConfig::Sqlite {
        path: dir.path().join("aigov.db"),
    };
    let mut out = vec![Backend {
        label: "sqlite",
        dir,
        database: sqlite,
        _pg: None,
    }];
    let Some(url) = std::env::var(PG_URL_ENV).ok().filter(|u| !u.is_empty()) else {
        eprintln!("note: webhook tests: PostgreSQL SKIPPED ({PG_URL_ENV} not set)");
        return out;
    };
    let admin = tokio_postgres::Config::from_str(&url).expect("valid PostgreSQL URL");
    let name = format!(
        "aigov_server_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) = admin.connect(NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, _) = url.rsplit_once('/').expect("url with a database");
    out.push(Backend {
        label: "postgres",
        dir: new_dir(),
        database: StoreConfig::Postgres {
            url: format!("{base}/{name}"),
            password: admin
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        },
        _pg: Some(PgDb { admin, name }),
    });
    out
}

impl Backend {
    pub(super) async fn start(&self, webhooks: WebhooksConfig) -> TestServer {
        // The server owns its temp dir; this one stays with the backend for its bundle.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&self.dir.path().join("bundle"), &dir.path().join("bundle"));
        TestServer::start_on(
            dir,
            self.database.clone(),
            config::GatewayConfig::default(),
            webhooks,
        )
        .await
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn test_data(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../change/test_data")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A vendored payload with some fields replaced (`a.b.c` → JSON value).
fn edited(path: &str, edits: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&test_data(path)).unwrap();
    for (pointer, new) in edits {
        let pointer = format!("/{}", pointer.replace('.', "/"));
        *value
            .pointer_mut(&pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = new.clone();
    }
    serde_json::to_vec(&value).unwrap()
}

impl TestServer {
    async fn post_github(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .body(body.to_vec());
        if let Some(s) = signature {
            request = request.header("X-Hub-Signature-256", s);
        }
        request.send().await.unwrap()
    }

    /// Posts a correctly signed GitHub delivery and expects it accepted.
    async fn deliver_github(&self, event: &str, delivery: &str, body: &[u8]) {
        let signature = change::webhook::github_signature(GITHUB_SECRET.as_bytes(), body);
        let response = self
            .post_github(event, delivery, body, Some(&signature))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::ACCEPTED,
            "{event} {delivery}"
        );
    }

    async fn deliver_gitlab(&self, event: &str, delivery: &str, body: &[u8]) -> reqwest::Response {
        self.client
            .post(self.url("/webhooks/gitlab"))
            .header("content-type", "application/json")
            .header("X-Gitlab-Event", event)
            .header("X-Gitlab-Event-UUID", delivery)
            .header("X-Gitlab-Token", GITLAB_TOKEN)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Waits until `total` deliveries are stored and none is pending.
    async fn processed(&self, total: u64) -> DeliveryCounts {
        eventually("webhook deliveries processed", || async {
            let counts = self.store.delivery_counts().await.unwrap();
            (counts.total() == total && counts.pending == 0).then_some(counts)
        })
        .await
    }

    async fn change_record(&self, forge: &str, repo: &str, number: u64) -> ChangeRecord {
        let stored = self
            .store
            .change_record(forge, repo, number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no change record {repo}#{number}"));
        serde_json::from_value(stored.record).unwrap()
    }

    /// `kind event actor subject outcome fields` of every ledger entry of `kind`.
    async fn ledger_lines(&self, kind: ledger::EntryKind) -> String {
        self.ledger()
            .await
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| {
                let fields: Vec<String> =
                    e.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{} {} {} {} [{}]\n",
                    e.actor,
                    e.subject,
                    e.outcome.as_str(),
                    e.kind.as_str(),
                    fields.join(" ")
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_published_vector_is_accepted_over_http() {
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(true)).await;
        let body = b"Hello, World!";
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let response = s
            .post_github("ping", "vector-1", body, Some(signature))
            .await;
        expect![[r#"
            202
            {"status":"accepted","forge":"github","delivery":"vector-1"}"#]]
        .assert_eq(&render(response).await);
        let counts = s.processed(1).await;
        assert_eq!(counts.ignored, 1, "{b}: `ping` is not a change event");
        let stored = s
            .store
            .webhook_delivery("github", "vector-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.event.as_str(), stored.body_bytes, stored.state),
            ("ping", 13, DeliveryState::Ignored),
            "{b}"
        );
        expect![[r#"
            webhook:github webhook:github success change [delivery=vector-1 event=webhook.ignored forge=github webhook_event=ping]
        "#]]
        .assert_eq(&s.ledger_lines(ledger::EntryKind::Change).await);
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_deliveries_are_refused_with_the_reason() {
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(true)).await;
        let body = test_data("github/pull_request.opened.json");
        let good = change::webhook::github_signature(GITHUB_SECRET.as_bytes(), &body);
        let other = change::webhook::github_signature(b"another secret", &body);
        let sha1 = "sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12";
        // (signature, expected answer): each refusal names its reason.
        let cases: [(Option<&str>, Expect); 4] = [
            (
                None,
                expect![[r#"
                    401
                    {"error":{"code":"invalid_signature","message":"missing `X-Hub-Signature-256` header"}}"#]],
            ),
            (
                Some(sha1),
                expect![[r#"
                    401
                    {"error":{"code":"invalid_signature","message":"`X-Hub-Signature-256` must start with `sha256=`, got `sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12`"}}"#]],
            ),
            (
                Some("sha256=abc"),
                expect![[r#"
                    401
                    {"error":{"code":"invalid_signature","message":"`X-Hub-Signature-256` must be `sha256=` followed by 64 hexadecimal digits, got `sha256=abc`"}}"#]],
            ),
            (
                Some(other.as_str()),
                expect![[r#"
                    401
                    {"error":{"code":"invalid_signature","message":"`X-Hub-Signature-256` does not match the body under the configured secret"}}"#]],
            ),
        ];
        for (i, (signature, expected)) in cases.into_iter().enumerate() {
            let response = s
                .post_github("pull_request", &format!("bad-{i}"), &body, signature)
                .await;
            expected.assert_eq(&render(response).await);
        }
        // Authentic, but without the identifying headers.
        let no_event = s
            .client
            .post(s.url("/webhooks/github"))
            .header("X-GitHub-Delivery", "no-event")
            .header("X-Hub-Signature-256", &good)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        expect![[r#"
            400
            {"error":{"code":"invalid_request","message":"missing `X-GitHub-Event` header"}}"#]]
        .assert_eq(&render(no_event).await);
        let no_delivery = s
            .client
            .post(s.url("/webhooks/github"))
            .header("X-GitHub-Event", "pull_request")
            .header("X-Hub-Signature-256", &good)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        expect![[r#"
            400
            {"error":{"code":"invalid_request","message":"missing `X-GitHub-Delivery` header"}}"#]]
        .assert_eq(&render(no_delivery).await);
        // Larger than GitHub ever sends: refused from its `Content-Length`, before it is read.
        expect![[r#"
            HTTP/1.1 413 Payload Too Large
            {"error":{"code":"payload_too_large","message":"the body is larger than 25 MB, the most a forge sends"}}"#]]
        .assert_eq(&oversized(&s).await);
        // GitLab: wrong and missing token, missing delivery id.
        let wrong = s
            .client
            .post(s.url("/webhooks/gitlab"))
            .header("X-Gitlab-Event", "Push Hook")
            .header("X-Gitlab-Event-UUID", "gl-bad")
            .header("X-Gitlab-Token", "guess")
            .body("{}")
            .send()
            .await
            .unwrap();
        expect![[r#"
            401
            {"error":{"code":"invalid_signature","message":"`X-Gitlab-Token` is not the configured token"}}"#]]
        .assert_eq(&render(wrong).await);
        let missing = s
            .client
            .post(s.url("/webhooks/gitlab"))
            .header("X-Gitlab-Event", "Push Hook")
            .body("{}")
            .send()
            .await
            .unwrap();
        expect![[r#"
            401
            {"error":{"code":"invalid_signature","message":"missing `X-Gitlab-Token` header"}}"#]]
        .assert_eq(&render(missing).await);
        let no_id = s
            .client
            .post(s.url("/webhooks/gitlab"))
            .header("X-Gitlab-Event", "Push Hook")
            .header("X-Gitlab-Token", GITLAB_TOKEN)
            .body("{}")
            .send()
            .await
            .unwrap();
        expect![[r#"
            400
            {"error":{"code":"invalid_request","message":"missing `Idempotency-Key` and `X-Gitlab-Event-UUID` headers: one identifies the delivery"}}"#]]
        .assert_eq(&render(no_id).await);

        assert_eq!(
            s.store.delivery_counts().await.unwrap().total(),
            0,
            "{b}: nothing stored"
        );
        // One `authentication` failure per refused signature or token; never the body.
        expect![[r#"
            webhook:github webhook:github failure authentication [delivery=bad-0 event=webhook.rejected forge=github reason=missing `X-Hub-Signature-256` header webhook_event=pull_request]
            webhook:github webhook:github failure authentication [delivery=bad-1 event=webhook.rejected forge=github reason=`X-Hub-Signature-256` must start with `sha256=`, got `sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12` webhook_event=pull_request]
            webhook:github webhook:github failure authentication [delivery=bad-2 event=webhook.rejected forge=github reason=`X-Hub-Signature-256` must be `sha256=` followed by 64 hexadecimal digits, got `sha256=abc` webhook_event=pull_request]
            webhook:github webhook:github failure authentication [delivery=bad-3 event=webhook.rejected forge=github reason=`X-Hub-Signature-256` does not match the body under the configured secret webhook_event=pull_request]
            webhook:gitlab webhook:gitlab failure authentication [delivery=gl-bad event=webhook.rejected forge=gitlab reason=`X-Gitlab-Token` is not the configured token webhook_event=Push Hook]
            webhook:gitlab webhook:gitlab failure authentication [event=webhook.rejected forge=gitlab reason=missing `X-Gitlab-Token` header webhook_event=Push Hook]
        "#]]
        .assert_eq(&s.ledger_lines(ledger::EntryKind::Authentication).await);
        let details = s.events("webhook.rejected").await;
        assert_eq!(details.len(), 6, "{b}");
        assert!(
            details
                .iter()
                .all(|e| e.payload["body_sha256"].is_string() && e.payload.get("body").is_none()),
            "{b}"
        );
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconfigured_forges_refuse_every_delivery() {
    let s = TestServer::start().await;
    let body = b"Hello, World!";
    let signature = change::webhook::github_signature(GITHUB_SECRET.as_bytes(), body);
    let github = s.post_github("ping", "d", body, Some(&signature)).await;
    expect![[r#"
        404
        {"error":{"code":"not_found","message":"GitHub webhooks are not configured: set `[webhooks] github_secret = \"env:NAME\"` in aigov.toml; until then every delivery is refused"}}"#]]
    .assert_eq(&render(github).await);
    let gitlab = s.deliver_gitlab("Push Hook", "d", b"{}").await;
    expect![[r#"
        404
        {"error":{"code":"not_found","message":"GitLab webhooks are not configured: set `[webhooks] gitlab_token = \"env:NAME\"` in aigov.toml; until then every delivery is refused"}}"#]]
    .assert_eq(&render(gitlab).await);
    assert_eq!(s.store.delivery_counts().await.unwrap().total(), 0);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivery_is_accepted_once_and_processed_once() {
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(true)).await;
        let body = test_data("github/pull_request.opened.json");
        s.deliver_github("pull_request", "same-id", &body).await;
        let signature = change::webhook::github_signature(GITHUB_SECRET.as_bytes(), &body);
        for _ in 0..2 {
            let again = s
                .post_github("pull_request", "same-id", &body, Some(&signature))
                .await;
            expect![[r#"
                200
                {"status":"duplicate","forge":"github","delivery":"same-id","message":"delivery `same-id` was already accepted; it is not processed again"}"#]]
            .assert_eq(&render(again).await);
        }
        let counts = s.processed(1).await;
        assert_eq!(counts.processed, 1, "{b}");
        // Also after processing.
        let late = s
            .post_github("pull_request", "same-id", &body, Some(&signature))
            .await;
        assert_eq!(late.status(), StatusCode::OK, "{b}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        expect![[r#"
            Codertocat repo:Codertocat/Hello-World#2 success change [delivery=same-id event=webhook.processed forge=github webhook_event=pull_request]
        "#]]
        .assert_eq(&s.ledger_lines(ledger::EntryKind::Change).await);
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

/// Sends only the head of a request declaring a body one byte over the limit; returns the
/// answer's status line and body.
async fn oversized(s: &TestServer) -> String {
    use std::io::{Read as _, Write as _};
    let address = s.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             X-GitHub-Event: push\r\nX-GitHub-Delivery: huge\r\n\
             X-Hub-Signature-256: sha256={}\r\nContent-Length: {}\r\n\r\n",
            "0".repeat(64),
            server::MAX_WEBHOOK_BODY_BYTES + 1
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("answered without the body");
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    format!("{status}\n{body}")
}

/// The facts the gates would see, plus where the pull request stands.
fn facts(record: &ChangeRecord) -> String {
    let gates = GateChecks {
        tests: vec!["Octocoders-linter".to_owned()],
        security: Vec::new(),
    };
    let f = record.facts(&[], &gates);
    format!(
        "state={:?} head={} approvals={} tests_passed={} heads={} reviews={} checks={}",
        record.state,
        &record.head_sha[..7],
        f.approvals,
        f.tests_passed,
        record.heads.len(),
        record.reviews.len(),
        record.checks.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_github_payloads_build_the_change_record() {
    const REPO: &str = "Codertocat/Hello-World";
    let new_head = "1111111111111111111111111111111111111111";
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(true)).await;
        // Opened, its check passed, and another person approved it at its head.
        let approved = edited(
            "github/pull_request_review.submitted.json",
            &[
                ("review.state", "approved".into()),
                ("review.user.login", "hubot".into()),
                ("sender.login", "hubot".into()),
            ],
        );
        for (event, id, body) in [
            (
                "pull_request",
                "gh-1",
                test_data("github/pull_request.opened.json"),
            ),
            (
                "check_run",
                "gh-2",
                edited(
                    "github/check_run.completed.json",
                    &[("check_run.conclusion", "success".into())],
                ),
            ),
            ("pull_request_review", "gh-3", approved),
            ("issues", "gh-4", test_data("github/issues.edited.json")),
        ] {
            s.deliver_github(event, id, &body).await;
        }
        let counts = s.processed(4).await;
        assert_eq!((counts.processed, counts.ignored), (3, 1), "{b}");
        expect!["state=Open head=ec26c3e approvals=1 tests_passed=true heads=1 reviews=1 checks=1"]
            .assert_eq(&facts(&s.change_record("github", REPO, 2).await));

        // New commits: the approval and the check no longer count.
        let synchronize = edited(
            "github/pull_request.synchronize.json",
            &[("pull_request.head.sha", new_head.into())],
        );
        s.deliver_github("pull_request", "gh-5", &synchronize).await;
        s.deliver_github(
            "check_run",
            "gh-6",
            &test_data("github/check_run.created.json"),
        )
        .await;
        s.deliver_github("push", "gh-7", &test_data("github/push.tag-deleted.json"))
            .await;
        s.processed(7).await;
        expect![
            "state=Open head=1111111 approvals=0 tests_passed=false heads=2 reviews=1 checks=1"
        ]
        .assert_eq(&facts(&s.change_record("github", REPO, 2).await));

        s.deliver_github(
            "pull_request",
            "gh-8",
            &test_data("github/pull_request.closed.json"),
        )
        .await;
        s.processed(8).await;
        let record = s.change_record("github", REPO, 2).await;
        assert_eq!(record.state, PrState::Closed, "{b}");
        expect![[r#"
            Codertocat repo:Codertocat/Hello-World#2 success change [delivery=gh-1 event=webhook.processed forge=github webhook_event=pull_request]
            Codertocat repo:Codertocat/Hello-World#2 success change [delivery=gh-2 event=webhook.processed forge=github webhook_event=check_run]
            hubot repo:Codertocat/Hello-World#2 success change [delivery=gh-3 event=webhook.processed forge=github webhook_event=pull_request_review]
            Codertocat webhook:github success change [delivery=gh-4 event=webhook.ignored forge=github webhook_event=issues]
            Codertocat repo:Codertocat/Hello-World#2 success change [delivery=gh-5 event=webhook.processed forge=github webhook_event=pull_request]
            Codertocat repo:Codertocat/Hello-World#2 success change [delivery=gh-6 event=webhook.processed forge=github webhook_event=check_run]
            Codertocat repo:Codertocat/Hello-World success change [delivery=gh-7 event=webhook.ignored forge=github webhook_event=push]
            Codertocat repo:Codertocat/Hello-World#2 success change [delivery=gh-8 event=webhook.processed forge=github webhook_event=pull_request]
        "#]]
        .assert_eq(&s.ledger_lines(ledger::EntryKind::Change).await);
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_delivery_fails_once_and_is_recorded() {
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(true)).await;
        s.deliver_github("pull_request", "broken", b"{\"action\": \"opened\"")
            .await;
        let counts = s.processed(1).await;
        assert_eq!(counts.failed, 1, "{b}");
        let stored = s
            .store
            .webhook_delivery("github", "broken")
            .await
            .unwrap()
            .unwrap();
        expect!["GitHub `pull_request` delivery `broken` is not valid JSON: EOF while parsing an object at line 1 column 19"]
        .assert_eq(&stored.error.unwrap_or_default());
        expect![[r#"
            webhook:github webhook:github failure change [delivery=broken event=webhook.failed forge=github webhook_event=pull_request]
        "#]]
        .assert_eq(&s.ledger_lines(ledger::EntryKind::Change).await);
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_accepted_while_processing_is_off_are_processed_after_a_restart() {
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(false)).await;
        s.deliver_github(
            "pull_request",
            "r-1",
            &test_data("github/pull_request.opened.json"),
        )
        .await;
        s.deliver_github(
            "check_run",
            "r-2",
            &test_data("github/check_run.completed.json"),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let counts = s.store.delivery_counts().await.unwrap();
        assert_eq!(counts.pending, 2, "{b}: stored, not processed");

        let s = s.restart(webhooks(true)).await;
        let counts = s.processed(2).await;
        assert_eq!(counts.processed, 2, "{b}");
        expect![
            "state=Open head=ec26c3e approvals=0 tests_passed=false heads=1 reviews=0 checks=1"
        ]
        .assert_eq(&facts(
            &s.change_record("github", "Codertocat/Hello-World", 2).await,
        ));
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gitlab_merge_request_flow() {
    for db in backends().await {
        let b = db.label;
        let s = db.start(webhooks(true)).await;
        let mut statuses = Vec::new();
        for (i, (event, file)) in [
            ("Merge Request Hook", "merge_request.open.json"),
            ("Push Hook", "push.json"),
            ("Merge Request Hook", "merge_request.update.json"),
            ("Pipeline Hook", "pipeline.json"),
            ("Merge Request Hook", "merge_request.approved.json"),
            ("Merge Request Hook", "merge_request.merge.json"),
            ("Deployment Hook", "deployment.json"),
        ]
        .into_iter()
        .enumerate()
        {
            let response = s
                .deliver_gitlab(
                    event,
                    &format!("gl-{i}"),
                    &test_data(&format!("gitlab/{file}")),
                )
                .await;
            statuses.push(response.status().as_u16());
        }
        // GitLab 17.4+ also sends `Idempotency-Key`, the same on retries: it wins.
        let retry = s
            .client
            .post(s.url("/webhooks/gitlab"))
            .header("X-Gitlab-Event", "Push Hook")
            .header("X-Gitlab-Event-UUID", "a-new-uuid")
            .header("Idempotency-Key", "gl-1")
            .header("X-Gitlab-Token", GITLAB_TOKEN)
            .body(test_data("gitlab/push.json"))
            .send()
            .await
            .unwrap();
        statuses.push(retry.status().as_u16());
        assert_eq!(statuses, [202, 202, 202, 202, 202, 202, 202, 200], "{b}");
        s.processed(7).await;
        let record = s.change_record("gitlab", "acme/payments-api", 7).await;
        let gates = GateChecks {
            tests: vec!["unit-tests".to_owned()],
            security: vec!["sast".to_owned()],
        };
        let f = record.facts(&[], &gates);
        assert_eq!(record.state, PrState::Merged, "{b}");
        assert_eq!(
            (f.approvals, f.tests_passed, f.security_scan_passed),
            (1, true, true),
            "{b}"
        );
        assert_eq!(record.deployments.len(), 1, "{b}");
        expect![[r#"
            alice repo:acme/payments-api#7 success change [delivery=gl-0 event=webhook.processed forge=gitlab webhook_event=Merge Request Hook]
            alice repo:acme/payments-api#7 success change [delivery=gl-1 event=webhook.processed forge=gitlab webhook_event=Push Hook]
            alice repo:acme/payments-api#7 success change [delivery=gl-2 event=webhook.processed forge=gitlab webhook_event=Merge Request Hook]
            alice repo:acme/payments-api#7 success change [delivery=gl-3 event=webhook.processed forge=gitlab webhook_event=Pipeline Hook]
            bob repo:acme/payments-api#7 success change [delivery=gl-4 event=webhook.processed forge=gitlab webhook_event=Merge Request Hook]
            carol repo:acme/payments-api#7 success change [delivery=gl-5 event=webhook.processed forge=gitlab webhook_event=Merge Request Hook]
            carol repo:acme/payments-api#7 success change [delivery=gl-6 event=webhook.processed forge=gitlab webhook_event=Deployment Hook]
        "#]]
        .assert_eq(&s.ledger_lines(ledger::EntryKind::Change).await);
        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

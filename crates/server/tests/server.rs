//! End-to-end tests of the HTTP server: real HTTP on 127.0.0.1, a real SQLite store and a temp
//! copy of the example bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use expect_test::{Expect, expect};
use reqwest::StatusCode;
use server::{AppState, ServerError};
use store::{EventQuery, EventStore, NewToken, Store, StoreConfig, TokenKind, TokenStore};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[path = "server/change_gate.rs"]
mod change_gate;
#[path = "server/deploys.rs"]
mod deploys;
#[path = "server/forge.rs"]
mod forge;
#[path = "server/gateway.rs"]
mod gateway;
#[path = "server/github.rs"]
mod github;
#[path = "server/webhooks.rs"]
mod webhooks;

const AUDIT_ORIGIN: &str = "aigov.test/server";
const AUDIT_KEY_NAME: &str = "aigov.test";

/// A running server on its own data: temp dir, SQLite store, bundle copy and one admin token.
struct TestServer {
    _dir: TempDir,
    database: StoreConfig,
    base: String,
    bundle_dir: PathBuf,
    store: Store,
    audit: audit::AuditLog,
    /// The audit log's verifier key.
    verifier: ledger::VerifierKey,
    /// An active admin token named `test-admin`.
    token: String,
    client: reqwest::Client,
    /// The server's state, for what tests drive directly (e.g. the alert sweep at a chosen time).
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts after `prepare` has edited the bundle directory.
    async fn start_with(prepare: impl FnOnce(&Path)) -> TestServer {
        TestServer::start_full(prepare, config::GatewayConfig::default()).await
    }

    /// Starts with the gateway forwarding to `gateway`'s upstreams.
    async fn start_full(prepare: impl FnOnce(&Path), gateway: config::GatewayConfig) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let bundle_dir = dir.path().join("bundle");
        bundle::example::write_to(&bundle_dir).unwrap();
        prepare(&bundle_dir);
        let database = StoreConfig::Sqlite {
            path: dir.path().join("aigov.db"),
        };
        TestServer::start_on(
            dir,
            database,
            server::StateOptions {
                gateway,
                ..server::StateOptions::default()
            },
        )
        .await
    }

    /// Starts on `dir` (which holds `bundle/`) and the database `database`, which may hold
    /// data of an earlier server (see [`TestServer::restart`]).
    async fn start_on(
        dir: TempDir,
        database: StoreConfig,
        mut options: server::StateOptions,
    ) -> TestServer {
        let bundle_dir = dir.path().join("bundle");
        let store = Store::open(&database).await.unwrap();
        let token = server::token::generate_admin_token();
        // A restarted server replaces the earlier one's token.
        store
            .revoke_token(TokenKind::Admin, "test-admin")
            .await
            .unwrap();
        store
            .insert_token(NewToken {
                name: "test-admin".to_owned(),
                kind: TokenKind::Admin,
                hash: server::token::hash_token(&token),
                person: None,
                repo: None,
            })
            .await
            .unwrap();
        let loaded = server::load_bundle(&bundle_dir).await.unwrap();
        let signer = ledger::SignerKey::from_seed(AUDIT_KEY_NAME, [7; 32]).unwrap();
        let verifier = signer.verifier();
        let mut settings = audit::AuditConfig::new(AUDIT_ORIGIN);
        settings.checkpoint_interval = Some(Duration::from_millis(50));
        settings.replica = Some("test-replica".to_owned());
        let audit = audit::AuditLog::start(store.clone(), signer, settings);
        options.reload_interval = Duration::from_millis(100);
        let state = AppState::build(
            store.clone(),
            audit.clone(),
            loaded,
            bundle_dir.clone(),
            options,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            _dir: dir,
            database,
            base,
            bundle_dir,
            store,
            audit,
            verifier,
            token,
            client,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops this server (and its audit log) and starts another on the same data.
    async fn restart(mut self, webhooks: config::WebhooksConfig) -> TestServer {
        self.shutdown.take().unwrap().send(()).unwrap();
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("serve returns promptly after shutdown")
            .expect("serve task does not panic")
            .unwrap();
        self.audit.shutdown().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dir = std::mem::replace(&mut self._dir, dir);
        let database = self.database.clone();
        TestServer::start_on(
            dir,
            database,
            server::StateOptions {
                webhooks,
                ..server::StateOptions::default()
            },
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, auth: Auth<'_>) -> reqwest::Response {
        auth.apply(self, self.client.get(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path, Auth::Bearer).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn decide(&self, body: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/decide"))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn events(&self, kind: &str) -> Vec<store::EventRecord> {
        self.store
            .list_events(EventQuery {
                kind: Some(kind.to_owned()),
                ..EventQuery::default()
            })
            .await
            .unwrap()
    }

    /// Triggers shutdown and waits (bounded) for `serve` to return.
    async fn stop(mut self) -> Result<(), ServerError> {
        self.shutdown.take().unwrap().send(()).unwrap();
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("serve returns promptly after shutdown")
            .expect("serve task does not panic")
    }

    /// Every ledger entry, decoded, in order.
    async fn ledger(&self) -> Vec<ledger::Entry> {
        use store::LedgerStore as _;
        self.store
            .ledger_entries(0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|r| ledger::Entry::from_canonical_bytes(&r.bytes).unwrap())
            .collect()
    }

    /// Flushes the audit log and checks the whole ledger verifies with its key.
    async fn verify_ledger(&self) -> audit::Report {
        self.audit.checkpoint_now().await.unwrap();
        let report = audit::verify(&self.store, AUDIT_ORIGIN, &self.verifier)
            .await
            .unwrap();
        assert!(report.is_ok(), "ledger verifies: {:?}", report.problems);
        report
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer,
    BearerOf(&'a str),
    Cookie,
}

impl Auth<'_> {
    fn apply(
        self,
        server: &TestServer,
        request: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Bearer => request.bearer_auth(&server.token),
            Auth::BearerOf(token) => request.bearer_auth(token),
            Auth::Cookie => request.header("cookie", format!("aigov_token={}", server.token)),
        }
    }
}

/// GETs `path` with `auth` and compares `STATUS\n[location: ..\n]body` with `expect`.
async fn check(server: &TestServer, path: &str, auth: Auth<'_>, expect: Expect) {
    let response = server.get(path, auth).await;
    expect.assert_eq(&render(response).await);
}

async fn render(response: reqwest::Response) -> String {
    let mut out = format!("{}\n", response.status().as_u16());
    if let Some(location) = response.headers().get("location") {
        out.push_str(&format!("location: {}\n", location.to_str().unwrap()));
    }
    if let Some(challenge) = response.headers().get("www-authenticate") {
        out.push_str(&format!(
            "www-authenticate: {}\n",
            challenge.to_str().unwrap()
        ));
    }
    out.push_str(&response.text().await.unwrap());
    out
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most 10 s.
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    for _ in 0..100 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn health_and_readiness_are_open() {
    let s = TestServer::start().await;
    check(
        &s,
        "/healthz",
        Auth::None,
        expect![[r#"
        200
        ok"#]],
    )
    .await;
    let ready = s.get("/readyz", Auth::None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.text().await.unwrap().starts_with("ready: bundle "));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn api_requires_a_valid_admin_token() {
    let s = TestServer::start().await;
    check(&s, "/api/v1/inventory", Auth::None, expect![[r#"
        401
        www-authenticate: Bearer
        {"error":{"code":"unauthorized","message":"missing admin token: send `Authorization: Bearer <token>`"}}"#]])
    .await;
    check(
        &s,
        "/api/v1/policies",
        Auth::BearerOf("aigov_adm_wrong"),
        expect![[r#"
        401
        www-authenticate: Bearer
        {"error":{"code":"unauthorized","message":"invalid or revoked admin token"}}"#]],
    )
    .await;
    for path in [
        "/api/v1/inventory",
        "/api/v1/inventory/teams",
        "/api/v1/inventory/people",
        "/api/v1/inventory/applications",
        "/api/v1/inventory/tools",
        "/api/v1/inventory/models",
        "/api/v1/inventory/vendors",
        "/api/v1/policies",
        "/api/v1/bundle",
    ] {
        assert_eq!(
            s.get(path, Auth::Bearer).await.status(),
            StatusCode::OK,
            "GET {path}"
        );
    }
    check(&s, "/api/v1/inventory/robots", Auth::Bearer, expect![[r#"
        404
        {"error":{"code":"not_found","message":"unknown inventory kind `robots`: expected one of `teams`, `people`, `applications`, `tools`, `models`, `vendors`"}}"#]])
    .await;

    // The dashboard cookie is accepted for reads, but never for state-changing requests.
    assert_eq!(
        s.get("/api/v1/bundle", Auth::Cookie).await.status(),
        StatusCode::OK
    );
    let post = s
        .client
        .post(s.url("/api/v1/decide"))
        .header("cookie", format!("aigov_token={}", s.token))
        .body(r#"{"action":"SendPrompt","principal":"lena","resource":"acme/storefront"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn revoked_token_is_refused() {
    let s = TestServer::start().await;
    assert_eq!(
        s.get("/api/v1/bundle", Auth::Bearer).await.status(),
        StatusCode::OK
    );
    assert!(
        s.store
            .revoke_token(TokenKind::Admin, "test-admin")
            .await
            .unwrap()
    );
    check(
        &s,
        "/api/v1/bundle",
        Auth::Bearer,
        expect![[r#"
        401
        www-authenticate: Bearer
        {"error":{"code":"unauthorized","message":"invalid or revoked admin token"}}"#]],
    )
    .await;
    s.stop().await.unwrap();
}

#[tokio::test]
async fn developer_key_cannot_use_the_api_or_dashboard() {
    let s = TestServer::start().await;
    let key = server::token::generate_developer_key();
    s.store
        .insert_token(NewToken {
            name: "lena-1".to_owned(),
            kind: TokenKind::Developer,
            hash: server::token::hash_token(&key),
            person: Some("lena".to_owned()),
            repo: Some("acme/storefront".to_owned()),
        })
        .await
        .unwrap();
    for path in ["/api/v1/inventory", "/api/v1/policies", "/api/v1/bundle"] {
        check(
            &s,
            path,
            Auth::BearerOf(&key),
            expect![[r#"
            401
            www-authenticate: Bearer
            {"error":{"code":"unauthorized","message":"invalid or revoked admin token"}}"#]],
        )
        .await;
    }
    let decide = s
        .client
        .post(s.url("/api/v1/decide"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(r#"{"action":"SendPrompt","principal":"lena","resource":"acme/storefront"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(decide.status(), StatusCode::UNAUTHORIZED);
    // Nor as the dashboard cookie, for API reads or pages.
    let cookie = format!("aigov_token={key}");
    let read = s
        .client
        .get(s.url("/api/v1/bundle"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    let page = s
        .client
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login");

    // Logging in with it fails like a wrong token, sets no cookie, and is recorded as a failure.
    let login = s
        .client
        .post(s.url("/login"))
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    assert!(login.headers().get("set-cookie").is_none());
    let logins: Vec<_> = s
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.kind == ledger::EntryKind::Authentication)
        .collect();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0].actor, "unknown");
    assert_eq!(logins[0].outcome, ledger::Outcome::Failure);

    // The admin token still works.
    assert_eq!(
        s.get("/api/v1/bundle", Auth::Bearer).await.status(),
        StatusCode::OK
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn api_returns_inventory_policies_and_bundle() {
    let s = TestServer::start().await;
    let inventory = s.get_json("/api/v1/inventory").await;
    assert_eq!(inventory["teams"]["payments"]["name"], "Payments");
    let teams = s.get_json("/api/v1/inventory/teams").await;
    let ids: Vec<&str> = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["data", "payments", "platform", "web"]);

    let policies = s.get_json("/api/v1/policies").await;
    let training = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "training-required")
        .expect("the example bundle has a `training-required` policy");
    assert_eq!(training["effect"], "forbid");
    assert!(!training["reason"].as_str().unwrap().is_empty());
    assert!(
        training["location"]
            .as_str()
            .unwrap()
            .starts_with("policy/"),
        "{training}"
    );

    let bundle = s.get_json("/api/v1/bundle").await;
    assert_eq!(bundle["digest"].as_str().unwrap().len(), 64);
    assert!(bundle["loaded_at"].as_str().unwrap().contains('T'));
    assert_eq!(
        bundle["root"].as_str().unwrap(),
        s.bundle_dir.display().to_string()
    );
    assert!(bundle["warnings"].is_array());
    s.stop().await.unwrap();
}

#[tokio::test]
async fn decide_returns_a_decision_and_records_it() {
    let s = TestServer::start().await;
    let cases = [
        (
            r#"{"action":"SendPrompt","principal":"lena","resource":"acme/storefront","context":{"tool":"claude-code","model":"claude-sonnet-4"}}"#,
            "allow",
        ),
        (
            r#"{"action":"SendPrompt","principal":"bob","resource":"acme/payments-api","context":{"tool":"claude-code","model":"local-coder"}}"#,
            "deny",
        ),
    ];
    for (body, outcome) in cases {
        let response = s.decide(body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let decision: model::Decision = response.json().await.unwrap();
        assert_eq!(
            serde_json::to_value(decision.outcome).unwrap(),
            outcome,
            "{body}"
        );
    }
    let events = s.events("policy.decision").await;
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.subject.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("test-admin", "acme/storefront", "allow"),
            ("test-admin", "acme/payments-api", "deny")
        ]
    );
    assert_eq!(events[1].payload["request"]["principal"], "bob");
    assert_eq!(events[1].payload["decision"]["outcome"], "deny");

    // Each decision is a ledger entry whose digest commits to the stored details.
    let decisions: Vec<ledger::Entry> = s
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.kind == ledger::EntryKind::PolicyDecision)
        .collect();
    let summary: Vec<String> = decisions
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {:?} {:?} ip={:?} replica={:?} action={} principal={}",
                e.fields["event"],
                e.actor,
                e.subject,
                e.outcome,
                e.decision,
                e.origin.ip,
                e.origin.replica,
                e.fields["action"],
                e.fields["principal"],
            )
        })
        .collect();
    expect![[r#"
        [
            "policy.decision test-admin acme/storefront Success Some(Allow) ip=Some(127.0.0.1) replica=Some(\"test-replica\") action=SendPrompt principal=lena",
            "policy.decision test-admin acme/payments-api Success Some(Deny) ip=Some(127.0.0.1) replica=Some(\"test-replica\") action=SendPrompt principal=bob",
        ]
    "#]]
    .assert_debug_eq(&summary);
    for (entry, event) in decisions.iter().zip(&events) {
        let mut details = event.payload.clone();
        let index = details
            .as_object_mut()
            .unwrap()
            .remove(audit::record::LEDGER_INDEX_KEY)
            .expect("the event row names its ledger index");
        assert_eq!(
            entry.payload_sha256,
            Some(audit::record::details_digest(&details)),
            "entry {index} commits to the stored details"
        );
    }
    s.verify_ledger().await;
    s.stop().await.unwrap();
}

#[tokio::test]
async fn logins_and_bundle_changes_are_in_the_ledger() {
    let s = TestServer::start().await;
    for token in ["wrong", s.token.as_str()] {
        s.client
            .post(s.url("/login"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
    }
    let logins: Vec<(String, ledger::Outcome, bool)> = s
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.kind == ledger::EntryKind::Authentication)
        .map(|e| (e.actor, e.outcome, e.origin.ip.is_some()))
        .collect();
    assert_eq!(
        logins,
        [
            ("unknown".to_owned(), ledger::Outcome::Failure, true),
            ("test-admin".to_owned(), ledger::Outcome::Success, true),
        ]
    );
    let bundle: Vec<String> = s
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.kind == ledger::EntryKind::BundleChange)
        .map(|e| e.fields["event"].clone())
        .collect();
    assert_eq!(bundle, ["bundle.loaded"]);
    let report = s.verify_ledger().await;
    assert!(report.checkpoints >= 1);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_decision_that_cannot_be_recorded_is_refused() {
    let s = TestServer::start().await;
    // The writer stops: nothing can be recorded any more.
    s.audit.shutdown().await.unwrap();
    let response = s
        .decide(r#"{"action":"SendPrompt","principal":"lena","resource":"acme/storefront","context":{"tool":"claude-code","model":"claude-sonnet-4"}}"#)
        .await;
    expect![[r#"
        503
        {"error":{"code":"audit_unavailable","message":"the audit ledger is unavailable; nothing was done"}}"#]].assert_eq(&render(response).await);
    assert!(s.events("policy.decision").await.is_empty());
    s.stop().await.unwrap();
}

#[tokio::test]
async fn bad_decide_json_is_a_400_naming_the_problem() {
    let s = TestServer::start().await;
    let cases = [
        (
            "not json",
            expect![[r#"
            400
            {"error":{"code":"invalid_request","message":"invalid decision request: expected ident at line 1 column 2"}}"#]],
        ),
        (
            r#"{"action":"SendPrompt","principal":"alice"}"#,
            expect![[r#"
                400
                {"error":{"code":"invalid_request","message":"invalid decision request: missing field `resource`"}}"#]],
        ),
        (
            r#"{"action":"Launch","principal":"a","resource":"r"}"#,
            expect![[r#"
                400
                {"error":{"code":"invalid_request","message":"invalid decision request: unknown variant `Launch`, expected one of `SendPrompt`, `MergeChange`, `Deploy`"}}"#]],
        ),
        (
            r#"{"action":"SendPrompt","principal":"a","resource":"r","context":{"token_estimate":"many"}}"#,
            expect![[r#"
                400
                {"error":{"code":"invalid_request","message":"invalid decision request: `context.token_estimate`: invalid type: string \"many\", expected u64"}}"#]],
        ),
        (
            r#"{"action":"MergeChange","principal":"a","resource":"r","context":{"change":{"approvals":-1}}}"#,
            expect![[r#"
                400
                {"error":{"code":"invalid_request","message":"invalid decision request: `context.change.approvals`: invalid value: integer `-1`, expected u64"}}"#]],
        ),
        (
            r#"{"action":"Deploy","principal":"a","resource":"r","context":"production"}"#,
            expect![[r#"
                400
                {"error":{"code":"invalid_request","message":"invalid decision request: `context`: invalid type: string \"production\", expected struct DeployContext"}}"#]],
        ),
        (
            r#"{"action":"SendPrompt","principal":"a","resource":"r","context":{"tol":"x"}}"#,
            expect![[r#"
                400
                {"error":{"code":"invalid_request","message":"invalid decision request: `context.tol`: unknown field `tol`, expected one of `tool`, `model`, `findings`, `token_estimate`, `budget`"}}"#]],
        ),
    ];
    for (body, expect) in cases {
        expect.assert_eq(&render(s.decide(body).await).await);
    }
    assert!(
        s.events("policy.decision").await.is_empty(),
        "rejected requests are not decisions"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn dashboard_needs_login_and_shows_teams() {
    let s = TestServer::start().await;
    check(
        &s,
        "/",
        Auth::None,
        expect![[r#"
        303
        location: /login
    "#]],
    )
    .await;
    check(
        &s,
        "/",
        Auth::Bearer,
        expect![[r#"
        303
        location: /login
    "#]],
    )
    .await;

    let login = s.get("/login", Auth::None).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(
        login
            .text()
            .await
            .unwrap()
            .contains("<form method=\"post\" action=\"/login\">")
    );

    // A wrong token stays on the login page.
    let wrong = s
        .client
        .post(s.url("/login"))
        .form(&[("token", "aigov_adm_nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    // The right token sets the cookie and redirects to the dashboard.
    let ok = s
        .client
        .post(s.url("/login"))
        .form(&[("token", s.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()["location"], "/");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap();
    assert_eq!(
        cookie,
        format!("aigov_token={}; HttpOnly; SameSite=Strict; Path=/", s.token)
    );

    let page = s.get("/", Auth::Cookie).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for text in [
        "Platform Engineering",
        "Payments",
        "Web Storefront",
        "controlled-expansion",
        "acme/payments-api",
        "pci, soc2",
    ] {
        assert!(html.contains(text), "dashboard shows {text}");
    }
    let digest = s.get_json("/api/v1/bundle").await["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(html.contains(&digest), "dashboard shows the bundle digest");
    assert!(
        !html.contains(&s.token),
        "the page never contains the token"
    );

    let logout = s
        .client
        .post(s.url("/logout"))
        .header("cookie", format!("aigov_token={}", s.token))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // Revoking the token ends the dashboard session too.
    s.store
        .revoke_token(TokenKind::Admin, "test-admin")
        .await
        .unwrap();
    assert_eq!(
        s.get("/", Auth::Cookie).await.status(),
        StatusCode::SEE_OTHER
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn dashboard_escapes_bundle_content() {
    let s = TestServer::start_with(|bundle| {
        std::fs::write(
            bundle.join("inventory/evil.yaml"),
            "teams:\n  - id: evil\n    name: \"<script>alert('x')</script>\"\n    stage: pilot\n",
        )
        .unwrap();
    })
    .await;
    let html = s.get("/", Auth::Cookie).await.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn bundle_hot_reload_swaps_valid_and_rejects_invalid() {
    let s = TestServer::start().await;
    let has_team = |team: &'static str| {
        let s = &s;
        async move {
            let teams = s.get_json("/api/v1/inventory/teams").await;
            teams
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["id"] == team)
                .then_some(())
        }
    };
    assert!(has_team("hotreload").await.is_none());

    std::fs::write(
        s.bundle_dir.join("inventory/hotreload.yaml"),
        "teams:\n  - id: hotreload\n    name: Hot Reload\n    stage: pilot\n",
    )
    .unwrap();
    eventually("the new team to be served", || has_team("hotreload")).await;
    let good_digest = s.get_json("/api/v1/bundle").await["digest"].clone();
    let loaded = s.events("bundle.loaded").await;
    assert!(
        loaded
            .iter()
            .any(|e| e.payload["trigger"] == "reload" && e.payload["digest"] == good_digest)
    );

    std::fs::write(
        s.bundle_dir.join("inventory/broken.yaml"),
        "teams:\n  - id: broken\n    stage: sideways\n",
    )
    .unwrap();
    let rejected = eventually("a bundle.rejected event", || async {
        s.events("bundle.rejected").await.into_iter().next()
    })
    .await;
    assert_eq!(rejected.outcome, "failure");
    let diagnostics = rejected.payload["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics
            .iter()
            .any(|d| d["location"]["file"] == "inventory/broken.yaml"),
        "{diagnostics:?}"
    );

    // The last good bundle keeps serving.
    assert_eq!(s.get_json("/api/v1/bundle").await["digest"], good_digest);
    assert!(has_team("hotreload").await.is_some());
    let decision = s
        .decide(r#"{"action":"SendPrompt","principal":"lena","resource":"acme/storefront","context":{"tool":"claude-code","model":"claude-sonnet-4"}}"#)
        .await;
    assert_eq!(decision.status(), StatusCode::OK);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_returns_from_serve() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/healthz", Auth::None).await.status(), StatusCode::OK);
    let base = s.base.clone();
    s.stop().await.unwrap();
    let after = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "nothing listens after shutdown");
}

/// `AppState` must be shareable across the runtime's threads.
#[test]
fn state_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Arc<AppState>>();
}

#[tokio::test]
async fn the_log_is_served_as_c2sp_tiles_with_proofs() {
    let s = TestServer::start().await;
    for principal in ["lena", "bob", "lena"] {
        let body = format!(
            r#"{{"action":"SendPrompt","principal":"{principal}","resource":"acme/storefront","context":{{"tool":"claude-code","model":"claude-sonnet-4"}}}}"#
        );
        assert_eq!(s.decide(&body).await.status(), StatusCode::OK);
    }
    s.audit.checkpoint_now().await.unwrap();

    // A client that trusts only the origin and the key: checkpoint, then tiles.
    let response = s.get("/log/checkpoint", Auth::Bearer).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let note = response.text().await.unwrap();
    let checkpoint = ledger::Checkpoint::open(note.as_bytes(), AUDIT_ORIGIN, &s.verifier).unwrap();
    let size = checkpoint.size;
    assert!(size >= 4, "bundle.loaded and three decisions: {size}");

    let bundle = get_bytes(&s, &format!("/log/tile/entries/000.p/{size}")).await;
    let hashes = get_bytes(&s, &format!("/log/tile/0/000.p/{size}")).await;
    assert_eq!(hashes.len() as u64, 32 * size);
    // Entry bundle: big-endian u16 length, then the entry; each matches its leaf hash.
    let mut rest = &bundle[..];
    let mut tree = ledger::MemTree::new();
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let entry = &rest[2..2 + len];
        let i = tree.push_entry(entry) as usize;
        assert_eq!(
            ledger::leaf_hash(entry).0[..],
            hashes[32 * i..32 * i + 32],
            "entry {i} matches the level-0 tile"
        );
        entries.push(entry.to_vec());
        rest = &rest[2 + len..];
    }
    assert_eq!(
        tree.head(),
        checkpoint.head(),
        "the tiles rebuild the signed root"
    );
    let kinds: Vec<String> = entries
        .iter()
        .map(|e| ledger::Entry::from_canonical_bytes(e).unwrap().fields["event"].clone())
        .collect();
    assert_eq!(kinds[kinds.len() - 3..], ["policy.decision"; 3]);

    // A proof file for one entry verifies offline against the same origin and key.
    let proof = String::from_utf8(get_bytes(&s, "/log/proof/2").await).unwrap();
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\n"), "{proof}");
    let proven =
        audit::tiles::verify_tlog_proof(&proof, &entries[2], AUDIT_ORIGIN, &s.verifier).unwrap();
    assert_eq!((proven.index, proven.size), (2, size));
    assert!(
        audit::tiles::verify_tlog_proof(&proof, &entries[1], AUDIT_ORIGIN, &s.verifier).is_err(),
        "the proof is for entry 2 only"
    );

    // Tiles that do not exist yet, bad paths and indexes, and no token.
    check(
        &s,
        "/log/tile/0/000",
        Auth::Bearer,
        expect![[r#"
            404
            {"error":{"code":"not_found","message":"`tile/0/000` does not exist in a log of 4 entries"}}"#]],
    )
    .await;
    check(
        &s,
        "/log/tile/0/0",
        Auth::Bearer,
        expect![[r#"
            404
            {"error":{"code":"not_found","message":"invalid tile index in `tile/0/0`: expected 3-digit groups, all but the last prefixed with `x`, without a leading `x000`"}}"#]],
    )
    .await;
    check(
        &s,
        &format!("/log/proof/{}", size + 10),
        Auth::Bearer,
        expect![[r#"
            404
            {"error":{"code":"not_found","message":"entry 14 is not covered by the newest checkpoint (size 4); retry after the next checkpoint"}}"#]],
    )
    .await;
    check(&s, "/log/proof/x", Auth::Bearer, expect![[r#"
        400
        {"error":{"code":"invalid_request","message":"`x` is not an entry index; expected a decimal number such as `/log/proof/42`"}}"#]]).await;
    check(&s, "/log/checkpoint", Auth::None, expect![[r#"
        401
        www-authenticate: Bearer
        {"error":{"code":"unauthorized","message":"missing admin token: send `Authorization: Bearer <token>`"}}"#]]).await;
    s.stop().await.unwrap();
}

async fn get_bytes(s: &TestServer, path: &str) -> Vec<u8> {
    let response = s.get(path, Auth::Bearer).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.bytes().await.unwrap().to_vec()
}

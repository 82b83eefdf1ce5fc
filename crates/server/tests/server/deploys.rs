//! Deployment authorization over real HTTP on SQLite and (when `AIGOV_TEST_POSTGRES_URL` is
//! set) PostgreSQL, with change records written through the store: authorize on an allowing
//! merge gate, the bundle verified offline (and refused for another commit, after expiry,
//! when tampered with, with another key, once revoked), refusals recorded (no change record,
//! a denying gate, the author approving their own change), break-glass with its retro-review
//! and the overdue listing, and the ledger verifying afterwards.

use attest::{AuthorizationBundle, Expected, verify_bundle};
use change::ChangeRecord;
use change::record::{CheckSource, Merge, PrState};
use ledger::EntryKind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::deploys::{self, DeployStatus};
use store::{ChangeStore, StoredChangeRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::TestServer;
use super::webhooks::backends;

const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MERGE: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const RED_HEAD: &str = "cccccccccccccccccccccccccccccccccccccccc";
const UNKNOWN: &str = "dddddddddddddddddddddddddddddddddddddddd";
const HOTFIX: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// A merged pull request of `acme/storefront` by `bob` (`bob-acme`); its tests passed at the
/// head when `green`.
fn change(number: u64, head: &str, merge: Option<&str>, green: bool) -> ChangeRecord {
    let mut record = ChangeRecord::new("acme/storefront", number);
    record.title = format!("change {number}");
    record.author = Some("bob-acme".to_owned());
    record.head_sha = head.to_owned();
    record.heads = vec![head.to_owned()];
    record.head_ref = format!("feature-{number}");
    record.base_ref = "main".to_owned();
    if let Some(merge) = merge {
        record.state = PrState::Merged;
        record.merge = Some(Merge {
            commit_sha: Some(merge.to_owned()),
            by: Some("alice-acme".to_owned()),
            head_sha: head.to_owned(),
        });
    }
    if green {
        record.checks.insert(
            (head.to_owned(), "test".to_owned(), CheckSource::CheckRun),
            change::Verdict::Success,
        );
    }
    record
}

async fn seed(s: &TestServer, records: &[ChangeRecord]) {
    let records = records
        .iter()
        .map(|r| StoredChangeRecord {
            forge: "github".to_owned(),
            repo: r.repo.clone(),
            number: r.number,
            record: serde_json::to_value(r).unwrap(),
            updated_at: OffsetDateTime::now_utc(),
        })
        .collect();
    s.store
        .finish_deliveries(
            "seed".to_owned(),
            Vec::new(),
            store::FinishedBatch {
                records,
                branches: Vec::new(),
            },
        )
        .await
        .unwrap();
}

async fn post(s: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    let response = s
        .client
        .post(s.url(path))
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn authorize(s: &TestServer, commit: &str, approver: &str) -> (StatusCode, Value) {
    post(
        s,
        "/api/v1/deployments/authorizations",
        json!({"app": "storefront", "environment": "production", "commit": commit, "approver": approver}),
    )
    .await
}

async fn fetch(s: &TestServer, commit: &str) -> (StatusCode, Value) {
    let response = s
        .client
        .get(s.url("/api/v1/deployments/authorization"))
        .query(&[
            ("app", "storefront"),
            ("env", "production"),
            ("commit", commit),
        ])
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn expected(commit: &str) -> Expected<'_> {
    Expected {
        app: "storefront",
        environment: "production",
        commit,
    }
}

fn time(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

/// The code of `bundle`'s refusal for `commit` at `at` with the server's key.
fn refusal(
    s: &TestServer,
    bundle: &AuthorizationBundle,
    commit: &str,
    at: OffsetDateTime,
) -> String {
    let r = verify_bundle(bundle, &s.verifier, None, &expected(commit), at).unwrap_err();
    format!("{}: {r}", r.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_verify_and_revoke() {
    for backend in backends().await {
        let b = backend.label;
        let s = backend.start(config::WebhooksConfig::default()).await;
        seed(&s, &[change(7, HEAD, Some(MERGE), true)]).await;

        let (status, created) = authorize(&s, MERGE, "alice").await;
        assert_eq!(status, StatusCode::CREATED, "{b}: {created}");
        assert_eq!(created["kind"], "standard", "{b}");
        assert_eq!(created["repo"], "acme/storefront", "{b}");
        let authorized_at = time(&created["authorized_at"]);
        let expires_at = time(&created["expires_at"]);
        assert_eq!(
            expires_at - authorized_at,
            time::Duration::days(7),
            "{b}: change.yaml says 7d"
        );

        // The gate was evaluated and recorded first; the authorization names its entry.
        let ledger = s.ledger().await;
        let index = created["ledger_index"].as_u64().unwrap() as usize;
        assert_eq!(ledger[index].kind, EntryKind::Approval, "{b}");
        assert_eq!(ledger[index].fields["event"], "deploy.authorized", "{b}");
        assert_eq!(ledger[index].fields["commit"], MERGE, "{b}");
        let gate = ledger
            .iter()
            .position(|e| e.fields.get("event").map(String::as_str) == Some("gate.merge"))
            .expect("a gate.merge entry");
        assert!(gate < index, "{b}");
        assert_eq!(ledger[gate].decision, Some(ledger::Decision::Allow), "{b}");

        // The signed statement says who, what, where and on which gate.
        let envelope = attest::Envelope::from_json(&created["envelope"]).unwrap();
        let statement = attest::Statement::parse(&envelope.verify(&s.verifier).unwrap()).unwrap();
        let p = &statement.predicate;
        assert_eq!(
            (p.app.as_str(), p.environment.as_str(), p.commit.as_str()),
            ("storefront", "production", MERGE)
        );
        assert_eq!(p.approver, "alice");
        assert_eq!(
            p.gate.as_ref().unwrap().ledger_index,
            Some(gate as u64),
            "{b}"
        );
        let stored = s
            .store
            .change_record("github", "acme/storefront", 7)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            p.change.as_ref().unwrap().record_sha256,
            ledger::sha256(&audit::record::canonical_json(&stored.record)).to_hex(),
            "{b}: the change record digest"
        );
        assert_eq!(
            attest::canonical_json(&stored.record),
            audit::record::canonical_json(&stored.record),
            "{b}: attest and audit agree on canonical JSON"
        );

        // The bundle verifies offline with the log's key alone.
        let (status, answer) = fetch(&s, MERGE).await;
        assert_eq!(status, StatusCode::OK, "{b}: {answer}");
        assert_eq!(answer["status"], "valid", "{b}");
        let bundle: AuthorizationBundle = serde_json::from_value(answer["bundle"].clone()).unwrap();
        let now = OffsetDateTime::now_utc();
        let verified = verify_bundle(&bundle, &s.verifier, None, &expected(MERGE), now).unwrap();
        assert_eq!(verified.ledger_index, index as u64, "{b}");
        assert_eq!(verified.origin, super::AUDIT_ORIGIN, "{b}");

        // Another commit, too late, tampered with, or another key: refused, with the reason.
        assert_eq!(
            refusal(&s, &bundle, HEAD, now),
            format!("other_commit: authorization is for commit {MERGE}"),
            "{b}"
        );
        assert_eq!(
            refusal(&s, &bundle, MERGE, expires_at),
            format!(
                "expired: expired at {}",
                expires_at.format(&Rfc3339).unwrap()
            ),
            "{b}"
        );
        let mut tampered = bundle.clone();
        let mut forged = statement.clone();
        forged.predicate.expires_at += time::Duration::days(365);
        tampered.envelope.payload = base64_encode(&forged.to_bytes());
        assert!(
            refusal(&s, &tampered, MERGE, now).starts_with("bad_signature: "),
            "{b}"
        );
        let mut tampered = bundle.clone();
        tampered.authorization.details["approver"] = "mallory".into();
        assert!(
            refusal(&s, &tampered, MERGE, now).starts_with("not_in_log: "),
            "{b}"
        );
        let other = ledger::SignerKey::from_seed(super::AUDIT_KEY_NAME, [8; 32]).unwrap();
        let r = verify_bundle(&bundle, &other.verifier(), None, &expected(MERGE), now).unwrap_err();
        assert_eq!(r.code(), "bad_signature", "{b}: {r}");

        // The server answers for another commit with the commits that are authorized.
        let (status, answer) = fetch(&s, HEAD).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(answer["status"], "other_commit", "{b}");
        assert_eq!(answer["authorized_commits"], json!([MERGE]), "{b}");
        assert_eq!(
            deploys::status(&s.store, "storefront", "staging", MERGE, now)
                .await
                .unwrap(),
            DeployStatus::Missing,
            "{b}"
        );
        assert!(
            matches!(
                deploys::status(&s.store, "storefront", "production", MERGE, now)
                    .await
                    .unwrap(),
                DeployStatus::Valid(_)
            ),
            "{b}"
        );

        let expired = deploys::status(&s.store, "storefront", "production", MERGE, expires_at)
            .await
            .unwrap();
        assert_eq!(expired.as_str(), "expired", "{b}");
        assert_eq!(
            expired.reason(MERGE),
            Some(format!(
                "expired at {}",
                expires_at.format(&Rfc3339).unwrap()
            )),
            "{b}"
        );

        // Revoked: the server's bundle carries the revocation, which is proven too.
        let id = created["id"].as_i64().unwrap();
        let (status, revoked) = post(
            &s,
            &format!("/api/v1/deployments/authorizations/{id}/revoke"),
            json!({"by": "priya", "reason": "the migration locks the orders table"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{b}: {revoked}");
        let revoked_at = revoked["revocation"]["at"].as_str().unwrap().to_owned();
        let (status, again) = post(
            &s,
            &format!("/api/v1/deployments/authorizations/{id}/revoke"),
            json!({"by": "priya", "reason": "twice"}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}: {again}");
        let (status, answer) = fetch(&s, MERGE).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert_eq!(answer["status"], "revoked", "{b}");
        let bundle: AuthorizationBundle = serde_json::from_value(answer["bundle"].clone()).unwrap();
        assert_eq!(
            refusal(&s, &bundle, MERGE, now),
            format!(
                "revoked: revoked by priya at {revoked_at} because the migration locks the orders table"
            ),
            "{b}"
        );
        let mut hidden = bundle.clone();
        if let Some(r) = hidden.revocation.as_mut() {
            r.details["reason"] = "nothing".into();
        }
        assert!(
            refusal(&s, &hidden, MERGE, now).starts_with("not_in_log: "),
            "{b}"
        );
        // A bundle saved before the revocation cannot know of it (documented): it still verifies.
        let mut saved = bundle.clone();
        saved.revocation = None;
        verify_bundle(&saved, &s.verifier, None, &expected(MERGE), now).unwrap();

        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_recorded() {
    for backend in backends().await {
        let b = backend.label;
        let s = backend.start(config::WebhooksConfig::default()).await;
        seed(
            &s,
            &[
                change(7, HEAD, Some(MERGE), true),
                change(8, RED_HEAD, None, false),
            ],
        )
        .await;

        let denied = |answer: &Value| -> Vec<String> {
            answer["error"]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect()
        };
        // The author may not approve the deployment of their own change.
        let (status, answer) = authorize(&s, MERGE, "bob").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}: {answer}");
        assert_eq!(answer["error"]["code"], "denied", "{b}");
        assert_eq!(
            denied(&answer),
            [
                "`bob` is the change's author and cannot approve its deployment (separation of duties)"
            ],
            "{b}"
        );
        let entry = &s.ledger().await[answer["error"]["ledger_index"].as_u64().unwrap() as usize];
        assert_eq!(entry.fields["event"], "deploy.denied", "{b}");
        assert_eq!(entry.outcome, ledger::Outcome::Failure, "{b}");
        assert_eq!(entry.decision, Some(ledger::Decision::Deny), "{b}");
        assert_eq!(entry.fields["approver"], "bob", "{b}");

        // A red change: the gate's reasons.
        let (status, answer) = authorize(&s, RED_HEAD, "alice").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}: {answer}");
        let reasons = denied(&answer);
        assert_eq!(
            reasons[0],
            format!("the merge gate denies acme/storefront#8 at {RED_HEAD}"),
            "{b}"
        );
        assert!(
            reasons.iter().any(|r| r.starts_with("tests-must-pass: ")),
            "{b}: {reasons:?}"
        );

        // No change record has the commit.
        let (status, answer) = authorize(&s, UNKNOWN, "alice").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}: {answer}");
        assert!(
            denied(&answer)[0]
                .starts_with("no change record of `storefront` (acme/storefront) has commit"),
            "{b}"
        );

        // Bad requests name what is wrong.
        let check = |body: Value, expect: &'static str| {
            let s = &s;
            async move {
                let (status, answer) = post(s, "/api/v1/deployments/authorizations", body).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{b}: {answer}");
                let message = answer["error"]["message"].as_str().unwrap();
                assert!(message.contains(expect), "{b}: {message}");
            }
        };
        check(
            json!({"app": "storefrnt", "environment": "production", "commit": MERGE, "approver": "alice"}),
            "unknown application `storefrnt`: did you mean `storefront`?",
        )
        .await;
        check(
            json!({"app": "storefront", "environment": "prod", "commit": MERGE, "approver": "alice"}),
            "unknown environment of `storefront` `prod`",
        )
        .await;
        check(
            json!({"app": "storefront", "environment": "production", "commit": "abc", "approver": "alice"}),
            "invalid commit `abc`",
        )
        .await;
        check(
            json!({"app": "storefront", "environment": "production", "commit": MERGE, "approver": "alicia"}),
            "did you mean `alice`?",
        )
        .await;
        check(
            json!({"app": "storefront", "environment": "production", "commit": HOTFIX, "approver": "alice", "break_glass": true}),
            "a break-glass authorization needs a reason",
        )
        .await;
        check(
            json!({"app": "storefront", "environment": "production", "commit": HOTFIX, "approver": "alice", "break_glass": true, "reason": "  "}),
            "a break-glass authorization needs a reason",
        )
        .await;

        // Nothing was authorized.
        let now = OffsetDateTime::now_utc();
        for commit in [MERGE, RED_HEAD, UNKNOWN] {
            assert_eq!(
                deploys::status(&s.store, "storefront", "production", commit, now)
                    .await
                    .unwrap(),
                DeployStatus::Missing,
                "{b}"
            );
        }
        let (status, answer) = fetch(&s, MERGE).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(answer["status"], "missing", "{b}");

        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_and_its_retro_review() {
    for backend in backends().await {
        let b = backend.label;
        let s = backend.start(config::WebhooksConfig::default()).await;
        let (status, created) = post(
            &s,
            "/api/v1/deployments/authorizations",
            json!({
                "app": "storefront", "environment": "production", "commit": HOTFIX,
                "approver": "alice", "break_glass": true, "reason": "checkout returns 500s",
            }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{b}: {created}");
        assert_eq!(created["kind"], "break-glass", "{b}");
        assert_eq!(created["repo"], Value::Null, "{b}: no change record needed");
        let authorized_at = time(&created["authorized_at"]);
        let due = time(&created["retro_review_due"]);
        assert_eq!(
            due - authorized_at,
            time::Duration::hours(48),
            "{b}: change.yaml says 48h"
        );
        let entry = &s.ledger().await[created["ledger_index"].as_u64().unwrap() as usize];
        assert_eq!(entry.kind, EntryKind::BreakGlass, "{b}: flagged");
        assert_eq!(entry.fields["event"], "deploy.break_glass", "{b}");

        let (status, answer) = fetch(&s, HOTFIX).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let bundle: AuthorizationBundle = serde_json::from_value(answer["bundle"].clone()).unwrap();
        let verified = verify_bundle(
            &bundle,
            &s.verifier,
            None,
            &expected(HOTFIX),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(
            verified.statement.predicate.reason.as_deref(),
            Some("checkout returns 500s")
        );

        // Overdue once the deadline passed, until reviewed.
        let id = created["id"].as_i64().unwrap();
        let overdue = |at: OffsetDateTime| {
            let store = s.store.clone();
            async move {
                deploys::overdue_retro_reviews(&store, at)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(overdue(due).await, Vec::<i64>::new(), "{b}");
        assert_eq!(overdue(due + time::Duration::seconds(1)).await, [id], "{b}");

        let review = |reviewer: &'static str| {
            let s = &s;
            async move {
                post(
                    s,
                    &format!("/api/v1/deployments/authorizations/{id}/retro-review"),
                    json!({"reviewer": reviewer, "notes": "root cause fixed in #12"}),
                )
                .await
            }
        };
        let (status, answer) = review("alice").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{b}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("separation of duties")
        );
        let (status, answer) = review("priya").await;
        assert_eq!(status, StatusCode::OK, "{b}: {answer}");
        assert_eq!(answer["retro_review"]["by"], "priya", "{b}");
        let entry =
            &s.ledger().await[answer["retro_review"]["ledger_index"].as_u64().unwrap() as usize];
        assert_eq!(entry.kind, EntryKind::Review, "{b}");
        assert_eq!(entry.fields["event"], "deploy.retro_review", "{b}");
        let (status, _) = review("marcus").await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
        assert_eq!(
            overdue(due + time::Duration::seconds(1)).await,
            Vec::<i64>::new(),
            "{b}"
        );

        // An unknown id.
        let (status, _) = post(
            &s,
            "/api/v1/deployments/authorizations/999/revoke",
            json!({"by": "priya", "reason": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}");

        s.verify_ledger().await;
        s.stop().await.unwrap();
    }
}

/// A gate decision the change record already holds (as the webhook processor keeps it) is
/// used when it was made for the commit's head; a stale one (another head) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_gate_decision_is_used_for_its_head() {
    let backend = backends().await.remove(0);
    let s = backend.start(config::WebhooksConfig::default()).await;
    let gate = |head: &str| change::GateRecord {
        head_sha: head.to_owned(),
        outcome: model::Outcome::Allow,
        reasons: vec!["baseline-merge: recorded".to_owned()],
        facts: model::ChangeFacts::default(),
        decided_at: "2026-01-02T10:00:00Z".to_owned(),
        ledger_index: Some(0),
    };
    // Red at the head (no checks), but the recorded gate allowed that head.
    let mut recorded = change(7, HEAD, Some(MERGE), false);
    recorded.gate = Some(gate(HEAD));
    // A gate decided on an earlier head does not count: the gate is evaluated again.
    let mut stale = change(8, RED_HEAD, None, false);
    stale.gate = Some(gate(HEAD));
    seed(&s, &[recorded, stale]).await;

    let (status, created) = authorize(&s, MERGE, "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let envelope = attest::Envelope::from_json(&created["envelope"]).unwrap();
    let statement = attest::Statement::parse(&envelope.verify(&s.verifier).unwrap()).unwrap();
    let gate_ref = statement.predicate.gate.unwrap();
    assert_eq!(gate_ref.ledger_index, Some(0));
    assert_eq!(gate_ref.reasons, ["baseline-merge: recorded"]);
    let evaluated = |ledger: &[ledger::Entry]| {
        ledger
            .iter()
            .filter(|e| e.fields.get("event").map(String::as_str) == Some("gate.merge"))
            .count()
    };
    assert_eq!(
        evaluated(&s.ledger().await),
        0,
        "the recorded decision was used"
    );

    let (status, answer) = authorize(&s, RED_HEAD, "alice").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(
        evaluated(&s.ledger().await),
        1,
        "the stale decision was not"
    );
    s.verify_ledger().await;
    s.stop().await.unwrap();
}

//! The GitHub REST API client against the GitHub stand-in over real HTTP: check runs posted
//! with GitHub's headers and read back, deployment protection rules answered, callback URLs
//! outside `api_url` refused without a request, retries, final errors, and the token kept out
//! of every error.

use std::time::Duration;

use config::{GithubConfig, Secret};
use expect_test::{Expect, expect};
use serde_json::Value;
use server::github::{
    CheckRun, Conclusion, GATE_CHECK_NAME, GithubApi, GithubError, MAX_OUTPUT_LEN,
};
use standin::github::{self as gh, GithubStandin};

const TOKEN: &str = "ghs_aigovTestInstallationToken0123456789";
const SHA: &str = "d6fde92930d4715a2b49857d24b940956b26d2d3";

fn client(api_url: &str, token: &str) -> GithubApi {
    let config = GithubConfig {
        api_url: api_url.to_owned(),
        token: Some(Secret::new(token)),
        timeout: Duration::from_secs(5),
        ..GithubConfig::default()
    };
    GithubApi::with_backoff(&config, Duration::from_millis(10))
        .unwrap()
        .expect("a token is configured")
}

fn gate_run(conclusion: Conclusion) -> CheckRun {
    CheckRun {
        name: GATE_CHECK_NAME.to_owned(),
        head_sha: SHA.to_owned(),
        conclusion,
        title: "Merge allowed".to_owned(),
        summary: "All required checks passed.".to_owned(),
        text: Some("- policy `require-review`: satisfied".to_owned()),
        details_url: Some("https://aigov.example.com/changes/42".to_owned()),
    }
}

/// The error's message with the stand-in's address replaced by `{api}`.
fn render_error(e: &GithubError, standin: &GithubStandin) -> String {
    e.to_string().replace(&standin.base_url(), "{api}")
}

#[tokio::test]
async fn no_token_means_no_client() {
    let config = GithubConfig::default();
    assert!(GithubApi::new(&config).unwrap().is_none());
}

#[tokio::test]
async fn check_run_is_posted_with_githubs_headers_and_read_back() {
    let standin = gh::spawn(TOKEN).await.unwrap();
    let api = client(&standin.base_url(), TOKEN);
    let id = api
        .create_check_run("octo-org/app", &gate_run(Conclusion::ActionRequired))
        .await
        .unwrap();

    let calls = standin.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.status, 201);
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/repos/octo-org/app/check-runs")
    );
    assert_eq!(call.accept.as_deref(), Some("application/vnd.github+json"));
    assert_eq!(call.api_version.as_deref(), Some("2022-11-28"));
    assert_eq!(
        call.user_agent.as_deref(),
        Some(concat!("aigov/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert!(call.authorized);
    let mut body = call.body.clone();
    let completed_at = body["completed_at"].take();
    assert!(
        completed_at
            .as_str()
            .is_some_and(|t| t.len() == 20 && t.ends_with('Z')),
        "{completed_at}"
    );
    expect![[r#"
        {
          "name": "aigov/gate",
          "head_sha": "d6fde92930d4715a2b49857d24b940956b26d2d3",
          "status": "completed",
          "conclusion": "action_required",
          "completed_at": null,
          "output": {
            "title": "Merge allowed",
            "summary": "All required checks passed.",
            "text": "- policy `require-review`: satisfied"
          },
          "details_url": "https://aigov.example.com/changes/42"
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&body).unwrap());

    // Read back as any client would.
    let list: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/octo-org/app/commits/{SHA}/check-runs?check_name=aigov%2Fgate",
            standin.base_url()
        ))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/vnd.github+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total_count"], 1);
    let run = &list["check_runs"][0];
    assert_eq!(run["id"].as_u64(), Some(id));
    assert_eq!(run["name"], "aigov/gate");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["conclusion"], "action_required");
    assert_eq!(run["output"]["title"], "Merge allowed");
    assert_eq!(run["completed_at"], completed_at);
    standin.shutdown().await.unwrap();
}

#[tokio::test]
async fn long_output_is_cut_to_githubs_limit() {
    let standin = gh::spawn(TOKEN).await.unwrap();
    let api = client(&standin.base_url(), TOKEN);
    let mut run = gate_run(Conclusion::Failure);
    run.summary = "ü".repeat(40_000); // 80,000 bytes
    run.text = Some("x".repeat(MAX_OUTPUT_LEN + 1));
    api.create_check_run("octo/app", &run).await.unwrap();
    let body = &standin.calls()[0].body;
    for field in ["summary", "text"] {
        let sent = body["output"][field].as_str().unwrap();
        assert!(sent.len() <= MAX_OUTPUT_LEN, "{field}: {}", sent.len());
        assert!(sent.contains("(cut by aigov: "), "{field}");
    }
    assert!(
        body["output"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("üü")
    );
}

#[tokio::test]
async fn protection_rules_are_approved_and_rejected() {
    // Under a base path, as on GitHub Enterprise Server.
    let standin = gh::spawn_with_prefix(TOKEN, "/api/v3").await.unwrap();
    let api = client(&standin.base_url(), TOKEN);
    let callback = format!(
        "{}/repos/octo/app/actions/runs/4242/deployment_protection_rule",
        standin.base_url()
    );
    api.review_deployment_protection_rule(&callback, "production", true, "aigov: allowed")
        .await
        .unwrap();
    api.review_deployment_protection_rule(&callback, "staging", false, "aigov: no approval")
        .await
        .unwrap();
    let calls = standin.calls();
    let seen: Vec<(&str, u16, &Value)> = calls
        .iter()
        .map(|c| (c.path.as_str(), c.status, &c.body))
        .collect();
    expect![[r#"
        [
            (
                "/api/v3/repos/octo/app/actions/runs/4242/deployment_protection_rule",
                204,
                Object {
                    "environment_name": String("production"),
                    "state": String("approved"),
                    "comment": String("aigov: allowed"),
                },
            ),
            (
                "/api/v3/repos/octo/app/actions/runs/4242/deployment_protection_rule",
                204,
                Object {
                    "environment_name": String("staging"),
                    "state": String("rejected"),
                    "comment": String("aigov: no approval"),
                },
            ),
        ]
    "#]]
    .assert_debug_eq(&seen);
    assert!(calls.iter().all(|c| c.authorized
        && c.api_version.as_deref() == Some("2022-11-28")
        && c.accept.as_deref() == Some("application/vnd.github+json")));
}

#[tokio::test]
async fn callbacks_outside_api_url_are_refused_without_a_request() {
    let standin = gh::spawn_with_prefix(TOKEN, "/api/v3").await.unwrap();
    let api = client(&standin.base_url(), TOKEN);
    let base = standin.base_url();
    let addr = standin.addr();
    let path = "/repos/octo/app/actions/runs/1/deployment_protection_rule";
    let check = |callback: String, expect: Expect| {
        let api = &api;
        let standin = &standin;
        async move {
            let e = api
                .review_deployment_protection_rule(&callback, "production", true, "ok")
                .await
                .unwrap_err();
            let message = render_error(&e, standin)
                .replace(&addr.to_string(), "{addr}")
                .replace(&addr.port().to_string(), "{port}");
            expect.assert_eq(&message);
            assert!(!message.contains(TOKEN));
        }
    };
    check(
        format!("https://api.github.com/api/v3{path}"),
        expect!["review deployment protection rule: refused callback url `https://api.github.com/api/v3/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): another scheme, host or port than `github.api_url`"],
    )
    .await;
    check(
        format!("http://localhost:{}/api/v3{path}", addr.port()),
        expect!["review deployment protection rule: refused callback url `http://localhost:{port}/api/v3/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): another scheme, host or port than `github.api_url`"],
    )
    .await;
    check(
        format!("http://127.0.0.1:1/api/v3{path}"),
        expect!["review deployment protection rule: refused callback url `http://127.0.0.1:1/api/v3/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): another scheme, host or port than `github.api_url`"],
    )
    .await;
    check(
        format!("https://{addr}/api/v3{path}"),
        expect!["review deployment protection rule: refused callback url `https://{addr}/api/v3/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): another scheme, host or port than `github.api_url`"],
    )
    .await;
    check(format!("http://{addr}{path}"), expect!["review deployment protection rule: refused callback url `http://{addr}/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): its path is not under `github.api_url`"]).await;
    check(format!("http://{addr}/api/v3evil{path}"), expect!["review deployment protection rule: refused callback url `{api}evil/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): its path is not under `github.api_url`"]).await;
    check(format!("http://{addr}/api/v3/../..{path}"), expect!["review deployment protection rule: refused callback url `{api}/../../repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): it is not in canonical form (dot segments or characters the url standard changes)"]).await;
    check(format!("http://{addr}/api/v3/x/..{path}/../deployment_protection_rule"), expect!["review deployment protection rule: refused callback url `{api}/x/../repos/octo/app/actions/runs/1/deployment_protection_rule/../deployment_protection_rule` (aigov only sends its token to `{api}`): it is not in canonical form (dot segments or characters the url standard changes)"]).await;
    check(format!("http://user:pw@{addr}/api/v3{path}"), expect!["review deployment protection rule: refused callback url `http://user:pw@{addr}/api/v3/repos/octo/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): it holds credentials"]).await;
    check(format!("{base}{path}?redirect=https://evil.example"), expect!["review deployment protection rule: refused callback url `{api}/repos/octo/app/actions/runs/1/deployment_protection_rule?redirect=https://evil.example` (aigov only sends its token to `{api}`): it has a query or fragment"]).await;
    check(
        format!("{base}/repos/octo/app/check-runs"),
        expect!["review deployment protection rule: refused callback url `{api}/repos/octo/app/check-runs` (aigov only sends its token to `{api}`): its path is not `/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`"],
    )
    .await;
    check(
        format!("{base}/repos/octo/app/actions/runs/1a/deployment_protection_rule"),
        expect!["review deployment protection rule: refused callback url `{api}/repos/octo/app/actions/runs/1a/deployment_protection_rule` (aigov only sends its token to `{api}`): its run id is not a number"],
    )
    .await;
    check(
        format!("{base}/repos/octo%2Fother/app/actions/runs/1/deployment_protection_rule"),
        expect!["review deployment protection rule: refused callback url `{api}/repos/octo%2Fother/app/actions/runs/1/deployment_protection_rule` (aigov only sends its token to `{api}`): its owner or repository name is not valid"],
    )
    .await;
    check("not a url".to_owned(), expect!["review deployment protection rule: refused callback url `not a url` (aigov only sends its token to `{api}`): not a url"]).await;
    assert!(standin.calls().is_empty(), "{:?}", standin.calls());

    // Repository names that would leave the repository's path are refused too.
    for repo in ["octo", "octo/app/x", "octo/..", "../app", "octo/a?b"] {
        let e = api
            .create_check_run(repo, &gate_run(Conclusion::Success))
            .await
            .unwrap_err();
        assert!(matches!(e, GithubError::Repo { .. }), "{repo}: {e}");
    }
    assert!(standin.calls().is_empty());
}

/// Faults queued before a call, the statuses the stand-in answered, and the call's result.
type Case = (&'static [u16], &'static [u16], Result<(), &'static str>);

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    let standin = gh::spawn(TOKEN).await.unwrap();
    let api = client(&standin.base_url(), TOKEN);
    // (faults before the call, statuses GitHub answered, result)
    let cases: [Case; 5] = [
        (&[502], &[502, 201], Ok(())),
        (&[500, 503], &[500, 503, 201], Ok(())),
        (&[429], &[429, 201], Ok(())),
        (&[403], &[403, 201], Ok(())),
        (
            &[502, 502, 502],
            &[502, 502, 502],
            Err("create check run for `octo/app`: GitHub answered 502: Server Error"),
        ),
    ];
    for (faults, statuses, expected) in cases {
        standin.reset();
        for status in faults {
            standin.fail_next(*status, 1);
        }
        let result = api
            .create_check_run("octo/app", &gate_run(Conclusion::Success))
            .await;
        let seen: Vec<u16> = standin.calls().iter().map(|c| c.status).collect();
        assert_eq!(seen, statuses, "{faults:?}");
        match (result, expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(message)) => {
                assert_eq!(e.to_string(), message);
                assert!(matches!(e, GithubError::Status { attempts: 3, .. }));
            }
            (result, expected) => panic!("{faults:?}: {result:?}, expected {expected:?}"),
        }
    }
}

#[tokio::test]
async fn client_errors_are_final_and_name_githubs_message() {
    let standin = gh::spawn(TOKEN).await.unwrap();
    let api = client(&standin.base_url(), TOKEN);
    let mut run = gate_run(Conclusion::Success);
    run.head_sha = "main".to_owned();
    let e = api.create_check_run("octo/app", &run).await.unwrap_err();
    expect!["create check run for `octo/app`: GitHub answered 422: Validation Failed: `head_sha` invalid"]
        .assert_eq(&e.to_string());
    assert_eq!(e.status(), Some(422));
    assert_eq!(standin.calls().len(), 1, "a 422 is not retried");

    standin.reset();
    standin.fail_next(404, 1);
    let e = api
        .create_check_run("octo/app", &gate_run(Conclusion::Success))
        .await
        .unwrap_err();
    expect!["create check run for `octo/app`: GitHub answered 404: Not Found"]
        .assert_eq(&e.to_string());
    assert_eq!(standin.calls().len(), 1);
}

#[tokio::test]
async fn a_bad_token_is_an_error_that_does_not_show_it() {
    let standin = gh::spawn(TOKEN).await.unwrap();
    let wrong = "ghs_wrongTokenThatMustNotLeak987654321";
    let api = client(&standin.base_url(), wrong);
    let e = api
        .create_check_run("octo/app", &gate_run(Conclusion::Success))
        .await
        .unwrap_err();
    expect!["create check run for `octo/app`: GitHub answered 401: Bad credentials"]
        .assert_eq(&e.to_string());
    let callback = format!(
        "{}/repos/octo/app/actions/runs/7/deployment_protection_rule",
        standin.base_url()
    );
    let e2 = api
        .review_deployment_protection_rule(&callback, "production", false, "no")
        .await
        .unwrap_err();
    expect![
        "review deployment protection rule for `octo/app`: GitHub answered 401: Bad credentials"
    ]
    .assert_eq(&e2.to_string());
    for shown in [
        e.to_string(),
        format!("{e:?}"),
        e2.to_string(),
        format!("{e2:?}"),
        format!("{api:?}"),
    ] {
        assert!(!shown.contains(wrong), "{shown}");
    }
    assert_eq!(standin.calls().len(), 2, "a 401 is not retried");
    assert!(standin.calls().iter().all(|c| !c.authorized));
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error_after_three_attempts() {
    // A port nobody listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = client(&format!("http://{addr}"), TOKEN);
    let e = api
        .create_check_run("octo/app", &gate_run(Conclusion::Neutral))
        .await
        .unwrap_err();
    assert!(
        matches!(e, GithubError::Transport { attempts: 3, .. }),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(
        message.starts_with("create check run for `octo/app`: cannot reach GitHub (3 attempts): "),
        "{message}"
    );
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn the_state_holds_the_client_only_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundle");
    bundle::example::write_to(&bundle_dir).unwrap();
    let store = store::Store::open(&store::StoreConfig::Sqlite {
        path: dir.path().join("aigov.db"),
    })
    .await
    .unwrap();
    let signer = ledger::SignerKey::from_seed("aigov.test", [7; 32]).unwrap();
    let audit = audit::AuditLog::start(
        store.clone(),
        signer,
        audit::AuditConfig::new("aigov.test/github"),
    );
    let state = |github: Option<GithubApi>| async {
        server::AppState::with_github(
            store.clone(),
            audit.clone(),
            server::load_bundle(&bundle_dir).await.unwrap(),
            bundle_dir.clone(),
            Duration::from_secs(1),
            config::GatewayConfig::default(),
            config::WebhooksConfig::default(),
            github,
        )
    };
    let with = state(Some(client("https://ghe.example.com/api/v3", TOKEN))).await;
    assert_eq!(
        with.github().map(GithubApi::api_url),
        Some("https://ghe.example.com/api/v3")
    );
    let without = state(GithubApi::new(&GithubConfig::default()).unwrap()).await;
    assert!(without.github().is_none());
    audit.shutdown().await.unwrap();
}

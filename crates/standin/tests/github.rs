//! The GitHub API stand-in over real HTTP: check runs created and read back, protection rule
//! reviews, GitHub's 422 validation errors and 401s, faults, and what is recorded.

use reqwest::StatusCode;
use serde_json::{Value, json};
use standin::github::{self, GithubStandin};

const TOKEN: &str = "ghs_standintoken";
const SHA: &str = "d6fde92930d4715a2b49857d24b940956b26d2d3";

async fn post(gh: &GithubStandin, path: &str, auth: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", gh.base_url()))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "standin-test")
        .json(&body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

async fn get(gh: &GithubStandin, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", gh.base_url()))
        .header("authorization", format!("token {TOKEN}"))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn bearer() -> Option<&'static str> {
    Some("Bearer ghs_standintoken")
}

fn check_run(overrides: Value) -> Value {
    let mut body = json!({
        "name": "aigov/gate",
        "head_sha": SHA,
        "status": "completed",
        "conclusion": "success",
        "output": {"title": "Allowed", "summary": "All checks passed"},
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body
}

#[tokio::test]
async fn check_runs_are_created_and_listed_per_commit() {
    let gh = github::spawn(TOKEN).await.unwrap();
    let (status, run) = post(
        &gh,
        "/repos/octo/app/check-runs",
        bearer(),
        check_run(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["name"], "aigov/gate");
    assert_eq!(run["head_sha"], SHA);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["conclusion"], "success");
    assert_eq!(run["output"]["title"], "Allowed");
    assert_eq!(run["output"]["summary"], "All checks passed");
    assert!(run["id"].as_u64().is_some());
    assert!(
        run["html_url"]
            .as_str()
            .unwrap()
            .starts_with("https://github.com/octo/app/runs/")
    );
    assert_eq!(
        run["url"],
        format!("{}/repos/octo/app/check-runs/{}", gh.base_url(), run["id"])
    );
    assert!(run["completed_at"].as_str().unwrap().ends_with('Z'));
    // A conclusion without a status means completed, as on GitHub.
    let (status, second) = post(
        &gh,
        "/repos/octo/app/check-runs",
        bearer(),
        check_run(json!({"name": "other", "status": null, "conclusion": "failure"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(second["status"], "completed");

    let (status, list) = get(&gh, &format!("/repos/octo/app/commits/{SHA}/check-runs")).await;
    assert_eq!(status, 200);
    assert_eq!(list["total_count"], 2);
    assert_eq!(list["check_runs"][0]["name"], "other", "newest first");
    let (_, list) = get(
        &gh,
        &format!("/repos/octo/app/commits/{SHA}/check-runs?check_name=aigov%2Fgate"),
    )
    .await;
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["check_runs"][0]["id"], run["id"]);
    // Other repositories and commits see nothing.
    let (_, list) = get(&gh, &format!("/repos/octo/other/commits/{SHA}/check-runs")).await;
    assert_eq!(list["total_count"], 0);

    let calls = gh.calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, "/repos/octo/app/check-runs");
    assert_eq!(
        calls[0].accept.as_deref(),
        Some("application/vnd.github+json")
    );
    assert_eq!(calls[0].api_version.as_deref(), Some("2022-11-28"));
    assert_eq!(calls[0].user_agent.as_deref(), Some("standin-test"));
    assert!(calls[0].authorized);
    assert_eq!(calls[0].body, check_run(json!({})));
    assert_eq!(calls[0].status, 201);
    gh.shutdown().await.unwrap();
}

#[tokio::test]
async fn check_run_validation_is_github_422() {
    let gh = github::spawn(TOKEN).await.unwrap();
    // (what is sent, the `field` and `code` GitHub names)
    let cases = [
        (json!({"name": null}), "name", "missing_field"),
        (json!({"name": ""}), "name", "missing_field"),
        (json!({"head_sha": null}), "head_sha", "missing_field"),
        (json!({"head_sha": "main"}), "head_sha", "invalid"),
        (
            json!({"head_sha": format!("{SHA}00")}),
            "head_sha",
            "invalid",
        ),
        (json!({"conclusion": null}), "conclusion", "missing_field"),
        (json!({"conclusion": "approved"}), "conclusion", "invalid"),
        (json!({"status": "done"}), "status", "invalid"),
        (
            json!({"output": {"title": "t"}}),
            "output.summary",
            "missing_field",
        ),
    ];
    for (overrides, field, code) in cases {
        let sent = check_run(overrides.clone());
        let (status, body) = post(&gh, "/repos/octo/app/check-runs", bearer(), sent).await;
        assert_eq!(status, 422, "{overrides}: {body}");
        assert_eq!(body["message"], "Validation Failed", "{overrides}");
        assert!(
            body["documentation_url"]
                .as_str()
                .unwrap()
                .starts_with("https://docs.github.com/")
        );
        let errors = body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{overrides}: {body}"
        );
    }
    let (_, list) = get(&gh, &format!("/repos/octo/app/commits/{SHA}/check-runs")).await;
    assert_eq!(list["total_count"], 0, "nothing invalid was stored");
}

#[tokio::test]
async fn protection_rule_reviews() {
    let gh = github::spawn(TOKEN).await.unwrap();
    let path = "/repos/octo/app/actions/runs/42/deployment_protection_rule";
    for state in ["approved", "rejected"] {
        let (status, body) = post(
            &gh,
            path,
            bearer(),
            json!({"environment_name": "production", "state": state, "comment": "aigov"}),
        )
        .await;
        assert_eq!((status, body), (204, Value::Null), "{state}");
    }
    let cases = [
        (
            json!({"environment_name": "production", "state": "approve"}),
            "state",
            "invalid",
        ),
        (
            json!({"environment_name": "production"}),
            "state",
            "missing_field",
        ),
        (
            json!({"state": "approved"}),
            "environment_name",
            "missing_field",
        ),
        (
            json!({"environment_name": "", "state": "approved"}),
            "environment_name",
            "missing_field",
        ),
    ];
    for (sent, field, code) in cases {
        let (status, body) = post(&gh, path, bearer(), sent.clone()).await;
        assert_eq!(status, 422, "{sent}: {body}");
        assert_eq!(body["message"], "Validation Failed");
        assert!(
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{sent}: {body}"
        );
    }
    // Not a run id: no such route.
    let (status, body) = post(
        &gh,
        "/repos/octo/app/actions/runs/abc/deployment_protection_rule",
        bearer(),
        json!({"environment_name": "production", "state": "approved"}),
    )
    .await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
}

#[tokio::test]
async fn credentials_are_checked() {
    let gh = github::spawn(TOKEN).await.unwrap();
    let path = "/repos/octo/app/check-runs";
    // (Authorization header, status, GitHub's message)
    let cases = [
        (None, 401, Some("Requires authentication")),
        (Some("Bearer wrong"), 401, Some("Bad credentials")),
        (Some("Basic Z2hzOng="), 401, Some("Bad credentials")),
        (Some("Bearer ghs_standintoken"), 201, None),
        (Some("token ghs_standintoken"), 201, None),
    ];
    for (auth, expected, message) in cases {
        let (status, body) = post(&gh, path, auth, check_run(json!({}))).await;
        assert_eq!(status, expected, "{auth:?}: {body}");
        if let Some(message) = message {
            assert_eq!(body["message"], message);
            assert_eq!(body["status"], "401");
        }
    }
    let calls = gh.calls();
    assert_eq!(
        calls.iter().map(|c| c.authorized).collect::<Vec<_>>(),
        [false, false, false, true, true]
    );
    // A media type GitHub cannot answer in.
    let response = reqwest::Client::new()
        .post(format!("{}{path}", gh.base_url()))
        .header("authorization", "Bearer ghs_standintoken")
        .header("accept", "text/html")
        .json(&check_run(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn faults_answer_in_githubs_shape_then_stop() {
    let gh = github::spawn_with_prefix(TOKEN, "/api/v3").await.unwrap();
    assert!(gh.base_url().ends_with("/api/v3"));
    gh.fail_next(502, 1);
    gh.fail_next(429, 1);
    gh.fail_next(403, 1);
    let path = "/repos/octo/app/check-runs";
    let (status, body) = post(&gh, path, bearer(), check_run(json!({}))).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (502, Some("Server Error"))
    );
    let response = reqwest::Client::new()
        .post(format!("{}{path}", gh.base_url()))
        .header("authorization", "Bearer ghs_standintoken")
        .json(&check_run(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "0");
    let response = reqwest::Client::new()
        .post(format!("{}{path}", gh.base_url()))
        .header("authorization", "Bearer ghs_standintoken")
        .json(&check_run(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    let (status, _) = post(&gh, path, bearer(), check_run(json!({}))).await;
    assert_eq!(status, 201);
    // Outside the prefix there is nothing.
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", gh.addr()))
        .header("authorization", "Bearer ghs_standintoken")
        .json(&check_run(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        gh.calls().iter().map(|c| c.status).collect::<Vec<_>>(),
        [502, 429, 403, 201, 404]
    );
    gh.reset();
    assert!(gh.calls().is_empty());
    gh.shutdown().await.unwrap();
}

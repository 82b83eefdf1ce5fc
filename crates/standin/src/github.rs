//! A local stand-in for the part of GitHub's REST API aigov calls: creating and listing check
//! runs, and reviewing custom deployment protection rules, with GitHub's answer and error
//! shapes, token auth, fault injection and a record of every call.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let github = standin::github::spawn("ghs_test").await?;
//! let api_url = github.base_url(); // http://127.0.0.1:PORT
//! # let _ = api_url;
//! github.fail_next(502, 1); // the next call answers 502
//! let calls = github.calls(); // what was sent, oldest first
//! # let _ = calls;
//! github.shutdown().await
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Largest request body read (GitHub's own limit is larger; aigov's bodies are < 200 KiB).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const DOCS: &str = "https://docs.github.com/rest";
const CHECK_RUN_DOCS: &str = "https://docs.github.com/rest/checks/runs#create-a-check-run";
const PROTECTION_DOCS: &str = "https://docs.github.com/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run";
const STATUSES: &[&str] = &[
    "queued",
    "in_progress",
    "completed",
    "waiting",
    "requested",
    "pending",
];
const CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

/// One call the stand-in received, faulted and refused ones included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GithubCall {
    pub method: String,
    /// The path as received (with the base path, if any).
    pub path: String,
    pub query: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `X-GitHub-Api-Version`.
    pub api_version: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Whether the `Authorization` header carried the expected token (the token itself is not
    /// recorded).
    pub authorized: bool,
    /// The body as JSON; a string when it is not JSON, `null` when empty.
    pub body: Value,
    /// The status the stand-in answered with.
    pub status: u16,
}

/// A created check run, as stored.
struct StoredRun {
    repo: String,
    object: Value,
}

struct Shared {
    token: String,
    prefix: String,
    base_url: String,
    calls: Mutex<Vec<GithubCall>>,
    faults: Mutex<VecDeque<u16>>,
    runs: Mutex<Vec<StoredRun>>,
}

/// A GitHub API stand-in running on the current tokio runtime. Dropping it stops the server.
pub struct GithubStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl fmt::Debug for GithubStandin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubStandin")
            .field("addr", &self.addr)
            .field("prefix", &self.shared.prefix)
            .finish()
    }
}

/// Starts a GitHub API stand-in on `127.0.0.1` with a free port, serving at the root like
/// `api.github.com`, accepting `token` (as `Authorization: Bearer <token>` or `token <token>`).
pub async fn spawn(token: impl Into<String>) -> io::Result<GithubStandin> {
    spawn_with_prefix(token, "").await
}

/// [`spawn`] serving under a base path such as `/api/v3`, like GitHub Enterprise Server.
pub async fn spawn_with_prefix(
    token: impl Into<String>,
    prefix: &str,
) -> io::Result<GithubStandin> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let prefix = prefix.trim_end_matches('/').to_owned();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(io::Error::other("the prefix must start with `/`"));
    }
    let shared = Arc::new(Shared {
        token: token.into(),
        base_url: format!("http://{addr}{prefix}"),
        prefix,
        calls: Mutex::new(Vec::new()),
        faults: Mutex::new(VecDeque::new()),
        runs: Mutex::new(Vec::new()),
    });
    let app = Router::new().fallback(handle).with_state(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(GithubStandin {
        addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

impl GithubStandin {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, `http://ADDR` plus the prefix: what `github.api_url` is set to.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The calls received so far, oldest first.
    pub fn calls(&self) -> Vec<GithubCall> {
        lock(&self.shared.calls).clone()
    }

    /// Makes the next `times` API calls answer `status` (400–599) with GitHub's error shape
    /// (after any faults queued before). A 429 carries `retry-after: 0`; a 403 carries
    /// `x-ratelimit-remaining: 0` with a reset time of now (GitHub's rate-limit answers).
    pub fn fail_next(&self, status: u16, times: u32) {
        assert!(
            (400..=599).contains(&status),
            "fail_next: status must be between 400 and 599, not {status}"
        );
        let mut faults = lock(&self.shared.faults);
        faults.extend(std::iter::repeat_n(status, times as usize));
    }

    /// Forgets calls, faults and check runs.
    pub fn reset(&self) {
        lock(&self.shared.calls).clear();
        lock(&self.shared.faults).clear();
        lock(&self.shared.runs).clear();
    }

    /// Stops accepting and waits for open connections to finish.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for GithubStandin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The token of `Bearer <token>` or `token <token>` (schemes case-insensitive).
fn credential(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

/// An answer: status, JSON body (none for 204) and extra headers.
struct Answer {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: StatusCode, body: Value) -> Answer {
        Answer {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// GitHub's error shape: `message`, `documentation_url`, `status` (and `errors`).
    fn error(status: StatusCode, message: &str, docs: &str) -> Answer {
        Answer::json(
            status,
            json!({
                "message": message,
                "documentation_url": docs,
                "status": status.as_u16().to_string(),
            }),
        )
    }

    /// `422 Validation Failed` listing `errors`.
    fn invalid(errors: Vec<Value>, docs: &str) -> Answer {
        Answer::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "message": "Validation Failed",
                "errors": errors,
                "documentation_url": docs,
                "status": "422",
            }),
        )
    }

    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => {
                let mut r = Response::new(Body::from(body.to_string()));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                r
            }
            None => Response::new(Body::empty()),
        };
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            "x-github-media-type",
            HeaderValue::from_static("github.v3; format=json"),
        );
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::try_from(value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

fn now() -> (u64, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs, rfc3339(secs))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let headers = &parts.headers;
    let authorized = header(headers, "authorization")
        .as_deref()
        .and_then(credential)
        .is_some_and(|t| t == shared.token);
    let mut call = GithubCall {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        accept: header(headers, "accept"),
        api_version: header(headers, "x-github-api-version"),
        user_agent: header(headers, "user-agent"),
        content_type: header(headers, "content-type"),
        authorized,
        body: parse_body(&bytes),
        status: 0,
    };
    let answer = answer(&shared, &parts.method, &call, headers);
    call.status = answer.status.as_u16();
    lock(&shared.calls).push(call);
    answer.into_response()
}

fn parse_body(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    }
}

fn answer(shared: &Shared, method: &Method, call: &GithubCall, headers: &HeaderMap) -> Answer {
    let fault = lock(&shared.faults).pop_front();
    if let Some(status) = fault {
        return fault_answer(status);
    }
    // GitHub checks credentials first, then the media type.
    if headers.get("authorization").is_none() {
        return Answer::error(StatusCode::UNAUTHORIZED, "Requires authentication", DOCS);
    }
    if !call.authorized {
        return Answer::error(StatusCode::UNAUTHORIZED, "Bad credentials", DOCS);
    }
    if let Some(accept) = &call.accept
        && !accepts_json(accept)
    {
        return Answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported 'Accept' header: {accept:?}. Must accept 'application/json'."),
            DOCS,
        );
    }
    let Some(rest) = call.path.strip_prefix(shared.prefix.as_str()) else {
        return not_found();
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["repos", owner, repo, "check-runs"]) => {
            create_check_run(shared, owner, repo, &call.body)
        }
        (&Method::GET, ["repos", owner, repo, "commits", git_ref, "check-runs"]) => {
            list_check_runs(shared, owner, repo, git_ref, call.query.as_deref())
        }
        (
            &Method::POST,
            [
                "repos",
                _owner,
                _repo,
                "actions",
                "runs",
                run_id,
                "deployment_protection_rule",
            ],
        ) if !run_id.is_empty() && run_id.bytes().all(|b| b.is_ascii_digit()) => {
            review_protection_rule(&call.body)
        }
        _ => not_found(),
    }
}

fn not_found() -> Answer {
    Answer::error(StatusCode::NOT_FOUND, "Not Found", DOCS)
}

/// `*/*`, `application/*`, or a JSON media type (GitHub's own ones included).
fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|item| {
        let media = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        media.is_empty()
            || media == "*/*"
            || media == "application/*"
            || media == "application/json"
            || (media.starts_with("application/vnd.github") && media.ends_with("json"))
            || media == "application/vnd.github"
    })
}

fn fault_answer(status: u16) -> Answer {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status {
        401 => "Bad credentials",
        403 => "API rate limit exceeded for installation ID 1.",
        404 => "Not Found",
        422 => "Validation Failed",
        429 => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        500 => "Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        _ => code.canonical_reason().unwrap_or("Error"),
    };
    let mut answer = Answer::error(code, message, DOCS);
    match status {
        429 => answer.headers.push(("retry-after", "0".to_owned())),
        403 => {
            answer
                .headers
                .push(("x-ratelimit-remaining", "0".to_owned()));
            answer
                .headers
                .push(("x-ratelimit-reset", now().0.to_string()));
        }
        _ => {}
    }
    answer
}

fn field_error(resource: &str, field: &str, code: &str) -> Value {
    json!({ "resource": resource, "field": field, "code": code })
}

fn non_empty_str<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `POST /repos/{owner}/{repo}/check-runs`.
fn create_check_run(shared: &Shared, owner: &str, repo: &str, body: &Value) -> Answer {
    if !body.is_object() {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            CHECK_RUN_DOCS,
        );
    }
    let mut errors = Vec::new();
    let name = non_empty_str(body, "name");
    if name.is_none() {
        errors.push(field_error("CheckRun", "name", "missing_field"));
    }
    let head_sha = non_empty_str(body, "head_sha");
    match head_sha {
        None => errors.push(field_error("CheckRun", "head_sha", "missing_field")),
        Some(sha) if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
            errors.push(field_error("CheckRun", "head_sha", "invalid"));
        }
        Some(_) => {}
    }
    let conclusion = body.get("conclusion").filter(|v| !v.is_null());
    let status = match body.get("status").filter(|v| !v.is_null()) {
        None if conclusion.is_some() => Some("completed"),
        None => Some("queued"),
        Some(v) => v.as_str().filter(|s| STATUSES.contains(s)),
    };
    if status.is_none() {
        errors.push(field_error("CheckRun", "status", "invalid"));
    }
    let conclusion = match conclusion {
        None => None,
        Some(v) => match v.as_str().filter(|c| CONCLUSIONS.contains(c)) {
            Some(c) => Some(c),
            None => {
                errors.push(field_error("CheckRun", "conclusion", "invalid"));
                None
            }
        },
    };
    if status == Some("completed") && conclusion.is_none() && body.get("conclusion").is_none() {
        errors.push(field_error("CheckRun", "conclusion", "missing_field"));
    }
    let output = body.get("output").filter(|v| !v.is_null());
    if let Some(output) = output {
        if output.get("title").and_then(Value::as_str).is_none() {
            errors.push(field_error("CheckRun", "output.title", "missing_field"));
        }
        if output.get("summary").and_then(Value::as_str).is_none() {
            errors.push(field_error("CheckRun", "output.summary", "missing_field"));
        }
        for field in ["summary", "text"] {
            if output
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| s.chars().count() > 65_535)
            {
                errors.push(json!({
                    "resource": "CheckRun",
                    "field": format!("output.{field}"),
                    "code": "custom",
                    "message": format!("output.{field} is too long (maximum is 65535 characters)"),
                }));
            }
        }
    }
    if !errors.is_empty() {
        return Answer::invalid(errors, CHECK_RUN_DOCS);
    }
    let (name, head_sha, status) = (
        name.unwrap_or_default(),
        head_sha.unwrap_or_default(),
        status.unwrap_or("queued"),
    );
    let (_, now) = now();
    let mut runs = lock(&shared.runs);
    let id = 4_000_000_000u64 + runs.len() as u64 + 1;
    let full = format!("{owner}/{repo}");
    let completed_at = (status == "completed").then(|| {
        body.get("completed_at")
            .and_then(Value::as_str)
            .map_or(now.clone(), str::to_owned)
    });
    let output = output.cloned().unwrap_or_else(|| json!({}));
    let object = json!({
        "id": id,
        "node_id": format!("CR_standin{id}"),
        "head_sha": head_sha,
        "external_id": body.get("external_id").and_then(Value::as_str).unwrap_or(""),
        "url": format!("{}/repos/{full}/check-runs/{id}", shared.base_url),
        "html_url": format!("https://github.com/{full}/runs/{id}"),
        "details_url": body.get("details_url").cloned().unwrap_or(Value::Null),
        "status": status,
        "conclusion": conclusion,
        "started_at": body.get("started_at").and_then(Value::as_str).map_or(now.clone(), str::to_owned),
        "completed_at": completed_at,
        "output": {
            "title": output.get("title").cloned().unwrap_or(Value::Null),
            "summary": output.get("summary").cloned().unwrap_or(Value::Null),
            "text": output.get("text").cloned().unwrap_or(Value::Null),
            "annotations_count": 0,
            "annotations_url": format!("{}/repos/{full}/check-runs/{id}/annotations", shared.base_url),
        },
        "name": name,
        "check_suite": { "id": 5_000_000_001u64 },
        "app": {
            "id": 1,
            "slug": "aigov-standin",
            "node_id": "MDM6QXBwMQ==",
            "name": "aigov stand-in",
            "owner": { "login": owner, "type": "Organization" },
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        },
        "pull_requests": [],
    });
    runs.push(StoredRun {
        repo: full,
        object: object.clone(),
    });
    Answer::json(StatusCode::CREATED, object)
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`: newest first, optionally filtered by
/// `check_name` (and `status`).
fn list_check_runs(
    shared: &Shared,
    owner: &str,
    repo: &str,
    git_ref: &str,
    query: Option<&str>,
) -> Answer {
    let mut check_name = None;
    let mut status = None;
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("check_name", v)) => check_name = Some(decode(v)),
            Some(("status", v)) => status = Some(decode(v)),
            _ => {}
        }
    }
    let full = format!("{owner}/{repo}");
    let runs = lock(&shared.runs);
    let matching: Vec<Value> = runs
        .iter()
        .rev()
        .filter(|r| r.repo == full && r.object["head_sha"] == git_ref)
        .filter(|r| {
            check_name
                .as_ref()
                .is_none_or(|n| r.object["name"] == n.as_str())
        })
        .filter(|r| {
            status
                .as_ref()
                .is_none_or(|s| r.object["status"] == s.as_str())
        })
        .map(|r| r.object.clone())
        .collect();
    Answer::json(
        StatusCode::OK,
        json!({ "total_count": matching.len(), "check_runs": matching }),
    )
}

/// Percent-decoding of a query value (`+` is a space).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`: 204.
fn review_protection_rule(body: &Value) -> Answer {
    if !body.is_object() {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            PROTECTION_DOCS,
        );
    }
    let mut errors = Vec::new();
    if non_empty_str(body, "environment_name").is_none() {
        errors.push(field_error(
            "DeploymentProtectionRule",
            "environment_name",
            "missing_field",
        ));
    }
    match body.get("state").and_then(Value::as_str) {
        Some("approved" | "rejected") => {}
        Some(_) => errors.push(field_error("DeploymentProtectionRule", "state", "invalid")),
        None => errors.push(field_error(
            "DeploymentProtectionRule",
            "state",
            "missing_field",
        )),
    }
    if body
        .get("comment")
        .is_some_and(|c| !c.is_string() && !c.is_null())
    {
        errors.push(field_error(
            "DeploymentProtectionRule",
            "comment",
            "invalid",
        ));
    }
    if !errors.is_empty() {
        return Answer::invalid(errors, PROTECTION_DOCS);
    }
    Answer {
        status: StatusCode::NO_CONTENT,
        body: None,
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_894_230), "2026-11-28T19:30:30Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(decode("aigov%2Fgate"), "aigov/gate");
        assert_eq!(decode("a+b%"), "a b%");
    }

    #[test]
    fn accept_headers() {
        for ok in [
            "application/vnd.github+json",
            "application/json",
            "*/*",
            "application/vnd.github.v3+json",
            "text/html, application/json;q=0.9",
        ] {
            assert!(accepts_json(ok), "{ok}");
        }
        assert!(!accepts_json("text/html"));
    }
}

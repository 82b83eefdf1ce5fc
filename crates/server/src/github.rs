//! The GitHub REST API client aigov reports gate results with: check runs (`aigov/gate`) and
//! answers to custom deployment protection rules. Retries what GitHub asks to retry, never
//! follows redirects, and never sends its token anywhere but the configured `api_url`.

use std::time::Duration;

use config::{GithubConfig, Secret};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The name of the check run the merge gate posts.
pub const GATE_CHECK_NAME: &str = "aigov/gate";

/// GitHub's limit on a check run's `output.summary` and `output.text`. Texts are cut to this
/// many bytes (so never more characters), on a character boundary.
pub const MAX_OUTPUT_LEN: usize = 65_535;

/// The REST API version aigov speaks (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";

/// At most this many attempts per call (the first included).
const MAX_ATTEMPTS: u32 = 3;
/// A `retry-after` (or rate-limit reset) longer than this is waited for only this long.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// The first backoff of [`GithubApi::new`]; doubled for each further attempt.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);
/// The longest callback URL repeated in an error.
const MAX_URL_IN_ERROR: usize = 200;

/// How a check run concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
    ActionRequired,
}

impl Conclusion {
    /// The value GitHub expects in `conclusion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::ActionRequired => "action_required",
        }
    }
}

/// A completed check run to post on a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    /// The check's name, [`GATE_CHECK_NAME`] for the merge gate.
    pub name: String,
    /// The commit the result is for (the pull request's head).
    pub head_sha: String,
    pub conclusion: Conclusion,
    /// `output.title`.
    pub title: String,
    /// `output.summary` (Markdown), cut to [`MAX_OUTPUT_LEN`].
    pub summary: String,
    /// `output.text` (Markdown), cut to [`MAX_OUTPUT_LEN`].
    pub text: Option<String>,
    /// A link to the details on aigov's side.
    pub details_url: Option<String>,
}

/// A failed call to GitHub. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("invalid `github.api_url`: {0}")]
    ApiUrl(String),
    #[error("cannot build the GitHub client: {0}")]
    Client(String),
    #[error("{call}: `{repo}` is not a repository name of the form `owner/name`")]
    Repo { call: &'static str, repo: String },
    #[error(
        "{call}: refused callback url `{url}` (aigov only sends its token to `{api_url}`): {reason}"
    )]
    Callback {
        call: &'static str,
        url: String,
        api_url: String,
        reason: &'static str,
    },
    #[error("{call} for `{repo}`: {what} must not be empty")]
    Empty {
        call: &'static str,
        repo: String,
        what: &'static str,
    },
    #[error("{call} for `{repo}`: cannot reach GitHub ({attempts} attempts): {message}")]
    Transport {
        call: &'static str,
        repo: String,
        attempts: u32,
        message: String,
    },
    #[error("{call} for `{repo}`: GitHub answered {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        call: &'static str,
        repo: String,
        status: u16,
        /// GitHub's `message` (and the `errors` it listed), if its answer had one.
        message: Option<String>,
        attempts: u32,
    },
    #[error("{call} for `{repo}`: unexpected answer from GitHub: {message}")]
    Answer {
        call: &'static str,
        repo: String,
        message: String,
    },
}

impl GithubError {
    /// The HTTP status GitHub answered with, if it did answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The client for GitHub's REST API (see the module docs). Cheap to share behind the state.
#[derive(Debug)]
pub struct GithubApi {
    http: reqwest::Client,
    /// `api_url` without a trailing `/`.
    api_url: String,
    base: Url,
    token: Secret,
    backoff: Duration,
}

const CREATE_CHECK_RUN: &str = "create check run";
const REVIEW_PROTECTION_RULE: &str = "review deployment protection rule";

impl GithubApi {
    /// The client of the validated `[github]` section with its token resolved; `None` without
    /// a token (aigov then does not call GitHub).
    pub fn new(config: &GithubConfig) -> Result<Option<GithubApi>, GithubError> {
        GithubApi::with_backoff(config, DEFAULT_BACKOFF)
    }

    /// [`GithubApi::new`] with the first retry's backoff (doubled for each further attempt);
    /// tests make it short.
    pub fn with_backoff(
        config: &GithubConfig,
        base_backoff: Duration,
    ) -> Result<Option<GithubApi>, GithubError> {
        let Some(token) = config.token.clone() else {
            return Ok(None);
        };
        let api_url = config.api_url.trim_end_matches('/').to_owned();
        let base = Url::parse(&api_url).map_err(|e| GithubError::ApiUrl(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.host_str().is_none()
            || !base.username().is_empty()
            || base.password().is_some()
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(GithubError::ApiUrl(
                "expected an absolute http(s) url without credentials, query or fragment"
                    .to_owned(),
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("aigov/", env!("CARGO_PKG_VERSION"))),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect would carry the token elsewhere: never followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GithubError::Client(e.to_string()))?;
        Ok(Some(GithubApi {
            http,
            api_url,
            base,
            token,
            backoff: base_backoff,
        }))
    }

    /// The API's base URL, without a trailing `/`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Posts a completed check run on `run.head_sha` of `repo` (`owner/name`) and returns its
    /// id. `summary` and `text` longer than GitHub allows are cut, with a note saying so.
    pub async fn create_check_run(&self, repo: &str, run: &CheckRun) -> Result<u64, GithubError> {
        let call = CREATE_CHECK_RUN;
        let (owner, name) = split_repo(repo).ok_or_else(|| GithubError::Repo {
            call,
            repo: repo.to_owned(),
        })?;
        for (what, value) in [
            ("the check run's name", &run.name),
            ("head_sha", &run.head_sha),
        ] {
            if value.trim().is_empty() {
                return Err(GithubError::Empty {
                    call,
                    repo: repo.to_owned(),
                    what,
                });
            }
        }
        let completed_at = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let mut output = json!({
            "title": run.title,
            "summary": cut(&run.summary),
        });
        if let Some(text) = &run.text {
            output["text"] = Value::String(cut(text));
        }
        let mut body = json!({
            "name": run.name,
            "head_sha": run.head_sha,
            "status": "completed",
            "conclusion": run.conclusion.as_str(),
            "completed_at": completed_at,
            "output": output,
        });
        if let Some(url) = &run.details_url {
            body["details_url"] = Value::String(url.clone());
        }
        let url = self.endpoint(&["repos", owner, name, "check-runs"]);
        let answer = self.post(call, repo, url, &body).await?;
        let parsed: Value = serde_json::from_slice(&answer).map_err(|e| GithubError::Answer {
            call,
            repo: repo.to_owned(),
            message: format!("not JSON: {e}"),
        })?;
        parsed
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| GithubError::Answer {
                call,
                repo: repo.to_owned(),
                message: "no numeric `id` in the check run".to_owned(),
            })
    }

    /// Approves or rejects a deployment waiting on aigov's custom deployment protection rule,
    /// answering the `deployment_callback_url` of the `deployment_protection_rule` webhook.
    /// A callback URL outside the configured `api_url`, or not of the shape
    /// `/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`, is refused
    /// without any request: a forged webhook must not get the token sent elsewhere.
    pub async fn review_deployment_protection_rule(
        &self,
        callback_url: &str,
        environment: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), GithubError> {
        let call = REVIEW_PROTECTION_RULE;
        let (owner, name, run_id) = self.check_callback(callback_url)?;
        let repo = format!("{owner}/{name}");
        if environment.trim().is_empty() {
            return Err(GithubError::Empty {
                call,
                repo,
                what: "the environment name",
            });
        }
        let body = json!({
            "environment_name": environment,
            "state": if approve { "approved" } else { "rejected" },
            "comment": comment,
        });
        // Built from the checked parts, not the URL as given.
        let url = self.endpoint(&[
            "repos",
            &owner,
            &name,
            "actions",
            "runs",
            &run_id,
            "deployment_protection_rule",
        ]);
        self.post(call, &repo, url, &body).await?;
        Ok(())
    }

    /// `{api_url}/seg/seg/...`; the segments are already checked to need no escaping.
    fn endpoint(&self, segments: &[&str]) -> String {
        let mut url = self.api_url.clone();
        for s in segments {
            url.push('/');
            url.push_str(s);
        }
        url
    }

    /// The owner, repository and run id of a callback URL under `api_url`, or why it is refused.
    fn check_callback(&self, callback_url: &str) -> Result<(String, String, String), GithubError> {
        let refuse = |reason: &'static str| GithubError::Callback {
            call: REVIEW_PROTECTION_RULE,
            url: shorten(callback_url),
            api_url: self.api_url.clone(),
            reason,
        };
        let url = Url::parse(callback_url.trim()).map_err(|_| refuse("not a url"))?;
        if url.scheme() != self.base.scheme()
            || url.host_str() != self.base.host_str()
            || url.port_or_known_default() != self.base.port_or_known_default()
        {
            return Err(refuse("another scheme, host or port than `github.api_url`"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it holds credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("it has a query or fragment"));
        }
        // GitHub sends URLs as they are; dot segments or a changed case are not its doing.
        if url.as_str() != callback_url.trim() {
            return Err(refuse(
                "it is not in canonical form (dot segments or characters the url standard changes)",
            ));
        }
        let prefix = self.base.path().trim_end_matches('/');
        let rest = url
            .path()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| refuse("its path is not under `github.api_url`"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [
            "repos",
            owner,
            name,
            "actions",
            "runs",
            run_id,
            "deployment_protection_rule",
        ] = parts.as_slice()
        else {
            return Err(refuse(
                "its path is not `/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`",
            ));
        };
        if !is_owner(owner) || !is_repo_name(name) {
            return Err(refuse("its owner or repository name is not valid"));
        }
        if run_id.is_empty() || run_id.len() > 20 || !run_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse("its run id is not a number"));
        }
        Ok((
            (*owner).to_owned(),
            (*name).to_owned(),
            (*run_id).to_owned(),
        ))
    }

    /// POSTs `body` with retries; the answer's body on success (2xx).
    async fn post(
        &self,
        call: &'static str,
        repo: &str,
        url: String,
        body: &Value,
    ) -> Result<Vec<u8>, GithubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(&url)
                .header(AUTHORIZATION, self.authorization())
                .json(body)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    if attempt < MAX_ATTEMPTS {
                        tracing::warn!(call, repo, attempt, error = %describe(&e), "github: request failed, retrying");
                        tokio::time::sleep(self.backoff_for(attempt)).await;
                        continue;
                    }
                    return Err(GithubError::Transport {
                        call,
                        repo: repo.to_owned(),
                        attempts: attempt,
                        message: describe(&e),
                    });
                }
            };
            let status = response.status();
            let wait = retry_wait(status, response.headers());
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes.to_vec(),
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(call, repo, attempt, error = %describe(&e), "github: answer cut, retrying");
                    tokio::time::sleep(self.backoff_for(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(GithubError::Transport {
                        call,
                        repo: repo.to_owned(),
                        attempts: attempt,
                        message: describe(&e),
                    });
                }
            };
            if status.is_success() {
                return Ok(bytes);
            }
            let retry = status.is_server_error()
                || (matches!(status.as_u16(), 403 | 429) && wait.is_some());
            if retry && attempt < MAX_ATTEMPTS {
                let wait = wait
                    .unwrap_or_else(|| self.backoff_for(attempt))
                    .min(MAX_RETRY_WAIT);
                tracing::warn!(
                    call,
                    repo,
                    attempt,
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "github: retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(GithubError::Status {
                call,
                repo: repo.to_owned(),
                status: status.as_u16(),
                message: github_message(&bytes),
                attempts: attempt,
            });
        }
    }

    fn authorization(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-token"));
        value.set_sensitive(true);
        value
    }

    fn backoff_for(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1 << (attempt - 1).min(8))
            .min(MAX_RETRY_WAIT)
    }
}

/// How long GitHub asks to wait before a retry: `retry-after` (seconds), or until
/// `x-ratelimit-reset` when `x-ratelimit-remaining` is 0 (at least a second). `None` when it
/// says nothing (a 403 or 429 without either is final).
fn retry_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(seconds) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds));
    }
    if !status.is_success() && header("x-ratelimit-remaining") == Some("0") {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok());
        let seconds = reset.map_or(1, |reset| (reset - now).max(1)) as u64;
        return Some(Duration::from_secs(seconds));
    }
    None
}

/// GitHub's `message` from an error answer, with the `errors` it lists (`Validation Failed:
/// ...`), shortened.
fn github_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut message = value.get("message")?.as_str()?.to_owned();
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        let details: Vec<String> = errors
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        let field = other.get("field").and_then(Value::as_str).unwrap_or("?");
                        let code = other.get("code").and_then(Value::as_str).unwrap_or("?");
                        format!("`{field}` {code}")
                    }),
            })
            .collect();
        if !details.is_empty() {
            message.push_str(": ");
            message.push_str(&details.join("; "));
        }
    }
    Some(truncate_chars(&message, 500))
}

/// A transport error with its causes (reqwest's own message is often just "error sending
/// request"). Holds the URL at most, never a header.
fn describe(e: &reqwest::Error) -> String {
    let mut message = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// `text` cut to at most [`MAX_OUTPUT_LEN`] bytes on a character boundary, ending with a note
/// that it was cut.
pub fn cut(text: &str) -> String {
    if text.len() <= MAX_OUTPUT_LEN {
        return text.to_owned();
    }
    let note = format!(
        "\n\n… (cut by aigov: {} characters, GitHub shows at most {MAX_OUTPUT_LEN})",
        text.chars().count()
    );
    let mut end = MAX_OUTPUT_LEN - note.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(MAX_OUTPUT_LEN);
    out.push_str(&text[..end]);
    out.push_str(&note);
    out
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn shorten(url: &str) -> String {
    truncate_chars(&url.escape_debug().to_string(), MAX_URL_IN_ERROR)
}

/// `owner/name` with GitHub's allowed characters.
fn split_repo(repo: &str) -> Option<(&str, &str)> {
    let (owner, name) = repo.split_once('/')?;
    (is_owner(owner) && is_repo_name(name)).then_some((owner, name))
}

/// A GitHub user or organization name: letters, digits, `-` (and `_` for enterprise-managed
/// users), at most 100 characters.
fn is_owner(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A repository name: letters, digits, `.`, `-`, `_`, at most 100 characters, not `.`/`..`.
fn is_repo_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(cut("short"), "short");
        let exact = "a".repeat(MAX_OUTPUT_LEN);
        assert_eq!(cut(&exact), exact);
        // 3-byte characters: the cut must not split one.
        let long = "€".repeat(30_000);
        let out = cut(&long);
        assert!(out.len() <= MAX_OUTPUT_LEN, "{}", out.len());
        assert!(out.ends_with("(cut by aigov: 30000 characters, GitHub shows at most 65535)"));
        assert!(out.starts_with("€€€"));
    }

    #[test]
    fn repository_names() {
        assert_eq!(
            split_repo("octo-org/hello.world"),
            Some(("octo-org", "hello.world"))
        );
        for bad in [
            "octo", "/x", "o/", "o/..", "o/a/b", "o/a?b", "o%2f/a", "o /a",
        ] {
            assert_eq!(split_repo(bad), None, "{bad}");
        }
    }

    #[test]
    fn github_messages_name_the_errors() {
        let body = br#"{"message":"Validation Failed","errors":[{"resource":"CheckRun","field":"head_sha","code":"invalid"},"No commit found for SHA: abc"],"documentation_url":"https://docs.github.com"}"#;
        assert_eq!(
            github_message(body).as_deref(),
            Some("Validation Failed: `head_sha` invalid; No commit found for SHA: abc")
        );
        assert_eq!(github_message(b"<html>"), None);
    }
}

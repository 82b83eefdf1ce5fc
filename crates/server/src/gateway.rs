//! The AI gateway, first slice: OpenAI `POST /v1/chat/completions` and Anthropic
//! `POST /v1/messages`, JSON and SSE streaming. Every request is identified (developer key),
//! scanned, decided by policy (decision point 1), forwarded with the upstream's credential
//! and recorded as one `gateway_request` ledger entry, denials and upstream failures included.
//!
//! Errors come back in the format the caller's SDK parses (OpenAI error object, Anthropic
//! error object). Streams are passed through as they arrive; the entry is written when the
//! stream ends, however it ends.

use std::sync::Arc;
use std::time::Instant;

use audit::Record;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use config::{Upstream, UpstreamApi};
use futures_util::StreamExt as _;
use ledger::{EntryKind, Outcome};
use model::{DecisionRequest, FindingSummary, PromptContext};
use serde_json::Value;
use store::{TokenKind, TokenStore as _};

use crate::AppState;

/// Which API the client speaks: decides the error format and the upstream path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    fn upstream_api(self) -> UpstreamApi {
        match self {
            Api::OpenAi => UpstreamApi::Openai,
            Api::Anthropic => UpstreamApi::Anthropic,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/chat/completions",
            Api::Anthropic => "/v1/messages",
        }
    }

    /// An error the caller's SDK understands.
    fn error(self, status: StatusCode, kind: ErrorKind, message: &str) -> Response {
        let body = match self {
            Api::OpenAi => serde_json::json!({
                "error": { "message": message, "type": kind.openai(), "param": null, "code": kind.code() }
            }),
            Api::Anthropic => serde_json::json!({
                "type": "error",
                "error": { "type": kind.anthropic(), "message": message }
            }),
        };
        (status, axum::Json(body)).into_response()
    }
}

#[derive(Debug, Clone, Copy)]
enum ErrorKind {
    Auth,
    Invalid,
    Denied,
    Upstream,
}

impl ErrorKind {
    fn openai(self) -> &'static str {
        match self {
            ErrorKind::Auth => "invalid_request_error",
            ErrorKind::Invalid => "invalid_request_error",
            ErrorKind::Denied => "permission_denied",
            ErrorKind::Upstream => "api_error",
        }
    }
    fn anthropic(self) -> &'static str {
        match self {
            ErrorKind::Auth => "authentication_error",
            ErrorKind::Invalid => "invalid_request_error",
            ErrorKind::Denied => "permission_error",
            ErrorKind::Upstream => "api_error",
        }
    }
    fn code(self) -> &'static str {
        match self {
            ErrorKind::Auth => "invalid_api_key",
            ErrorKind::Invalid => "invalid_request",
            ErrorKind::Denied => "policy_denied",
            ErrorKind::Upstream => "upstream_error",
        }
    }
}

/// Who is calling, from their developer key.
struct Caller {
    person: String,
    key: String,
    default_repo: Option<String>,
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The text of every message (string contents and text parts), for scanning and estimates.
fn prompt_text(api: Api, body: &Value) -> String {
    fn content(out: &mut String, c: &Value) {
        match c {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(parts) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        out.push_str(t);
                        out.push('\n');
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = String::new();
    if api == Api::Anthropic
        && let Some(system) = body.get("system")
    {
        content(&mut out, system);
    }
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(c) = m.get("content") {
            content(&mut out, c);
        }
    }
    out
}

/// What the ledger entry of one gateway request says.
struct Outline {
    actor: String,
    key: String,
    tool: String,
    repo: String,
    model: String,
    stream: bool,
    findings: FindingSummary,
    started: Instant,
}

impl Outline {
    fn record(&self, outcome: Outcome, status: u16, details: Value) -> Record {
        let mut r = Record::new(
            EntryKind::GatewayRequest,
            "gateway.request",
            self.actor.as_str(),
            format!("repo:{}", self.repo),
            outcome,
        )
        .field("tool", self.tool.as_str())
        .field("model", self.model.as_str())
        .field("status", status.to_string())
        .field(
            "latency_ms",
            format!("{:.3}", self.started.elapsed().as_secs_f64() * 1e3),
        )
        .details(details);
        if self.findings.secrets + self.findings.pii > 0 {
            r = r.field(
                "findings",
                self.findings
                    .secret_types
                    .iter()
                    .chain(&self.findings.pii_types)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        r.field("key", self.key.as_str())
            .field("stream", self.stream.to_string())
    }
}

pub(crate) async fn openai_chat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Api::OpenAi, headers, body).await
}

pub(crate) async fn anthropic_messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Api::Anthropic, headers, body).await
}

async fn handle(state: Arc<AppState>, api: Api, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    // Identity first: nothing is parsed for an unknown caller.
    let Some(key) = presented_key(&headers) else {
        return api.error(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Auth,
            "missing aigov developer key: set your SDK's API key to the key from `aigov key create`",
        );
    };
    let caller = match state
        .store()
        .active_token_by_hash(&crate::token::hash_token(key))
        .await
    {
        Ok(Some(t)) if t.kind == TokenKind::Developer => Caller {
            person: t.person.unwrap_or_default(),
            key: t.name,
            default_repo: t.repo,
        },
        Ok(_) => {
            return api.error(
                StatusCode::UNAUTHORIZED,
                ErrorKind::Auth,
                "invalid or revoked aigov developer key; ask for a new one (`aigov key create`)",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "gateway: key lookup failed");
            return api.error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Upstream,
                "aigov cannot check keys right now (database unavailable); nothing was sent",
            );
        }
    };

    let json: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return api.error(
                StatusCode::BAD_REQUEST,
                ErrorKind::Invalid,
                "the request body must be a JSON object",
            );
        }
        Err(e) => {
            return api.error(
                StatusCode::BAD_REQUEST,
                ErrorKind::Invalid,
                &format!("the request body is not valid JSON: {e}"),
            );
        }
    };
    let Some(model) = json.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return api.error(
            StatusCode::BAD_REQUEST,
            ErrorKind::Invalid,
            "the request has no `model`",
        );
    };
    let stream = json.get("stream").and_then(Value::as_bool) == Some(true);
    let tool = header_str(&headers, "x-aigov-tool")
        .map(str::to_owned)
        .unwrap_or_else(|| "unknown".to_owned());
    let repo = header_str(&headers, "x-aigov-repo")
        .map(str::to_owned)
        .or(caller.default_repo.clone());

    let loaded = state.bundle();
    let text = prompt_text(api, &json);
    let scanner = &loaded.bundle.scanner;
    // The repository scopes the bundle's allowlists, as for `aigov scan --repo`.
    let source = scanner::Source {
        path: None,
        repo: repo.as_deref(),
    };
    let secrets = scanner.scan_secrets_in(text.as_bytes(), source);
    let pii = scanner.scan_pii_in(text.as_bytes(), source);
    let mut findings = FindingSummary {
        secrets: secrets.len() as u64,
        pii: pii.len() as u64,
        secret_types: secrets.iter().map(|f| f.rule_id.to_string()).collect(),
        pii_types: pii.iter().map(|f| f.rule_id.to_string()).collect(),
    };
    findings.secret_types.sort();
    findings.secret_types.dedup();
    findings.pii_types.sort();
    findings.pii_types.dedup();

    let outline = Outline {
        actor: caller.person.clone(),
        key: caller.key,
        tool: tool.clone(),
        repo: repo.clone().unwrap_or_else(|| "-".to_owned()),
        model: model.clone(),
        stream,
        findings: findings.clone(),
        started,
    };
    let Some(repo) = repo else {
        let message = "no repository: send the `x-aigov-repo: owner/name` header, or use a key with a default repository (`aigov key create --repo`)";
        let refusal = Refusal {
            status: StatusCode::BAD_REQUEST,
            kind: ErrorKind::Invalid,
            decision: None,
            message,
            details: serde_json::json!({}),
        };
        return refuse(&state, api, &outline, refusal).await;
    };

    let request = DecisionRequest::SendPrompt {
        principal: caller.person,
        resource: repo,
        context: PromptContext {
            tool,
            model: model.clone(),
            findings,
            token_estimate: text.len().div_ceil(4) as u64,
            budget: Default::default(),
        },
    };
    let decision = loaded.bundle.engine.decide(&request);
    if !decision.is_allowed() {
        let reasons: Vec<String> = decision
            .determining
            .iter()
            .map(|d| d.reason.clone())
            .chain(decision.notes.iter().cloned())
            .collect();
        let message = if reasons.is_empty() {
            "denied by policy".to_owned()
        } else {
            format!("denied by aigov policy: {}", reasons.join("; "))
        };
        let refusal = Refusal {
            status: StatusCode::FORBIDDEN,
            kind: ErrorKind::Denied,
            decision: Some(ledger::Decision::Deny),
            message: &message,
            details: serde_json::json!({ "decision": decision }),
        };
        return refuse(&state, api, &outline, refusal).await;
    }

    let Some(upstream) = state
        .gateway()
        .upstream_for(&model)
        .filter(|u| u.api == api.upstream_api())
        .cloned()
    else {
        let message = format!(
            "model `{model}` is allowed but no upstream serves it over this API; ask your platform team to route it in `[[gateway.upstreams]]`"
        );
        let refusal = Refusal {
            status: StatusCode::NOT_FOUND,
            kind: ErrorKind::Invalid,
            decision: Some(ledger::Decision::Allow),
            message: &message,
            details: serde_json::json!({}),
        };
        return refuse(&state, api, &outline, refusal).await;
    };
    forward(state, api, &headers, body, upstream, outline).await
}

/// The upstream failed (no answer, or a broken one): 502, recorded.
async fn upstream_failed(
    state: &AppState,
    api: Api,
    outline: &Outline,
    message: &str,
    details: Value,
) -> Response {
    let refusal = Refusal {
        status: StatusCode::BAD_GATEWAY,
        kind: ErrorKind::Upstream,
        decision: Some(ledger::Decision::Allow),
        message,
        details,
    };
    refuse(state, api, outline, refusal).await
}

/// Why a request was not completed, for its ledger entry and its SDK-shaped error.
struct Refusal<'a> {
    status: StatusCode,
    kind: ErrorKind,
    /// The policy's decision, when one was made.
    decision: Option<ledger::Decision>,
    message: &'a str,
    details: Value,
}

/// Records a request that was refused or failed (at or before the upstream), then answers
/// with the error the client's SDK understands.
async fn refuse(state: &AppState, api: Api, outline: &Outline, refusal: Refusal<'_>) -> Response {
    let Refusal {
        status,
        kind,
        decision,
        message,
        mut details,
    } = refusal;
    details["message"] = Value::from(message);
    let mut record = outline.record(Outcome::Failure, status.as_u16(), details);
    if let Some(d) = decision {
        record = record.decision(d);
    }
    if let Err(e) = state.record(record).await {
        tracing::error!(error = %e, "gateway: cannot record a refused or failed request");
        return api.error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Upstream,
            "the audit ledger is unavailable; the request was not completed",
        );
    }
    api.error(status, kind, message)
}

async fn forward(
    state: Arc<AppState>,
    api: Api,
    headers: &HeaderMap,
    body: Bytes,
    upstream: Upstream,
    outline: Outline,
) -> Response {
    let url = format!("{}{}", upstream.base_url, api.path());
    let mut request = state
        .http()
        .post(&url)
        .timeout(upstream.timeout)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = &upstream.api_key {
        request = match api {
            Api::OpenAi => request.bearer_auth(key.expose()),
            Api::Anthropic => request.header("x-api-key", key.expose()),
        };
    }
    if api == Api::Anthropic {
        for name in ["anthropic-version", "anthropic-beta"] {
            if let Some(v) = headers.get(name) {
                request = request.header(name, v.clone());
            }
        }
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "refused the connection"
            } else {
                "failed"
            };
            let message = format!(
                "upstream `{}` {what}; the request was not completed (aigov recorded it)",
                upstream.name
            );
            let details = serde_json::json!({ "upstream": upstream.name, "error": what });
            return upstream_failed(&state, api, &outline, &message, details).await;
        }
    };
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let is_sse = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let outcome = if status.is_success() {
        Outcome::Success
    } else {
        Outcome::Failure
    };

    if !is_sse {
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(_) => {
                let message = format!(
                    "upstream `{}` broke off its answer; the request was not completed",
                    upstream.name
                );
                let details = serde_json::json!({ "upstream": upstream.name, "error": "body" });
                return upstream_failed(&state, api, &outline, &message, details).await;
            }
        };
        let usage = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("usage").cloned());
        let details = serde_json::json!({ "upstream": upstream.name, "usage": usage, "response_sha256": ledger::sha256(&bytes).to_string(), "response_bytes": bytes.len() });
        let record = outline
            .record(outcome, status.as_u16(), details)
            .decision(ledger::Decision::Allow);
        if let Err(e) = state.record(record).await {
            tracing::error!(error = %e, "gateway: cannot record a request");
            return api.error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Upstream,
                "the audit ledger is unavailable; the answer is withheld",
            );
        }
        let mut out = Response::new(Body::from(bytes));
        *out.status_mut() = status;
        if let Some(ct) = content_type {
            out.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return out;
    }

    // Stream: pass each chunk on as it arrives; a guard records the request when the stream
    // ends, completes, fails or the client goes away.
    let guard = StreamRecord {
        state: state.clone(),
        outline: Some(outline),
        upstream: upstream.name.clone(),
        status: status.as_u16(),
        outcome,
        tail: Vec::new(),
        bytes: 0,
        complete: false,
    };
    // When the upstream stream ends (or fails), the entry is committed before the client sees
    // the end; only a client that goes away early leaves the recording to the guard's drop.
    let upstream_stream = Box::pin(response.bytes_stream());
    let stream = futures_util::stream::unfold(Some((upstream_stream, guard)), |state| async move {
        let (mut upstream, mut guard) = state?;
        match upstream.next().await {
            Some(Ok(bytes)) => {
                guard.observe(&bytes);
                Some((Ok(bytes), Some((upstream, guard))))
            }
            Some(Err(e)) => {
                guard.outcome = Outcome::Failure;
                guard.finish().await;
                Some((Err(std::io::Error::other(e)), None))
            }
            None => {
                guard.finish().await;
                None
            }
        }
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.unwrap_or(HeaderValue::from_static("text/event-stream")),
    );
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out
}

/// Watches a streamed answer; records the request once, when dropped.
struct StreamRecord {
    state: Arc<AppState>,
    outline: Option<Outline>,
    upstream: String,
    status: u16,
    outcome: Outcome,
    /// The last bytes seen, to find the final usage and the terminator.
    tail: Vec<u8>,
    bytes: usize,
    complete: bool,
}

const TAIL: usize = 4096;

impl StreamRecord {
    fn observe(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len();
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 2 * TAIL {
            self.tail.drain(..self.tail.len() - TAIL);
        }
        // Only the new bytes (plus a terminator's length before them) can hold the terminator.
        let from = self.tail.len().saturating_sub(chunk.len() + 32);
        let recent = &self.tail[from..];
        if memchr::memmem::find(recent, b"data: [DONE]").is_some()
            || memchr::memmem::find(recent, b"event: message_stop").is_some()
        {
            self.complete = true;
        }
    }

    /// The last `usage` object in the tail (OpenAI's final chunk, Anthropic's message_delta).
    fn usage(&self) -> Option<Value> {
        let tail = String::from_utf8_lossy(&self.tail);
        tail.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v.get("usage").cloned().filter(|u| !u.is_null()))
            .next_back()
    }
}

impl StreamRecord {
    /// The entry for this request, once (`None` after it was taken).
    fn take_record(&mut self) -> Option<Record> {
        let outline = self.outline.take()?;
        let outcome = if self.complete {
            self.outcome
        } else {
            Outcome::Failure
        };
        let details = serde_json::json!({
            "upstream": self.upstream,
            "usage": self.usage(),
            "response_bytes": self.bytes,
            "stream_complete": self.complete,
        });
        Some(
            outline
                .record(outcome, self.status, details)
                .decision(ledger::Decision::Allow),
        )
    }

    /// Records the request now (the stream has ended).
    async fn finish(&mut self) {
        if let Some(record) = self.take_record()
            && let Err(e) = self.state.record(record).await
        {
            tracing::error!(error = %e, "gateway: cannot record a streamed request");
        }
    }
}

impl Drop for StreamRecord {
    fn drop(&mut self) {
        let Some(record) = self.take_record() else {
            return;
        };
        let state = self.state.clone();
        // The client went away mid-stream. Drop cannot wait: a task appends the entry.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = state.record(record).await {
                    tracing::error!(error = %e, "gateway: cannot record a streamed request");
                }
            });
        }
    }
}

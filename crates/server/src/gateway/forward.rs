//! The upstream call of an allowed request: the provider's credential instead of the
//! developer's key, the answer passed through (JSON whole, SSE chunk by chunk as it arrives),
//! and the request's ledger entry with the usage the provider reported.

use std::sync::Arc;

use audit::Record;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use config::{AnswerAfter, Upstream};
use futures_util::StreamExt as _;
use ledger::Outcome;
use serde_json::Value;

use super::wire::{Endpoint, ErrorKind, Usage, usage_of};
use super::{Outline, Refusal, refuse};
use crate::AppState;

/// Request headers passed on unchanged (Claude Code and the SDKs rely on them).
const FORWARDED: &[&str] = &["anthropic-version", "anthropic-beta", "openai-beta"];

/// One allowed request on its way to its upstream.
pub(super) struct Call<'a> {
    pub(super) endpoint: Endpoint,
    pub(super) headers: &'a HeaderMap,
    /// The query string, passed on (Claude Code sends `?beta=true`).
    pub(super) query: Option<&'a str>,
    pub(super) body: Bytes,
    /// The upstream serving the model, then its fallbacks.
    pub(super) route: Vec<&'a Upstream>,
    /// Findings replaced by placeholders in `body`, told to the client in a header.
    pub(super) redacted: usize,
    /// This request's place in its budgets, settled with the usage the upstream reports
    /// (unsettled, it keeps its estimate; released when no upstream took the request on).
    pub(super) reservation: meter::Reservation,
}

/// The upstream failed (no answer, or a broken one): 502, recorded.
async fn upstream_failed(
    state: &AppState,
    endpoint: Endpoint,
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
    refuse(state, endpoint.api(), outline, refusal).await
}

/// Records a completed request: queued or committed before the answer, as configured.
async fn record_completed(state: &AppState, record: Record) -> Result<(), audit::AuditError> {
    match state.gateway().answer_after {
        AnswerAfter::Queued => state.audit().record_queued(record).await,
        AnswerAfter::Committed => state.record(record).await.map(|_| ()),
    }
}

/// Statuses after which the next upstream of the route is tried: the provider did not take
/// the request on (rate limited, or a proxy in front of it could not reach it).
const FALL_BACK_ON: &[u16] = &[429, 502, 503, 504];

/// Sends the request to `upstream`.
async fn send(
    state: &AppState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &Bytes,
    upstream: &Upstream,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut url = format!("{}{}", upstream.base_url, endpoint.upstream_path());
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let mut request = state
        .http()
        .post(&url)
        .timeout(upstream.timeout)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    if let Some(key) = &upstream.api_key {
        request = match endpoint.api() {
            super::Api::OpenAi => request.bearer_auth(key.expose()),
            super::Api::Anthropic => request.header("x-api-key", key.expose()),
        };
    }
    for name in FORWARDED {
        if let Some(v) = headers.get(*name) {
            request = request.header(*name, v.clone());
        }
    }
    request.send().await
}

/// What a failed attempt was, in the entry and in the client's error.
fn failure(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "refused the connection"
    } else {
        "failed"
    }
}

/// Holds a request's outline until its entry is on its way: if the client goes away first
/// (hyper then drops the handler, mid-`await`), the prompt may already be with the provider,
/// so the drop records it (status 499, as proxies log a client that closed the request).
struct Unanswered {
    state: Arc<AppState>,
    outline: Option<Outline>,
    /// The upstream being tried.
    upstream: String,
}

impl Unanswered {
    /// The entry is taken care of by the caller from here on.
    fn disarm(mut self) -> Outline {
        self.outline.take().expect("outline taken only by `disarm`")
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        let Some(outline) = self.outline.take() else {
            return;
        };
        let details = serde_json::json!({
            "upstream": self.upstream,
            "error": "the client went away before the upstream answered",
        });
        let record = outline
            .record(Outcome::Failure, 499, details)
            .decision(ledger::Decision::Allow);
        record_from_drop(&self.state, record);
    }
}

/// Queues `record` from a `Drop`, which cannot wait; if the queue is full, a task waits.
fn record_from_drop(state: &Arc<AppState>, record: Record) {
    if let Err(e) = state.audit().try_record_queued(record.clone()) {
        tracing::warn!(error = %e, "gateway: queue full; recording an abandoned request in a task");
        let state = state.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = state.record(record).await {
                    tracing::error!(error = %e, "gateway: cannot record an abandoned request");
                }
            });
        }
    }
}

pub(super) async fn forward(state: Arc<AppState>, call: Call<'_>, outline: Outline) -> Response {
    let mut guard = Unanswered {
        state: state.clone(),
        outline: Some(outline),
        upstream: String::new(),
    };
    let Call {
        endpoint,
        headers,
        query,
        body,
        route,
        redacted,
        reservation,
    } = call;
    // The route's upstreams in turn: the next one only when this one did not take the
    // request on (no connection, or a status in FALL_BACK_ON) — nothing was answered yet.
    let mut attempts: Vec<Value> = Vec::new();
    let mut chosen = None;
    for (i, upstream) in route.iter().enumerate() {
        let last = i + 1 == route.len();
        guard.upstream.clone_from(&upstream.name);
        match send(&state, endpoint, headers, query, &body, upstream).await {
            Ok(r) if last || !FALL_BACK_ON.contains(&r.status().as_u16()) => {
                chosen = Some((*upstream, r));
                break;
            }
            Ok(r) => attempts.push(serde_json::json!({
                "upstream": upstream.name, "status": r.status().as_u16(),
            })),
            // A timeout may have reached the provider: not tried elsewhere.
            Err(e) if !last && e.is_connect() => attempts.push(serde_json::json!({
                "upstream": upstream.name, "error": failure(&e),
            })),
            Err(e) => {
                let what = failure(&e);
                if e.is_connect() {
                    // No provider saw the request: it costs nothing but the request.
                    reservation.release();
                } else {
                    drop(reservation);
                }
                let tried = if attempts.is_empty() {
                    String::new()
                } else {
                    format!(" (after {} other upstream(s) failed)", attempts.len())
                };
                let message = format!(
                    "upstream `{}` {what}{tried}; the request was not completed (aigov recorded it)",
                    upstream.name
                );
                attempts.push(serde_json::json!({ "upstream": upstream.name, "error": what }));
                let details = serde_json::json!({
                    "upstream": upstream.name, "error": what, "attempts": attempts,
                });
                let outline = guard.disarm();
                return upstream_failed(&state, endpoint, &outline, &message, details).await;
            }
        }
    }
    let Some((upstream, response)) = chosen else {
        // An empty route never gets here (the handler refuses first); fail closed anyway.
        let details = serde_json::json!({ "attempts": attempts });
        let outline = guard.disarm();
        return upstream_failed(
            &state,
            endpoint,
            &outline,
            "no upstream serves this model",
            details,
        )
        .await;
    };
    if !attempts.is_empty() {
        tracing::warn!(upstream = %upstream.name, failed = ?attempts, "gateway: fell back to another upstream");
    }
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
                let details = serde_json::json!({
                    "upstream": upstream.name, "error": "body", "attempts": attempts,
                });
                let outline = guard.disarm();
                return upstream_failed(&state, endpoint, &outline, &message, details).await;
            }
        };
        let usage = usage_of(&bytes).as_ref().and_then(Usage::from_json);
        let mut details = serde_json::json!({
            "upstream": upstream.name,
            "usage": usage,
            "response_sha256": ledger::sha256(&bytes).to_string(),
            "response_bytes": bytes.len(),
        });
        if !attempts.is_empty() {
            details["fell_back_from"] = Value::Array(attempts);
        }
        let outline = guard.disarm();
        let record = completed(
            &state,
            &outline,
            outcome,
            status.as_u16(),
            usage,
            details,
            Some(reservation),
        );
        if let Err(e) = record_completed(&state, record).await {
            tracing::error!(error = %e, "gateway: cannot record a request");
            return endpoint.api().error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unavailable,
                "the audit ledger is unavailable; the answer is withheld",
            );
        }
        let mut out = Response::new(Body::from(bytes));
        *out.status_mut() = status;
        if let Some(ct) = content_type {
            out.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        tell_redacted(&mut out, redacted);
        return out;
    }

    // Stream: pass each chunk on as it arrives; a guard records the request when the stream
    // ends, completes, fails or the client goes away.
    let recorder = StreamRecord {
        state: state.clone(),
        outline: Some(guard.disarm()),
        reservation: Some(reservation),
        end_marker: endpoint.stream_end(),
        upstream: upstream.name.clone(),
        fell_back_from: attempts,
        status: status.as_u16(),
        outcome,
        head: Vec::new(),
        tail: Vec::new(),
        bytes: 0,
        complete: false,
    };
    // When the upstream stream ends (or fails), the entry is recorded before the client sees
    // the end; a client that goes away early leaves the recording to the guard's drop.
    let upstream_stream = Box::pin(response.bytes_stream());
    let stream =
        futures_util::stream::unfold(Some((upstream_stream, recorder)), |state| async move {
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
    tell_redacted(&mut out, redacted);
    out
}

/// `x-aigov-redacted: <n>` when findings were replaced by placeholders before sending.
fn tell_redacted(out: &mut Response, redacted: usize) {
    if redacted > 0 {
        out.headers_mut()
            .insert("x-aigov-redacted", HeaderValue::from(redacted));
    }
}

/// The entry of a request the upstream answered; settles its budget reservation with the
/// reported usage and its cost from `[[gateway.prices]]`.
fn completed(
    state: &AppState,
    outline: &Outline,
    outcome: Outcome,
    status: u16,
    usage: Option<Usage>,
    mut details: Value,
    reservation: Option<meter::Reservation>,
) -> Record {
    let cost = usage.map(|u| meter::cost(&state.gateway().prices, &outline.model, &u.into()));
    if let Some(c) = cost {
        details["cost_usd"] = Value::from(format_usd(c));
    }
    let mut record = outline
        .record(outcome, status, details)
        .decision(ledger::Decision::Allow);
    if let Some(u) = usage {
        record = record
            .field(
                "tokens_in",
                (u.input_tokens + u.cache_read_tokens + u.cache_write_tokens).to_string(),
            )
            .field("tokens_out", u.output_tokens.to_string());
    }
    if let Some(c) = cost {
        record = record.field("cost_usd", format_usd(c));
    }
    if let Some(r) = reservation {
        match (usage, cost) {
            (Some(u), Some(c)) => r.record(meter::Usage::from(u).total_tokens(), c),
            _ => drop(r),
        }
    }
    record
}

/// Micro-USD as a decimal USD amount with six places.
fn format_usd(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// Watches a streamed answer; records the request once, when it ends or is dropped.
struct StreamRecord {
    state: Arc<AppState>,
    outline: Option<Outline>,
    reservation: Option<meter::Reservation>,
    /// What a complete stream of this endpoint ends with.
    end_marker: &'static [u8],
    upstream: String,
    /// Upstreams of the route that failed before this one answered.
    fell_back_from: Vec<Value>,
    status: u16,
    outcome: Outcome,
    /// The first bytes (Anthropic reports input tokens in `message_start`).
    head: Vec<u8>,
    /// The last bytes seen, to find the final usage and the terminator.
    tail: Vec<u8>,
    bytes: usize,
    complete: bool,
}

const TAIL: usize = 4096;

impl StreamRecord {
    fn observe(&mut self, chunk: &[u8]) {
        if self.head.len() < TAIL {
            let take = chunk.len().min(TAIL - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.bytes += chunk.len();
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 2 * TAIL {
            self.tail.drain(..self.tail.len() - TAIL);
        }
        // Only the new bytes (plus a marker's length before them) can hold the marker.
        let from = self
            .tail
            .len()
            .saturating_sub(chunk.len() + self.end_marker.len());
        if memchr::memmem::find(&self.tail[from..], self.end_marker).is_some() {
            self.complete = true;
        }
    }

    /// The usage reported in the stream: the first report in the head, updated by every
    /// later one in the tail.
    fn usage(&self) -> Option<Usage> {
        let mut usage: Option<Usage> = None;
        for buf in [&self.head, &self.tail] {
            let text = String::from_utf8_lossy(buf);
            for u in text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| usage_of(d.trim_start().as_bytes()))
            {
                match &mut usage {
                    Some(known) => known.merge(&u),
                    None => usage = Usage::from_json(&u),
                }
            }
        }
        usage
    }

    /// The entry for this request, once (`None` after it was taken).
    fn take_record(&mut self) -> Option<Record> {
        let outline = self.outline.take()?;
        let outcome = if self.complete {
            self.outcome
        } else {
            Outcome::Failure
        };
        let usage = self.usage();
        let mut details = serde_json::json!({
            "upstream": self.upstream,
            "usage": usage,
            "response_bytes": self.bytes,
            "stream_complete": self.complete,
        });
        if !self.fell_back_from.is_empty() {
            details["fell_back_from"] = Value::Array(std::mem::take(&mut self.fell_back_from));
        }
        Some(completed(
            &self.state,
            &outline,
            outcome,
            self.status,
            usage,
            details,
            self.reservation.take(),
        ))
    }

    /// Records the request now (the stream has ended).
    async fn finish(&mut self) {
        if let Some(record) = self.take_record()
            && let Err(e) = record_completed(&self.state, record).await
        {
            tracing::error!(error = %e, "gateway: cannot record a streamed request");
        }
    }
}

impl Drop for StreamRecord {
    fn drop(&mut self) {
        // The client went away mid-stream: the entry is queued for the writer.
        if let Some(record) = self.take_record() {
            record_from_drop(&self.state, record);
        }
    }
}

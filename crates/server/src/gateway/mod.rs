//! The AI gateway: OpenAI- and Anthropic-compatible endpoints (chat completions, responses,
//! embeddings, models, messages, count_tokens), JSON and SSE. Every request is identified
//! (developer key), scanned, decided by policy (decision point 1), forwarded with the
//! upstream's credential and recorded as one `gateway_request` ledger entry, denials and
//! upstream failures included.
//!
//! Errors come back in the format the caller's SDK parses (OpenAI error object, Anthropic
//! error object). Streams are passed through as they arrive; the entry is written when the
//! stream ends, however it ends.
//!
//! - [`wire`]: endpoints, error shapes, where the prompt text is, usage reports.
//! - [`keys`]: developer-key lookup with a short cache.
//! - [`forward`]: the upstream call, JSON and streamed answers and their records.

mod forward;
pub(crate) mod keys;
mod models;
mod wire;

use std::sync::Arc;
use std::time::Instant;

use audit::Record;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ledger::{EntryKind, Outcome};
use model::{DecisionRequest, FindingAction, FindingSummary, PromptContext};
use serde_json::Value;

use crate::AppState;
pub(crate) use models::{get_model, list_models};
use wire::{Api, Endpoint, ErrorKind, header_str, presented_key};

pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Endpoint::ChatCompletions, headers, query, body).await
}

pub(crate) async fn responses(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Endpoint::Responses, headers, query, body).await
}

pub(crate) async fn embeddings(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Endpoint::Embeddings, headers, query, body).await
}

pub(crate) async fn messages(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Endpoint::Messages, headers, query, body).await
}

pub(crate) async fn count_tokens(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, Endpoint::CountTokens, headers, query, body).await
}

/// The developer behind a request's key, or the SDK-shaped error to answer with.
pub(crate) async fn identify(
    state: &AppState,
    api: Api,
    headers: &HeaderMap,
) -> Result<keys::Caller, Response> {
    let Some(key) = presented_key(headers) else {
        return Err(api.error(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Auth,
            "missing aigov developer key: set your SDK's API key to the key from `aigov key create`",
        ));
    };
    match state
        .keys()
        .lookup(state.store(), crate::token::hash_token(key))
        .await
    {
        Ok(Some(caller)) => Ok(caller),
        Ok(None) => Err(api.error(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Auth,
            "invalid or revoked aigov developer key; ask for a new one (`aigov key create`)",
        )),
        Err(e) => {
            tracing::error!(error = %e, "gateway: key lookup failed");
            Err(api.error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unavailable,
                "aigov cannot check keys right now (database unavailable); nothing was sent",
            ))
        }
    }
}

/// The repository a request is about: the `x-aigov-repo` header, else the key's default.
pub(crate) fn repo_of(headers: &HeaderMap, caller: &keys::Caller) -> Option<String> {
    header_str(headers, "x-aigov-repo")
        .map(str::to_owned)
        .or_else(|| caller.default_repo.clone())
}

const NO_REPO: &str = "no repository: send the `x-aigov-repo: owner/name` header, or use a key with a default repository (`aigov key create --repo`)";

async fn handle(
    state: Arc<AppState>,
    endpoint: Endpoint,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let api = endpoint.api();
    // Identity first: nothing is parsed for an unknown caller.
    let caller = match identify(&state, api, &headers).await {
        Ok(c) => c,
        Err(response) => return response,
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
    let stream = endpoint.streams(&json);
    let tool = wire::tool_of(&headers);
    let repo = repo_of(&headers, &caller);

    let loaded = state.bundle();
    let prompt = endpoint.prompt(&json);
    let scanner = &loaded.bundle.scanner;
    // The repository scopes the bundle's allowlists, as for `aigov scan --repo`.
    let source = scanner::Source {
        path: None,
        repo: repo.as_deref(),
    };
    let secrets = scanner.scan_secrets_in(prompt.text.as_bytes(), source);
    let pii = scanner.scan_pii_in(prompt.text.as_bytes(), source);
    // Data handling (`handling.yaml`) by the repository's classification: findings to redact
    // are replaced before the policy decides; the policy sees only those that pass.
    let classification = repo
        .as_deref()
        .and_then(|r| loaded.bundle.inventory.application_of_repo(r))
        .map(|a| a.classification);
    let rule = loaded.bundle.handling.rule_for(classification);
    let mut json = json;
    let mut body = body;
    let mut redacted = 0;
    let mut to_redact: Vec<scanner::Finding> = Vec::new();
    if rule.secrets == FindingAction::Redact {
        to_redact.extend(secrets.iter().cloned());
    }
    if rule.pii == FindingAction::Redact {
        to_redact.extend(pii.iter().cloned());
    }
    if !to_redact.is_empty() {
        redacted = prompt.redact(&mut json, &to_redact);
        match serde_json::to_vec(&json) {
            Ok(b) => body = Bytes::from(b),
            Err(e) => {
                tracing::error!(error = %e, "gateway: cannot re-encode a redacted request");
                return api.error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorKind::Upstream,
                    "aigov could not redact this request; nothing was sent",
                );
            }
        }
    }
    let passed = |fs: &[scanner::Finding], action| {
        if action == FindingAction::Redact {
            Vec::new()
        } else {
            fs.to_vec()
        }
    };
    let findings = summarize(&passed(&secrets, rule.secrets), &passed(&pii, rule.pii));

    let outline = Outline {
        endpoint: endpoint.name(),
        actor: caller.person.clone(),
        key: caller.key.clone(),
        tool: tool.clone(),
        repo: repo.clone().unwrap_or_else(|| "-".to_owned()),
        model: model.clone(),
        stream,
        findings: summarize(&secrets, &pii),
        locations: locations(&prompt, &secrets, &pii, rule),
        started,
    };
    let Some(repo) = repo else {
        let refusal = Refusal {
            status: StatusCode::BAD_REQUEST,
            kind: ErrorKind::Invalid,
            decision: None,
            message: NO_REPO,
            details: serde_json::json!({}),
        };
        return refuse(&state, api, &outline, refusal).await;
    };

    let blocked: Vec<&str> = [
        ("secrets", &secrets, rule.secrets),
        ("personal data", &pii, rule.pii),
    ]
    .into_iter()
    .filter(|(_, found, action)| *action == FindingAction::Block && !found.is_empty())
    .map(|(what, _, _)| what)
    .collect();
    if !blocked.is_empty() {
        let class = classification.map_or("unknown".to_owned(), |c| c.to_string());
        let message = format!(
            "the prompt contains {} and repository `{repo}` is classified {class}, where aigov's data-handling policy blocks them; remove them and retry (the ledger has their types and locations)",
            blocked.join(" and ")
        );
        let refusal = Refusal {
            status: StatusCode::FORBIDDEN,
            kind: ErrorKind::Denied,
            decision: Some(ledger::Decision::Deny),
            message: &message,
            details: serde_json::json!({ "handling": rule, "classification": class }),
        };
        return refuse(&state, api, &outline, refusal).await;
    }

    // Budgets and rate limits (`budgets.yaml`): this request's dimensions, checked in memory.
    let tags = match header_str(&headers, "x-aigov-tags").map(meter::parse_tags) {
        None => Vec::new(),
        Some(Ok(tags)) => tags,
        Some(Err(e)) => {
            let message =
                format!("invalid `x-aigov-tags` header ({e}); send `key=value,key2=value2`");
            let refusal = Refusal {
                status: StatusCode::BAD_REQUEST,
                kind: ErrorKind::Invalid,
                decision: None,
                message: &message,
                details: serde_json::json!({}),
            };
            return refuse(&state, api, &outline, refusal).await;
        }
    };
    let token_estimate = prompt.text.len().div_ceil(4) as u64;
    let dims = meter::Dimensions {
        developer: &caller.person,
        teams: loaded.bundle.inventory.teams_of(&caller.person),
        tool: &tool,
        model: &model,
        repo: Some(&repo),
        tags,
    };
    let prices = &state.gateway().prices;
    let check = state
        .meter()
        .check(&dims, meter::estimate(prices, &model, token_estimate));
    drop(dims);

    let request = DecisionRequest::SendPrompt {
        principal: caller.person.clone(),
        resource: repo,
        context: PromptContext {
            tool,
            model: model.clone(),
            findings,
            token_estimate,
            budget: check.state.clone(),
        },
    };
    let decision = loaded.bundle.engine.decide(&request);
    if !decision.is_allowed() && check.state.exceeded {
        // Over a budget or rate limit: the SDKs' rate-limit error, with when it resets.
        let over = check
            .state
            .tightest
            .as_ref()
            .map_or_else(|| "a budget is spent".to_owned(), |b| b.message());
        let message = format!("denied by aigov: {over}");
        let refusal = Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: ErrorKind::RateLimited,
            decision: Some(ledger::Decision::Deny),
            message: &message,
            details: serde_json::json!({ "decision": decision, "budget": check.state }),
        };
        return refuse(&state, api, &outline, refusal).await;
    }
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

    let route = state.gateway().route(&model);
    if route.first().is_none_or(|u| u.api != api.upstream_api()) {
        let message = format!(
            "model `{model}` is allowed but no upstream serves it over this API; ask your platform team to route it in `[[gateway.upstreams]]`"
        );
        let refusal = Refusal {
            status: StatusCode::NOT_FOUND,
            kind: ErrorKind::NotFound,
            decision: Some(ledger::Decision::Allow),
            message: &message,
            details: serde_json::json!({}),
        };
        return refuse(&state, api, &outline, refusal).await;
    }
    if !state.audit().is_healthy() {
        // Answers are released before their entries commit (`answer_after = "queued"`): while
        // the ledger cannot commit, nothing more goes out.
        let refusal = Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: ErrorKind::Unavailable,
            decision: Some(ledger::Decision::Allow),
            message: "the audit ledger cannot record requests right now; nothing was sent, retry shortly",
            details: serde_json::json!({}),
        };
        return refuse(&state, api, &outline, refusal).await;
    }
    let call = forward::Call {
        endpoint,
        headers: &headers,
        query: query.as_deref(),
        body,
        route,
        redacted,
        reservation: state.meter().reserve(&check),
    };
    forward::forward(state.clone(), call, outline).await
}

/// Counts and types of findings, for the policy and the entry. Never the values.
fn summarize(secrets: &[scanner::Finding], pii: &[scanner::Finding]) -> FindingSummary {
    let types = |fs: &[scanner::Finding]| {
        let mut t: Vec<String> = fs.iter().map(|f| f.family.to_string()).collect();
        t.sort();
        t.dedup();
        t
    };
    FindingSummary {
        secrets: secrets.len() as u64,
        pii: pii.len() as u64,
        secret_types: types(secrets),
        pii_types: types(pii),
    }
}

/// Where each finding is (type, JSON pointer, line) and what was done with it: the record
/// says what was found where, never the value.
fn locations(
    prompt: &wire::Prompt,
    secrets: &[scanner::Finding],
    pii: &[scanner::Finding],
    rule: model::HandlingRule,
) -> Value {
    let describe = |f: &scanner::Finding, kind: &str, action: FindingAction| {
        let (pointer, line) = prompt.locate(&f.span).unwrap_or_default();
        serde_json::json!({
            "type": &*f.family,
            "rule": &*f.rule_id,
            "kind": kind,
            "at": pointer,
            "line": line,
            "handling": action,
        })
    };
    Value::Array(
        secrets
            .iter()
            .map(|f| describe(f, "secret", rule.secrets))
            .chain(pii.iter().map(|f| describe(f, "pii", rule.pii)))
            .collect(),
    )
}

/// What the ledger entry of one gateway request says.
pub(crate) struct Outline {
    endpoint: &'static str,
    actor: String,
    key: String,
    tool: String,
    repo: String,
    model: String,
    stream: bool,
    findings: FindingSummary,
    /// [`locations`] of the findings.
    locations: Value,
    started: Instant,
}

impl Outline {
    fn record(&self, outcome: Outcome, status: u16, mut details: Value) -> Record {
        if self.locations.as_array().is_some_and(|a| !a.is_empty()) {
            details["findings"] = self.locations.clone();
        }
        let mut r = Record::new(
            EntryKind::GatewayRequest,
            "gateway.request",
            self.actor.as_str(),
            format!("repo:{}", self.repo),
            outcome,
        )
        .field("endpoint", self.endpoint)
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
/// with the error the client's SDK understands. The entry is committed before the answer.
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
        if let Some(policies) = details_policies(&record.details) {
            record = record.field("policies", policies);
        }
    }
    if let Err(e) = state.record(record).await {
        tracing::error!(error = %e, "gateway: cannot record a refused or failed request");
        return api.error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            "the audit ledger is unavailable; the request was not completed",
        );
    }
    api.error(status, kind, message)
}

/// The ids of the policies that determined a decision, for the entry's `policies` field.
fn details_policies(details: &Value) -> Option<String> {
    let ids: Vec<&str> = details
        .get("decision")?
        .get("determining")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get("id").and_then(Value::as_str))
        .collect();
    (!ids.is_empty()).then(|| ids.join(","))
}

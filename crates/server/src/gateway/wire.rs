//! The AI APIs the gateway speaks: its endpoints, the SDK-shaped errors, where a request's
//! prompt text lives (for scanning and redaction), and the usage an answer reports.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use config::UpstreamApi;
use serde_json::Value;

/// Which API family the client speaks: decides the error format and the upstream kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    pub(crate) fn upstream_api(self) -> UpstreamApi {
        match self {
            Api::OpenAi => UpstreamApi::Openai,
            Api::Anthropic => UpstreamApi::Anthropic,
        }
    }

    /// An error the caller's SDK understands.
    pub(crate) fn error(self, status: StatusCode, kind: ErrorKind, message: &str) -> Response {
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

    /// Anthropic's SDKs and tools send `anthropic-version`; OpenAI's never do.
    pub(crate) fn of_request(headers: &HeaderMap) -> Api {
        if headers.contains_key("anthropic-version") {
            Api::Anthropic
        } else {
            Api::OpenAi
        }
    }
}

/// A forwarded endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    ChatCompletions,
    Responses,
    Embeddings,
    Messages,
    CountTokens,
}

impl Endpoint {
    pub(crate) fn api(self) -> Api {
        match self {
            Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => Api::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Api::Anthropic,
        }
    }

    /// Path below the upstream's `base_url` (OpenAI base URLs end in `/v1`, Anthropic's don't).
    pub(crate) fn upstream_path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Responses => "/responses",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
        }
    }

    /// The endpoint's name in the request's ledger entry (its `endpoint` field).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Responses => "responses",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "messages/count_tokens",
        }
    }

    /// Whether the request asks for an SSE stream.
    pub(crate) fn streams(self, body: &Value) -> bool {
        matches!(
            self,
            Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Messages
        ) && body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// The SSE text that ends a complete stream of this endpoint.
    pub(crate) fn stream_end(self) -> &'static [u8] {
        match self {
            Endpoint::Responses => b"event: response.completed",
            Endpoint::Messages => b"event: message_stop",
            _ => b"data: [DONE]",
        }
    }

    /// Where the prompt text of a request is: every string a model would read.
    pub(crate) fn prompt(self, body: &Value) -> Prompt {
        let mut p = Prompt::default();
        let mut path = String::new();
        match self {
            Endpoint::ChatCompletions => {
                p.each(body, &mut path, "messages", |p, m, path| {
                    p.content(m, path, "content");
                    p.each(m, path, "tool_calls", |p, call, path| {
                        if let Some(f) = call.get("function") {
                            let at = path.len();
                            path.push_str("/function");
                            p.string(f, path, "arguments");
                            path.truncate(at);
                        }
                    });
                });
            }
            Endpoint::Responses => {
                p.string(body, &mut path, "instructions");
                p.string(body, &mut path, "input");
                p.each(body, &mut path, "input", |p, item, path| {
                    p.content(item, path, "content");
                    p.string(item, path, "output");
                    p.string(item, path, "arguments");
                });
            }
            Endpoint::Embeddings => {
                p.string(body, &mut path, "input");
                p.each(body, &mut path, "input", |p, item, path| {
                    if let Value::String(s) = item {
                        p.push(path, s);
                    }
                });
            }
            Endpoint::Messages | Endpoint::CountTokens => {
                p.content(body, &mut path, "system");
                p.each(body, &mut path, "messages", |p, m, path| {
                    p.content(m, path, "content");
                    p.each(m, path, "content", |p, block, path| {
                        p.content(block, path, "content");
                        if let Some(input) = block.get("input") {
                            // Tool-use arguments the assistant sent earlier.
                            let at = path.len();
                            path.push_str("/input");
                            p.strings_in(input, path);
                            path.truncate(at);
                        }
                    });
                });
            }
        }
        p
    }
}

/// A request's prompt text: the strings a model reads, joined by newlines for the scanner,
/// with where each came from (a JSON pointer) so findings can be redacted in place.
#[derive(Debug, Default)]
pub(crate) struct Prompt {
    pub(crate) text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug)]
struct Piece {
    pointer: String,
    start: usize,
    len: usize,
}

impl Prompt {
    fn push(&mut self, pointer: &str, s: &str) {
        self.pieces.push(Piece {
            pointer: pointer.to_owned(),
            start: self.text.len(),
            len: s.len(),
        });
        self.text.push_str(s);
        self.text.push('\n');
    }

    /// `parent[key]` when it is a string.
    fn string(&mut self, parent: &Value, path: &mut String, key: &str) {
        if let Some(Value::String(s)) = parent.get(key) {
            let at = path.len();
            push_key(path, key);
            self.push(path, s);
            path.truncate(at);
        }
    }

    /// `parent[key]` as message content: a string, or parts/blocks with `text`.
    fn content(&mut self, parent: &Value, path: &mut String, key: &str) {
        match parent.get(key) {
            Some(Value::String(_)) => self.string(parent, path, key),
            Some(Value::Array(parts)) => {
                let at = path.len();
                push_key(path, key);
                for (i, part) in parts.iter().enumerate() {
                    let here = path.len();
                    push_index(path, i);
                    self.string(part, path, "text");
                    path.truncate(here);
                }
                path.truncate(at);
            }
            _ => {}
        }
    }

    /// Calls `f` on each element of the array `parent[key]`.
    fn each(
        &mut self,
        parent: &Value,
        path: &mut String,
        key: &str,
        mut f: impl FnMut(&mut Prompt, &Value, &mut String),
    ) {
        if let Some(Value::Array(items)) = parent.get(key) {
            let at = path.len();
            push_key(path, key);
            for (i, item) in items.iter().enumerate() {
                let here = path.len();
                push_index(path, i);
                f(self, item, path);
                path.truncate(here);
            }
            path.truncate(at);
        }
    }

    /// Every string anywhere inside `value` (tool arguments).
    fn strings_in(&mut self, value: &Value, path: &mut String) {
        match value {
            Value::String(s) => self.push(path, s),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let at = path.len();
                    push_index(path, i);
                    self.strings_in(v, path);
                    path.truncate(at);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let at = path.len();
                    push_key(path, k);
                    self.strings_in(v, path);
                    path.truncate(at);
                }
            }
            _ => {}
        }
    }

    /// Replaces each finding in `body` with its typed placeholder. Findings are spans of
    /// [`Prompt::text`]; one crossing two pieces (it cannot: pieces are joined by newlines
    /// no rule matches across) is redacted in each.
    pub(crate) fn redact(&self, body: &mut Value, findings: &[scanner::Finding]) -> usize {
        let mut redacted = 0;
        for piece in &self.pieces {
            let end = piece.start + piece.len;
            let mut local: Vec<scanner::Finding> = findings
                .iter()
                .filter(|f| f.span.start < end && f.span.end > piece.start)
                .map(|f| {
                    let mut f = f.clone();
                    f.span = f.span.start.max(piece.start) - piece.start
                        ..f.span.end.min(end) - piece.start;
                    f
                })
                .collect();
            if local.is_empty() {
                continue;
            }
            local.sort_by_key(|f| f.span.start);
            if let Some(Value::String(s)) = body.pointer_mut(&piece.pointer) {
                *s = scanner::redact(s, &local);
                redacted += local.len();
            }
        }
        redacted
    }

    /// Where a span of [`Prompt::text`] is, for the record: a JSON pointer and the line in it.
    pub(crate) fn locate(&self, span: &std::ops::Range<usize>) -> Option<(String, usize)> {
        let piece = self
            .pieces
            .iter()
            .find(|p| span.start >= p.start && span.start < p.start + p.len.max(1))?;
        let line = self.text[piece.start..span.start].matches('\n').count() + 1;
        Some((piece.pointer.clone(), line))
    }
}

fn push_index(path: &mut String, i: usize) {
    use std::fmt::Write as _;
    let _ = write!(path, "/{i}");
}

/// Appends `/key` to a JSON pointer, escaped (RFC 6901).
fn push_key(path: &mut String, key: &str) {
    path.push('/');
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorKind {
    Auth,
    Invalid,
    NotFound,
    Denied,
    RateLimited,
    Upstream,
    Unavailable,
}

impl ErrorKind {
    fn openai(self) -> &'static str {
        match self {
            ErrorKind::Auth | ErrorKind::Invalid | ErrorKind::NotFound => "invalid_request_error",
            ErrorKind::Denied => "permission_denied",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::Upstream | ErrorKind::Unavailable => "api_error",
        }
    }
    fn anthropic(self) -> &'static str {
        match self {
            ErrorKind::Auth => "authentication_error",
            ErrorKind::Invalid => "invalid_request_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::Denied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Upstream => "api_error",
            ErrorKind::Unavailable => "overloaded_error",
        }
    }
    fn code(self) -> &'static str {
        match self {
            ErrorKind::Auth => "invalid_api_key",
            ErrorKind::Invalid => "invalid_request",
            ErrorKind::NotFound => "model_not_found",
            ErrorKind::Denied => "policy_denied",
            ErrorKind::RateLimited => "budget_exceeded",
            ErrorKind::Upstream => "upstream_error",
            ErrorKind::Unavailable => "audit_unavailable",
        }
    }
}

/// The developer key a request presents: `Authorization: Bearer` or `x-api-key`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
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

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The AI tool making a request: the `x-aigov-tool` header, else recognised from the
/// `User-Agent` or the attribution headers tools send (`X-Title`), else `unknown`.
pub(crate) fn tool_of(headers: &HeaderMap) -> String {
    if let Some(t) = header_str(headers, "x-aigov-tool") {
        return t.to_owned();
    }
    let agent = header_str(headers, "user-agent").unwrap_or("");
    let title = header_str(headers, "x-title").unwrap_or("");
    tool_from_agent(agent, title)
        .unwrap_or("unknown")
        .to_owned()
}

/// Known tools by `User-Agent` prefix (case-insensitive) or `X-Title`.
const AGENTS: &[(&str, &str)] = &[
    ("claude-cli/", "claude-code"),
    ("claude-code/", "claude-code"),
    ("codex_cli_rs/", "codex"),
    ("codex/", "codex"),
    ("aider/", "aider"),
    ("cursor/", "cursor"),
    ("githubcopilotchat/", "copilot"),
    ("copilot/", "copilot"),
    ("cline/", "cline"),
    ("continue/", "continue"),
    ("opencode/", "opencode"),
    ("goose/", "goose"),
];

fn tool_from_agent(agent: &str, title: &str) -> Option<&'static str> {
    let lower = agent.to_ascii_lowercase();
    if let Some((_, tool)) = AGENTS.iter().find(|(prefix, _)| lower.starts_with(prefix)) {
        return Some(tool);
    }
    match title.to_ascii_lowercase().as_str() {
        "aider" => Some("aider"),
        "cline" => Some("cline"),
        "roo code" => Some("roo-code"),
        "kilo code" => Some("kilo-code"),
        _ => None,
    }
}

/// Token counts an answer reports, in one shape for every API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Usage {
    /// Input tokens billed at the full input price (cache reads and writes excluded).
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cache_read_tokens: u64,
    pub(crate) cache_write_tokens: u64,
}

impl Usage {
    /// Reads a `usage` object of any of the APIs: OpenAI chat (`prompt_tokens`,
    /// `completion_tokens`, `prompt_tokens_details.cached_tokens`), OpenAI responses
    /// (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`), embeddings
    /// (`prompt_tokens`), Anthropic (`input_tokens`, `output_tokens`,
    /// `cache_read_input_tokens`, `cache_creation_input_tokens`).
    pub(crate) fn from_json(u: &Value) -> Option<Usage> {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        let nested = |a: &str, b: &str| u.get(a).and_then(|d| d.get(b)).and_then(Value::as_u64);
        if !u.is_object() {
            return None;
        }
        if let Some(prompt) = n("prompt_tokens") {
            let cached = nested("prompt_tokens_details", "cached_tokens").unwrap_or(0);
            return Some(Usage {
                input_tokens: prompt.saturating_sub(cached),
                output_tokens: n("completion_tokens").unwrap_or(0),
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            });
        }
        if let Some(cached) = nested("input_tokens_details", "cached_tokens") {
            return Some(Usage {
                input_tokens: n("input_tokens").unwrap_or(0).saturating_sub(cached),
                output_tokens: n("output_tokens").unwrap_or(0),
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            });
        }
        if n("input_tokens").is_none() && n("output_tokens").is_none() {
            return None;
        }
        Some(Usage {
            input_tokens: n("input_tokens").unwrap_or(0),
            output_tokens: n("output_tokens").unwrap_or(0),
            cache_read_tokens: n("cache_read_input_tokens").unwrap_or(0),
            cache_write_tokens: n("cache_creation_input_tokens").unwrap_or(0),
        })
    }

    /// Fields present in a later report replace earlier ones (Anthropic streams report
    /// input tokens in `message_start` and the final output count in `message_delta`).
    pub(crate) fn merge(&mut self, later: &Value) {
        let Some(u) = Usage::from_json(later) else {
            return;
        };
        let has = |k: &str| later.get(k).and_then(Value::as_u64).is_some_and(|v| v > 0);
        if has("input_tokens") || has("prompt_tokens") {
            self.input_tokens = u.input_tokens;
        }
        if has("output_tokens") || has("completion_tokens") {
            self.output_tokens = u.output_tokens;
        }
        if has("cache_read_input_tokens") || u.cache_read_tokens > 0 {
            self.cache_read_tokens = u.cache_read_tokens;
        }
        if has("cache_creation_input_tokens") {
            self.cache_write_tokens = u.cache_write_tokens;
        }
    }
}

impl From<Usage> for meter::Usage {
    fn from(u: Usage) -> meter::Usage {
        meter::Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
        }
    }
}

/// The usage of a JSON answer (`usage`, or `response.usage` in Responses stream events).
pub(crate) fn usage_in(v: &Value) -> Option<&Value> {
    v.get("usage")
        .filter(|u| u.is_object())
        .or_else(|| v.get("response").and_then(|r| r.get("usage")))
        .or_else(|| v.get("message").and_then(|m| m.get("usage")))
        .filter(|u| u.is_object())
}

/// Only the parts of an answer (or stream event) that can carry its usage; everything else
/// is skipped by the parser without being built.
#[derive(serde::Deserialize)]
struct UsageCarrier {
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    response: Option<UsageHolder>,
    #[serde(default)]
    message: Option<UsageHolder>,
}

#[derive(serde::Deserialize)]
struct UsageHolder {
    #[serde(default)]
    usage: Option<Value>,
}

/// The usage reported in a JSON answer or one SSE `data:` payload (as [`usage_in`] finds it),
/// without building the whole document: answers can be large, their usage is small.
pub(crate) fn usage_of(json: &[u8]) -> Option<Value> {
    let pick = |u: Option<Value>| u.filter(Value::is_object);
    match serde_json::from_slice::<UsageCarrier>(json) {
        Ok(c) => pick(c.usage)
            .or_else(|| pick(c.response.and_then(|r| r.usage)))
            .or_else(|| pick(c.message.and_then(|m| m.usage))),
        // Not the shape expected (e.g. `message` is a string): look at the whole document.
        Err(_) => serde_json::from_slice::<Value>(json)
            .ok()
            .and_then(|v| usage_in(&v).cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_recognised_from_their_user_agents() {
        let cases = [
            (
                "claude-cli/2.0.14 (external, sdk-cli)",
                "",
                Some("claude-code"),
            ),
            ("codex_cli_rs/0.46.0 (Debian 12)", "", Some("codex")),
            ("OpenAI/Python 1.99.0", "Aider", Some("aider")),
            ("Anthropic/Python 0.68.0", "", None),
            ("GitHubCopilotChat/0.31.0", "", Some("copilot")),
        ];
        for (agent, title, expect) in cases {
            assert_eq!(tool_from_agent(agent, title), expect, "{agent} / {title}");
        }
    }

    #[test]
    fn usage_of_every_api_in_one_shape() {
        let cases = [
            (
                serde_json::json!({"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 40}}),
                (60, 20, 40, 0),
            ),
            (
                serde_json::json!({"input_tokens": 90, "output_tokens": 9, "input_tokens_details": {"cached_tokens": 10}}),
                (80, 9, 10, 0),
            ),
            (
                serde_json::json!({"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 50, "cache_creation_input_tokens": 5}),
                (7, 3, 50, 5),
            ),
            (
                serde_json::json!({"prompt_tokens": 12, "total_tokens": 12}),
                (12, 0, 0, 0),
            ),
        ];
        for (json, (i, o, r, w)) in cases {
            let u = Usage::from_json(&json).unwrap();
            assert_eq!(
                (
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_read_tokens,
                    u.cache_write_tokens
                ),
                (i, o, r, w),
                "{json}"
            );
        }
        // An Anthropic stream: input in message_start, output in the final message_delta.
        let mut u =
            Usage::from_json(&serde_json::json!({"input_tokens": 25, "output_tokens": 1})).unwrap();
        u.merge(&serde_json::json!({"output_tokens": 15}));
        assert_eq!((u.input_tokens, u.output_tokens), (25, 15));
    }

    #[test]
    fn usage_is_found_where_each_answer_carries_it() {
        let cases: [(&str, Option<&str>); 7] = [
            // Chat completion: top level, after large content that is skipped.
            (
                r#"{"id":"c","choices":[{"message":{"content":"long…"}}],"usage":{"prompt_tokens":3}}"#,
                Some(r#"{"prompt_tokens":3}"#),
            ),
            // Responses stream event: under `response`.
            (
                r#"{"type":"response.completed","response":{"output":[],"usage":{"input_tokens":4}}}"#,
                Some(r#"{"input_tokens":4}"#),
            ),
            // Anthropic message_start: under `message`.
            (
                r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":5}}}"#,
                Some(r#"{"input_tokens":5}"#),
            ),
            // `usage: null` (OpenAI stream chunks before the last): none.
            (r#"{"choices":[],"usage":null}"#, None),
            // `message` of another shape: the whole document is looked at, usage still found.
            (
                r#"{"message":"a string","usage":{"output_tokens":6}}"#,
                Some(r#"{"output_tokens":6}"#),
            ),
            (r#"{"error":{"message":"x"}}"#, None),
            ("not json", None),
        ];
        for (answer, expect) in cases {
            let got = usage_of(answer.as_bytes()).map(|v| v.to_string());
            assert_eq!(got.as_deref(), expect, "{answer}");
        }
    }

    #[test]
    fn prompt_pieces_point_at_their_strings_and_redact_in_place() {
        let body = serde_json::json!({
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [
                {"role": "user", "content": "key AKIAZ3MKQ7T2X4PLW5NB here"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "sh", "input": {"cmd": "echo hi"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "hi"}]},
            ]
        });
        let p = Endpoint::Messages.prompt(&body);
        assert_eq!(
            p.text,
            "be brief\nkey AKIAZ3MKQ7T2X4PLW5NB here\necho hi\nhi\n"
        );
        let scanner = scanner::Scanner::builtin();
        let findings = scanner.scan_secrets(p.text.as_bytes());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(
            p.locate(&findings[0].span),
            Some(("/messages/0/content".to_owned(), 1))
        );
        let mut redacted = body.clone();
        assert_eq!(p.redact(&mut redacted, &findings), 1);
        assert_eq!(
            redacted["messages"][0]["content"],
            format!("key {} here", findings[0].placeholder())
        );
        assert_eq!(redacted["messages"][1], body["messages"][1]);
    }
}

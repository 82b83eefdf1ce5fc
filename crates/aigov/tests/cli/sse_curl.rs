//! Raw server-sent events through `aigov serve`'s gateway, fetched with `curl -sN`: the bytes
//! are those the stand-in sends for the same request, the ledger records each stream with its
//! usage, and a denial is the provider's error JSON.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::gateway_harness::{
    ANTHROPIC_MODEL, Gateway, OPENAI_MODEL, UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY,
};

/// What curl got: status, `content-type`, body bytes.
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// `curl -sN -X POST URL -H … --data-binary BODY`.
fn curl(dir: &Path, url: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    let head = tempfile::NamedTempFile::new_in(dir).unwrap();
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-N", "--max-time", "30", "-D"])
        .arg(head.path())
        .args(["-X", "POST", url, "-H", "content-type: application/json"]);
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    command.args(["--data-binary", &body.to_string()]);
    let out = match command.output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run curl (is it installed?): {e}"),
    };
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(head.path()).unwrap();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        body: out.stdout,
    }
}

/// The JSON of each `data:` line (OpenAI's `[DONE]` left out).
fn data(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// A streaming request, sent once through aigov and once straight to a stand-in.
struct Case {
    name: &'static str,
    /// Path on aigov, and on the stand-in relative to its base URL for this API.
    gateway_path: &'static str,
    upstream_path: &'static str,
    /// Headers besides the credentials, sent to both.
    headers: &'static [(&'static str, &'static str)],
    body: Value,
    /// Text every such stream must contain (the stand-in's events for this request).
    expect: &'static [&'static str],
    anthropic: bool,
}

/// Sends `case` through `gateway` and straight to `twin`; the two byte streams are identical,
/// and both are `text/event-stream`. Returns the gateway's reply.
fn check_stream(case: &Case, gateway: &Gateway, twin: &standin::StandIn) -> Reply {
    let dir = gateway.dir.path();
    let gateway_auth;
    let upstream_auth;
    let (base, mut via_gateway, mut direct) = if case.anthropic {
        (
            twin.anthropic_base_url(),
            vec![("x-api-key", gateway.key.as_str())],
            vec![("x-api-key", UPSTREAM_ANTHROPIC_KEY)],
        )
    } else {
        gateway_auth = format!("Bearer {}", gateway.key);
        upstream_auth = format!("Bearer {UPSTREAM_OPENAI_KEY}");
        (
            twin.openai_base_url(),
            vec![("authorization", gateway_auth.as_str())],
            vec![("authorization", upstream_auth.as_str())],
        )
    };
    via_gateway.extend_from_slice(case.headers);
    direct.extend_from_slice(case.headers);
    let got = curl(
        dir,
        &format!("{}{}", gateway.url, case.gateway_path),
        &via_gateway,
        &case.body,
    );
    let want = curl(
        dir,
        &format!("{base}{}", case.upstream_path),
        &direct,
        &case.body,
    );
    let name = case.name;
    assert_eq!(
        want.status,
        200,
        "{name}: the stand-in answers: {}",
        String::from_utf8_lossy(&want.body)
    );
    assert_eq!(
        got.status,
        200,
        "{name}: aigov answers: {}\nserver log:\n{}",
        String::from_utf8_lossy(&got.body),
        gateway.log()
    );
    assert!(
        got.content_type.starts_with("text/event-stream"),
        "{name}: content-type {:?}",
        got.content_type
    );
    assert_eq!(
        got.content_type, want.content_type,
        "{name}: content-type passed through"
    );
    for text in case.expect {
        assert!(
            String::from_utf8_lossy(&want.body).contains(text),
            "{name}: the stand-in's stream has {text:?}"
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&got.body),
        String::from_utf8_lossy(&want.body),
        "{name}: the stream through aigov is the stand-in's, byte for byte"
    );
    assert_eq!(got.body, want.body, "{name}: byte-identical");
    got
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]})
}

const ASK: &str = "What is the weather in Paris today?";

#[test]
fn curl_sees_the_upstreams_sse_bytes_through_the_gateway() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spawn = || {
        rt.block_on(standin::spawn(standin::Options::new(
            UPSTREAM_OPENAI_KEY,
            UPSTREAM_ANTHROPIC_KEY,
        )))
        .unwrap()
    };
    let upstream = spawn();
    // The twin gets the same requests in the same order, straight: the stand-in numbers its
    // ids per server, so both send the same bytes.
    let twin = spawn();
    let mut gateway = Gateway::start(&upstream);

    let cases = [
        Case {
            name: "anthropic: thinking, text and tool_use blocks",
            gateway_path: "/v1/messages",
            upstream_path: "/v1/messages",
            headers: &[
                ("anthropic-version", "2023-06-01"),
                ("anthropic-beta", "interleaved-thinking-2025-05-14"),
                ("x-aigov-tool", "claude-code"),
            ],
            body: json!({
                "model": ANTHROPIC_MODEL, "max_tokens": 2048, "stream": true,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "tools": [{"name": "get_weather", "description": "Current weather",
                           "input_schema": weather_schema()}],
                "messages": [{"role": "user", "content": ASK}],
            }),
            expect: &[
                "event: message_start\n",
                "event: ping\n",
                "\"thinking_delta\"",
                "\"signature_delta\"",
                "\"text_delta\"",
                "\"type\":\"tool_use\"",
                "\"input_json_delta\"",
                "event: message_delta\n",
                "event: message_stop\n",
            ],
            anthropic: true,
        },
        Case {
            name: "openai: tool call deltas and the usage chunk",
            gateway_path: "/v1/chat/completions",
            upstream_path: "/chat/completions",
            headers: &[("x-aigov-tool", "aider")],
            body: json!({
                "model": OPENAI_MODEL, "stream": true,
                "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {
                    "name": "get_weather", "parameters": weather_schema()}}],
                "messages": [{"role": "user", "content": ASK}],
            }),
            expect: &[
                "\"tool_calls\":[{",
                "\"finish_reason\":\"tool_calls\"",
                "\"usage\":{\"prompt_tokens\"",
                "data: [DONE]\n\n",
            ],
            anthropic: false,
        },
    ];
    let replies: Vec<Reply> = cases
        .iter()
        .map(|case| check_stream(case, &gateway, &twin))
        .collect();

    // The upstream got each request as the twin did: same body, same place in its sequence.
    let forwarded = upstream.requests();
    let direct = twin.requests();
    assert_eq!(forwarded.len(), cases.len(), "{forwarded:#?}");
    for (got, sent) in forwarded.iter().zip(&direct) {
        assert_eq!(
            (got.seq, &got.path, &got.body),
            (sent.seq, &sent.path, &sent.body)
        );
    }

    // A denied request never leaves aigov and gets Anthropic's error JSON.
    let denials = [
        (
            "a denied tool",
            "codex",
            ANTHROPIC_MODEL,
            Some("this AI tool is not approved"),
        ),
        (
            "a model not in the inventory",
            "claude-code",
            "claude-opus-5-5",
            None,
        ),
    ];
    for (name, tool, model, reason) in denials {
        let body = json!({"model": model, "max_tokens": 64, "stream": true,
                          "messages": [{"role": "user", "content": ASK}]});
        let reply = curl(
            gateway.dir.path(),
            &format!("{}/v1/messages", gateway.url),
            &[
                ("x-api-key", gateway.key.as_str()),
                ("anthropic-version", "2023-06-01"),
                ("x-aigov-tool", tool),
            ],
            &body,
        );
        let text = String::from_utf8_lossy(&reply.body);
        assert_eq!(reply.status, 403, "{name}: {text}");
        assert!(
            reply.content_type.starts_with("application/json"),
            "{name}: {:?}",
            reply.content_type
        );
        let error: Value = serde_json::from_slice(&reply.body).unwrap();
        fn keys(v: &Value) -> Option<Vec<&str>> {
            v.as_object()
                .map(|o| o.keys().map(String::as_str).collect())
        }
        let mut top = keys(&error).unwrap_or_default();
        top.sort();
        assert_eq!(top, ["error", "type"], "{name}: {text}");
        assert_eq!(error["type"], "error", "{name}: {text}");
        let mut inner = keys(&error["error"]).unwrap_or_default();
        inner.sort();
        assert_eq!(inner, ["message", "type"], "{name}: {text}");
        assert_eq!(error["error"]["type"], "permission_error", "{name}: {text}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("denied by"), "{name}: {message}");
        if let Some(reason) = reason {
            assert!(message.contains(reason), "{name}: {message}");
        }
    }
    assert_eq!(
        upstream.requests().len(),
        cases.len(),
        "denied requests stay home"
    );

    // The ledger: both streams allowed and complete, with their usage; both denials.
    gateway.stop();
    let entries = gateway.entries();
    let summary: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            (
                s(&e["decision"]),
                s(&e["outcome"]),
                s(&e["fields"]["model"]),
                s(&e["fields"]["stream"]),
            )
        })
        .collect();
    let row =
        |d: &str, o: &str, m: &str| (d.to_owned(), o.to_owned(), m.to_owned(), "true".to_owned());
    assert_eq!(
        summary,
        [
            row("allow", "success", ANTHROPIC_MODEL),
            row("allow", "success", OPENAI_MODEL),
            row("deny", "failure", ANTHROPIC_MODEL),
            row("deny", "failure", "claude-opus-5-5"),
        ]
    );
    let details = gateway.details();
    assert_eq!(details.len(), entries.len(), "{details:#?}");
    for (reply, d) in replies.iter().zip(&details) {
        assert_eq!(d["stream_complete"], true, "{d:#}");
        assert_eq!(d["response_bytes"], reply.body.len(), "{d:#}");
    }
    // Anthropic: input tokens come with message_start, output tokens with message_delta.
    let events = data(&replies[0].body);
    let start = &events[0]["message"]["usage"];
    let end = &events[events.len() - 2]["usage"];
    assert_eq!(
        details[0]["usage"]["output_tokens"], end["output_tokens"],
        "{:#}",
        details[0]
    );
    assert_eq!(
        details[0]["usage"]["input_tokens"], start["input_tokens"],
        "the Anthropic stream's usage includes message_start's input tokens: {:#}",
        details[0]
    );
    // OpenAI: the usage chunk, in the ledger's one shape for every API.
    let events = data(&replies[1].body);
    let usage = events
        .iter()
        .rev()
        .find_map(|e| e.get("usage").filter(|u| !u.is_null()))
        .expect("the stream's usage chunk");
    assert_eq!(
        (
            &details[1]["usage"]["input_tokens"],
            &details[1]["usage"]["output_tokens"]
        ),
        (&usage["prompt_tokens"], &usage["completion_tokens"]),
        "{:#}",
        details[1]
    );
    gateway.verify();
    drop((upstream, twin));
}

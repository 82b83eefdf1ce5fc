//! The AI gateway over real HTTP: a developer key, the example bundle's policies, the stand-in
//! model provider as upstream, and the ledger entry every request leaves.

use std::time::Duration;

use config::{GatewayConfig, Secret, Upstream, UpstreamApi};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{NewToken, TokenKind, TokenStore};

use super::{TestServer, eventually};

const UPSTREAM_OPENAI_KEY: &str = "sk-upstream-openai";
const UPSTREAM_ANTHROPIC_KEY: &str = "sk-ant-upstream";

struct Gateway {
    server: TestServer,
    standin: standin::StandIn,
    /// lena's developer key, default repository `acme/storefront`.
    key: String,
}

fn upstream(
    name: &str,
    api: UpstreamApi,
    base_url: String,
    key: &str,
    models: &[&str],
) -> Upstream {
    Upstream {
        name: name.to_owned(),
        api,
        base_url,
        api_key_ref: None,
        api_key: Some(Secret::new(key)),
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        fallback: Vec::new(),
    }
}

/// A server with the example bundle and `config`, where `key` is a developer key of lena's
/// (default repository `acme/storefront`).
async fn server_with_key(config: GatewayConfig, key: &str) -> TestServer {
    let server = TestServer::start_full(|_| {}, config).await;
    server
        .store
        .insert_token(NewToken {
            name: "lena-1".to_owned(),
            kind: TokenKind::Developer,
            hash: server::token::hash_token(key),
            person: Some("lena".to_owned()),
            repo: Some("acme/storefront".to_owned()),
        })
        .await
        .unwrap();
    server
}

async fn gateway() -> Gateway {
    gateway_with(|_| {}).await
}

/// [`gateway`] after `prepare` has edited the bundle directory.
async fn gateway_with(prepare: impl FnOnce(&std::path::Path)) -> Gateway {
    let standin = standin::spawn(standin::Options::new(
        UPSTREAM_OPENAI_KEY,
        UPSTREAM_ANTHROPIC_KEY,
    ))
    .await
    .unwrap();
    let config = GatewayConfig {
        upstreams: vec![
            upstream(
                "local",
                UpstreamApi::Openai,
                standin.openai_base_url(),
                UPSTREAM_OPENAI_KEY,
                &["local-coder"],
            ),
            upstream(
                "anthropic",
                UpstreamApi::Anthropic,
                standin.anthropic_base_url(),
                UPSTREAM_ANTHROPIC_KEY,
                &["claude-sonnet-4"],
            ),
        ],
        answer_after: Default::default(),
        // 1 USD per million input tokens, 2 per million output: 1 and 2 micro-USD a token.
        prices: model::PriceTable {
            models: [(
                "local-coder".to_owned(),
                model::ModelPrice {
                    input: 1_000_000,
                    output: 2_000_000,
                    cache_read: 1_000_000,
                    cache_write: 1_000_000,
                },
            )]
            .into(),
        },
    };
    let server = TestServer::start_full(prepare, config).await;
    let key = "aigov_dev_lena_test_key_0123456789abcdefghijklmnop".to_owned();
    server
        .store
        .insert_token(NewToken {
            name: "lena-1".to_owned(),
            kind: TokenKind::Developer,
            hash: server::token::hash_token(&key),
            person: Some("lena".to_owned()),
            repo: Some("acme/storefront".to_owned()),
        })
        .await
        .unwrap();
    Gateway {
        server,
        standin,
        key,
    }
}

impl Gateway {
    fn openai(&self, body: Value) -> reqwest::RequestBuilder {
        self.server
            .client
            .post(self.server.url("/v1/chat/completions"))
            .bearer_auth(&self.key)
            .header("x-aigov-tool", "aider")
            .json(&body)
    }

    fn anthropic(&self, body: Value) -> reqwest::RequestBuilder {
        self.server
            .client
            .post(self.server.url("/v1/messages"))
            .header("x-api-key", &self.key)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", "interleaved-thinking-2025-05-14")
            .header("x-aigov-tool", "claude-code")
            .json(&body)
    }

    /// The details rows of gateway requests, once `n` exist (a row follows its entry).
    async fn rows(&self, n: usize) -> Vec<store::EventRecord> {
        eventually("gateway details rows", || async {
            let rows = self.server.events("gateway.request").await;
            (rows.len() >= n).then_some(rows)
        })
        .await
    }

    /// Gateway entries in the ledger, oldest first, once `n` exist.
    async fn entries(&self, n: usize) -> Vec<ledger::Entry> {
        eventually("gateway ledger entries", || async {
            let entries: Vec<ledger::Entry> = self
                .server
                .ledger()
                .await
                .into_iter()
                .filter(|e| e.kind == ledger::EntryKind::GatewayRequest)
                .collect();
            (entries.len() >= n).then_some(entries)
        })
        .await
    }
}

fn chat(model: &str, prompt: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": prompt }],
    })
}

#[tokio::test]
async fn openai_json_and_stream_pass_through_with_the_upstream_key() {
    let g = gateway().await;
    let response = g
        .openai(chat("local-coder", "explain this function", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("stand-in")
    );

    let response = g
        .openai(chat("local-coder", "and stream it", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // The upstream saw its own key, never the developer's.
    let seen = g.standin.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(
            r.headers["authorization"],
            format!("Bearer {UPSTREAM_OPENAI_KEY}")
        );
        assert!(!format!("{:?}", r.headers).contains(&g.key));
    }

    let entries = g.entries(2).await;
    let summary: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?} {:?} tool={} model={} status={} stream={}",
                e.actor,
                e.subject,
                e.outcome,
                e.decision,
                e.fields["tool"],
                e.fields["model"],
                e.fields["status"],
                e.fields["stream"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "lena repo:acme/storefront Success Some(Allow) tool=aider model=local-coder status=200 stream=false",
            "lena repo:acme/storefront Success Some(Allow) tool=aider model=local-coder status=200 stream=true",
        ]
    );
    // The streamed request's details hold the usage from the final chunk.
    let rows = g.rows(2).await;
    assert_eq!(rows[1].payload["stream_complete"], true);
    // Usage in one shape for every API (OpenAI's completion tokens are output tokens).
    assert!(rows[1].payload["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let entries = g.entries(2).await;
    assert_eq!(
        entries[1].fields["tokens_out"],
        rows[1].payload["usage"]["output_tokens"].to_string()
    );
    assert_eq!(entries[1].fields["endpoint"], "chat/completions");
    g.server.verify_ledger().await;
}

#[tokio::test]
async fn anthropic_stream_keeps_version_and_beta_headers_and_thinking_blocks() {
    let g = gateway().await;
    let response = g
        .anthropic(json!({
            "model": "claude-sonnet-4",
            "max_tokens": 256,
            "stream": true,
            "thinking": { "type": "enabled", "budget_tokens": 128 },
            "messages": [{ "role": "user", "content": "plan the refactor" }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for event in [
        "event: message_start",
        "\"type\":\"thinking_delta\"",
        "\"type\":\"signature_delta\"",
        "event: message_stop",
    ] {
        assert!(text.contains(event), "{event} in {text}");
    }
    let seen = g.standin.requests();
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        seen[0].headers["anthropic-beta"],
        "interleaved-thinking-2025-05-14"
    );
    assert_eq!(seen[0].headers["x-api-key"], UPSTREAM_ANTHROPIC_KEY);
    let entries = g.entries(1).await;
    assert_eq!(entries[0].fields["tool"], "claude-code");
    assert_eq!(entries[0].outcome, ledger::Outcome::Success);
}

#[tokio::test]
async fn denials_come_back_in_the_sdk_format_and_never_reach_the_upstream() {
    let g = gateway().await;
    // A secret in the prompt: the example bundle's `no-secrets-in-prompts` denies.
    let response = g
        .openai(chat(
            "local-coder",
            "why does this fail? aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9Xk2Lw8V\" AKIAZ3MKQ7T2X4PLW5NB",
            false,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "policy_denied");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the prompt contains secrets"), "{message}");

    // A vendor-cloud model on a restricted repository, in Anthropic's error format.
    let response = g
        .anthropic(json!({
            "model": "claude-sonnet-4",
            "max_tokens": 64,
            "messages": [{ "role": "user", "content": "hello" }],
        }))
        .header("x-aigov-repo", "acme/payments-api")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "permission_error");

    // Unknown key: 401, and nothing recorded for a caller aigov cannot name.
    let response = g
        .server
        .client
        .post(g.server.url("/v1/messages"))
        .header("x-api-key", "aigov_dev_not_a_key")
        .json(&json!({"model": "claude-sonnet-4", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");

    assert!(
        g.standin.requests().is_empty(),
        "denied requests are not forwarded"
    );
    let entries = g.entries(2).await;
    let findings: Vec<Option<&String>> = entries.iter().map(|e| e.fields.get("findings")).collect();
    assert_eq!(
        entries.iter().map(|e| e.decision).collect::<Vec<_>>(),
        [Some(ledger::Decision::Deny), Some(ledger::Decision::Deny)]
    );
    assert_eq!(
        findings[0].map(String::as_str),
        Some("aws-access-key,aws-secret-key")
    );
    // The secret itself is nowhere in the ledger or the details.
    let rows = g.rows(2).await;
    assert!(!format!("{entries:?}{rows:?}").contains("wJalrXUtnFEMI"));
}

#[tokio::test]
async fn upstream_failures_are_reported_and_recorded() {
    let g = gateway().await;
    // A 500 from the provider passes through in its own format and is recorded as a failure.
    g.standin
        .inject_fault(
            standin::Fault {
                status: Some(500),
                ..Default::default()
            },
            1,
        )
        .unwrap();
    let response = g
        .openai(chat("local-coder", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // A stream cut off mid-way ends without its terminator and is recorded incomplete.
    g.standin
        .inject_fault(
            standin::Fault {
                cut_after_events: Some(2),
                ..Default::default()
            },
            1,
        )
        .unwrap();
    let response = g
        .openai(chat("local-coder", "stream then break", true))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap_or_default();
    assert!(!text.contains("[DONE]"), "{text}");

    let entries = g.entries(2).await;
    let outcomes: Vec<(ledger::Outcome, &str)> = entries
        .iter()
        .map(|e| (e.outcome, e.fields["status"].as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (ledger::Outcome::Failure, "500"),
            (ledger::Outcome::Failure, "200"),
        ]
    );
    let rows = g.rows(2).await;
    assert_eq!(rows[1].payload["stream_complete"], false);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_clear_502() {
    // Bind then drop: nothing listens on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = GatewayConfig {
        upstreams: vec![upstream(
            "local",
            UpstreamApi::Openai,
            format!("http://127.0.0.1:{port}/v1"),
            UPSTREAM_OPENAI_KEY,
            &["local-coder"],
        )],
        answer_after: Default::default(),
        prices: Default::default(),
    };
    let key = "aigov_dev_lena_unreachable_0123456789abcdefghijklm";
    let server = server_with_key(config, key).await;
    let response = server
        .client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("x-aigov-tool", "aider")
        .json(&chat("local-coder", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "upstream `local` refused the connection; the request was not completed (aigov recorded it)"
    );
    let entries: Vec<ledger::Entry> = server
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.kind == ledger::EntryKind::GatewayRequest)
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fields["status"], "502");
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_is_still_recorded() {
    let g = gateway().await;
    // A slow upstream stream: 200 ms between events.
    g.standin
        .inject_fault(
            standin::Fault {
                event_delay_ms: Some(200),
                ..Default::default()
            },
            1,
        )
        .unwrap();
    let mut response = g
        .openai(chat("local-coder", "stream slowly", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty());
    drop(response);

    let entries = g.entries(1).await;
    assert_eq!(entries[0].outcome, ledger::Outcome::Failure);
    let rows = g.rows(1).await;
    assert_eq!(rows[0].payload["stream_complete"], false);
}

/// A client that hangs up on a request through the gateway, and what must follow upstream.
struct HangUp {
    what: &'static str,
    stream: bool,
    /// How the stand-in slows its answer, so the client hangs up long before it would end.
    fault: standin::Fault,
    /// What the stand-in must see given up once the client is gone.
    abandoned: standin::Abandoned,
    /// The gateway's entry for the request: outcome, status, `stream_complete`. `None`: not
    /// checked here (see `a_json_request_the_client_hangs_up_on_is_still_recorded`).
    entry: Option<(ledger::Outcome, &'static str, Value)>,
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_the_upstream_request() {
    let cases = [
        HangUp {
            what: "mid-stream, after the first event",
            stream: true,
            // About ten events a second apart: the stream would last ~10 s.
            fault: standin::Fault {
                event_delay_ms: Some(1_000),
                ..Default::default()
            },
            abandoned: standin::Abandoned {
                before_answer: 0,
                mid_stream: 1,
            },
            entry: Some((ledger::Outcome::Failure, "200", json!(false))),
        },
        HangUp {
            what: "while the upstream is slow to answer (JSON)",
            stream: false,
            fault: standin::Fault {
                delay_ms: Some(10_000),
                ..Default::default()
            },
            abandoned: standin::Abandoned {
                before_answer: 1,
                mid_stream: 0,
            },
            entry: None,
        },
    ];
    for case in cases {
        let what = case.what;
        let g = gateway().await;
        g.standin.inject_fault(case.fault.clone(), 1).unwrap();
        let request = g.openai(chat("local-coder", "answer slowly", case.stream));
        if case.stream {
            let mut response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{what}");
            let first = response.chunk().await.unwrap();
            assert!(
                first.is_some_and(|c| !c.is_empty()),
                "{what}: a first event"
            );
            drop(response);
        } else {
            let gave_up = tokio::time::timeout(Duration::from_millis(500), request.send()).await;
            assert!(
                gave_up.is_err(),
                "{what}: the answer came before the client gave up"
            );
        }
        let hung_up = std::time::Instant::now();
        assert_eq!(
            g.standin.requests().len(),
            1,
            "{what}: the request went upstream"
        );

        // The gateway hangs up on the upstream too, promptly: the stand-in sees its answer
        // dropped long before it would have ended.
        let mut seen = g.standin.abandoned();
        while seen != case.abandoned && hung_up.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            seen = g.standin.abandoned();
        }
        assert_eq!(
            seen, case.abandoned,
            "{what}: the upstream request was not cancelled within 2 s of the client hanging up"
        );

        // One entry for the request, written although the client never saw an end.
        let Some((outcome, status, complete)) = &case.entry else {
            continue;
        };
        let entries = g.entries(1).await;
        let rows = g.rows(1).await;
        assert_eq!(
            (
                entries.len(),
                entries[0].outcome,
                entries[0].fields["status"].as_str()
            ),
            (1, *outcome, *status),
            "{what}: {entries:#?}"
        );
        assert_eq!(
            rows[0].payload["stream_complete"], *complete,
            "{what}: {rows:#?}"
        );
    }
}

/// A prompt that went to the provider leaves an entry even if the client hung up before the
/// answer: the handler is dropped with the connection (which also cancels the upstream
/// request, see above), and the drop records it, status 499.
#[tokio::test]
async fn a_json_request_the_client_hangs_up_on_is_still_recorded() {
    let g = gateway().await;
    g.standin
        .inject_fault(
            standin::Fault {
                delay_ms: Some(10_000),
                ..Default::default()
            },
            1,
        )
        .unwrap();
    let request = g.openai(chat("local-coder", "answer slowly", false)).send();
    let gave_up = tokio::time::timeout(Duration::from_millis(500), request).await;
    assert!(
        gave_up.is_err(),
        "the answer came before the client gave up"
    );
    assert_eq!(g.standin.requests().len(), 1, "the prompt went upstream");
    let entries = g.entries(1).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0].outcome, ledger::Outcome::Failure);
    assert_eq!(entries[0].decision, Some(ledger::Decision::Allow));
    assert_eq!(entries[0].fields["status"], "499");
    let rows = g.rows(1).await;
    assert_eq!(
        rows[0].payload["upstream"], "local",
        "{:?}",
        rows[0].payload
    );
    g.server.verify_ledger().await;
}

#[tokio::test]
async fn an_allowed_model_no_upstream_serves_is_a_request_error_not_a_denial() {
    let g = gateway().await;
    let response = g
        .openai(chat("gpt-4o", "hello", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no upstream serves it"),
        "{body}"
    );
    let entries = g.entries(1).await;
    assert_eq!(entries[0].decision, Some(ledger::Decision::Allow));
    assert_eq!(entries[0].outcome, ledger::Outcome::Failure);
    assert!(g.standin.requests().is_empty());
}

#[tokio::test]
async fn bundle_allowlists_scoped_to_the_repository_apply_to_prompts() {
    let g = gateway_with(|bundle| {
        std::fs::write(
            bundle.join("scanning/gateway.yaml"),
            "allowlists:\n  - description: storefront docs quote AWS's published example key ids\n    repos: [acme/storefront]\n    rules: [aws-access-key-id]\n",
        )
        .unwrap();
    })
    .await;
    let prompt = "what does AKIAZ3MKQ7T2X4PLW5NB in the README refer to?";
    let response = g
        .openai(chat("local-coder", prompt, false))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "allowlisted for acme/storefront"
    );
    let response = g
        .openai(chat("local-coder", prompt, false))
        .header("x-aigov-repo", "acme/platform-tools")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "not for another repository"
    );
    let entries = g.entries(2).await;
    assert_eq!(entries[0].fields.get("findings"), None);
    assert_eq!(entries[1].fields["findings"], "aws-access-key");
}

impl Gateway {
    /// A developer key for `person` with default repository `repo`.
    async fn key_for(&self, person: &str, repo: &str) -> String {
        let key = format!("aigov_dev_{person}_test_key_0123456789abcdefghijklmnop");
        self.server
            .store
            .insert_token(NewToken {
                name: format!("{person}-1"),
                kind: TokenKind::Developer,
                hash: server::token::hash_token(&key),
                person: Some(person.to_owned()),
                repo: Some(repo.to_owned()),
            })
            .await
            .unwrap();
        key
    }
}

#[tokio::test]
async fn responses_embeddings_and_count_tokens_are_governed_and_forwarded() {
    let g = gateway().await;
    let post = |path: &str, body: Value| {
        g.server
            .client
            .post(g.server.url(path))
            .bearer_auth(&g.key)
            .header("x-aigov-tool", "aider")
            .json(&body)
    };
    // Responses API, JSON then SSE (which ends with `response.completed`, not `[DONE]`).
    let r = post(
        "/v1/responses",
        json!({"model": "local-coder", "instructions": "be brief", "input": "explain retries"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "response");
    let r = post(
        "/v1/responses",
        json!({"model": "local-coder", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}], "stream": true}),
    )
    .send()
    .await
    .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("event: response.completed"), "{text}");

    // Embeddings of several inputs.
    let r = post(
        "/v1/embeddings",
        json!({"model": "local-coder", "input": ["fn main() {}", "retry loop"]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);

    // Anthropic count_tokens, with Claude Code's `?beta=true` query passed on.
    let r = g
        .server
        .client
        .post(g.server.url("/v1/messages/count_tokens?beta=true"))
        .header("x-api-key", &g.key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "token-counting-2024-11-01")
        .header("user-agent", "claude-cli/2.0.14 (external, cli)")
        .json(&json!({"model": "claude-sonnet-4", "messages": [{"role": "user", "content": "count me"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["input_tokens"].as_u64().unwrap() > 0);

    // A secret in an embeddings input is found like one in a chat prompt.
    let r = post(
        "/v1/embeddings",
        json!({"model": "local-coder", "input": "AKIAZ3MKQ7T2X4PLW5NB"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let seen: Vec<(String, Option<String>)> = g
        .standin
        .requests()
        .into_iter()
        .map(|r| (r.path, r.query))
        .collect();
    assert_eq!(
        seen,
        [
            ("/v1/responses".to_owned(), None),
            ("/v1/responses".to_owned(), None),
            ("/v1/embeddings".to_owned(), None),
            (
                "/v1/messages/count_tokens".to_owned(),
                Some("beta=true".to_owned())
            ),
        ]
    );
    let entries = g.entries(5).await;
    let summary: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {:?} status={} in={} out={}",
                e.fields["endpoint"],
                e.decision,
                e.fields["status"],
                e.fields.get("tokens_in").map_or("-", String::as_str),
                e.fields.get("tokens_out").map_or("-", String::as_str),
            )
        })
        .collect();
    let rows = g.rows(5).await;
    let usage = |i: usize, k: &str| rows[i].payload["usage"][k].to_string();
    assert_eq!(
        summary,
        [
            format!(
                "responses Some(Allow) status=200 in={} out={}",
                usage(0, "input_tokens"),
                usage(0, "output_tokens")
            ),
            format!(
                "responses Some(Allow) status=200 in={} out={}",
                usage(1, "input_tokens"),
                usage(1, "output_tokens")
            ),
            format!(
                "embeddings Some(Allow) status=200 in={} out=0",
                usage(2, "input_tokens")
            ),
            "messages/count_tokens Some(Allow) status=200 in=- out=-".to_owned(),
            "embeddings Some(Deny) status=403 in=- out=-".to_owned(),
        ]
    );
    assert!(rows[1].payload["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(rows[1].payload["stream_complete"], true);
    // Where the secret was, never what it was.
    assert_eq!(
        rows[4].payload["findings"],
        json!([{"type": "aws-access-key", "rule": "aws-access-key-id", "kind": "secret", "at": "/input", "line": 1, "handling": "pass"}])
    );
    g.server.verify_ledger().await;
}

#[tokio::test]
async fn models_lists_only_what_the_policy_allows_here() {
    let g = gateway().await;
    let marcus = g.key_for("marcus", "acme/payments-api").await;
    let list = |key: String, repo: Option<&'static str>, anthropic: bool| {
        let mut r = g
            .server
            .client
            .get(g.server.url("/v1/models"))
            .bearer_auth(key)
            .header("x-aigov-tool", "claude-code");
        if let Some(repo) = repo {
            r = r.header("x-aigov-repo", repo);
        }
        if anthropic {
            r = r.header("anthropic-version", "2023-06-01");
        }
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Internal repository: both models; restricted one: only the self-hosted model.
    let v = list(marcus.clone(), Some("acme/storefront"), false).await;
    assert_eq!(v["object"], "list");
    assert_eq!(ids(&v), ["local-coder", "claude-sonnet-4"]);
    let v = list(marcus.clone(), None, false).await;
    assert_eq!(ids(&v), ["local-coder"]);
    // lena is not in the payments team: nothing on the payments API.
    let v = list(g.key.clone(), Some("acme/payments-api"), false).await;
    assert_eq!(ids(&v), Vec::<String>::new());
    // Anthropic's shape for Anthropic clients.
    let v = list(marcus.clone(), None, true).await;
    assert_eq!(
        v,
        json!({"data": [{"type": "model", "id": "local-coder", "display_name": "local-coder", "created_at": "1970-01-01T00:00:00Z"}], "has_more": false, "first_id": "local-coder", "last_id": "local-coder"})
    );
    // One model, and one that is not for this developer here.
    let r = g
        .server
        .client
        .get(g.server.url("/v1/models/local-coder"))
        .bearer_auth(&marcus)
        .header("x-aigov-tool", "claude-code")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = g
        .server
        .client
        .get(g.server.url("/v1/models/claude-sonnet-4"))
        .bearer_auth(&marcus)
        .header("x-aigov-tool", "claude-code")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(g.standin.requests().is_empty());
}

#[tokio::test]
async fn findings_are_redacted_or_blocked_by_the_repositorys_classification() {
    let g = gateway().await;
    let marcus = g.key_for("marcus", "acme/payments-api").await;
    let secret = "AKIAZ3MKQ7T2X4PLW5NB";
    let email = "jane.doe@northwind-mail.com";
    let prompt = format!("the job fails for {email} with key {secret}; why?");
    let send = |key: &str, repo: &str| {
        g.server
            .client
            .post(g.server.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-aigov-tool", "aider")
            .header("x-aigov-repo", repo)
            .json(&chat("local-coder", &prompt, false))
            .send()
    };
    // Confidential: both replaced by typed placeholders, the request goes through.
    let r = send(&g.key, "acme/data-pipeline").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-aigov-redacted"], "2");
    // Internal: personal data is replaced; the secret passes to the policy, which refuses.
    let r = send(&g.key, "acme/storefront").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the prompt contains secrets"),
        "{body}"
    );
    // Restricted: blocked outright, with what to do.
    let r = send(&marcus, "acme/payments-api").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "the prompt contains secrets and personal data and repository `acme/payments-api` is classified restricted, where aigov's data-handling policy blocks them; remove them and retry (the ledger has their types and locations)"
    );

    let sent = g.standin.requests();
    assert_eq!(
        sent.len(),
        1,
        "only the redacted request reached the provider"
    );
    assert_eq!(
        sent[0].body["messages"][0]["content"],
        "the job fails for [REDACTED:email] with key [REDACTED:aws-access-key]; why?"
    );
    let rows = g.rows(3).await;
    let handled: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.payload["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {} line {}",
                        f["type"].as_str().unwrap(),
                        f["handling"].as_str().unwrap(),
                        f["at"].as_str().unwrap(),
                        f["line"]
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        handled,
        [
            [
                "aws-access-key redact /messages/0/content line 1",
                "email redact /messages/0/content line 1"
            ],
            [
                "aws-access-key pass /messages/0/content line 1",
                "email redact /messages/0/content line 1"
            ],
            [
                "aws-access-key block /messages/0/content line 1",
                "email block /messages/0/content line 1"
            ],
        ]
    );
    let everything = format!("{rows:?}{:?}", g.entries(3).await);
    assert!(!everything.contains(secret) && !everything.contains(email));
    g.server.verify_ledger().await;
}

/// A stream whose provider reports no usage (OpenAI without `stream_options.include_usage`)
/// still counts against a token budget: by its estimate at least, so streaming without
/// `include_usage` does not escape token and cost budgets.
#[tokio::test]
async fn a_stream_without_reported_usage_still_counts_against_token_budgets() {
    let g = gateway_with(|dir| {
        std::fs::write(
            dir.join("budgets.yaml"),
            "budgets:\n  - name: developer-tokens\n    per: [developer]\n    window: day\n    limit: { tokens: 30 }\n",
        )
        .unwrap();
    })
    .await;
    // 78 characters: an estimate of 20 tokens, within the 30; the stand-in would report 32.
    let prompt = "retry ".repeat(13);
    let no_usage = json!({
        "model": "local-coder",
        "stream": true,
        "messages": [{ "role": "user", "content": prompt }],
    });
    let r = g.openai(no_usage).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("[DONE]"), "{text}");
    let r = g
        .openai(chat("local-coder", &prompt, false))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "20 tokens spent by the first request's estimate, plus 20 estimated, exceed 30"
    );
}

#[tokio::test]
async fn budgets_and_rate_limits_are_enforced_before_the_upstream_and_costs_recorded() {
    let g = gateway_with(|dir| {
        std::fs::write(
            dir.join("budgets.yaml"),
            "budgets:\n  - name: developer-rate\n    per: [developer]\n    window: minute\n    limit: { requests: 2 }\n",
        )
        .unwrap();
    })
    .await;
    for _ in 0..2 {
        let r = g
            .openai(chat("local-coder", "explain retries", false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The third request in the minute: the SDKs' rate-limit error, saying which limit and when
    // it resets; nothing reaches the upstream.
    let r = g
        .openai(chat("local-coder", "explain retries", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_exceeded");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("denied by aigov: budget `developer-rate`")
            && message.contains("resets"),
        "{message}"
    );
    assert_eq!(g.standin.requests().len(), 2);

    // Each answered request's cost, from the price table and the reported usage.
    let rows = g.rows(3).await;
    let entries = g.entries(3).await;
    for (row, entry) in rows.iter().zip(&entries).take(2) {
        let usage = &row.payload["usage"];
        let micro =
            usage["input_tokens"].as_u64().unwrap() + 2 * usage["output_tokens"].as_u64().unwrap();
        let expected = format!("0.{micro:06}");
        assert_eq!(entry.fields["cost_usd"], expected, "{row:?}");
        assert_eq!(row.payload["cost_usd"], expected);
    }
    assert_eq!(entries[2].decision, Some(ledger::Decision::Deny));
    assert_eq!(entries[2].fields["status"], "429");
    assert_eq!(rows[2].payload["budget"]["name"], "developer-rate");

    // A malformed tags header is a request error, recorded like any other refusal.
    let r = g
        .openai(chat("local-coder", "explain retries", false))
        .header("x-aigov-tags", "project")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid `x-aigov-tags` header"),
        "{message}"
    );
    let entries = g.entries(4).await;
    assert_eq!(entries[3].fields["status"], "400");
    g.server.verify_ledger().await;
}

/// Fallback: a route `dead` → `flaky` → `backup`. The next upstream is tried only when one did
/// not take the request on (no connection, 429/502/503/504); any other answer is final, and the
/// last upstream's answer is final whatever it is. The entry says which upstreams failed.
#[tokio::test]
async fn a_failing_upstream_falls_back_before_anything_was_answered() {
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawn = || standin::spawn(standin::Options::new(UPSTREAM_OPENAI_KEY, "unused"));
    let (flaky, backup) = (spawn().await.unwrap(), spawn().await.unwrap());
    let mut dead = upstream(
        "dead",
        UpstreamApi::Openai,
        format!("http://127.0.0.1:{dead_port}/v1"),
        UPSTREAM_OPENAI_KEY,
        &["local-coder"],
    );
    dead.fallback = vec!["flaky".to_owned(), "backup".to_owned()];
    let config = GatewayConfig {
        upstreams: vec![
            dead,
            upstream(
                "flaky",
                UpstreamApi::Openai,
                flaky.openai_base_url(),
                UPSTREAM_OPENAI_KEY,
                &[],
            ),
            upstream(
                "backup",
                UpstreamApi::Openai,
                backup.openai_base_url(),
                UPSTREAM_OPENAI_KEY,
                &[],
            ),
        ],
        answer_after: Default::default(),
        prices: Default::default(),
    };
    let key = "aigov_dev_lena_fallback_0123456789abcdefghijklmnopq";
    let server = server_with_key(config, key).await;
    let fault = |status| standin::Fault {
        status: Some(status),
        ..Default::default()
    };
    struct Case {
        /// Status faults injected into `flaky` and `backup` for this request.
        flaky: Option<u16>,
        backup: Option<u16>,
        /// What the client sees, which upstream answered, which failed before (and how).
        status: u16,
        answered: &'static str,
        failed: &'static str,
    }
    let cases = [
        Case {
            flaky: None,
            backup: None,
            status: 200,
            answered: "flaky",
            failed: "dead:refused the connection",
        },
        Case {
            flaky: Some(503),
            backup: None,
            status: 200,
            answered: "backup",
            failed: "dead:refused the connection flaky:503",
        },
        // A 500 may mean the provider worked on it: final, not tried elsewhere.
        Case {
            flaky: Some(500),
            backup: None,
            status: 500,
            answered: "flaky",
            failed: "dead:refused the connection",
        },
        // The last upstream's answer is final, even a 429.
        Case {
            flaky: Some(503),
            backup: Some(429),
            status: 429,
            answered: "backup",
            failed: "dead:refused the connection flaky:503",
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        if let Some(s) = case.flaky {
            flaky.inject_fault(fault(s), 1).unwrap();
        }
        if let Some(s) = case.backup {
            backup.inject_fault(fault(s), 1).unwrap();
        }
        let response = server
            .client
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-aigov-tool", "aider")
            .json(&chat("local-coder", "hi", n % 2 == 1))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), case.status, "case {n}");
        let _ = response.bytes().await;
        let rows = eventually("details row", || async {
            let rows = server.events("gateway.request").await;
            (rows.len() > n).then_some(rows)
        })
        .await;
        let details = &rows[n].payload;
        assert_eq!(details["upstream"], case.answered, "case {n}: {details}");
        let fell: Vec<String> = details["fell_back_from"]
            .as_array()
            .unwrap_or_else(|| panic!("case {n}: no fell_back_from in {details}"))
            .iter()
            .map(|a| {
                let why = a["error"]
                    .as_str()
                    .map_or_else(|| a["status"].to_string(), str::to_owned);
                format!("{}:{why}", a["upstream"].as_str().unwrap())
            })
            .collect();
        assert_eq!(fell.join(" "), case.failed, "case {n}");
    }
    // The dead upstream was never reachable, and no request reached two live upstreams twice.
    assert_eq!(
        (flaky.requests().len(), backup.requests().len()),
        (4, 2),
        "requests that reached flaky and backup"
    );
}

/// Developer keys through the admin API: issued once (201, the key only in that answer),
/// listed without secrets, revoked (then refused by the gateway within the key cache's 2 s),
/// each change in the ledger; bad requests say what is wrong.
#[tokio::test]
async fn developer_keys_are_issued_and_revoked_through_the_api() {
    let g = gateway().await;
    let s = &g.server;
    let api = |method: reqwest::Method, path: &str| {
        s.client.request(method, s.url(path)).bearer_auth(&s.token)
    };
    let post = |body: Value| {
        api(reqwest::Method::POST, "/api/v1/keys")
            .json(&body)
            .send()
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (status, body)
    };

    // Refusals, each with what to fix.
    let cases = [
        (
            json!({"person": "lenna"}),
            400,
            "unknown person `lenna`: the inventory in service does not list them; did you mean `lena`?",
        ),
        (
            json!({"person": "lena", "repo": "storefront"}),
            400,
            "invalid repository `storefront`: expected `owner/name`, e.g. `acme/storefront`",
        ),
        (
            json!({"person": "lena", "team": "web"}),
            400,
            "invalid key request: unknown field `team`, expected one of `person`, `repo`, `name` at line 1 column 23",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = answer(post(body.clone()).await.unwrap()).await;
        assert_eq!(
            (got, answer["error"]["message"].as_str()),
            (status, Some(message)),
            "{body}"
        );
    }
    let anonymous = s
        .client
        .post(s.url("/api/v1/keys"))
        .json(&json!({"person": "lena"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Issue: the key once, then it works on the gateway.
    let body = json!({"person": "lena", "repo": "acme/storefront", "name": "lena-laptop"});
    let (status, issued) = answer(post(body.clone()).await.unwrap()).await;
    assert_eq!(status, 201, "{issued}");
    let key = issued["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("aigov_dev_"), "{issued}");
    assert_eq!(
        (issued["person"].as_str(), issued["repo"].as_str()),
        (Some("lena"), Some("acme/storefront"))
    );
    let (status, taken) = answer(post(body).await.unwrap()).await;
    assert_eq!(status, 409, "{taken}");
    let chat_with = |key: String| {
        s.client
            .post(s.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-aigov-tool", "aider")
            .json(&chat("local-coder", "hi", false))
            .send()
    };
    assert_eq!(
        chat_with(key.clone()).await.unwrap().status(),
        StatusCode::OK
    );

    // Listed without the key or its hash.
    let listed = api(reqwest::Method::GET, "/api/v1/keys")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("\"lena-laptop\"") && !listed.contains(&key),
        "{listed}"
    );
    assert!(
        !listed.contains(&server::token::hash_token(&key)),
        "{listed}"
    );

    // Revoke: once; the gateway refuses the key within the cache time.
    let (status, revoked) = answer(
        api(reqwest::Method::DELETE, "/api/v1/keys/lena-laptop")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (status, again) = answer(
        api(reqwest::Method::DELETE, "/api/v1/keys/lena-laptop")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, again["error"]["message"].as_str()),
        (404, Some("no active developer key named `lena-laptop`"))
    );
    eventually("the revoked key refused", || async {
        (chat_with(key.clone()).await.unwrap().status() == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;

    // Both changes are in the ledger, by the admin token's name, without the key.
    let changes: Vec<(String, String)> = s
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.kind == ledger::EntryKind::CredentialChange)
        .map(|e| (e.actor.clone(), e.subject.clone()))
        .collect();
    assert_eq!(
        changes,
        [
            ("test-admin".to_owned(), "key:lena-laptop".to_owned()),
            ("test-admin".to_owned(), "key:lena-laptop".to_owned()),
        ]
    );
    let events = s.events("key.created").await;
    assert!(!format!("{events:?}").contains(&key));
    s.verify_ledger().await;
}

//! Behaviour of the stand-in over HTTP: wire shapes, auth, faults, recording, the binary and the official SDKs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use standin::{Fault, OUTPUT_TOKENS, Options, StandIn};

const OPENAI_KEY: &str = "sk-standin-openai";
const ANTHROPIC_KEY: &str = "sk-ant-standin";
const VERSION: &str = "2023-06-01";
const PROMPT: &str = "What is the weather in Paris today?";

fn reply(chars: usize) -> String {
    format!("stand-in reply to a {chars}-character prompt")
}

fn input_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

async fn start() -> StandIn {
    standin::spawn(Options::new(OPENAI_KEY, ANTHROPIC_KEY))
        .await
        .expect("stand-in starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn openai(s: &StandIn, path: &str) -> reqwest::RequestBuilder {
    http()
        .post(format!("{}{path}", s.openai_base_url()))
        .bearer_auth(OPENAI_KEY)
}

fn anthropic(s: &StandIn, path: &str) -> reqwest::RequestBuilder {
    http()
        .post(format!("{}{path}", s.anthropic_base_url()))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", VERSION)
}

fn user(prompt: &str) -> Value {
    json!([{"role": "user", "content": prompt}])
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}})
}

fn weather_args() -> Value {
    json!({"city": "stand-in", "unit": "celsius"})
}

/// Reads a body chunk by chunk; returns what arrived and whether the connection failed.
async fn read_all(mut resp: reqwest::Response) -> (String, bool) {
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8(buf).unwrap(), false),
            Err(_) => return (String::from_utf8(buf).unwrap(), true),
        }
    }
}

/// Parses complete SSE events into (event name, data).
fn sse(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

fn data_json(events: &[(Option<String>, String)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn openai_chat_json_has_the_documented_shape() {
    let s = start().await;
    let resp = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("x-request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].is_u64());
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], reply(PROMPT.len()));
    assert!(choice["message"].get("tool_calls").is_none());
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], input_tokens(PROMPT.len()));
    assert_eq!(usage["completion_tokens"], OUTPUT_TOKENS);
    assert_eq!(
        usage["total_tokens"],
        input_tokens(PROMPT.len()) + OUTPUT_TOKENS
    );
}

#[tokio::test]
async fn openai_chat_stream_sends_deltas_usage_chunk_and_done() {
    let s = start().await;
    let resp = openai(&s, "/chat/completions")
        .json(
            &json!({"model": "gpt-4o", "messages": user(PROMPT), "stream": true,
                      "stream_options": {"include_usage": true}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (body, failed) = read_all(resp).await;
    assert!(!failed);
    let events = sse(&body);
    assert!(events.iter().all(|(name, _)| name.is_none()));
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = data_json(&events);
    assert!(chunks.len() > 4, "several chunks");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, reply(PROMPT.len()));
    // Every chunk but the last carries `usage: null`; the last has empty choices and usage.
    let (last, rest) = chunks.split_last().unwrap();
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], input_tokens(PROMPT.len()));
    assert_eq!(last["usage"]["completion_tokens"], OUTPUT_TOKENS);

    // Without include_usage there is no usage field at all.
    let resp = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT), "stream": true}))
        .send()
        .await
        .unwrap();
    let chunks = data_json(&sse(&read_all(resp).await.0));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test]
async fn openai_chat_with_tools_answers_with_a_tool_call() {
    let s = start().await;
    let tools = json!([{"type": "function",
        "function": {"name": "get_weather", "parameters": weather_schema()}}]);
    let v: Value = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT), "tools": tools}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, weather_args());

    // Streamed: the first delta names the call, the rest carry argument fragments.
    let resp = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT), "tools": tools, "stream": true}))
        .send()
        .await
        .unwrap();
    let chunks = data_json(&sse(&read_all(resp).await.0));
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["function"]["name"], "get_weather");
    assert_eq!(first["function"]["arguments"], "");
    let fragments: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert!(fragments.len() > 1);
    let args: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(args, weather_args());
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // tool_choice "none" keeps the text answer.
    let v: Value = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT), "tools": tools, "tool_choice": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], reply(PROMPT.len()));
}

#[tokio::test]
async fn openai_responses_json_and_event_stream() {
    let s = start().await;
    let v: Value = openai(&s, "/responses")
        .json(&json!({"model": "gpt-4.1", "input": PROMPT, "instructions": "Be brief."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chars = PROMPT.len() + "Be brief.".len();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["instructions"], "Be brief.");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], reply(chars));
    assert_eq!(v["usage"]["input_tokens"], input_tokens(chars));
    assert_eq!(v["usage"]["output_tokens"], OUTPUT_TOKENS);

    let resp = openai(&s, "/responses")
        .json(&json!({"model": "gpt-4.1", "input": [{"role": "user", "content": PROMPT}], "stream": true}))
        .send()
        .await
        .unwrap();
    let events = sse(&read_all(resp).await.0);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(names[0], "response.created");
    assert_eq!(names[1], "response.in_progress");
    assert_eq!(*names.last().unwrap(), "response.completed");
    assert!(names.contains(&"response.output_text.done"));
    let data = data_json(&events);
    for (i, (event, name)) in data.iter().zip(&names).enumerate() {
        assert_eq!(event["type"], *name, "event: line matches data type");
        assert_eq!(event["sequence_number"], i as u64);
    }
    let text: String = data
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, reply(PROMPT.len()));
    let done = &data.last().unwrap()["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], reply(PROMPT.len()));
    assert_eq!(
        done["usage"]["total_tokens"],
        input_tokens(PROMPT.len()) + OUTPUT_TOKENS
    );

    // With a function tool, the output is a function_call with streamed arguments.
    let tools =
        json!([{"type": "function", "name": "get_weather", "parameters": weather_schema()}]);
    let resp = openai(&s, "/responses")
        .json(&json!({"model": "gpt-4.1", "input": PROMPT, "tools": tools, "stream": true}))
        .send()
        .await
        .unwrap();
    let data = data_json(&sse(&read_all(resp).await.0));
    let args: String = data
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        weather_args()
    );
    let item = &data.last().unwrap()["response"]["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "get_weather");
}

#[tokio::test]
async fn openai_embeddings_are_deterministic_float_vectors() {
    let s = start().await;
    let embed = |body: Value| {
        let req = openai(&s, "/embeddings").json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let a = embed(
        json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"], "dimensions": 32}),
    )
    .await;
    let b =
        embed(json!({"model": "text-embedding-3-small", "input": "beta", "dimensions": 32})).await;
    assert_eq!(a["object"], "list");
    assert_eq!(a["data"].as_array().unwrap().len(), 2);
    assert_eq!(a["data"][1]["index"], 1);
    assert_eq!(a["data"][0]["object"], "embedding");
    let v0 = a["data"][0]["embedding"].as_array().unwrap();
    assert_eq!(v0.len(), 32);
    assert!(v0.iter().all(Value::is_f64));
    assert_eq!(a["data"][1]["embedding"], b["data"][0]["embedding"]);
    assert_ne!(a["data"][0]["embedding"], a["data"][1]["embedding"]);
    assert_eq!(a["usage"]["prompt_tokens"], 3);
    let default = embed(json!({"model": "text-embedding-3-small", "input": "x"})).await;
    assert_eq!(
        default["data"][0]["embedding"].as_array().unwrap().len(),
        1536
    );
    let b64 =
        embed(json!({"model": "m", "input": "x", "encoding_format": "base64", "dimensions": 8}))
            .await;
    assert_eq!(b64["data"][0]["embedding"].as_str().unwrap().len(), 44); // 32 bytes
}

#[tokio::test]
async fn models_route_answers_in_each_providers_format() {
    let s = start().await;
    let v: Value = http()
        .get(format!("{}/models", s.openai_base_url()))
        .bearer_auth(OPENAI_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "gpt-4o")
    );
    assert_eq!(v["data"][0]["object"], "model");
    let v: Value = http()
        .get(format!("{}/v1/models", s.url()))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["has_more"], false);
    assert_eq!(v["data"][0]["type"], "model");
    assert!(v["data"][0]["display_name"].is_string());
    let v: Value = http()
        .get(format!("{}/models/gpt-4o-mini", s.openai_base_url()))
        .bearer_auth(OPENAI_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], "gpt-4o-mini");
}

#[tokio::test]
async fn anthropic_messages_json_has_the_documented_shape() {
    let s = start().await;
    let resp = anthropic(&s, "/v1/messages")
        .json(&json!({"model": "claude-sonnet-4-6", "max_tokens": 100, "system": "Be brief.",
                      "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let v: Value = resp.json().await.unwrap();
    let chars = PROMPT.len() + "Be brief.".len();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4-6");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": reply(chars)}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["usage"]["input_tokens"], input_tokens(chars));
    assert_eq!(v["usage"]["output_tokens"], OUTPUT_TOKENS);
}

#[tokio::test]
async fn anthropic_stream_has_thinking_text_and_tool_use_blocks() {
    let s = start().await;
    let resp = anthropic(&s, "/v1/messages")
        .json(
            &json!({"model": "claude-sonnet-4-6", "max_tokens": 2048, "stream": true,
                      "thinking": {"type": "enabled", "budget_tokens": 1024},
                      "tools": [{"name": "get_weather", "input_schema": weather_schema()}],
                      "messages": user(PROMPT)}),
        )
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (body, failed) = read_all(resp).await;
    assert!(!failed);
    let events = sse(&body);
    let data = data_json(&events);
    for ((name, _), d) in events.iter().zip(&data) {
        assert_eq!(
            name.as_deref(),
            d["type"].as_str(),
            "event: line matches data type"
        );
    }
    let names: Vec<&str> = data.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[1], "content_block_start");
    assert_eq!(names[2], "ping");
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert_eq!(
        data[0]["message"]["usage"]["input_tokens"],
        input_tokens(PROMPT.len())
    );
    let starts: Vec<&Value> = data
        .iter()
        .filter(|d| d["type"] == "content_block_start")
        .map(|d| &d["content_block"])
        .collect();
    let kinds: Vec<&str> = starts.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["thinking", "text", "tool_use"]);
    assert_eq!(starts[2]["name"], "get_weather");
    let deltas = |index: u64, kind: &str, field: &str| -> String {
        data.iter()
            .filter(|d| {
                d["type"] == "content_block_delta"
                    && d["index"] == index
                    && d["delta"]["type"] == kind
            })
            .map(|d| d["delta"][field].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        deltas(0, "thinking_delta", "thinking"),
        format!(
            "stand-in thinking about a {}-character prompt",
            PROMPT.len()
        )
    );
    assert_eq!(
        deltas(0, "signature_delta", "signature"),
        standin::THINKING_SIGNATURE
    );
    assert_eq!(deltas(1, "text_delta", "text"), reply(PROMPT.len()));
    let input: Value =
        serde_json::from_str(&deltas(2, "input_json_delta", "partial_json")).unwrap();
    assert_eq!(input, weather_args());
    let stops = data
        .iter()
        .filter(|d| d["type"] == "content_block_stop")
        .count();
    assert_eq!(stops, 3);
    let delta = &data[data.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], OUTPUT_TOKENS);
}

#[tokio::test]
async fn anthropic_count_tokens_counts_system_and_messages() {
    let s = start().await;
    let v: Value = anthropic(&s, "/v1/messages/count_tokens")
        .json(
            &json!({"model": "claude-sonnet-4-6", "system": "Be brief.", "messages": user(PROMPT)}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"input_tokens": input_tokens(PROMPT.len() + 9)}));
}

#[tokio::test]
async fn auth_errors_use_each_providers_format() {
    let s = start().await;
    let body = json!({"model": "gpt-4o", "messages": user("hi")});
    for auth in [None, Some("wrong")] {
        let mut req = http()
            .post(format!("{}/chat/completions", s.openai_base_url()))
            .json(&body);
        if let Some(key) = auth {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let v: Value = resp.json().await.unwrap();
        let err = &v["error"];
        assert!(err["message"].is_string());
        assert_eq!(err["type"], "invalid_request_error");
        assert!(err.get("param").is_some() && err.get("code").is_some());
        if auth.is_some() {
            assert_eq!(err["code"], "invalid_api_key");
        }
    }
    // The Anthropic key does not open OpenAI routes, nor the other way round.
    let resp = http()
        .post(format!("{}/chat/completions", s.openai_base_url()))
        .bearer_auth(ANTHROPIC_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let body = json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": user("hi")});
    for key in [None, Some("wrong"), Some(OPENAI_KEY)] {
        let mut req = http()
            .post(format!("{}/v1/messages", s.url()))
            .header("anthropic-version", VERSION)
            .json(&body);
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "authentication_error");
        assert!(v["error"]["message"].is_string());
    }
    // Current Anthropic SDKs send the key as a bearer token; that works too.
    let resp = http()
        .post(format!("{}/v1/messages", s.url()))
        .header("anthropic-version", VERSION)
        .bearer_auth(ANTHROPIC_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The anthropic-version header is required, like the real API.
    let resp = http()
        .post(format!("{}/v1/messages", s.url()))
        .header("x-api-key", ANTHROPIC_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );
}

#[tokio::test]
async fn bad_json_and_missing_fields_are_400_in_provider_format() {
    let s = start().await;
    let resp = openai(&s, "/chat/completions")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("parse the JSON body")
    );

    let resp = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages");

    let resp = anthropic(&s, "/v1/messages")
        .header("content-type", "application/json")
        .body("[1,")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let resp = anthropic(&s, "/v1/messages")
        .json(&json!({"model": "claude-sonnet-4-6", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );

    let resp = http()
        .post(format!("{}/v1/nope", s.url()))
        .bearer_auth(OPENAI_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("/v1/nope"));
}

#[tokio::test]
async fn queued_status_fault_applies_the_given_number_of_times() {
    let s = start().await;
    let resp = http()
        .post(format!("{}/_standin/faults", s.url()))
        .json(&json!({"status": 500, "times": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json!({"model": "gpt-4o", "messages": user("hi")});
    for _ in 0..2 {
        let resp = openai(&s, "/chat/completions")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "server_error");
    }
    let resp = openai(&s, "/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Anthropic errors come in Anthropic's format.
    s.inject_fault(
        Fault {
            status: Some(429),
            ..Fault::default()
        },
        1,
    )
    .unwrap();
    let resp = anthropic(&s, "/v1/messages")
        .json(&json!({"model": "c", "max_tokens": 5, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");

    // Bad fault specs are refused; reset clears the queue.
    let resp = http()
        .post(format!("{}/_standin/faults", s.url()))
        .json(&json!({"status": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    s.inject_fault(
        Fault {
            status: Some(503),
            ..Fault::default()
        },
        5,
    )
    .unwrap();
    let pending: Value = http()
        .get(format!("{}/_standin/faults", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending, json!([{"status": 503, "times": 5}]));
    http()
        .post(format!("{}/_standin/reset", s.url()))
        .send()
        .await
        .unwrap();
    let resp = openai(&s, "/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn cut_fault_drops_the_stream_before_its_terminator() {
    let s = start().await;
    s.inject_fault(
        Fault {
            cut_after_events: Some(3),
            ..Fault::default()
        },
        1,
    )
    .unwrap();
    let resp = openai(&s, "/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT), "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (body, failed) = read_all(resp).await;
    assert!(failed, "the connection is dropped");
    let events = sse(&body);
    assert_eq!(events.len(), 3);
    assert!(!body.contains("[DONE]"));

    let resp = anthropic(&s, "/v1/messages")
        .header("x-standin-fault", "cut-after=4")
        .json(&json!({"model": "c", "max_tokens": 50, "stream": true, "messages": user(PROMPT)}))
        .send()
        .await
        .unwrap();
    let (body, failed) = read_all(resp).await;
    assert!(failed);
    assert_eq!(sse(&body).len(), 4);
    assert!(!body.contains("message_stop"));

    // A JSON answer is cut half-way.
    let resp = openai(&s, "/chat/completions")
        .header("x-standin-fault", "cut-after=1")
        .json(&json!({"model": "gpt-4o", "messages": user(PROMPT)}))
        .send()
        .await
        .unwrap();
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn header_fault_affects_only_its_own_request() {
    let s = start().await;
    s.inject_fault(
        Fault {
            status: Some(500),
            ..Fault::default()
        },
        1,
    )
    .unwrap();
    let body = json!({"model": "gpt-4o", "messages": user("hi")});
    let (faulty, plain) = tokio::join!(
        openai(&s, "/chat/completions")
            .header("x-standin-fault", "status=503")
            .json(&body)
            .send(),
        async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            openai(&s, "/chat/completions").json(&body).send().await
        }
    );
    let faulty = faulty.unwrap();
    assert_eq!(faulty.status(), 503);
    let v: Value = faulty.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error");
    // The header request did not use up the queued fault; the plain one did.
    assert_eq!(plain.unwrap().status(), 500);
    let resp = openai(&s, "/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let resp = openai(&s, "/chat/completions")
        .header("x-standin-fault", "explode=1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-standin-fault")
    );
}

#[tokio::test]
async fn delay_and_event_delay_faults_slow_the_answer() {
    let s = start().await;
    let body = json!({"model": "gpt-4o", "messages": user("hi"), "stream": true});
    let t = Instant::now();
    let resp = openai(&s, "/chat/completions")
        .header("x-standin-fault", "delay-ms=150")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "headers wait for the delay"
    );
    assert_eq!(resp.status(), 200);
    read_all(resp).await;

    let t = Instant::now();
    let resp = openai(&s, "/chat/completions")
        .header("x-standin-fault", "event-delay-ms=20")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (text, failed) = read_all(resp).await;
    let events = sse(&text).len();
    assert!(!failed && events > 5);
    assert!(t.elapsed() >= Duration::from_millis(20 * (events as u64 - 1)));
}

#[tokio::test]
async fn hang_fault_never_answers_until_shutdown() {
    let s = start().await;
    let body = json!({"model": "gpt-4o", "messages": user("hi")});
    let err = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/chat/completions", s.openai_base_url()))
        .bearer_auth(OPENAI_KEY)
        .header("x-standin-fault", "hang")
        .json(&body)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());

    // A hanging request is released (503) when the server shuts down.
    s.inject_fault(
        Fault {
            hang: true,
            ..Fault::default()
        },
        1,
    )
    .unwrap();
    let hung = tokio::spawn(openai(&s, "/chat/completions").json(&body).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!hung.is_finished());
    tokio::time::timeout(Duration::from_secs(5), s.shutdown())
        .await
        .expect("shutdown is prompt")
        .unwrap();
    let resp = hung.await.unwrap().unwrap();
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn requests_are_recorded_up_to_the_limit_and_reset() {
    let mut options = Options::new(OPENAI_KEY, ANTHROPIC_KEY);
    options.max_recorded = 3;
    let s = standin::spawn(options).await.unwrap();
    for i in 0..5 {
        openai(&s, "/chat/completions?trace=1")
            .header("x-test", format!("n{i}"))
            .json(&json!({"model": "gpt-4o", "messages": user(&format!("prompt {i}"))}))
            .send()
            .await
            .unwrap();
    }
    let recorded: Value = http()
        .get(format!("{}/_standin/requests", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = recorded.as_array().unwrap();
    assert_eq!(recorded.len(), 3, "only the last 3 are kept");
    let first = &recorded[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/v1/chat/completions");
    assert_eq!(first["query"], "trace=1");
    assert_eq!(first["headers"]["x-test"], "n2");
    assert_eq!(
        first["headers"]["authorization"],
        format!("Bearer {OPENAI_KEY}")
    );
    assert_eq!(first["body"]["messages"][0]["content"], "prompt 2");
    assert_eq!(s.requests()[2].headers["x-test"], "n4");
    let resp = http()
        .post(format!("{}/_standin/reset", s.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert!(s.requests().is_empty());
}

/// Kills the child process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with its base URL (read from its first stdout line).
fn start_binary() -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aigov-standin"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--openai-key", OPENAI_KEY, "--anthropic-key", ANTHROPIC_KEY])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (running, url)
}

#[test]
fn binary_refuses_non_loopback_addresses() {
    let out = Command::new(env!("CARGO_BIN_EXE_aigov-standin"))
        .args([
            "--listen",
            "0.0.0.0:0",
            "--openai-key",
            "a",
            "--anthropic-key",
            "b",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    assert!(out.stdout.is_empty());
}

#[test]
fn official_sdks_parse_the_standin() {
    // target/<profile>/aigov-standin -> target
    let bin = Path::new(env!("CARGO_BIN_EXE_aigov-standin"));
    let target = bin.parent().and_then(Path::parent).expect("target dir");
    let Some(python) = standin::sdk::python_or_skip(target, "official_sdks_parse_the_standin")
    else {
        return;
    };
    let (_server, url) = start_binary();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("STANDIN_URL", &url)
        .env("STANDIN_OPENAI_KEY", OPENAI_KEY)
        .env("STANDIN_ANTHROPIC_KEY", ANTHROPIC_KEY)
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sdk_check.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprint!("{stdout}");

    // The stand-in saw both SDKs, with their own headers.
    let recorded: Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            http()
                .get(format!("{url}/_standin/requests"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
    let agents: Vec<&str> = recorded
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["headers"]["user-agent"].as_str())
        .collect();
    assert!(
        agents.iter().any(|a| a.starts_with("OpenAI/Python")),
        "{agents:?}"
    );
    assert!(
        agents.iter().any(|a| a.starts_with("Anthropic/Python")),
        "{agents:?}"
    );
}

/// Counts the frames a body arrives in.
async fn frames(mut resp: reqwest::Response) -> (String, usize) {
    let (mut buf, mut n) = (Vec::new(), 0);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.extend_from_slice(&chunk);
        n += 1;
    }
    (String::from_utf8(buf).unwrap(), n)
}

#[tokio::test]
async fn streams_are_sent_per_event_unless_coalesced() {
    let plain = start().await;
    let mut options = Options::new(OPENAI_KEY, ANTHROPIC_KEY);
    options.coalesce_sse = true;
    let coalesced = standin::spawn(options).await.unwrap();
    let body =
        json!({"model": "claude", "max_tokens": 9, "stream": true, "messages": user(PROMPT)});
    let (a, a_frames) = frames(
        anthropic(&plain, "/v1/messages")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (b, b_frames) = frames(
        anthropic(&coalesced, "/v1/messages")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a, b, "same events either way");
    let events = sse(&a).len();
    assert!(a_frames >= events, "{a_frames} frames for {events} events");
    assert!(b_frames < events, "{b_frames} frames for {events} events");
}

/// Round-trip latency over loopback with one keep-alive connection (client included).
/// Run with `cargo test --release -p standin --test standin -- --ignored --nocapture latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn latency_report() {
    let plain = start().await;
    let mut options = Options::new(OPENAI_KEY, ANTHROPIC_KEY);
    options.coalesce_sse = true;
    let coalesced = standin::spawn(options).await.unwrap();
    let client = http();
    let chat = json!({"model": "gpt-4o", "messages": user(PROMPT)});
    let stream = json!({"model": "gpt-4o", "messages": user(PROMPT), "stream": true});
    for (name, s, body) in [
        ("chat json", &plain, &chat),
        ("chat stream, chunk per event", &plain, &stream),
        ("chat stream, coalesced", &coalesced, &stream),
    ] {
        let mut samples = Vec::with_capacity(5000);
        for i in 0..5500 {
            let t = Instant::now();
            let resp = client
                .post(format!("{}/chat/completions", s.openai_base_url()))
                .bearer_auth(OPENAI_KEY)
                .json(body)
                .send()
                .await
                .unwrap();
            resp.bytes().await.unwrap();
            if i >= 500 {
                samples.push(t.elapsed());
            }
        }
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        eprintln!(
            "{name}: p50 {:?} p90 {:?} p99 {:?} max {:?}",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            samples.last().unwrap()
        );
    }
}

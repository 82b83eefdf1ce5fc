//! Anthropic wire formats: messages (JSON and SSE), count_tokens, models.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::{Output, Sse};
use crate::content::{
    self, OUTPUT_TOKENS, PromptChars, THINKING_SIGNATURE, ToolStyle, input_tokens, json_pieces,
    reply_text, thinking_text, word_deltas,
};
use crate::error::{ApiError, Provider};

/// Bytes of tool input JSON per streamed delta.
const JSON_PIECE: usize = 8;

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::from_json(Provider::Anthropic, &e))
}

#[derive(Deserialize)]
struct MessagesRequest {
    model: Option<String>,
    max_tokens: Option<u64>,
    messages: Option<PromptChars>,
    system: Option<PromptChars>,
    stream: Option<bool>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<ThinkingConfig>,
}

#[derive(Deserialize)]
struct ThinkingConfig {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
    service_tier: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'a [Block<'a>],
    stop_reason: Option<&'static str>,
    stop_sequence: (),
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: (),
}

#[derive(Serialize)]
struct DeltaUsage {
    output_tokens: u64,
}

/// Streaming events; the tag is also the SSE `event:` name.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: &'a Message<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: &'a Block<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: usize,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta,
        usage: DeltaUsage,
    },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }
}

fn emit(sse: &mut Sse, event: &Event<'_>) {
    sse.event(Some(event.name()), event);
}

pub(crate) fn messages(body: &[u8], seq: u64) -> Result<Output, ApiError> {
    let req: MessagesRequest = parse(body)?;
    let model = match req.model {
        Some(m) if !m.is_empty() => m,
        _ => return Err(ApiError::missing(Provider::Anthropic, "model")),
    };
    if req.max_tokens.is_none() {
        return Err(ApiError::missing(Provider::Anthropic, "max_tokens"));
    }
    let chars = req
        .messages
        .ok_or_else(|| ApiError::missing(Provider::Anthropic, "messages"))?
        .0
        + req.system.map_or(0, |s| s.0);
    let thinking = req
        .thinking
        .is_some_and(|t| t.kind == "enabled" || t.kind == "adaptive");
    let tool = content::choose_tool(
        ToolStyle::Anthropic,
        req.tools.as_deref(),
        req.tool_choice.as_ref(),
    )
    .filter(|_| !content::ends_with_tool_result(body));
    let id = format!("msg_standin{seq:016}");
    let tool_id = format!("toolu_standin{seq:016}");
    let text = reply_text(chars);
    let thought = thinking.then(|| thinking_text(chars));
    let arguments = tool.as_ref().map(content::ToolCall::arguments);

    let mut blocks = Vec::with_capacity(3);
    if let Some(thought) = &thought {
        blocks.push(Block::Thinking {
            thinking: thought,
            signature: THINKING_SIGNATURE,
        });
    }
    blocks.push(Block::Text { text: &text });
    if let Some(tool) = &tool {
        blocks.push(Block::ToolUse {
            id: &tool_id,
            name: &tool.name,
            input: &tool.input,
        });
    }
    let stop_reason = if tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    let usage = |output_tokens| Usage {
        input_tokens: input_tokens(chars),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens,
        service_tier: "standard",
    };

    if !req.stream.unwrap_or(false) {
        let message = Message {
            id: &id,
            kind: "message",
            role: "assistant",
            model: &model,
            content: &blocks,
            stop_reason: Some(stop_reason),
            stop_sequence: (),
            usage: usage(OUTPUT_TOKENS),
        };
        return Ok(Output::Json(
            serde_json::to_vec(&message).unwrap_or_default(),
        ));
    }

    let start = Message {
        id: &id,
        kind: "message",
        role: "assistant",
        model: &model,
        content: &[],
        stop_reason: None,
        stop_sequence: (),
        usage: usage(1),
    };
    let mut sse = Sse::with_capacity(4096, 24);
    emit(&mut sse, &Event::MessageStart { message: &start });
    let empty = Value::Object(Default::default());
    for (index, block) in blocks.iter().enumerate() {
        let opening = match block {
            Block::Thinking { .. } => Block::Thinking {
                thinking: "",
                signature: "",
            },
            Block::Text { .. } => Block::Text { text: "" },
            Block::ToolUse { id, name, .. } => Block::ToolUse {
                id,
                name,
                input: &empty,
            },
        };
        emit(
            &mut sse,
            &Event::ContentBlockStart {
                index,
                content_block: &opening,
            },
        );
        if index == 0 {
            emit(&mut sse, &Event::Ping);
        }
        let mut delta = |delta| emit(&mut sse, &Event::ContentBlockDelta { index, delta });
        match block {
            Block::Thinking {
                thinking,
                signature,
            } => {
                for word in word_deltas(thinking) {
                    delta(Delta::Thinking { thinking: word });
                }
                delta(Delta::Signature { signature });
            }
            Block::Text { text } => {
                for word in word_deltas(text) {
                    delta(Delta::Text { text: word });
                }
            }
            Block::ToolUse { .. } => {
                delta(Delta::InputJson { partial_json: "" });
                for piece in json_pieces(arguments.as_deref().unwrap_or("{}"), JSON_PIECE) {
                    delta(Delta::InputJson {
                        partial_json: piece,
                    });
                }
            }
        }
        emit(&mut sse, &Event::ContentBlockStop { index });
    }
    emit(
        &mut sse,
        &Event::MessageDelta {
            delta: StopDelta {
                stop_reason,
                stop_sequence: (),
            },
            usage: DeltaUsage {
                output_tokens: OUTPUT_TOKENS,
            },
        },
    );
    emit(&mut sse, &Event::MessageStop);
    Ok(Output::Sse(sse))
}

#[derive(Deserialize)]
struct CountRequest {
    model: Option<String>,
    messages: Option<PromptChars>,
    system: Option<PromptChars>,
}

pub(crate) fn count_tokens(body: &[u8]) -> Result<Output, ApiError> {
    let req: CountRequest = parse(body)?;
    if req.model.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::missing(Provider::Anthropic, "model"));
    }
    let chars = req
        .messages
        .ok_or_else(|| ApiError::missing(Provider::Anthropic, "messages"))?
        .0
        + req.system.map_or(0, |s| s.0);
    #[derive(Serialize)]
    struct Count {
        input_tokens: u64,
    }
    let count = Count {
        input_tokens: input_tokens(chars),
    };
    Ok(Output::Json(serde_json::to_vec(&count).unwrap_or_default()))
}

/// The models `GET /v1/models` lists for Anthropic clients: (id, display name).
pub const MODELS: &[(&str, &str)] = &[
    ("claude-opus-4-7", "Claude Opus 4.7"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
];

#[derive(Serialize)]
struct ModelInfo<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'static str,
    lifecycle: &'static str,
}

fn model_info<'a>(id: &'a str, display_name: &'a str) -> ModelInfo<'a> {
    ModelInfo {
        kind: "model",
        id,
        display_name,
        created_at: "2025-01-01T00:00:00Z",
        lifecycle: "active",
    }
}

pub(crate) fn models_json() -> Vec<u8> {
    #[derive(Serialize)]
    struct Page<'a> {
        data: Vec<ModelInfo<'a>>,
        has_more: bool,
        first_id: Option<&'a str>,
        last_id: Option<&'a str>,
    }
    let page = Page {
        data: MODELS
            .iter()
            .map(|(id, name)| model_info(id, name))
            .collect(),
        has_more: false,
        first_id: MODELS.first().map(|m| m.0),
        last_id: MODELS.last().map(|m| m.0),
    };
    serde_json::to_vec(&page).unwrap_or_default()
}

pub(crate) fn model_json(id: &str) -> Vec<u8> {
    let name = MODELS.iter().find(|m| m.0 == id).map_or(id, |m| m.1);
    serde_json::to_vec(&model_info(id, name)).unwrap_or_default()
}

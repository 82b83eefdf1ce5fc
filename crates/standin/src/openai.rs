//! OpenAI wire formats: chat completions, responses, embeddings, models.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::{Output, Sse};
use crate::content::{
    self, OUTPUT_TOKENS, PromptChars, ToolCall, ToolStyle, input_tokens, json_pieces, reply_text,
    word_deltas,
};
use crate::error::{ApiError, Provider};

/// `created` / `created_at` of every generated object (2025-01-01T00:00:00Z).
pub(crate) const CREATED: u64 = 1_735_689_600;
const FINGERPRINT: &str = "fp_standin";
/// Bytes of tool-call arguments per streamed delta.
const ARG_PIECE: usize = 8;

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::from_json(Provider::OpenAi, &e))
}

fn require_model(model: Option<String>) -> Result<String, ApiError> {
    match model {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(ApiError::bad_request("you must provide a model parameter")),
    }
}

// ---------------------------------------------------------------- chat completions

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Option<PromptChars>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Serialize)]
struct ChatUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptTokensDetails,
    completion_tokens_details: CompletionTokensDetails,
}

#[derive(Serialize)]
struct PromptTokensDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
struct CompletionTokensDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl ChatUsage {
    fn new(prompt: u64) -> ChatUsage {
        ChatUsage {
            prompt_tokens: prompt,
            completion_tokens: OUTPUT_TOKENS,
            total_tokens: prompt + OUTPUT_TOKENS,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: 0,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionTokensDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChatChoice<'a>; 1],
    usage: ChatUsage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct ChatChoice<'a> {
    index: u32,
    message: ChatMessage<'a>,
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: (),
    annotations: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[MessageToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct MessageToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ChatChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless `include_usage`; then `null` on every chunk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a ChatUsage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[DeltaToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct DeltaToolCall<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: DeltaFunction<'a>,
}

#[derive(Serialize)]
struct DeltaFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

pub(crate) fn chat_completions(body: &[u8], seq: u64) -> Result<Output, ApiError> {
    let req: ChatRequest = parse(body)?;
    let model = require_model(req.model)?;
    let chars = req
        .messages
        .ok_or_else(|| ApiError::missing(Provider::OpenAi, "messages"))?
        .0;
    let tool = content::choose_tool(
        ToolStyle::OpenAiChat,
        req.tools.as_deref(),
        req.tool_choice.as_ref(),
    )
    .filter(|_| !content::ends_with_tool_result(body));
    let usage = ChatUsage::new(input_tokens(chars));
    let id = format!("chatcmpl-standin{seq:013}");
    let call_id = format!("call_standin{seq:012}");
    let text = reply_text(chars);
    let arguments = tool.as_ref().map(ToolCall::arguments);

    if !req.stream.unwrap_or(false) {
        let completion = ChatCompletion {
            id: &id,
            object: "chat.completion",
            created: CREATED,
            model: &model,
            choices: [ChatChoice {
                index: 0,
                message: ChatMessage {
                    role: "assistant",
                    content: if tool.is_some() { None } else { Some(&text) },
                    refusal: (),
                    annotations: [],
                    tool_calls: tool.as_ref().map(|t| {
                        [MessageToolCall {
                            id: &call_id,
                            kind: "function",
                            function: FunctionCall {
                                name: &t.name,
                                arguments: arguments.as_deref().unwrap_or("{}"),
                            },
                        }]
                    }),
                },
                logprobs: (),
                finish_reason: if tool.is_some() { "tool_calls" } else { "stop" },
            }],
            usage,
            service_tier: "default",
            system_fingerprint: FINGERPRINT,
        };
        return Ok(Output::Json(
            serde_json::to_vec(&completion).unwrap_or_default(),
        ));
    }

    let include_usage = req
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let mut sse = Sse::with_capacity(2048, 12);
    let chunk = |sse: &mut Sse, delta: Delta<'_>, finish: Option<&'static str>| {
        let choices = [ChunkChoice {
            index: 0,
            delta,
            logprobs: (),
            finish_reason: finish,
        }];
        sse.event(
            None,
            &ChatChunk {
                id: &id,
                object: "chat.completion.chunk",
                created: CREATED,
                model: &model,
                service_tier: "default",
                system_fingerprint: FINGERPRINT,
                choices: &choices,
                usage: include_usage.then_some(None),
            },
        );
    };
    match (&tool, &arguments) {
        (Some(tool), Some(arguments)) => {
            chunk(
                &mut sse,
                Delta {
                    role: Some("assistant"),
                    content: Some(None),
                    refusal: Some(()),
                    tool_calls: Some([DeltaToolCall {
                        index: 0,
                        id: Some(&call_id),
                        kind: Some("function"),
                        function: DeltaFunction {
                            name: Some(&tool.name),
                            arguments: "",
                        },
                    }]),
                },
                None,
            );
            for piece in json_pieces(arguments, ARG_PIECE) {
                chunk(
                    &mut sse,
                    Delta {
                        tool_calls: Some([DeltaToolCall {
                            index: 0,
                            id: None,
                            kind: None,
                            function: DeltaFunction {
                                name: None,
                                arguments: piece,
                            },
                        }]),
                        ..Delta::default()
                    },
                    None,
                );
            }
            chunk(&mut sse, Delta::default(), Some("tool_calls"));
        }
        _ => {
            chunk(
                &mut sse,
                Delta {
                    role: Some("assistant"),
                    content: Some(Some("")),
                    refusal: Some(()),
                    tool_calls: None,
                },
                None,
            );
            for word in word_deltas(&text) {
                chunk(
                    &mut sse,
                    Delta {
                        content: Some(Some(word)),
                        ..Delta::default()
                    },
                    None,
                );
            }
            chunk(&mut sse, Delta::default(), Some("stop"));
        }
    }
    if include_usage {
        sse.event(
            None,
            &ChatChunk {
                id: &id,
                object: "chat.completion.chunk",
                created: CREATED,
                model: &model,
                service_tier: "default",
                system_fingerprint: FINGERPRINT,
                choices: &[],
                usage: Some(Some(&usage)),
            },
        );
    }
    sse.raw_data("[DONE]");
    Ok(Output::Sse(sse))
}

// ---------------------------------------------------------------- responses

#[derive(Deserialize)]
struct ResponsesRequest {
    model: Option<String>,
    input: Option<PromptChars>,
    instructions: Option<String>,
    stream: Option<bool>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_output_tokens: Option<u64>,
    metadata: Option<Value>,
    parallel_tool_calls: Option<bool>,
    previous_response_id: Option<String>,
    store: Option<bool>,
}

#[derive(Serialize)]
struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    background: bool,
    completed_at: Option<u64>,
    error: (),
    incomplete_details: (),
    instructions: Option<&'a str>,
    max_output_tokens: Option<u64>,
    max_tool_calls: (),
    model: &'a str,
    output: &'a [OutputItem<'a>],
    parallel_tool_calls: bool,
    previous_response_id: Option<&'a str>,
    reasoning: Reasoning,
    service_tier: &'static str,
    store: bool,
    temperature: f64,
    text: TextConfig,
    tool_choice: &'a Value,
    tools: &'a [Value],
    top_logprobs: u32,
    top_p: f64,
    truncation: &'static str,
    usage: Option<&'a ResponseUsage>,
    user: (),
    metadata: &'a Value,
}

#[derive(Serialize)]
struct Reasoning {
    effort: (),
    summary: (),
}

#[derive(Serialize)]
struct TextConfig {
    format: TextFormat,
    verbosity: &'static str,
}

#[derive(Serialize)]
struct TextFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ResponseUsage {
    input_tokens: u64,
    input_tokens_details: InputTokensDetails,
    output_tokens: u64,
    output_tokens_details: OutputTokensDetails,
    total_tokens: u64,
}

#[derive(Serialize)]
struct InputTokensDetails {
    cached_tokens: u64,
    cache_write_tokens: u64,
}

#[derive(Serialize)]
struct OutputTokensDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutputItem<'a> {
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        content: &'a [OutputText<'a>],
    },
    FunctionCall {
        id: &'a str,
        status: &'static str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
}

#[derive(Serialize)]
struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
    logprobs: [(); 0],
}

impl<'a> OutputText<'a> {
    fn new(text: &'a str) -> OutputText<'a> {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

/// Streaming events of the Responses API; the tag is also the SSE `event:` name.
#[derive(Serialize)]
#[serde(tag = "type")]
enum ResponseEvent<'a> {
    #[serde(rename = "response.created")]
    Created {
        response: &'a ResponseObject<'a>,
        sequence_number: u64,
    },
    #[serde(rename = "response.in_progress")]
    InProgress {
        response: &'a ResponseObject<'a>,
        sequence_number: u64,
    },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: u32,
        item: &'a OutputItem<'a>,
        sequence_number: u64,
    },
    #[serde(rename = "response.content_part.added")]
    PartAdded {
        item_id: &'a str,
        output_index: u32,
        content_index: u32,
        part: &'a OutputText<'a>,
        sequence_number: u64,
    },
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        item_id: &'a str,
        output_index: u32,
        content_index: u32,
        delta: &'a str,
        logprobs: [(); 0],
        sequence_number: u64,
    },
    #[serde(rename = "response.output_text.done")]
    TextDone {
        item_id: &'a str,
        output_index: u32,
        content_index: u32,
        text: &'a str,
        logprobs: [(); 0],
        sequence_number: u64,
    },
    #[serde(rename = "response.content_part.done")]
    PartDone {
        item_id: &'a str,
        output_index: u32,
        content_index: u32,
        part: &'a OutputText<'a>,
        sequence_number: u64,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        item_id: &'a str,
        output_index: u32,
        delta: &'a str,
        sequence_number: u64,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: &'a str,
        output_index: u32,
        name: &'a str,
        arguments: &'a str,
        sequence_number: u64,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: u32,
        item: &'a OutputItem<'a>,
        sequence_number: u64,
    },
    #[serde(rename = "response.completed")]
    Completed {
        response: &'a ResponseObject<'a>,
        sequence_number: u64,
    },
}

impl ResponseEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            ResponseEvent::Created { .. } => "response.created",
            ResponseEvent::InProgress { .. } => "response.in_progress",
            ResponseEvent::ItemAdded { .. } => "response.output_item.added",
            ResponseEvent::PartAdded { .. } => "response.content_part.added",
            ResponseEvent::TextDelta { .. } => "response.output_text.delta",
            ResponseEvent::TextDone { .. } => "response.output_text.done",
            ResponseEvent::PartDone { .. } => "response.content_part.done",
            ResponseEvent::ArgumentsDelta { .. } => "response.function_call_arguments.delta",
            ResponseEvent::ArgumentsDone { .. } => "response.function_call_arguments.done",
            ResponseEvent::ItemDone { .. } => "response.output_item.done",
            ResponseEvent::Completed { .. } => "response.completed",
        }
    }
}

/// Sequence numbers of streamed events.
struct Counter(u64);

impl Counter {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0 - 1
    }
}

pub(crate) fn responses(body: &[u8], seq: u64) -> Result<Output, ApiError> {
    let req: ResponsesRequest = parse(body)?;
    let model = require_model(req.model)?;
    let chars = req.input.map_or(0, |c| c.0)
        + req
            .instructions
            .as_deref()
            .map_or(0, |s| s.chars().count() as u64);
    let tool = content::choose_tool(
        ToolStyle::OpenAiResponses,
        req.tools.as_deref(),
        req.tool_choice.as_ref(),
    );
    let prompt = input_tokens(chars);
    let usage = ResponseUsage {
        input_tokens: prompt,
        input_tokens_details: InputTokensDetails {
            cached_tokens: 0,
            cache_write_tokens: 0,
        },
        output_tokens: OUTPUT_TOKENS,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: 0,
        },
        total_tokens: prompt + OUTPUT_TOKENS,
    };
    let id = format!("resp_standin{seq:016}");
    let item_id = if tool.is_some() {
        format!("fc_standin{seq:016}")
    } else {
        format!("msg_standin{seq:016}")
    };
    let call_id = format!("call_standin{seq:012}");
    let text = reply_text(chars);
    let arguments = tool.as_ref().map(ToolCall::arguments);
    let parts = [OutputText::new(&text)];
    let done_item = match (&tool, &arguments) {
        (Some(tool), Some(arguments)) => OutputItem::FunctionCall {
            id: &item_id,
            status: "completed",
            call_id: &call_id,
            name: &tool.name,
            arguments,
        },
        _ => OutputItem::Message {
            id: &item_id,
            status: "completed",
            role: "assistant",
            content: &parts,
        },
    };
    let done_output = [done_item];
    let empty_object = Value::Object(Default::default());
    let auto = Value::String("auto".to_owned());
    let tools = req.tools.as_deref().unwrap_or(&[]);
    let make = |status, output, usage, completed_at| ResponseObject {
        id: &id,
        object: "response",
        created_at: CREATED,
        status,
        background: false,
        completed_at,
        error: (),
        incomplete_details: (),
        instructions: req.instructions.as_deref(),
        max_output_tokens: req.max_output_tokens,
        max_tool_calls: (),
        model: &model,
        output,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        previous_response_id: req.previous_response_id.as_deref(),
        reasoning: Reasoning {
            effort: (),
            summary: (),
        },
        service_tier: "default",
        store: req.store.unwrap_or(true),
        temperature: req.temperature.unwrap_or(1.0),
        text: TextConfig {
            format: TextFormat { kind: "text" },
            verbosity: "medium",
        },
        tool_choice: req.tool_choice.as_ref().unwrap_or(&auto),
        tools,
        top_logprobs: 0,
        top_p: req.top_p.unwrap_or(1.0),
        truncation: "disabled",
        usage,
        user: (),
        metadata: req.metadata.as_ref().unwrap_or(&empty_object),
    };
    let done = make("completed", &done_output, Some(&usage), Some(CREATED));
    if !req.stream.unwrap_or(false) {
        return Ok(Output::Json(serde_json::to_vec(&done).unwrap_or_default()));
    }

    let started = make("in_progress", &[], None, None);
    let mut sse = Sse::with_capacity(8192, 16);
    let mut n = Counter(0);
    let emit = |sse: &mut Sse, event: &ResponseEvent<'_>| sse.event(Some(event.name()), event);
    emit(
        &mut sse,
        &ResponseEvent::Created {
            response: &started,
            sequence_number: n.next(),
        },
    );
    emit(
        &mut sse,
        &ResponseEvent::InProgress {
            response: &started,
            sequence_number: n.next(),
        },
    );
    match (&tool, &arguments) {
        (Some(tool), Some(arguments)) => {
            let added = OutputItem::FunctionCall {
                id: &item_id,
                status: "in_progress",
                call_id: &call_id,
                name: &tool.name,
                arguments: "",
            };
            emit(
                &mut sse,
                &ResponseEvent::ItemAdded {
                    output_index: 0,
                    item: &added,
                    sequence_number: n.next(),
                },
            );
            for piece in json_pieces(arguments, ARG_PIECE) {
                emit(
                    &mut sse,
                    &ResponseEvent::ArgumentsDelta {
                        item_id: &item_id,
                        output_index: 0,
                        delta: piece,
                        sequence_number: n.next(),
                    },
                );
            }
            emit(
                &mut sse,
                &ResponseEvent::ArgumentsDone {
                    item_id: &item_id,
                    output_index: 0,
                    name: &tool.name,
                    arguments,
                    sequence_number: n.next(),
                },
            );
        }
        _ => {
            let added = OutputItem::Message {
                id: &item_id,
                status: "in_progress",
                role: "assistant",
                content: &[],
            };
            let empty = OutputText::new("");
            emit(
                &mut sse,
                &ResponseEvent::ItemAdded {
                    output_index: 0,
                    item: &added,
                    sequence_number: n.next(),
                },
            );
            emit(
                &mut sse,
                &ResponseEvent::PartAdded {
                    item_id: &item_id,
                    output_index: 0,
                    content_index: 0,
                    part: &empty,
                    sequence_number: n.next(),
                },
            );
            for word in word_deltas(&text) {
                emit(
                    &mut sse,
                    &ResponseEvent::TextDelta {
                        item_id: &item_id,
                        output_index: 0,
                        content_index: 0,
                        delta: word,
                        logprobs: [],
                        sequence_number: n.next(),
                    },
                );
            }
            emit(
                &mut sse,
                &ResponseEvent::TextDone {
                    item_id: &item_id,
                    output_index: 0,
                    content_index: 0,
                    text: &text,
                    logprobs: [],
                    sequence_number: n.next(),
                },
            );
            emit(
                &mut sse,
                &ResponseEvent::PartDone {
                    item_id: &item_id,
                    output_index: 0,
                    content_index: 0,
                    part: &parts[0],
                    sequence_number: n.next(),
                },
            );
        }
    }
    emit(
        &mut sse,
        &ResponseEvent::ItemDone {
            output_index: 0,
            item: &done_output[0],
            sequence_number: n.next(),
        },
    );
    emit(
        &mut sse,
        &ResponseEvent::Completed {
            response: &done,
            sequence_number: n.next(),
        },
    );
    Ok(Output::Sse(sse))
}

// ---------------------------------------------------------------- embeddings

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: Option<String>,
    input: Option<EmbeddingInput>,
    dimensions: Option<usize>,
    encoding_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u64>),
    TokenLists(Vec<Vec<u64>>),
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// Most dimensions an embedding request may ask for.
const MAX_DIMENSIONS: usize = 8192;

pub(crate) fn embeddings(body: &[u8]) -> Result<Output, ApiError> {
    let req: EmbeddingsRequest = parse(body)?;
    let model = require_model(req.model)?;
    let input = req
        .input
        .ok_or_else(|| ApiError::missing(Provider::OpenAi, "input"))?;
    let dims = match req.dimensions {
        Some(d) if d == 0 || d > MAX_DIMENSIONS => {
            return Err(ApiError::bad_request(format!(
                "dimensions must be between 1 and {MAX_DIMENSIONS}"
            ))
            .param("dimensions"));
        }
        Some(d) => d,
        None if model.contains("large") => 3072,
        None => 1536,
    };
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "'{other}' is not one of ['float', 'base64'] - 'encoding_format'"
            ))
            .param("encoding_format"));
        }
    };
    // Each input as (seed bytes, tokens).
    let items: Vec<(Vec<u8>, u64)> = match input {
        EmbeddingInput::One(s) => vec![text_item(s)],
        EmbeddingInput::Many(v) => v.into_iter().map(text_item).collect(),
        EmbeddingInput::Tokens(t) => vec![token_item(&t)],
        EmbeddingInput::TokenLists(v) => v.iter().map(|t| token_item(t)).collect(),
    };
    if items.is_empty() {
        return Err(
            ApiError::bad_request("'$.input' is invalid: it must not be empty").param("input"),
        );
    }
    let tokens: u64 = items.iter().map(|(_, t)| t).sum();
    let data = items
        .iter()
        .enumerate()
        .map(|(index, (seed, _))| {
            let v = content::embedding(seed, dims);
            let embedding = if base64 {
                let mut bytes = Vec::with_capacity(v.len() * 4);
                for f in &v {
                    bytes.extend_from_slice(&f.to_le_bytes());
                }
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Float(v)
            };
            Embedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: &model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    Ok(Output::Json(serde_json::to_vec(&list).unwrap_or_default()))
}

fn text_item(s: String) -> (Vec<u8>, u64) {
    let tokens = input_tokens(s.chars().count() as u64);
    (s.into_bytes(), tokens)
}

fn token_item(tokens: &[u64]) -> (Vec<u8>, u64) {
    let mut seed = Vec::with_capacity(tokens.len() * 8 + 1);
    seed.push(0xff); // keeps token input apart from text input
    for t in tokens {
        seed.extend_from_slice(&t.to_le_bytes());
    }
    (seed, tokens.len() as u64)
}

// ---------------------------------------------------------------- models

/// The models `GET /v1/models` lists (any model name is accepted by the other routes).
pub const MODELS: &[&str] = &[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "o3-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

fn model(id: &str) -> Model<'_> {
    Model {
        id,
        object: "model",
        created: CREATED,
        owned_by: "system",
    }
}

pub(crate) fn models_json() -> Vec<u8> {
    #[derive(Serialize)]
    struct List<'a> {
        object: &'static str,
        data: Vec<Model<'a>>,
    }
    let list = List {
        object: "list",
        data: MODELS.iter().map(|id| model(id)).collect(),
    };
    serde_json::to_vec(&list).unwrap_or_default()
}

pub(crate) fn model_json(id: &str) -> Vec<u8> {
    serde_json::to_vec(&model(id)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(out: Output) -> Value {
        match out {
            Output::Json(v) => serde_json::from_slice(&v).unwrap(),
            Output::Sse(_) => panic!("expected JSON"),
        }
    }

    #[test]
    fn chat_usage_counts_prompt_characters() {
        let out = chat_completions(
            br#"{"model":"m","messages":[{"role":"user","content":"123456789"}]}"#,
            7,
        )
        .unwrap();
        let v = json(out);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "stand-in reply to a 9-character prompt"
        );
        assert_eq!(v["id"], "chatcmpl-standin0000000000007");
    }

    #[test]
    fn embeddings_base64_decodes_to_the_float_vector() {
        let f = json(embeddings(br#"{"model":"m","input":"abc","dimensions":4}"#).unwrap());
        let b = json(
            embeddings(br#"{"model":"m","input":"abc","dimensions":4,"encoding_format":"base64"}"#)
                .unwrap(),
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f64> = bytes
            .chunks(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect();
        let expected: Vec<f64> = f["data"][0]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(floats.len(), 4);
        for (a, b) in floats.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}

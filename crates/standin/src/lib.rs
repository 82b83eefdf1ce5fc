//! A local stand-in for the OpenAI and Anthropic HTTP APIs, for tests and load runs without internet.
//!
//! It speaks the public wire formats (JSON and server-sent events) of OpenAI's chat completions,
//! responses, embeddings and models routes and Anthropic's messages, count_tokens and models
//! routes, with deterministic content derived from the request. It records what it was sent
//! (`GET /_standin/requests`) and fails on request (`POST /_standin/faults` or a
//! `x-standin-fault` request header). See the crate's README for the details.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let standin = standin::spawn(standin::Options::new("sk-test", "sk-ant-test")).await?;
//! let openai_base = standin.openai_base_url(); // http://127.0.0.1:PORT/v1
//! # let _ = openai_base;
//! standin.shutdown().await
//! # }
//! ```

mod anthropic;
mod body;
mod content;
mod error;
mod fault;
pub mod github;
mod openai;
pub mod sdk;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::body::{Frames, Output};
pub use crate::content::{
    OUTPUT_TOKENS, THINKING_SIGNATURE, input_tokens, reply_text, thinking_text,
};
use crate::error::{ApiError, Provider};
pub use crate::fault::Fault;

/// Largest request body accepted (bigger ones get 413).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How the stand-in behaves. `Options::new` gives the defaults: quiet, recording the last
/// 10,000 requests.
#[derive(Clone)]
pub struct Options {
    /// The key OpenAI routes require as `Authorization: Bearer <key>`.
    pub openai_key: String,
    /// The key Anthropic routes require as `x-api-key: <key>`.
    pub anthropic_key: String,
    /// No line per request on stderr (the default).
    pub quiet: bool,
    /// Keep requests for `GET /_standin/requests`.
    pub record: bool,
    /// How many recorded requests to keep (the oldest are dropped first).
    pub max_recorded: usize,
    /// Send each SSE stream in one write instead of one chunk per event (a leaner baseline
    /// for latency runs; streams that are cut or slowed by a fault stay per event).
    pub coalesce_sse: bool,
}

impl Options {
    pub fn new(openai_key: impl Into<String>, anthropic_key: impl Into<String>) -> Options {
        Options {
            openai_key: openai_key.into(),
            anthropic_key: anthropic_key.into(),
            quiet: true,
            record: true,
            max_recorded: 10_000,
            coalesce_sse: false,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("openai_key", &"<redacted>")
            .field("anthropic_key", &"<redacted>")
            .field("quiet", &self.quiet)
            .field("record", &self.record)
            .field("max_recorded", &self.max_recorded)
            .field("coalesce_sse", &self.coalesce_sse)
            .finish()
    }
}

/// A request as the stand-in received it (`GET /_standin/requests` serves these as JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// Arrival order, from 0 since the server started (not reset by `reset`).
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The body as JSON; a string when it is not JSON, `null` when empty.
    pub body: serde_json::Value,
}

struct Recorded {
    seq: u64,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn to_public(&self) -> RecordedRequest {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let body = if self.body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&self.body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&self.body).into_owned())
            })
        };
        RecordedRequest {
            seq: self.seq,
            method: self.method.to_string(),
            path: self.uri.path().to_owned(),
            query: self.uri.query().map(str::to_owned),
            headers,
            body,
        }
    }
}

/// State shared by all requests.
struct Shared {
    openai_key: Box<str>,
    anthropic_key: Box<str>,
    quiet: bool,
    record: bool,
    max_recorded: usize,
    coalesce_sse: bool,
    seq: AtomicU64,
    requests: Mutex<VecDeque<Recorded>>,
    faults: fault::FaultQueue,
    /// Set to true when the server shuts down; releases hanging requests.
    stopping: watch::Sender<bool>,
    /// [`Abandoned::before_answer`].
    abandoned_requests: AtomicU64,
    /// [`Abandoned::mid_stream`] (shared with the stream bodies).
    abandoned_streams: Arc<AtomicU64>,
}

impl Shared {
    fn new(options: Options) -> Shared {
        Shared {
            openai_key: options.openai_key.into(),
            anthropic_key: options.anthropic_key.into(),
            quiet: options.quiet,
            record: options.record && options.max_recorded > 0,
            max_recorded: options.max_recorded,
            coalesce_sse: options.coalesce_sse,
            seq: AtomicU64::new(0),
            requests: Mutex::new(VecDeque::new()),
            faults: fault::FaultQueue::default(),
            stopping: watch::channel(false).0,
            abandoned_requests: AtomicU64::new(0),
            abandoned_streams: Arc::new(AtomicU64::new(0)),
        }
    }

    fn record(&self, recorded: Recorded) {
        let mut q = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= self.max_recorded {
            q.pop_front();
        }
        q.push_back(recorded);
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        let q = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().map(Recorded::to_public).collect()
    }

    fn reset(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.faults.clear();
    }

    fn abandoned(&self) -> Abandoned {
        Abandoned {
            before_answer: self.abandoned_requests.load(Ordering::Relaxed),
            mid_stream: self.abandoned_streams.load(Ordering::Relaxed),
        }
    }

    async fn until_stopping(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|stopping| *stopping).await;
    }
}

/// Answers the client gave up on, counted since the server started (not reset by `reset`):
/// how a test sees that a proxy in front of the stand-in cancelled its upstream request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Abandoned {
    /// Model requests whose handling was dropped before the answer was ready (the client hung
    /// up during a fault's `delay_ms` or `hang`, or while the body was being read).
    pub before_answer: u64,
    /// Streamed (SSE) answers dropped before their last event (the client hung up mid-stream).
    pub mid_stream: u64,
}

/// Counts a request in [`Abandoned::before_answer`] if dropped before it is disarmed.
struct Unanswered<'a> {
    counter: &'a AtomicU64,
    answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The routes a request can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    ChatCompletions,
    Responses,
    Embeddings,
    Models,
    Model,
    Messages,
    CountTokens,
    NotFound,
}

impl Endpoint {
    fn provider(self, headers: &HeaderMap) -> Provider {
        match self {
            Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => {
                Provider::OpenAi
            }
            Endpoint::Messages | Endpoint::CountTokens => Provider::Anthropic,
            // Both providers serve /v1/models: Anthropic clients send these headers.
            Endpoint::Models | Endpoint::Model | Endpoint::NotFound => {
                if headers.contains_key("anthropic-version")
                    || (headers.contains_key("x-api-key") && !headers.contains_key("authorization"))
                {
                    Provider::Anthropic
                } else {
                    Provider::OpenAi
                }
            }
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    (value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer ")).then(|| &value[7..])
}

fn authorized(shared: &Shared, provider: Provider, headers: &HeaderMap) -> Result<(), ApiError> {
    match provider {
        Provider::OpenAi => {
            let Some(value) = headers.get("authorization") else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "You didn't provide an API key. You need to provide your API key in an \
                     Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                ));
            };
            if bearer(value.as_bytes()) == Some(shared.openai_key.as_bytes()) {
                Ok(())
            } else {
                Err(
                    ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect API key provided.")
                        .code("invalid_api_key"),
                )
            }
        }
        // `x-api-key`, or (as current Anthropic SDKs send API keys) `Authorization: Bearer`.
        Provider::Anthropic => {
            let key = match (headers.get("x-api-key"), headers.get("authorization")) {
                (Some(v), _) => v.as_bytes(),
                (None, Some(v)) => bearer(v.as_bytes()).unwrap_or(b""),
                (None, None) => {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "x-api-key header is required",
                    ));
                }
            };
            if key == shared.anthropic_key.as_bytes() {
                Ok(())
            } else {
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid x-api-key"))
            }
        }
    }
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream; charset=utf-8");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

fn request_id_header(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenAi => "x-request-id",
        Provider::Anthropic => "request-id",
    }
}

fn finish(mut response: Response, provider: Provider, seq: u64) -> Response {
    if let Ok(id) = HeaderValue::try_from(format!("req_standin{seq:016}")) {
        response
            .headers_mut()
            .insert(request_id_header(provider), id);
    }
    response
}

fn error_response(provider: Provider, seq: u64, err: &ApiError) -> Response {
    let mut response = Response::new(Body::from(err.to_json(provider)));
    *response.status_mut() = err.status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    finish(response, provider, seq)
}

fn output_response(
    shared: &Shared,
    provider: Provider,
    seq: u64,
    output: Output,
    fault: Option<&Fault>,
) -> Response {
    let cut = fault.and_then(|f| f.cut_after_events);
    let delay = fault
        .and_then(|f| f.event_delay_ms)
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let mut response = match output {
        Output::Json(json) => {
            let mut r = if cut.is_some() {
                Response::new(Body::new(Frames::cut_json(json)))
            } else {
                Response::new(Body::from(json))
            };
            r.headers_mut().insert(CONTENT_TYPE, JSON);
            r
        }
        Output::Sse(sse) => {
            let frames = Frames::sse(
                sse,
                cut,
                delay,
                shared.coalesce_sse,
                shared.abandoned_streams.clone(),
            );
            let mut r = Response::new(Body::new(frames));
            r.headers_mut().insert(CONTENT_TYPE, EVENT_STREAM);
            r.headers_mut().insert("cache-control", NO_CACHE);
            r
        }
    };
    *response.status_mut() = StatusCode::OK;
    finish(response, provider, seq)
}

/// Everything a model request goes through: record, auth, faults, then the answer.
async fn handle(shared: Arc<Shared>, endpoint: Endpoint, request: Request) -> Response {
    let started = (!shared.quiet).then(Instant::now);
    let (parts, body) = request.into_parts();
    let provider = endpoint.provider(&parts.headers);
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let log_line = started.map(|_| format!("{} {}", parts.method, parts.uri));
    let mut unanswered = Unanswered {
        counter: &shared.abandoned_requests,
        answered: false,
    };
    let response = answer(&shared, endpoint, provider, seq, parts, body).await;
    unanswered.answered = true;
    if let (Some(started), Some(line)) = (started, log_line) {
        eprintln!(
            "standin: {line} -> {} in {} µs",
            response.status().as_u16(),
            started.elapsed().as_micros()
        );
    }
    response
}

async fn answer(
    shared: &Shared,
    endpoint: Endpoint,
    provider: Provider,
    seq: u64,
    parts: axum::http::request::Parts,
    body: Body,
) -> Response {
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let err = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than {MAX_BODY_BYTES} bytes or was not received."),
            );
            return error_response(provider, seq, &err);
        }
    };
    // Everything needed from the headers is taken before they move into the record.
    let auth = match endpoint {
        Endpoint::NotFound => Ok(()),
        _ => authorized(shared, provider, &parts.headers),
    };
    let version_missing =
        provider == Provider::Anthropic && !parts.headers.contains_key("anthropic-version");
    let header_fault = parts.headers.get("x-standin-fault").map(|v| {
        v.to_str()
            .map_err(|_| "x-standin-fault: not ASCII".to_owned())
            .and_then(Fault::parse_header)
    });
    let model_path = match endpoint {
        Endpoint::Model => parts
            .uri
            .path()
            .strip_prefix("/v1/models/")
            .map(str::to_owned),
        _ => None,
    };
    let not_found = (endpoint == Endpoint::NotFound)
        .then(|| format!("Invalid URL ({} {})", parts.method, parts.uri.path()));
    if shared.record {
        shared.record(Recorded {
            seq,
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: body.clone(),
        });
    }

    if let Some(message) = not_found {
        let err = match provider {
            Provider::OpenAi => ApiError::new(StatusCode::NOT_FOUND, message),
            Provider::Anthropic => ApiError::new(StatusCode::NOT_FOUND, "Not found"),
        };
        return error_response(provider, seq, &err);
    }
    if let Err(err) = auth {
        return error_response(provider, seq, &err);
    }
    if version_missing {
        let err = ApiError::bad_request("anthropic-version: header is required");
        return error_response(provider, seq, &err);
    }
    let fault = match header_fault {
        Some(Ok(f)) => Some(f),
        Some(Err(message)) => {
            return error_response(provider, seq, &ApiError::bad_request(message));
        }
        None => shared.faults.take(),
    };
    if let Some(f) = &fault {
        if let Some(ms) = f.delay_ms.filter(|ms| *ms > 0) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if f.hang {
            shared.until_stopping().await;
            let err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stand-in shutting down");
            return error_response(provider, seq, &err);
        }
        if let Some(status) = f.status {
            return error_response(provider, seq, &ApiError::fault(status));
        }
    }
    let output = match endpoint {
        Endpoint::ChatCompletions => openai::chat_completions(&body, seq),
        Endpoint::Responses => openai::responses(&body, seq),
        Endpoint::Embeddings => openai::embeddings(&body),
        Endpoint::Models => Ok(Output::Json(match provider {
            Provider::OpenAi => openai::models_json(),
            Provider::Anthropic => anthropic::models_json(),
        })),
        Endpoint::Model => {
            let id = model_path.unwrap_or_default();
            Ok(Output::Json(match provider {
                Provider::OpenAi => openai::model_json(&id),
                Provider::Anthropic => anthropic::model_json(&id),
            }))
        }
        Endpoint::Messages => anthropic::messages(&body, seq),
        Endpoint::CountTokens => anthropic::count_tokens(&body),
        Endpoint::NotFound => unreachable!("answered above"),
    };
    match output {
        Ok(output) => output_response(shared, provider, seq, output, fault.as_ref()),
        Err(err) => error_response(provider, seq, &err),
    }
}

type St = State<Arc<Shared>>;

async fn chat_completions(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::ChatCompletions, r).await
}
async fn responses(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::Responses, r).await
}
async fn embeddings(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::Embeddings, r).await
}
async fn models(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::Models, r).await
}
async fn model(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::Model, r).await
}
async fn messages(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::Messages, r).await
}
async fn count_tokens(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::CountTokens, r).await
}
async fn not_found(State(s): St, r: Request) -> Response {
    handle(s, Endpoint::NotFound, r).await
}

fn control_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, JSON);
    r
}

async fn get_requests(State(s): St) -> Response {
    control_json(StatusCode::OK, &s.requests())
}

async fn post_reset(State(s): St) -> StatusCode {
    s.reset();
    StatusCode::NO_CONTENT
}

/// The body of `POST /_standin/faults`: a [`Fault`] plus how many requests it applies to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    status: Option<u16>,
    delay_ms: Option<u64>,
    cut_after_events: Option<usize>,
    #[serde(default)]
    hang: bool,
    event_delay_ms: Option<u64>,
    times: Option<u32>,
}

async fn post_faults(State(s): St, body: Bytes) -> Response {
    #[derive(Serialize)]
    struct Problem {
        error: String,
    }
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => {
            return control_json(
                StatusCode::BAD_REQUEST,
                &Problem {
                    error: e.to_string(),
                },
            );
        }
    };
    let fault = Fault {
        status: spec.status,
        delay_ms: spec.delay_ms,
        cut_after_events: spec.cut_after_events,
        hang: spec.hang,
        event_delay_ms: spec.event_delay_ms,
    };
    if let Err(error) = fault.validate() {
        return control_json(StatusCode::BAD_REQUEST, &Problem { error });
    }
    s.faults.push(fault, spec.times.unwrap_or(1));
    control_json(StatusCode::OK, &s.faults.snapshot())
}

async fn get_faults(State(s): St) -> Response {
    control_json(StatusCode::OK, &s.faults.snapshot())
}

async fn delete_faults(State(s): St) -> StatusCode {
    s.faults.clear();
    StatusCode::NO_CONTENT
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/models/{*id}", get(model))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/_standin/requests", get(get_requests))
        .route("/_standin/reset", post(post_reset))
        .route(
            "/_standin/faults",
            get(get_faults).post(post_faults).delete(delete_faults),
        )
        .fallback(not_found)
        .with_state(shared)
}

async fn run<F>(listener: TcpListener, shared: Arc<Shared>, signal: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = router(shared.clone());
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            signal.await;
            shared.stopping.send_replace(true);
        })
        .await
}

/// Serves the stand-in on `listener` until the process ends.
pub async fn serve(listener: TcpListener, options: Options) -> io::Result<()> {
    serve_with_shutdown(listener, options, std::future::pending()).await
}

/// Serves the stand-in on `listener` until `signal` completes; then hanging requests are
/// released, open connections are finished and the function returns.
pub async fn serve_with_shutdown<F>(
    listener: TcpListener,
    options: Options,
    signal: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    run(listener, Arc::new(Shared::new(options)), signal).await
}

/// A stand-in running on the current tokio runtime. Dropping it stops the server too.
pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl fmt::Debug for StandIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandIn").field("addr", &self.addr).finish()
    }
}

/// Starts a stand-in on `127.0.0.1` with a free port, in the current tokio runtime.
pub async fn spawn(options: Options) -> io::Result<StandIn> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    spawn_on(listener, options)
}

/// Starts a stand-in on an already bound listener, in the current tokio runtime.
pub fn spawn_on(listener: TcpListener, options: Options) -> io::Result<StandIn> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(options));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, shared.clone(), async move {
        // Fires on `shutdown` and when the handle is dropped.
        let _ = stopped.await;
    }));
    Ok(StandIn {
        addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

impl StandIn {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL for Anthropic clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/v1`, the base URL for OpenAI clients.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR`, the base URL for Anthropic clients.
    pub fn anthropic_base_url(&self) -> String {
        self.url()
    }

    /// The recorded requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The answers clients gave up on so far.
    pub fn abandoned(&self) -> Abandoned {
        self.shared.abandoned()
    }

    /// Forgets recorded requests and queued faults.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Makes the next `times` model requests fail as `fault` says (after any queued before).
    pub fn inject_fault(&self, fault: Fault, times: u32) -> Result<(), String> {
        fault.validate()?;
        self.shared.faults.push(fault, times);
        Ok(())
    }

    /// Stops accepting, releases hanging requests, waits for open connections to finish.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

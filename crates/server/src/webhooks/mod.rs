//! The webhook receiver: `POST /webhooks/github` and `POST /webhooks/gitlab`.
//!
//! A delivery is authenticated first (GitHub's `X-Hub-Signature-256` over the raw body, GitLab's
//! `X-Gitlab-Token`; a rejection is recorded in the ledger), then stored (`intake.rs`, group
//! commit) and answered `202 Accepted`; a redelivery of a stored one is answered `200` and not
//! stored again. Processing into change records happens afterwards, in the background
//! (`process.rs`), so an answer never waits for it and an accepted delivery survives a crash.

mod deploy;
mod followup;
mod intake;
pub(crate) mod process;
mod report;

pub(crate) use followup::merged_by;
pub(crate) use process::fit;

use std::sync::Arc;

use audit::Record;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use change::Forge;
use futures_util::StreamExt as _;
use ledger::EntryKind;
use store::{DeliveryInsert, NewDelivery};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::auth::ClientOrigin;
use crate::{AppError, AppState};

/// Largest body accepted: GitHub caps webhook payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Longest event name or delivery id accepted.
const MAX_HEADER_CHARS: usize = 256;

const GITHUB_EVENT: &str = "X-GitHub-Event";
const GITHUB_DELIVERY: &str = "X-GitHub-Delivery";
const GITLAB_EVENT: &str = "X-Gitlab-Event";
const GITLAB_EVENT_UUID: &str = "X-Gitlab-Event-UUID";
/// GitLab 17.4+: the same value on every retry of one delivery; preferred over the event UUID.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The receiver's configuration and its connections to the intake writer and the processor.
#[derive(Debug)]
pub(crate) struct Webhooks {
    github_secret: Option<config::Secret>,
    gitlab_token: Option<config::Secret>,
    /// Whether this replica runs the processor.
    pub(crate) process: bool,
    /// Wakes the processor after a delivery was stored.
    pub(crate) wake: Notify,
    intake: intake::Intake,
    /// Who this replica is when it claims deliveries (unique per process).
    pub(crate) claimant: String,
}

impl Webhooks {
    pub(crate) fn new(config: config::WebhooksConfig) -> Webhooks {
        Webhooks {
            github_secret: config.github_secret,
            gitlab_token: config.gitlab_token,
            process: config.process,
            wake: Notify::new(),
            intake: intake::Intake::default(),
            claimant: format!("aigov-{:016x}", rand::random::<u64>()),
        }
    }
}

/// `POST /webhooks/github`.
pub(crate) async fn github(
    State(state): State<Arc<AppState>>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    Ok(receive(&state, Forge::GitHub, &headers, body, origin)
        .await?
        .into_response())
}

/// `POST /webhooks/gitlab`.
pub(crate) async fn gitlab(
    State(state): State<Arc<AppState>>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    Ok(receive(&state, Forge::GitLab, &headers, body, origin)
        .await?
        .into_response())
}

/// What became of an authentic delivery.
#[derive(Debug)]
pub(crate) struct Receipt {
    forge: Forge,
    delivery: String,
    inserted: DeliveryInsert,
}

impl IntoResponse for Receipt {
    fn into_response(self) -> Response {
        let forge = self.forge.as_str();
        match self.inserted {
            DeliveryInsert::Inserted => (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({
                    "status": "accepted",
                    "forge": forge,
                    "delivery": self.delivery,
                })),
            )
                .into_response(),
            DeliveryInsert::Duplicate => (
                StatusCode::OK,
                Json(serde_json::json!({
                    "status": "duplicate",
                    "forge": forge,
                    "delivery": self.delivery,
                    "message": format!(
                        "delivery `{}` was already accepted; it is not processed again",
                        self.delivery
                    ),
                })),
            )
                .into_response(),
        }
    }
}

/// Authenticates, checks and stores one delivery.
async fn receive(
    state: &AppState,
    forge: Forge,
    headers: &HeaderMap,
    body: Body,
    origin: ledger::Origin,
) -> Result<Receipt, AppError> {
    let webhooks = &state.webhooks;
    let secret = match forge {
        Forge::GitHub => webhooks.github_secret.as_ref().ok_or_else(|| {
            AppError::NotFound(
                "GitHub webhooks are not configured: set `[webhooks] github_secret = \"env:NAME\"` in aigov.toml; until then every delivery is refused"
                    .to_owned(),
            )
        })?,
        Forge::GitLab => webhooks.gitlab_token.as_ref().ok_or_else(|| {
            AppError::NotFound(
                "GitLab webhooks are not configured: set `[webhooks] gitlab_token = \"env:NAME\"` in aigov.toml; until then every delivery is refused"
                    .to_owned(),
            )
        })?,
    };
    let body = read_body(headers, body).await?;
    let verified = match forge {
        Forge::GitHub => change::webhook::verify_github_signature(
            secret.expose().as_bytes(),
            &body,
            header_value(headers, change::webhook::GITHUB_SIGNATURE_HEADER),
        ),
        Forge::GitLab => change::webhook::verify_gitlab_token(
            secret.expose().as_bytes(),
            header_value(headers, change::webhook::GITLAB_TOKEN_HEADER),
        ),
    };
    if let Err(e) = verified {
        record_rejection(state, forge, headers, &body, &e, origin).await?;
        return Err(AppError::InvalidSignature(e.to_string()));
    }
    let (event, delivery) = match forge {
        Forge::GitHub => (
            required(headers, GITHUB_EVENT)?,
            required(headers, GITHUB_DELIVERY)?,
        ),
        Forge::GitLab => {
            let event = required(headers, GITLAB_EVENT)?;
            let delivery = match header_value(headers, IDEMPOTENCY_KEY) {
                Some(_) => required(headers, IDEMPOTENCY_KEY)?,
                None => required(headers, GITLAB_EVENT_UUID).map_err(|_| {
                    AppError::BadRequest(format!(
                        "missing `{IDEMPOTENCY_KEY}` and `{GITLAB_EVENT_UUID}` headers: one identifies the delivery"
                    ))
                })?,
            };
            (event, delivery)
        }
    };
    let inserted = webhooks
        .intake
        .insert(
            state.store(),
            NewDelivery {
                forge: forge.as_str().to_owned(),
                delivery_id: delivery.clone(),
                event,
                received_at: OffsetDateTime::now_utc(),
                body,
            },
        )
        .await?;
    if inserted == DeliveryInsert::Inserted {
        webhooks.wake.notify_one();
    }
    Ok(Receipt {
        forge,
        delivery,
        inserted,
    })
}

/// The body, at most [`MAX_BODY_BYTES`] (`413` above).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, AppError> {
    let too_large = || {
        AppError::PayloadTooLarge(format!(
            "the body is larger than {} MB, the most a forge sends",
            MAX_BODY_BYTES / (1024 * 1024)
        ))
    };
    let declared = header_value(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::BadRequest(format!("cannot read the request body: {e}")))?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A header's value; a value that is not visible ASCII reads as `(not ASCII)`.
fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("(not ASCII)"))
}

/// A required identifying header: 1 to 256 visible ASCII characters or spaces, trimmed.
fn required(headers: &HeaderMap, name: &'static str) -> Result<String, AppError> {
    let value = headers
        .get(name)
        .ok_or_else(|| AppError::BadRequest(format!("missing `{name}` header")))?;
    let text = value.to_str().map(str::trim).unwrap_or("");
    if text.is_empty()
        || text.len() > MAX_HEADER_CHARS
        || !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err(AppError::BadRequest(format!(
            "`{name}` must be 1 to {MAX_HEADER_CHARS} printable ASCII characters"
        )));
    }
    Ok(text.to_owned())
}

/// At most 200 characters of an unauthenticated header, for the ledger.
fn shorten(value: &str) -> String {
    match value.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

/// Records a delivery refused as not authentic (`authentication`, outcome failure): the error,
/// the identifying headers it claimed and the body's digest, never the body.
async fn record_rejection(
    state: &AppState,
    forge: Forge,
    headers: &HeaderMap,
    body: &[u8],
    error: &change::SignatureError,
    origin: ledger::Origin,
) -> Result<(), AppError> {
    let (event_header, delivery_header) = match forge {
        Forge::GitHub => (GITHUB_EVENT, GITHUB_DELIVERY),
        Forge::GitLab => (
            GITLAB_EVENT,
            if headers.contains_key(IDEMPOTENCY_KEY) {
                IDEMPOTENCY_KEY
            } else {
                GITLAB_EVENT_UUID
            },
        ),
    };
    let event = header_value(headers, event_header).map(shorten);
    let delivery = header_value(headers, delivery_header).map(shorten);
    let who = format!("webhook:{}", forge.as_str());
    let mut record = Record::new(
        EntryKind::Authentication,
        "webhook.rejected",
        who.clone(),
        who,
        ledger::Outcome::Failure,
    )
    .origin(origin)
    .field("forge", forge.as_str())
    .field("reason", error.to_string())
    .details(serde_json::json!({
        "forge": forge.as_str(),
        "error": error.to_string(),
        "event": event,
        "delivery": delivery,
        "body_sha256": ledger::sha256(body).to_string(),
        "body_bytes": body.len(),
    }));
    if let Some(d) = &delivery {
        record = record.field("delivery", d.as_str());
    }
    if let Some(e) = &event {
        record = record.field("webhook_event", e.as_str());
    }
    state.record(record).await?;
    Ok(())
}

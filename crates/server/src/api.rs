//! JSON API v1 and the health probes. Thin handlers: extract, call the domain, map.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::{Decision, Diagnostic, Effect};
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::auth::{ApiAdmin, ClientOrigin};
use crate::{AppError, AppState};

/// Liveness: the process answers. Open.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers and a bundle is in service. Open; says why when not ready.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            let loaded = state.bundle();
            format!(
                "ready: bundle {}, database {}\n",
                loaded.bundle.digest,
                state.store.backend()
            )
            .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database ping failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the database does not answer\n",
            )
                .into_response()
        }
    }
}

pub(crate) async fn not_found() -> AppError {
    AppError::NotFound("no such route".to_owned())
}

pub(crate) async fn inventory(_: ApiAdmin, State(state): State<Arc<AppState>>) -> Response {
    Json(&state.bundle().bundle.inventory).into_response()
}

/// One kind of inventory record as a JSON array, ordered by id.
pub(crate) async fn inventory_kind(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
    Path(kind): Path<String>,
) -> Result<Json<Value>, AppError> {
    let loaded = state.bundle();
    let inv = &loaded.bundle.inventory;
    let records = match kind.as_str() {
        "teams" => to_array(inv.teams.values()),
        "people" => to_array(inv.people.values()),
        "applications" => to_array(inv.applications.values()),
        "tools" => to_array(inv.tools.values()),
        "models" => to_array(inv.models.values()),
        "vendors" => to_array(inv.vendors.values()),
        _ => {
            return Err(AppError::NotFound(format!(
                "unknown inventory kind `{kind}`: expected one of `teams`, `people`, `applications`, `tools`, `models`, `vendors`"
            )));
        }
    };
    Ok(Json(records))
}

fn to_array<'a, T: Serialize + 'a>(records: impl Iterator<Item = &'a T>) -> Value {
    Value::Array(
        records
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect(),
    )
}

#[derive(Serialize)]
struct PolicyView<'a> {
    id: &'a str,
    effect: Effect,
    reason: &'a str,
    /// `file:line:col`, relative to the bundle root.
    location: String,
}

pub(crate) async fn policies(_: ApiAdmin, State(state): State<Arc<AppState>>) -> Response {
    let loaded = state.bundle();
    let policies: Vec<PolicyView<'_>> = loaded
        .bundle
        .engine
        .policies()
        .iter()
        .map(|p| PolicyView {
            id: &p.id,
            effect: p.effect,
            reason: &p.reason,
            location: p.location.to_string(),
        })
        .collect();
    Json(policies).into_response()
}

#[derive(Serialize)]
struct BundleView<'a> {
    digest: &'a str,
    /// RFC 3339.
    loaded_at: String,
    root: String,
    warnings: &'a [Diagnostic],
}

pub(crate) async fn bundle(_: ApiAdmin, State(state): State<Arc<AppState>>) -> Response {
    let loaded = state.bundle();
    Json(BundleView {
        digest: &loaded.bundle.digest,
        loaded_at: loaded.loaded_at.format(&Rfc3339).unwrap_or_default(),
        root: loaded.bundle.root.display().to_string(),
        warnings: &loaded.bundle.warnings,
    })
    .into_response()
}

/// Decides a [`DecisionRequest`] and records it. The body is parsed here rather than by `Json`
/// so that a 400 carries serde's own message (which field, what was expected).
pub(crate) async fn decide(
    admin: ApiAdmin,
    ClientOrigin(origin): ClientOrigin,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<Decision>, AppError> {
    let request = crate::parse_decision_request(&body)
        .map_err(|e| AppError::BadRequest(format!("invalid decision request: {e}")))?;
    Ok(Json(state.decide(&admin.name, origin, &request).await?))
}

/// `POST /api/v1/keys`: what to issue.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyBody {
    person: String,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// A developer key as the API shows it: never the key (except once, on issue) or its hash.
#[derive(Debug, Serialize)]
pub(crate) struct KeyView {
    name: String,
    person: Option<String>,
    repo: Option<String>,
    created_at: String,
    revoked_at: Option<String>,
    /// Only in the answer to the issue.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl KeyView {
    fn of(record: store::TokenRecord, key: Option<String>) -> KeyView {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        KeyView {
            name: record.name,
            person: record.person,
            repo: record.repo,
            created_at: time(record.created_at),
            revoked_at: record.revoked_at.map(time),
            key,
        }
    }
}

impl From<crate::keys::KeyError> for AppError {
    fn from(e: crate::keys::KeyError) -> AppError {
        use crate::keys::KeyError;
        match e {
            KeyError::Invalid(_) => AppError::BadRequest(e.to_string()),
            KeyError::NameTaken(_) => AppError::Conflict(e.to_string()),
            KeyError::NotFound(_) => AppError::NotFound(e.to_string()),
            KeyError::Store(e) => AppError::Store(e),
            KeyError::Audit(e) => AppError::Audit(e),
        }
    }
}

/// Issues a developer key for an inventory person; the answer (201) holds the key, once.
pub(crate) async fn create_key(
    admin: ApiAdmin,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<KeyView>), AppError> {
    let body: NewKeyBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("invalid key request: {e}")))?;
    let request =
        crate::keys::KeyRequest::new(&body.person, body.repo.as_deref(), body.name.as_deref())?;
    let loaded = state.bundle();
    let people = &loaded.bundle.inventory.people;
    if !people.contains_key(&request.person) {
        let hint = policy::closest(&request.person, people.keys().cloned()).map_or_else(
            || "add them to the bundle's `inventory/` first".to_owned(),
            |p| format!("did you mean `{p}`?"),
        );
        return Err(AppError::BadRequest(format!(
            "unknown person `{}`: the inventory in service does not list them; {hint}",
            request.person
        )));
    }
    let issued = crate::keys::issue(state.store(), state.audit(), &admin.name, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyView::of(issued.record, Some(issued.key))),
    ))
}

/// Developer keys, active and revoked.
pub(crate) async fn list_keys(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<KeyView>>, AppError> {
    let keys = crate::keys::list(state.store()).await?;
    Ok(Json(
        keys.into_iter().map(|k| KeyView::of(k, None)).collect(),
    ))
}

/// Revokes the active developer key with this name; it stops working on every replica within
/// the gateway's key cache time (2 s).
pub(crate) async fn revoke_key(
    admin: ApiAdmin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<KeyView>, AppError> {
    let record = crate::keys::revoke(state.store(), state.audit(), &admin.name, &name).await?;
    let mut view = KeyView::of(record, None);
    view.revoked_at.get_or_insert_with(|| {
        time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default()
    });
    Ok(Json(view))
}

/// Query of `GET /api/v1/alerts`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertQuery {
    /// `pending`, `open` or `dismissed`; all when missing.
    state: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<u32>,
}

/// Exception alerts, newest first.
pub(crate) async fn alerts(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
    query: Result<axum::extract::Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let axum::extract::Query(q) = query.map_err(|e| {
        AppError::BadRequest(format!(
            "{}; expected `?state=pending|open|dismissed&limit=<1..1000>`",
            e.body_text()
        ))
    })?;
    let filter = match q.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<store::AlertState>().map_err(|_| {
            AppError::BadRequest(format!(
                "unknown alert state `{s}`: expected `pending`, `open` or `dismissed`"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "`limit` is {limit}: expected 1 to 1000"
        )));
    }
    let alerts = crate::alerts::list(&state, filter, limit).await?;
    Ok(Json(serde_json::json!({ "alerts": alerts })))
}

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

/// `POST /api/v1/deployments/authorizations`: what to authorize.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAuthorizationBody {
    app: String,
    environment: String,
    commit: String,
    /// Inventory person id.
    approver: String,
    /// An emergency deployment; needs `reason`.
    #[serde(default)]
    break_glass: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// A stored authorization as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct AuthorizationView {
    id: i64,
    app: String,
    environment: String,
    repo: Option<String>,
    commit: String,
    kind: &'static str,
    approver: String,
    reason: Option<String>,
    authorized_at: String,
    expires_at: String,
    retro_review_due: Option<String>,
    ledger_index: u64,
    envelope: Value,
    revocation: Option<Value>,
    retro_review: Option<Value>,
}

impl AuthorizationView {
    pub(crate) fn of(a: store::DeployAuthorization) -> AuthorizationView {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        AuthorizationView {
            id: a.id,
            kind: a.kind.as_str(),
            authorized_at: time(a.authorized_at),
            expires_at: time(a.expires_at),
            retro_review_due: a.retro_review_due.map(time),
            revocation: a.revocation.map(|r| {
                serde_json::json!({
                    "by": r.by, "at": time(r.at), "reason": r.reason, "ledger_index": r.ledger_index,
                })
            }),
            retro_review: a.retro_review.map(|r| {
                serde_json::json!({
                    "by": r.by, "at": time(r.at), "notes": r.notes, "ledger_index": r.ledger_index,
                })
            }),
            app: a.app,
            environment: a.environment,
            repo: a.repo,
            commit: a.commit_sha,
            approver: a.approver,
            reason: a.reason,
            ledger_index: a.ledger_index,
            envelope: a.envelope,
        }
    }
}

/// Maps a deployment error; a refusal is a 403 that lists its reasons and ledger entry.
fn deploy_error(e: crate::deploys::DeployError) -> Response {
    use crate::deploys::DeployError;
    match e {
        DeployError::Denied {
            ref reasons,
            ledger_index,
        } => (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": {
                "code": "denied",
                "message": e.to_string(),
                "reasons": reasons,
                "ledger_index": ledger_index,
            }})),
        )
            .into_response(),
        DeployError::Invalid(m) => AppError::BadRequest(m).into_response(),
        DeployError::NotFound(m) => AppError::NotFound(m).into_response(),
        DeployError::Conflict(m) => AppError::Conflict(m).into_response(),
        DeployError::Store(e) => AppError::Store(e).into_response(),
        DeployError::Audit(e) => AppError::Audit(e).into_response(),
    }
}

/// Authorizes a deployment on behalf of the token's holder; `201` with the signed envelope.
pub(crate) async fn create_authorization(
    admin: ApiAdmin,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Response {
    let body: NewAuthorizationBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return AppError::BadRequest(format!("invalid authorization request: {e}"))
                .into_response();
        }
    };
    if !body.break_glass && body.reason.is_some() {
        return AppError::BadRequest(
            "`reason` is for break-glass authorizations; set `break_glass: true` as well"
                .to_owned(),
        )
        .into_response();
    }
    let request = crate::deploys::AuthorizeRequest {
        app: body.app,
        environment: body.environment,
        commit: body.commit,
        approver: body.approver,
        break_glass: body.break_glass.then(|| body.reason.unwrap_or_default()),
    };
    let loaded = state.bundle();
    match crate::deploys::authorize(
        state.store(),
        state.audit(),
        &loaded.bundle,
        &admin.name,
        request,
        state.now(),
    )
    .await
    {
        Ok(a) => (StatusCode::CREATED, Json(AuthorizationView::of(a))).into_response(),
        Err(e) => deploy_error(e),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizationQuery {
    app: String,
    env: String,
    commit: String,
}

/// The authorization bundle of a deployment for `aigov deploy verify --server`: `200` with
/// `status` (`valid`, `expired` or `revoked`, with `reason`) and the `bundle` whenever the
/// commit has an authorization; `404` with `status` `missing` or `other_commit` (and the
/// `authorized_commits`) when it has none.
pub(crate) async fn get_authorization(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<AuthorizationQuery>,
) -> Response {
    let now = state.now();
    let result = crate::deploys::authorization_bundle(
        state.store(),
        state.audit(),
        &q.app,
        &q.env,
        &q.commit,
        now,
    )
    .await;
    let (status, bundle) = match result {
        Ok(found) => found,
        Err(e) => return deploy_error(e),
    };
    let reason = status.reason(&q.commit);
    match bundle {
        Some(bundle) => Json(serde_json::json!({
            "status": status.as_str(),
            "reason": reason,
            "bundle": bundle,
        }))
        .into_response(),
        None => {
            let authorized = match &status {
                crate::deploys::DeployStatus::OtherCommit { authorized } => authorized.clone(),
                _ => Vec::new(),
            };
            (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({
                    "error": { "code": "not_found", "message": reason },
                    "status": status.as_str(),
                    "authorized_commits": authorized,
                })),
            )
                .into_response()
        }
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    /// Inventory person revoking.
    by: String,
    reason: String,
}

fn authorization_id(id: &str) -> Result<i64, AppError> {
    id.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "`{id}` is not an authorization id; expected a number"
        ))
    })
}

/// Revokes an authorization.
pub(crate) async fn revoke_authorization(
    admin: ApiAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = match authorization_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let body: RevokeBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return AppError::BadRequest(format!("invalid revocation: {e}")).into_response();
        }
    };
    let loaded = state.bundle();
    match crate::deploys::revoke(
        state.store(),
        state.audit(),
        &loaded.bundle,
        &admin.name,
        &crate::deploys::RevokeRequest {
            id,
            by: body.by,
            reason: body.reason,
        },
        state.now(),
    )
    .await
    {
        Ok(a) => Json(AuthorizationView::of(a)).into_response(),
        Err(e) => deploy_error(e),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetroReviewBody {
    /// Inventory person reviewing.
    reviewer: String,
    notes: String,
}

/// Records the retro-review of a break-glass authorization.
pub(crate) async fn retro_review_authorization(
    admin: ApiAdmin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = match authorization_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let body: RetroReviewBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return AppError::BadRequest(format!("invalid retro-review: {e}")).into_response();
        }
    };
    let loaded = state.bundle();
    match crate::deploys::retro_review(
        state.store(),
        state.audit(),
        &loaded.bundle,
        &admin.name,
        &crate::deploys::RetroReviewRequest {
            id,
            reviewer: body.reviewer,
            notes: body.notes,
        },
        state.now(),
    )
    .await
    {
        Ok(a) => Json(AuthorizationView::of(a)).into_response(),
        Err(e) => deploy_error(e),
    }
}

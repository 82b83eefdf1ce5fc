//! The one error type of the HTTP layer and its JSON rendering:
//! `{ "error": { "code": "...", "message": "..." } }` with a matching status code.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing, unknown or revoked token.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    /// A webhook delivery is not authentic (bad or missing signature or token).
    #[error("{0}")]
    InvalidSignature(String),
    /// The body is larger than the route accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request itself is wrong (bad JSON, bad form).
    #[error("{0}")]
    BadRequest(String),
    /// The request clashes with what exists (a name already in use).
    #[error("{0}")]
    Conflict(String),
    /// The details are logged, never sent: they may name hosts or internals.
    #[error("the database is unavailable")]
    Store(#[from] StoreError),
    /// The event could not be recorded in the audit ledger, so the operation fails closed.
    /// Details are logged, never sent.
    #[error("the audit ledger is unavailable; nothing was done")]
    Audit(#[from] audit::AuditError),
    /// Something is wrong inside aigov (e.g. inconsistent stored data). Logged, not sent.
    #[error("internal error; the server log has the details")]
    Internal(String),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::InvalidSignature(_) => (StatusCode::UNAUTHORIZED, "invalid_signature"),
            AppError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            AppError::Audit(_) => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Store(e) => tracing::error!(error = %e, "store operation failed"),
            AppError::Audit(e) => tracing::error!(error = %e, "audit ledger append failed"),
            AppError::Internal(e) => tracing::error!(error = %e, "internal error"),
            _ => {}
        }
        let (status, code) = self.status_and_code();
        let body =
            Json(serde_json::json!({ "error": { "code": code, "message": self.to_string() } }));
        if matches!(self, AppError::Unauthorized(_)) {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

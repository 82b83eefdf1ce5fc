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
    /// The request itself is wrong (bad JSON, bad form).
    #[error("{0}")]
    BadRequest(String),
    /// The details are logged, never sent: they may name hosts or internals.
    #[error("the database is unavailable")]
    Store(#[from] StoreError),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AppError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Store(e) = &self {
            tracing::error!(error = %e, "store operation failed");
        }
        let (status, code) = self.status_and_code();
        let body =
            Json(serde_json::json!({ "error": { "code": code, "message": self.to_string() } }));
        if status == StatusCode::UNAUTHORIZED {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

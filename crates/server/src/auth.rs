//! Admin-token authentication: `Authorization: Bearer` for the API, the `aigov_token` cookie for
//! the dashboard (API reads accept the cookie too). Tokens are looked up by their SHA-256 and
//! never logged. Only admin tokens are accepted here: a developer key (the gateway's credential)
//! is refused like an unknown token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use store::{TokenKind, TokenStore};

use crate::{AppError, AppState};

/// Name of the dashboard session cookie; its value is the admin token itself.
pub(crate) const COOKIE_NAME: &str = "aigov_token";

/// An authenticated API caller.
#[derive(Debug)]
pub(crate) struct ApiAdmin {
    /// The token's name, used as the actor of events.
    pub name: String,
}

/// An authenticated dashboard user; without a valid cookie the request is redirected to `/login`.
#[derive(Debug)]
pub(crate) struct PageAdmin {
    pub name: String,
}

impl AppState {
    /// The name of the active admin token, or `None` when the token is unknown, revoked or not
    /// an admin token (a developer key).
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Option<String>, AppError> {
        let hash = crate::token::hash_token(token.trim());
        Ok(self
            .store
            .active_token_by_hash(&hash)
            .await?
            .filter(|record| record.kind == TokenKind::Admin)
            .map(|record| record.name))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<Arc<AppState>> for ApiAdmin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, AppError> {
        // The dashboard cookie also works for reading the API from a browser, but never for
        // state-changing requests (defence in depth against cross-site requests).
        let cookie = || {
            parts
                .method
                .is_safe()
                .then(|| cookie_token(&parts.headers))
                .flatten()
        };
        let Some(token) = bearer(&parts.headers).or_else(cookie) else {
            return Err(AppError::Unauthorized(
                "missing admin token: send `Authorization: Bearer <token>`".to_owned(),
            ));
        };
        match state.authenticate(token).await? {
            Some(name) => Ok(ApiAdmin { name }),
            None => Err(AppError::Unauthorized(
                "invalid or revoked admin token".to_owned(),
            )),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for PageAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state.authenticate(token).await {
            Ok(Some(name)) => Ok(PageAdmin { name }),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// `Set-Cookie` value that stores the token for the dashboard.
pub(crate) fn session_cookie(token: &str) -> String {
    format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/")
}

/// `Set-Cookie` value that removes the dashboard cookie.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Where a request came from, for audit entries: the peer address when the server runs with
/// connection info (always under [`crate::serve`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientOrigin(pub ledger::Origin);

impl FromRequestParts<Arc<AppState>> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(ClientOrigin(ledger::Origin {
            ip,
            ..ledger::Origin::default()
        }))
    }
}

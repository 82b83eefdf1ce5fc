//! `GET /v1/models` and `GET /v1/models/{id}`: the models this developer may use on this
//! repository, in OpenAI's list format or, for Anthropic clients (`anthropic-version`),
//! Anthropic's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{DecisionRequest, PromptContext};
use serde_json::{Value, json};

use super::wire::{Api, ErrorKind};
use super::{NO_REPO, identify, repo_of};
use crate::AppState;

pub(crate) async fn list_models(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    match usable_models(&state, &headers).await {
        Ok((api, models)) => {
            let data: Vec<Value> = models.iter().map(|(m, u)| describe(api, m, u)).collect();
            let body = match api {
                Api::OpenAi => json!({ "object": "list", "data": data }),
                Api::Anthropic => json!({
                    "data": data,
                    "has_more": false,
                    "first_id": models.first().map(|(m, _)| m),
                    "last_id": models.last().map(|(m, _)| m),
                }),
            };
            axum::Json(body).into_response()
        }
        Err(response) => response,
    }
}

pub(crate) async fn get_model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match usable_models(&state, &headers).await {
        Ok((api, models)) => match models.iter().find(|(m, _)| *m == id) {
            Some((m, u)) => axum::Json(describe(api, m, u)).into_response(),
            None => api.error(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                &format!("model `{id}` is not available to you on this repository"),
            ),
        },
        Err(response) => response,
    }
}

fn describe(api: Api, model: &str, upstream: &str) -> Value {
    match api {
        Api::OpenAi => {
            json!({ "id": model, "object": "model", "created": 0, "owned_by": upstream })
        }
        Api::Anthropic => json!({
            "type": "model",
            "id": model,
            "display_name": model,
            "created_at": "1970-01-01T00:00:00Z",
        }),
    }
}

/// Every routed model the policy lets this developer use on this repository (with the
/// upstream that serves it), in configuration order.
async fn usable_models(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Api, Vec<(String, String)>), Response> {
    let api = Api::of_request(headers);
    let caller = identify(state, api, headers).await?;
    let Some(repo) = repo_of(headers, &caller) else {
        return Err(api.error(StatusCode::BAD_REQUEST, ErrorKind::Invalid, NO_REPO));
    };
    let tool = super::wire::tool_of(headers);
    let loaded = state.bundle();
    let mut out = Vec::new();
    for upstream in &state.gateway().upstreams {
        for model in &upstream.models {
            let request = DecisionRequest::SendPrompt {
                principal: caller.person.clone(),
                resource: repo.clone(),
                context: PromptContext {
                    tool: tool.clone(),
                    model: model.clone(),
                    findings: Default::default(),
                    token_estimate: 0,
                    budget: Default::default(),
                },
            };
            if loaded.bundle.engine.decide(&request).is_allowed() {
                out.push((model.clone(), upstream.name.clone()));
            }
        }
    }
    Ok((api, out))
}

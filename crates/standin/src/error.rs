//! Errors in each provider's wire format.

use axum::http::StatusCode;
use serde::Serialize;

/// The provider whose API a route imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    OpenAi,
    Anthropic,
}

/// An error answer; rendered as `{"error":{message,type,param,code}}` for OpenAI and
/// `{"type":"error","error":{type,message}}` for Anthropic.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `param`.
    pub param: Option<&'static str>,
    /// OpenAI's `code`.
    pub code: Option<&'static str>,
    /// The error type when it is not the one implied by the status.
    pub kind: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            param: None,
            code: None,
            kind: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn param(mut self, param: &'static str) -> ApiError {
        self.param = Some(param);
        self
    }

    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    /// A missing required field, worded per provider.
    pub fn missing(provider: Provider, field: &'static str) -> ApiError {
        match provider {
            Provider::OpenAi => {
                ApiError::bad_request(format!("Missing required parameter: '{field}'."))
                    .param(field)
                    .code("missing_required_parameter")
            }
            Provider::Anthropic => ApiError::bad_request(format!("{field}: Field required")),
        }
    }

    /// A body that is not JSON, or JSON of the wrong shape.
    pub fn from_json(provider: Provider, err: &serde_json::Error) -> ApiError {
        use serde_json::error::Category;
        let syntax = matches!(
            err.classify(),
            Category::Syntax | Category::Eof | Category::Io
        );
        match (provider, syntax) {
            (Provider::OpenAi, true) => ApiError::bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you \
                 aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
                 but what was sent was not valid JSON.)",
            ),
            (Provider::Anthropic, true) => {
                ApiError::bad_request(format!("There was an error parsing the body: {err}"))
            }
            (_, false) => ApiError::bad_request(format!("Invalid request body: {err}")),
        }
    }

    /// The answer to an injected `status` fault.
    pub fn fault(status: u16) -> ApiError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let reason = status.canonical_reason().unwrap_or("Error");
        let mut err = ApiError::new(status, format!("{reason} (stand-in fault)"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            err.code = Some("rate_limit_exceeded");
        }
        err
    }

    fn openai_type(&self) -> &'static str {
        match self.status.as_u16() {
            429 => "requests",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        }
    }

    fn anthropic_type(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 => "overloaded_error",
            500..=599 => "api_error",
            _ => "invalid_request_error",
        }
    }

    pub fn to_json(&self, provider: Provider) -> Vec<u8> {
        #[derive(Serialize)]
        struct OpenAiBody<'a> {
            error: OpenAiError<'a>,
        }
        #[derive(Serialize)]
        struct OpenAiError<'a> {
            message: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            param: Option<&'a str>,
            code: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct AnthropicBody<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            error: AnthropicError<'a>,
        }
        #[derive(Serialize)]
        struct AnthropicError<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            message: &'a str,
        }
        let out = match provider {
            Provider::OpenAi => serde_json::to_vec(&OpenAiBody {
                error: OpenAiError {
                    message: &self.message,
                    kind: self.kind.unwrap_or_else(|| self.openai_type()),
                    param: self.param,
                    code: self.code,
                },
            }),
            Provider::Anthropic => serde_json::to_vec(&AnthropicBody {
                kind: "error",
                error: AnthropicError {
                    kind: self.kind.unwrap_or_else(|| self.anthropic_type()),
                    message: &self.message,
                },
            }),
        };
        out.unwrap_or_default()
    }
}

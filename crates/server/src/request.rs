//! Parsing a [`DecisionRequest`] from JSON with error messages that name the offending field.

use model::{DecisionRequest, DeployContext, MergeContext, PromptContext};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses a decision request from JSON text. On failure the message says what is wrong and,
/// where serde knows it, where (`line 1 column 12`) or which field (`context.findings.secrets`).
pub fn parse_decision_request(json: &[u8]) -> Result<DecisionRequest, String> {
    let value: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    decision_request_from_value(value)
}

/// Like [`parse_decision_request`], from an already parsed JSON value.
pub fn decision_request_from_value(value: Value) -> Result<DecisionRequest, String> {
    match serde_json::from_value::<DecisionRequest>(value.clone()) {
        Ok(request) => Ok(request),
        // The request is an internally tagged enum, for which serde loses the field path; find
        // it by reading the context alone as the action's context type.
        Err(e) => Err(context_error(&value).unwrap_or_else(|| e.to_string())),
    }
}

fn context_error(value: &Value) -> Option<String> {
    let context = value.get("context")?;
    match value.get("action")?.as_str()? {
        "SendPrompt" => path_error::<PromptContext>(context),
        "MergeChange" => path_error::<MergeContext>(context),
        "Deploy" => path_error::<DeployContext>(context),
        _ => None,
    }
}

fn path_error<T: DeserializeOwned>(context: &Value) -> Option<String> {
    let error = serde_path_to_error::deserialize::<_, T>(context).err()?;
    let path = error.path().to_string();
    if path == "." {
        Some(format!("`context`: {}", error.inner()))
    } else {
        Some(format!("`context.{path}`: {}", error.inner()))
    }
}

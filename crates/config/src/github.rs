//! `[github]`: where GitHub's REST API is and the token aigov posts gate results with (check
//! runs, deployment protection rule reviews).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::{ConfigError, Origin, Secret, SecretRef};

/// GitHub's public REST API.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_GITHUB_TIMEOUT_MS: u64 = 10_000;
const MIN_TIMEOUT_MS: u64 = 100;
const MAX_TIMEOUT_MS: u64 = 60_000;

/// The validated `[github]` section. Without a token aigov does not call GitHub: the gate
/// still decides and records, but posts nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct GithubConfig {
    /// The REST API's base URL without a trailing `/` (`api_url`), e.g.
    /// `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// Where the token is (`token`), and where that was configured.
    pub token_ref: Option<(SecretRef, Origin)>,
    /// The token, once [`GithubConfig::resolve_secrets`] has read it.
    pub token: Option<Secret>,
    /// How long one API request may take (`timeout_ms`).
    pub timeout: Duration,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            api_url: DEFAULT_GITHUB_API_URL.to_owned(),
            token_ref: None,
            token: None,
            timeout: Duration::from_millis(DEFAULT_GITHUB_TIMEOUT_MS),
        }
    }
}

impl GithubConfig {
    /// Reads the token from its reference. Only `aigov serve` does this, so other commands
    /// work without it in their environment.
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| (v, Origin::Env(name.to_owned())))
        };
        if let Some((reference, origin)) = &self.token_ref {
            self.token = Some(reference.resolve_as("github.token", &env, origin.clone())?);
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawGithub {
    api_url: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<u64>>,
}

const TOKEN_HELP: &str = "use `env:NAME` (an environment variable holding the token) or \
     `file:PATH`; for example `token = \"env:GITHUB_TOKEN\"`";

/// Validates the raw section; the token is only checked for syntax here.
pub(crate) fn validate(
    raw: &RawGithub,
    at: &dyn Fn(usize) -> Origin,
) -> Result<GithubConfig, ConfigError> {
    let api_url = match &raw.api_url {
        Some(url) => {
            check_api_url(url.get_ref().trim()).map_err(|message| ConfigError::Invalid {
                setting: "github.api_url",
                origin: at(url.span().start),
                message,
            })?
        }
        None => DEFAULT_GITHUB_API_URL.to_owned(),
    };
    let token_ref = match &raw.token {
        Some(t) => {
            let origin = at(t.span().start);
            let r = crate::parse_secret_ref(
                t.get_ref().trim(),
                "github.token",
                &origin,
                "token",
                TOKEN_HELP,
            )?;
            Some((r, origin))
        }
        None => None,
    };
    let timeout = match &raw.timeout_ms {
        Some(ms) if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(ms.get_ref()) => {
            return Err(ConfigError::Invalid {
                setting: "github.timeout_ms",
                origin: at(ms.span().start),
                message: format!(
                    "must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}, not {}; the default is {DEFAULT_GITHUB_TIMEOUT_MS}",
                    ms.get_ref()
                ),
            });
        }
        Some(ms) => Duration::from_millis(*ms.get_ref()),
        None => Duration::from_millis(DEFAULT_GITHUB_TIMEOUT_MS),
    };
    Ok(GithubConfig {
        api_url,
        token_ref,
        token: None,
        timeout,
    })
}

/// An absolute `http(s)://host[:port][/path]` without credentials, query or fragment;
/// returned without a trailing `/`. Never echoes the URL (it might hold credentials).
fn check_api_url(url: &str) -> Result<String, String> {
    const EXAMPLE: &str = "for example `https://api.github.com` or `https://HOST/api/v3` for GitHub Enterprise Server";
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "must start with `https://` or `http://`; {EXAMPLE}"
        ));
    };
    if scheme != "https" && scheme != "http" {
        return Err(format!(
            "must start with `https://` or `http://`; {EXAMPLE}"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("has no host; {EXAMPLE}"));
    }
    if authority.contains('@') {
        return Err(
            "must not contain credentials; put the token in `token = \"env:NAME\"`".to_owned(),
        );
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(format!("must not have a query or fragment; {EXAMPLE}"));
    }
    if rest.contains(char::is_whitespace) || rest.split('/').any(|s| s == "." || s == "..") {
        return Err(format!(
            "must not contain spaces or `.`/`..` path segments; {EXAMPLE}"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

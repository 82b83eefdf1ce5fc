//! `[webhooks]`: the shared secrets GitHub and GitLab sign or send their webhook deliveries
//! with, and whether this replica processes accepted deliveries.

use serde::Deserialize;
use toml::Spanned;

use crate::{ConfigError, Origin, Secret, SecretRef};

/// The validated `[webhooks]` section. A forge without a secret has its webhook route refuse
/// every delivery (fail closed).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksConfig {
    /// Where GitHub's webhook secret is (`github_secret`), and where that was configured.
    pub github_secret_ref: Option<(SecretRef, Origin)>,
    /// The secret, once [`WebhooksConfig::resolve_secrets`] has read it.
    pub github_secret: Option<Secret>,
    /// Where GitLab's webhook secret token is (`gitlab_token`), and where that was configured.
    pub gitlab_token_ref: Option<(SecretRef, Origin)>,
    /// The token, once [`WebhooksConfig::resolve_secrets`] has read it.
    pub gitlab_token: Option<Secret>,
    /// Whether this replica processes accepted deliveries into change records (`process`,
    /// default `true`). With `false` it only accepts and stores them; another replica (or this
    /// one after a restart with `true`) processes them.
    pub process: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            github_secret_ref: None,
            github_secret: None,
            gitlab_token_ref: None,
            gitlab_token: None,
            process: true,
        }
    }
}

impl WebhooksConfig {
    /// Reads the secrets from their references. Only `aigov serve` does this, so other commands
    /// work without them in their environment.
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| (v, Origin::Env(name.to_owned())))
        };
        if let Some((reference, origin)) = &self.github_secret_ref {
            self.github_secret =
                Some(reference.resolve_as("webhooks.github_secret", &env, origin.clone())?);
        }
        if let Some((reference, origin)) = &self.gitlab_token_ref {
            self.gitlab_token =
                Some(reference.resolve_as("webhooks.gitlab_token", &env, origin.clone())?);
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawWebhooks {
    github_secret: Option<Spanned<String>>,
    gitlab_token: Option<Spanned<String>>,
    process: Option<bool>,
}

const GITHUB_HELP: &str = "use `env:NAME` (an environment variable holding the secret) or \
     `file:PATH`; for example `github_secret = \"env:GITHUB_WEBHOOK_SECRET\"`";

const GITLAB_HELP: &str = "use `env:NAME` (an environment variable holding the token) or \
     `file:PATH`; for example `gitlab_token = \"env:GITLAB_WEBHOOK_TOKEN\"`";

/// Validates the raw section; secrets are only checked for syntax here.
pub(crate) fn validate(
    raw: &RawWebhooks,
    at: &dyn Fn(usize) -> Origin,
) -> Result<WebhooksConfig, ConfigError> {
    let reference = |value: &Option<Spanned<String>>,
                     setting: &'static str,
                     what: &str,
                     help: &str|
     -> Result<Option<(SecretRef, Origin)>, ConfigError> {
        let Some(v) = value else {
            return Ok(None);
        };
        let origin = at(v.span().start);
        let r = crate::parse_secret_ref(v.get_ref().trim(), setting, &origin, what, help)?;
        Ok(Some((r, origin)))
    };
    Ok(WebhooksConfig {
        github_secret_ref: reference(
            &raw.github_secret,
            "webhooks.github_secret",
            "webhook secret",
            GITHUB_HELP,
        )?,
        github_secret: None,
        gitlab_token_ref: reference(
            &raw.gitlab_token,
            "webhooks.gitlab_token",
            "webhook token",
            GITLAB_HELP,
        )?,
        gitlab_token: None,
        process: raw.process.unwrap_or(true),
    })
}

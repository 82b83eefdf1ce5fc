//! `[gateway]`: the model providers the AI gateway forwards to, which models each serves, and
//! what each model's tokens cost (the price table budgets are counted in).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::{ConfigError, Origin, Secret, SecretRef};

pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 600_000;
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

/// The wire format an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamApi {
    /// OpenAI's API and compatible servers (vLLM, llama.cpp, Ollama's `/v1`, LiteLLM…).
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

impl UpstreamApi {
    /// The name used in `aigov.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamApi::Openai => "openai",
            UpstreamApi::Anthropic => "anthropic",
        }
    }
}

/// One model provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub name: String,
    pub api: UpstreamApi,
    /// Base URL without a trailing `/`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Where the credential is (and where that was configured); `None` for servers that need
    /// none (a local model).
    pub api_key_ref: Option<(SecretRef, Origin)>,
    /// The credential, once [`GatewayConfig::resolve_keys`] has read it.
    pub api_key: Option<Secret>,
    /// Inventory model ids served by this upstream.
    pub models: Vec<String>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Upstreams (by name, in order) that serve this one's models when it fails before
    /// answering: no connection, or 429/502/503/504. They speak the same API and serve the
    /// same model ids (another region, a replica of a self-hosted server).
    pub fallback: Vec<String>,
}

/// When the gateway hands a completed request's answer to the client, relative to its
/// ledger entry (`[gateway] answer_after`). Refusals are always committed before answering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerAfter {
    /// Once the entry is queued for the ledger's writer (the default). The writer commits it
    /// within one group commit and retries until it can; while it cannot, the gateway refuses
    /// new requests. A crash can lose only entries queued but not yet committed.
    #[default]
    Queued,
    /// Once the entry is durable in the ledger: no answered request can lose its entry, at
    /// the cost of one commit (with `durability = "power-loss"`, an fsync) per request.
    Committed,
}

/// The validated `[gateway]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayConfig {
    pub upstreams: Vec<Upstream>,
    pub answer_after: AnswerAfter,
    /// What each model's tokens cost (`[[gateway.prices]]`); a model without a price costs 0.
    pub prices: model::PriceTable,
}

impl GatewayConfig {
    /// Reads every upstream's key from its reference. Only `aigov serve` does this, so other
    /// commands work without the providers' keys in their environment.
    pub fn resolve_keys(&mut self) -> Result<(), ConfigError> {
        for u in &mut self.upstreams {
            if let Some((reference, origin)) = &u.api_key_ref {
                let env = |name: &str| {
                    std::env::var(name)
                        .ok()
                        .map(|v| (v, Origin::Env(name.to_owned())))
                };
                u.api_key = Some(reference.resolve_as(
                    "gateway.upstreams.api_key",
                    &env,
                    origin.clone(),
                )?);
            }
        }
        Ok(())
    }

    /// The upstream serving `model`, if any.
    pub fn upstream_for(&self, model: &str) -> Option<&Upstream> {
        self.upstreams
            .iter()
            .find(|u| u.models.iter().any(|m| m == model))
    }

    /// The upstreams to try for `model`: the one serving it, then its fallbacks in order.
    pub fn route(&self, model: &str) -> Vec<&Upstream> {
        let Some(first) = self.upstream_for(model) else {
            return Vec::new();
        };
        let mut route = vec![first];
        route.extend(
            first
                .fallback
                .iter()
                .filter_map(|name| self.upstreams.iter().find(|u| &u.name == name)),
        );
        route
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawGateway {
    upstreams: Vec<Spanned<RawUpstream>>,
    answer_after: AnswerAfter,
    prices: Vec<RawPrice>,
}

/// One `[[gateway.prices]]` entry: USD per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    model: Spanned<String>,
    input: Spanned<f64>,
    output: Spanned<f64>,
    #[serde(default)]
    cache_read: Option<Spanned<f64>>,
    #[serde(default)]
    cache_write: Option<Spanned<f64>>,
}

/// The highest accepted price, in USD per million tokens (a typo guard, far above any real one).
const MAX_USD_PER_MTOK: f64 = 1_000_000.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    name: Spanned<String>,
    api: UpstreamApi,
    base_url: Spanned<String>,
    #[serde(default)]
    api_key: Option<Spanned<String>>,
    models: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    connect_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    fallback: Vec<Spanned<String>>,
}

/// Every name listed as some upstream's fallback.
fn raw_fallback_names(raw: &[Spanned<RawUpstream>]) -> impl Iterator<Item = &str> {
    raw.iter()
        .flat_map(|u| u.get_ref().fallback.iter().map(|f| f.get_ref().trim()))
}

const KEY_HELP: &str = "use `env:NAME` (an environment variable holding the provider key) or \
     `file:PATH`; for example `api_key = \"env:OPENAI_API_KEY\"`";

/// Validates the raw section; `at` turns a byte offset of the file into an [`Origin`]. Keys
/// are only checked for syntax here; [`GatewayConfig::resolve_keys`] reads them.
pub(crate) fn validate(
    raw: &RawGateway,
    at: &dyn Fn(usize) -> Origin,
) -> Result<GatewayConfig, ConfigError> {
    let invalid = |setting: &'static str, offset: usize, message: String| ConfigError::Invalid {
        setting,
        origin: at(offset),
        message,
    };
    let mut upstreams = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut served: BTreeMap<String, String> = BTreeMap::new();
    let raw_all = &raw.upstreams;
    for raw in raw_all {
        let u = raw.get_ref();
        let name = u.name.get_ref().trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "gateway.upstreams.name",
                u.name.span().start,
                format!(
                    "`{}` is not a valid upstream name; use letters, digits, `-`, `_` or `.`",
                    name.escape_debug()
                ),
            ));
        }
        if names.insert(name.to_owned(), u.name.span().start).is_some() {
            return Err(invalid(
                "gateway.upstreams.name",
                u.name.span().start,
                format!("upstream `{name}` is defined twice; names must be unique"),
            ));
        }
        let base_url = check_base_url(u.base_url.get_ref().trim()).map_err(|message| {
            invalid(
                "gateway.upstreams.base_url",
                u.base_url.span().start,
                format!("upstream `{name}`: {message}"),
            )
        })?;
        let api_key_ref = match &u.api_key {
            None => None,
            Some(k) => {
                let origin = at(k.span().start);
                let reference = crate::parse_secret_ref(
                    k.get_ref().trim(),
                    "gateway.upstreams.api_key",
                    &origin,
                    "provider key",
                    KEY_HELP,
                )?;
                Some((reference, origin))
            }
        };
        let is_fallback = raw_fallback_names(raw_all).any(|n| n == name);
        if u.models.get_ref().is_empty() && !is_fallback {
            return Err(invalid(
                "gateway.upstreams.models",
                u.models.span().start,
                format!(
                    "upstream `{name}` serves no models; list the inventory model ids it serves, e.g. `models = [\"gpt-4.1\"]` (only a fallback of another upstream may list none)"
                ),
            ));
        }
        let mut models = Vec::new();
        for m in u.models.get_ref() {
            let model = m.get_ref().trim().to_owned();
            if model.is_empty() {
                return Err(invalid(
                    "gateway.upstreams.models",
                    m.span().start,
                    format!("upstream `{name}` lists an empty model id"),
                ));
            }
            if let Some(other) = served.insert(model.clone(), name.to_owned()) {
                return Err(invalid(
                    "gateway.upstreams.models",
                    m.span().start,
                    format!(
                        "model `{model}` is served by both `{other}` and `{name}`; route each model to one upstream"
                    ),
                ));
            }
            models.push(model);
        }
        let millis = |v, setting, default| crate::positive_millis(v, setting, default, at);
        upstreams.push(Upstream {
            name: name.to_owned(),
            api: u.api,
            base_url,
            api_key_ref,
            api_key: None,
            models,
            timeout: millis(
                &u.timeout_ms,
                "gateway.upstreams.timeout_ms",
                DEFAULT_UPSTREAM_TIMEOUT_MS,
            )?,
            connect_timeout: millis(
                &u.connect_timeout_ms,
                "gateway.upstreams.connect_timeout_ms",
                DEFAULT_CONNECT_TIMEOUT_MS,
            )?,
            fallback: u
                .fallback
                .iter()
                .map(|f| f.get_ref().trim().to_owned())
                .collect(),
        });
    }
    // Fallbacks name other upstreams of the same API, once each.
    for (raw, upstream) in raw_all.iter().zip(&upstreams) {
        let mut seen = Vec::new();
        for f in &raw.get_ref().fallback {
            let target = f.get_ref().trim();
            let error =
                |message: String| invalid("gateway.upstreams.fallback", f.span().start, message);
            let Some(other) = upstreams.iter().find(|u| u.name == target) else {
                let names: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
                return Err(error(format!(
                    "upstream `{}` falls back to `{target}`, which is not a configured upstream (known: {})",
                    upstream.name,
                    names.join(", ")
                )));
            };
            if other.name == upstream.name || seen.contains(&target) {
                return Err(error(format!(
                    "upstream `{}` lists `{target}` as its own fallback or twice; list each other upstream once",
                    upstream.name
                )));
            }
            if other.api != upstream.api {
                return Err(error(format!(
                    "upstream `{}` (`{}`) cannot fall back to `{target}` (`{}`): a fallback must speak the same API",
                    upstream.name,
                    upstream.api.as_str(),
                    other.api.as_str()
                )));
            }
            seen.push(target);
        }
    }
    Ok(GatewayConfig {
        upstreams,
        answer_after: raw.answer_after,
        prices: validate_prices(raw, at)?,
    })
}

/// Validates `[[gateway.prices]]` into the price table (`GatewayConfig::prices`).
fn validate_prices(
    raw: &RawGateway,
    at: &dyn Fn(usize) -> Origin,
) -> Result<model::PriceTable, ConfigError> {
    let raw = &raw.prices;
    let mut table = model::PriceTable::default();
    let mut first: BTreeMap<String, Origin> = BTreeMap::new();
    for p in raw {
        let model = p.model.get_ref().trim();
        if model.is_empty() {
            return Err(ConfigError::Invalid {
                setting: "gateway.prices.model",
                origin: at(p.model.span().start),
                message: "empty model id; use the inventory model id, e.g. `model = \"gpt-4.1\"`"
                    .to_owned(),
            });
        }
        if let Some(origin) = first.get(model) {
            return Err(ConfigError::Invalid {
                setting: "gateway.prices.model",
                origin: at(p.model.span().start),
                message: format!(
                    "model `{model}` is priced twice (first {origin}); give each model one price"
                ),
            });
        }
        first.insert(model.to_owned(), at(p.model.span().start));
        let micro = |setting: &'static str, v: &Spanned<f64>| -> Result<u64, ConfigError> {
            let usd = *v.get_ref();
            if !usd.is_finite() || !(0.0..=MAX_USD_PER_MTOK).contains(&usd) {
                return Err(ConfigError::Invalid {
                    setting,
                    origin: at(v.span().start),
                    message: format!(
                        "`{usd}` is not a price for model `{model}`; give USD per million tokens, from 0 to {MAX_USD_PER_MTOK}, e.g. `3.0`"
                    ),
                });
            }
            // USD per million tokens to micro-USD per million tokens; exact for up to 6 decimals.
            Ok((usd * 1e6).round() as u64)
        };
        let input = micro("gateway.prices.input", &p.input)?;
        let price = model::ModelPrice {
            input,
            output: micro("gateway.prices.output", &p.output)?,
            cache_read: match &p.cache_read {
                Some(v) => micro("gateway.prices.cache_read", v)?,
                None => input,
            },
            cache_write: match &p.cache_write {
                Some(v) => micro("gateway.prices.cache_write", v)?,
                None => input,
            },
        };
        table.models.insert(model.to_owned(), price);
    }
    Ok(table)
}

/// `http(s)://host[:port][/path]` without credentials, query or fragment; returned without
/// a trailing `/`. Never echoes the URL (it might hold a key).
fn check_base_url(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("`base_url` must start with `https://` or `http://`".to_owned());
    };
    if scheme != "https" && scheme != "http" {
        return Err("`base_url` must start with `https://` or `http://`".to_owned());
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err("`base_url` has no host".to_owned());
    }
    if authority.contains('@') {
        return Err(
            "`base_url` must not contain credentials; put the key in `api_key = \"env:NAME\"`"
                .to_owned(),
        );
    }
    if rest.contains('?') || rest.contains('#') {
        return Err("`base_url` must not have a query or fragment".to_owned());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

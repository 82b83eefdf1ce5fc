//! Budgets and rate limits (the bundle's `budgets.yaml`), the price table (`[gateway.prices]`
//! in `aigov.toml`), and what the gateway reports about the budget a request is closest to.
//!
//! Amounts of money are integer micro-USD (1 USD = 1,000,000); prices are integer micro-USD per
//! million tokens, which is the same number as USD per token × 10⁶ and keeps cost math exact.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Micro-USD in one USD.
pub const MICRO_USD_PER_USD: u64 = 1_000_000;

/// What a budget counts separately for, or filters on: a property of the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Dimension {
    /// The person the developer key belongs to.
    Developer,
    /// Each team the person belongs to (a person in two teams counts against both).
    Team,
    /// The AI tool (`x-aigov-tool`).
    Tool,
    /// The model the request names.
    Model,
    /// The repository the context comes from (`owner/name`).
    Repo,
    /// A request tag (`x-aigov-tags: key=value,…`), by key.
    Tag(String),
}

impl Dimension {
    /// The names accepted in `per:` and `where:` (tags as `tag:<key>`).
    pub const NAMES: &'static [&'static str] =
        &["developer", "team", "tool", "model", "repo", "tag:<key>"];
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Developer => f.write_str("developer"),
            Dimension::Team => f.write_str("team"),
            Dimension::Tool => f.write_str("tool"),
            Dimension::Model => f.write_str("model"),
            Dimension::Repo => f.write_str("repo"),
            Dimension::Tag(key) => write!(f, "tag:{key}"),
        }
    }
}

impl FromStr for Dimension {
    type Err = String;
    fn from_str(s: &str) -> Result<Dimension, String> {
        match s {
            "developer" => Ok(Dimension::Developer),
            "team" => Ok(Dimension::Team),
            "tool" => Ok(Dimension::Tool),
            "model" => Ok(Dimension::Model),
            "repo" => Ok(Dimension::Repo),
            _ => match s.strip_prefix("tag:") {
                Some(key) if is_tag_key(key) => Ok(Dimension::Tag(key.to_owned())),
                Some(key) => Err(format!(
                    "`{key}` is not a valid tag key; use letters, digits, `-`, `_` or `.`"
                )),
                None => Err(format!(
                    "`{s}` is not one of {}",
                    Dimension::NAMES
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
        }
    }
}

impl From<Dimension> for String {
    fn from(d: Dimension) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Dimension {
    type Error = String;
    fn try_from(s: String) -> Result<Dimension, String> {
        s.parse()
    }
}

/// A tag key: non-empty ASCII letters, digits, `-`, `_`, `.`.
pub fn is_tag_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The calendar period a budget counts over, in UTC. Windows start on calendar boundaries
/// (the minute, the hour, midnight, Monday 00:00, the 1st of the month) and do not slide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Minute,
    Hour,
    Day,
    /// ISO week: Monday 00:00 UTC to the next Monday.
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 5] = [
        Window::Minute,
        Window::Hour,
        Window::Day,
        Window::Week,
        Window::Month,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Window, String> {
        Window::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not one of {} (calendar periods in UTC)",
                    Window::ALL.map(|w| format!("`{w}`")).join(", ")
                )
            })
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Money, in micro-USD (written `cost_usd` in USD in `budgets.yaml`).
    CostUsd,
    /// Tokens: input, output, cache reads and cache writes together.
    Tokens,
    /// Requests sent upstream (each counts once, failed ones included).
    Requests,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::CostUsd, Metric::Tokens, Metric::Requests];
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::CostUsd => "cost_usd",
            Metric::Tokens => "tokens",
            Metric::Requests => "requests",
        }
    }
    /// An amount of this metric for people: `12.5 USD`, `1,000,000 tokens`, `60 requests`.
    pub fn format(self, amount: u64) -> String {
        match self {
            Metric::CostUsd => format!("{} USD", format_usd(amount)),
            Metric::Tokens if amount == 1 => "1 token".to_owned(),
            Metric::Tokens => format!("{} tokens", group_thousands(amount)),
            Metric::Requests if amount == 1 => "1 request".to_owned(),
            Metric::Requests => format!("{} requests", group_thousands(amount)),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Micro-USD as USD with as many decimals as needed, at least two when not whole:
/// `200`, `12.50`, `0.000125`.
pub fn format_usd(micro: u64) -> String {
    let whole = micro / MICRO_USD_PER_USD;
    let frac = micro % MICRO_USD_PER_USD;
    if frac == 0 {
        return group_thousands(whole);
    }
    let mut digits = format!("{frac:06}");
    while digits.len() > 2 && digits.ends_with('0') {
        digits.pop();
    }
    format!("{}.{digits}", group_thousands(whole))
}

fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The limits of one budget; at least one is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub cost_micro_usd: Option<u64>,
    pub tokens: Option<u64>,
    pub requests: Option<u64>,
}

impl Limits {
    pub fn get(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::CostUsd => self.cost_micro_usd,
            Metric::Tokens => self.tokens,
            Metric::Requests => self.requests,
        }
    }
    /// The limits that are set, in [`Metric::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, u64)> + '_ {
        Metric::ALL
            .into_iter()
            .filter_map(|m| self.get(m).map(|v| (m, v)))
    }
}

/// `where:` — the budget applies only to requests whose `dimension` is one of `values` (for
/// `team`: any of the person's teams).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

/// One budget or rate limit of `budgets.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Unique in the bundle; shown to developers and the key its counters are stored under
    /// (renaming a budget starts its counts afresh).
    pub name: String,
    /// Counted separately per combination of these dimensions' values; empty: one count shared
    /// by every request the budget applies to. A request lacking a value (no repository, no
    /// such tag, a person in no team) is not subject to the budget.
    pub per: Vec<Dimension>,
    /// All must match for the budget to apply.
    pub filters: Vec<Filter>,
    pub window: Window,
    pub limit: Limits,
}

/// The budgets of a bundle; without `budgets.yaml`, none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budgets {
    pub budgets: Vec<Budget>,
}

/// A model's price in micro-USD per million tokens (numerically: USD per million tokens × 10⁶).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Input tokens that are neither read from nor written to the provider's prompt cache.
    pub input: u64,
    pub output: u64,
    /// Input tokens read from the prompt cache (defaults to `input` in the config).
    pub cache_read: u64,
    /// Input tokens written to the prompt cache (defaults to `input` in the config).
    pub cache_write: u64,
}

/// Prices per model id. A model without a price costs 0; its tokens and requests still count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTable {
    pub models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(model)
    }
}

/// The limit a request is closest to (or over), for telling the developer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetUse {
    /// The budget's name.
    pub budget: String,
    /// Whose count this is, e.g. `developer=alice` or `team=payments,model=gpt-4o`; empty for
    /// a budget shared by everyone.
    pub scope: String,
    pub metric: Metric,
    /// Used in the current window before this request (micro-USD for cost).
    pub spent: u64,
    pub limit: u64,
    pub window: Window,
    /// When the current window ends, RFC 3339 UTC (`2026-12-01T00:00:00Z`).
    pub resets_at: String,
}

impl BudgetUse {
    /// For the developer: "budget `developer-monthly` (200 USD per month, developer=alice) is
    /// spent: 200.13 USD used; resets 2026-12-01T00:00:00Z".
    pub fn message(&self) -> String {
        let scope = if self.scope.is_empty() {
            String::new()
        } else {
            format!(", {}", self.scope)
        };
        format!(
            "budget `{}` ({} per {}{scope}) is spent: {} used; resets {}",
            self.budget,
            self.metric.format(self.limit),
            self.window,
            self.metric.format(self.spent),
            self.resets_at
        )
    }
    /// `spent` in percent of `limit`, rounded down (may exceed 100).
    pub fn used_percent(&self) -> u64 {
        if self.limit == 0 {
            return 100;
        }
        u64::try_from(u128::from(self.spent) * 100 / u128::from(self.limit)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_amounts() {
        assert_eq!(format_usd(200_000_000), "200");
        assert_eq!(format_usd(12_500_000), "12.50");
        assert_eq!(format_usd(125), "0.000125");
        assert_eq!(format_usd(1_234_567_890_000), "1,234,567.89");
        assert_eq!(Metric::Tokens.format(1_000_000), "1,000,000 tokens");
        assert_eq!(Metric::Requests.format(60), "60 requests");
    }

    #[test]
    fn dimensions_round_trip() {
        for s in [
            "developer",
            "team",
            "tool",
            "model",
            "repo",
            "tag:cost-center",
        ] {
            assert_eq!(s.parse::<Dimension>().unwrap().to_string(), s);
        }
        assert!("tag:".parse::<Dimension>().is_err());
        assert!("teams".parse::<Dimension>().is_err());
    }
}

//! `budgets.yaml`: the bundle's budgets and rate limits, enforced by the AI gateway.
//!
//! ```yaml
//! budgets:
//!   - name: developer-monthly
//!     per: [developer]            # developer, team, tool, model, repo, tag:<key>
//!     where: { team: payments }   # optional; a value or a list of values per dimension
//!     window: month               # minute | hour | day | week | month (calendar, UTC)
//!     limit: { cost_usd: 200 }    # any of cost_usd, tokens, requests
//! ```

use std::collections::HashMap;

use marked_yaml::Spanned;
use model::{
    Budget, Budgets, Diagnostic, Dimension, Filter, Inventory, Limits, Location, MICRO_USD_PER_USD,
    Window,
};
use serde::Deserialize;

use crate::yaml::YamlFile;

/// The budgets file of a bundle.
pub const BUDGETS_FILE: &str = "budgets.yaml";

type S = Spanned<String>;

const FILE_HINT: &str = "`budgets.yaml` holds `budgets:`, a list of budgets";
const BUDGET_FIELDS: &[&str] = &["name", "per", "where", "window", "limit"];
const LIMIT_FIELDS: &[&str] = &["cost_usd", "tokens", "requests"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    budgets: Vec<RawBudget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    name: S,
    #[serde(default)]
    per: Vec<S>,
    #[serde(default, rename = "where")]
    filters: HashMap<S, Spanned<OneOrMany>>,
    window: S,
    limit: Spanned<RawLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    cost_usd: Option<S>,
    tokens: Option<S>,
    requests: Option<S>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A `where:` value naming an inventory record, checked once the inventory is read.
pub(crate) struct Reference {
    dimension: Dimension,
    value: String,
    at: Location,
}

/// Reads the budgets, reporting problems with their positions; `None` on errors. `where:`
/// values naming inventory records go to `references`, for [`check_references`].
pub(crate) fn read(
    file: &YamlFile<'_>,
    references: &mut Vec<Reference>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Budgets> {
    let node = match file.parse(1, file.text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let raw: RawFile = match file.typed(&node, "budgets file") {
        Ok(r) => r,
        Err(d) => {
            let hint = unknown_field_hint(&d.message).unwrap_or_else(|| FILE_HINT.to_owned());
            diags.push(d.with_hint(hint));
            return None;
        }
    };
    let before = diags.len();
    let mut budgets = Vec::new();
    let mut names: HashMap<String, Location> = HashMap::new();
    for b in &raw.budgets {
        if let Some(budget) = read_budget(file, b, &mut names, references, diags) {
            budgets.push(budget);
        }
    }
    (diags.len() == before).then_some(Budgets { budgets })
}

fn read_budget(
    file: &YamlFile<'_>,
    b: &RawBudget,
    names: &mut HashMap<String, Location>,
    references: &mut Vec<Reference>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Budget> {
    let before = diags.len();
    let name = b.name.as_str().trim();
    let at_name = file.at(b.name.span());
    if !model::is_tag_key(name) {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                at_name.clone(),
                format!("invalid budget `name`: `{}`", name.escape_debug()),
            )
            .with_hint("use letters, digits, `-`, `_` or `.`, e.g. `developer-monthly`"),
        );
    } else if let Some(first) = names.get(name) {
        diags.push(
            Diagnostic::error(
                "duplicate-budget",
                at_name.clone(),
                format!("budget `{name}` is defined twice"),
            )
            .with_hint(format!(
                "the first definition is at {first}; budget names must be unique"
            )),
        );
    } else {
        names.insert(name.to_owned(), at_name.clone());
    }

    let mut per = Vec::new();
    for p in &b.per {
        if let Some(d) = dimension(file, "per", p, diags) {
            if per.contains(&d) {
                diags.push(Diagnostic::error(
                    "invalid-value",
                    file.at(p.span()),
                    format!("budget `{name}` lists `{d}` twice in `per`"),
                ));
            } else {
                per.push(d);
            }
        }
    }

    let mut filters = Vec::new();
    for (key, values) in &b.filters {
        let Some(dimension) = dimension(file, "where", key, diags) else {
            continue;
        };
        let at = file.at(values.span());
        let values: Vec<String> = match &**values {
            OneOrMany::One(v) => vec![v.trim().to_owned()],
            OneOrMany::Many(vs) => vs.iter().map(|v| v.trim().to_owned()).collect(),
        };
        if values.is_empty() || values.iter().any(String::is_empty) {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    at.clone(),
                    format!("`where.{dimension}` of budget `{name}` has an empty value"),
                )
                .with_hint(format!(
                    "give one value (`{dimension}: x`) or a list (`{dimension}: [x, y]`)"
                )),
            );
            continue;
        }
        for value in &values {
            references.push(Reference {
                dimension: dimension.clone(),
                value: value.clone(),
                at: at.clone(),
            });
        }
        filters.push(Filter { dimension, values });
    }

    filters.sort_by(|a, b| a.dimension.cmp(&b.dimension));
    let window = file.parse_value::<Window>("window", &b.window, diags);
    let limit = read_limit(file, name, &b.limit, diags);
    if diags.len() != before {
        return None;
    }
    Some(Budget {
        name: name.to_owned(),
        per,
        filters,
        window: window?,
        limit: limit?,
    })
}

fn dimension(
    file: &YamlFile<'_>,
    field: &str,
    v: &S,
    diags: &mut Vec<Diagnostic>,
) -> Option<Dimension> {
    match v.trim().parse::<Dimension>() {
        Ok(d) => Some(d),
        Err(e) => {
            let mut d = Diagnostic::error(
                "invalid-value",
                file.at(v.span()),
                format!("invalid `{field}`: {e}"),
            );
            let known = ["developer", "team", "tool", "model", "repo"];
            if let Some(best) = policy::closest(v.trim(), known.iter().map(|s| s.to_string())) {
                d = d.with_hint(format!("did you mean `{best}`?"));
            } else if !v.starts_with("tag:") {
                d = d.with_hint("request tags are written `tag:<key>`, e.g. `tag:cost-center`");
            }
            diags.push(d);
            None
        }
    }
}

fn read_limit(
    file: &YamlFile<'_>,
    name: &str,
    raw: &Spanned<RawLimit>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Limits> {
    let before = diags.len();
    let mut limits = Limits::default();
    if let Some(v) = &raw.cost_usd {
        limits.cost_micro_usd = parse_usd(v).map_or_else(
            |e| {
                diags.push(Diagnostic::error(
                    "invalid-value",
                    file.at(v.span()),
                    format!("invalid `limit.cost_usd`: {e}"),
                ));
                None
            },
            Some,
        );
    }
    for (field, value, slot) in [
        ("tokens", &raw.tokens, &mut limits.tokens),
        ("requests", &raw.requests, &mut limits.requests),
    ] {
        if let Some(v) = value {
            match parse_count(v) {
                Ok(n) => *slot = Some(n),
                Err(e) => diags.push(Diagnostic::error(
                    "invalid-value",
                    file.at(v.span()),
                    format!("invalid `limit.{field}`: {e}"),
                )),
            }
        }
    }
    if diags.len() == before && limits.iter().next().is_none() {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                file.at(raw.span()),
                format!("budget `{name}` sets no limit"),
            )
            .with_hint(
                "set any of `cost_usd`, `tokens`, `requests`, e.g. `limit: { cost_usd: 200 }`",
            ),
        );
    }
    (diags.len() == before).then_some(limits)
}

/// A non-negative amount of USD with at most 6 decimals, as micro-USD (exact, no floats).
fn parse_usd(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let bad = || {
        format!(
            "`{}` is not an amount of USD; write a number such as `200` or `12.50`",
            s.trim()
        )
    };
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > 6 {
        return Err(format!(
            "`{}` has more than 6 decimals; the smallest amount is 0.000001 USD",
            s.trim()
        ));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: u64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(MICRO_USD_PER_USD)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("`{}` is too large", s.trim()))
}

/// A non-negative whole number; `_` may group digits (`1_000_000`).
fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{}` is not a whole number; write e.g. `1000000` or `1_000_000`",
            s.trim()
        ));
    }
    t.parse()
        .map_err(|_| format!("`{}` is too large", s.trim()))
}

/// "did you mean" for an unknown field in a serde message such as
/// "Unknown field `windw`, expected …".
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("nknown field `").nth(1)?;
    let field = rest.split('`').next()?;
    let (known, what) = if message.contains("`cost_usd`") {
        (
            LIMIT_FIELDS,
            "a limit takes `cost_usd`, `tokens` and `requests`",
        )
    } else if message.contains("`window`") {
        (
            BUDGET_FIELDS,
            "a budget takes `name`, `per`, `where`, `window` and `limit`",
        )
    } else {
        (&["budgets"][..], FILE_HINT)
    };
    Some(
        match policy::closest(field, known.iter().map(|s| s.to_string())) {
            Some(best) => format!("did you mean `{best}`? ({what})"),
            None => what.to_owned(),
        },
    )
}

/// Checks `where:` values naming people, teams, tools and models against the inventory.
pub(crate) fn check_references(
    references: &[Reference],
    inventory: &Inventory,
    diags: &mut Vec<Diagnostic>,
) {
    for r in references {
        let (kind, known): (&str, Vec<&String>) = match r.dimension {
            Dimension::Developer => ("person", inventory.people.keys().collect()),
            Dimension::Team => ("team", inventory.teams.keys().collect()),
            Dimension::Tool => ("tool", inventory.tools.keys().collect()),
            Dimension::Model => ("model", inventory.models.keys().collect()),
            Dimension::Repo | Dimension::Tag(_) => continue,
        };
        if known.iter().any(|k| **k == r.value) {
            continue;
        }
        let diag = Diagnostic::error(
            &format!("unknown-{kind}"),
            r.at.clone(),
            format!(
                "`where.{}` refers to {kind} `{}`, which is not defined",
                r.dimension, r.value
            ),
        );
        diags.push(
            match policy::closest(&r.value, known.into_iter().cloned()) {
                Some(best) => diag.with_hint(format!("did you mean `{best}`?")),
                None => diag.with_hint(format!(
                    "define {kind} `{}` in the inventory, or fix the budget",
                    r.value
                )),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_amounts_are_exact() {
        assert_eq!(parse_usd("200"), Ok(200_000_000));
        assert_eq!(parse_usd("12.5"), Ok(12_500_000));
        assert_eq!(parse_usd(".25"), Ok(250_000));
        assert_eq!(parse_usd("1_000"), Ok(1_000_000_000));
        assert_eq!(parse_usd("0.000001"), Ok(1));
        assert!(parse_usd("0.0000001").is_err());
        assert!(parse_usd("-1").is_err());
        assert!(parse_usd("1e3").is_err());
        assert!(parse_usd(".").is_err());
        assert!(parse_usd("99999999999999999").is_err());
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert!(parse_count("1.5").is_err());
    }
}

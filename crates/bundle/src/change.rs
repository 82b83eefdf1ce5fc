//! `change.yaml`: the bundle's change-management settings for the merge and deploy gates.
//!
//! ```yaml
//! review_checklist:              # the AI-review checklist a reviewer ticks (`- [x] …`)
//!   - I read and understood every AI-generated line
//! checks:
//!   tests: [test]                # check/status/pipeline names meaning "tests passed"
//!   security: [security-scan]    # … meaning "the security scan passed"
//! protected_branches: [main]     # default: main, master
//! deployments:
//!   authorization_valid_for: 7d  # default 7d
//!   retro_review_within: 48h     # break-glass retro-review deadline, default 48h
//! ```

use marked_yaml::Spanned;
use model::{ChangeManagement, Diagnostic};
use serde::Deserialize;

use crate::yaml::YamlFile;

/// The change-management file of a bundle.
pub const CHANGE_FILE: &str = "change.yaml";

const HINT: &str = "`change.yaml` takes `review_checklist: [..]`, `checks: {tests: [..], security: [..]}`, `protected_branches: [..]` and `deployments: {authorization_valid_for: 7d, retro_review_within: 48h}`";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    #[serde(default)]
    review_checklist: Vec<Spanned<String>>,
    #[serde(default)]
    checks: RawChecks,
    #[serde(default)]
    protected_branches: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    deployments: RawDeployments,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    #[serde(default)]
    tests: Vec<Spanned<String>>,
    #[serde(default)]
    security: Vec<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployments {
    #[serde(default)]
    authorization_valid_for: Option<Spanned<String>>,
    #[serde(default)]
    retro_review_within: Option<Spanned<String>>,
}

struct Dur(std::time::Duration);

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Dur, String> {
        model::parse_duration(s).map(Dur)
    }
}

/// Reads the change-management settings, reporting problems with their positions; `None` on
/// errors.
pub(crate) fn read(file: &YamlFile<'_>, diags: &mut Vec<Diagnostic>) -> Option<ChangeManagement> {
    let node = match file.parse(1, file.text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let raw: RawChange = match file.typed(&node, "change-management settings") {
        Ok(r) => r,
        Err(d) => {
            diags.push(d.with_hint(HINT));
            return None;
        }
    };
    let before = diags.len();
    let mut out = ChangeManagement::default();
    let list = |field: &str, items: &[Spanned<String>], diags: &mut Vec<Diagnostic>| {
        let mut seen: Vec<String> = Vec::new();
        for item in items {
            let text = item.trim();
            if text.is_empty() {
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        file.at(item.span()),
                        format!("`{field}` has an empty entry"),
                    )
                    .with_hint("remove the entry or write its text"),
                );
            } else if seen.iter().any(|s| s.eq_ignore_ascii_case(text)) {
                diags.push(Diagnostic::error(
                    "duplicate",
                    file.at(item.span()),
                    format!("`{field}` lists `{text}` twice"),
                ));
            } else {
                seen.push(text.to_owned());
            }
        }
        seen
    };
    out.review_checklist = list("review_checklist", &raw.review_checklist, diags);
    out.test_checks = list("checks.tests", &raw.checks.tests, diags);
    out.security_checks = list("checks.security", &raw.checks.security, diags);
    if let Some(branches) = &raw.protected_branches {
        out.protected_branches = list("protected_branches", branches, diags);
    }
    if let Some(v) = &raw.deployments.authorization_valid_for
        && let Some(d) = file.parse_value::<Dur>("deployments.authorization_valid_for", v, diags)
    {
        out.authorization_valid_for = d.0;
    }
    if let Some(v) = &raw.deployments.retro_review_within
        && let Some(d) = file.parse_value::<Dur>("deployments.retro_review_within", v, diags)
    {
        out.retro_review_within = d.0;
    }
    (diags.len() == before).then_some(out)
}

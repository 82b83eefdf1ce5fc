//! `handling.yaml`: what the AI gateway does with secrets and personal data in prompts.
//!
//! ```yaml
//! secrets: block             # pass (default) | redact | block
//! pii: pass
//! classifications:           # optional, per repository data classification
//!   internal: { secrets: redact, pii: redact }
//!   restricted: { pii: block }  # a field left out takes the top-level value
//! ```

use std::collections::HashMap;

use marked_yaml::Spanned;
use model::{DataClassification, Diagnostic, FindingAction, Handling, HandlingRule};
use serde::Deserialize;

use crate::yaml::YamlFile;

/// The data-handling file of a bundle.
pub const HANDLING_FILE: &str = "handling.yaml";

const HINT: &str = "`handling.yaml` takes `secrets` and `pii` (each `pass`, `redact` or `block`) and `classifications: {<classification>: {secrets: …, pii: …}}`";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandling {
    #[serde(default)]
    secrets: Option<Spanned<String>>,
    #[serde(default)]
    pii: Option<Spanned<String>>,
    #[serde(default)]
    classifications: HashMap<Spanned<String>, RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    secrets: Option<Spanned<String>>,
    #[serde(default)]
    pii: Option<Spanned<String>>,
}

/// Reads the data-handling policy, reporting problems with their positions; `None` on errors.
pub(crate) fn read(file: &YamlFile<'_>, diags: &mut Vec<Diagnostic>) -> Option<Handling> {
    let node = match file.parse(1, file.text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let raw: RawHandling = match file.typed(&node, "data-handling policy") {
        Ok(r) => r,
        Err(d) => {
            diags.push(d.with_hint(HINT));
            return None;
        }
    };
    let before = diags.len();
    let action = |field: &str,
                  value: &Option<Spanned<String>>,
                  default: FindingAction,
                  diags: &mut Vec<Diagnostic>| {
        value
            .as_ref()
            .and_then(|v| file.parse_value::<Action>(field, v, diags))
            .map_or(default, |a| a.0)
    };
    let default = HandlingRule {
        secrets: action("secrets", &raw.secrets, FindingAction::Pass, diags),
        pii: action("pii", &raw.pii, FindingAction::Pass, diags),
    };
    let mut by_classification = std::collections::BTreeMap::new();
    for (class, rule) in &raw.classifications {
        let rule = HandlingRule {
            secrets: action("secrets", &rule.secrets, default.secrets, diags),
            pii: action("pii", &rule.pii, default.pii, diags),
        };
        if let Some(class) = file.parse_value::<DataClassification>("classifications", class, diags)
        {
            by_classification.insert(class, rule);
        }
    }
    (diags.len() == before).then_some(Handling {
        default,
        by_classification,
    })
}

struct Action(FindingAction);

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        match s {
            "pass" => Ok(Action(FindingAction::Pass)),
            "redact" => Ok(Action(FindingAction::Redact)),
            "block" => Ok(Action(FindingAction::Block)),
            _ => Err(format!(
                "`{s}` is not one of `pass` (send it; the policy decides), `redact` (replace each finding with a typed placeholder), `block` (refuse the request)"
            )),
        }
    }
}

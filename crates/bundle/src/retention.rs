//! `retention.yaml`: the bundle's data-retention policy for prompt and response content.
//!
//! ```yaml
//! content: digest            # digest (default) | full
//! classifications:           # optional, per repository data classification
//!   public: full
//! ```

use std::collections::HashMap;

use marked_yaml::Spanned;
use model::{ContentRetention, DataClassification, Diagnostic, Retention};
use serde::Deserialize;

use crate::yaml::YamlFile;

/// The retention file of a bundle.
pub const RETENTION_FILE: &str = "retention.yaml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    #[serde(default)]
    content: Option<Spanned<String>>,
    #[serde(default)]
    classifications: HashMap<Spanned<String>, Spanned<String>>,
}

/// Reads the retention policy, reporting problems with their positions; `None` on errors.
pub(crate) fn read(file: &YamlFile<'_>, diags: &mut Vec<Diagnostic>) -> Option<Retention> {
    let node = match file.parse(1, file.text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let raw: RawRetention = match file.typed(&node, "retention policy") {
        Ok(r) => r,
        Err(d) => {
            diags.push(d.with_hint(
                "`retention.yaml` takes `content: digest|full` and `classifications: {<classification>: digest|full}`",
            ));
            return None;
        }
    };
    let before = diags.len();
    let mut retention = Retention::default();
    if let Some(content) = &raw.content
        && let Some(c) = file.parse_value::<Content>("content", content, diags)
    {
        retention.content = c.0;
    }
    for (class, value) in &raw.classifications {
        let class = file.parse_value::<DataClassification>("classifications", class, diags);
        let value = file.parse_value::<Content>("classifications", value, diags);
        if let (Some(class), Some(value)) = (class, value) {
            retention.by_classification.insert(class, value.0);
        }
    }
    (diags.len() == before).then_some(retention)
}

struct Content(ContentRetention);

impl std::str::FromStr for Content {
    type Err = String;
    fn from_str(s: &str) -> Result<Content, String> {
        match s {
            "digest" => Ok(Content(ContentRetention::Digest)),
            "full" => Ok(Content(ContentRetention::Full)),
            _ => Err(format!(
                "`{s}` is not one of `digest` (keep only a SHA-256 of the content), `full` (keep the content)"
            )),
        }
    }
}

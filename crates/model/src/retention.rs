//! The bundle's data-retention policy: what aigov keeps of prompt and response content.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DataClassification;

/// What is kept of a piece of content (a prompt, a response, a diff).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentRetention {
    /// Only its SHA-256 and length (and scanner findings, never their values). The default.
    #[default]
    Digest,
    /// The content itself, in the event's details, besides its digest.
    Full,
}

impl ContentRetention {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentRetention::Digest => "digest",
            ContentRetention::Full => "full",
        }
    }
}

impl fmt::Display for ContentRetention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data-retention policy of a bundle (`retention.yaml`); without that file, content is
/// kept as digests only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Applies where no classification rule does, including repositories aigov does not know.
    pub content: ContentRetention,
    /// Per data classification of the repository the content belongs to.
    pub by_classification: BTreeMap<DataClassification, ContentRetention>,
}

impl Retention {
    /// What to keep of content from a repository with this classification (`None`: unknown).
    pub fn content_for(&self, classification: Option<DataClassification>) -> ContentRetention {
        classification
            .and_then(|c| self.by_classification.get(&c).copied())
            .unwrap_or(self.content)
    }
}

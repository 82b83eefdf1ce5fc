//! A request's dimensions (who, with what, on what) and the `x-aigov-tags` header syntax.

use model::is_tag_key;

/// What budgets are counted per and filtered on. Borrowed from the request: building one
/// allocates only the two small vectors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dimensions<'a> {
    /// The person id the developer key belongs to.
    pub developer: &'a str,
    /// Every team of the person (`Inventory::teams_of`); each team's budgets apply.
    pub teams: Vec<&'a str>,
    pub tool: &'a str,
    pub model: &'a str,
    pub repo: Option<&'a str>,
    /// `(key, value)` pairs from `x-aigov-tags` (see [`parse_tags`]).
    pub tags: Vec<(&'a str, &'a str)>,
}

impl<'a> Dimensions<'a> {
    pub(crate) fn tag(&self, key: &str) -> Option<&'a str> {
        self.tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// At most this many tags per request.
pub const MAX_TAGS: usize = 16;
/// At most this many bytes per tag value.
pub const MAX_TAG_VALUE: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag `{0}` has no `=`; write tags as `key=value,key2=value2`")]
    MissingValue(String),
    #[error("tag key `{0}` is invalid; use letters, digits, `-`, `_` or `.`")]
    InvalidKey(String),
    #[error("tag `{0}` has an empty, too long (over 128 bytes) or non-printable value")]
    InvalidValue(String),
    #[error("tag `{0}` is given twice")]
    Duplicate(String),
    #[error("more than 16 tags")]
    TooMany,
}

/// Parses `x-aigov-tags: team-project=checkout, env=dev` into `(key, value)` pairs (trimmed).
/// An empty header is no tags.
pub fn parse_tags(header: &str) -> Result<Vec<(&str, &str)>, TagError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| TagError::MissingValue(part.to_owned()))?;
        let (key, value) = (key.trim(), value.trim());
        if !is_tag_key(key) {
            return Err(TagError::InvalidKey(key.to_owned()));
        }
        if value.is_empty() || value.len() > MAX_TAG_VALUE || value.chars().any(|c| c.is_control())
        {
            return Err(TagError::InvalidValue(key.to_owned()));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(TagError::Duplicate(key.to_owned()));
        }
        if out.len() == MAX_TAGS {
            return Err(TagError::TooMany);
        }
        out.push((key, value));
    }
    Ok(out)
}

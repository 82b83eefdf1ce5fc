//! YAML reading with positions: documents, typed values with spans, errors with file and line.

use marked_yaml::{LoadError, Marker, Node, Span, Spanned};
use model::{Diagnostic, Location};
use serde::de::DeserializeOwned;

/// One YAML file of the bundle.
pub(crate) struct YamlFile<'a> {
    pub(crate) path: &'a str,
    pub(crate) text: &'a str,
}

impl YamlFile<'_> {
    pub(crate) fn at_marker(&self, m: Option<&Marker>) -> Location {
        match m {
            Some(m) => Location::new(self.path, m.line(), m.column()),
            None => Location::file(self.path),
        }
    }

    pub(crate) fn at(&self, span: &Span) -> Location {
        self.at_marker(span.start())
    }

    /// The documents of the file (split at `---` lines), each with its first line number.
    pub(crate) fn documents(&self) -> Vec<(usize, String)> {
        let mut docs = Vec::new();
        let mut current = String::new();
        let mut first_line = 1;
        for (i, line) in self.text.lines().enumerate() {
            if line.trim_end() == "---" {
                if !current.trim().is_empty() {
                    docs.push((first_line, std::mem::take(&mut current)));
                }
                current.clear();
                first_line = i + 2;
                continue;
            }
            current.push_str(line);
            current.push('\n');
        }
        if !current.trim().is_empty() {
            docs.push((first_line, current));
        }
        docs
    }

    /// Parses one document; `line_offset` is added to every position.
    pub(crate) fn parse(&self, line_offset: usize, doc: &str) -> Result<Node, Diagnostic> {
        // Pad with newlines so markers carry the file's line numbers.
        let padded = format!("{}{doc}", "\n".repeat(line_offset.saturating_sub(1)));
        marked_yaml::parse_yaml(0, &padded).map_err(|e| {
            let marker = match &e {
                LoadError::TopLevelMustBeMapping(m)
                | LoadError::TopLevelMustBeSequence(m)
                | LoadError::UnexpectedAnchor(m)
                | LoadError::MappingKeyMustBeScalar(m)
                | LoadError::UnexpectedTag(m)
                | LoadError::ScanError(m, _) => Some(*m),
                LoadError::DuplicateKey(inner) => inner.key.span().start().copied(),
            };
            let message = e.to_string();
            let message = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, m)| m)
                .to_owned();
            Diagnostic::error(
                "yaml-syntax",
                self.at_marker(marker.as_ref()),
                format!("invalid YAML: {message}"),
            )
            .with_hint("check indentation and quoting; anchors, aliases and tags are not supported")
        })
    }

    /// Deserializes a node into `T`, reporting the first problem with its position and path.
    pub(crate) fn typed<T: DeserializeOwned>(
        &self,
        node: &Node,
        what: &str,
    ) -> Result<T, Diagnostic> {
        marked_yaml::from_node(node).map_err(|e| {
            let loc = self.at_marker(e.start_mark().as_ref().or(node.span().start()));
            let message = match e.path() {
                Some(path) if !path.is_empty() && path != "." => {
                    format!("invalid {what} at `{path}`: {}", *e)
                }
                _ => format!("invalid {what}: {}", *e),
            };
            Diagnostic::error("invalid-field", loc, message)
        })
    }

    /// Parses a string value with `FromStr`, e.g. an enum such as the rollout stage.
    pub(crate) fn parse_value<T: std::str::FromStr<Err = String>>(
        &self,
        field: &str,
        v: &Spanned<String>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        match v.parse::<T>() {
            Ok(x) => Some(x),
            Err(e) => {
                diags.push(Diagnostic::error(
                    "invalid-value",
                    self.at(v.span()),
                    format!("invalid `{field}`: {e}"),
                ));
                None
            }
        }
    }
}

/// `YYYY-MM-DD` with a plausible month and day.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

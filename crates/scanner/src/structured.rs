//! Scanning structured inputs: the decoded string values of a JSON document (request bodies),
//! and the added lines of a unified diff (the release gate).

use serde_json::Value;

use crate::{Finding, Scanner, Source};

/// A finding inside one JSON string value; `finding.span` is relative to the decoded string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFinding {
    /// RFC 6901 pointer to the string, e.g. `/messages/0/content`.
    pub pointer: String,
    pub finding: Finding,
}

/// A finding on an added line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffFinding {
    /// Path in the new tree (`b/` prefix removed).
    pub file: String,
    /// 1-based line number in the new file, and 1-based byte column.
    pub line: usize,
    pub column: usize,
    pub finding: Finding,
    /// The finding's span as byte offsets within that added line (clamped to the line for
    /// secrets that continue on following lines).
    pub line_span: std::ops::Range<usize>,
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Scanner {
    /// Scans every string value (not keys) of a JSON document, decoded, so escapes such as
    /// `\n` or `\"` neither hide a secret nor shift its span. Ordered by pointer, then
    /// position, whatever the map order of the parsed document.
    pub fn scan_json(&self, value: &Value) -> Vec<JsonFinding> {
        self.scan_json_in(value, Source::NONE)
    }

    /// [`Scanner::scan_json`] for a document tied to a repository (repository allowlists).
    pub fn scan_json_in(&self, value: &Value, src: Source<'_>) -> Vec<JsonFinding> {
        let mut out = Vec::new();
        self.walk(value, src, &mut String::new(), &mut out);
        out.sort_by(|a, b| {
            a.pointer
                .cmp(&b.pointer)
                .then(a.finding.span.start.cmp(&b.finding.span.start))
        });
        out
    }

    fn walk(
        &self,
        value: &Value,
        src: Source<'_>,
        pointer: &mut String,
        out: &mut Vec<JsonFinding>,
    ) {
        let len = pointer.len();
        match value {
            Value::String(s) => {
                for finding in self.scan_in(s.as_bytes(), src) {
                    out.push(JsonFinding {
                        pointer: pointer.clone(),
                        finding,
                    });
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    pointer.push_str(&format!("/{i}"));
                    self.walk(item, src, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    pointer.push('/');
                    pointer.push_str(&escape_pointer(k));
                    self.walk(v, src, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Scans the added lines of a unified diff (`git diff`, `diff -u`). Consecutive added lines
    /// of a file are scanned together, so a key block added over several lines is found.
    pub fn scan_diff(&self, diff: &str) -> Vec<DiffFinding> {
        self.scan_diff_in(diff, None)
    }

    /// [`Scanner::scan_diff`] for a change to `repo`: path-scoped rules and allowlists apply
    /// to each file of the diff.
    pub fn scan_diff_in(&self, diff: &str, repo: Option<&str>) -> Vec<DiffFinding> {
        let mut out = Vec::new();
        let mut file: Option<String> = None;
        let mut next_line = 0usize;
        // Added text of the current file, and (offset in it, line number) per added line.
        let mut added = String::new();
        let mut lines: Vec<(usize, usize)> = Vec::new();
        let flush = |file: &Option<String>,
                     added: &mut String,
                     lines: &mut Vec<(usize, usize)>,
                     out: &mut Vec<DiffFinding>| {
            if let Some(f) = file
                && !lines.is_empty()
            {
                let src = Source {
                    path: Some(f),
                    repo,
                };
                for finding in self.scan_in(added.as_bytes(), src) {
                    let idx = lines.partition_point(|(off, _)| *off <= finding.span.start) - 1;
                    let (off, line) = lines[idx];
                    let line_end = lines.get(idx + 1).map_or(added.len(), |(o, _)| o - 1);
                    let line_span = finding.span.start - off..finding.span.end.min(line_end) - off;
                    out.push(DiffFinding {
                        file: f.clone(),
                        line,
                        column: line_span.start + 1,
                        finding,
                        line_span,
                    });
                }
            }
            added.clear();
            lines.clear();
        };
        // Lines still expected in the current hunk (old side, new side); headers only outside.
        let (mut old_left, mut new_left) = (0usize, 0usize);
        for raw in diff.lines() {
            if old_left > 0 || new_left > 0 {
                match raw.as_bytes().first() {
                    Some(b'+') => {
                        lines.push((added.len(), next_line));
                        added.push_str(&raw[1..]);
                        added.push('\n');
                        next_line += 1;
                        new_left = new_left.saturating_sub(1);
                    }
                    Some(b'-') => old_left = old_left.saturating_sub(1),
                    Some(b'\\') => {} // "\ No newline at end of file"
                    _ => {
                        next_line += 1;
                        old_left = old_left.saturating_sub(1);
                        new_left = new_left.saturating_sub(1);
                    }
                }
            } else if let Some(path) = raw.strip_prefix("+++ ") {
                flush(&file, &mut added, &mut lines, &mut out);
                let path = path.split('\t').next().unwrap_or(path).trim();
                file = (path != "/dev/null")
                    .then(|| path.strip_prefix("b/").unwrap_or(path).to_owned());
            } else if let Some(hunk) = raw.strip_prefix("@@ ") {
                // `@@ -a,b +c,d @@`: counts default to 1 when omitted.
                let range = |sign: char| -> (usize, usize) {
                    let part = hunk
                        .split_whitespace()
                        .find_map(|p| p.strip_prefix(sign))
                        .unwrap_or("1");
                    let mut it = part.split(',').map(|n| n.parse::<usize>().unwrap_or(0));
                    (it.next().unwrap_or(1), it.next().unwrap_or(1))
                };
                let (_, old_count) = range('-');
                let (start, new_count) = range('+');
                (old_left, new_left, next_line) = (old_count, new_count, start);
            }
        }
        flush(&file, &mut added, &mut lines, &mut out);
        out
    }
}

/// Replaces each finding's span in its string with the placeholder; the document stays valid
/// JSON because strings are re-encoded when it is serialized.
pub fn redact_json(value: &mut Value, findings: &[JsonFinding]) {
    let mut pointers: Vec<&str> = findings.iter().map(|f| f.pointer.as_str()).collect();
    pointers.dedup();
    for p in pointers {
        if let Some(Value::String(s)) = value.pointer_mut(p) {
            let here: Vec<Finding> = findings
                .iter()
                .filter(|f| f.pointer == p)
                .map(|f| f.finding.clone())
                .collect();
            *s = crate::redact(s, &here);
        }
    }
}

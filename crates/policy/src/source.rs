//! Splits `.cedar` files into policy statements and maps byte offsets to line and column.
//!
//! Cedar's public API keeps no source location per policy, so each statement is parsed on its
//! own and its offset in the file is remembered.

/// One policy statement: its text and the byte offset where it starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    pub(crate) offset: usize,
    pub(crate) text: &'a str,
}

/// Splits at `;` outside strings, comments, and brackets. Leading whitespace and comments are
/// excluded from each statement; text after the last `;` that is not blank becomes a statement
/// too (so that Cedar reports the missing `;`).
pub(crate) fn split_statements(src: &str) -> Vec<Statement<'_>> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut depth: i32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                start.get_or_insert(i);
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                start.get_or_insert(i);
                depth += 1;
            }
            b')' | b']' | b'}' => {
                start.get_or_insert(i);
                depth -= 1;
            }
            b';' if depth <= 0 => {
                let s = start.take().unwrap_or(i);
                out.push(Statement {
                    offset: s,
                    text: &src[s..=i],
                });
                depth = 0;
            }
            _ if b.is_ascii_whitespace() => {}
            _ => {
                start.get_or_insert(i);
            }
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(Statement {
            offset: s,
            text: &src[s..],
        });
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = src[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_ignoring_semicolons_in_strings_and_comments() {
        let src = "// a; comment\n@id(\"a;b\")\npermit(principal, action, resource)\nwhen { \"x;\" == \"x;\" };\n\n  forbid(principal, action, resource) // ;\n;\ntrailing";
        let stmts = split_statements(src);
        let texts: Vec<&str> = stmts.iter().map(|s| s.text).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].starts_with("@id(\"a;b\")") && texts[0].ends_with("\"x;\" };"));
        assert!(texts[1].starts_with("forbid") && texts[1].ends_with(';'));
        assert_eq!(texts[2], "trailing");
        assert_eq!(line_col(src, stmts[0].offset), (2, 1));
        assert_eq!(line_col(src, stmts[1].offset), (6, 3));
    }
}

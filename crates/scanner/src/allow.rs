//! Allowlisting: documented example values, obvious placeholders, and inline markers.

/// Values published in documentation as examples (never real credentials).
const DOCUMENTED_EXAMPLES: &[&[u8]] = &[
    b"AKIAIOSFODNN7EXAMPLE",
    b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    b"ASIAIOSFODNN7EXAMPLE",
];

const PLACEHOLDER_WORDS: &[&[u8]] = &[
    b"example",
    b"xxxx",
    b"your",
    b"changeme",
    b"change_me",
    b"placeholder",
    b"dummy",
    b"redacted",
    b"sample",
    b"replace",
    b"insert",
    b"todo",
    b"fixme",
    b"****",
    b"....",
    b"<",
    b">",
    b"${",
    b"{{",
    b"%(",
    b"process.env",
    b"os.environ",
    b"getenv",
];

/// Whether a candidate secret is a documented example or an obvious placeholder.
pub(crate) fn is_placeholder(secret: &[u8]) -> bool {
    if DOCUMENTED_EXAMPLES.contains(&secret) {
        return true;
    }
    let lower = secret.to_ascii_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|w| contains(&lower, w)) {
        return true;
    }
    // One repeated character, or a run such as 0123456789 / abcdefgh.
    let distinct = {
        let mut seen = [false; 256];
        secret
            .iter()
            .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
            .count()
    };
    distinct <= 2 || contains(&lower, b"12345678") || contains(&lower, b"abcdefgh")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `aigov:allow` (or gitleaks' `gitleaks:allow`) on the same line as the finding.
pub(crate) fn has_inline_marker(text: &[u8], pos: usize) -> bool {
    let start = text[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = text[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| pos + i);
    let line = &text[start..end];
    contains(line, b"aigov:allow") || contains(line, b"gitleaks:allow")
}

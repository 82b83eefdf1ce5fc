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

/// Passwords that appear in documentation and tutorials (RFC 7617's `opensesame`…), compared
/// without trailing digits.
const EXAMPLE_PASSWORDS: &[&[u8]] = &[
    b"password",
    b"passw0rd",
    b"pass",
    b"pwd",
    b"secret",
    b"opensesame",
    b"hunter",
    b"letmein",
    b"admin",
    b"root",
    b"test",
    b"testing",
    b"foobar",
    b"foo",
    b"bar",
    b"qwerty",
    b"welcome",
    b"p@ssw0rd",
    b"p@ssword",
];

/// Hosts reserved for documentation or local use (RFC 2606, RFC 6761): credentials in URLs to
/// them are examples.
const EXAMPLE_HOSTS: &[&[u8]] = &[
    b"@example.com",
    b"@example.org",
    b"@example.net",
    b"@localhost",
    b"@127.0.0.1",
    b"@[::1]",
];

/// Whether the whole match points at a documentation or local host.
pub(crate) fn is_example_context(matched: &[u8]) -> bool {
    let lower = matched.to_ascii_lowercase();
    EXAMPLE_HOSTS.iter().any(|h| contains(&lower, h))
        || [&b".example"[..], b".test", b".invalid", b".localhost"]
            .iter()
            .any(|t| {
                lower.windows(t.len()).enumerate().any(|(i, w)| {
                    w == *t
                        && lower
                            .get(i + t.len())
                            .is_none_or(|b| !b.is_ascii_alphanumeric())
                })
            })
}

/// Whether a candidate secret is a documented example or an obvious placeholder.
pub(crate) fn is_placeholder(secret: &[u8]) -> bool {
    if DOCUMENTED_EXAMPLES.contains(&secret) {
        return true;
    }
    let trimmed = {
        let lower = secret.to_ascii_lowercase();
        let end = lower
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |i| i + 1);
        lower[..end].to_vec()
    };
    if EXAMPLE_PASSWORDS.contains(&trimmed.as_slice()) {
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

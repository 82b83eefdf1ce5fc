//! Allowlisting: documented example values, obvious placeholders, and inline markers.

/// Values published in documentation as examples (never real credentials).
const DOCUMENTED_EXAMPLES: &[&[u8]] = &[
    b"AKIAIOSFODNN7EXAMPLE",
    b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    b"ASIAIOSFODNN7EXAMPLE",
    // Azurite / the Azure storage emulator's published account key (devstoreaccount1).
    b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
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

/// Name endings of settings that hold metadata about a secret, not the secret.
const METADATA_SUFFIXES: &[&[u8]] = &[
    b"url",
    b"uri",
    b"endpoint",
    b"path",
    b"file",
    b"filename",
    b"name",
    b"type",
    b"class",
    b"id",
    b"size",
    b"length",
    b"len",
    b"count",
    b"timeout",
    b"ttl",
    b"expiry",
    b"expires",
    b"expiration",
    b"format",
    b"field",
    b"header",
    b"prefix",
    b"dir",
    b"location",
    b"version",
    b"mode",
    b"method",
    b"provider",
    b"env",
    b"var",
    b"ref",
    b"arn",
    b"label",
    b"policy",
];

const FILE_EXTENSIONS: &[&[u8]] = &[
    b".json", b".txt", b".yaml", b".yml", b".py", b".js", b".ts", b".pem", b".key", b".crt",
    b".cfg", b".ini", b".toml", b".xml", b".html", b".md", b".csv", b".log", b".sh", b".env",
    b".model", b".bin",
];

/// For assignment-shaped rules: whether `name = value` is configuration around a secret (a
/// token URL, a tokenizer file, a validation rule list, a reference to another setting).
pub(crate) fn is_non_secret_assignment(whole: &[u8], value: &[u8]) -> bool {
    let name_end = whole
        .iter()
        .position(|b| matches!(b, b'"' | b'\'' | b']' | b' ' | b'\t' | b':' | b'=' | b','))
        .unwrap_or(whole.len());
    let name = whole[..name_end].to_ascii_lowercase();
    let value_lower = value.to_ascii_lowercase();
    let identifier_path = {
        let parts: Vec<&[u8]> = value.split(|&b| b == b'.').collect();
        parts.len() > 1
            && parts.iter().all(|p| {
                p.first()
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
                    && p.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
            })
    };
    contains(&name, b"tokeniz")
        || METADATA_SUFFIXES
            .iter()
            .any(|s| name.ends_with(s) && name.len() > s.len())
        || contains(value, b"://")
        || FILE_EXTENSIONS.iter().any(|e| value_lower.ends_with(e))
        || (value.contains(&b'|')
            && value
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:|,.".contains(b)))
        || identifier_path
}

/// Whether the whole match points at a documentation or local host.
pub(crate) fn is_example_context(matched: &[u8]) -> bool {
    let lower = matched.to_ascii_lowercase();
    EXAMPLE_HOSTS.iter().any(|h| contains(&lower, h))
        || [&b".example"[..], b".test", b".invalid", b".localhost"]
            .iter()
            .any(|t| {
                memchr::memmem::find_iter(&lower, t).any(|i| {
                    lower
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
    // Placeholder words count as written by a person: `your`, `YOUR` or `Your`, not a random
    // `yOuR` inside a key; in long values (key bodies) only as a separate word.
    if has_placeholder_word(secret, secret.len() > 64) {
        return true;
    }
    let lower = secret.to_ascii_lowercase();
    // One repeated character, or a run such as 0123456789 / abcdefgh.
    let distinct = {
        let mut seen = [false; 256];
        secret
            .iter()
            .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
            .count()
    };
    // A run of 8 filler characters (`XXXXXXXX`, `00000000`) is a placeholder (`AAAA…` is
    // not: it is zero bytes in base64, common in real key bodies).
    let run = secret
        .windows(8)
        .any(|w| b"xX0*#._-".contains(&w[0]) && w.iter().all(|&b| b == w[0]));
    distinct <= 2 || run || contains(&lower, b"12345678") || contains(&lower, b"abcdefgh")
}

/// Every placeholder word in lower case, upper case and capitalized, in one automaton.
static PLACEHOLDER_FORMS: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| {
        let mut forms: Vec<Vec<u8>> = Vec::new();
        for w in PLACEHOLDER_WORDS {
            let mut capital = w.to_vec();
            if let Some(c) = capital.first_mut() {
                c.make_ascii_uppercase();
            }
            forms.extend([w.to_vec(), w.to_ascii_uppercase(), capital]);
        }
        forms.sort();
        forms.dedup();
        aho_corasick::AhoCorasick::new(forms).expect("placeholder words are valid patterns")
    });

/// Whether `hay` contains a placeholder word as a person writes it (lower case, upper case or
/// capitalized); with `whole`, only where it is not part of a longer alphanumeric run.
fn has_placeholder_word(hay: &[u8], whole: bool) -> bool {
    PLACEHOLDER_FORMS.find_overlapping_iter(hay).any(|m| {
        !whole
            || (m
                .start()
                .checked_sub(1)
                .is_none_or(|j| !hay[j].is_ascii_alphanumeric())
                && hay.get(m.end()).is_none_or(|b| !b.is_ascii_alphanumeric()))
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
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

/// What an allowlist's regexes are matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RegexTarget {
    /// The secret itself (gitleaks' default).
    #[default]
    Secret,
    /// The whole regex match, context included.
    Match,
    /// The line the finding starts on.
    Line,
}

/// Whether any criterion (`Or`, the default) or every given criterion (`And`) must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Condition {
    #[default]
    Or,
    And,
}

/// A path pattern: a regex (gitleaks files) or a glob (`**/fixtures/**`, bundle files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Regex(String),
    Glob(String),
}

/// Findings to leave out: from a gitleaks file (`[[allowlists]]`, `[[rules.allowlists]]`) or
/// the governance bundle (per path and per repository).
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    pub description: String,
    pub condition: Condition,
    pub paths: Vec<PathPattern>,
    /// Repositories (`owner/name`) the allowlist covers.
    pub repos: Vec<String>,
    pub regexes: Vec<String>,
    pub regex_target: RegexTarget,
    /// The finding is allowed if its secret contains one of these (any case).
    pub stopwords: Vec<String>,
    /// Rule ids (or personal-data families) it applies to; empty: all.
    pub target_rules: Vec<String>,
    /// Git commits (gitleaks); aigov scans content, not history, so these never match.
    pub commits: Vec<String>,
}

/// An [`Allowlist`] with its patterns compiled.
#[derive(Debug)]
pub(crate) struct CompiledAllowlist {
    condition: Condition,
    paths: Option<globset::GlobSet>,
    path_regexes: Vec<regex::Regex>,
    repos: Vec<String>,
    regexes: Vec<regex::bytes::Regex>,
    regex_target: RegexTarget,
    stopwords: Vec<Vec<u8>>,
    pub(crate) target_rules: Vec<String>,
    commits: bool,
}

/// What a finding is checked against.
pub(crate) struct Candidate<'a> {
    pub(crate) secret: &'a [u8],
    pub(crate) whole: &'a [u8],
    pub(crate) line: &'a [u8],
    pub(crate) path: Option<&'a str>,
    pub(crate) repo: Option<&'a str>,
}

impl CompiledAllowlist {
    pub(crate) fn new(a: &Allowlist) -> Result<CompiledAllowlist, String> {
        let mut globs = globset::GlobSetBuilder::new();
        let mut any_glob = false;
        let mut path_regexes = Vec::new();
        for p in &a.paths {
            match p {
                PathPattern::Glob(g) => {
                    globs.add(glob(g).map_err(|e| format!("invalid path glob `{g}`: {e}"))?);
                    any_glob = true;
                }
                PathPattern::Regex(r) => path_regexes
                    .push(compile_str(r).map_err(|e| format!("invalid path regex `{r}`: {e}"))?),
            }
        }
        let regexes = a
            .regexes
            .iter()
            .map(|r| compile_bytes(r).map_err(|e| format!("invalid regex `{r}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if a.paths.is_empty()
            && a.repos.is_empty()
            && a.regexes.is_empty()
            && a.stopwords.is_empty()
            && a.commits.is_empty()
        {
            return Err(
                "allowlist has no criteria: give paths, repos, regexes or stopwords".to_owned(),
            );
        }
        Ok(CompiledAllowlist {
            condition: a.condition,
            paths: any_glob
                .then(|| globs.build())
                .transpose()
                .map_err(|e| format!("invalid path glob: {e}"))?,
            path_regexes,
            repos: a.repos.clone(),
            regexes,
            regex_target: a.regex_target,
            stopwords: a
                .stopwords
                .iter()
                .map(|w| w.to_ascii_lowercase().into_bytes())
                .collect(),
            target_rules: a.target_rules.clone(),
            commits: !a.commits.is_empty(),
        })
    }

    pub(crate) fn applies_to(&self, rule_id: &str) -> bool {
        self.target_rules.is_empty() || self.target_rules.iter().any(|r| r == rule_id)
    }

    fn has_paths(&self) -> bool {
        self.paths.is_some() || !self.path_regexes.is_empty()
    }

    fn path_allowed(&self, path: Option<&str>) -> bool {
        let Some(path) = path else { return false };
        self.paths.as_ref().is_some_and(|g| g.is_match(path))
            || self.path_regexes.iter().any(|r| r.is_match(path))
    }

    fn repo_allowed(&self, repo: Option<&str>) -> bool {
        repo.is_some_and(|repo| self.repos.iter().any(|r| r.eq_ignore_ascii_case(repo)))
    }

    /// Whether the whole input is allowed whatever it contains (paths or repos alone).
    pub(crate) fn allows_source(&self, path: Option<&str>, repo: Option<&str>) -> bool {
        let regexes = !self.regexes.is_empty() || !self.stopwords.is_empty();
        match self.condition {
            Condition::Or => self.path_allowed(path) || self.repo_allowed(repo),
            Condition::And => {
                !regexes
                    && !self.commits
                    && (!self.has_paths() || self.path_allowed(path))
                    && (self.repos.is_empty() || self.repo_allowed(repo))
                    && (self.has_paths() || !self.repos.is_empty())
            }
        }
    }

    pub(crate) fn allows(&self, c: &Candidate<'_>) -> bool {
        let target = match self.regex_target {
            RegexTarget::Secret => c.secret,
            RegexTarget::Match => c.whole,
            RegexTarget::Line => c.line,
        };
        let regex = || self.regexes.iter().any(|r| r.is_match(target));
        let stopword = || {
            let lower = c.secret.to_ascii_lowercase();
            self.stopwords.iter().any(|w| contains(&lower, w))
        };
        match self.condition {
            Condition::Or => {
                self.path_allowed(c.path) || self.repo_allowed(c.repo) || regex() || stopword()
            }
            Condition::And => {
                !self.commits
                    && (!self.has_paths() || self.path_allowed(c.path))
                    && (self.repos.is_empty() || self.repo_allowed(c.repo))
                    && (self.regexes.is_empty() || regex())
                    && (self.stopwords.is_empty() || stopword())
            }
        }
    }
}

/// A path glob as allowlists use it: `*` stays within a directory, `**` crosses directories.
fn glob(pattern: &str) -> Result<globset::Glob, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| e.kind().to_string())
}

/// Checks a path glob for an allowlist; the error says why it is invalid.
pub fn check_glob(pattern: &str) -> Result<(), String> {
    glob(pattern).map(drop)
}

/// Checks a value regex for an allowlist (compiled as the scanner compiles it).
pub fn check_regex(pattern: &str) -> Result<(), String> {
    compile_bytes(pattern).map(drop)
}

/// Compiles a byte regex with Unicode off if it allows, else on (user rules may use `\p{L}`).
pub(crate) fn compile_bytes(pattern: &str) -> Result<regex::bytes::Regex, String> {
    regex::bytes::Regex::new(&format!("(?-u){pattern}"))
        .or_else(|_| regex::bytes::Regex::new(pattern))
        .map_err(|e| first_line(&e))
}

/// Compiles a text regex (paths), ASCII classes as in Go's RE2.
pub(crate) fn compile_str(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("(?-u){pattern}"))
        .or_else(|_| regex::Regex::new(pattern))
        .map_err(|e| first_line(&e))
}

/// The regex crate's error without its ASCII-art pointer lines, for one-line diagnostics.
pub(crate) fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .filter(|l| l.trim_start().starts_with("error:"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("error:")
                .trim()
                .to_owned()
        })
        .next()
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_owned())
}

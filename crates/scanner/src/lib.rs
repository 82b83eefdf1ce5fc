//! The content scanner: finds secrets and personal data in text (prompts, files, diffs) fast
//! enough for the gateway's request path. No IO; findings carry spans, never copies of secrets.
//!
//! Secrets: an Aho-Corasick pass finds the rules' keywords; each rule's regex (Unicode off)
//! then runs only on the merged windows around its keywords; matches are checked for entropy
//! and against allowlists (documented example values, placeholders, `aigov:allow` markers).
//! Personal data: validators (Luhn, mod-97, SSN ranges, public IPv4) over candidate matches.

mod allow;
pub mod gitleaks;
mod pii;
pub mod rules;
mod structured;

use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

pub use allow::{Allowlist, Condition, PathPattern, RegexTarget, check_glob, check_regex};
pub use pii::PII_FAMILIES;
pub use rules::{BUILTIN, BuiltinRule, Confidence, Rule, Window, builtin_rules};
pub use structured::{DiffFinding, JsonFinding, redact_json};

use allow::{Candidate, CompiledAllowlist};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Secret,
    Pii,
}

/// One thing found. `span` covers only the secret (or personal datum), in bytes; it is empty
/// (`0..0`) for a path-only rule, which flags the file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule_id: Arc<str>,
    /// The type shown in placeholders and reports, e.g. `aws-access-key`, `email`.
    pub family: Arc<str>,
    pub kind: Kind,
    pub span: Range<usize>,
    pub confidence: Confidence,
}

impl Finding {
    /// What replaces the secret on redaction; keeps the type, never the value.
    pub fn placeholder(&self) -> String {
        format!("[REDACTED:{}]", self.family)
    }
}

/// Where scanned text comes from; path- and repository-scoped rules and allowlists use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Source<'a> {
    /// File path relative to the repository root, with `/`.
    pub path: Option<&'a str>,
    /// Repository, `owner/name`.
    pub repo: Option<&'a str>,
}

impl Source<'_> {
    /// Text of unknown origin (a prompt with no repository attached).
    pub const NONE: Source<'static> = Source {
        path: None,
        repo: None,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule `{id}`: invalid regex: {message}")]
    Regex { id: String, message: String },
    #[error("rule `{id}`: {message}")]
    Invalid { id: String, message: String },
    #[error("allowlist {index}: {message}")]
    Allowlist { index: usize, message: String },
}

/// Secret rules and the allowlists that apply to every rule (and to personal data).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub allowlists: Vec<Allowlist>,
}

impl RuleSet {
    pub fn builtin() -> RuleSet {
        RuleSet {
            rules: builtin_rules(),
            allowlists: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Compiled {
    id: Arc<str>,
    family: Arc<str>,
    description: String,
    regex: Option<Regex>,
    secret_group: Option<usize>,
    entropy: Option<f32>,
    require_digit: bool,
    assignment: bool,
    window: Window,
    confidence: Confidence,
    path: Option<regex::Regex>,
    allowlists: Vec<CompiledAllowlist>,
}

/// One keyword search: an automaton or regex over the keywords, and per keyword the rules to
/// try. A keyword also triggers the rules of every keyword it contains, so non-overlapping
/// (leftmost-longest) search loses nothing.
#[derive(Debug)]
struct Keywords {
    patterns: Vec<String>,
    triggers: Vec<Vec<usize>>,
}

impl Keywords {
    fn new() -> Keywords {
        Keywords {
            patterns: Vec::new(),
            triggers: Vec::new(),
        }
    }

    fn add(&mut self, keyword: String, rule: usize) {
        match self.patterns.iter().position(|p| *p == keyword) {
            Some(p) => self.triggers[p].push(rule),
            None => {
                self.patterns.push(keyword);
                self.triggers.push(vec![rule]);
            }
        }
    }

    /// Adds the rules of contained keywords to each keyword's triggers.
    fn close(&mut self) {
        let own = self.triggers.clone();
        for (i, outer) in self.patterns.iter().enumerate() {
            for (j, inner) in self.patterns.iter().enumerate() {
                if i != j && outer.contains(inner.as_str()) {
                    self.triggers[i].extend(&own[j]);
                }
            }
            self.triggers[i].sort_unstable();
            self.triggers[i].dedup();
        }
    }
}

/// A compiled rule set. Build once, share freely (`Send + Sync`).
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<Compiled>,
    /// Exact keywords (token prefixes), searched by a case-sensitive automaton.
    exact: AhoCorasick,
    exact_keywords: Keywords,
    /// Keywords in any case, searched by one case-insensitive regex (faster than a
    /// case-insensitive automaton); matched text, lowercased, finds the keyword.
    folded: Option<Regex>,
    folded_keywords: Keywords,
    /// Rules without keywords: tried on every text.
    unkeyed: Vec<usize>,
    /// Allowlists for every rule (and personal data).
    allowlists: Vec<CompiledAllowlist>,
    pii: pii::Detector,
}

impl Scanner {
    /// The built-in rules.
    pub fn builtin() -> Scanner {
        Scanner::new(&RuleSet::builtin()).expect("built-in rules are valid")
    }

    /// Only these rules, no allowlists beyond the built-in placeholder checks.
    pub fn with_rules(rules: Vec<Rule>) -> Result<Scanner, RuleError> {
        Scanner::new(&RuleSet {
            rules,
            allowlists: Vec::new(),
        })
    }

    pub fn new(set: &RuleSet) -> Result<Scanner, RuleError> {
        let mut compiled = Vec::new();
        let mut exact_keywords = Keywords::new();
        let mut folded_keywords = Keywords::new();
        let mut unkeyed = Vec::new();
        for (i, rule) in set.rules.iter().enumerate() {
            let invalid = |message: String| RuleError::Invalid {
                id: rule.id.clone(),
                message,
            };
            let regex = rule
                .regex
                .as_deref()
                .map(|r| {
                    allow::compile_bytes(r).map_err(|message| RuleError::Regex {
                        id: rule.id.clone(),
                        message,
                    })
                })
                .transpose()?;
            let path = rule
                .path
                .as_deref()
                .map(|p| {
                    allow::compile_str(p).map_err(|e| invalid(format!("invalid path regex: {e}")))
                })
                .transpose()?;
            if regex.is_none() && path.is_none() {
                return Err(invalid("needs a `regex`, a `path`, or both".to_owned()));
            }
            if let (Some(g), Some(re)) = (rule.secret_group, &regex)
                && g >= re.captures_len()
            {
                return Err(invalid(format!(
                    "`secretGroup` is {g} but the regex has only {} capture group(s)",
                    re.captures_len() - 1
                )));
            }
            let keywords: Vec<&String> = rule.keywords.iter().filter(|k| !k.is_empty()).collect();
            if regex.is_some() && keywords.is_empty() {
                unkeyed.push(i);
            }
            for k in keywords {
                if rule.ignore_case {
                    folded_keywords.add(k.to_ascii_lowercase(), i);
                } else {
                    exact_keywords.add(k.clone(), i);
                }
            }
            let allowlists = rule
                .allowlists
                .iter()
                .map(CompiledAllowlist::new)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(format!("allowlist: {e}")))?;
            compiled.push(Compiled {
                id: Arc::from(rule.id.as_str()),
                family: Arc::from(rule.family.as_str()),
                description: rule.description.clone(),
                regex,
                secret_group: rule.secret_group,
                entropy: rule.entropy,
                require_digit: rule.require_digit,
                assignment: rule.assignment,
                window: rule.window,
                confidence: rule.confidence,
                path,
                allowlists,
            });
        }
        exact_keywords.close();
        folded_keywords.close();
        let exact = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&exact_keywords.patterns)
            .map_err(|e| RuleError::Invalid {
                id: "<keywords>".to_owned(),
                message: e.to_string(),
            })?;
        let folded = if folded_keywords.patterns.is_empty() {
            None
        } else {
            let mut alternatives: Vec<&String> = folded_keywords.patterns.iter().collect();
            alternatives.sort_by_key(|p| std::cmp::Reverse(p.len())); // leftmost-longest
            let alternation = alternatives
                .iter()
                .map(|p| regex::escape(p))
                .collect::<Vec<_>>()
                .join("|");
            Some(
                Regex::new(&format!("(?i-u){alternation}")).map_err(|e| RuleError::Invalid {
                    id: "<keywords>".to_owned(),
                    message: e.to_string(),
                })?,
            )
        };
        let allowlists = set
            .allowlists
            .iter()
            .enumerate()
            .map(|(index, a)| {
                CompiledAllowlist::new(a).map_err(|message| RuleError::Allowlist {
                    index: index + 1,
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scanner {
            rules: compiled,
            exact,
            exact_keywords,
            folded,
            folded_keywords,
            unkeyed,
            allowlists,
            pii: pii::Detector::new(),
        })
    }

    /// Number of secret rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The description of a secret rule, for reports (SARIF).
    pub fn rule_description(&self, id: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| &*r.id == id)
            .map(|r| r.description.as_str())
    }

    /// Every keyword occurrence with the rules it triggers, in order of position.
    fn keyword_hits<'a>(&'a self, text: &'a [u8]) -> Vec<(Range<usize>, &'a [usize])> {
        let mut hits: Vec<(Range<usize>, &[usize])> = self
            .exact
            .find_iter(text)
            .map(|m| {
                (
                    m.range(),
                    &self.exact_keywords.triggers[m.pattern().as_usize()][..],
                )
            })
            .collect();
        if let Some(folded) = &self.folded {
            for m in folded.find_iter(text) {
                let lower = m.as_bytes().to_ascii_lowercase();
                if let Some(p) = self
                    .folded_keywords
                    .patterns
                    .iter()
                    .position(|p| p.as_bytes() == lower)
                {
                    hits.push((m.range(), &self.folded_keywords.triggers[p][..]));
                }
            }
            hits.sort_by_key(|(r, _)| r.start);
        }
        hits
    }

    /// Whether a global allowlist covers this whole source for every rule.
    fn source_allowed(&self, src: Source<'_>, rule_id: Option<&str>) -> bool {
        self.allowlists.iter().any(|a| {
            rule_id.map_or(a.target_rules.is_empty(), |id| a.applies_to(id))
                && a.allows_source(src.path, src.repo)
        })
    }

    fn allowed(&self, rule: Option<&Compiled>, rule_id: &str, c: &Candidate<'_>) -> bool {
        rule.is_some_and(|r| r.allowlists.iter().any(|a| a.allows(c)))
            || self
                .allowlists
                .iter()
                .any(|a| a.applies_to(rule_id) && a.allows(c))
    }

    /// Secrets only, in text of unknown origin.
    pub fn scan_secrets(&self, text: &[u8]) -> Vec<Finding> {
        self.scan_secrets_in(text, Source::NONE)
    }

    /// Secrets only, honouring path-scoped rules and path/repository allowlists.
    pub fn scan_secrets_in(&self, text: &[u8], src: Source<'_>) -> Vec<Finding> {
        if self.source_allowed(src, None) {
            return Vec::new();
        }
        let active = |r: &Compiled| match (&r.path, src.path) {
            (None, _) => true,
            (Some(p), Some(path)) => p.is_match(path),
            (Some(_), None) => false,
        };
        let mut out = Vec::new();
        // Path-only rules flag the file itself.
        for r in self.rules.iter().filter(|r| r.regex.is_none() && active(r)) {
            let c = Candidate {
                secret: b"",
                whole: b"",
                line: b"",
                path: src.path,
                repo: src.repo,
            };
            if !self.allowed(Some(r), &r.id, &c) {
                out.push(Finding {
                    rule_id: r.id.clone(),
                    family: r.family.clone(),
                    kind: Kind::Secret,
                    span: 0..0,
                    confidence: r.confidence,
                });
            }
        }
        // Spans an allowlist let through: a less specific rule matching the same value (the
        // generic assignment rule under an allowed Stripe key) must not report it instead.
        let mut allowed: Vec<(Range<usize>, Confidence)> = Vec::new();
        // Indexes in `out` of findings of assignment-shaped (generic) rules.
        let mut generic: Vec<usize> = Vec::new();
        // Windows per rule, in order of position; merged so each byte is searched once per rule.
        let mut windows: Vec<Vec<Range<usize>>> = vec![Vec::new(); self.rules.len()];
        for &r in &self.unkeyed {
            windows[r].push(0..text.len());
        }
        for (m, triggers) in self.keyword_hits(text) {
            for &r in triggers {
                let rule = &self.rules[r];
                let (start, end) = match rule.window {
                    Window::Whole => (0, text.len()),
                    Window::Bytes(n) => {
                        (line_start(text, m.start, 256), (m.end + n).min(text.len()))
                    }
                    // Line-scoped rules: the match cannot extend past the end of the line.
                    Window::Line => {
                        let end = (m.end + rules::LINE).min(text.len());
                        let end = memchr_newline(&text[m.end..end]).map_or(end, |i| m.end + i);
                        (line_start(text, m.start, 256), end)
                    }
                };
                let w = &mut windows[r];
                match w.last_mut() {
                    Some(last) if start <= last.end => last.end = last.end.max(end),
                    _ => w.push(start..end),
                }
            }
        }
        for (r, ws) in windows.iter().enumerate() {
            let c = &self.rules[r];
            let Some(regex) = &c.regex else { continue };
            if ws.is_empty() || !active(c) {
                continue;
            }
            for w in ws {
                for caps in regex.captures_iter(&text[w.clone()]) {
                    let m = match c.secret_group {
                        Some(g) => caps.get(g),
                        None => caps
                            .iter()
                            .skip(1)
                            .flatten()
                            .find(|m| !m.is_empty())
                            .or_else(|| caps.get(0)),
                    };
                    let Some(m) = m else { continue };
                    let span = w.start + m.start()..w.start + m.end();
                    let secret = &text[span.clone()];
                    let whole = caps.get(0).expect("group 0 always matches").as_bytes();
                    if c.entropy.is_some_and(|min| {
                        entropy(secret) <= min
                            || (c.require_digit && !secret.iter().any(u8::is_ascii_digit))
                    }) || allow::is_placeholder(secret)
                        || (c.assignment && allow::is_non_secret_assignment(whole, secret))
                        || allow::is_example_context(whole)
                        || allow::has_inline_marker(text, span.start)
                    {
                        continue;
                    }
                    if (!c.allowlists.is_empty() || !self.allowlists.is_empty())
                        && self.allowed(
                            Some(c),
                            &c.id,
                            &Candidate {
                                secret,
                                whole,
                                line: line_of(text, span.start),
                                path: src.path,
                                repo: src.repo,
                            },
                        )
                    {
                        allowed.push((span, c.confidence));
                        continue;
                    }
                    if c.assignment {
                        generic.push(out.len());
                    }
                    out.push(Finding {
                        rule_id: c.id.clone(),
                        family: c.family.clone(),
                        kind: Kind::Secret,
                        span,
                        confidence: c.confidence,
                    });
                }
            }
        }
        // A value that a specific rule recognises is reported by that rule, not as a
        // generic assignment.
        if !generic.is_empty() {
            let specific: Vec<Range<usize>> = out
                .iter()
                .enumerate()
                .filter(|(i, _)| !generic.contains(i))
                .map(|(_, f)| f.span.clone())
                .collect();
            let mut i = 0;
            out.retain(|f| {
                let drop = generic.contains(&i)
                    && specific
                        .iter()
                        .any(|s| s.start < f.span.end && f.span.start < s.end);
                i += 1;
                !drop
            });
        }
        if !allowed.is_empty() {
            out.retain(|f| {
                !allowed.iter().any(|(span, confidence)| {
                    span.start < f.span.end
                        && f.span.start < span.end
                        && *confidence >= f.confidence
                })
            });
        }
        dedup(out)
    }

    /// Personal data only, in text of unknown origin.
    pub fn scan_pii(&self, text: &[u8]) -> Vec<Finding> {
        self.scan_pii_in(text, Source::NONE)
    }

    /// Personal data only, honouring path/repository allowlists.
    pub fn scan_pii_in(&self, text: &[u8], src: Source<'_>) -> Vec<Finding> {
        if self.source_allowed(src, None) {
            return Vec::new();
        }
        self.pii
            .scan(text)
            .into_iter()
            .filter(|f| {
                let secret = &text[f.span.clone()];
                !allow::has_inline_marker(text, f.span.start)
                    && (self.allowlists.is_empty()
                        || !self.allowed(
                            None,
                            &f.rule_id,
                            &Candidate {
                                secret,
                                whole: secret,
                                line: line_of(text, f.span.start),
                                path: src.path,
                                repo: src.repo,
                            },
                        ))
            })
            .collect()
    }

    /// Secrets and personal data, ordered by position.
    pub fn scan(&self, text: &[u8]) -> Vec<Finding> {
        self.scan_in(text, Source::NONE)
    }

    /// Secrets and personal data from a known path or repository, ordered by position.
    pub fn scan_in(&self, text: &[u8], src: Source<'_>) -> Vec<Finding> {
        let mut out = self.scan_secrets_in(text, src);
        out.extend(self.scan_pii_in(text, src));
        dedup(out)
    }
}

/// The line containing `pos`, without its newline.
fn line_of(text: &[u8], pos: usize) -> &[u8] {
    let start = text[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = memchr_newline(&text[pos..]).map_or(text.len(), |i| pos + i);
    &text[start..end]
}

/// Start of the line containing `pos`, looking back at most `max` bytes.
fn line_start(text: &[u8], pos: usize, max: usize) -> usize {
    let floor = pos.saturating_sub(max);
    text[floor..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(floor, |i| floor + i + 1)
}

fn memchr_newline(text: &[u8]) -> Option<usize> {
    text.iter().position(|&b| b == b'\n')
}

/// Shannon entropy in bits per byte.
pub fn entropy(data: &[u8]) -> f32 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

/// Sorts by position and drops findings overlapping a more confident (or earlier) one.
fn dedup(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.confidence.cmp(&a.confidence))
            .then(a.kind.cmp(&b.kind))
    });
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match out.last_mut() {
            Some(last) if f.span.start < last.span.end => {
                if (f.confidence, f.kind == Kind::Secret)
                    > (last.confidence, last.kind == Kind::Secret)
                {
                    *last = f;
                }
            }
            _ => out.push(f),
        }
    }
    out
}

/// Replaces every finding's span with its placeholder. Findings must come from `text`.
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.span.start < at || f.span.end > text.len() || f.span.is_empty() {
            continue;
        }
        out.push_str(&text[at..f.span.start]);
        out.push_str(&f.placeholder());
        at = f.span.end;
    }
    out.push_str(&text[at..]);
    out
}

//! The content scanner: finds secrets and personal data in text (prompts, files, diffs) fast
//! enough for the gateway's request path. No IO; findings carry spans, never copies of secrets.
//!
//! Secrets: an Aho-Corasick pass finds the rules' keywords; each rule's regex (Unicode off)
//! then runs only on the merged windows around its keywords; matches are checked for entropy
//! and against allowlists (documented example values, placeholders, `aigov:allow` markers).
//! Personal data: validators (Luhn, mod-97, SSN ranges, public IPv4) over candidate matches.

mod allow;
mod pii;
pub mod rules;
mod structured;

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

pub use rules::{BUILTIN, BuiltinRule, Confidence};
pub use structured::{DiffFinding, JsonFinding, redact_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Secret,
    Pii,
}

/// One thing found. `span` covers only the secret (or personal datum), in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule_id: &'static str,
    /// The type shown in placeholders and reports, e.g. `aws-access-key`, `email`.
    pub family: &'static str,
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

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule `{id}`: invalid regex: {message}")]
    Regex { id: String, message: String },
    #[error("rule `{id}`: {message}")]
    Invalid { id: String, message: String },
}

#[derive(Debug)]
struct Compiled {
    rule: BuiltinRule,
    regex: Regex,
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
    pii: pii::Detector,
}

impl Scanner {
    /// The built-in rules.
    pub fn builtin() -> Scanner {
        Scanner::new(BUILTIN).expect("built-in rules are valid")
    }

    pub fn new(rules: &[BuiltinRule]) -> Result<Scanner, RuleError> {
        let mut compiled = Vec::new();
        let mut exact_keywords = Keywords::new();
        let mut folded_keywords = Keywords::new();
        for (i, rule) in rules.iter().enumerate() {
            let regex =
                Regex::new(&format!("(?-u){}", rule.regex)).map_err(|e| RuleError::Regex {
                    id: rule.id.to_owned(),
                    message: e.to_string(),
                })?;
            if rule.keywords.iter().all(|k| k.is_empty()) {
                return Err(RuleError::Invalid {
                    id: rule.id.to_owned(),
                    message: "needs at least one keyword so it is not run on every byte".to_owned(),
                });
            }
            for k in rule.keywords.iter().filter(|k| !k.is_empty()) {
                if rule.ignore_case {
                    folded_keywords.add(k.to_ascii_lowercase(), i);
                } else {
                    exact_keywords.add((*k).to_owned(), i);
                }
            }
            compiled.push(Compiled { rule: *rule, regex });
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
        Ok(Scanner {
            rules: compiled,
            exact,
            exact_keywords,
            folded,
            folded_keywords,
            pii: pii::Detector::new(),
        })
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

    /// Secrets only.
    pub fn scan_secrets(&self, text: &[u8]) -> Vec<Finding> {
        // Windows per rule, in order of position; merged so each byte is searched once per rule.
        let mut windows: Vec<Vec<Range<usize>>> = vec![Vec::new(); self.rules.len()];
        for (m, triggers) in self.keyword_hits(text) {
            for &r in triggers {
                let rule = &self.rules[r].rule;
                let start = line_start(text, m.start, 256);
                let mut end = (m.end + rule.window).min(text.len());
                if rule.window == rules::LINE {
                    // Line-scoped rules: the match cannot extend past the end of the line.
                    end = memchr_newline(&text[m.end..end]).map_or(end, |i| m.end + i);
                }
                let w = &mut windows[r];
                match w.last_mut() {
                    Some(last) if start <= last.end => last.end = last.end.max(end),
                    _ => w.push(start..end),
                }
            }
        }
        let mut out = Vec::new();
        for (r, ws) in windows.iter().enumerate() {
            let c = &self.rules[r];
            for w in ws {
                for caps in c.regex.captures_iter(&text[w.clone()]) {
                    let m = caps
                        .get(1)
                        .or_else(|| caps.get(0))
                        .expect("group 0 always matches");
                    let span = w.start + m.start()..w.start + m.end();
                    let secret = &text[span.clone()];
                    let whole = caps.get(0).expect("group 0 always matches").as_bytes();
                    if c.rule.entropy.is_some_and(|min| entropy(secret) < min)
                        || allow::is_placeholder(secret)
                        || allow::is_example_context(whole)
                        || allow::has_inline_marker(text, span.start)
                    {
                        continue;
                    }
                    out.push(Finding {
                        rule_id: c.rule.id,
                        family: c.rule.family,
                        kind: Kind::Secret,
                        span,
                        confidence: c.rule.confidence,
                    });
                }
            }
        }
        dedup(out)
    }

    /// Personal data only.
    pub fn scan_pii(&self, text: &[u8]) -> Vec<Finding> {
        self.pii
            .scan(text)
            .into_iter()
            .filter(|f| !allow::has_inline_marker(text, f.span.start))
            .collect()
    }

    /// Secrets and personal data, ordered by position.
    pub fn scan(&self, text: &[u8]) -> Vec<Finding> {
        let mut out = self.scan_secrets(text);
        out.extend(self.scan_pii(text));
        dedup(out)
    }
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
        if f.span.start < at || f.span.end > text.len() {
            continue;
        }
        out.push_str(&text[at..f.span.start]);
        out.push_str(&f.placeholder());
        at = f.span.end;
    }
    out.push_str(&text[at..]);
    out
}

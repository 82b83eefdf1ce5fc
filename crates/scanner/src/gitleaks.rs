//! Loads gitleaks-format rule files (`.gitleaks.toml`) so an organisation's existing rules work
//! unchanged: `[[rules]]` with id, regex, secretGroup, entropy, keywords, path and allowlists,
//! top-level allowlists, `[extend]` (useDefault: aigov's built-in rules stand in for gitleaks'
//! defaults; path; disabledRules). What aigov cannot honour is reported, never dropped silently.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::allow::{self, Allowlist, Condition, PathPattern, RegexTarget};
use crate::rules::{Confidence, Rule, Window, builtin_rules};
use crate::{RuleSet, Scanner};

/// A problem in a rule file, with its position (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in (an `[extend] path` file, or the file given).
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The rule it concerns, if any.
    pub rule: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if let Some(rule) = &self.rule {
            write!(f, "rule `{rule}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// The rule file cannot be used; every problem found is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

/// A loaded rule file: the rule set to compile, and what aigov accepted but will not honour.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub title: Option<String>,
    pub rules: RuleSet,
    pub warnings: Vec<Problem>,
}

impl Loaded {
    pub fn scanner(&self) -> Scanner {
        Scanner::new(&self.rules).expect("loaded rules were compiled while loading")
    }
}

/// Reads the file an `[extend] path` names: given the path as written, returns the name to
/// report it under and its text, or why it cannot be read.
pub type Resolve<'a> = dyn FnMut(&str) -> Result<(String, String), String> + 'a;

/// How deep `[extend] path` chains may go (gitleaks allows two levels).
const MAX_EXTEND_DEPTH: usize = 2;

/// Parses and validates a gitleaks rule file. `name` is used in messages.
pub fn load(name: &str, text: &str, resolve: &mut Resolve<'_>) -> Result<Loaded, LoadError> {
    let mut warnings = Vec::new();
    let (title, rules) = load_at(name, text, resolve, 0, &mut warnings)?;
    // Compile everything together once more: merged rules (a built-in rule extended with a
    // new regex, say) are only complete here.
    if let Err(e) = Scanner::new(&rules) {
        return Err(LoadError {
            problems: vec![Problem {
                file: name.to_owned(),
                line: 0,
                column: 0,
                rule: None,
                message: e.to_string(),
                hint: None,
            }],
        });
    }
    Ok(Loaded {
        title,
        rules,
        warnings,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    title: Option<String>,
    description: Option<String>,
    min_version: Option<String>,
    extend: Option<Spanned<RawExtend>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    allowlist: Option<Spanned<RawAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<RawAllowlist>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawExtend {
    use_default: Option<bool>,
    path: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    #[serde(default)]
    disabled_rules: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    id: Spanned<String>,
    description: Option<String>,
    regex: Option<Spanned<String>>,
    secret_group: Option<Spanned<i64>>,
    entropy: Option<Spanned<f64>>,
    path: Option<Spanned<String>>,
    keywords: Option<Vec<String>>,
    #[serde(default)]
    tags: Vec<String>,
    allowlist: Option<Spanned<RawAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<RawAllowlist>>,
    required: Option<Spanned<toml::Value>>,
    skip_report: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAllowlist {
    description: Option<String>,
    condition: Option<Spanned<String>>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    regex_target: Option<Spanned<String>>,
    #[serde(default)]
    regexes: Vec<Spanned<String>>,
    #[serde(default)]
    stopwords: Vec<String>,
    target_rules: Option<Spanned<Vec<String>>>,
}

/// The same file read loosely, to say which rule a syntax error is in.
#[derive(Deserialize)]
struct Loose {
    #[serde(default)]
    rules: Vec<toml::Table>,
}

/// The id of the `[[rules]]` entry that byte `offset` lies in, if the file parses loosely.
fn rule_at(text: &str, offset: usize) -> Option<String> {
    let mut current: Option<usize> = None;
    let mut count = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if at > offset {
            break;
        }
        at += line.len();
        let header: String = line
            .split('#')
            .next()?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if header == "[[rules]]" {
            current = Some(count);
            count += 1;
        } else if header.starts_with('[')
            && !header.starts_with("[rules.")
            && !header.starts_with("[[rules.")
        {
            current = None;
        }
    }
    let loose: Loose = toml::from_str(text).ok()?;
    let table = loose.rules.get(current?)?;
    table.get("id")?.as_str().map(str::to_owned)
}

/// Positions and problems of one file.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn at(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, column)
    }

    fn problem(
        &self,
        offset: Option<usize>,
        rule: Option<&str>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) -> Problem {
        let (line, column) = offset.map_or((0, 0), |o| self.at(o));
        Problem {
            file: self.file.to_owned(),
            line,
            column,
            rule: rule.map(str::to_owned),
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    fn error(&mut self, offset: usize, rule: Option<&str>, message: impl Into<String>, hint: &str) {
        let hint = (!hint.is_empty()).then_some(hint);
        let p = self.problem(Some(offset), rule, message, hint);
        self.problems.push(p);
    }
}

const REGEX_HINT: &str = "gitleaks and aigov agree on Go RE2 syntax, except that Unicode classes \
                          such as `\\p{L}` are not available; test the pattern with \
                          `aigov scan --rules FILE`";

fn load_at(
    name: &str,
    text: &str,
    resolve: &mut Resolve<'_>,
    depth: usize,
    warnings: &mut Vec<Problem>,
) -> Result<(Option<String>, RuleSet), LoadError> {
    let mut cx = Ctx {
        file: name,
        text,
        problems: Vec::new(),
    };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            let rule = offset.and_then(|o| rule_at(text, o));
            let message = e.message().trim().to_owned();
            let hint = if message.starts_with("unknown field") {
                Some("aigov reads gitleaks v8 rule files; check the spelling, or remove the field")
            } else {
                None
            };
            return Err(LoadError {
                problems: vec![cx.problem(offset, rule.as_deref(), message, hint)],
            });
        }
    };
    let _ = (&raw.description, &raw.min_version);

    // The base this file extends.
    let mut base = RuleSet::default();
    if let Some(extend) = &raw.extend {
        let extend = extend.get_ref();
        if let Some(url) = &extend.url {
            cx.error(
                url.span().start,
                None,
                "`[extend] url` is not supported: aigov does not fetch rules over the network",
                "download the file and use `[extend] path` instead",
            );
        }
        if extend.use_default == Some(true) {
            base.rules = builtin_rules();
        }
        if let Some(path) = &extend.path {
            if depth >= MAX_EXTEND_DEPTH {
                cx.error(
                    path.span().start,
                    None,
                    format!(
                        "`[extend] path` nests deeper than {MAX_EXTEND_DEPTH} levels at `{}`",
                        path.get_ref()
                    ),
                    "flatten the chain of extended files",
                );
            } else {
                match resolve(path.get_ref()) {
                    Ok((sub_name, sub_text)) => {
                        match load_at(&sub_name, &sub_text, resolve, depth + 1, warnings) {
                            Ok((_, sub)) => {
                                merge(&mut base, sub);
                            }
                            Err(e) => cx.problems.extend(e.problems),
                        }
                    }
                    Err(why) => cx.error(
                        path.span().start,
                        None,
                        format!("cannot read extended file `{}`: {why}", path.get_ref()),
                        "paths are relative to the file that extends them",
                    ),
                }
            }
        }
        for id in &extend.disabled_rules {
            let before = base.rules.len();
            base.rules.retain(|r| r.id != *id.get_ref());
            if base.rules.len() == before {
                warnings.push(cx.problem(
                    Some(id.span().start),
                    Some(id.get_ref()),
                    "`disabledRules` names a rule that the extended rules do not have",
                    Some("check the id against `aigov scan --list-rules`"),
                ));
            }
        }
    }

    let mut own = RuleSet::default();
    let mut seen = BTreeSet::new();
    for spanned in &raw.rules {
        let at = spanned.span().start;
        let r = spanned.get_ref();
        let id = r.id.get_ref().trim().to_owned();
        if id.is_empty() {
            cx.error(r.id.span().start, None, "rule has an empty `id`", "");
            continue;
        }
        if !seen.insert(id.clone()) {
            cx.error(
                r.id.span().start,
                Some(&id),
                "a rule with this id appears earlier in the file",
                "rule ids must be unique; rename or merge the two rules",
            );
        }
        let rid = Some(id.as_str());
        if let Some(req) = &r.required {
            cx.error(
                req.span().start,
                rid,
                "composite rules (`required`) are not supported by aigov",
                "remove `[[rules.required]]`; aigov would otherwise report matches that gitleaks \
                 reports only next to the required findings",
            );
        }
        if let Some(skip) = &r.skip_report
            && *skip.get_ref()
        {
            cx.error(
                skip.span().start,
                rid,
                "`skipReport` is not supported by aigov (it only serves composite rules)",
                "remove `skipReport`",
            );
        }
        let compiled = match &r.regex {
            Some(re) => match allow::compile_bytes(re.get_ref()) {
                Ok(compiled) => Some(compiled),
                Err(e) => {
                    let message = format!("invalid regex: {e}");
                    cx.error(re.span().start, rid, message, REGEX_HINT);
                    None
                }
            },
            None => None,
        };
        if let Some(p) = &r.path
            && let Err(e) = allow::compile_str(p.get_ref())
        {
            cx.error(
                p.span().start,
                rid,
                format!("invalid `path` regex: {e}"),
                REGEX_HINT,
            );
        }
        let secret_group = match &r.secret_group {
            None => None,
            Some(g) if *g.get_ref() < 0 => {
                cx.error(
                    g.span().start,
                    rid,
                    format!("`secretGroup` must be 0 or more, not {}", g.get_ref()),
                    "",
                );
                None
            }
            Some(g) if *g.get_ref() == 0 => None,
            Some(g) => {
                let n = *g.get_ref() as usize;
                if let Some(re) = &compiled
                    && n >= re.captures_len()
                {
                    cx.error(
                        g.span().start,
                        rid,
                        format!(
                            "`secretGroup` is {n} but the regex has {} capture group(s)",
                            re.captures_len() - 1
                        ),
                        "count the regex's `(` groups, not counting `(?:`",
                    );
                }
                Some(n)
            }
        };
        let entropy = match &r.entropy {
            Some(e) if !(0.0..=8.0).contains(e.get_ref()) => {
                cx.error(
                    e.span().start,
                    rid,
                    format!(
                        "`entropy` must be between 0 and 8 bits per byte, not {}",
                        e.get_ref()
                    ),
                    "",
                );
                None
            }
            Some(e) if *e.get_ref() == 0.0 => None,
            Some(e) => Some(*e.get_ref() as f32),
            None => None,
        };
        let in_base = base.rules.iter().any(|b| b.id == id);
        if r.regex.is_none() && r.path.is_none() && !in_base {
            cx.error(
                at,
                rid,
                "rule has neither `regex` nor `path`",
                "give a `regex` to match content, a `path` to match file names, or both",
            );
        }
        let keywords: Vec<String> = r
            .keywords
            .iter()
            .flatten()
            .map(|k| k.to_ascii_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        if r.regex.is_some() && keywords.is_empty() && !in_base {
            warnings.push(cx.problem(
                Some(at),
                rid,
                "rule has no `keywords`, so its regex runs on every input",
                Some("add `keywords` (literal strings every match contains) to keep scans fast"),
            ));
        }
        let mut allowlists = Vec::new();
        for a in r.allowlist.iter().chain(&r.allowlists) {
            if let Some(t) = &a.get_ref().target_rules {
                cx.error(
                    t.span().start,
                    rid,
                    "`targetRules` belongs in a top-level `[[allowlists]]`, not in a rule",
                    "move the allowlist to the top level, or drop `targetRules`",
                );
            }
            if let Some(a) = allowlist(&mut cx, a, rid, warnings) {
                allowlists.push(a);
            }
        }
        own.rules.push(Rule {
            id: id.clone(),
            family: id.clone(),
            description: r.description.clone().unwrap_or_default(),
            keywords,
            ignore_case: true,
            regex: r.regex.as_ref().map(|re| re.get_ref().clone()),
            secret_group,
            entropy,
            path: r.path.as_ref().map(|p| p.get_ref().clone()),
            require_digit: id.starts_with("generic"),
            assignment: false,
            window: Window::Whole,
            confidence: Confidence::Medium,
            allowlists,
            tags: r.tags.clone(),
        });
    }
    for a in raw.allowlist.iter().chain(&raw.allowlists) {
        if let Some(a) = allowlist(&mut cx, a, None, warnings) {
            own.allowlists.push(a);
        }
    }
    if !cx.problems.is_empty() {
        return Err(LoadError {
            problems: cx.problems,
        });
    }
    merge(&mut base, own);
    Ok((raw.title, base))
}

/// Adds `own` to `base`; a rule whose id is already in `base` extends it (gitleaks' merge:
/// given fields replace, keywords, tags and allowlists add up).
fn merge(base: &mut RuleSet, own: RuleSet) {
    for rule in own.rules {
        match base.rules.iter_mut().find(|b| b.id == rule.id) {
            Some(b) => {
                if !rule.description.is_empty() {
                    b.description = rule.description;
                }
                let widened = rule.regex.is_some() || !rule.keywords.is_empty();
                if let Some(regex) = rule.regex {
                    b.regex = Some(regex);
                    b.secret_group = rule.secret_group;
                }
                if rule.entropy.is_some() {
                    b.entropy = rule.entropy;
                }
                if rule.path.is_some() {
                    b.path = rule.path;
                }
                if widened {
                    // A new regex or keyword may match away from the built-in keywords.
                    b.window = Window::Whole;
                    if b.ignore_case {
                        b.keywords.extend(rule.keywords);
                    } else {
                        // Exact keywords of a built-in rule plus new ones: all match in any case.
                        let mut all: Vec<String> =
                            b.keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
                        all.extend(rule.keywords);
                        b.keywords = all;
                        b.ignore_case = true;
                    }
                    b.keywords.sort();
                    b.keywords.dedup();
                }
                b.tags.extend(rule.tags);
                b.allowlists.extend(rule.allowlists);
            }
            None => base.rules.push(rule),
        }
    }
    base.allowlists.extend(own.allowlists);
}

fn allowlist(
    cx: &mut Ctx<'_>,
    spanned: &Spanned<RawAllowlist>,
    rule: Option<&str>,
    warnings: &mut Vec<Problem>,
) -> Option<Allowlist> {
    let at = spanned.span().start;
    let a = spanned.get_ref();
    let before = cx.problems.len();
    let condition = match &a.condition {
        None => Condition::Or,
        Some(c) => match c.get_ref().to_ascii_uppercase().as_str() {
            "OR" => Condition::Or,
            "AND" => Condition::And,
            other => {
                cx.error(
                    c.span().start,
                    rule,
                    format!("allowlist `condition` must be `OR` or `AND`, not `{other}`"),
                    "",
                );
                Condition::Or
            }
        },
    };
    let regex_target = match &a.regex_target {
        None => RegexTarget::Secret,
        Some(t) => match t.get_ref().to_ascii_lowercase().as_str() {
            "secret" | "" => RegexTarget::Secret,
            "match" => RegexTarget::Match,
            "line" => RegexTarget::Line,
            other => {
                cx.error(
                    t.span().start,
                    rule,
                    format!(
                        "allowlist `regexTarget` must be `secret`, `match` or `line`, not `{other}`"
                    ),
                    "",
                );
                RegexTarget::Secret
            }
        },
    };
    for r in &a.regexes {
        if let Err(e) = allow::compile_bytes(r.get_ref()) {
            cx.error(
                r.span().start,
                rule,
                format!("invalid allowlist regex: {e}"),
                REGEX_HINT,
            );
        }
    }
    for p in &a.paths {
        if let Err(e) = allow::compile_str(p.get_ref()) {
            cx.error(
                p.span().start,
                rule,
                format!("invalid allowlist path regex: {e}"),
                REGEX_HINT,
            );
        }
    }
    if a.paths.is_empty() && a.regexes.is_empty() && a.stopwords.is_empty() && a.commits.is_empty()
    {
        cx.error(
            at,
            rule,
            "allowlist has no criteria",
            "give `paths`, `regexes` or `stopwords`",
        );
    }
    if !a.commits.is_empty() {
        warnings.push(cx.problem(
            Some(at),
            rule,
            "allowlist `commits` never match: aigov scans content (prompts, files, diffs), not \
             git history",
            Some(if condition == Condition::And {
                "with `condition = \"AND\"` this allowlist therefore never applies"
            } else {
                "the allowlist's other criteria still apply"
            }),
        ));
    }
    if cx.problems.len() > before {
        return None;
    }
    Some(Allowlist {
        description: a.description.clone().unwrap_or_default(),
        condition,
        paths: a
            .paths
            .iter()
            .map(|p| PathPattern::Regex(p.get_ref().clone()))
            .collect(),
        repos: Vec::new(),
        regexes: a.regexes.iter().map(|r| r.get_ref().clone()).collect(),
        regex_target,
        stopwords: a.stopwords.clone(),
        target_rules: a
            .target_rules
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_default(),
        commits: a.commits.clone(),
    })
}

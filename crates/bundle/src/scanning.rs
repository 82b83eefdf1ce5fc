//! The bundle's scanning settings: `scanning/rules.toml` (gitleaks format; replaces or extends
//! the built-in secret rules) and `scanning/*.yaml` allowlists scoped to paths and repositories.

use marked_yaml::{Node, Spanned};
use model::{Diagnostic, Location};
use scanner::{Allowlist, Condition, PII_FAMILIES, PathPattern, RegexTarget, RuleSet};
use serde::Deserialize;

use crate::yaml::YamlFile;

/// The gitleaks-format rule file of a bundle.
pub const RULES_FILE: &str = "scanning/rules.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    description: Spanned<String>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    repos: Vec<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    #[serde(default)]
    values: Vec<Spanned<String>>,
    #[serde(default)]
    stopwords: Vec<String>,
}

/// Builds the bundle's rule set from its scanning files (`rel`, text), reporting problems with
/// their positions. Without `scanning/rules.toml` the built-in rules apply.
pub(crate) fn build(files: &[(&str, &str)], diags: &mut Vec<Diagnostic>) -> Option<RuleSet> {
    let mut rules_ok = true;
    let mut rules = match files.iter().find(|(rel, _)| *rel == RULES_FILE) {
        None => RuleSet::builtin(),
        Some((rel, text)) => {
            let mut resolve = |path: &str| {
                let wanted = normalize(&format!("scanning/{path}"));
                files
                    .iter()
                    .find(|(r, _)| Some(*r) == wanted.as_deref())
                    .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
                    .ok_or_else(|| "no such file in the bundle's `scanning/` directory".to_owned())
            };
            match scanner::gitleaks::load(rel, text, &mut resolve) {
                Ok(loaded) => {
                    diags.extend(loaded.warnings.iter().map(|p| problem(p, false)));
                    loaded.rules
                }
                Err(e) => {
                    diags.extend(e.problems.iter().map(|p| problem(p, true)));
                    // The allowlists are still checked, against the built-in rule ids.
                    rules_ok = false;
                    RuleSet::builtin()
                }
            }
        }
    };
    let known: Vec<String> = rules
        .rules
        .iter()
        .map(|r| r.id.clone())
        .chain(PII_FAMILIES.iter().map(|f| (*f).to_owned()))
        .collect();
    let before = diags.iter().filter(|d| d.is_error()).count();
    for (rel, text) in files {
        if rel.ends_with(".yaml") || rel.ends_with(".yml") {
            let file = YamlFile { path: rel, text };
            read_allowlists(&file, &known, &mut rules.allowlists, diags);
        }
    }
    if !rules_ok || diags.iter().filter(|d| d.is_error()).count() > before {
        return None;
    }
    if let Err(e) = scanner::Scanner::new(&rules) {
        diags.push(Diagnostic::error(
            "invalid-scanning",
            Location::file("scanning/"),
            e.to_string(),
        ));
        return None;
    }
    Some(rules)
}

/// `a/./b/../c` → `a/c`; `None` if it leaves the bundle.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn problem(p: &scanner::gitleaks::Problem, error: bool) -> Diagnostic {
    let location = if p.line > 0 {
        Location::new(&p.file, p.line, p.column)
    } else {
        Location::file(&p.file)
    };
    let message = match &p.rule {
        Some(rule) => format!("rule `{rule}`: {}", p.message),
        None => p.message.clone(),
    };
    let d = if error {
        Diagnostic::error("invalid-rule", location, message)
    } else {
        Diagnostic::warning("rule-not-honoured", location, message)
    };
    match &p.hint {
        Some(h) => d.with_hint(h.clone()),
        None => d,
    }
}

fn read_allowlists(
    file: &YamlFile<'_>,
    known: &[String],
    out: &mut Vec<Allowlist>,
    diags: &mut Vec<Diagnostic>,
) {
    let node = match file.parse(1, file.text) {
        Ok(n) => n,
        Err(d) => return diags.push(d),
    };
    let list = node
        .as_mapping()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.get_node("allowlists"))
        .and_then(Node::as_sequence);
    let Some(list) = list else {
        return diags.push(
            Diagnostic::error(
                "invalid-field",
                file.at(node.span()),
                "a scanning file needs exactly one top-level key, an `allowlists:` list",
            )
            .with_hint("see docs/scanning.md for the format"),
        );
    };
    for item in list.iter() {
        let raw: RawAllow = match file.typed(item, "allowlist") {
            Ok(r) => r,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let mut ok = true;
        let mut error = |span: &marked_yaml::Span, message: String, hint: Option<String>| {
            let d = Diagnostic::error("invalid-allowlist", file.at(span), message);
            diags.push(match hint {
                Some(h) => d.with_hint(h),
                None => d,
            });
            ok = false;
        };
        if raw.description.trim().is_empty() {
            error(
                raw.description.span(),
                "allowlist `description` is empty".to_owned(),
                Some("say why these findings are acceptable; auditors read it".to_owned()),
            );
        }
        if raw.paths.is_empty()
            && raw.repos.is_empty()
            && raw.values.is_empty()
            && raw.stopwords.is_empty()
        {
            error(
                item.span(),
                "allowlist has no criteria".to_owned(),
                Some(
                    "give `paths` (globs), `repos` (owner/name), `values` (regexes) or \
                     `stopwords`"
                        .to_owned(),
                ),
            );
        }
        for p in &raw.paths {
            if let Err(e) = scanner::check_glob(p) {
                error(
                    p.span(),
                    format!("invalid path glob `{}`: {e}", p.as_str()),
                    Some("globs use `*` within a directory and `**` across directories".into()),
                );
            }
        }
        for r in &raw.repos {
            let parts: Vec<&str> = r.split('/').collect();
            if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
                error(
                    r.span(),
                    format!("repository `{}` is not `owner/name`", r.as_str()),
                    None,
                );
            }
        }
        for v in &raw.values {
            if let Err(reason) = scanner::check_regex(v) {
                error(
                    v.span(),
                    format!("invalid `values` regex `{}`: {reason}", v.as_str()),
                    None,
                );
            }
        }
        for r in &raw.rules {
            if !known.iter().any(|k| k == r.as_str()) {
                let hint = policy::closest(r, known.iter().cloned()).map_or_else(
                    || "list the rule ids with `aigov scan --list-rules`".to_owned(),
                    |c| format!("did you mean `{c}`?"),
                );
                error(
                    r.span(),
                    format!(
                        "allowlist names rule `{}`, which does not exist",
                        r.as_str()
                    ),
                    Some(hint),
                );
            }
        }
        if ok {
            out.push(Allowlist {
                description: raw.description.as_str().to_owned(),
                // Every criterion given must hold: `paths` and `repos` together mean "these
                // paths in these repositories".
                condition: Condition::And,
                paths: raw
                    .paths
                    .iter()
                    .map(|p| PathPattern::Glob(p.as_str().to_owned()))
                    .collect(),
                repos: raw.repos.iter().map(|r| r.as_str().to_owned()).collect(),
                regexes: raw.values.iter().map(|v| v.as_str().to_owned()).collect(),
                regex_target: RegexTarget::Secret,
                stopwords: raw.stopwords.clone(),
                target_rules: raw.rules.iter().map(|r| r.as_str().to_owned()).collect(),
                commits: Vec::new(),
            });
        }
    }
}

//! `aigov scan`: secrets and personal data in files, directories, stdin or a diff, reported as a
//! table, JSON, or SARIF 2.1.0 for code-scanning UIs. Reports locations and types, never values.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use scanner::{Finding, Kind, Scanner, Source};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScanFormat {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files or directories to scan; `-` reads standard input. Directories honour .gitignore.
    #[arg(required_unless_present = "list_rules")]
    paths: Vec<PathBuf>,
    /// Secret rules from a gitleaks-format file (`.gitleaks.toml`); without `[extend]
    /// useDefault = true` they replace the built-in rules.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Use the governance bundle's scanning settings: `scanning/rules.toml` and the
    /// allowlists in `scanning/*.yaml`.
    #[arg(long, value_name = "DIR", conflicts_with = "rules")]
    bundle: Option<PathBuf>,
    /// Repository being scanned (`owner/name`), for repository-scoped allowlists.
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// List the secret rules in effect and exit.
    #[arg(long)]
    list_rules: bool,
    /// Treat the input as a unified diff (`git diff` output) and scan only added lines.
    #[arg(long)]
    diff: bool,
    /// Report secrets only, not personal data.
    #[arg(long)]
    secrets_only: bool,
    #[arg(long, value_enum, default_value = "human")]
    format: ScanFormat,
}

/// Files larger than this are skipped with a note (generated data, archives).
const MAX_FILE: u64 = 64 << 20;

/// One reported finding with its position.
struct Located {
    path: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    finding: Finding,
}

/// The rule set from `--rules`, `--bundle`, or the built-in rules; warnings go to stderr.
fn rule_set(args: &ScanArgs) -> anyhow::Result<scanner::RuleSet> {
    if let Some(path) = &args.rules {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read rule file `{}`", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        let mut resolve = |p: &str| {
            let full = dir.join(p);
            std::fs::read_to_string(&full)
                .map(|t| (full.display().to_string(), t))
                .map_err(|e| e.to_string())
        };
        let loaded = scanner::gitleaks::load(&path.display().to_string(), &text, &mut resolve)
            .map_err(|e| anyhow::anyhow!("invalid rule file:\n{e}"))?;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(loaded.rules);
    }
    if let Some(dir) = &args.bundle {
        return match bundle::load_scanning(dir) {
            Ok((rules, warnings)) => {
                for w in &warnings {
                    eprintln!("{w}");
                }
                Ok(rules)
            }
            Err(bundle::LoadError::Invalid(diags)) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                anyhow::bail!("the bundle's scanning settings are invalid")
            }
            Err(e) => Err(e.into()),
        };
    }
    Ok(scanner::RuleSet::builtin())
}

fn list_rules(rules: &scanner::RuleSet) {
    for r in &rules.rules {
        let scope = r
            .path
            .as_deref()
            .map(|p| format!(" path `{p}`"))
            .unwrap_or_default();
        println!("{:<32} {:<20} {}{scope}", r.id, r.family, r.description);
    }
}

pub(crate) fn run(args: &ScanArgs) -> anyhow::Result<u8> {
    let rules = rule_set(args)?;
    if args.list_rules {
        list_rules(&rules);
        return Ok(crate::exit::OK);
    }
    let scanner = Scanner::new(&rules).context("cannot compile the rules")?;
    let mut found: Vec<Located> = Vec::new();
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut skipped: Vec<String> = Vec::new();
    // Each file, with its path relative to the repository root for path-scoped rules.
    let mut inputs: Vec<(PathBuf, String)> = Vec::new();
    for path in &args.paths {
        if path == Path::new("-") {
            inputs.push((path.clone(), String::new()));
            continue;
        }
        let root = repo_root(path);
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        if meta.is_dir() {
            let prefix = relative(&root, path);
            let mut walked = Vec::new();
            // .gitignore is honoured, but hidden files such as `.env` are scanned.
            for entry in ignore::WalkBuilder::new(path)
                .hidden(false)
                .filter_entry(|e| e.file_name() != ".git")
                .build()
            {
                let entry = entry.with_context(|| format!("cannot walk `{}`", path.display()))?;
                if entry.file_type().is_some_and(|t| t.is_file()) {
                    let below = entry.path().strip_prefix(path).unwrap_or(entry.path());
                    let rel = join_rel(&prefix, below);
                    walked.push((entry.into_path(), rel));
                }
            }
            walked.sort();
            inputs.extend(walked);
        } else {
            inputs.push((path.clone(), relative(&root, path)));
        }
    }
    let mut progress = Progress::new(inputs.len());
    for (i, (file, rel)) in inputs.iter().enumerate() {
        progress.show(i, bytes);
        if file == Path::new("-") {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .context("cannot read standard input")?;
            files += 1;
            bytes += input.len() as u64;
            scan_input(&scanner, args, "<stdin>", None, &input, &mut found);
            continue;
        }
        let name = file.display().to_string();
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE {
            skipped.push(format!("{name} (larger than {} MiB)", MAX_FILE >> 20));
            continue;
        }
        let data = std::fs::read(file).with_context(|| format!("cannot read `{name}`"))?;
        if data[..data.len().min(8192)].contains(&0) {
            continue; // binary
        }
        files += 1;
        bytes += data.len() as u64;
        scan_input(&scanner, args, &name, Some(rel), &data, &mut found);
    }
    progress.clear();
    match args.format {
        ScanFormat::Human => print_human(&found, files, bytes, &skipped),
        ScanFormat::Json => println!("{}", serde_json::to_string_pretty(&json_report(&found))?),
        ScanFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&sarif_report(&scanner, &found))?
        ),
    }
    Ok(if found.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::FAILURE
    })
}

/// A one-line progress display on stderr, only when stderr is a terminal, at most 10 times a
/// second.
struct Progress {
    enabled: bool,
    total: usize,
    last: Option<std::time::Instant>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal as _;
        Progress {
            enabled: std::io::stderr().is_terminal() && total > 1,
            total,
            last: None,
        }
    }

    fn show(&mut self, done: usize, bytes: u64) {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        eprint!("\r\x1b[2K{}", progress_line(done, self.total, bytes));
    }

    fn clear(&self) {
        if self.enabled && self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

fn progress_line(done: usize, total: usize, bytes: u64) -> String {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!(
        "scanning [{}{}] {done}/{total} files, {:.1} MB",
        "#".repeat(filled),
        "-".repeat(width - filled),
        bytes as f64 / 1e6
    )
}

/// The root of the git work tree holding `path` (or, outside git, the current directory).
fn repo_root(path: &Path) -> PathBuf {
    let start = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_owned)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

/// `path` relative to `root`, with `/`, for matching path-scoped rules and allowlists.
fn relative(root: &Path, path: &Path) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    join_rel("", full.strip_prefix(root).unwrap_or(path))
}

/// `prefix/below` with `/`, without a leading `/` when `prefix` is empty.
fn join_rel(prefix: &str, below: &Path) -> String {
    let below = below
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    match (prefix.is_empty(), below.is_empty()) {
        (true, _) => below,
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}/{below}"),
    }
}

fn scan_input(
    scanner: &Scanner,
    args: &ScanArgs,
    name: &str,
    rel: Option<&str>,
    data: &[u8],
    out: &mut Vec<Located>,
) {
    let keep = |f: &Finding| !(args.secrets_only && f.kind == Kind::Pii);
    let repo = args.repo.as_deref();
    if args.diff {
        let text = String::from_utf8_lossy(data);
        for d in scanner
            .scan_diff_in(&text, repo)
            .into_iter()
            .filter(|d| keep(&d.finding))
        {
            out.push(Located {
                path: if name == "<stdin>" {
                    d.file.clone()
                } else {
                    format!("{name}: {}", d.file)
                },
                line: d.line,
                column: d.column,
                end_line: d.line,
                end_column: d.line_span.end + 1,
                finding: d.finding,
            });
        }
        return;
    }
    let src = Source { path: rel, repo };
    let findings = if args.secrets_only {
        scanner.scan_secrets_in(data, src)
    } else {
        scanner.scan_in(data, src)
    };
    let findings: Vec<Finding> = findings.into_iter().filter(keep).collect();
    if findings.is_empty() {
        return; // most files: no need to index their lines
    }
    let lines = LineIndex::new(data);
    for f in findings {
        let (line, column) = lines.position(f.span.start);
        let (end_line, end_column) = lines.position(f.span.end);
        out.push(Located {
            path: name.to_owned(),
            line,
            column,
            end_line,
            end_column,
            finding: f,
        });
    }
}

/// Byte offset → 1-based line and column.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(data: &[u8]) -> LineIndex {
        LineIndex(
            std::iter::once(0)
                .chain(
                    data.iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect(),
        )
    }
    fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.0.partition_point(|&start| start <= offset);
        (line, offset - self.0[line - 1] + 1)
    }
}

fn print_human(found: &[Located], files: usize, bytes: u64, skipped: &[String]) {
    for l in found {
        println!(
            "{}:{}:{}: {} {} ({}, {})",
            l.path,
            l.line,
            l.column,
            match l.finding.kind {
                Kind::Secret => "secret",
                Kind::Pii => "personal data",
            },
            l.finding.family,
            l.finding.rule_id,
            l.finding.confidence.as_str()
        );
    }
    for s in skipped {
        eprintln!("skipped {s}");
    }
    let mb = bytes as f64 / 1e6;
    match found.len() {
        0 => eprintln!("no secrets or personal data found in {files} file(s), {mb:.1} MB"),
        n => eprintln!(
            "{n} finding(s) in {files} file(s), {mb:.1} MB; values are not shown: open the locations, remove or rotate, or mark a false positive with `aigov:allow` on its line"
        ),
    }
}

fn kind(f: &Finding) -> &'static str {
    match f.kind {
        Kind::Secret => "secret",
        Kind::Pii => "pii",
    }
}

fn json_report(found: &[Located]) -> serde_json::Value {
    json!({
        "findings": found.iter().map(|l| json!({
            "path": l.path,
            "line": l.line,
            "column": l.column,
            "end_line": l.end_line,
            "end_column": l.end_column,
            "kind": kind(&l.finding),
            "family": l.finding.family,
            "rule_id": l.finding.rule_id,
            "confidence": l.finding.confidence.as_str(),
        })).collect::<Vec<_>>(),
    })
}

/// SARIF 2.1.0: one run, rules for every rule that fired, one result per finding.
fn sarif_report(scanner: &Scanner, found: &[Located]) -> serde_json::Value {
    let mut rule_ids: Vec<&str> = found.iter().map(|l| &*l.finding.rule_id).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let describe = |id: &str| match scanner.rule_description(id) {
        Some(d) if !d.is_empty() => d.to_owned(),
        Some(_) => format!("secret: {id}"),
        None => format!("personal data: {id}"),
    };
    let rules: Vec<_> = rule_ids
        .iter()
        .map(|id| json!({"id": id, "name": id, "shortDescription": {"text": describe(id)}}))
        .collect();
    let results: Vec<_> = found
        .iter()
        .map(|l| {
            let level = match (l.finding.kind, l.finding.confidence) {
                (Kind::Secret, scanner::Confidence::High) => "error",
                (_, scanner::Confidence::Low) => "note",
                _ => "warning",
            };
            json!({
                "ruleId": l.finding.rule_id,
                "ruleIndex": rule_ids.iter().position(|r| *r == &*l.finding.rule_id),
                "level": level,
                "message": {"text": format!("{} found ({}); the value is not shown", l.finding.family, kind(&l.finding))},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": l.path.replace('\\', "/")},
                    "region": {"startLine": l.line, "startColumn": l.column, "endLine": l.end_line, "endColumn": l.end_column},
                }}],
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "aigov", "informationUri": "https://example.invalid/aigov", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_line_shows_share_of_files_and_volume() {
        assert_eq!(
            super::progress_line(5, 20, 3_400_000),
            "scanning [#######-----------------------] 5/20 files, 3.4 MB"
        );
        assert_eq!(
            super::progress_line(0, 0, 0),
            "scanning [------------------------------] 0/0 files, 0.0 MB"
        );
    }
}

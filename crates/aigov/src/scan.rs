//! `aigov scan`: secrets and personal data in files, directories, stdin or a diff, reported as a
//! table, JSON, or SARIF 2.1.0 for code-scanning UIs. Reports locations and types, never values.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use scanner::{Finding, Kind, Scanner};
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
    #[arg(required = true)]
    paths: Vec<PathBuf>,
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

pub(crate) fn run(args: &ScanArgs) -> anyhow::Result<u8> {
    let scanner = Scanner::builtin();
    let mut found: Vec<Located> = Vec::new();
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut skipped: Vec<String> = Vec::new();
    let mut inputs: Vec<PathBuf> = Vec::new();
    for path in &args.paths {
        if path == Path::new("-") {
            inputs.push(path.clone());
            continue;
        }
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        if meta.is_dir() {
            let mut walked = Vec::new();
            // .gitignore is honoured, but hidden files such as `.env` are scanned.
            for entry in ignore::WalkBuilder::new(path)
                .hidden(false)
                .filter_entry(|e| e.file_name() != ".git")
                .build()
            {
                let entry = entry.with_context(|| format!("cannot walk `{}`", path.display()))?;
                if entry.file_type().is_some_and(|t| t.is_file()) {
                    walked.push(entry.into_path());
                }
            }
            walked.sort();
            inputs.extend(walked);
        } else {
            inputs.push(path.clone());
        }
    }
    let mut progress = Progress::new(inputs.len());
    for (i, file) in inputs.iter().enumerate() {
        progress.show(i, bytes);
        if file == Path::new("-") {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .context("cannot read standard input")?;
            files += 1;
            bytes += input.len() as u64;
            scan_input(&scanner, args, "<stdin>", &input, &mut found);
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
        scan_input(&scanner, args, &name, &data, &mut found);
    }
    progress.clear();
    match args.format {
        ScanFormat::Human => print_human(&found, files, bytes, &skipped),
        ScanFormat::Json => println!("{}", serde_json::to_string_pretty(&json_report(&found))?),
        ScanFormat::Sarif => println!("{}", serde_json::to_string_pretty(&sarif_report(&found))?),
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

fn scan_input(scanner: &Scanner, args: &ScanArgs, name: &str, data: &[u8], out: &mut Vec<Located>) {
    let keep = |f: &Finding| !(args.secrets_only && f.kind == Kind::Pii);
    if args.diff {
        let text = String::from_utf8_lossy(data);
        for d in scanner
            .scan_diff(&text)
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
    let findings = if args.secrets_only {
        scanner.scan_secrets(data)
    } else {
        scanner.scan(data)
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
fn sarif_report(found: &[Located]) -> serde_json::Value {
    let mut rule_ids: Vec<&str> = found.iter().map(|l| l.finding.rule_id).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let describe = |id: &str| {
        scanner::BUILTIN.iter().find(|r| r.id == id).map_or_else(
            || format!("personal data: {id}"),
            |r| r.description.to_owned(),
        )
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
                "ruleIndex": rule_ids.iter().position(|r| *r == l.finding.rule_id),
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

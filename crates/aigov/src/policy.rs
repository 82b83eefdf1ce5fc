//! `aigov policy validate|test|explain`: bundle checks and decisions from the command line.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use bundle::{Bundle, LoadError, TestResult};
use model::{Decision, Diagnostic, Effect, Outcome};

use crate::{Format, exit};

/// A diagnostic whose file is shown relative to the current directory (`bundle/x.yaml:3:5`)
/// rather than to the bundle root, so editors and terminals can open it.
pub(crate) fn rooted(root: &Path, d: &Diagnostic) -> Diagnostic {
    let mut d = d.clone();
    d.location.file = root.join(&d.location.file).display().to_string();
    d
}

fn print_diagnostics(root: &Path, diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        println!("{}", rooted(root, d));
    }
}

fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Loads the bundle; `Ok(Err(code))` when it is invalid and that has been reported.
fn load_or_report(root: &Path, format: Format) -> anyhow::Result<Result<Bundle, u8>> {
    match bundle::load(root) {
        Ok(bundle) => Ok(Ok(bundle)),
        Err(LoadError::Invalid(diagnostics)) => {
            match format {
                Format::Human => {
                    print_diagnostics(root, &diagnostics);
                    let (errors, warnings) = count(&diagnostics);
                    println!("bundle is invalid: {errors} error(s), {warnings} warning(s)");
                }
                Format::Json => {
                    print_json(&serde_json::json!({ "valid": false, "diagnostics": diagnostics }))?;
                }
            }
            Ok(Err(exit::FAILURE))
        }
        Err(e @ LoadError::Io { .. }) => Err(e.into()),
    }
}

pub(crate) fn validate(root: &Path, format: Format) -> anyhow::Result<u8> {
    let bundle = match load_or_report(root, format)? {
        Ok(bundle) => bundle,
        Err(code) => return Ok(code),
    };
    match format {
        Format::Human => {
            print_diagnostics(root, &bundle.warnings);
            let inv = &bundle.inventory;
            println!(
                "bundle is valid: {} policies, {} teams, {} people, {} applications",
                bundle.engine.policies().len(),
                inv.teams.len(),
                inv.people.len(),
                inv.applications.len()
            );
        }
        Format::Json => {
            print_json(&serde_json::json!({ "valid": true, "diagnostics": bundle.warnings }))?
        }
    }
    Ok(exit::OK)
}

pub(crate) fn test(root: &Path, format: Format) -> anyhow::Result<u8> {
    let bundle = match load_or_report(root, format)? {
        Ok(bundle) => bundle,
        Err(code) => return Ok(code),
    };
    let results = bundle::run_tests(&bundle);
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    let passed = results.len() - failed;
    match format {
        Format::Human => print!("{}", render_test_report(root, &results)),
        Format::Json => {
            let tests: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.name,
                        "location": r.location,
                        "passed": r.failure.is_none(),
                        "failure": r.failure,
                        "decision": r.decision,
                    })
                })
                .collect();
            print_json(&serde_json::json!({
                "valid": true,
                "passed": passed,
                "failed": failed,
                "tests": tests,
            }))?;
        }
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILURE })
}

fn render_test_report(root: &Path, results: &[TestResult]) -> String {
    let mut out = String::new();
    let plural = if results.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "running {} test{plural}", results.len());
    for r in results {
        let status = if r.failure.is_some() { "FAILED" } else { "ok" };
        let _ = writeln!(out, "test {} ... {status}", r.name);
    }
    let failures: Vec<&TestResult> = results.iter().filter(|r| r.failure.is_some()).collect();
    if !failures.is_empty() {
        out.push_str("\nfailures:\n");
        for r in &failures {
            let mut location = r.location.clone();
            location.file = root.join(&location.file).display().to_string();
            let _ = writeln!(out, "\n---- {} ----", r.name);
            let _ = writeln!(out, "  at {location}");
            let _ = writeln!(out, "  {}", r.failure.as_deref().unwrap_or_default());
            out.push_str(&indent(&render_decision(&r.decision), "  "));
        }
    }
    let summary = if failures.is_empty() { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\ntest result: {summary}. {} passed; {} failed",
        results.len() - failures.len(),
        failures.len()
    );
    out
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
    }
}

/// `decision: ALLOW|DENY`, then determining policies, evaluation errors and engine notes.
fn render_decision(decision: &Decision) -> String {
    let mut out = String::new();
    let outcome = match decision.outcome {
        Outcome::Allow => "ALLOW",
        Outcome::Deny => "DENY",
    };
    let _ = writeln!(out, "decision: {outcome}");
    if !decision.determining.is_empty() {
        out.push_str("determining policies:\n");
        for p in &decision.determining {
            let _ = writeln!(out, "  {} ({}) — {}", p.id, effect_name(p.effect), p.reason);
        }
    }
    if !decision.errors.is_empty() {
        out.push_str("errors:\n");
        for e in &decision.errors {
            let _ = writeln!(
                out,
                "  {} ({}): {}",
                e.policy_id,
                effect_name(e.effect),
                e.message
            );
        }
    }
    if !decision.notes.is_empty() {
        out.push_str("notes:\n");
        for note in &decision.notes {
            let _ = writeln!(out, "  {note}");
        }
    }
    out
}

pub(crate) fn explain(
    root: &Path,
    principal: &str,
    action: &str,
    resource: &str,
    context: Option<&str>,
    format: Format,
) -> anyhow::Result<u8> {
    let context: serde_json::Value = match context {
        None => serde_json::json!({}),
        Some(text) => serde_json::from_str(text).context("`--context` is not valid JSON")?,
    };
    if !context.is_object() {
        anyhow::bail!(
            "`--context` must be a JSON object, e.g. '{{\"tool\":\"claude-code\",\"model\":\"gpt-4o\"}}'"
        );
    }
    let request = server::decision_request_from_value(serde_json::json!({
        "action": action,
        "principal": principal,
        "resource": resource,
        "context": context,
    }))
    .map_err(|e| anyhow::anyhow!("invalid request: {e}"))?;
    let bundle = match bundle::load(root) {
        Ok(bundle) => bundle,
        Err(LoadError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{}", rooted(root, d));
            }
            let (errors, _) = count(&diagnostics);
            anyhow::bail!(
                "the bundle at `{}` is invalid ({errors} error(s))",
                root.display()
            );
        }
        Err(e) => return Err(e.into()),
    };
    let decision = bundle.engine.decide(&request);
    match format {
        Format::Human => print!("{}", render_decision(&decision)),
        Format::Json => print_json(&serde_json::to_value(&decision)?)?,
    }
    Ok(if decision.is_allowed() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

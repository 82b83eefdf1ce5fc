//! Project automation (`cargo xtask …`). `cargo xtask test` is THE test command: formatting,
//! clippy, then the whole workspace's tests against SQLite and a throwaway PostgreSQL cluster.

mod peers;
mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--no-lint] [-- <cargo test args>]
      cargo fmt --check, cargo clippy -D warnings, then cargo test --workspace with a
      throwaway PostgreSQL cluster (AIGOV_TEST_POSTGRES_URL). --no-lint skips fmt and clippy.
      Arguments after `--` are passed to `cargo test` (e.g. `-- -p store`).
  bench-gateway [--quick] [--no-peers]
      The gateway's performance (not a test): builds aigov, aigov-standin and aigov-load in
      release mode, installs LiteLLM proxy (PyPI) and the Portkey gateway (npm) under
      <target>/bench-gateway, then, in a network namespace with only loopback, measures added
      latency over the stand-in upstream (10 KB prompt) for aigov, LiteLLM and Portkey, aigov's
      throughput at p99 < 20 ms and its memory with 1,000 open streams. --quick: a smoke run;
      --no-peers: aigov only. See docs/gateway.md.
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench-gateway") => peers::bench_gateway(&args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// Workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Whether we run in CI (`CI` set to anything but empty/`0`/`false`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

fn banner(text: &str) {
    eprintln!("\n==> {text}");
}

/// Runs a command with inherited stdio; Ok(true) when it exits 0.
fn status(cmd: &mut Command) -> Result<bool> {
    let st = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    Ok(st.success())
}

struct TestArgs {
    lint: bool,
    cargo_args: Vec<String>,
}

fn parse_test_args(args: &[String]) -> Result<TestArgs> {
    let mut out = TestArgs {
        lint: true,
        cargo_args: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        match a.as_str() {
            "--no-lint" => out.lint = false,
            "--" => {
                out.cargo_args.extend(iter.by_ref().cloned());
            }
            other => {
                eprint!("{USAGE}");
                bail!("unknown argument `{other}` for `cargo xtask test`")
            }
        }
    }
    Ok(out)
}

fn test(args: &[String]) -> Result<()> {
    let args = parse_test_args(args)?;
    let mut failed: Vec<&str> = Vec::new();

    if args.lint {
        banner("cargo fmt --all --check");
        if !status(cargo().args(["fmt", "--all", "--check"]))? {
            eprintln!("xtask: formatting differs; run `cargo fmt --all` to fix it");
            failed.push("fmt");
        }
        banner("cargo clippy --workspace --all-targets -- -D warnings");
        if !status(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))? {
            failed.push("clippy");
        }
    } else {
        eprintln!("xtask: --no-lint: skipping fmt and clippy");
    }

    let ci = in_ci();
    // Held until the end of this function: dropping it stops the cluster and removes its files,
    // also when a step fails.
    let cluster = match postgres::find_binaries() {
        Some(bin) => {
            banner(&format!(
                "starting throwaway PostgreSQL ({})",
                bin.display()
            ));
            match postgres::Cluster::start(&bin) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("xtask: cannot start PostgreSQL: {e:#}");
                    failed.push("postgres");
                    None
                }
            }
        }
        None if ci => {
            bail!(
                "PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or \
                 /usr/lib/postgresql/*/bin, and CI is set: refusing to skip the PostgreSQL \
                 backend (install it: apt-get install postgresql)"
            );
        }
        None => {
            eprintln!();
            eprintln!(
                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            );
            eprintln!(
                "!! WARNING: PostgreSQL backend NOT tested: install postgresql (apt-get install postgresql)"
            );
            eprintln!("!! Running SQLite-only.");
            eprintln!(
                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            );
            None
        }
    };

    if failed.contains(&"postgres") && ci {
        // Without the server the tests would fail anyway (AIGOV_REQUIRE_POSTGRES); say why.
        eprintln!("xtask: skipping cargo test: PostgreSQL is required in CI");
    } else {
        let mut cmd = cargo();
        cmd.arg("test");
        // `--workspace` would override a package selection passed after `--`.
        let selects_package = args.cargo_args.iter().any(|a| {
            a == "-p" || a.starts_with("--package") || (a.starts_with("-p") && a.len() > 2)
        });
        if !selects_package {
            cmd.arg("--workspace");
        }
        cmd.args(&args.cargo_args);
        if let Some(c) = &cluster {
            cmd.env("AIGOV_TEST_POSTGRES_URL", c.url());
        } else {
            cmd.env_remove("AIGOV_TEST_POSTGRES_URL");
        }
        if ci {
            cmd.env("AIGOV_REQUIRE_POSTGRES", "1");
            // The official OpenAI/Anthropic SDK checks must run in CI, not skip.
            cmd.env("AIGOV_REQUIRE_SDK", "1");
            // So must Claude Code's CLI through the gateway (installed from npm by the test).
            cmd.env("AIGOV_REQUIRE_CLAUDE_CODE", "1");
        }
        banner(&format!(
            "cargo test{} {}{}",
            if selects_package { "" } else { " --workspace" },
            args.cargo_args.join(" "),
            match &cluster {
                Some(c) => format!("  (AIGOV_TEST_POSTGRES_URL={})", c.url()),
                None => "  (SQLite only)".to_owned(),
            }
        ));
        if !status(&mut cmd)? {
            failed.push("test");
        }
    }

    drop(cluster);

    if failed.is_empty() {
        banner("all checks passed");
        Ok(())
    } else {
        bail!("failed steps: {}", failed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn test_args() {
        let t = parse_test_args(&args(&[])).unwrap();
        assert!(t.lint && t.cargo_args.is_empty());
        let t = parse_test_args(&args(&["--no-lint", "--", "-p", "store", "--no-lint"])).unwrap();
        assert!(!t.lint);
        assert_eq!(t.cargo_args, ["-p", "store", "--no-lint"]);
        assert!(parse_test_args(&args(&["--bogus"])).is_err());
    }
}

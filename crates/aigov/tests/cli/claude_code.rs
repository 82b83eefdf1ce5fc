//! Claude Code's CLI (`@anthropic-ai/claude-code` from npm, pinned) in print mode through
//! `aigov serve`'s gateway to the stand-in: every request passes through with its path, query
//! and `anthropic-*` headers intact and the upstream's key, and lands in a ledger that verifies.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::Child;
use super::gateway_harness::{
    ANTHROPIC_MODEL, Gateway, PERSON, REPO, UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY, target_dir,
};

/// The Claude Code release checked against (pinned so CI is reproducible).
const CLAUDE_CODE_VERSION: &str = "2.1.330";
const PACKAGE: &str = "@anthropic-ai/claude-code";
/// The longest one `claude -p` run may take (it takes about a second against the stand-in).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// `claude --version`'s first word, if `bin` runs.
fn installed_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin)
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let stdout = String::from_utf8(out.stdout).ok()?;
    out.status
        .success()
        .then(|| stdout.split_whitespace().next().map(str::to_owned))
        .flatten()
}

/// `claude` from `<target>/claude-code`, installed there with npm (pinned to
/// [`CLAUDE_CODE_VERSION`]) on first use; a lock file keeps parallel runs from racing.
fn claude(target: &Path) -> Result<PathBuf, String> {
    let dir = target.join("claude-code");
    let bin = dir.join("node_modules/.bin/claude");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock = File::create(target.join("claude-code.lock"))
        .map_err(|e| format!("cannot create the install lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot take the install lock: {e}"))?;
    if installed_version(&bin).as_deref() == Some(CLAUDE_CODE_VERSION) {
        return Ok(bin);
    }
    let spec = format!("{PACKAGE}@{CLAUDE_CODE_VERSION}");
    eprintln!("claude_code: installing {spec} into {}", dir.display());
    let started = Instant::now();
    let out = Command::new("npm")
        .args(["install", "--prefix"])
        .arg(&dir)
        .args([
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            &spec,
        ])
        .env("npm_config_update_notifier", "false")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run npm (is Node.js installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm install {spec} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    match installed_version(&bin) {
        Some(v) if v == CLAUDE_CODE_VERSION => {
            eprintln!(
                "claude_code: installed {spec} in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(bin)
        }
        other => Err(format!(
            "npm installed {spec}, but `{} --version` says {other:?}",
            bin.display()
        )),
    }
}

/// [`claude`], or `None` after a loud banner saying `test` was skipped; with
/// `AIGOV_REQUIRE_CLAUDE_CODE` set (as in CI) an unavailable Claude Code panics instead.
fn claude_or_skip(target: &Path, test: &str) -> Option<PathBuf> {
    match claude(target) {
        Ok(p) => Some(p),
        Err(why) if std::env::var_os("AIGOV_REQUIRE_CLAUDE_CODE").is_none() => {
            let bar = "!".repeat(72);
            eprintln!(
                "\n{bar}\n!!! SKIPPED {test}: {why}\n!!! set AIGOV_REQUIRE_CLAUDE_CODE=1 to make this a failure\n{bar}\n"
            );
            None
        }
        Err(why) => {
            panic!("AIGOV_REQUIRE_CLAUDE_CODE is set but Claude Code is unavailable: {why}")
        }
    }
}

/// A listener posing as the HTTP(S) proxy: whatever Claude Code tries to reach beyond
/// loopback connects here instead of the internet.
struct ProxyTrap(TcpListener);

impl ProxyTrap {
    fn new() -> ProxyTrap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        ProxyTrap(listener)
    }

    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }

    /// How many connections were attempted (they wait, unanswered, in the backlog).
    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.0.accept().ok()).count()
    }
}

/// Runs `claude -p PROMPT` against `base_url` with `api_key`, in a fresh HOME, with every
/// optional network feature off and other traffic sent to `trap`.
fn run_claude(
    claude: &Path,
    home: &Path,
    base_url: &str,
    api_key: &str,
    trap: &ProxyTrap,
) -> Output {
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let stdout = home.join("claude.stdout");
    let stderr = home.join("claude.stderr");
    let mut command = Command::new(claude);
    command
        .args(["-p", "say hi", "--model", ANTHROPIC_MODEL])
        // Only the harmless Read tool: the stand-in calls the first tool it is offered.
        .args(["--tools", "Read"])
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .env("ANTHROPIC_BASE_URL", base_url)
        .env("ANTHROPIC_API_KEY", api_key)
        .env(
            "ANTHROPIC_CUSTOM_HEADERS",
            format!("x-aigov-repo: {REPO}\nx-aigov-tool: claude-code"),
        )
        // Whatever model Claude Code picks for side tasks is the routed one.
        .env("ANTHROPIC_MODEL", ANTHROPIC_MODEL)
        .env("ANTHROPIC_SMALL_FAST_MODEL", ANTHROPIC_MODEL)
        .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", ANTHROPIC_MODEL)
        .env("ANTHROPIC_DEFAULT_SONNET_MODEL", ANTHROPIC_MODEL)
        .env("ANTHROPIC_DEFAULT_OPUS_MODEL", ANTHROPIC_MODEL)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_BUG_COMMAND", "1")
        .env("DISABLE_NON_ESSENTIAL_MODEL_CALLS", "1")
        .env("HTTPS_PROXY", trap.url())
        .env("HTTP_PROXY", trap.url())
        .env("https_proxy", trap.url())
        .env("http_proxy", trap.url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap());
    let mut child = Child(command.spawn().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "claude -p did not finish in {RUN_LIMIT:?}:\n{}\n{}",
            std::fs::read_to_string(&stdout).unwrap_or_default(),
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&stdout).unwrap(),
        stderr: std::fs::read(&stderr).unwrap(),
    }
}

#[test]
fn claude_code_print_mode_through_the_gateway() {
    let test = "claude_code_print_mode_through_the_gateway";
    let Some(claude) = claude_or_skip(&target_dir(), test) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upstream = rt
        .block_on(standin::spawn(standin::Options::new(
            UPSTREAM_OPENAI_KEY,
            UPSTREAM_ANTHROPIC_KEY,
        )))
        .unwrap();
    let trap = ProxyTrap::new();
    let show = |out: &Output| {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    // First straight to the stand-in, to see what Claude Code itself sends.
    let home = tempfile::tempdir().unwrap();
    let out = run_claude(
        &claude,
        home.path(),
        &upstream.anthropic_base_url(),
        UPSTREAM_ANTHROPIC_KEY,
        &trap,
    );
    assert!(out.status.success(), "claude -p, direct: {}", show(&out));
    let direct = upstream.requests();
    assert!(!direct.is_empty(), "Claude Code sent nothing");
    for r in &direct {
        for name in ["anthropic-version", "anthropic-beta"] {
            assert!(
                r.headers.get(name).is_some_and(|v| !v.is_empty()),
                "Claude Code sends `{name}`: {:?}",
                r.headers
            );
        }
    }
    upstream.reset();

    // Then through aigov, with a developer key.
    let mut gateway = Gateway::start(&upstream);
    let home = tempfile::tempdir().unwrap();
    let out = run_claude(&claude, home.path(), &gateway.url, &gateway.key, &trap);
    assert!(
        out.status.success(),
        "claude -p through aigov: {}\nserver log:\n{}",
        show(&out),
        gateway.log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("stand-in reply to a "),
        "Claude Code prints the stand-in's answer: {}",
        show(&out)
    );
    assert_eq!(
        trap.connections(),
        0,
        "Claude Code tried to reach beyond loopback (through the proxy)"
    );

    // The stand-in got what Claude Code sent, request for request: the same path and query,
    // `anthropic-version` and `anthropic-beta` unchanged, and the upstream's key.
    let forwarded = upstream.requests();
    let summary = |rs: &[standin::RecordedRequest]| {
        rs.iter()
            .map(|r| {
                format!(
                    "{} {}?{}",
                    r.method,
                    r.path,
                    r.query.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(&forwarded),
        summary(&direct),
        "every request Claude Code made reaches the upstream, with its query string"
    );
    for (sent, got) in direct.iter().zip(&forwarded) {
        for name in ["anthropic-version", "anthropic-beta"] {
            assert_eq!(
                got.headers.get(name),
                sent.headers.get(name),
                "`{name}` is forwarded unchanged"
            );
        }
        assert_eq!(
            got.headers.get("x-api-key").map(String::as_str),
            Some(UPSTREAM_ANTHROPIC_KEY),
            "the upstream gets its own key"
        );
        assert!(
            !format!("{:?}", got.headers).contains(&gateway.key),
            "the developer key stays with aigov: {:?}",
            got.headers
        );
        let keys = |r: &standin::RecordedRequest| {
            r.body
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(keys(got), keys(sent), "the body is passed on as sent");
        assert_eq!(got.body["model"], ANTHROPIC_MODEL);
        assert_eq!(got.body["stream"], true);
    }

    // One allowed, streamed `gateway_request` entry per request, in a ledger that verifies.
    gateway.stop();
    let entries = gateway.entries();
    assert_eq!(entries.len(), direct.len(), "{entries:#?}");
    for e in &entries {
        assert_eq!(e["actor"], PERSON);
        assert_eq!(e["subject"], format!("repo:{REPO}"));
        assert_eq!(e["decision"], "allow");
        assert_eq!(e["outcome"], "success", "{e:#}");
        assert_eq!(e["fields"]["tool"], "claude-code", "{e:#}");
        assert_eq!(e["fields"]["model"], ANTHROPIC_MODEL);
        assert_eq!(e["fields"]["status"], "200");
        assert_eq!(e["fields"]["stream"], "true");
    }
    for d in gateway.details() {
        assert_eq!(d["stream_complete"], true, "{d:#}");
        assert_eq!(d["usage"]["output_tokens"], standin::OUTPUT_TOKENS, "{d:#}");
    }
    gateway.verify();
    drop(upstream);
}

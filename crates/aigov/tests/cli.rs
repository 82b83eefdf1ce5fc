//! Tests of the `aigov` binary as users run it: exit codes and output of `policy` and `token`
//! commands, and `aigov serve` as a real child process (health, initial token, SIGTERM).
//! `cli/audit_offline.rs`: `aigov audit export`, `verify --dir`/`--proof`/`--from-checkpoint`.
//! `cli/audit_log.rs`: `aigov audit log`.
//! `cli/key.rs`: `aigov key create|list|revoke`.
//! `cli/deploy.rs`: `aigov deploy authorize|proof|verify|revoke|retro-review`.
//! `cli/claude_code.rs`: Claude Code's CLI through the gateway; `cli/sse_curl.rs`: raw SSE with
//! curl; both start the gateway with `cli/gateway_harness.rs`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use expect_test::{Expect, expect};

#[path = "cli/audit_log.rs"]
mod audit_log;
#[path = "cli/audit_offline.rs"]
mod audit_offline;
#[path = "cli/claude_code.rs"]
mod claude_code;
#[path = "cli/deploy.rs"]
mod deploy;
#[path = "../../server/tests/server/forge.rs"]
mod forge;
#[path = "cli/gateway.rs"]
mod gateway;
#[path = "cli/gateway_harness.rs"]
mod gateway_harness;
#[path = "cli/key.rs"]
mod key;
#[path = "cli/scenario.rs"]
mod scenario;
#[path = "cli/sse_curl.rs"]
mod sse_curl;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/governance");

/// `aigov` with a clean environment: no `AIGOV_*` variables leak in from the caller.
fn aigov(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aigov"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("AIGOV_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    aigov(dir).args(args).output().expect("run aigov")
}

/// Runs `aigov args` in `dir` and compares exit code, stdout and stderr with `expect`.
fn check(dir: &Path, args: &[&str], expect: Expect) {
    let output = run(dir, args);
    let mut actual = format!(
        "exit: {}\n",
        output.status.code().expect("exited, not killed")
    );
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if !text.is_empty() {
            actual.push_str(&format!("--- {name}\n{text}"));
        }
    }
    expect.assert_eq(&actual);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temp dir holding a copy of the example bundle as `bundle/`, edited by `edit`.
fn bundle_copy(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE), &dir.path().join("bundle"));
    edit(&dir.path().join("bundle"));
    dir
}

fn replace_in(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} contains {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The example bundle with one invalid team stage.
fn broken_bundle() -> tempfile::TempDir {
    bundle_copy(|b| {
        replace_in(
            &b.join("inventory/teams.yaml"),
            "stage: scale",
            "stage: sideways",
        )
    })
}

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_example_bundle() {
    check(
        &here(),
        &["policy", "validate", EXAMPLE],
        expect![[r#"
            exit: 0
            --- stdout
            bundle is valid: 16 policies, 4 teams, 7 people, 4 applications
        "#]],
    );
    let output = run(
        &here(),
        &["policy", "validate", EXAMPLE, "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert!(json["diagnostics"].is_array());
}

#[test]
fn validate_broken_bundle() {
    let dir = broken_bundle();
    check(
        dir.path(),
        &["policy", "validate", "bundle"],
        expect![[r#"
            exit: 1
            --- stdout
            bundle/inventory/teams.yaml:6:12: error[invalid-value]: invalid `stage`: `sideways` is not one of `pilot`, `controlled-expansion`, `scale`
            bundle is invalid: 1 error(s), 0 warning(s)
        "#]],
    );
    let output = run(
        dir.path(),
        &["policy", "validate", "bundle", "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    expect![[r#"
        {
          "valid": false,
          "diagnostics": [
            {
              "severity": "error",
              "code": "invalid-value",
              "location": {
                "file": "inventory/teams.yaml",
                "line": 6,
                "column": 12
              },
              "message": "invalid `stage`: `sideways` is not one of `pilot`, `controlled-expansion`, `scale`"
            }
          ]
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&json).unwrap());
}

#[test]
fn validate_hint_is_printed() {
    let dir = bundle_copy(|b| {
        replace_in(
            &b.join("inventory/applications.yaml"),
            "owner: payments",
            "owner: paymnts",
        )
    });
    check(
        dir.path(),
        &["policy", "validate", "bundle"],
        expect![[r#"
            exit: 1
            --- stdout
            bundle/inventory/applications.yaml:6:12: error[unknown-team-or-person]: `owner` refers to team or person `paymnts`, which is not defined
              hint: did you mean `payments`?
            bundle is invalid: 1 error(s), 0 warning(s)
        "#]],
    );
}

#[test]
fn missing_bundle_is_a_tool_failure() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["validate", "test"] {
        check(
            dir.path(),
            &["policy", command, "no-such-dir"],
            expect![[r#"
                exit: 2
                --- stderr
                error: cannot read bundle at `no-such-dir`: No such file or directory (os error 2)
            "#]],
        );
    }
}

#[test]
fn test_example_bundle_passes() {
    let output = run(&here(), &["policy", "test", EXAMPLE]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("running "), "{stdout}");
    assert!(
        stdout.contains("test untrained developer is denied ... ok\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAILED"), "{stdout}");
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.starts_with("test result: ok. ") && summary.ends_with(" passed; 0 failed"),
        "{summary}"
    );

    let output = run(&here(), &["policy", "test", EXAMPLE, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["failed"], 0);
    assert!(json["passed"].as_u64().unwrap() > 0);
}

#[test]
fn failing_policy_test_is_reported() {
    let dir = bundle_copy(|b| {
        replace_in(
            &b.join("policy/tests/gateway.yaml"),
            "context: { tool: claude-code, model: local-coder }\n    expect: deny",
            "context: { tool: claude-code, model: local-coder }\n    expect: allow",
        )
    });
    let output = run(dir.path(), &["policy", "test", "bundle"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("test untrained developer is denied ... FAILED\n"),
        "{stdout}"
    );
    let failures = &stdout[stdout.find("failures:").expect("a failures section")..];
    let failures = failures
        .lines()
        .filter(|l| !l.starts_with("test result:"))
        .collect::<Vec<_>>()
        .join("\n");
    expect![[r#"
        failures:

        ---- untrained developer is denied ----
          at bundle/policy/tests/gateway.yaml:11:11
          expected allow, got deny
          decision: DENY
          determining policies:
            training-required (forbid) — complete the AI-assisted development training before using AI tools; your team owner has the course link

    "#]]
    .assert_eq(&format!("{failures}\n"));
    assert!(stdout.trim_end().ends_with(" passed; 1 failed"), "{stdout}");
    assert!(stdout.contains("test result: FAILED. "), "{stdout}");

    // An invalid bundle is reported like `validate`, exit 1.
    let broken = broken_bundle();
    let output = run(broken.path(), &["policy", "test", "bundle"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("error[invalid-value]")
    );
}

#[test]
fn explain_allow_and_deny() {
    let context = r#"{"tool":"claude-code","model":"claude-sonnet-4"}"#;
    check(
        &here(),
        &[
            "policy",
            "explain",
            EXAMPLE,
            "--principal",
            "lena",
            "--action",
            "SendPrompt",
            "--resource",
            "acme/storefront",
            "--context",
            context,
        ],
        expect![[r#"
            exit: 0
            --- stdout
            decision: ALLOW
            determining policies:
              baseline-prompt (permit) — developers may use AI tools on repositories registered in the inventory
        "#]],
    );
    check(
        &here(),
        &[
            "policy",
            "explain",
            EXAMPLE,
            "--principal",
            "bob",
            "--action",
            "SendPrompt",
            "--resource",
            "acme/storefront",
            "--context",
            context,
        ],
        expect![[r#"
            exit: 1
            --- stdout
            decision: DENY
            determining policies:
              training-required (forbid) — complete the AI-assisted development training before using AI tools; your team owner has the course link
        "#]],
    );
    check(
        &here(),
        &[
            "policy",
            "explain",
            EXAMPLE,
            "--principal",
            "lena",
            "--action",
            "SendPrompt",
            "--resource",
            "acme/nowhere",
        ],
        expect![[r#"
            exit: 1
            --- stdout
            decision: DENY
            notes:
              unknown repository `acme/nowhere`: this repository is not listed under any application in the inventory
        "#]],
    );
    let output = run(
        &here(),
        &[
            "policy",
            "explain",
            EXAMPLE,
            "--principal",
            "bob",
            "--action",
            "SendPrompt",
            "--resource",
            "acme/storefront",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let decision: model::Decision = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!decision.is_allowed());
}

#[test]
fn explain_rejects_bad_input() {
    let base = [
        "policy",
        "explain",
        EXAMPLE,
        "--principal",
        "lena",
        "--resource",
        "acme/storefront",
    ];
    let cases: [(&[&str], Expect); 4] = [
        (
            &["--action", "SendPrompt", "--context", "{\"tool\":"],
            expect![[r#"
                exit: 2
                --- stderr
                error: `--context` is not valid JSON: EOF while parsing a value at line 1 column 8
            "#]],
        ),
        (
            &["--action", "SendPrompt", "--context", "{\"tokens\":1}"],
            expect![[r#"
                exit: 2
                --- stderr
                error: invalid request: `context.tokens`: unknown field `tokens`, expected one of `tool`, `model`, `findings`, `token_estimate`, `budget`
            "#]],
        ),
        (
            &["--action", "SendPrompt", "--context", "[1]"],
            expect![[r#"
                exit: 2
                --- stderr
                error: `--context` must be a JSON object, e.g. '{"tool":"claude-code","model":"gpt-4o"}'
            "#]],
        ),
        (
            &["--action", "Launch"],
            expect![[r#"
                exit: 2
                --- stderr
                error: invalid request: unknown variant `Launch`, expected one of `SendPrompt`, `MergeChange`, `Deploy`
            "#]],
        ),
    ];
    for (extra, expect) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        check(&here(), &args, expect);
    }
}

#[test]
fn token_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["token", "create", "--name", "ci", "--data-dir", "data"],
    );
    assert_eq!(output.status.code(), Some(0));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(
        token.starts_with("aigov_adm_") && token.len() == "aigov_adm_".len() + 43,
        "{token}"
    );
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("will not be shown again")
    );

    check(
        dir.path(),
        &["token", "create", "--name", "ci", "--data-dir", "data"],
        expect![[r#"
            exit: 1
            --- stderr
            error: an active token named `ci` already exists; revoke it first with `aigov token revoke --name ci`, or pick another name
        "#]],
    );

    let list = run(dir.path(), &["token", "list", "--data-dir", "data"]);
    assert_eq!(list.status.code(), Some(0));
    let list = String::from_utf8(list.stdout).unwrap();
    let lines: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "KIND", "CREATED", "REVOKED"]);
    assert_eq!(
        (lines[1][0], lines[1][1], lines[1][3]),
        ("ci", "admin", "-")
    );
    assert!(!list.contains(&token), "list never shows tokens");

    check(
        dir.path(),
        &["token", "revoke", "--name", "ci", "--data-dir", "data"],
        expect![[r#"
            exit: 0
            --- stdout
            revoked token `ci`
        "#]],
    );
    check(
        dir.path(),
        &["token", "revoke", "--name", "ci", "--data-dir", "data"],
        expect![[r#"
            exit: 1
            --- stderr
            error: no active token named `ci`; see `aigov token list`
        "#]],
    );
    let list = String::from_utf8(run(dir.path(), &["token", "list", "--data-dir", "data"]).stdout)
        .unwrap();
    assert_ne!(
        list.lines().nth(1).unwrap().split_whitespace().nth(3),
        Some("-"),
        "{list}"
    );
}

#[test]
fn bad_config_is_a_tool_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aigov.toml"),
        "[database]\nurl = \"postgres://u:hunter2@db/aigov\"\n",
    )
    .unwrap();
    let output = run(dir.path(), &["token", "list"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid `database.url` in `aigov.toml`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password is never echoed: {stderr}"
    );
}

/// A minimal HTTP/1.1 GET; returns the status code and body.
fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Kills the child on drop, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_starts_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Child(
        aigov(dir.path())
            .args(["serve", "--listen", &listen, "--data-dir", "data"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap();

    let started = Instant::now();
    loop {
        if let Ok((200, body)) = http_get(port, "/healthz", None) {
            assert_eq!(body, "ok");
            break;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("aigov serve exited early with {status}:\n{}", log());
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    assert!(
        dir.path().join("data/bundle").is_dir(),
        "the example bundle was written"
    );
    let token_file = dir.path().join("data/initial-admin-token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "token file mode is {mode:o}");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("aigov_adm_"));

    let (status, body) = http_get(port, "/api/v1/inventory/teams", Some(&token)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"payments\""), "{body}");
    assert_eq!(
        http_get(port, "/api/v1/inventory/teams", None).unwrap().0,
        401
    );
    assert_eq!(http_get(port, "/readyz", None).unwrap().0, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", log());

    let log = log();
    assert!(
        log.contains(&format!("listening on http://{listen}")),
        "{log}"
    );
    assert!(
        log.contains("initial-admin-token"),
        "the token file path is logged: {log}"
    );
    assert!(!log.contains(&token), "the token itself is never logged");

    // The audit signer key was created on first start, announced, and never logged.
    let key_file = dir.path().join("data/audit-signing.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "signer key file mode is {mode:o}");
    let secret = std::fs::read_to_string(&key_file).unwrap();
    assert!(log.contains("created audit signer key"), "{log}");
    assert!(
        !log.contains(secret.trim()),
        "the signer key is never logged"
    );
    let out = run(
        dir.path(),
        &["audit", "key", "--file", "data/audit-signing.key"],
    );
    assert_eq!(out.status.code(), Some(0));
    let verifier = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(verifier.starts_with("aigov.local+"), "{verifier}");
    assert!(log.contains(&verifier), "the public key is logged: {log}");

    // Everything the server did is in a ledger that verifies offline: start, bundle load,
    // initial token, stop; then a CLI token change adds to the same log.
    let verify = || {
        let out = run(
            dir.path(),
            &[
                "audit",
                "verify",
                "--db",
                "data/aigov.db",
                "--origin",
                "aigov.local/audit",
                "--key",
                &verifier,
            ],
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        stdout
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        verify(),
        4,
        "audit.started, bundle.loaded, token.created, audit.stopped"
    );
    let out = run(
        dir.path(),
        &["token", "create", "--name", "ci", "--data-dir", "data"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(verify(), 5, "token.created by the CLI");
    // Reading the server's log through its configuration is itself recorded, first.
    let out = run(dir.path(), &["audit", "log", "--data-dir", "data"]);
    let listing = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{listing}");
    for kind in [
        "audit_lifecycle",
        "bundle_change",
        "credential_change",
        "audit_access",
    ] {
        assert!(listing.contains(kind), "{kind} in:\n{listing}");
    }
    assert_eq!(verify(), 6, "audit.log read recorded");

    // A second start finds the active token and leaves the file alone.
    let before = std::fs::read_to_string(&token_file).unwrap();
    let invalid = dir.path().join("invalid");
    copy_dir(Path::new(EXAMPLE), &invalid);
    replace_in(
        &invalid.join("inventory/teams.yaml"),
        "stage: scale",
        "stage: sideways",
    );
    let output = aigov(dir.path())
        .args([
            "serve",
            "--listen",
            &listen,
            "--data-dir",
            "data",
            "--bundle",
            "invalid",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an invalid bundle at startup is a hard error"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid/inventory/teams.yaml:6:12: error[invalid-value]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: the bundle at `invalid` is invalid ("),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), before);
}

#[test]
fn policy_schema_prints_the_shipped_schema() {
    let out = run(&here(), &["policy", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, policy::SCHEMA);
    assert!(text.contains("action SendPrompt appliesTo"));
}

/// A tree with a secret in a tracked file, one in a git-ignored file, an `.env` (hidden files
/// are scanned), a binary file, and a clean file.
fn scan_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::write(p.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir_all(p.join("build")).unwrap();
    std::fs::write(p.join("build/out.txt"), "AKIAZ3MKQ7T2X4PLW5NB\n").unwrap();
    std::fs::write(
        p.join("src/config.py"),
        "import os\n\nAWS_KEY = \"AKIAZ3MKQ7T2X4PLW5NB\"\nowner = \"jane.doe@acme-corp.io\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join(".env"),
        "GITHUB_TOKEN=ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u\n",
    )
    .unwrap();
    std::fs::write(p.join("logo.png"), b"\x89PNG\0\0AKIAZ3MKQ7T2X4PLW5NB").unwrap();
    std::fs::write(p.join("src/clean.rs"), "fn main() {}\n").unwrap();
    // `ignore` honours .gitignore only inside a git repository.
    std::fs::create_dir_all(p.join(".git")).unwrap();
    dir
}

#[test]
fn scan_reports_locations_and_types_never_values() {
    let tree = scan_tree();
    let out = run(tree.path(), &["scan", "."]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    expect![[r#"
        ./.env:1:14: secret github-token (github-token, high)
        ./src/config.py:3:12: secret aws-access-key (aws-access-key-id, high)
        ./src/config.py:4:10: personal data email (email, medium)
    "#]]
    .assert_eq(&stdout);
    assert!(
        !stdout.contains("AKIA") && !stdout.contains("ghp_"),
        "values must never be printed"
    );
    let secrets_only = run(
        tree.path(),
        &["scan", "--secrets-only", "src/clean.rs", "src/config.py"],
    );
    assert_eq!(
        String::from_utf8(secrets_only.stdout)
            .unwrap()
            .lines()
            .count(),
        1
    );
    let clean = run(tree.path(), &["scan", "src/clean.rs"]);
    assert_eq!(clean.status.code(), Some(0));
    let missing = run(tree.path(), &["scan", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .contains("cannot read `nope`")
    );
}

#[test]
fn scan_json_and_sarif_formats() {
    let tree = scan_tree();
    let out = run(tree.path(), &["scan", "--format", "json", "src/config.py"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["family"], "aws-access-key");
    assert_eq!(v["findings"][0]["line"], 3);
    let out = run(tree.path(), &["scan", "--format", "sarif", "."]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run0["tool"]["driver"]["rules"][index]["id"], r["ruleId"]);
        assert!(
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
    assert_eq!(results[0]["level"], "error");
}

#[test]
fn scan_reads_stdin_and_diffs() {
    let diff = "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n-KEY = \"AKIAQ2W3E4R5T6Y7U2I3\"\n+KEY = os.environ[\"KEY\"]\n+TOKEN = \"ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u\"\n";
    let mut child = aigov(&here())
        .args(["scan", "--diff", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "app.py:2:10: secret github-token (github-token, high)\n"
    );
}

#[test]
fn scan_with_gitleaks_rules_and_bundle_allowlists() {
    let tree = scan_tree();
    let p = tree.path();
    std::fs::write(
        p.join(".gitleaks.toml"),
        "[extend]\nuseDefault = true\n\n[[rules]]\nid = \"acme-token\"\n\
         description = \"Acme service token\"\nregex = '''\\b(acme_[a-z0-9]{24})\\b'''\n\
         keywords = [\"acme_\"]\n\n[[allowlists]]\ndescription = \"generated code\"\n\
         paths = ['''^src/gen/''']\n",
    )
    .unwrap();
    std::fs::create_dir_all(p.join("src/gen")).unwrap();
    std::fs::write(p.join("src/gen/keys.py"), "K = \"AKIAZ3MKQ7T2X4PLW5NB\"\n").unwrap();
    std::fs::write(
        p.join("src/acme.py"),
        "T = \"acme_q3zt8vw1lr9xk2pm7nc4hb6y\"\n",
    )
    .unwrap();
    check(
        p,
        &["scan", "--secrets-only", "--rules", ".gitleaks.toml", "src"],
        expect![[r#"
            exit: 1
            --- stdout
            src/acme.py:1:6: secret acme-token (acme-token, medium)
            src/config.py:3:12: secret aws-access-key (aws-access-key-id, high)
            --- stderr
            2 finding(s) in 4 file(s), 0.0 MB; values are not shown: open the locations, remove or rotate, or mark a false positive with `aigov:allow` on its line
        "#]],
    );
    let listed = run(p, &["scan", "--rules", ".gitleaks.toml", "--list-rules"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("acme-token") && listed.contains("aws-access-key-id"));

    std::fs::write(
        p.join("bad.toml"),
        "[[rules]]\nid = \"x\"\nregex = '''(x'''\nkeywords = [\"x\"]\n",
    )
    .unwrap();
    check(
        p,
        &["scan", "--rules", "bad.toml", "src"],
        expect![[r#"
        exit: 2
        --- stderr
        error: invalid rule file:
        bad.toml:3:9: rule `x`: invalid regex: unclosed group (hint: gitleaks and aigov agree on Go RE2 syntax, except that Unicode classes such as `\p{L}` are not available; test the pattern with `aigov scan --rules FILE`)
    "#]],
    );

    // The bundle's allowlist covers Stripe test keys in acme/payments-api's fixtures only.
    std::fs::create_dir_all(p.join("tests/fixtures")).unwrap();
    std::fs::write(
        p.join("tests/fixtures/pay.py"),
        "stripe.api_key = \"sk_test_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H\"\n",
    )
    .unwrap();
    let bundle = EXAMPLE;
    let with_repo = |repo: &str| {
        run(p, &["scan", "--bundle", bundle, "--repo", repo, "tests"])
            .status
            .code()
    };
    assert_eq!(with_repo("acme/payments-api"), Some(0));
    assert_eq!(with_repo("acme/storefront"), Some(1));
}
